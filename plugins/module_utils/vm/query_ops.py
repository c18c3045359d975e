# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What hotiron.virt.vm_info reports: VMs described from their live or inactive XML.

Read-only: state and reason, resources, disks with sizes and backing chains, the snapshot
tree and backup checkpoints, NICs with the addresses of DHCP leases or the guest agent,
metadata, and CPU use sampled
over an interval (with an injectable clock), and the progress of a running job such as a
migration.  :func:`matches`, :func:`cpu_percent` and :func:`job_progress` are pure.
"""

from __future__ import annotations

import datetime
import time

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.vm import plan as vp
from ansible_collections.hotiron.virt.plugins.module_utils.libvirt_common import libvirt
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import Guest, all_guests

# The backup package (snapshots, checkpoints, qcow2 headers), qemu-img and the guest agent are
# imported where a VM's description needs them (issue #25: a module's start-up loads only what the
# request needs; a vm_info that matches no VM, or a vm module run that only asks, loads none of them).

# Codes meaning "this source of information is not available here" (no guest agent,
# inactive guest, a driver without the call): the field is left empty, not an error.
_UNAVAILABLE = tuple(getattr(libvirt, n) for n in (
    "VIR_ERR_NO_SUPPORT", "VIR_ERR_OPERATION_INVALID", "VIR_ERR_ARGUMENT_UNSUPPORTED",
    "VIR_ERR_AGENT_UNRESPONSIVE", "VIR_ERR_OPERATION_UNSUPPORTED", "VIR_ERR_INVALID_ARG",
    "VIR_ERR_AGENT_UNSYNCED") if libvirt is not None and hasattr(libvirt, n))


def _optional(func, *args):
    """``func(*args)``, or None when libvirt says the information is unavailable."""
    try:
        return func(*args)
    except libvirt.libvirtError as err:
        if err.get_error_code() in _UNAVAILABLE or lc.is_not_found(err):
            return None
        raise


def matches(info, states=None, tags=None, metadata=None, owner=None, expires_by=None):
    """Whether a described VM passes the vm_info filters (pure).

    ``expires_by`` (a ``datetime.date``) keeps the VMs whose ``expires`` date is on or before it;
    a VM without one never expires.
    """
    if states and info["state"] not in states:
        return False
    if owner is not None and info["metadata"].get("owner") != owner:
        return False
    if expires_by is not None:
        try:
            if datetime.date.fromisoformat(info["metadata"].get("expires") or "") > expires_by:
                return False
        except ValueError:
            return False
    if tags and not set(tags) <= set(info["tags"]):
        return False
    for key, value in (metadata or {}).items():
        meta = info["metadata"]
        have = meta.get(key, meta.get("extra", {}).get(key))
        if have is None or str(have) != str(value):
            return False
    return True


def cpu_percent(t0_ns, t1_ns, elapsed_s, vcpus):
    """Share of the VM's vCPUs used between two samples of its CPU time, in percent."""
    if elapsed_s <= 0 or not vcpus:
        return None
    return round(100.0 * (t1_ns - t0_ns) / (elapsed_s * 1e9 * vcpus), 1)


# virDomainJobOperation, as reported in a job's "operation" field.
JOB_OPERATIONS = {
    0: "unknown", 1: "start", 2: "save", 3: "restore", 4: "incoming migration", 5: "outgoing migration",
    6: "snapshot", 7: "snapshot revert", 8: "dump", 9: "backup", 10: "snapshot delete",
}
_MIB = 1024 * 1024


def job_progress(stats, postcopy=False):
    """What vm_info reports of a VM's running job from ``virDomainGetJobStats`` (pure).

    None when there is no job.  ``percent`` is the share of the job's data done; during a
    migration the remaining data grows again whenever the guest dirties memory faster than it is
    sent, so the percentage can fall between two reads.
    """
    if not stats or stats.get("type", 0) == 0:
        return None
    total = int(stats.get("data_total", 0))
    remaining = int(stats.get("data_remaining", 0))
    progress = {
        "operation": JOB_OPERATIONS.get(stats.get("operation", 0), "unknown"),
        "elapsed_s": round(int(stats.get("time_elapsed", 0)) / 1000.0, 1),
        "percent": round(100.0 * (total - remaining) / total, 1) if total > 0 else None,
        "data_total_mib": round(total / _MIB, 1),
        "data_processed_mib": round(int(stats.get("data_processed", 0)) / _MIB, 1),
        "data_remaining_mib": round(remaining / _MIB, 1),
        "memory_iteration": stats.get("memory_iteration"),
        "memory_dirty_rate_pages_s": stats.get("memory_dirty_rate"),
        "memory_mib_s": round(int(stats["memory_bps"]) / _MIB, 1) if "memory_bps" in stats else None,
        "expected_downtime_ms": stats.get("downtime"),
        "disk_remaining_mib": round(int(stats["disk_remaining"]) / _MIB, 1) if "disk_remaining" in stats else None,
        "postcopy": bool(postcopy),
    }
    return progress


def describe(guest, addresses=True, guest_info=False):
    """What vm_info reports about one guest; ``guest_info``: with the agent's facts (``guest``)."""
    with lc.attempt("describe vm %s on %s" % (guest.name, guest.uri)):
        dom = guest.dom
        state, reason = guest.state()
        active = state not in ("shutoff", "crashed")
        root = dx.parse(guest.live_xml() if active else guest.inactive_xml())
        summary = vp.summarise(root)
        meta = dx.read_metadata(root)
        info = {
            "name": guest.name, "uuid": dom.UUIDString(), "state": state, "reason": reason,
            "persistent": bool(dom.isPersistent()), "autostart": bool(_optional(dom.autostart)),
            "domain_type": summary["type"], "arch": summary["arch"], "machine": summary["machine"],
            "vcpus": summary["vcpus"], "max_vcpus": summary["max_vcpus"],
            "memory_mib": (summary["memory"] or 0) // 1024, "max_memory_mib": (summary["max_memory"] or 0) // 1024,
            "cpu_time_ns": dom.info()[4] if active else 0,
            "description": summary["description"], "metadata": meta, "tags": meta.get("tags", []),
            "template": meta.get("template") == "true", "clone_of": meta.get("clone_of"),
            "os": meta.get("os"),
            "disks": [_describe_disk(guest, node, active) for node in root.findall("devices/disk")],
            "interfaces": [],
            "job": job_progress(_optional(dom.jobStats, 0), reason == "post-copy") if active else None,
        }
        info.update(_snapshots_and_checkpoints(dom))
        leases = {}
        if active and addresses:
            for source in (libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT):
                for value in (_optional(dom.interfaceAddresses, source) or {}).values():
                    mac = (value.get("hwaddr") or "").lower()
                    for addr in value.get("addrs") or []:
                        entry = "%s/%s" % (addr["addr"], addr["prefix"])
                        if entry not in leases.setdefault(mac, []):
                            leases[mac].append(entry)
        for node in root.findall("devices/interface"):
            mac = node.find("mac").get("address").lower() if node.find("mac") is not None else None
            source = node.find("source")
            model = node.find("model")
            target = node.find("target")
            info["interfaces"].append({
                "mac": mac, "type": node.get("type"),
                "network": source.get("network") if source is not None else None,
                "bridge": source.get("bridge") if source is not None else None,
                "model": model.get("type") if model is not None else None,
                "device": target.get("dev") if target is not None and active else None,
                "addresses": leases.get(mac, []),
            })
        if guest_info:
            connected = state == "running" and any(t.get("name") == "org.qemu.guest_agent.0" and t.get("state") == "connected"
                                                   for t in root.findall("devices/channel/target"))
            info["guest"] = None
            if connected:
                from ansible_collections.hotiron.virt.plugins.module_utils.agent import agent_ops  # pylint: disable=import-outside-toplevel
                info["guest"] = agent_ops.facts(dom)
    return info


def _snapshots_and_checkpoints(dom):
    """The VM's snapshot tree (oldest first, each with its parent and children, per disk its frozen
    image and overlay), the current snapshot, and its backup checkpoints (parents first)."""
    # pylint: disable=import-outside-toplevel
    from ansible_collections.hotiron.virt.plugins.module_utils.backup import checkpoints_ops as backup_checkpoints
    from ansible_collections.hotiron.virt.plugins.module_utils.backup import snapshot_ops
    from ansible_collections.hotiron.virt.plugins.module_utils.backup.chain import ChainError, checkpoint_order
    tree = snapshot_ops.tree(snapshot_ops.read_snapshots(dom))
    found = backup_checkpoints.listing(dom)
    try:
        order = checkpoint_order({name: item["parent"] for name, item in found.items()})
    except ChainError:
        order = sorted(found)
    checkpoints = [{"name": name, "parent": found[name]["parent"],
                    "disks": sorted(t for t, how in found[name]["disks"].items() if how == "bitmap")}
                   for name in order]
    return {"snapshots": tree, "current_snapshot": next((s["name"] for s in tree if s["current"]), None),
            "checkpoints": checkpoints}


def _describe_disk(guest, node, active):
    source = node.find("source")
    target = node.find("target")
    driver = node.find("driver")
    path = None
    if source is not None:
        path = source.get("file") or source.get("dev") or source.get("name")
    disk = {
        "target": target.get("dev") if target is not None else None,
        "bus": target.get("bus") if target is not None else None,
        "device": node.get("device", "disk"), "path": path,
        "format": driver.get("type") if driver is not None else None,
        "readonly": node.find("readonly") is not None,
        "capacity": None, "allocation": None, "backing_chain": [],
    }
    vol = _optional(guest.conn.storageVolLookupByPath, path) if path else None
    if vol is not None:
        _type, disk["capacity"], disk["allocation"] = vol.info()
    elif active and disk["target"] and path:
        sizes = _optional(guest.dom.blockInfo, disk["target"])
        if sizes:
            disk["capacity"], disk["allocation"] = sizes[0], sizes[1]
    # libvirt fills <backingStore> in the running definition; otherwise ask the pools.
    chain = []
    store = node.find("backingStore")
    while store is not None and store.find("source") is not None:
        fmt = store.find("format")
        chain.append({"path": store.find("source").get("file") or store.find("source").get("dev"),
                      "format": fmt.get("type") if fmt is not None else None})
        store = store.find("backingStore")
    if not chain:
        seen = {path}
        while vol is not None and len(chain) < 16:
            backing = dx.parse(vol.XMLDesc(0)).find("backingStore")
            bpath = dx.get_text(backing, "path") if backing is not None else None
            if not bpath or bpath in seen:
                break
            fmt = backing.find("format")
            chain.append({"path": bpath, "format": fmt.get("type") if fmt is not None else None})
            seen.add(bpath)
            vol = _optional(guest.conn.storageVolLookupByPath, bpath)
    if not chain and path and _local(guest):
        chain = _header_chain(path)
    disk["backing_chain"] = chain
    return disk


def _local(guest):
    """Whether the guest's host is this machine (its image files can be read here)."""
    from ansible_collections.hotiron.virt.plugins.module_utils.storage import qemu_img_ops as qemu_img  # pylint: disable=import-outside-toplevel
    with lc.attempt("read the hostname of %s" % guest.uri):
        return qemu_img.is_local(guest.uri, guest.conn.getHostname())


def _header_chain(path):
    """The backing chain read from the qcow2 headers of images this machine sees (a shut-off VM
    whose images no storage pool lists); as far as the images can be read."""
    from ansible_collections.hotiron.virt.plugins.module_utils.backup import qcow2_ops as qcow2  # pylint: disable=import-outside-toplevel
    return [{"path": p, "format": fmt} for p, fmt in qcow2.backing_chain(path, as_far_as_readable=True)]


def info(conn, name=None, states=None, tags=None, metadata=None, cpu_sample=0.0, addresses=True,
         clock=time.monotonic, sleep=time.sleep, owner=None, expires_by=None, guest_info=False, include_xml=False):
    """Describe one VM (``name``) or every VM passing the filters; ``guest_info`` adds what the
    guest agent says; ``include_xml`` adds each one's definition (``xml``, as ``virsh dumpxml
    --inactive``: what hotiron.virt.vm's ``xml_mode=full`` takes back) and, for a running VM, its
    running one (``live_xml``)."""
    if name:
        dom = lc.lookup_domain(conn, name)
        guests = [Guest(conn, dom)] if dom is not None else []
    else:
        guests = all_guests(conn)
    found = [d for d in (describe(g, addresses, guest_info) for g in guests) if matches(d, states, tags, metadata, owner, expires_by)]
    if include_xml:
        by_name = {g.name: g for g in guests}
        for entry in found:
            guest = by_name[entry["name"]]
            entry["xml"] = guest.inactive_xml()
            if entry["state"] not in ("shutoff", "crashed"):
                entry["live_xml"] = guest.live_xml()
    if cpu_sample and cpu_sample > 0:
        running = [g for g in guests if g.name in {d["name"] for d in found if d["state"] == "running"}]
        with lc.attempt("sample the cpu time of the vms on %s" % lc.safe_uri(conn)):
            before = {g.name: g.dom.info()[4] for g in running}
            start = clock()
            sleep(cpu_sample)
            elapsed = clock() - start
            after = {g.name: g.dom.info()[4] for g in running}
        for entry in found:
            name_ = entry["name"]
            entry["cpu_percent"] = cpu_percent(before[name_], after[name_], elapsed, entry["vcpus"]) if name_ in after else 0.0
            entry["cpu_time_ns"] = after.get(name_, entry["cpu_time_ns"])
    return sorted(found, key=lambda d: d["name"])


def expiry_date(value):
    """``datetime.date`` of vm_info's ``expires_by``, or None; VirtError saying what is wrong."""
    if value is None:
        return None
    if value == "today":
        return datetime.datetime.now(datetime.timezone.utc).date()
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise lc.VirtError("expires_by: %r is neither a date such as 2027-03-31 nor today" % value) from None


def run_vm_info(params):
    """hotiron.virt.vm_info's result, in the one shape of the module ``_ops``.  The connection is
    read-write: libvirt refuses address lookups (leases, guest agent) on read-only connections."""
    expires_by = expiry_date(params["expires_by"])
    with lc.connected(params["uri"]) as conn:
        vms = info(conn, name=params["name"], states=params["states"], tags=params["tags"], metadata=params["metadata"],
                   cpu_sample=params["cpu_sample"], addresses=params["addresses"], owner=params["owner"],
                   expires_by=expires_by, guest_info=params.get("include_guest_info", False),
                   include_xml=params.get("include_xml"))
    return {"changed": False, "vms": vms}
