# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How loaded VMs and hosts are: pure arithmetic on libvirt's bulk statistics.

Nothing here talks to libvirt or Ansible.  The caller reads
``conn.getAllDomainStats()`` twice on a host and hands both readings in as
:class:`Sample` objects; :func:`vm_loads` turns them into one :class:`VmLoad`
per VM, :func:`host_load` sums a host's VMs into a :class:`HostLoad`, and
:func:`imbalance` measures a group of hosts the way vSphere DRS does (the
population standard deviation of the hosts' normalised CPU loads).

Rules the tests check:

* a rate needs the VM in both samples, run by the same QEMU process: when the
  domain id changed or any counter went down (the VM migrated or restarted,
  its counters restarted from zero), the VM gets no rate for this sample and
  ``no_rate`` says why; a rate is never negative nor larger than the VM can
  physically use;
* a host's CPU load is the sum of its VMs' CPU use (from their ``cpu.time``)
  divided by its CPUs.  In the lab every host reads the same machine's CPUs in
  ``getCPUStats``, so the guests' counters are the only per-host truth.

:func:`sustained_above` / :func:`sustained_below` say whether a host stayed
above (or below) a threshold for a whole window, from its load history.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import errors

import math
from dataclasses import dataclass, field

NS_PER_S = 1e9
KIB_PER_MIB = 1024
# cpu.time counts the emulator and I/O threads too, so a busy VM may use a
# little more than its vCPUs; a rate above vcpus + this many CPUs cannot be.
CPU_SLACK_CPUS = 1.0
# libvirt's virDomainState values that matter here.
STATE_NAMES = {0: "no state", 1: "running", 2: "blocked", 3: "paused", 4: "shutting down",
               5: "shut off", 6: "crashed", 7: "suspended by power management"}


class LoadError(errors.InputError):
    """Input that cannot be measured (e.g. two samples not in time order)."""


@dataclass(frozen=True)
class Sample:
    """One reading of ``conn.getAllDomainStats()`` on one host.

    ``at`` is when it was read, in seconds (any clock, the same for both
    samples); ``stats`` maps a VM name to the dict libvirt returned for it;
    ``ids`` maps a VM name to its domain id (``dom.ID()``), which changes when
    a new QEMU process runs the VM.  VMs missing from ``ids`` skip that check.
    """

    at: float
    stats: dict
    ids: dict = field(default_factory=dict)


@dataclass(frozen=True)
class VmLoad:
    """What one VM used between two samples.

    Rates (``cpu_percent`` in percent of one CPU, ``cpu_cpus`` in CPUs, and the
    ``*_bps`` in bytes per second) are ``None`` when ``no_rate`` says why none
    could be taken.  Memory is from the later sample: ``memory_mib`` assigned
    (``balloon.current``), ``memory_max_mib`` (``balloon.maximum``),
    ``memory_used_mib`` what the QEMU process holds on the host (``balloon.rss``).
    """

    name: str
    state: str
    vcpus: int
    memory_mib: float
    memory_max_mib: float
    memory_used_mib: float | None
    cpu_percent: float | None = None
    cpu_cpus: float | None = None
    disk_read_bps: float | None = None
    disk_write_bps: float | None = None
    net_rx_bps: float | None = None
    net_tx_bps: float | None = None
    no_rate: str | None = None

    def as_dict(self):
        return dict(self.__dict__)


@dataclass(frozen=True)
class HostLoad:
    """One host's load, normalised by its size.

    ``load`` is CPU used by the VMs with a rate, in CPUs, over the host's CPUs
    (1.0 = every CPU busy); ``memory_committed`` and ``memory_used`` are MiB
    assigned to / held by the VMs over the host's memory.  ``no_rate`` lists
    the VMs that had no rate this time (their CPU is not in ``load``).
    """

    name: str
    cpus: int
    memory_mib: int
    cpu_used: float
    load: float
    vcpus_committed: int
    memory_committed_mib: float
    memory_committed: float
    memory_used_mib: float
    memory_used: float
    vm_count: int
    no_rate: tuple = ()
    in_maintenance: bool = False

    def as_dict(self):
        return dict(self.__dict__, no_rate=list(self.no_rate))


@dataclass(frozen=True)
class Sustained:
    """Answer of :func:`sustained_above` / :func:`sustained_below`.

    ``holds`` is true when the whole window is covered by samples all on the
    asked side of the threshold; ``since`` is when the current run of such
    samples began (``None`` when the latest sample is not on that side), and
    ``latest`` the latest value.
    """

    holds: bool
    since: float | None
    latest: float | None
    reason: str


# --- one VM ----------------------------------------------------------------------------------

def _num(stats, key, default=None):
    value = stats.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return value


def _devices(stats, kind, counters):
    """``{device: {counter: value}}`` for ``block`` or ``net`` entries of one sample.

    Devices are keyed by name (``vda``, ``vnet0``) so that a hot-plug which
    renumbers them does not pair different devices; with the backing-chain
    flag a disk is listed once per chain element, and only the first (the
    image the guest writes) is counted.  A device without a name is keyed by
    its index.
    """
    devices = {}
    count = _num(stats, "%s.count" % kind, 0)
    for index in range(int(count)):
        prefix = "%s.%d." % (kind, index)
        key = stats.get(prefix + "name") or "#%d" % index
        if key in devices:
            continue
        devices[key] = {c: _num(stats, prefix + c) for c in counters}
    return devices


def _device_rates(before, after, kind, counters, dt):
    """Summed bytes/s per counter over devices present in both samples, or a reason."""
    old = _devices(before, kind, counters)
    new = _devices(after, kind, counters)
    totals = dict.fromkeys(counters, 0.0)
    for name in sorted(set(old) & set(new)):
        for counter in counters:
            a, b = old[name][counter], new[name][counter]
            if a is None or b is None:
                continue
            if b < a:
                return None, "%s %s of %s went down (%d -> %d)" % (kind, counter, name, a, b)
            totals[counter] += (b - a) / dt
    return totals, None


def _restart_reason(name, before, after, ids_before, ids_after):
    """Why the two samples of ``name`` are not from one run of its QEMU process, or None."""
    old_id, new_id = ids_before.get(name), ids_after.get(name)
    if old_id is not None and new_id is not None and old_id != new_id:
        return "domain id changed %s -> %s: a new QEMU process (migrated or restarted)" % (old_id, new_id)
    old_cpu, new_cpu = _num(before, "cpu.time"), _num(after, "cpu.time")
    if old_cpu is None or new_cpu is None:
        return "cpu.time missing from %s sample" % ("the earlier" if old_cpu is None else "the later")
    if new_cpu < old_cpu:
        return "cpu.time went down: counters restarted (migrated or restarted)"
    return None


def vm_load(name, before, after, dt, ids_before=None, ids_after=None):
    """:class:`VmLoad` of ``name`` from its two stats dicts (``before`` may be None)."""
    vcpus = int(_num(after, "vcpu.current", _num(after, "vcpu.maximum", 0)))
    state = STATE_NAMES.get(_num(after, "state.state"), "unknown")
    rss = _num(after, "balloon.rss")
    base = dict(name=name, state=state, vcpus=vcpus,
                memory_mib=_num(after, "balloon.current", 0) / KIB_PER_MIB,
                memory_max_mib=_num(after, "balloon.maximum", _num(after, "balloon.current", 0)) / KIB_PER_MIB,
                memory_used_mib=None if rss is None else rss / KIB_PER_MIB)
    if before is None:
        return VmLoad(no_rate="not in the earlier sample", **base)
    why = _restart_reason(name, before, after, ids_before or {}, ids_after or {})
    if why:
        return VmLoad(no_rate=why, **base)
    cpus = (_num(after, "cpu.time") - _num(before, "cpu.time")) / NS_PER_S / dt
    limit = max(vcpus, 1) + CPU_SLACK_CPUS
    if cpus > limit:
        return VmLoad(no_rate="cpu.time grew by %.1f CPUs with %d vCPUs: samples inconsistent" % (cpus, vcpus), **base)
    disk, why = _device_rates(before, after, "block", ("rd.bytes", "wr.bytes"), dt)
    if why:
        return VmLoad(no_rate=why + ": counters restarted", **base)
    net, why = _device_rates(before, after, "net", ("rx.bytes", "tx.bytes"), dt)
    if why:
        return VmLoad(no_rate=why + ": counters restarted", **base)
    return VmLoad(cpu_percent=100.0 * cpus, cpu_cpus=cpus,
                  disk_read_bps=disk["rd.bytes"], disk_write_bps=disk["wr.bytes"],
                  net_rx_bps=net["rx.bytes"], net_tx_bps=net["tx.bytes"], **base)


def vm_loads(before, after):
    """``{vm name: VmLoad}`` for every VM of the later :class:`Sample`.

    VMs only in the earlier sample (gone since) are not in the answer; VMs
    only in the later one have no rate.  Raises :class:`LoadError` when the
    later sample is not after the earlier one.
    """
    dt = after.at - before.at
    if not dt > 0:
        raise LoadError("the later sample (at %r) must be taken after the earlier one (at %r)" % (after.at, before.at))
    return {name: vm_load(name, before.stats.get(name), after.stats[name], dt, before.ids, after.ids)
            for name in sorted(after.stats)}


# --- one host --------------------------------------------------------------------------------

def host_load(name, cpus, memory_mib, vms, in_maintenance=False):
    """:class:`HostLoad` of a host of ``cpus`` CPUs and ``memory_mib`` MiB running ``vms`` (VmLoads)."""
    if cpus <= 0 or memory_mib <= 0:
        raise LoadError("host %s: cpus and memory_mib must be positive, got %r and %r" % (name, cpus, memory_mib))
    vms = list(vms)
    used = sum(v.cpu_cpus for v in vms if v.cpu_cpus is not None)
    committed = sum(v.memory_mib for v in vms)
    held = sum(v.memory_used_mib for v in vms if v.memory_used_mib is not None)
    return HostLoad(
        name=name, cpus=cpus, memory_mib=memory_mib, cpu_used=used, load=used / cpus,
        vcpus_committed=sum(v.vcpus for v in vms), memory_committed_mib=committed,
        memory_committed=committed / memory_mib, memory_used_mib=held, memory_used=held / memory_mib,
        vm_count=len(vms), no_rate=tuple(sorted(v.name for v in vms if v.cpu_cpus is None)),
        in_maintenance=in_maintenance,
    )


# --- a group ---------------------------------------------------------------------------------

def pstdev(values):
    """Population standard deviation (0.0 for fewer than two values)."""
    values = list(values)
    if len(values) < 2:
        return 0.0
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


def imbalance(hosts):
    """DRS imbalance of a group: pstdev of the ``load`` of its hosts not in maintenance."""
    return pstdev(h.load for h in hosts if not h.in_maintenance)


def group_load(hosts):
    """A summary of a group's :class:`HostLoad` objects, as a dict."""
    active = [h for h in hosts if not h.in_maintenance]
    loads = [h.load for h in active]
    return {
        "hosts": len(active),
        "in_maintenance": sorted(h.name for h in hosts if h.in_maintenance),
        "imbalance": pstdev(loads),
        "mean_load": math.fsum(loads) / len(loads) if loads else 0.0,
        "max_load": max(loads) if loads else 0.0,
        "hottest": max(active, key=lambda h: (h.load, h.name)).name if active else None,
    }


# --- sustained thresholds --------------------------------------------------------------------

def _sustained(samples, threshold, window_s, now, side, max_gap_s):
    if window_s < 0:
        raise LoadError("window_s must be at least 0, got %r" % (window_s,))
    ordered = sorted((t, v) for t, v in samples if t <= now)
    if not ordered:
        return Sustained(False, None, None, "no samples")
    on_side = (lambda v: v > threshold) if side == "above" else (lambda v: v < threshold)
    latest_t, latest = ordered[-1]
    if not on_side(latest):
        return Sustained(False, None, latest, "latest sample %g is not %s %g" % (latest, side, threshold))
    # Walk back over the run of samples on the asked side.  Each sample is the
    # mean over the interval since the one before it, so the run began at the
    # timestamp of the sample preceding it (or at its own first sample when the
    # history starts there or a gap makes the earlier interval unknown).
    first = len(ordered) - 1
    while first > 0 and on_side(ordered[first - 1][1]) and not _gap(ordered[first - 1][0], ordered[first][0], max_gap_s):
        first -= 1
    if first > 0 and not _gap(ordered[first - 1][0], ordered[first][0], max_gap_s):
        since = ordered[first - 1][0]
    else:
        since = ordered[first][0]
    if max_gap_s is not None and now - latest_t > max_gap_s:
        return Sustained(False, since, latest, "latest sample is %g s old (more than %g s)" % (now - latest_t, max_gap_s))
    if window_s > 0 and latest_t <= now - window_s:
        return Sustained(False, since, latest, "no sample within the last %g s" % window_s)
    if since > now - window_s:
        return Sustained(False, since, latest, "%s %g for %g s only, window %g s" % (side, threshold, now - since, window_s))
    return Sustained(True, since, latest, "%s %g for %g s (window %g s)" % (side, threshold, now - since, window_s))


def _gap(earlier, later, max_gap_s):
    return max_gap_s is not None and later - earlier > max_gap_s


def sustained_above(samples, threshold, window_s, now, max_gap_s=None):
    """Whether a host stayed above ``threshold`` for the whole window ending at ``now``.

    ``samples`` are ``(timestamp, value)`` pairs of one host, each the mean
    over the interval since the previous one (as :func:`vm_loads` rates are).
    True only when every sample from the window's start to ``now`` is above
    the threshold and the samples reach back to the window's start: the run
    of samples above must have begun at or before ``now - window_s``, and at
    least one sample must fall inside the window.  With
    ``max_gap_s``, two samples further apart (or a latest sample older than
    that) break the coverage.  Samples after ``now`` are ignored.
    Returns a :class:`Sustained`; its ``since`` is for the reason text.
    """
    return _sustained(samples, threshold, window_s, now, "above", max_gap_s)


def sustained_below(samples, threshold, window_s, now, max_gap_s=None):
    """Like :func:`sustained_above`, for staying below ``threshold`` (an alert clearing)."""
    return _sustained(samples, threshold, window_s, now, "below", max_gap_s)
