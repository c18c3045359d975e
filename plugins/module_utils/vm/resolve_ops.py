# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a VM spec needs from its host, looked up: capabilities, pools, volumes, networks, the
domain capabilities (UEFI, Hyper-V).  The spec itself is checked by :mod:`spec` (pure); this file
resolves it against one host and names the option a missing thing comes from.  Read-only.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.libvirt_common import libvirt
from ansible_collections.hotiron.virt.plugins.module_utils.vm import host_fit as vh
from ansible_collections.hotiron.virt.plugins.module_utils.vm import tuning_ops
from ansible_collections.hotiron.virt.plugins.module_utils.vm import values as vv
from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_xml as vx


def host_facts(conn):
    uri = lc.safe_uri(conn)
    with lc.attempt("read the capabilities of %s" % uri):
        caps = conn.getCapabilities()
        info = conn.getInfo()
        test_driver = conn.getType() == "TEST"
    return vh.parse_capabilities(caps, info, accept_any_arch=test_driver)


def fail(param, message):
    raise lc.VirtError("%s: %s" % (param, message))


def named_pool(conn, name, param):
    pool = lc.lookup_pool(conn, name)
    if pool is None:
        fail(param, "no storage pool called %r on %s" % (name, lc.safe_uri(conn)))
    with lc.attempt("read storage pool %s" % name):
        if not pool.isActive():
            fail(param, "storage pool %r is not active" % name)
    return pool


def pool_path(pool):
    with lc.attempt("read storage pool %s" % pool.name()):
        return dx.get_text(dx.parse(pool.XMLDesc(0)), "target/path")


def volume_info(vol):
    with lc.attempt("read volume %s" % vol.name()):
        root = dx.parse(vol.XMLDesc(0))
        return {"path": vol.path(), "format": (root.find("target/format").get("type")
                                               if root.find("target/format") is not None else "raw"),
                "capacity": int(dx.get_text(root, "capacity"))}


def volume_xml(name, capacity, fmt, backing=None):
    root = dx.parse("<volume/>")
    dx.set_text(root, "name", name)
    dx.set_text(root, "capacity", capacity).set("unit", "bytes")
    dx.find_or_create(root, "target/format").set("type", fmt)
    if backing:
        dx.set_text(root, "backingStore/path", backing["path"])
        dx.find_or_create(root, "backingStore/format").set("type", backing["format"])
    return dx.tostring(root)


def resolve_disks(conn, disks, default_bus):
    """Spec disks -> disks with ``path``/``format``, plus the volumes to create."""
    resolved, to_create = [], []
    for i, disk in enumerate(vx.assign_targets(disks, default_bus)):
        p = "disks[%d]" % i
        if disk["path"]:
            disk["format"] = disk["format"] or ("qcow2" if disk["path"].endswith(".qcow2") else "raw")
            resolved.append(disk)
            continue
        pool = named_pool(conn, disk["pool"], p + ".pool")
        vol = lc.lookup_volume(pool, disk["volume"])
        if vol is not None:
            info = volume_info(vol)
            disk["path"] = info["path"]
            if disk["format"] and disk["format"] != info["format"]:
                fail(p + ".format", "volume %s/%s is %s, not %s" % (disk["pool"], disk["volume"], info["format"], disk["format"]))
            disk["format"] = info["format"]
        else:
            if not disk["size"]:
                fail(p + ".size", "volume %r does not exist in pool %r: give a size to create it"
                     % (disk["volume"], disk["pool"]))
            disk["format"] = disk["format"] or "qcow2"
            disk["path"] = "%s/%s" % (pool_path(pool), disk["volume"])
            to_create.append({"pool": disk["pool"], "name": disk["volume"],
                              "xml": volume_xml(disk["volume"], disk["size"], disk["format"]),
                              "what": "create volume %s/%s (%s %s)" % (
                                  disk["pool"], disk["volume"], vv.human(disk["size"]), disk["format"])})
        resolved.append(disk)
    return resolved, to_create


def resolve_interfaces(conn, nics, default_model):
    out = []
    for i, nic in enumerate(nics):
        nic = dict(nic)
        nic["model"] = nic["model"] or default_model
        if nic["network"] and lc.lookup_network(conn, nic["network"]) is None:
            fail("interfaces[%d].network" % i, "no network called %r on %s" % (nic["network"], lc.safe_uri(conn)))
        out.append(nic)
    return out


def resolve(conn, spec, host, current_root):
    meta = dx.read_metadata(current_root) if current_root is not None else {}
    os_profile = spec["os"] or meta.get("os") or "linux"
    defaults = vx.profile_defaults(os_profile, spec["virtio"])
    current_arch = current_root.find("os/type").get("arch") if current_root is not None and current_root.find("os/type") is not None else None
    resolved = vh.check_host(spec, host, current_arch)
    resolved["machines"] = host["arches"][resolved["arch"]]["machines"]
    resolved["os"] = os_profile
    vh.check_limits(spec, host)
    tuning_ops.check_host(conn, spec.get("tuning"), host, resolved)
    if spec["firmware"] == "uefi" or os_profile == "windows":
        caps = domain_caps(conn, resolved)
        if spec["firmware"] == "uefi" and caps is not None and not vh.uefi_available(caps):
            fail("firmware", "this host has no UEFI firmware for %s %s guests (install OVMF / edk2)"
                 % (resolved["arch"], resolved["domain_type"]))
        resolved["hyperv"] = vh.hyperv_supported(caps) if caps is not None else None
    to_create = []
    if spec["disks"] is not None:
        resolved["disks"], to_create = resolve_disks(conn, spec["disks"], defaults["bus"])
    if spec["interfaces"] is not None:
        resolved["interfaces"] = resolve_interfaces(conn, spec["interfaces"], defaults["model"])
    if to_create:
        owned = list(meta.get("volumes", []))
        owned.extend({"pool": j["pool"], "name": j["name"]} for j in to_create)
        resolved["volumes"] = owned
    return resolved, to_create


def domain_caps(conn, resolved):
    """Domain capabilities for the VM's arch/machine/type, or None where the driver has none."""
    try:
        return conn.getDomainCapabilities(None, resolved["arch"], resolved.get("machine"), resolved["domain_type"], 0)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
            return None  # a driver without domain capabilities (the test driver): nothing to check against
        raise lc.wrap_libvirt_error("read the domain capabilities of %s" % lc.safe_uri(conn), err) from err
