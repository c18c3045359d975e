# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""New VMs from a template (clone_from): the template's disks as linked overlays or full
copies, the volumes made (and removed again when the create fails: :class:`Undo`), the template
marked so that its disks stay read-only.  Talks to the host.
"""

from __future__ import annotations

import threading

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.domain import guest as domain
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import Guest, all_guests
from ansible_collections.hotiron.virt.plugins.module_utils.vm import resolve_ops


def clones_of(conn, name):
    """Names of the VMs whose metadata says they were cloned from ``name``."""
    return sorted(g.name for g in all_guests(conn)
                  if dx.read_metadata(dx.parse(g.inactive_xml())).get("clone_of") == name)


def prepare_clone(conn, spec, check_mode):
    """The base definition and the volumes to make for a clone.

    ``clone_from`` is a VM (its disks are cloned) or ``pool/volume`` (one
    disk).  Linked clones are qcow2 overlays backed by the template's volume;
    full clones copy it in its own format.  Returns ``(base_root or None,
    disks or None, to_create, template_guest or None)``.
    """
    source = spec["clone_from"]
    linked = spec["clone"] == "linked"
    if "/" in source:
        pool_name, vol_name = source.split("/", 1)
        pool = resolve_ops.named_pool(conn, pool_name, "clone_from")
        vol = lc.lookup_volume(pool, vol_name)
        if vol is None:
            resolve_ops.fail("clone_from", "no volume %r in pool %r" % (vol_name, pool_name))
        job = _clone_job(conn, spec, pool, vol, "vda", linked)
        disk = {"pool": None, "volume": None, "path": job["path"], "size": None, "format": job["format"],
                "bus": None, "cache": None, "device": "disk", "readonly": False, "boot_order": None, "target": None}
        return None, [disk], [job], None
    dom = lc.lookup_domain(conn, source)
    if dom is None:
        resolve_ops.fail("clone_from", "no VM called %r (and not a pool/volume) on %s" % (source, lc.safe_uri(conn)))
    template = Guest(conn, dom)
    if template.is_active():
        resolve_ops.fail("clone_from", "template %r is running: stop it (and mark it template: true) before cloning" % source)
    base = dx.parse(template.inactive_xml())
    dx.remove_path(base, "uuid")
    dx.remove_path(base, "os/nvram")
    dx.remove_path(base, "devices/interface/mac")
    dx.remove_path(base, "devices/interface/target")
    for graphics in base.findall("devices/graphics"):
        graphics.attrib.pop("port", None)
    meta = dx.read_metadata(base)
    for key in ("template", "volumes", "clone_of"):
        meta.pop(key, None)
    dx.write_metadata(base, meta)
    jobs = []
    for node in base.findall("devices/disk"):
        source_node = node.find("source")
        if node.get("device", "disk") != "disk" or source_node is None or not source_node.get("file"):
            continue
        vol = lc.lookup("look up volume %s" % source_node.get("file"), conn.storageVolLookupByPath, source_node.get("file"))
        if vol is None:
            resolve_ops.fail("clone_from", "disk %s of %r is not a volume of a storage pool" % (source_node.get("file"), source))
        with lc.attempt("find the pool of volume %s" % source_node.get("file")):
            pool = vol.storagePoolLookupByVolume()
        job = _clone_job(conn, spec, pool, vol, node.find("target").get("dev"), linked)
        jobs.append(job)
        source_node.set("file", job["path"])
        dx.find_or_create(node, "driver").set("type", job["format"])
        dx.remove_path(node, "readonly")
        dx.remove_path(node, "backingStore")
    return base, None, jobs, template


def _clone_job(conn, spec, pool, vol, target, linked):
    info = resolve_ops.volume_info(vol)
    dest_pool = resolve_ops.named_pool(conn, spec["pool"], "pool") if spec["pool"] else pool
    fmt = "qcow2" if linked else info["format"]
    name = "%s-%s.%s" % (spec["name"], target, fmt)
    if lc.lookup_volume(dest_pool, name) is not None:
        resolve_ops.fail("name", "volume %r already exists in pool %r: remove it or choose another name" % (name, dest_pool.name()))
    job = {"pool": dest_pool.name(), "name": name, "format": fmt,
           "path": "%s/%s" % (resolve_ops.pool_path(dest_pool), name)}
    if linked:
        job["backing"] = info["path"]
        job["xml"] = resolve_ops.volume_xml(name, info["capacity"], "qcow2", backing=info)
        job["what"] = "create volume %s/%s (qcow2 overlay on %s)" % (job["pool"], name, info["path"])
    else:
        job["xml"] = resolve_ops.volume_xml(name, info["capacity"], fmt)
        job["copy_from"] = vol
        job["what"] = "copy volume %s to %s/%s (%s)" % (info["path"], job["pool"], name, fmt)
    return job


def create_volume(conn, job, undo):
    pool = resolve_ops.named_pool(conn, job["pool"], "pool")
    with lc.attempt(job["what"]):
        if job.get("copy_from") is not None:
            vol = pool.createXMLFrom(job["xml"], job["copy_from"], 0)
        else:
            vol = pool.createXML(job["xml"], 0)
    undo.push("delete volume %s/%s" % (job["pool"], job["name"]), vol.delete)
    return vol.path()


# hotiron.virt.vms clones concurrently: each clone marks its template, a read-modify-write of
# the template's definition that must not interleave with another's.
_MARK_LOCK = threading.Lock()


def mark_template(template, disk_paths):
    """Flag the template VM and make its cloned disks read-only in its definition."""
    with _MARK_LOCK:
        _mark_template(template, disk_paths)


def _mark_template(template, disk_paths):
    root = dx.parse(template.inactive_xml())
    before = dx.normalise(root)
    meta = dx.read_metadata(root)
    meta["template"] = "true"
    dx.write_metadata(root, meta)
    for node in root.findall("devices/disk"):
        source = node.find("source")
        if source is not None and source.get("file") in disk_paths:
            dx.find_or_create(node, "readonly")
    if dx.normalise(root) == before:
        return
    domain.define(template.conn, dx.tostring(root), "mark vm %s as a template" % template.name)
