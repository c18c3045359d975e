# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Taking a backup of a VM: the libvirt-facing half of hotiron.virt.vm_backup.

A running VM is backed up with libvirt's backup API in push mode: QEMU itself writes each disk
(or, for an incremental, the clusters its dirty bitmap marks since the previous checkpoint) to a
qcow2 file on the target, and a new checkpoint starts the next bitmap at the same instant.  A
shut-off VM's disks are copied whole with ``qemu-img convert``.  Then each file is synced and
hashed, and the record is written last: a backup without a record does not exist.

Whether the backup is full or incremental is :func:`chain.choose_mode`; what to prune is
:func:`retention.plan`.  On any failure the job is aborted, the new checkpoint deleted and the
backup's directory removed, so that nothing half-done remains.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import time

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils.files import fsync_file
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.storage import disk_xml
from ansible_collections.hotiron.virt.plugins.module_utils.storage import qemu_img_ops as qemu_img
from ansible_collections.hotiron.virt.plugins.module_utils.backup import quiesce as quiesce_rule
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import wait_for
from ansible_collections.hotiron.virt.plugins.module_utils.backup import (
    backup_xml,
    chain,
    checkpoints_ops as checkpoints,
    layout,
    records,
    retention,
    store_ops as store,
)

libvirt = lc.libvirt

POLL_S = 0.05
JOB_BACKUP = 9  # virDomainJobOperation VIR_DOMAIN_JOB_OPERATION_BACKUP


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


# ---- where, and what --------------------------------------------------------------------------

def resolve_target(conn, params):
    """The target directory: ``target``, or the path of storage pool ``target_pool``."""
    if params.get("target"):
        return os.path.normpath(params["target"])
    pool = lc.lookup_pool(conn, params["target_pool"])
    if pool is None:
        raise lc.VirtError("Storage pool %s (target_pool) does not exist on %s" % (params["target_pool"], lc.safe_uri(conn)))
    with lc.attempt("read storage pool %s" % params["target_pool"]):
        if not pool.isActive():
            raise lc.VirtError("Storage pool %s (target_pool) is not active" % params["target_pool"])
        path = dx.get_text(dx.parse(pool.XMLDesc(0)), "target/path")
    if not path:
        raise lc.VirtError("Storage pool %s (target_pool) has no directory" % params["target_pool"])
    return path


def require_local(conn, what):
    """Backups, restores and snapshot merges read and write image files where the VM runs: the
    module must run on that host."""
    uri = lc.safe_uri(conn)
    with lc.attempt("read the hostname of %s" % uri):
        hostname = conn.getHostname()
    if not qemu_img.is_local(uri, hostname):
        raise lc.VirtError(
            "Cannot %s from here: libvirt at %s is host %s, and its image files are not on this machine."
            " Run the task on that host (delegate_to, with uri qemu:///system)" % (what, uri, hostname))
    return hostname


def virt_error(err):
    """The VirtError a store, image, layout or file system error becomes."""
    if isinstance(err, OSError):
        return lc.VirtError("%s: %s" % (getattr(err, "filename", None) or "file error", err.strerror or err))
    return lc.VirtError(str(err))


def checked(call, *args, **kwargs):
    """Run a store or image operation; its errors become VirtError."""
    try:
        return call(*args, **kwargs)
    except (store.StoreError, qemu_img.ImageError, layout.LayoutError, OSError) as err:
        raise virt_error(err) from err


class VmState:
    """The VM as a backup needs it: definitions, disks with sizes, checkpoints."""

    def __init__(self, dom):
        self.dom = dom
        with lc.attempt("read vm %s" % dom.name()):
            self.name = dom.name()
            self.uuid = dom.UUIDString()
            self.running = bool(dom.isActive())
            self.xml = dom.XMLDesc(0)
            self.inactive_xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) if dom.isPersistent() else self.xml
            all_disks = disk_xml.disks(self.xml)
            self.all_targets = [d.target for d in all_disks]
            self.disks = [d for d in all_disks if d.backed_up]
            self.sizes = {d.target: dom.blockInfo(d.target)[0] for d in self.disks}
        self.checkpoints = checkpoints.listing(dom)

    def facts(self):
        return chain.VmFacts(
            uuid=self.uuid, running=self.running,
            disks={d.target: {"format": d.format, "virtual_size": self.sizes[d.target], "source": d.source}
                   for d in self.disks},
            checkpoints={n: c["disks"] for n, c in self.checkpoints.items()})


def checkpoint_prefix(target):
    """Checkpoints are named per target (``hotiron-<8 hex of the target's path>-<backup id>``), so
    two targets backing up one VM never delete each other's."""
    return "hotiron-%s-" % hashlib.sha256(os.path.realpath(target).encode()).hexdigest()[:8]


# ---- the run ---------------------------------------------------------------------------------

def run_vm_backup(params, check_mode, now=utc_now):
    conn = lc.connect(params["uri"])
    try:
        return _run(conn, params, check_mode, now)
    finally:
        conn.close()


def _run(conn, params, check_mode, now):
    name = params["name"]
    checked(layout.check_vm_name, name)
    uri = lc.safe_uri(conn)
    target = resolve_target(conn, params)
    dom = lc.lookup_domain(conn, name)
    if dom is None:
        raise lc.VirtError("vm %s does not exist on %s; nothing was written" % (name, uri))
    hostname = require_local(conn, "back up vm %s" % name)
    checked(store.check_target, target, writable=True)
    vm = VmState(dom)
    if not vm.disks:
        raise lc.VirtError("vm %s has no disk to back up (CD-ROMs and read-only or shareable disks are left out)" % name)
    quiesce = _quiesce_choice(vm, params["quiesce"])
    chains, incomplete = checked(store.chains, target, name)
    latest = chains[-1] if chains else None
    missing = checked(store.missing_files, target, latest) if latest else []
    decision = chain.choose_mode(vm.facts(), latest, params["mode"], params["max_incrementals"], missing)
    started = now()
    taken = {b.id for c in chains for b in c.backups} | {b.id for b in incomplete}
    backup_id = layout.make_id(started, taken)
    before = _listing(chains)
    if check_mode:
        return _planned(name, target, chains, incomplete, decision, backup_id, started, quiesce, params)
    with _locked(target, name):
        removed = _remove_incomplete(target, name)
        record, fallback = _take(dom, vm, target, backup_id, decision, latest, quiesce, hostname, params, now)
        deleted, problems = [], []
        if record["checkpoint"]:
            deleted, problems = checkpoints.prune(dom, checkpoint_prefix(target), record["checkpoint"])
        pruned = _prune(target, name, now(), params)
        chains_final, _inc = checked(store.chains, target, name)
    result = {
        "changed": True, "vm": name, "target": target,
        "backup_dir": layout.backup_dir(target, name, record["chain"], record["id"]),
        "backup": records.summary(record), "mode": record["mode"], "reason": record["reason"],
        "timing": record.pop("timing"),
        "pruned": pruned, "checkpoints_deleted": deleted, "removed_incomplete": removed,
        "msg": "%s backup %s of vm %s: %s" % (record["mode"], record["id"], name, record["reason"]),
        "diff": {"before": {"backups": before}, "after": {"backups": _listing(chains_final)}},
    }
    broken = ["the checkpoint chain of vm %s is broken (%s): this backup is a full one" % (name, decision.reason)
              ] if decision.broken and not fallback else []
    result["warnings"] = broken + ([fallback] if fallback else []) + [
        "older checkpoint not deleted cleanly: %s" % p for p in problems]
    return result


def _planned(name, target, chains, incomplete, decision, backup_id, started, quiesce, params):
    """Check mode's result: the backup that would be taken, what would be pruned and cleared."""
    latest = chains[-1] if chains else None
    future = _future_chains(chains, name, decision, backup_id, started)
    _keep, prune = retention.plan(future, started, params["keep_chains"], params["keep_days"])
    return {
        "changed": True, "vm": name, "target": target,
        "msg": "a %s backup of vm %s would be taken (%s)" % (decision.mode, name, decision.reason),
        "plan": {"id": backup_id, "chain": backup_id if decision.mode == "full" else latest.id,
                 "quiesce": quiesce, **decision.as_dict(),
                 "prune": [{"chain": c.id, "reason": why} for c, why in prune],
                 "remove_incomplete": ["%s/%s" % (b.chain, b.id) for b in incomplete
                                       if b.problem == store.NO_RECORD]},
        "diff": {"before": {"backups": _listing(chains)}, "after": {"backups": _after(_listing(chains), future, prune)}},
    }


def _prune(target, name, now, params):
    """Remove the chains retention gives up (under the VM's lock); what was removed."""
    chains_after, _inc = checked(store.chains, target, name)
    _keep, prune = retention.plan(chains_after, now, params["keep_chains"], params["keep_days"])
    pruned = []
    for old, why in prune:
        checked(store.remove_tree, target, layout.chain_dir(target, name, old.id))
        pruned.append({"chain": old.id, "backups": [b.id for b in old.backups], "size": old.size, "reason": why})
    return pruned


@contextlib.contextmanager
def _locked(target, name):
    """The VM's lock on the target (store.vm_lock), its failures as VirtError.  A VM directory
    this run made and left with nothing but the lock (a failed first backup) is removed after."""
    directory = layout.vm_dir(target, name)
    existed = os.path.isdir(directory)
    lock = store.vm_lock(target, name)
    try:
        lock.__enter__()
    except store.StoreError as err:
        raise lc.VirtError(str(err)) from err
    except OSError as err:
        raise lc.VirtError("Cannot lock the backups of vm %s on %s: %s" % (name, target, err.strerror)) from err
    try:
        yield
    finally:
        lock.__exit__(None, None, None)
        if not existed and os.path.isdir(directory) and os.listdir(directory) == [layout.LOCK]:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, layout.LOCK))
                os.rmdir(directory)


def _quiesce_choice(vm, wanted):
    """Whether to freeze the guest's file systems for the backup instant (:func:`quiesce.choose`)."""
    try:
        return quiesce_rule.choose(wanted, vm.running, backup_xml.guest_agent_connected(vm.xml) if vm.running else None)
    except quiesce_rule.QuiesceError as err:
        raise lc.VirtError("vm %s %s; nothing was written" % (vm.name, err)) from err


def _listing(chains):
    return ["%s/%s (%s)" % (c.id, b.id, b.mode) for c in chains for b in c.backups]


def _future_chains(chains, vm, decision, backup_id, started):
    """The chains as they would be after the planned backup (for check mode's retention plan)."""
    record = {"mode": decision.mode, "finished": layout.format_time(started), "size": 0}
    future = [layout.Chain(c.vm, c.id, list(c.backups)) for c in chains]
    if decision.mode == "full":
        future.append(layout.Chain(vm, backup_id, [layout.Backup(vm, backup_id, backup_id, record)]))
    else:
        future[-1].backups.append(layout.Backup(vm, future[-1].id, backup_id, record))
    return future


def _after(before, future, prune):
    gone = {c.id for c, _why in prune}
    return ["%s/%s (%s)" % (c.id, b.id, b.mode) for c in future if c.id not in gone for b in c.backups]


def _remove_incomplete(target, name):
    """Backup directories without a record, left by a run that died: removed under the lock.
    A record this code cannot trust (damaged, or of a newer format) is left for an operator."""
    removed = []
    _chains, incomplete = checked(store.chains, target, name)
    for backup in incomplete:
        if backup.problem != store.NO_RECORD:
            continue
        checked(store.remove_tree, target, layout.backup_dir(target, name, backup.chain, backup.id))
        removed.append("%s/%s: %s" % (backup.chain, backup.id, backup.problem))
        cdir = layout.chain_dir(target, name, backup.chain)
        if os.path.isdir(cdir) and not os.listdir(cdir):
            os.rmdir(cdir)
    return removed


def _take(dom, vm, target, backup_id, decision, latest, quiesce, hostname, params, now):
    """Take the backup; ``(record, fallback note or None)``.  An incremental that libvirt refuses
    (a bitmap lost or damaged) is retried once as a full backup in a new chain."""
    try:
        return _take_one(dom, vm, target, backup_id, decision, latest, quiesce, hostname, params, now), None
    except _IncrementalRefused as refused:
        note = "libvirt refused the incremental backup (%s): a full backup was taken instead" % refused
        full = chain.Decision("full", None, note)
        return _take_one(dom, vm, target, backup_id, full, None, quiesce, hostname, params, now), note


class _IncrementalRefused(Exception):
    pass


def _take_one(dom, vm, target, backup_id, decision, latest, quiesce, hostname, params, now):
    name = vm.name
    chain_id = backup_id if decision.mode == "full" else latest.id
    cdir = layout.chain_dir(target, name, chain_id)
    bdir = layout.backup_dir(target, name, chain_id, backup_id)
    new_chain = not os.path.exists(cdir)
    checkpoint = checkpoints.create_name(checkpoint_prefix(target), backup_id) if decision.checkpoint else None
    files = {d.target: os.path.join(bdir, checked(layout.disk_file, d.target)) for d in vm.disks}
    started = now()
    clock = time.monotonic()
    timing = {}
    try:
        checked(os.makedirs, bdir)
        domain_sha = checked(store.write_text, os.path.join(bdir, layout.DOMAIN), vm.inactive_xml)
        if vm.running:
            parent_cp = latest.last.checkpoint if decision.mode == "incremental" else None
            cp_xml = (backup_xml.checkpoint_xml(checkpoint, [d.target for d in vm.disks], vm.all_targets,
                                                "hotiron.virt backup %s of %s" % (backup_id, target))
                      if checkpoint else None)
            _push(dom, [d.target for d in vm.disks], files, parent_cp, cp_xml, quiesce, params["timeout"],
                  others=vm.all_targets)
        else:
            for disk in vm.disks:
                if disk.kind not in ("file", "block"):
                    raise lc.VirtError("disk %s of vm %s is a %s disk: a shut-off vm's disks are copied by path, so"
                                       " only file and block disks can be" % (disk.target, name, disk.kind))
                checked(qemu_img.convert, disk.source, disk.format, files[disk.target])
        timing["copy_s"] = round(time.monotonic() - clock, 3)
        disks = []
        for disk in vm.disks:
            path = files[disk.target]
            checked(fsync_file, path)
            disks.append({"target": disk.target, "file": os.path.basename(path), "source": disk.source,
                          "format": disk.format, "virtual_size": vm.sizes[disk.target],
                          "size": os.path.getsize(path), "sha256": checked(store.sha256_file, path)})
        timing["checksum_s"] = round(time.monotonic() - clock - timing["copy_s"], 3)
        finished = now()
        record = records.build(
            vm=name, uuid=vm.uuid, backup_id=backup_id, chain=chain_id, mode=decision.mode,
            parent=decision.parent.id if decision.mode == "incremental" else None,
            checkpoint=checkpoint,
            parent_checkpoint=latest.last.checkpoint if decision.mode == "incremental" else None,
            host=hostname, started=layout.format_time(started), finished=layout.format_time(finished),
            reason=decision.reason, quiesced=quiesce, disks=disks, domain_file=layout.DOMAIN, domain_sha256=domain_sha)
        checked(store.write_json_atomic, os.path.join(bdir, layout.RECORD), record)
        record["timing"] = timing      # reported, not recorded
        return record
    except BaseException:
        # The checkpoint's name is new (the backup id is): if the vm has it, this run made it.
        _undo(dom, checkpoint, target, bdir, cdir if new_chain else None)
        raise


def _undo(dom, checkpoint, target, bdir, cdir):
    """After a failure: no job left running, no new checkpoint, no directory of this backup."""
    try:
        if dom.isActive() and dom.jobStats(0).get("type", libvirt.VIR_DOMAIN_JOB_NONE) != libvirt.VIR_DOMAIN_JOB_NONE:
            dom.abortJob()
    except libvirt.libvirtError:
        pass
    if checkpoint:
        try:
            checkpoints.delete(dom, checkpoint)
        except lc.VirtError:
            pass
    for path in (bdir, cdir):
        if path and os.path.isdir(path):
            try:
                store.remove_tree(target, path)
            except (store.StoreError, OSError):
                pass


def copy_running(dom, targets, files, others, timeout):
    """Copy the disks ``targets`` of the running VM ``dom`` as they are at one instant, each into
    ``files[target]`` (qcow2), with a push-mode backup job and no checkpoint (the VM's backup
    chains are left as they are); ``others``: the VM's other disks, which are not copied."""
    _push(dom, targets, files, None, None, False, timeout, others=others)


def _push(dom, targets, files, incremental, cp_xml, quiesce, timeout, clock=time.monotonic,
          sleep=time.sleep, others=()):
    """One push-mode backup job (with the new checkpoint ``cp_xml``, if any), waited for."""
    xml = backup_xml.backup_xml(targets, files, incremental, others)
    name = dom.name()
    frozen = False
    try:
        if quiesce:
            with lc.attempt("freeze the file systems of vm %s through its guest agent" % name):
                dom.fsFreeze()
            frozen = True
        try:
            dom.backupBegin(xml, cp_xml, 0)
        except libvirt.libvirtError as err:
            if incremental:
                raise _IncrementalRefused(err.get_error_message()) from err
            raise lc.wrap_libvirt_error("start a backup of vm %s" % name, err) from err
    finally:
        if frozen:
            with lc.attempt("thaw the file systems of vm %s" % name):
                dom.fsThaw()
    with lc.attempt("follow the backup job of vm %s" % name):
        idle = wait_for(lambda: dom.jobStats(0).get("type", libvirt.VIR_DOMAIN_JOB_NONE) == libvirt.VIR_DOMAIN_JOB_NONE,
                        timeout, clock, sleep, interval=POLL_S)
        if not idle:
            dom.abortJob()
            raise lc.VirtError("The backup of vm %s did not finish within %gs (timeout): aborted, nothing kept"
                               % (name, timeout))
        done = dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    if done.get("operation") not in (None, JOB_BACKUP) or done.get("type") != libvirt.VIR_DOMAIN_JOB_COMPLETED \
            or done.get("success") is False:
        why = done.get("errmsg") or "job ended as %s" % done.get("type")
        raise lc.VirtError("The backup job of vm %s failed: %s; nothing was kept" % (name, why))
