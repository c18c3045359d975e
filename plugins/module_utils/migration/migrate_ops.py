# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Moving one VM between two libvirt hosts: the libvirt-facing half (host maintenance,
which runs many such moves, is :mod:`maintenance_ops`).

The decisions live elsewhere: :mod:`migration` (tuning while the job runs),
:mod:`placement` (whether the destination can take the VM). This file
inspects the VM and both hosts, validates, starts a peer-to-peer migration,
drives the tuning policy from the job statistics, and cleans up when the
migration fails so that the VM runs on exactly one host.
"""

from __future__ import annotations

import os
import threading
import time
import uuid as uuidlib
import xml.etree.ElementTree as ET

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.storage import disk_xml
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import Guest
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import maintenance_state_ops as maintenance_state
from ansible_collections.hotiron.virt.plugins.module_utils.backup import checkpoints_ops as backup_checkpoints
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import storage as capacity_storage
from ansible_collections.hotiron.virt.plugins.module_utils.migration.tuning import (
    ABORT,
    MIB,
    SET_DOWNTIME,
    START_POSTCOPY,
    JobStats,
    MigrationPolicy,
)
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.placement import HostCapacity, VmDemand, fits

libvirt = lc.libvirt

POLL_INTERVAL_S = 0.2
# Pool types whose volumes every host of the group sees (the data is not copied): one list, the
# rebalance planner's (capacity.storage), which decides by the same rules.
SHARED_POOL_TYPES = capacity_storage.SHARED_POOL_TYPES


# ---- inspection -----------------------------------------------------------------------------

def domain_state(dom):
    """``(state, reason)`` numbers of a domain."""
    with lc.attempt("read the state of vm %s" % dom.name()):
        return tuple(dom.state())


def is_active(dom):
    return dom is not None and bool(dom.isActive())


def memory_mib(xml):
    node = ET.fromstring(xml).find("memory")
    unit = node.get("unit", "KiB")
    factor = {"b": 1.0 / MIB, "bytes": 1.0 / MIB, "KiB": 1.0 / 1024, "k": 1.0 / 1024, "MiB": 1, "M": 1,
              "GiB": 1024, "G": 1024}.get(unit, 1.0 / 1024)
    return int(int(node.text) * factor)


def vcpu_count(xml):
    node = ET.fromstring(xml).find("vcpu")
    return int(node.text) if node is not None else 1


def demand_of(dom):
    xml = dom.XMLDesc(0)
    return VmDemand(dom.name(), memory_mib(xml), vcpu_count(xml))


def host_capacity(conn, name, cpu_ratio=4.0, reserved_memory_mib=256, in_maintenance=None):
    """What ``conn``'s host can still take, counting allocations of its running VMs.

    Memory is allocation-based (as Nova's scheduler does), capped by the
    host's instantaneous free memory where the driver reports it.
    """
    where = lc.safe_uri(conn)
    with lc.attempt("read the capacity of %s" % where):
        info = conn.getInfo()
        total_mib, cpus = info[1], info[2]
        doms = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
        used_mib = 0
        used_cpus = 0
        names = set()
        for dom in doms:
            dinfo = dom.info()
            used_mib += dinfo[1] // 1024
            used_cpus += dinfo[3]
            names.add(dom.name())
        free_now = conn.getFreeMemory() // MIB
    free_mib = total_mib - reserved_memory_mib - used_mib
    if free_now > 0:
        free_mib = min(free_mib, free_now - reserved_memory_mib)
    if in_maintenance is None:
        in_maintenance = maintenance_state.in_maintenance(conn)
    return HostCapacity(
        name=name,
        free_memory_mib=max(free_mib, 0),
        free_vcpus=max(int(cpus * cpu_ratio) - used_cpus, 0),
        in_maintenance=in_maintenance,
        vms=frozenset(names),
    )


# ---- storage --------------------------------------------------------------------------------

def pool_by_dir(conn, directory):
    try:
        return conn.storagePoolLookupByTargetPath(directory)
    except libvirt.libvirtError as err:
        if lc.is_not_found(err) or err.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
            return None
        raise lc.wrap_libvirt_error("find the storage pool of %s on %s" % (directory, lc.safe_uri(conn)), err) from err


def vol_by_path(conn, path):
    try:
        return conn.storageVolLookupByPath(path)
    except libvirt.libvirtError as err:
        if lc.is_not_found(err) or err.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
            return None
        raise lc.wrap_libvirt_error("look up volume %s on %s" % (path, lc.safe_uri(conn)), err) from err


def pool_type(pool):
    return ET.fromstring(pool.XMLDesc(0)).get("type")


def _same_storage(src, dest, directory):
    """Whether ``directory`` is the same storage on both hosts.

    A probe volume is created in the source's pool for that directory and
    looked for in the destination's pool after a refresh. Files that merely
    have the same path on two hosts (a stale copy) are not mistaken for
    shared storage this way. ``None`` when either host has no pool there.
    """
    src_pool = pool_by_dir(src, directory)
    dest_pool = pool_by_dir(dest, directory)
    if src_pool is None or dest_pool is None:
        return None
    name = ".hotiron-probe-%s" % uuidlib.uuid4().hex
    where = "probe whether %s is shared between %s and %s" % (directory, lc.safe_uri(src), lc.safe_uri(dest))
    with lc.attempt(where):
        probe = src_pool.createXML(
            "<volume><name>%s</name><capacity>0</capacity><target><format type='raw'/></target></volume>" % name, 0)
    try:
        with lc.attempt(where):
            lc.refresh_pool(dest_pool)
            seen = lc.lookup(where, dest_pool.storageVolLookupByName, name) is not None
    finally:
        with lc.attempt(where):
            probe.delete(0)
        try:
            lc.refresh_pool(dest_pool, timeout=5.0)
        except libvirt.libvirtError:
            pass  # the probe is gone; the pool's listing catches up at its next refresh
    return seen


def _listed_on_dest(dest, path):
    """Check mode's read-only stand-in for the probe: whether the destination's pool for the
    directory lists the file, as its last refresh saw it (``None`` without such a pool)."""
    dest_pool = pool_by_dir(dest, os.path.dirname(path))
    if dest_pool is None:
        return None
    where = "look for %s in the pool of %s on %s" % (os.path.basename(path), os.path.dirname(path), lc.safe_uri(dest))
    return lc.lookup(where, dest_pool.storageVolLookupByName, os.path.basename(path)) is not None


CHECK_MODE_NOTE = " (check mode reads the destination's pool as last refreshed and does not probe; the run does)"


def classify_disks(src, dest, disks, copy_storage="auto", probe=True):
    """Decide for each disk whether it is shared or copied; raise VirtError when neither works.

    ``probe=False`` (check mode) changes nothing on either host: whether a directory is shared
    is then read from the destination pool's listing instead of probed with a file.
    """
    problems = []
    for disk in disks:
        if disk.source is None:
            disk.mode, disk.why = "skip", "no medium"
            continue
        if disk.kind == "network":
            disk.mode, disk.why = "shared", "network disk reached by every host"
            continue
        if disk.kind == "volume":
            pool_name = disk.source.split("/", 1)[0]
            pool = lc.lookup_pool(dest, pool_name)
            if pool is None:
                problems.append("disk %s: the destination has no storage pool %s" % (disk.target, pool_name))
                continue
            if pool_type(pool) in SHARED_POOL_TYPES:
                disk.mode, disk.why = "shared", "pool %s is shared storage" % pool_name
                continue
            problems.append("disk %s: volumes of local pool %s cannot be copied by vm_migrate" % (disk.target, pool_name))
            continue
        # file or block device given by path
        if copy_storage == "never":
            disk.mode, disk.why = "shared", "copy_storage=never"
            continue
        if disk.kind == "block":
            vol = vol_by_path(dest, disk.source)
            if vol is not None:
                disk.mode, disk.why = "shared", "the destination has the same block device"
            else:
                problems.append("disk %s: block device %s is not visible on the destination" % (disk.target, disk.source))
            continue
        if copy_storage != "auto":
            shared = False
        elif probe:
            shared = _same_storage(src, dest, os.path.dirname(disk.source))
        else:
            shared = _listed_on_dest(dest, disk.source)
        note = "" if probe else CHECK_MODE_NOTE
        if shared:
            disk.mode, disk.why = "shared", "the destination sees the same directory" + note
        elif disk.readonly:
            problems.append("disk %s: read-only/shareable %s is not on storage the destination sees" % (disk.target, disk.source))
        elif shared is None:
            problems.append(
                "disk %s: cannot tell whether %s is shared: define a storage pool for %s on both hosts"
                " (or set copy_storage)" % (disk.target, disk.source, os.path.dirname(disk.source)))
        else:
            if pool_by_dir(dest, os.path.dirname(disk.source)) is None:
                problems.append("disk %s: no storage pool for %s on the destination to copy it into"
                                % (disk.target, os.path.dirname(disk.source)))
                continue
            if vol_by_path(dest, disk.source) is not None:
                problems.append("disk %s: the destination already has a different file at %s; refusing to overwrite it"
                                % (disk.target, disk.source))
                continue
            disk.mode, disk.why = "copy", "local storage, copied with the VM" + note
    if problems:
        raise lc.VirtError("Storage of the vm cannot be migrated: " + "; ".join(problems))
    return disks


def precreate_volumes(src, dest, disks):
    """Create on ``dest`` an empty volume for each copied disk; returns the volumes created."""
    created = []
    try:
        for disk in disks:
            if disk.mode != "copy":
                continue
            src_vol = vol_by_path(src, disk.source)
            if src_vol is None:
                raise lc.VirtError("Cannot copy disk %s: %s is not a volume of a storage pool on the source"
                                   % (disk.target, disk.source))
            with lc.attempt("read volume %s on the source" % disk.source):
                capacity = src_vol.info()[1]
            pool = pool_by_dir(dest, os.path.dirname(disk.source))
            xml = ("<volume><name>%s</name><capacity unit='bytes'>%d</capacity>"
                   "<target><format type='%s'/></target></volume>") % (os.path.basename(disk.source), capacity, disk.format)
            with lc.attempt("create volume %s on %s" % (disk.source, lc.safe_uri(dest))):
                created.append(pool.createXML(xml, 0))
    except lc.VirtError:
        delete_volumes(created)
        raise
    return created


def delete_volumes(volumes):
    for vol in volumes:
        try:
            vol.delete(0)
        except libvirt.libvirtError:
            pass


def copy_volumes_offline(src, dest, disks):
    """Offline migration of local disks: stream each volume's data to the pre-created copy."""
    for disk in disks:
        if disk.mode != "copy":
            continue
        src_vol = vol_by_path(src, disk.source)
        dest_vol = vol_by_path(dest, disk.source)
        with lc.attempt("copy volume %s to %s" % (disk.source, lc.safe_uri(dest))):
            size = src_vol.info()[1]
            down = src.newStream(0)
            up = dest.newStream(0)
            src_vol.download(down, 0, size, 0)
            dest_vol.upload(up, 0, size, 0)
            while True:
                chunk = down.recv(1024 * 1024)
                if not chunk:
                    break
                up.send(chunk)
            down.finish()
            up.finish()


# ---- validation -----------------------------------------------------------------------------

def guest_cpu_xml(src, dom):
    """The CPU definition the destination must provide, or ``None`` if the guest uses QEMU's default."""
    cpu = ET.fromstring(dom.XMLDesc(0)).find("cpu")
    if cpu is None or (cpu.get("mode") in (None, "custom") and cpu.find("model") is None):
        return None
    if cpu.get("mode") in ("host-passthrough", "maximum"):
        host_cpu = ET.fromstring(src.getCapabilities()).find("./host/cpu")
        return ET.tostring(host_cpu, encoding="unicode")
    return ET.tostring(cpu, encoding="unicode")


def check_cpu(src, dest, dom):
    """``None`` when the destination can run the guest's CPU, else why not."""
    xml = guest_cpu_xml(src, dom)
    if xml is None:
        return None
    virt_type = ET.fromstring(dom.XMLDesc(0)).get("type")
    try:
        result = dest.compareHypervisorCPU(None, None, None, virt_type, xml, 0)
    except libvirt.libvirtError as err:
        return "the destination cannot run the vm's CPU model: %s" % err.get_error_message()
    if result == libvirt.VIR_CPU_COMPARE_INCOMPATIBLE:
        return "the destination's CPU is incompatible with the vm's CPU model"
    return None


class Preflight:
    """Everything checked before a migration (and all that check mode does)."""

    def __init__(self, src, dest, name, live=True, copy_storage="auto", cpu_ratio=4.0, reserved_memory_mib=256,
                 check_mode=False):
        self.check_mode = check_mode  # read only: no storage probe, no pool refresh
        self.src = src
        self.dest = dest
        self.name = name
        self.live = live
        self.copy_storage = copy_storage
        self.cpu_ratio = cpu_ratio
        self.reserved_memory_mib = reserved_memory_mib
        self.dom = None
        self.disks = []
        self.src_name = None
        self.dest_name = None

    def run(self):
        src_uri, dest_uri = lc.safe_uri(self.src), lc.safe_uri(self.dest)
        with lc.attempt("compare hosts %s and %s" % (src_uri, dest_uri)):
            src_host, dest_host = self.src.getHostname(), self.dest.getHostname()
        self.src_name, self.dest_name = src_host, dest_host
        if src_host == dest_host:
            raise lc.VirtError("Source and destination are the same host (%s): choose another destination" % src_host)
        self.dom = lc.lookup_domain(self.src, self.name)
        if self.dom is None:
            raise lc.VirtError("vm %s does not exist on %s" % (self.name, src_uri))
        running = is_active(self.dom)
        if self.live and not running:
            raise lc.VirtError("vm %s is not running on %s: a live migration needs a running vm"
                               " (set live=false to move its definition)" % (self.name, src_uri))
        if maintenance_state.in_maintenance(self.dest):
            raise lc.VirtError("The destination %s (%s) is in maintenance" % (dest_host, dest_uri))
        clash = lc.lookup_domain(self.dest, self.name)
        if clash is not None:
            with lc.attempt("compare vm %s on both hosts" % self.name):
                same = clash.UUIDString() == self.dom.UUIDString()
            if not same or is_active(clash):
                raise lc.VirtError("A different vm named %s already exists on %s" % (self.name, dest_uri))
        if running:
            why = check_cpu(self.src, self.dest, self.dom)
            if why:
                raise lc.VirtError("Cannot migrate vm %s to %s: %s" % (self.name, dest_uri, why))
            capacity = host_capacity(self.dest, dest_host, self.cpu_ratio, self.reserved_memory_mib, in_maintenance=False)
            why = fits(demand_of(self.dom), capacity)
            if why:
                raise lc.VirtError("Cannot migrate vm %s to %s: %s" % (self.name, dest_uri, why))
        with lc.attempt("read the definition of vm %s" % self.name):
            xml = self.dom.XMLDesc(0)
        self.disks = classify_disks(self.src, self.dest, disk_xml.disks(xml), self.copy_storage, probe=not self.check_mode)
        return self


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


def _apply(dom, policy, action, value):
    with lc.attempt("tune the migration of vm %s (%s)" % (dom.name(), action)):
        if action == SET_DOWNTIME:
            dom.migrateSetMaxDowntime(int(value), 0)
        elif action == START_POSTCOPY:
            dom.migrateStartPostCopy(0)
        elif action == ABORT:
            dom.abortJob()
    policy.applied(action, value)


def migrate(src, dest, dest_uri, name, tuning, live=True, migration_address=None, copy_storage="auto",
            cpu_ratio=4.0, reserved_memory_mib=256, clock=time.monotonic, preflight=None):
    """Migrate vm ``name`` from ``src`` to ``dest`` (connections); ``dest_uri`` as the source reaches it.

    Returns the result dict. Raises VirtError when the migration fails, after
    making sure the VM runs on the source and nothing is left on the destination.
    """
    pre = preflight or Preflight(src, dest, name, live, copy_storage, cpu_ratio, reserved_memory_mib).run()
    dom = pre.dom
    running = is_active(dom)
    with lc.attempt("read the definition of vm %s" % name):
        mem_bytes = memory_mib(dom.XMLDesc(0)) * MIB
    copy = [d for d in pre.disks if d.mode == "copy"]
    flags, flag_names = migration_flags(live, running, bool(copy), tuning)
    params = migration_params(migration_address, tuning, [d.target for d in copy], running)
    dest_had_definition = lc.lookup_domain(dest, name) is not None
    checkpoints = _checkpoints_to_carry(dom)
    created = precreate_volumes(src, dest, copy)

    started = clock()
    policy = MigrationPolicy(tuning, mem_bytes, clock)
    last = {}
    try:
        if not running and copy:
            copy_volumes_offline(src, dest, copy)
        # The job is watched and tuned through a connection of its own: the one carrying the
        # blocking migrate call is never shared between threads.
        watch = lc.connect(lc.safe_uri(src))
        with lc.attempt("look up vm %s to watch its migration" % name):
            watched = watch.lookupByUUIDString(dom.UUIDString())
        runner = _Runner(dom, dest_uri, params, flags)
        runner.start()
        while runner.is_alive():
            runner.join(POLL_INTERVAL_S)
            if not runner.is_alive() or not running:
                break
            try:
                raw = watched.jobStats(0)
            except libvirt.libvirtError:
                continue  # the job just ended or the domain left; the runner tells
            if raw.get("type", libvirt.VIR_DOMAIN_JOB_NONE) == libvirt.VIR_DOMAIN_JOB_NONE:
                continue
            last = raw
            stats = JobStats.from_libvirt(raw, libvirt.VIR_DOMAIN_JOB_NONE, _in_postcopy(watched))
            for action, value, _reason in policy.step(stats):
                try:
                    _apply(watched, policy, action, value)
                except lc.VirtError:
                    if not runner.is_alive():
                        break
                    raise
        runner.join()
    except BaseException:
        _recover(src, dest, name, created, dest_had_definition, running, policy.postcopy_started)
        raise
    duration = clock() - started

    if runner.error is not None:
        recovered = _recover(src, dest, name, created, dest_had_definition, running, policy.postcopy_started)
        why = lc.describe_libvirt_error("migrate vm %s to %s" % (name, dest_uri), runner.error)
        if policy.aborted:
            why = "Migration of vm %s to %s aborted: %s" % (name, dest_uri, policy.events[-1]["reason"])
        elif runner.error.get_error_code() == libvirt.VIR_ERR_MIGRATE_UNSAFE:
            why += (". hotiron.virt never forces an unsafe migration: put the disks on storage libvirt"
                    " knows to be shared (NFS, GlusterFS, Ceph, iSCSI, ...) with cache=none, or let them be copied")
        raise lc.VirtError("%s. %s" % (why, recovered), code=runner.error.get_error_code(),
                           domain=runner.error.get_error_domain(), libvirt_message=runner.error.get_error_message())

    # The copied disks are now stale copies on the source: remove them, so that nothing can start
    # from them and the VM can come back later (a file in the way is never overwritten).
    removed = []
    for disk in copy:
        vol = vol_by_path(src, disk.source)
        if vol is not None:
            with lc.attempt("remove the source copy of disk %s (%s)" % (disk.target, disk.source)):
                vol.delete(0)
            removed.append(disk.source)

    arrived = lc.lookup_domain(dest, name)
    completed = {}
    if arrived is not None and running:
        try:
            # KEEP_COMPLETED: reading them here must not take them from virsh domjobinfo --completed.
            completed = arrived.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED
                                         | libvirt.VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED)
        except libvirt.libvirtError:
            completed = {}
    if completed.get("type", libvirt.VIR_DOMAIN_JOB_NONE) == libvirt.VIR_DOMAIN_JOB_NONE:
        completed = {}  # none kept (after post-copy the destination keeps none): the last ones read
    stats = completed or last
    result = {
        "changed": True,
        "vm": name,
        "source": lc.safe_uri(src),
        "source_host": pre.src_name,
        "destination": dest_uri,
        "host": pre.dest_name,
        "running": is_active(arrived),
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
    if checkpoints:
        result["checkpoints"] = _carry_checkpoints(arrived, checkpoints, running)
    if tuning.compression and running:
        # After a switch to post-copy libvirt's completed statistics have no XBZRLE figures: the
        # last ones read while pre-copy ran are what there is.
        source = completed if "compression_pages" in completed else last
        result["compression"] = {key: source.get("compression_" + key)
                                 for key in ("pages", "bytes", "cache_misses", "overflow")}
    return result


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
            delete_volumes(created)
            return "vm %s is still defined on the source; nothing was left on the destination" % name
        return "vm %s: source defined=%s, destination defined=%s" % (name, src_dom is not None, dest_dom is not None)
    if src_up and not dest_up:
        if dest_dom is not None and not dest_had_definition:
            _quietly(lambda: Guest(dest, dest_dom).delete_definition(keep_nvram=True))  # the source may share the file
        delete_volumes(created)
        return "vm %s is still running on the source; nothing was left on the destination" % name
    if src_up and dest_up:
        # The destination half of a migration that never completed: the source is authoritative.
        _quietly(Guest(dest, dest_dom).force_off)
        if not dest_had_definition:
            _quietly(lambda: Guest(dest, dest_dom).delete_definition(keep_nvram=True))  # the source may share the file
        delete_volumes(created)
        return "vm %s is still running on the source; its incomplete copy on the destination was removed" % name
    if dest_up:
        return "vm %s is running on the destination (the migration completed despite the error)" % name
    if src_dom is not None:
        try:
            Guest(src, src_dom).start()
            delete_volumes(created)
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
    s_up, d_up = is_active(s), is_active(d)
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

# The tuning options of vm_migrate (and host_maintenance's ``migration`` setting): one table for
# the module's argument spec and for every caller that builds the parameters itself.
TUNING_SPEC = dict(
    bandwidth=dict(type="int", default=0, min=0, max=1048576),
    max_downtime=dict(type="int", default=500, min=1, max=60000),
    downtime_steps=dict(type="int", default=10, min=1, max=100),
    downtime_delay=dict(type="float", default=75.0, min=0, max=3600),
    auto_converge=dict(type="bool", default=False),
    postcopy=dict(type="bool", default=False),
    postcopy_after=dict(type="float", default=0.0, min=0),
    postcopy_on_stall=dict(type="bool", default=True),
    stall_timeout=dict(type="float", default=30.0, min=0),
    abort_on_stall=dict(type="bool", default=False),
    completion_timeout=dict(type="float", default=0.0, min=0),
    timeout_action=dict(type="str", choices=["abort", "postcopy"], default="abort"),
    compression=dict(type="bool", default=False),
    parallel_connections=dict(type="int", default=0, min=0, max=255),
)

# How much a host may take, for the capacity checks of every module that places VMs.
HOST_LIMITS_SPEC = dict(
    cpu_allocation_ratio=dict(type="float", default=4.0, min=0.1, max=64),
    reserved_host_memory=dict(type="int", default=256, min=0),
)


def tuning_argument_spec():
    """The tuning options' argument spec (a copy the caller may change)."""
    return {key: dict(spec) for key, spec in TUNING_SPEC.items()}


def tuning_defaults():
    return {key: spec["default"] for key, spec in TUNING_SPEC.items()}


def tuning_group_spec():
    """The ``migration`` option of modules that migrate many VMs: the tuning options nested."""
    return dict(type="dict", default={}, options=tuning_argument_spec())


def migration_diff(result):
    """Diff-mode view of a (planned) migration result: where the VM runs before and after (pure)."""
    return {
        "before": {"vm": result["vm"], "host": result.get("source_host"), "uri": result.get("source")},
        "after": {"vm": result["vm"], "host": result.get("host"), "uri": result.get("destination")},
    }


def tuning_from_params(params):
    from ansible_collections.hotiron.virt.plugins.module_utils.migration.tuning import Tuning, TuningError

    try:
        return Tuning(
            bandwidth_mib_s=params["bandwidth"],
            max_downtime_ms=params["max_downtime"],
            downtime_steps=params["downtime_steps"],
            downtime_delay_s_per_gib=params["downtime_delay"],
            auto_converge=params["auto_converge"],
            postcopy=params["postcopy"],
            postcopy_after_s=params["postcopy_after"],
            postcopy_on_stall=params["postcopy_on_stall"],
            stall_timeout_s=params["stall_timeout"],
            abort_on_stall=params["abort_on_stall"],
            completion_timeout_s=params["completion_timeout"],
            timeout_action=params["timeout_action"],
            compression=params["compression"],
            parallel_connections=params["parallel_connections"],
        ).validate()
    except TuningError as err:
        raise lc.VirtError("Invalid migration settings: %s" % err) from err


def resolve_dest(params):
    """The destination URI from ``dest_uri``, or ``dest`` looked up in ``hosts``."""
    if params.get("dest_uri"):
        return params["dest_uri"]
    hosts = params.get("hosts") or {}
    dest = params.get("dest")
    if dest not in hosts:
        raise lc.VirtError("Unknown destination host %s: known hosts are %s" % (dest, ", ".join(sorted(hosts)) or "none"))
    return hosts[dest]


def normalise_address(address):
    if not address:
        return None
    return address if "://" in address else "tcp://" + address


def run_vm_migrate(params, check_mode):
    tuning = tuning_from_params(params)
    name = params["name"]
    dest_uri = resolve_dest(params)
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
                "running": is_active(dom), "msg": "vm %s is already on %s" % (name, dest_uri)}
    if where is None:
        raise lc.VirtError("vm %s exists neither on %s nor on %s" % (name, src_uri, dest_uri))
    pre = Preflight(src, dest, name, params["live"], params["copy_storage"],
                    params["cpu_allocation_ratio"], params["reserved_host_memory"], check_mode=check_mode).run()
    if check_mode:
        flags, names = migration_flags(params["live"], is_active(pre.dom),
                                       any(d.mode == "copy" for d in pre.disks), tuning)
        return {"changed": True, "vm": name, "source": src_uri, "source_host": pre.src_name,
                "destination": dest_uri, "host": pre.dest_name,
                "disks": [d.as_dict() for d in pre.disks], "settings": dict(tuning.as_dict(), flags=names),
                "msg": "vm %s would move to %s" % (name, dest_uri)}
    return migrate(src, dest, dest_uri, name, tuning, live=params["live"],
                   migration_address=normalise_address(params["migration_address"]),
                   copy_storage=params["copy_storage"], preflight=pre)
