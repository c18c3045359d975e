# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rebalance planner: which running VMs to move so that a group's hosts share its load.

Pure decisions, no libvirt, no Ansible.  :func:`plan_rebalance` takes the
group's hosts (:class:`Host`), their VMs (:class:`Vm`) and a :class:`Policy`,
and returns a :class:`RebalancePlan`: ordered moves, each with its reason in
words, the host loads and the group's imbalance before and after, and what
was not done and why.

Triggers: a host whose CPU load stayed above ``cpu_high`` for the whole
``window_s`` (:func:`load.sustained_above` on its history; a host given no
history is judged on its current load), or a group imbalance (population
standard deviation of the hosts' normalised loads, hosts in maintenance left
out) above ``max_imbalance``.  First every hot host is brought under
``cpu_high``, hottest first; then, while the imbalance is above
``max_imbalance``, the most loaded hosts give VMs to the least loaded.

Rules every plan obeys (the property tests check them on random groups):

* a destination never receives more memory or vCPUs than it has free (memory
  less ``reserved_memory_mib``, vCPUs times ``cpu_allocation_ratio``, as
  :func:`migrate_ops.host_capacity` counts them), never ends above
  ``cpu_high``, and is never in maintenance; hosts in maintenance give nothing;
* a pinned VM, a VM moved less than ``cooldown_s`` ago and a VM without a CPU
  measure never move, and no VM moves twice in one plan;
* an affinity group (VMs that must share a host) moves whole or not at all;
  two VMs of one anti-affinity group never end on one host;
* every move lowers the imbalance by at least ``min_gain`` (so the plan never
  raises it); at most ``max_moves`` VMs move;
* the same input gives the same plan: ties are broken by name.

Among the possible moves from a source host the planner takes the one with
the largest imbalance gain divided by the unit's SLA weight, so that bronze
VMs move before gold ones unless moving gold gains several times more.
Only the few least loaded hosts that can take a VM (among the 100 least
loaded) are tried as its destination; loads, capacities and the imbalance
are updated incrementally.

``min_gain`` is in the imbalance's own unit.  One VM's move changes the
imbalance of a group of n hosts by roughly 1/n of what it changes between
its two hosts: a group of hundreds of hosts needs a much smaller ``min_gain``
than the default (made for groups of a few to a few dozen hosts).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from itertools import islice

from ansible_collections.hotiron.virt.plugins.module_utils.capacity import storage
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.load import pstdev, sustained_above
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import sla as sla_vocab
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.placement import HostCapacity, VmDemand, fits

DEFAULT_SLA_WEIGHTS = dict(sla_vocab.DEFAULT_WEIGHTS)
# Fitting destinations tried per VM (least loaded first): enough to find a
# host whose size makes the move gain more, few enough to plan 1,000 hosts fast.
DESTINATIONS_TRIED = 3
# Hosts looked at per VM, least loaded first, when looking for those: a full
# group of 1,000 hosts must not cost 1,000 checks per VM.
DESTINATIONS_SCANNED = 100
# How many hosts' refusals are spelled out in "no host can take it".
REFUSALS_LISTED = 5
_EPSILON = 1e-12


class PlanError(ValueError):
    """Input from which no plan can be made (unknown host, bad policy value, ...)."""


@dataclass(frozen=True)
class Host:
    """A host of the group.

    ``load`` is its current CPU load over its CPUs (0..1); leave it out to use
    the sum of its VMs' ``cpu`` (what the lab must do).  A given load above
    that sum counts the rest as load that stays on the host.  ``history`` is
    ``((timestamp, load), ...)`` for the sustained test.  ``pools`` are its storage pools
    (:class:`storage.Pool`), None when not known (then storage does not limit moves to it).
    """

    name: str
    cpus: int
    memory_mib: int
    load: float | None = None
    history: tuple = ()
    in_maintenance: bool = False
    pools: tuple | None = None


@dataclass(frozen=True)
class Vm:
    """A running VM: ``cpu`` is its CPU use in CPUs (``None``: no measure this time, it stays).

    ``affinity`` and ``anti_affinity`` name the groups it belongs to; VMs
    sharing an affinity group name must share a host, VMs sharing an
    anti-affinity group name must not.  ``disks`` (:class:`storage.Disk`) decide which hosts
    its storage can follow it to (:func:`storage.route`); None: not known, storage does not limit it.
    """

    name: str
    host: str
    vcpus: int
    cpu: float | None
    memory_mib: int
    sla: str = "silver"
    pinned: bool = False
    last_moved: float | None = None
    affinity: tuple = ()
    anti_affinity: tuple = ()
    disks: tuple | None = None


@dataclass(frozen=True)
class Policy:
    """When to rebalance and what a plan may do (see the module doc)."""

    cpu_high: float = 0.80
    window_s: float = 300.0
    max_imbalance: float = 0.10
    max_moves: int = 10
    min_gain: float = 0.002
    cooldown_s: float = 1800.0
    cpu_allocation_ratio: float = 4.0
    reserved_memory_mib: int = 256
    sla_weights: dict = field(default_factory=lambda: dict(DEFAULT_SLA_WEIGHTS))
    max_gap_s: float | None = None
    copy_storage: bool = False


@dataclass(frozen=True)
class Move:
    """Move ``vm`` from ``source`` to ``dest``; ``unit`` lists the VMs moved together with it."""

    vm: str
    source: str
    dest: str
    reason: str
    unit: tuple
    cpu: float
    memory_mib: int
    storage: str = ""


@dataclass
class RebalancePlan:
    """What :func:`plan_rebalance` decided.

    ``skipped`` maps a VM name to why it was not moved (only VMs the planner
    looked at); ``notes`` are the triggers and why planning stopped.
    """

    moves: list = field(default_factory=list)
    skipped: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    triggers: list = field(default_factory=list)
    loads_before: dict = field(default_factory=dict)
    loads_after: dict = field(default_factory=dict)
    imbalance_before: float = 0.0
    imbalance_after: float = 0.0

    def as_dict(self):
        return {
            "moves": [{"vm": m.vm, "from": m.source, "to": m.dest, "reason": m.reason, "unit": list(m.unit),
                       "cpu": m.cpu, "memory_mib": m.memory_mib, "storage": m.storage} for m in self.moves],
            "skipped": dict(self.skipped),
            "notes": list(self.notes),
            "triggers": list(self.triggers),
            "loads_before": dict(self.loads_before),
            "loads_after": dict(self.loads_after),
            "imbalance_before": self.imbalance_before,
            "imbalance_after": self.imbalance_after,
        }


# --- words -----------------------------------------------------------------------------------

def pct(load):
    return "%.0f %%" % (100.0 * load)


def duration(seconds):
    if seconds < 120:
        return "%d s" % round(seconds)
    if seconds < 7200:
        return "%d min" % round(seconds / 60.0)
    return "%.1f h" % (seconds / 3600.0)


def arrow(before, after):
    """``0.21 -> 0.07`` with enough digits that the two differ (up to 5)."""
    for digits in (2, 3, 4, 5):
        if round(before, digits) != round(after, digits):
            break
    return "%.*f -> %.*f" % (digits, before, digits, after)


# --- validation ------------------------------------------------------------------------------

def _check(ok, message):
    if not ok:
        raise PlanError(message)


def validate_policy(policy):
    """Raise :class:`PlanError` naming the first policy value out of range."""
    p = policy
    _check(0 < p.cpu_high <= 1, "cpu_high must be in (0, 1], got %r" % (p.cpu_high,))
    _check(p.window_s >= 0, "window_s must be at least 0, got %r" % (p.window_s,))
    _check(p.max_imbalance >= 0, "max_imbalance must be at least 0, got %r" % (p.max_imbalance,))
    _check(isinstance(p.max_moves, int) and p.max_moves >= 0, "max_moves must be an integer >= 0, got %r" % (p.max_moves,))
    _check(p.min_gain >= 0, "min_gain must be at least 0, got %r" % (p.min_gain,))
    _check(p.cooldown_s >= 0, "cooldown_s must be at least 0, got %r" % (p.cooldown_s,))
    _check(p.cpu_allocation_ratio > 0, "cpu_allocation_ratio must be greater than 0, got %r" % (p.cpu_allocation_ratio,))
    _check(p.reserved_memory_mib >= 0, "reserved_memory_mib must be at least 0, got %r" % (p.reserved_memory_mib,))
    _check(p.max_gap_s is None or p.max_gap_s > 0, "max_gap_s must be greater than 0, got %r" % (p.max_gap_s,))
    _check(bool(p.sla_weights), "sla_weights must name at least one class")
    for name in sorted(p.sla_weights):
        weight = p.sla_weights[name]
        _check(isinstance(weight, (int, float)) and weight > 0, "sla_weights.%s must be greater than 0, got %r" % (name, weight))


def _validate(hosts, vms, policy):
    validate_policy(policy)
    names = [h.name for h in hosts]
    _check(len(set(names)) == len(names), "host names must be unique")
    for h in hosts:
        _check(h.cpus > 0 and h.memory_mib > 0, "host %s: cpus and memory_mib must be positive" % h.name)
        _check(h.load is None or h.load >= 0, "host %s: load must be at least 0, got %r" % (h.name, h.load))
    known = set(names)
    seen = set()
    for vm in vms:  # messages are made only on failure: this loop sees every VM of the group
        if vm.name in seen:
            raise PlanError("VM names must be unique: %s twice" % vm.name)
        seen.add(vm.name)
        if vm.host not in known:
            raise PlanError("VM %s runs on %s, which is not a host of the group" % (vm.name, vm.host))
        if vm.vcpus < 0 or vm.memory_mib < 0:
            raise PlanError("VM %s: vcpus and memory_mib must be at least 0" % vm.name)
        if vm.cpu is not None and vm.cpu < 0:
            raise PlanError("VM %s: cpu must be at least 0, got %r" % (vm.name, vm.cpu))
        if vm.sla not in policy.sla_weights:
            raise PlanError("VM %s: unknown SLA class %r (known: %s)" % (vm.name, vm.sla, ", ".join(sorted(policy.sla_weights))))


# --- the state the planner works on ----------------------------------------------------------

class _Unit:
    """VMs that move together: one VM, or a whole affinity group on one host."""

    __slots__ = ("label", "vms", "host", "cpu", "memory", "vcpus", "weight", "sla", "anti", "blocked", "moved", "group")

    def __init__(self, vms, host, policy, group=None):
        self.host = host
        self.blocked = None
        self.moved = False
        self.group = group
        if len(vms) == 1:  # the common case, kept cheap: a group has tens of thousands of VMs
            vm = vms[0]
            self.vms, self.label = (vm,), vm.name
            self.cpu, self.memory, self.vcpus = vm.cpu or 0.0, vm.memory_mib, vm.vcpus
            self.sla, self.weight = vm.sla, policy.sla_weights[vm.sla]
            self.anti = tuple(sorted(vm.anti_affinity)) if vm.anti_affinity else ()
            return
        self.vms = tuple(sorted(vms, key=lambda v: v.name))
        self.label = "+".join(v.name for v in self.vms)
        self.cpu = math.fsum(v.cpu or 0.0 for v in self.vms)
        self.memory = sum(v.memory_mib for v in self.vms)
        self.vcpus = sum(v.vcpus for v in self.vms)
        top = max(self.vms, key=lambda v: (policy.sla_weights[v.sla], v.sla))
        self.weight, self.sla = policy.sla_weights[top.sla], top.sla
        self.anti = tuple(sorted({g for v in self.vms for g in v.anti_affinity}))

    def words(self):
        if self.group is None:
            return "%s (%s, %.2f CPUs)" % (self.label, self.sla, self.cpu)
        return "affinity group %s (%s; %s, %.2f CPUs)" % (self.group, ", ".join(v.name for v in self.vms), self.sla, self.cpu)


def _affinity_components(vms):
    """``[(affinity group names, [VMs])]``: VMs joined by shared affinity group names (union-find).

    A VM in no affinity group is a component of its own.  ``vms`` come sorted
    by name, and so do the components and their members.
    """
    parent = {}

    def root(name):
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    first = {}
    for vm in vms:
        if not vm.affinity:
            continue
        parent.setdefault(vm.name, vm.name)
        for group in sorted(vm.affinity):
            if group not in first:
                first[group] = vm.name
                continue
            a, b = root(first[group]), root(vm.name)
            if a != b:
                parent[max(a, b)] = min(a, b)
    members = {}
    for vm in vms:
        members.setdefault(root(vm.name) if vm.affinity else vm.name, []).append(vm)
    return [(sorted({g for v in group for g in v.affinity}) if group[0].affinity else [], group)
            for _root, group in sorted(members.items())]


class _State:
    """Loads, capacities and anti-affinity counts of the hosts, updated move by move."""

    def __init__(self, hosts, vms, policy, now):
        self.policy = policy
        self.now = now
        hosts = sorted(hosts, key=lambda h: h.name)
        self.names = [h.name for h in hosts]
        self.index = {h.name: i for i, h in enumerate(hosts)}
        self.hosts = hosts
        self.cpus = [float(h.cpus) for h in hosts]
        self.active = [not h.in_maintenance for h in hosts]
        on_host = [[] for _h in hosts]
        for vm in vms:
            on_host[self.index[vm.host]].append(vm)
        self.used = []
        self.free_mem = []
        self.free_vcpus = []
        self.anti = [dict() for _h in hosts]
        self.anti_members = {}
        for i, h in enumerate(hosts):
            vm_cpu = math.fsum(v.cpu for v in on_host[i] if v.cpu is not None)
            other = max(0.0, h.load * h.cpus - vm_cpu) if h.load is not None else 0.0
            self.used.append(vm_cpu + other)
            self.free_mem.append(h.memory_mib - policy.reserved_memory_mib - sum(v.memory_mib for v in on_host[i]))
            self.free_vcpus.append(int(h.cpus * policy.cpu_allocation_ratio) - sum(v.vcpus for v in on_host[i]))
            for vm in on_host[i]:
                for group in vm.anti_affinity:
                    self.anti[i][group] = self.anti[i].get(group, 0) + 1
                    self.anti_members.setdefault(group, set()).add(vm.name)
        self.load = [u / c for u, c in zip(self.used, self.cpus)]
        self.routes = {}  # (unit label, host index) -> (ok, words): storage.route, asked once
        self.units = []
        self.units_on = [[] for _h in hosts]
        self._make_units(vms, policy, now)
        self.order = sorted((self.load[i], self.names[i], i) for i in range(len(hosts)) if self.active[i])
        self.n = len(self.order)
        self.resum()

    def _make_units(self, vms, policy, now):
        for groups, members in _affinity_components(sorted(vms, key=lambda v: v.name)):
            if len(members) > 1:
                _check_contradiction(members)
            places = sorted({v.host for v in members})
            if len(places) == 1:
                units = [_Unit(members, self.index[places[0]], policy, "/".join(groups) if len(members) > 1 else None)]
            else:
                units = [_Unit([v], self.index[v.host], policy) for v in members]
                for unit in units:
                    unit.blocked = "affinity group %s is split across %s: its VMs are not moved" % ("/".join(groups), ", ".join(places))
            for unit in units:
                unit.blocked = unit.blocked or _blocked(unit, policy, now)
                self.units.append(unit)
                self.units_on[unit.host].append(unit)

    def resum(self):
        loads = [self.load[i] for _l, _n, i in self.order]
        self.s1 = math.fsum(loads)
        self.s2 = math.fsum(x * x for x in loads)

    def imbalance(self):
        if self.n < 2:
            return 0.0
        mean = self.s1 / self.n
        return math.sqrt(max(self.s2 / self.n - mean * mean, 0.0))

    def mean(self):
        return self.s1 / self.n if self.n else 0.0

    def imbalance_if(self, s, d, cpu):
        """The imbalance after moving ``cpu`` CPUs from host ``s`` to host ``d``."""
        ls, ld = self.load[s], self.load[d]
        ls2, ld2 = (self.used[s] - cpu) / self.cpus[s], (self.used[d] + cpu) / self.cpus[d]
        s1 = self.s1 - ls - ld + ls2 + ld2
        s2 = self.s2 - ls * ls - ld * ld + ls2 * ls2 + ld2 * ld2
        mean = s1 / self.n
        return math.sqrt(max(s2 / self.n - mean * mean, 0.0))

    def route(self, unit, d):
        """``(ok, words)``: whether the storage of every VM of ``unit`` can follow it to host ``d``
        (:func:`storage.route`), and how or why not; ``(True, "")`` where disks or pools are not known."""
        key = (unit.label, d)
        known = self.routes.get(key)
        if known is not None:
            return known
        dest = self.hosts[d]
        results = []
        for vm in unit.vms:
            source = self.hosts[self.index[vm.host]]
            if vm.disks is None or dest.pools is None or source.pools is None:
                continue
            ok, why = storage.route(vm.disks, source.pools, dest.pools, dest.name, self.policy.copy_storage)
            results.append((ok, why if len(unit.vms) == 1 else "%s: %s" % (vm.name, why)))
        if not results:
            known = (True, "")
        elif all(ok for ok, _why in results):
            copies = [why for _ok, why in results if not why.endswith("shared storage")]
            known = (True, "; ".join(copies) or "shared storage")
        else:
            known = (False, "; ".join(why for ok, why in results if not ok))
        self.routes[key] = known
        return known

    def fits_fast(self, unit, d):
        """Whether ``unit`` may go to ``d`` (another active host): capacity, anti-affinity, ``cpu_high``.

        The same test as :meth:`why_not`, which words it (the tests check that
        both agree), without building anything: the planner calls it often.
        """
        if unit.memory > self.free_mem[d] or unit.vcpus > self.free_vcpus[d]:
            return False
        anti = self.anti[d]
        for group in unit.anti:
            if anti.get(group):
                return False
        if (self.used[d] + unit.cpu) / self.cpus[d] > self.policy.cpu_high + _EPSILON:
            return False
        return self.route(unit, d)[0]

    def capacity(self, d):
        """``d`` as placement's :class:`HostCapacity` (for the reasons, in host_maintenance's words)."""
        return HostCapacity(self.names[d], self.free_mem[d], self.free_vcpus[d], not self.active[d],
                            frozenset(v.name for u in self.units_on[d] for v in u.vms))

    def why_not(self, unit, d, capacities=None):
        """Why ``unit`` cannot go to host ``d``, or None; ``capacities`` caches :meth:`capacity` while nothing moves."""
        members = {v.name for v in unit.vms}
        groups = [frozenset((self.anti_members[g] - members) | {unit.label}) for g in unit.anti]
        if capacities is None:
            capacity = self.capacity(d)
        elif d in capacities:
            capacity = capacities[d]
        else:
            capacity = capacities[d] = self.capacity(d)
        refusal = fits(VmDemand(unit.label, unit.memory, unit.vcpus), capacity, groups, self.names[unit.host])
        if refusal:
            return refusal
        after = (self.used[d] + unit.cpu) / self.cpus[d]
        if after > self.policy.cpu_high + _EPSILON:
            return "%s would be at %s (above %s)" % (self.names[d], pct(after), pct(self.policy.cpu_high))
        ok, why = self.route(unit, d)
        if not ok:
            return "its storage cannot follow it to %s: %s" % (self.names[d], why)
        return None

    def apply(self, unit, d):
        s = unit.host
        for i, delta in ((s, -unit.cpu), (d, unit.cpu)):
            old = self.load[i]
            del self.order[bisect.bisect_left(self.order, (old, self.names[i], i))]
            self.used[i] += delta
            new = self.load[i] = self.used[i] / self.cpus[i]
            bisect.insort(self.order, (new, self.names[i], i))
            self.s1 += new - old
            self.s2 += new * new - old * old
        self.free_mem[s] += unit.memory
        self.free_mem[d] -= unit.memory
        self.free_vcpus[s] += unit.vcpus
        self.free_vcpus[d] -= unit.vcpus
        for group in unit.anti:
            self.anti[s][group] -= 1
            self.anti[d][group] = self.anti[d].get(group, 0) + 1
        self.units_on[s].remove(unit)
        self.units_on[d].append(unit)
        unit.host = d
        unit.moved = True

    def loads(self):
        return {self.names[i]: self.load[i] for i in range(len(self.names))}


def _check_contradiction(members):
    """Refuse VMs that must share a host (one affinity component) and must not (one anti-affinity group)."""
    seen = {}
    for vm in members:
        for group in sorted(vm.anti_affinity):
            if group in seen:
                raise PlanError("VMs %s and %s must share a host (affinity) and must not (anti-affinity group %s)"
                                % (seen[group], vm.name, group))
            seen[group] = vm.name


def _blocked(unit, policy, now):
    """Why a unit may not move at all, or None."""
    together = " (its affinity group stays together)" if len(unit.vms) > 1 else ""
    for vm in unit.vms:
        if vm.pinned:
            return "%s is pinned%s" % (vm.name, together)
    for vm in unit.vms:
        if vm.last_moved is not None and now - vm.last_moved < policy.cooldown_s:
            return "%s moved %s ago, cooldown %s%s" % (vm.name, duration(max(now - vm.last_moved, 0.0)), duration(policy.cooldown_s), together)
    for vm in unit.vms:
        if vm.cpu is None:
            return "no CPU measure for %s this time (migrated or restarted since the last sample)%s" % (vm.name, together)
    return None


# --- choosing moves --------------------------------------------------------------------------

def _best_move(state, s):
    """``(key, gain, unit, dest)`` of the best move off host ``s`` that gains ``min_gain``, or None.

    For each movable unit of ``s``, the first ``DESTINATIONS_TRIED`` hosts that
    can take it among the ``DESTINATIONS_SCANNED`` least loaded, all less
    loaded than ``s``, are weighed.
    The imbalance arithmetic of :meth:`_State.imbalance_if` is written out
    here: this loop is where a 1,000-host plan spends its time.
    """
    floor = max(state.policy.min_gain, _EPSILON)
    used, cpus, n, fits_fast = state.used, state.cpus, state.n, state.fits_fast
    load_s, used_s, cpus_s = state.load[s], used[s], cpus[s]
    before = state.imbalance()
    best = None
    for unit in state.units_on[s]:
        if unit.blocked or unit.moved:
            continue
        cpu = unit.cpu
        ls2 = (used_s - cpu) / cpus_s
        base1 = state.s1 - load_s + ls2
        base2 = state.s2 - load_s * load_s + ls2 * ls2
        tried = 0
        for load_d, name, d in islice(state.order, DESTINATIONS_SCANNED):
            if load_d >= load_s:
                break
            if not fits_fast(unit, d):
                continue
            ld2 = (used[d] + cpu) / cpus[d]
            mean = (base1 - load_d + ld2) / n
            gain = before - math.sqrt(max((base2 - load_d * load_d + ld2 * ld2) / n - mean * mean, 0.0))
            if gain >= floor:
                key = (-gain / unit.weight, unit.label, name)
                if best is None or key < best[0]:
                    best = (key, gain, unit, d)
            tried += 1
            if tried >= DESTINATIONS_TRIED:
                break
    return best


def _why_stuck(state, unit, others, capacities):
    """Why ``unit`` cannot move anywhere useful, in words.

    The hosts are looked at as :func:`_best_move` does (least loaded first, at
    most ``DESTINATIONS_SCANNED``, hosts in maintenance last); the first
    ``REFUSALS_LISTED`` refusals are worded and the rest counted.  ``others``
    are the hosts in that order, ``capacities`` a cache for :meth:`_State.why_not`.
    """
    s = unit.host
    before = state.imbalance()
    if not others:
        return "no other host in the group"
    refusals = []
    for d in others[:DESTINATIONS_SCANNED]:
        if state.active[d] and state.fits_fast(unit, d):
            after = state.imbalance_if(s, d, unit.cpu)
            return "gain too small: to %s the imbalance would go %s (min_gain %g)" % (state.names[d], arrow(before, after), state.policy.min_gain)
        if len(refusals) < REFUSALS_LISTED:
            refusals.append(state.why_not(unit, d, capacities))
    scanned = min(len(others), DESTINATIONS_SCANNED)
    more = "; and %d more hosts" % (scanned - len(refusals)) if scanned > len(refusals) else ""
    if scanned < len(others):
        return "none of the %d least loaded hosts can take it: %s%s" % (scanned, "; ".join(refusals), more)
    return "no host can take it: %s%s" % ("; ".join(refusals), more)


def _record_stuck(state, s, plan):
    others = [d for _load, _name, d in state.order if d != s] + [d for d in range(len(state.names)) if not state.active[d]]
    capacities = {}
    for unit in state.units_on[s]:
        if unit.moved:
            continue
        why = unit.blocked or _why_stuck(state, unit, others, capacities)
        for vm in unit.vms:
            plan.skipped[vm.name] = why


def _hot_hosts(state, hosts, policy, now):
    """``{host index: words after its load}`` for hosts above ``cpu_high`` for the window (or now, without history)."""
    hot = {}
    for i, h in enumerate(hosts):
        if not state.active[i]:
            continue
        if h.history:
            verdict = sustained_above(h.history, policy.cpu_high, policy.window_s, now, policy.max_gap_s)
            if verdict.holds:
                hot[i] = "for %s > %s" % (duration(now - verdict.since), pct(policy.cpu_high))
        elif state.load[i] > policy.cpu_high:
            hot[i] = "> %s (no history: current load)" % pct(policy.cpu_high)
    return hot


def _next_source(state, hot, stuck, policy):
    """``(host index, phase)``: the hottest hot host still above ``cpu_high``, else the most loaded host."""
    hottest = None
    for i in hot:
        if i not in stuck and state.load[i] > policy.cpu_high + _EPSILON:
            if hottest is None or (state.load[i], state.names[i]) > (state.load[hottest], state.names[hottest]):
                hottest = i
    if hottest is not None:
        return hottest, "hot"
    if state.imbalance() <= policy.max_imbalance:
        return None, "balanced"
    mean = state.mean()
    for load, _name, i in reversed(state.order):
        if load <= mean:
            break
        if i not in stuck:
            return i, "imbalance"
    return None, "no source"


def _move_reason(state, phase, hot_words, unit, s, d, before, after):
    names, policy = state.names, state.policy
    if phase == "hot":
        why = "%s at %s %s" % (names[s], pct(state.load[s]), hot_words)
    else:
        why = "imbalance %.2f > %.2f; %s at %s, %s at %s" % (before, policy.max_imbalance, names[s], pct(state.load[s]), names[d], pct(state.load[d]))
    load_s = (state.used[s] - unit.cpu) / state.cpus[s]
    load_d = (state.used[d] + unit.cpu) / state.cpus[d]
    return "%s; moving %s; after the move %s %s, %s %s; imbalance %s" % (
        why, unit.words(), names[s], pct(load_s), names[d], pct(load_d), arrow(before, after))


def plan_rebalance(hosts, vms, policy=None, now=0.0):
    """Plan moves for a group of ``hosts`` running ``vms``; see the module doc. Returns a :class:`RebalancePlan`."""
    policy = policy or Policy()
    hosts, vms = list(hosts), list(vms)
    _validate(hosts, vms, policy)
    state = _State(hosts, vms, policy, now)
    hosts = state.hosts
    plan = RebalancePlan(loads_before=state.loads(), imbalance_before=pstdev(state.load[i] for i in range(len(hosts)) if state.active[i]))
    hot = _hot_hosts(state, hosts, policy, now)
    for i in sorted(hot, key=lambda i: state.names[i]):
        plan.triggers.append("%s at %s %s" % (state.names[i], pct(state.load[i]), hot[i]))
    if plan.imbalance_before > policy.max_imbalance:
        plan.triggers.append("imbalance %.2f > %.2f" % (plan.imbalance_before, policy.max_imbalance))
    if not plan.triggers:
        plan.notes.append("nothing to do: no host above %s for %s, imbalance %.2f <= %.2f"
                          % (pct(policy.cpu_high), duration(policy.window_s), plan.imbalance_before, policy.max_imbalance))
    else:
        _plan_moves(state, hot, plan)
    plan.loads_after = state.loads()
    plan.imbalance_after = pstdev(state.load[i] for i in range(len(hosts)) if state.active[i])
    return plan


def _plan_moves(state, hot, plan):
    policy = state.policy
    stuck = set()
    looked_at = set()
    moved = applied = 0
    while True:
        source, phase = _next_source(state, hot, stuck, policy)
        if source is None:
            _stop_note(state, hot, stuck, phase, plan)
            return
        if source not in looked_at:  # say once why the VMs that may not move stay
            looked_at.add(source)
            for unit in state.units_on[source]:
                for vm in unit.vms if unit.blocked else ():
                    plan.skipped[vm.name] = unit.blocked
        best = _best_move(state, source)
        if best is None:
            stuck.add(source)
            _record_stuck(state, source, plan)
            continue
        _key, _gain, unit, dest = best
        if moved + len(unit.vms) > policy.max_moves:
            for vm in unit.vms:
                plan.skipped[vm.name] = "max_moves (%d) reached: it would have gone from %s to %s" % (
                    policy.max_moves, state.names[source], state.names[dest])
            plan.notes.append("stopped: max_moves (%d) reached with %s at %s, imbalance %.2f"
                              % (policy.max_moves, state.names[source], pct(state.load[source]), state.imbalance()))
            return
        before = state.imbalance()
        after = state.imbalance_if(source, dest, unit.cpu)
        reason = _move_reason(state, phase, hot.get(source, ""), unit, source, dest, before, after)
        how = state.route(unit, dest)[1]
        if how and how != "shared storage":
            reason += "; %s" % how
        state.apply(unit, dest)
        for vm in unit.vms:
            plan.moves.append(Move(vm.name, state.names[source], state.names[dest], reason, tuple(v.name for v in unit.vms),
                                   vm.cpu, vm.memory_mib, how))
            plan.skipped.pop(vm.name, None)
        moved += len(unit.vms)
        applied += 1
        if applied % 256 == 0:  # bound the drift of the incremental sums
            state.resum()


def _stop_note(state, hot, stuck, phase, plan):
    policy = state.policy
    still = sorted(state.names[i] for i in hot if state.load[i] > policy.cpu_high + _EPSILON)
    if still:
        plan.notes.append("still above %s: %s (no move off them qualifies)" % (pct(policy.cpu_high), ", ".join(still)))
    if phase == "balanced":
        plan.notes.append("done: imbalance %.2f <= %.2f" % (state.imbalance(), policy.max_imbalance))
    else:
        plan.notes.append("stopped: imbalance %.2f > %.2f but no move off the %d most loaded hosts qualifies"
                          % (state.imbalance(), policy.max_imbalance, len(stuck)))
