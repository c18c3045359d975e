# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Moving one VM between two libvirt hosts: the run of the migration (host maintenance, which
runs many such moves, is :mod:`hosts.maintenance_ops`).

The decisions live elsewhere: :mod:`tuning` (tuning while the job runs), :mod:`placement`
(whether the destination can take the VM); the checks before a move are :mod:`preflight_ops`,
the disks' way across :mod:`disks_ops`, the modules' options :mod:`args`.  This file starts a
peer-to-peer migration, drives the tuning policy from the job statistics, carries checkpoints
across, and cleans up when the migration fails so that the VM runs on exactly one host.
"""

from __future__ import annotations

import threading
import time

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import capacity_ops
from ansible_collections.hotiron.virt.plugins.module_utils.migration import args, disks_ops, preflight_ops
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import Guest
from ansible_collections.hotiron.virt.plugins.module_utils.backup import checkpoints_ops as backup_checkpoints
from ansible_collections.hotiron.virt.plugins.module_utils.migration.tuning import (
    ABORT,
    MIB,
    SET_DOWNTIME,
    START_POSTCOPY,
    JobStats,
    MigrationPolicy,
)

libvirt = lc.libvirt

POLL_INTERVAL_S = 0.2
# How long a call on the running job (its statistics, a downtime, the switch to post-copy, the
# abort) may take, and how long the job may go on after libvirt accepted its abort.  libvirt waits
# on QEMU's monitor without a limit; past these the watcher stops waiting (see _watch).
ANSWER_WAIT_S = 20.0
END_WAIT_S = 30.0
SILENCE_S = 60.0   # statistics not answered for this long: the job is given up, completion timeout or not
_UNANSWERED = object()


# ---- the migration itself -------------------------------------------------------------------

def migration_flags(live, running, copy_disks, tuning):
    """libvirt flags for one migration, and their names for the result.

    * PEER2PEER: the source libvirtd talks to the destination libvirtd
      itself, so the controller (or the host running the module) only needs
      to reach the source; the job survives the client going away.
    * LIVE: the guest keeps running during the copy (without it, it is
      paused for the whole transfer).
    * PERSIST_DEST + UNDEFINE_SOURCE: the definition moves with the VM, so
      it is never defined on two hosts (two definitions could both be started).
    * NON_SHARED_DISK: copy the listed disks with QEMU's NBD mirror; the
      destination volumes must exist (we create them). Full copy, not
      NON_SHARED_INC, since nothing guarantees a backing chain on the
      destination.
    * AUTO_CONVERGE: QEMU throttles the guest's vCPUs when pre-copy does not
      converge; the guest slows down, but nothing is lost.
    * POSTCOPY: only *allows* a later switch to post-copy. After the switch
      the guest runs on the destination and fetches missing pages from the
      source: if either host or the network fails then, the guest is lost.
      That is why it is off by default.
    * COMPRESSED / PARALLEL: less data or more connections, more CPU.
    * ABORT_ON_ERROR: a disk I/O error during the migration aborts it
      rather than carrying a failing guest over.
    * Never UNSAFE: libvirt refuses unsafe migrations (non-shared storage
      that is not copied, caches that are not safe), and we report that.
    * OFFLINE: a VM that is shut off: only the definition moves.
    """
    flags = libvirt.VIR_MIGRATE_PEER2PEER | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    names = ["PEER2PEER", "PERSIST_DEST", "UNDEFINE_SOURCE"]
    if not running:
        return flags | libvirt.VIR_MIGRATE_OFFLINE, names + ["OFFLINE"]
    flags |= libvirt.VIR_MIGRATE_ABORT_ON_ERROR
    names.append("ABORT_ON_ERROR")
    extra = [
        (live, "LIVE"),
        (copy_disks, "NON_SHARED_DISK"),
        (tuning.auto_converge, "AUTO_CONVERGE"),
        (tuning.postcopy, "POSTCOPY"),
        (tuning.compression, "COMPRESSED"),
        (tuning.parallel_connections > 1, "PARALLEL"),
    ]
    for wanted, name in extra:
        if wanted:
            flags |= getattr(libvirt, "VIR_MIGRATE_" + name)
            names.append(name)
    return flags, names


def migration_params(migration_address, tuning, copy_targets, running):
    params = {}
    if migration_address:
        params[libvirt.VIR_MIGRATE_PARAM_URI] = migration_address
    if not running:
        return params
    if tuning.bandwidth_mib_s:
        params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = int(tuning.bandwidth_mib_s)
    if tuning.parallel_connections > 1:
        params[libvirt.VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS] = int(tuning.parallel_connections)
    if tuning.compression:
        params[libvirt.VIR_MIGRATE_PARAM_COMPRESSION] = "xbzrle"
    if copy_targets:
        params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = list(copy_targets)
    if tuning.postcopy and tuning.bandwidth_mib_s:
        params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY] = int(tuning.bandwidth_mib_s)
    return params


class _Runner(threading.Thread):
    """Runs the blocking migrateToURI3 call so the caller can watch the job."""

    def __init__(self, dom, dest_uri, params, flags):
        super().__init__(daemon=True)
        self.dom, self.dest_uri, self.params, self.flags = dom, dest_uri, params, flags
        self.error = None

    def run(self):
        try:
            self.dom.migrateToURI3(self.dest_uri, self.params, self.flags)
        except libvirt.libvirtError as err:
            self.error = err


def _in_postcopy(dom):
    reason = getattr(libvirt, "VIR_DOMAIN_PAUSED_POSTCOPY", None)
    running_reason = getattr(libvirt, "VIR_DOMAIN_RUNNING_POSTCOPY", None)
    try:
        state, why = dom.state()
    except libvirt.libvirtError:
        return False
    return (state == libvirt.VIR_DOMAIN_PAUSED and why == reason) or (
        state == libvirt.VIR_DOMAIN_RUNNING and why == running_reason)


def _apply(dom, name, policy, action, value):
    what = "tune the migration of vm %s (%s)" % (name, action)
    if action == SET_DOWNTIME:
        lc.within(ANSWER_WAIT_S, what, dom.migrateSetMaxDowntime, int(value), 0)
    elif action == START_POSTCOPY:
        try:
            lc.within(ANSWER_WAIT_S, what, dom.migrateStartPostCopy, 0)
        except lc.Unanswered:
            policy.applied(action, value)  # it may have switched: from here the VM counts as split
            raise
    elif action == ABORT:
        lc.within(ANSWER_WAIT_S, what, dom.abortJob)
    policy.applied(action, value)


def _read_stats(dom, name):
    """The job's statistics; ``None`` when libvirt refused them (the job just ended, say),
    ``_UNANSWERED`` when it has not answered within ``ANSWER_WAIT_S`` (a monitor call QEMU does
    not answer holds the job)."""
    try:
        return lc.within(ANSWER_WAIT_S, "read the migration statistics of vm %s" % name, dom.jobStats, 0)
    except lc.Unanswered:
        return _UNANSWERED
    except lc.VirtError:
        return None


def migrate(src, dest, dest_uri, name, tuning, live=True, migration_address=None, copy_storage="auto",
            cpu_ratio=4.0, reserved_memory_mib=256, clock=time.monotonic, preflight=None):
    """Migrate vm ``name`` from ``src`` to ``dest`` (connections); ``dest_uri`` as the source reaches it.

    Returns the result dict. Raises VirtError when the migration fails, after
    making sure the VM runs on the source and nothing is left on the destination.
    """
    pre = preflight or preflight_ops.Preflight(src, dest, name, live, copy_storage, cpu_ratio, reserved_memory_mib).run()
    dom = pre.dom
    running = capacity_ops.is_active(dom)
    with lc.attempt("read the definition of vm %s" % name):
        mem_bytes = capacity_ops.memory_mib(dom.XMLDesc(0)) * MIB
    copy = [d for d in pre.disks if d.mode == "copy"]
    flags, flag_names = migration_flags(live, running, bool(copy), tuning)
    params = migration_params(migration_address, tuning, [d.target for d in copy], running)
    dest_had_definition = lc.lookup_domain(dest, name) is not None
    checkpoints = _checkpoints_to_carry(dom)
    created = disks_ops.precreate_volumes(src, dest, copy)

    started = clock()
    policy = MigrationPolicy(tuning, mem_bytes, clock)
    runner = None
    try:
        if not running and copy:
            disks_ops.copy_volumes_offline(src, dest, copy)
        runner = _Runner(dom, dest_uri, params, flags)
        last = _watch(src, dom, name, runner, policy, running, clock)
    except lc.VirtError as err:
        # The watcher gave up on a job libvirt did not answer about: what recovery did is part of
        # the failure (an abort not answered ends in the destination's half being removed).
        recovered = _recover(src, dest, name, created, dest_had_definition, running, _split(policy))
        err.extend(("" if err.message.endswith(".") else ".") + " " + recovered)
        if runner is not None and runner.is_alive():
            err.extend(" (libvirt's migrate call on the source had not returned: virsh domjobinfo %s shows"
                       " what it still does)" % name)
        raise
    except BaseException:
        _recover(src, dest, name, created, dest_had_definition, running, _split(policy))
        raise
    duration = clock() - started
    if runner.error is not None:
        recovered = _recover(src, dest, name, created, dest_had_definition, running, _split(policy))
        raise _failure(name, dest_uri, runner.error, policy, recovered)
    removed = disks_ops.remove_source_copies(src, copy)
    arrived = lc.lookup_domain(dest, name)
    completed = _completed_stats(arrived) if running else {}
    result = _result(src, dest_uri, name, pre, arrived, running, live, duration, completed, last, removed,
                     tuning, flag_names, migration_address, policy)
    if checkpoints:
        result["checkpoints"] = _carry_checkpoints(arrived, checkpoints, running)
    return result


def move(src_uri, dest_uri, name, tuning, migration_address=None, cpu_ratio=4.0, reserved_memory_mib=256,
         copy_allowed=True):
    """One live migration in connections of its own (a worker thread of an evacuation or a
    rebalance): vm_migrate's preflight (which probes shared storage) and migration (copying the
    disks the destination does not see, unless ``copy_allowed`` is false: then such a VM does not
    move).  The outcome, never an exception: ``{"ok", "time_s", "downtime_ms", "copied"}`` or
    ``{"ok": False, "time_s", "error"}``."""
    started = time.monotonic()
    conns = []
    try:
        src = lc.connect(src_uri)
        conns.append(src)
        dest = lc.connect(dest_uri)
        conns.append(dest)
        pre = preflight_ops.Preflight(src, dest, name, live=True, copy_storage="auto", cpu_ratio=cpu_ratio,
                                      reserved_memory_mib=reserved_memory_mib).run()
        copied = [d.target for d in pre.disks if d.mode == "copy"]
        if copied and not copy_allowed:
            raise lc.VirtError("vm %s would need disk(s) %s copied to %s, which does not see them, and copy_storage is false"
                               % (name, ", ".join(copied), dest_uri))
        result = migrate(src, dest, dest_uri, name, tuning, live=True, migration_address=migration_address,
                         copy_storage="auto", cpu_ratio=cpu_ratio, reserved_memory_mib=reserved_memory_mib, preflight=pre)
        return {"ok": True, "time_s": round(time.monotonic() - started, 3), "downtime_ms": result.get("downtime_ms"),
                "copied": copied}
    except lc.VirtError as err:
        return {"ok": False, "time_s": round(time.monotonic() - started, 3), "error": err.message}
    finally:
        for conn in conns:   # a worker's connections end with its move
            conn.close()


def _result(src, dest_uri, name, pre, arrived, running, live, duration, completed, last, removed, tuning, flag_names,
            migration_address, policy):
    """The module's result of a completed migration."""
    stats = completed or last
    result = {
        "changed": True,
        "vm": name,
        "source": lc.safe_uri(src),
        "source_host": pre.src_name,
        "destination": dest_uri,
        "host": pre.dest_name,
        "running": capacity_ops.is_active(arrived),
        "live": bool(live and running),
        "duration_s": round(duration, 3),
        "downtime_ms": completed.get("downtime"),  # measured; a running job only has an estimate
        "data_sent_bytes": stats.get("data_processed"),
        "memory_iterations": stats.get("memory_iteration"),
        "disks": [d.as_dict() for d in pre.disks],
        "removed_from_source": removed,
        "settings": dict(tuning.as_dict(), flags=flag_names,
                         migration_address=migration_address, downtime_schedule=policy.schedule),
        "events": policy.events,
    }
    if tuning.compression and running:
        # After a switch to post-copy libvirt's completed statistics have no XBZRLE figures: the
        # last ones read while pre-copy ran are what there is.
        source = completed if "compression_pages" in completed else last
        result["compression"] = {key: source.get("compression_" + key)
                                 for key in ("pages", "bytes", "cache_misses", "overflow")}
    return result


def _split(policy):
    """Whether a failed migration may have left the VM's memory split between the hosts: post-copy
    was asked for and no abort was accepted after it (libvirt refuses one once post-copy runs)."""
    return policy.postcopy_started and not policy.aborted


def _watch(src, dom, name, runner, policy, running, clock=time.monotonic):
    """Start ``runner`` and follow its job until it ends, stepping the tuning ``policy`` on the
    job's statistics; the last statistics read (``{}`` for none).  The job is watched and tuned
    through a connection of its own: the one carrying the blocking migrate call is never shared
    between threads.

    Nothing here waits on libvirt without a limit: a poll whose statistics do not come within
    ``ANSWER_WAIT_S`` still applies the completion timeout, and statistics unanswered for
    ``SILENCE_S``, a tuning call not answered in ``ANSWER_WAIT_S`` and a job still running
    ``END_WAIT_S`` after libvirt accepted its abort raise :class:`lc.Unanswered`; the caller then
    recovers (before post-copy the VM runs on the source)."""
    watch = lc.connect(lc.safe_uri(src))
    with lc.attempt("look up vm %s to watch its migration" % name):
        watched = watch.lookupByUUIDString(dom.UUIDString())
    last = {}
    aborted_at = None
    answered_at = clock()
    runner.start()
    while runner.is_alive():
        runner.join(POLL_INTERVAL_S)
        if not runner.is_alive() or not running:
            break
        if policy.aborted:
            aborted_at = clock() if aborted_at is None else aborted_at
            if clock() - aborted_at >= END_WAIT_S:
                raise lc.Unanswered("The migration of vm %s was aborted (%s) and its job still ran %gs later"
                                    % (name, policy.events[-1]["reason"], END_WAIT_S))
            continue
        raw = _read_stats(watched, name)
        if raw is _UNANSWERED and clock() - answered_at >= SILENCE_S:
            raise lc.Unanswered("libvirt has not answered about the migration of vm %s for %gs" % (name, SILENCE_S))
        if raw is not _UNANSWERED:
            answered_at = clock()
        if raw is None or raw is _UNANSWERED:
            actions = policy.step_unread()  # the job just ended, or libvirt is slow to say how it goes
        elif raw.get("type", libvirt.VIR_DOMAIN_JOB_NONE) == libvirt.VIR_DOMAIN_JOB_NONE:
            continue
        else:
            last = raw
            actions = policy.step(JobStats.from_libvirt(raw, libvirt.VIR_DOMAIN_JOB_NONE, _in_postcopy(watched)))
        for action, value, _reason in actions:
            try:
                _apply(watched, name, policy, action, value)
            except lc.Unanswered:
                raise
            except lc.VirtError:
                if not runner.is_alive():
                    break
                if action == ABORT and _in_postcopy(watched):
                    policy.entered_postcopy()  # it switched meanwhile: libvirt ends it
                    break
                raise
    runner.join()
    return last


def _failure(name, dest_uri, error, policy, recovered):
    """The VirtError of a failed migration: why, and what was done about it (``recovered``)."""
    why = lc.describe_libvirt_error("migrate vm %s to %s" % (name, dest_uri), error)
    if policy.aborted:
        why = "Migration of vm %s to %s aborted: %s" % (name, dest_uri, policy.events[-1]["reason"])
    elif error.get_error_code() == libvirt.VIR_ERR_MIGRATE_UNSAFE:
        why += (". hotiron.virt never forces an unsafe migration: put the disks on storage libvirt"
                " knows to be shared (NFS, GlusterFS, Ceph, iSCSI, ...) with cache=none, or let them be copied")
    return lc.VirtError("%s. %s" % (why, recovered), code=error.get_error_code(),
                        domain=error.get_error_domain(), libvirt_message=error.get_error_message())


def _completed_stats(arrived):
    """The completed job's statistics on the destination, ``{}`` when none are kept (after
    post-copy the destination keeps none: the caller uses the last ones read)."""
    completed = {}
    if arrived is not None:
        try:
            # KEEP_COMPLETED: reading them here must not take them from virsh domjobinfo --completed.
            completed = arrived.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED
                                         | libvirt.VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED)
        except libvirt.libvirtError:
            completed = {}
    if completed.get("type", libvirt.VIR_DOMAIN_JOB_NONE) == libvirt.VIR_DOMAIN_JOB_NONE:
        return {}
    return completed


def _checkpoints_to_carry(dom):
    """The VM's checkpoints, read before it leaves (libvirt drops them with the source's definition):
    ``[(name, xml)]`` parents first, or an error message; never fails the migration."""
    try:
        return backup_checkpoints.ordered(dom)
    except lc.VirtError as err:
        return "could not be read before the migration: %s" % err.message


def _carry_checkpoints(arrived, checkpoints, running):
    """Redefine the VM's checkpoints on the destination, so that its next backup stays incremental
    (the dirty bitmaps themselves travelled in its images).  Reported, never raised: without them
    the next backup is a full one, and says why."""
    if isinstance(checkpoints, str):
        return {"redefined": [], "failed": {"*": checkpoints}}
    if arrived is None:
        return {"redefined": [], "failed": {"*": "the vm was not found on the destination"}}
    return backup_checkpoints.carry(arrived, checkpoints, running)


def _recover(src, dest, name, created, dest_had_definition, was_running=True, postcopy=False):
    """After a failed migration: the VM must run on exactly one host. Returns what was found/done."""
    if postcopy:
        return ("the migration failed after switching to post-copy: the vm's memory is split between the"
                " hosts and nothing was touched; recover it with libvirt's post-copy resume"
                " (virsh migrate --postcopy --postcopy-resume)")
    src_dom = _safe_lookup(src, name)
    dest_dom = _safe_lookup(dest, name)
    src_up = _safe_active(src_dom)
    dest_up = _safe_active(dest_dom)
    if not was_running:
        if src_dom is not None and not dest_up:
            if dest_dom is not None and not dest_had_definition:
                _quietly(lambda: Guest(dest, dest_dom).delete_definition(keep_nvram=True))  # the source may share the file
            disks_ops.delete_volumes(created)
            return "vm %s is still defined on the source; nothing was left on the destination" % name
        return "vm %s: source defined=%s, destination defined=%s" % (name, src_dom is not None, dest_dom is not None)
    if src_up and not dest_up:
        if dest_dom is not None and not dest_had_definition:
            _quietly(lambda: Guest(dest, dest_dom).delete_definition(keep_nvram=True))  # the source may share the file
        disks_ops.delete_volumes(created)
        return "vm %s is still running on the source; nothing was left on the destination" % name
    if src_up and dest_up:
        # The destination half of a migration that never completed: the source is authoritative.
        _quietly(Guest(dest, dest_dom).force_off)
        if not dest_had_definition:
            _quietly(lambda: Guest(dest, dest_dom).delete_definition(keep_nvram=True))  # the source may share the file
        disks_ops.delete_volumes(created)
        return "vm %s is still running on the source; its incomplete copy on the destination was removed" % name
    if dest_up:
        return "vm %s is running on the destination (the migration completed despite the error)" % name
    if src_dom is not None:
        try:
            Guest(src, src_dom).start()
            disks_ops.delete_volumes(created)
            return "vm %s was running nowhere and was started again on the source" % name
        except lc.VirtError as err:
            return "vm %s is running NOWHERE and could not be restarted on the source: %s" % (name, err.libvirt_message or err.message)
    return "vm %s is running NOWHERE and is not defined on the source" % name


def _safe_lookup(conn, name):
    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError:
        return None


def _safe_active(dom):
    try:
        return dom is not None and bool(dom.isActive())
    except libvirt.libvirtError:
        return False


def _quietly(func):
    try:
        func()
    except (lc.VirtError, libvirt.libvirtError):
        pass


def locate(src, dest, name):
    """Where the vm is: ``'source'``, ``'destination'``, ``'both'`` or ``None`` (running, else defined)."""
    s, d = lc.lookup_domain(src, name), lc.lookup_domain(dest, name)
    s_up, d_up = capacity_ops.is_active(s), capacity_ops.is_active(d)
    if s_up and d_up:
        return "both"
    if d_up:
        return "destination"
    if s_up:
        return "source"
    if s is not None:
        return "source"
    if d is not None:
        return "destination"
    return None


# ---- the vm_migrate module's work -----------------------------------------------------------


def run_vm_migrate(params, check_mode):
    """hotiron.virt.vm_migrate's result, in the one shape of the module ``_ops``: the diff (where the
    VM runs, before and after) when it moves."""
    result = _run_vm_migrate(params, check_mode)
    if result.get("changed"):
        result["diff"] = args.migration_diff(result)
    return result


def _run_vm_migrate(params, check_mode):
    tuning = args.tuning_from_params(params)
    name = params["name"]
    dest_uri = args.resolve_dest(params)
    src_uri = params["uri"]
    if dest_uri == src_uri:
        raise lc.VirtError("Source and destination are the same host (%s): choose another destination" % src_uri)
    src = lc.connect(src_uri)
    dest = lc.connect(dest_uri)
    where = locate(src, dest, name)
    if where == "both":
        raise lc.VirtError("vm %s runs on both %s and %s: refusing to touch it" % (name, src_uri, dest_uri))
    if where == "destination":
        dom = lc.lookup_domain(dest, name)
        return {"changed": False, "vm": name, "destination": dest_uri, "host": dest.getHostname(),
                "running": capacity_ops.is_active(dom), "msg": "vm %s is already on %s" % (name, dest_uri)}
    if where is None:
        raise lc.VirtError("vm %s exists neither on %s nor on %s" % (name, src_uri, dest_uri))
    pre = preflight_ops.Preflight(src, dest, name, params["live"], params["copy_storage"],
                                  params["cpu_allocation_ratio"], params["reserved_host_memory"], check_mode=check_mode).run()
    if check_mode:
        flags, names = migration_flags(params["live"], capacity_ops.is_active(pre.dom),
                                       any(d.mode == "copy" for d in pre.disks), tuning)
        return {"changed": True, "vm": name, "source": src_uri, "source_host": pre.src_name,
                "destination": dest_uri, "host": pre.dest_name,
                "disks": [d.as_dict() for d in pre.disks], "settings": dict(tuning.as_dict(), flags=names),
                "msg": "vm %s would move to %s" % (name, dest_uri)}
    return migrate(src, dest, dest_uri, name, tuning, live=params["live"],
                   migration_address=args.normalise_address(params["migration_address"]),
                   copy_storage=params["copy_storage"], preflight=pre)
