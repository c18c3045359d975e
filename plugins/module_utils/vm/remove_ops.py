# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Removing a VM (``state: absent``): what goes with it, checked before the first change.

The definition always goes, with its snapshot and checkpoint metadata (the domain layer's flags);
the UEFI variables file unless ``keep_nvram``; the volumes the collection created for it with
``remove_volumes``; every file-backed disk of it with ``remove_disks``, unless another defined VM
uses one (as its disk, or as the backing file of its disk's volume).  Everything that can refuse
is looked up first, so a refused removal changes nothing; a running VM is undefined before it is
forced off (a refused undefine leaves it running and defined as it was).
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.domain import guest as domain
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import Guest


def ensure_absent(conn, dom, params, check_mode):
    """``(changed, result, diff)`` of removing the VM of ``dom`` (None: nothing to do)."""
    result = {"plan": [], "changes": [], "restart_required": False}
    if dom is None:
        return False, result, {"before": "", "after": ""}
    guest = Guest(conn, dom)
    old_xml = guest.inactive_xml()
    root = dx.parse(old_xml)
    meta = dx.read_metadata(root)
    if meta.get("template") == "true":
        from ansible_collections.hotiron.virt.plugins.module_utils.vm import clone_ops  # only for templates
        users = clone_ops.clones_of(conn, guest.name)
        if users:
            _refuse("state", "vm %r is a template used by %s: remove those clones first"
                    % (guest.name, ", ".join(users)))
    checkpoints = guest.checkpoint_names()
    keep_nvram = bool(params.get("keep_nvram"))
    nvram = dx.get_text(root, "os/nvram")
    step = "undefine vm %s" % guest.name
    if checkpoints:
        step += " with the metadata of its %d checkpoint%s (%s)" % (
            len(checkpoints), "s" if len(checkpoints) > 1 else "", ", ".join(checkpoints))
    if root.find("os/nvram") is not None:
        step += ", %s its UEFI variables file %s" % ("keeping" if keep_nvram else "deleting", nvram or "")
    result["plan"].append(step.rstrip())
    running = guest.is_active()
    if running:
        result["plan"].append("force off vm %s" % guest.name)
    doomed = _owned_volumes(conn, meta) if params.get("remove_volumes") else []
    if params.get("remove_disks"):
        known = {path for path, _what, _vol in doomed}
        doomed += [d for d in _disk_volumes(conn, guest.name, root) if d[0] not in known]
    if params.get("remove_volumes") or params.get("remove_disks"):
        known = {path for path, _what, _vol in doomed}
        doomed += [d for d in _own_seed(conn, guest.name, root) if d[0] not in known]
    for path, what, _vol in doomed:
        result["plan"].append("delete %s" % what)
    result["removed_disks"] = [path for path, _what, vol in doomed if vol is not None]
    diff = {"before": dx.normalise(root) + "".join("disk file %s\n" % p for p in result["removed_disks"]),
            "after": ""}
    if check_mode:
        return True, result, diff
    guest.delete_definition(keep_nvram=keep_nvram)
    if running:
        try:
            guest.force_off()
        except lc.VirtError as err:
            try:
                domain.define(conn, old_xml, "define vm %s again on %s" % (guest.name, lc.safe_uri(conn)))
            except lc.VirtError as again:
                err.extend("; defining it again also failed (%s): it runs on as a transient vm" % again)
            else:
                err.extend(" (it was defined again and runs on as it was)")
            raise
    for _path, what, vol in doomed:
        if vol is not None:
            with lc.attempt("delete %s" % what):
                vol.delete(0)
    return True, result, diff


def _owned_volumes(conn, meta):
    """``(path, what, volume or None)`` of the volumes the collection created for the VM; one
    already gone is planned (as it always was) and skipped."""
    out = []
    for vol in meta.get("volumes", []):
        pool = lc.lookup_pool(conn, vol.get("pool"))
        volume = lc.lookup_volume(pool, vol.get("name")) if pool is not None else None
        path = _path(volume) if volume is not None else "%s/%s" % (vol.get("pool"), vol.get("name"))
        out.append((path, "volume %s/%s" % (vol.get("pool"), vol.get("name")), volume))
    return out


def _own_seed(conn, name, root):
    """``(path, what, volume)`` of the VM's own cloud-init seed (``<name>-cidata.iso``, made by the
    collection for this VM, cloud-init's user data in it), a volume of a pool; another VM's seed
    attached here is not counted."""
    from ansible_collections.hotiron.virt.plugins.module_utils.vm import cloud_init
    out = []
    for node in root.findall("devices/disk"):
        source = node.find("source")
        path = source.get("file") if node.get("device") == "cdrom" and source is not None else None
        if not path or path.rsplit("/", 1)[-1] != cloud_init.volume_name(name):
            continue
        volume = lc.lookup("look up volume %s" % path, conn.storageVolLookupByPath, path)
        if volume is not None:
            out.append((path, "volume %s (its cloud-init seed)" % path, volume))
    return out


def _path(volume):
    with lc.attempt("read the path of volume %s" % volume.name()):
        return volume.path()


def file_disks(root):
    """``(target, source)`` of the disks of a definition that are files or pool volumes
    (``source`` is ``{"file": path}`` or ``{"pool": p, "volume": v}``); CD-ROMs and floppies,
    block devices and network disks are not counted."""
    out = []
    for node in root.findall("devices/disk"):
        source = node.find("source")
        target = node.find("target")
        if node.get("device", "disk") != "disk" or source is None:
            continue
        dev = target.get("dev") if target is not None else "?"
        if node.get("type") == "file" and source.get("file"):
            out.append((dev, {"file": source.get("file")}))
        elif node.get("type") == "volume" and source.get("pool") and source.get("volume"):
            out.append((dev, {"pool": source.get("pool"), "volume": source.get("volume")}))
    return out


def _volume_of(conn, source):
    if "file" in source:
        try:
            return conn.storageVolLookupByPath(source["file"])
        except lc.libvirt.libvirtError as err:
            if lc.is_not_found(err):
                return None
            raise lc.wrap_libvirt_error("look up the volume of %s on %s" % (source["file"], lc.safe_uri(conn)), err) from err
    pool = lc.lookup_pool(conn, source["pool"])
    return lc.lookup_volume(pool, source["volume"]) if pool is not None else None


def _disk_volumes(conn, name, root):
    """``(path, what, volume)`` of every file-backed disk of the VM, refusing (before any change)
    a disk libvirt cannot delete (no pool holds it) and one another defined VM uses."""
    out = []
    for dev, source in file_disks(root):
        vol = _volume_of(conn, source)
        where = source.get("file") or "%s/%s" % (source["pool"], source["volume"])
        if vol is None:
            _refuse("remove_disks", "disk %s of vm %s (%s) is not a volume of a storage pool on %s, and libvirt"
                    " deletes only those: put its directory in a pool (or refresh the pool), or remove it by"
                    " hand" % (dev, name, where, lc.safe_uri(conn)))
        out.append((_path(vol), "disk %s (%s)" % (dev, where), vol))
    users = _users(conn, name, {path for path, _what, _vol in out})
    for path, _what, _vol in out:
        if users.get(path):
            _refuse("remove_disks", "disk file %s of vm %s is used by %s: nothing was removed"
                    % (path, name, ", ".join(sorted(users[path]))))
    return out


def _users(conn, name, paths):
    """``{path: {vm names}}``: the other defined VMs whose disks are one of ``paths`` or are
    volumes backed by one of them."""
    users = {}
    if not paths:
        return users
    for other in domain.all_guests(conn):
        if other.name == name:
            continue
        for _dev, source in file_disks(dx.parse(other.inactive_xml())):
            vol = _volume_of(conn, source)
            used = {source.get("file")} if "file" in source else set()
            if vol is not None:
                used.add(_path(vol))
                with lc.attempt("read volume %s" % vol.name()):
                    backing = dx.get_text(dx.parse(vol.XMLDesc(0)), "backingStore/path")
                used.add(backing)
            for path in used & paths:
                users.setdefault(path, set()).add(other.name)
    return users


def _refuse(param, message):
    raise lc.VirtError("%s: %s" % (param, message))
