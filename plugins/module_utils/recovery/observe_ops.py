# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a resource group for recovery: every host at once, each within a timeout.

Whether a host answers is decided by the connection and one cheap call within ``timeout``
seconds: a refused connection (libvirtd or the host down) or a hung libvirtd that accepts the TCP
connection and never answers makes it *unreachable*, and only that can lead to fencing.  Reading
its VMs comes after, with a timeout of its own (``read_timeout``): a read that fails or is slow
(a VM that vanished meanwhile, a slow disk lookup) leaves the host *reachable but not read*
(``degraded``): never fenced, nothing placed on it, nothing restarted on it, what is remembered of
its VMs kept.  Each host is read in a daemon thread of its own: a call blocked on a hung host is
abandoned, never waited for, and never holds up the others (:mod:`hosts.fanout_ops`).

For each host read in full: its VMs with state and reason, the collection's metadata (HA,
priority, restart limit and history), size, and whether every disk is on storage the other hosts
see; the definitions of its HA VMs; its capacity and maintenance mark.
"""

from __future__ import annotations

import functools
import os
import threading
import time

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.storage import disk_xml
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import fanout_ops as fanout
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import maintenance_state_ops as maintenance_state
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import capacity_ops
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import cpu_xml
from ansible_collections.hotiron.virt.plugins.module_utils.migration import disks_ops
from ansible_collections.hotiron.virt.plugins.module_utils.vm import policy as vm_policy
from ansible_collections.hotiron.virt.plugins.module_utils.recovery.plan import VmRecord
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import STATE_NAMES, state_reason

libvirt = lc.libvirt


class Observation:
    """What one host answered.

    ``settled`` (an event) is set once the connection is open and a first call answered (then
    ``conn`` is the connection) or once it was refused (then ``why`` says why).  ``read`` is set
    when the reading of its VMs ended: ``vms``, ``definitions`` and ``capacity`` are filled when it
    succeeded, else ``degraded`` says why.
    """

    def __init__(self, name, uri):
        self.name = name
        self.uri = uri
        self.conn = None
        self.why = None
        self.degraded = None
        self.vms = ()
        self.definitions = {}
        self.capacity = None
        self.in_maintenance = False
        self.settled = threading.Event()   # connected and answered, or refused
        self.read = threading.Event()

    @property
    def reachable(self):
        return self.conn is not None and self.why is None


def disk_storage(conn, xml, shared_paths):
    """``(shared, why)``: whether every disk of a definition is on storage other hosts see."""
    local = []
    for disk in disk_xml.disks(xml):
        if disk.source is None:
            continue
        if disk.kind == "network":
            continue
        if disk.kind == "volume":
            pool = lc.lookup_pool(conn, disk.source.split("/", 1)[0])
            if pool is None or disks_ops.pool_type(pool) not in disks_ops.SHARED_POOL_TYPES:
                local.append("%s in local pool %s" % (disk.target, disk.source.split("/", 1)[0]))
            continue
        path = os.path.normpath(disk.source)
        if any(path.startswith(os.path.normpath(p) + os.sep) for p in shared_paths):
            continue
        vol = disks_ops.vol_by_path(conn, disk.source)
        if vol is not None:
            with lc.attempt("find the pool of %s on %s" % (disk.source, lc.safe_uri(conn))):
                pool = vol.storagePoolLookupByVolume()
            if disks_ops.pool_type(pool) in disks_ops.SHARED_POOL_TYPES:
                continue
            local.append("%s (%s) in local pool %s" % (disk.target, disk.source, pool.name()))
        else:
            local.append("%s (%s) is on no shared pool nor under shared_paths" % (disk.target, disk.source))
    if local:
        return False, "local disk " + "; ".join(local)
    return True, "every disk is on shared storage"


def read_vm(conn, dom, host, shared_paths):
    """``(VmRecord, inactive XML)`` of one domain."""
    with lc.attempt("read vm %s on %s" % (dom.name(), host)):
        state, reason = dom.state()
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        uuid = dom.UUIDString()
    root = dx.parse(xml)
    meta = dx.read_metadata(root)
    ha = vm_policy.is_ha(meta)
    shared, why = disk_storage(conn, xml, shared_paths) if ha else (False, "not HA: not checked")
    record = VmRecord(
        name=dom.name(), host=host, uuid=uuid, state=STATE_NAMES.get(state, "unknown"),
        reason=state_reason(state, reason), ha=ha, priority=_priority(meta),
        restart_limit=vm_policy.restart_limit(meta), restarts=tuple(vm_policy.restarts(meta)),
        memory_mib=capacity_ops.memory_mib(xml), vcpus=capacity_ops.vcpu_count(xml), shared=shared, storage=why,
        machine=capacity_ops.machine_of(xml), cpu=cpu_xml.cpu_need(xml))
    return record, xml


def _priority(meta):
    try:
        return int(meta.get("ha_priority") or 0)
    except ValueError:
        return 0  # metadata edited by hand: the lowest priority rather than no recovery


def _read_host(obs, shared_paths, cpu_ratio, reserved_mib):
    try:
        conn = lc.connect(obs.uri)
        with lc.attempt("ask %s for its hostname" % obs.uri):
            conn.getHostname()
    except lc.VirtError as err:
        obs.why = err.message
        obs.settled.set()
        return
    obs.conn = conn
    obs.settled.set()
    try:
        records, definitions = [], {}
        with lc.attempt("list the vms of %s" % obs.uri):
            domains = conn.listAllDomains(0)
        for dom in domains:
            try:
                record, xml = read_vm(conn, dom, obs.name, shared_paths)
            except lc.VirtError as err:
                if err.code in lc.NOT_FOUND_CODES:
                    continue  # undefined since the listing
                raise
            records.append(record)
            if record.ha:
                definitions[record.name] = xml
        obs.in_maintenance = maintenance_state.in_maintenance(conn)
        obs.capacity = capacity_ops.host_capacity(conn, obs.name, cpu_ratio, reserved_mib, in_maintenance=obs.in_maintenance)
        obs.vms, obs.definitions = tuple(records), definitions
    except lc.VirtError as err:
        obs.degraded = err.message
    except (lc.libvirt.libvirtError, ValueError, TypeError) as err:  # a call outside attempt(), odd metadata
        obs.degraded = "%s: %s" % (type(err).__name__, err)
    finally:
        obs.read.set()


def answers(uri):
    """Whether a new connection to ``uri`` answers a cheap call (raises :class:`lc.VirtError` when
    it is refused; blocks on a hung libvirtd, so it runs in a fan-out thread)."""
    conn = lc.connect(uri)
    try:
        with lc.attempt("ask %s for its hostname" % uri):
            conn.getHostname()
    finally:
        try:
            conn.close()
        except libvirt.libvirtError:
            pass  # it answered: closing is all that was left to do with it
    return True


def observe(hosts, timeout, shared_paths=(), cpu_ratio=4.0, reserved_mib=256, read_timeout=60.0, clock=time.monotonic,
            probe=answers, timeouts=None):
    """Read every host of ``hosts`` (name -> URI) concurrently; name -> :class:`Observation`.

    A host that does not answer within ``timeout`` (or its own in ``timeouts``, name -> seconds:
    a host known to be lost need not hold the others' reading) is unreachable; one that answered but whose
    VMs are not read within ``read_timeout`` more is ``degraded``.  While a host's reading goes
    on, every ``timeout`` seconds ``probe`` (a new connection and a cheap call) asks whether it
    still answers: a host that stopped answering meanwhile (libvirtd hung or killed in the middle
    of the reading) is unreachable, as if it had not answered at all, rather than held for
    ``read_timeout`` as merely slow; one that answers the probe is only slow, and its reading
    goes on.
    """
    out = {name: Observation(name, uri) for name, uri in sorted(hosts.items())}
    fanout.start({name: functools.partial(_read_host, obs, shared_paths, cpu_ratio, reserved_mib)
                  for name, obs in out.items()}, prefix="observe")
    limits = {name: (timeouts or {}).get(name, timeout) for name in out}
    started = clock()
    for limit in sorted(set(limits.values())):
        late = fanout.wait_all({name: obs.settled for name, obs in out.items() if limits[name] == limit},
                               max(0.0, started + limit - clock()), clock)
        for name in late:
            # Abandoned: a hung libvirtd keeps this thread blocked until the process ends.
            out[name].why = "no answer within %gs (libvirtd hung, or the host unreachable)" % limit
    deadline = clock() + read_timeout
    reading = {name: obs for name, obs in out.items() if obs.reachable}
    while reading:
        left = deadline - clock()
        late = fanout.wait_all({name: obs.read for name, obs in reading.items()}, max(0.0, min(timeout, left)), clock)
        reading = {name: reading[name] for name in late}
        if not reading:
            break
        if deadline - clock() <= 0:
            for obs in reading.values():
                obs.degraded = "its vms were not read within %gs" % read_timeout
            break
        calls, silent = fanout.ask_all({name: functools.partial(probe, obs.uri) for name, obs in reading.items()},
                                       timeout, prefix="probe", clock=clock)
        for name, call in sorted(calls.items()):
            if name in silent or call.error is not None:
                reading.pop(name).why = ("stopped answering while its vms were read (a new connection: %s)"
                                         % (getattr(call.error, "message", call.error) if name not in silent
                                            else "no answer within %gs" % timeout))
    return out
