# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Named snapshots of a VM: the libvirt-facing half of hotiron.virt.vm_snapshot.

Snapshots are external: each disk gets a qcow2 overlay (libvirt creates it, for a running or a
shut-off VM), and with ``memory`` the running guest's memory is saved to a file next to them.
libvirt 9.0 deletes external snapshots' metadata but does not merge their images, and refuses to
revert to them; both are done here from the plans of :mod:`snapshot_plan`: merges with libvirt's
block commit (an explicit base, never a backing image anything else uses) while the VM runs and
``qemu-img commit`` when it does not; reverts with a new overlay on the snapshot's frozen image
(and, for a memory snapshot, the guest's memory restored from its file).  Internal snapshots made
by other tools are reverted and deleted by libvirt itself.

A revert, and any change to the images of a shut-off VM that has backup checkpoints, makes its
dirty bitmaps meaningless: the checkpoints are then deleted and the result says the next backup
of the VM is a full one.
"""

from __future__ import annotations

import contextlib
import os
import time

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.backup import (
    backup_xml,
    checkpoints_ops as checkpoints,
    snapshot_images_ops as images,
    snapshot_plan,
    snapshot_xml,
)
from ansible_collections.hotiron.virt.plugins.module_utils.domain import guest as domain
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import Guest, wait_for
from ansible_collections.hotiron.virt.plugins.module_utils.storage import disk_xml
from ansible_collections.hotiron.virt.plugins.module_utils.storage import qemu_img_ops as qemu_img
from ansible_collections.hotiron.virt.plugins.module_utils.backup import quiesce as quiesce_rule
from ansible_collections.hotiron.virt.plugins.module_utils.backup.backup_ops import checked, require_local

libvirt = lc.libvirt
POLL_S = 0.02


# ---- reading ---------------------------------------------------------------------------------

def read_snapshots(dom):
    """``{name: (Snapshot, kind, xml)}`` of the VM's snapshots."""
    with lc.attempt("list the snapshots of vm %s" % dom.name()):
        current = dom.snapshotCurrent(0).getName() if dom.hasCurrentSnapshot(0) else None
        found = {}
        for snap in dom.listAllSnapshots(0):
            xml = snap.getXMLDesc(0)
            parsed, kind = snapshot_xml.parse(xml, current=snap.getName() == current)
            found[parsed.name] = (parsed, kind, xml)
    return found


def tree(found):
    """The snapshots as vm_info and vm_snapshot report them: oldest first, with children."""
    items = sorted(found.values(), key=lambda item: (item[0].created or 0, item[0].name))
    children = {}
    for snap, _kind, _xml in items:
        children.setdefault(snap.parent, []).append(snap.name)
    out = []
    for snap, kind, _xml in items:
        entry = snap.as_dict()
        entry.update(kind=kind, children=children.get(snap.name, []))
        out.append(entry)
    return out


class Vm:
    """One VM's snapshot-relevant state, read once per run."""

    def __init__(self, conn, dom):
        self.conn = conn
        self.dom = dom
        with lc.attempt("read vm %s" % dom.name()):
            self.name = dom.name()
            self.running = bool(dom.isActive())
            self.xml = dom.XMLDesc(0)
            self.inactive_xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        all_disks = disk_xml.disks(self.xml)
        self.disks = [d for d in all_disks if d.backed_up]
        self.skipped = [d.target for d in all_disks if not d.backed_up and d.target]
        self.snapshots = read_snapshots(dom)

    def check_disks(self):
        for disk in self.disks:
            if disk.kind != "file":
                raise lc.VirtError("disk %s of vm %s is a %s disk: external snapshots need file disks (the overlay"
                                   " is a qcow2 file)" % (disk.target, self.name, disk.kind))
            if not os.path.exists(disk.source):
                raise lc.VirtError("the image %s of vm %s is not visible here: run the task on the vm's host"
                                   % (disk.source, self.name))

    def external(self):
        return {n: s for n, (s, kind, _x) in self.snapshots.items() if kind == "external"}


# ---- the run ---------------------------------------------------------------------------------

def run_vm_snapshot(params, check_mode):
    conn = lc.connect(params["uri"])
    try:
        dom = lc.lookup_domain(conn, params["name"])
        if dom is None:
            raise lc.VirtError("vm %s does not exist on %s" % (params["name"], lc.safe_uri(conn)))
        vm = Vm(conn, dom)
        state = params["state"]
        if state == "listed":
            return {"changed": False, "vm": vm.name, "snapshots": tree(vm.snapshots)}
        try:
            name = snapshot_plan.check_name(params["snapshot"])
        except snapshot_plan.PlanError as err:
            raise lc.VirtError(str(err)) from err
        action = {"present": _create, "absent": _delete, "reverted": _revert}[state]
        result = action(vm, name, params, check_mode)
        result.setdefault("vm", vm.name)
        result.setdefault("snapshot", name)
        result["snapshots"] = tree(read_snapshots(dom)) if not check_mode else tree(vm.snapshots)
        return result
    finally:
        conn.close()


def _diff(vm, after_names, current_after):
    before = sorted(vm.snapshots)
    current = next((n for n, (s, _k, _x) in vm.snapshots.items() if s.current), None)
    return {"before": {"snapshots": before, "current": current},
            "after": {"snapshots": sorted(after_names), "current": current_after}}


def _drop_checkpoints(vm):
    """Delete the VM's checkpoints (their bitmaps are about to be meaningless); the names."""
    found = checkpoints.listing(vm.dom)
    if not found:
        return []
    order = list(reversed(checkpoints.ordered(vm.dom)))
    for name, _xml in order:
        checkpoints.delete(vm.dom, name, metadata_only=not vm.running)
    if not vm.running:
        for disk in vm.disks:
            for path in images.active_chains([disk])[disk.target]:
                if images.image_format(path) == "qcow2":
                    checked(qemu_img.remove_bitmaps, path, list(found))
    return sorted(found)


def _checkpoint_warning(names, why):
    return ("checkpoints %s of the vm were deleted (%s): the vm's next backup is a full one"
            % (", ".join(names), why))


def _create(vm, name, params, check_mode):
    if name in vm.snapshots:
        snap = vm.snapshots[name][0]
        result = {"changed": False, "msg": "snapshot %s of vm %s exists" % (name, vm.name)}
        if params["memory"] and snap.memory is None:
            result["warnings"] = ["snapshot %s exists without memory state; memory=true does not change it" % name]
        return result
    if params["memory"] and not vm.running:
        raise lc.VirtError("vm %s is not running: a snapshot with memory state needs a running vm" % vm.name)
    if not vm.disks:
        raise lc.VirtError("vm %s has no disk to snapshot" % vm.name)
    require_local(vm.conn, "snapshot vm %s" % vm.name)
    vm.check_disks()
    quiesce = _quiesce(vm, params["quiesce"])
    leaves = {d.target: d.source for d in vm.disks}
    taken = {os.path.join(os.path.dirname(p), f) for p in leaves.values() for f in os.listdir(os.path.dirname(p))}
    overlays = snapshot_plan.overlay_paths(vm.name, name, leaves, taken)
    memory_file = None
    if params["memory"]:
        memory_file = snapshot_plan.unique_path(os.path.dirname(vm.disks[0].source), "%s-%s" % (vm.name, name),
                                                taken)[:-len(".qcow2")] + ".mem"
    plan = {"overlays": overlays, "memory_file": memory_file, "quiesce": quiesce, "skipped_disks": vm.skipped}
    drop_cp = not vm.running and bool(checkpoints.listing(vm.dom))
    diff = _diff(vm, list(vm.snapshots) + [name], name)
    if check_mode:
        return {"changed": True, "plan": plan, "diff": diff, "msg": "snapshot %s of vm %s would be taken" % (name, vm.name)}
    warnings = []
    if drop_cp:
        warnings.append(_checkpoint_warning(_drop_checkpoints(vm), "libvirt 9.0 cannot snapshot a shut-off vm"
                                                                   " that has checkpoints"))
    xml = snapshot_xml.create_xml(name, overlays, vm.skipped, params["description"], memory_file)
    flags = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
    if memory_file is None:
        flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
    elif params["live"]:
        flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_LIVE
    if quiesce:
        flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE
    try:
        with lc.attempt("take snapshot %s of vm %s" % (name, vm.name)):
            vm.dom.snapshotCreateXML(xml, flags)
    except lc.VirtError:
        for path in list(overlays.values()) + ([memory_file] if memory_file else []):
            if path not in taken and os.path.exists(path):
                os.unlink(path)
        raise
    if not quiesce and vm.running:
        warnings.append("snapshot %s of vm %s is not quiesced (crash-consistent): the vm has no connected QEMU"
                        " guest agent" % (name, vm.name) if params["quiesce"] != "never" else
                        "snapshot %s of vm %s is not quiesced (quiesce=never)" % (name, vm.name))
    return {"changed": True, "plan": plan, "diff": diff, "quiesced": quiesce, "warnings": warnings,
            "msg": "snapshot %s of vm %s taken%s" % (name, vm.name, " with memory" if memory_file else "")}


def _quiesce(vm, wanted):
    """Whether to freeze the guest's file systems for the snapshot (:func:`quiesce.choose`)."""
    try:
        return quiesce_rule.choose(wanted, vm.running, backup_xml.guest_agent_connected(vm.xml) if vm.running else None)
    except quiesce_rule.QuiesceError as err:
        raise lc.VirtError("vm %s %s; no snapshot was taken" % (vm.name, err)) from err


# ---- delete ----------------------------------------------------------------------------------

def _delete(vm, name, params, check_mode):
    if name not in vm.snapshots:
        return {"changed": False, "msg": "vm %s has no snapshot %s" % (vm.name, name)}
    snap, kind, xml = vm.snapshots[name]
    diff = _diff(vm, [n for n in vm.snapshots if n != name],
                 next((n for n, (s, _k, _x) in vm.snapshots.items() if s.current and n != name), snap.parent if snap.current else None))
    if kind != "external":
        if check_mode:
            return {"changed": True, "diff": diff, "msg": "%s snapshot %s would be deleted by libvirt" % (kind, name)}
        with lc.attempt("delete snapshot %s of vm %s" % (name, vm.name)):
            vm.dom.snapshotLookupByName(name, 0).delete(0)
        return {"changed": True, "diff": diff, "msg": "%s snapshot %s deleted by libvirt" % (kind, name)}
    require_local(vm.conn, "delete snapshot %s of vm %s" % (name, vm.name))
    vm.check_disks()
    external = vm.external()
    active = images.active_chains(vm.disks)
    graph = images.build_graph(vm.conn, vm.dom, vm.snapshots, active)
    plans, moved = snapshot_plan.plan_delete(name, external, graph, active, vm.running)
    touches = any(p.action != "keep" for p in plans)
    drop_cp = touches and not vm.running and bool(checkpoints.listing(vm.dom))
    result = {"changed": True, "diff": diff, "plan": [p.as_dict() for p in plans],
              "moved": moved, "memory_file_removed": snap.memory}
    if check_mode:
        result["msg"] = "snapshot %s of vm %s would be deleted" % (name, vm.name)
        return result
    warnings = []
    if drop_cp:
        warnings.append(_checkpoint_warning(_drop_checkpoints(vm), "merging a shut-off vm's images"))
    for plan in plans:
        _carry_out(vm, plan)
    for other, frozen in moved.items():
        _redefine(vm, other, snapshot_xml.moved(vm.snapshots[other][2], frozen=frozen), vm.snapshots[other][0].current)
    with lc.attempt("delete the metadata of snapshot %s of vm %s" % (name, vm.name)):
        vm.dom.snapshotLookupByName(name, 0).delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
    if snap.memory and os.path.exists(snap.memory):
        os.unlink(snap.memory)
    kept = [p for p in plans if p.action == "keep"]
    result["msg"] = "snapshot %s of vm %s deleted%s" % (name, vm.name, "; images kept: " + "; ".join(
        "%s: %s" % (p.target, p.why) for p in kept) if kept else "")
    result["warnings"] = warnings
    return result


def _carry_out(vm, plan):
    """One disk's part of a delete."""
    if plan.action == "keep":
        return
    if plan.action == "drop":
        os.unlink(plan.base)
        return
    fmt = images.image_format(plan.base)
    if plan.online:
        _block_commit(vm.dom, plan)
    else:
        checked(qemu_img.commit, plan.child, plan.base)
    for path in plan.rebase:
        checked(qemu_img.rebase_unsafe, path, plan.base, fmt)
    if plan.active and not plan.online:
        _set_sources(vm, {plan.target: plan.base}, {plan.target: fmt})
    for path in plan.remove:
        os.unlink(path)


def _block_commit(dom, plan, timeout=3600.0, clock=time.monotonic, sleep=time.sleep):
    """Merge ``plan.child`` into ``plan.base`` through the running VM's block job; for the active
    layer, pivot onto the base once the job is ready."""
    name, disk = dom.name(), plan.target
    flags = libvirt.VIR_DOMAIN_BLOCK_COMMIT_ACTIVE if plan.active else 0
    top = None if plan.active else plan.child

    def settled():
        """The job is gone, or (active layer) its mirror is ready to pivot."""
        info = dom.blockJobInfo(disk, 0)
        return not info or (plan.active and info.get("end", 0) > 0 and info.get("cur") == info.get("end")
                            and _mirror_ready(dom, disk))

    with lc.attempt("merge %s into %s (disk %s of vm %s)" % (plan.child, plan.base, disk, name)):
        started = clock()
        dom.blockCommit(disk, plan.base, top, 0, flags)
        if not wait_for(settled, timeout, clock, sleep, interval=POLL_S):
            dom.blockJobAbort(disk, 0)
            raise lc.VirtError("Merging %s into %s did not finish within %gs: aborted" % (plan.child, plan.base, timeout))
        if plan.active and dom.blockJobInfo(disk, 0):
            dom.blockJobAbort(disk, libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
            wait_for(lambda: not dom.blockJobInfo(disk, 0), max(0.0, timeout - (clock() - started)), clock, sleep,
                     interval=POLL_S)
    chain = [d for d in disk_xml.disks(dom.XMLDesc(0)) if d.target == disk]
    if plan.active and chain and chain[0].source != plan.base:
        raise lc.VirtError("After merging disk %s of vm %s runs on %s, not on %s" % (disk, name, chain[0].source, plan.base))


def _mirror_ready(dom, disk):
    for node in dx.parse(dom.XMLDesc(0)).findall("devices/disk"):
        target = node.find("target")
        mirror = node.find("mirror")
        if target is not None and target.get("dev") == disk:
            return mirror is not None and mirror.get("ready") == "yes"
    return False


def _set_sources(vm, sources, formats):
    """Point disks of the (persistent) definition at new images."""
    root = dx.parse(vm.dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    for node in root.findall("devices/disk"):
        target = node.find("target")
        dev = target.get("dev") if target is not None else None
        if dev in sources:
            node.find("source").attrib.clear()
            node.find("source").set("file", sources[dev])
            node.find("driver").set("type", formats[dev])
            for child in node.findall("backingStore"):
                node.remove(child)
    domain.define(vm.conn, dx.tostring(root), "update the definition of vm %s" % vm.name)


def _redefine(vm, name, xml, current):
    flags = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE
    if current:
        flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT
    with lc.attempt("update the metadata of snapshot %s of vm %s" % (name, vm.name)):
        vm.dom.snapshotCreateXML(xml, flags)


# ---- revert ----------------------------------------------------------------------------------

def _revert(vm, name, params, check_mode):
    if name not in vm.snapshots:
        raise lc.VirtError("vm %s has no snapshot %s to revert to" % (vm.name, name))
    snap, kind, xml = vm.snapshots[name]
    diff = _diff(vm, list(vm.snapshots), name)
    if kind != "external":
        return _revert_by_libvirt(vm, name, kind, diff, check_mode)
    plans = _revert_plans(vm, name)
    if plans is None:
        return {"changed": False, "msg": "vm %s stands at snapshot %s (nothing written since)" % (vm.name, name)}
    restore_memory = snap.memory is not None and snap.state in ("running", "paused")
    result = {"changed": True, "diff": diff, "plan": [p.as_dict() for p in plans], "memory": restore_memory,
              "checkpoints_deleted": sorted(checkpoints.listing(vm.dom))}
    if check_mode:
        result["msg"] = "vm %s would be reverted to snapshot %s" % (vm.name, name)
        return result
    if restore_memory and not os.path.exists(snap.memory):
        raise lc.VirtError("the memory file %s of snapshot %s is gone" % (snap.memory, name))
    warnings = []
    dropped = _drop_checkpoints(vm)
    if dropped:
        warnings.append(_checkpoint_warning(dropped, "a revert changes the disks behind the bitmaps"))
    _switch_disks(vm, snap, plans, restore_memory)
    for plan in plans:
        if plan.remove_leaf and os.path.exists(plan.leaf):
            os.unlink(plan.leaf)
    _redefine(vm, name, snapshot_xml.moved(xml, overlay={p.target: p.overlay for p in plans}), True)
    result["warnings"] = warnings
    result["msg"] = "vm %s reverted to snapshot %s%s" % (
        vm.name, name, " with its memory" if restore_memory else (" and started again" if vm.running else ""))
    return result


def _revert_by_libvirt(vm, name, kind, diff, check_mode):
    """An internal snapshot (made by another tool): libvirt reverts it itself."""
    if check_mode:
        return {"changed": True, "diff": diff, "msg": "vm %s would be reverted to %s by libvirt" % (vm.name, name)}
    with lc.attempt("revert vm %s to snapshot %s" % (vm.name, name)):
        vm.dom.revertToSnapshot(vm.dom.snapshotLookupByName(name, 0), 0)
    return {"changed": True, "diff": diff, "msg": "vm %s reverted to %s snapshot %s by libvirt" % (vm.name, kind, name)}


def _revert_plans(vm, name):
    """The per-disk plans of reverting to the external snapshot ``name``; None when the VM stands
    at it already (nothing written into its overlays since)."""
    require_local(vm.conn, "revert vm %s" % vm.name)
    vm.check_disks()
    external = vm.external()
    active = images.active_chains(vm.disks)
    graph = images.build_graph(vm.conn, vm.dom, vm.snapshots, active)
    empty = {chain[0] for chain in active.values() if len(chain) > 1 and not checked(qemu_img.written, chain[0])}
    if snapshot_plan.is_reverted(name, external, graph, active, empty):
        return None
    taken = {os.path.join(os.path.dirname(p), f) for p in graph.backing for f in os.listdir(os.path.dirname(p))}
    try:
        return snapshot_plan.plan_revert(vm.name, name, external, graph, active, taken)
    except snapshot_plan.PlanError as err:
        raise lc.VirtError("Cannot revert vm %s: %s" % (vm.name, err)) from err


def _switch_disks(vm, snap, plans, restore_memory):
    """Stop the VM, put a new overlay on each snapshot image, point the definition at them and
    start the VM again (from the snapshot's memory, with ``restore_memory``); on any failure the
    VM is put back on its previous disks (and running again, if it ran)."""
    was_running = vm.running
    made = []
    try:
        if was_running:
            Guest(vm.conn, vm.dom).force_off()
        for plan in plans:
            checked(qemu_img.create_overlay, plan.overlay, plan.base, images.image_format(plan.base))
            made.append(plan.overlay)
        sources = {p.target: p.overlay for p in plans}
        _set_sources(vm, sources, {t: "qcow2" for t in sources})
        if restore_memory:
            saved = vm.conn.saveImageGetXMLDesc(snap.memory, 0)
            dxml = backup_xml.restored_domain(saved, vm.name, sources, renamed=False)
            flags = libvirt.VIR_DOMAIN_SAVE_PAUSED if snap.state == "paused" else libvirt.VIR_DOMAIN_SAVE_RUNNING
            with lc.attempt("restore the memory of vm %s from %s" % (vm.name, snap.memory)):
                vm.conn.restoreFlags(snap.memory, dxml, flags)
        elif was_running:
            Guest(vm.conn, vm.dom).start()
    except BaseException as err:
        _undo_revert(vm, made, vm.inactive_xml, was_running)
        if isinstance(err, lc.VirtError):
            err.extend("; the revert was undone (vm %s is on its previous disks%s)" % (
                vm.name, ", running again" if was_running else ""))
        raise


def _undo_revert(vm, made, old_definition, was_running):
    guest = Guest(vm.conn, vm.dom)
    with contextlib.suppress(lc.VirtError):
        if guest.is_active():
            guest.force_off()
    with contextlib.suppress(lc.VirtError):
        domain.define(vm.conn, old_definition)
    for path in made:
        with contextlib.suppress(OSError):
            os.unlink(path)
    if was_running:
        with contextlib.suppress(lc.VirtError):
            guest.start()
