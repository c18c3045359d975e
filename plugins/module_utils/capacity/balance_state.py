# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planner's working state: what may move together, where it may go, updated move by move.

Pure.  A :class:`Unit` is what moves (one VM, or a whole affinity group on one host:
:func:`affinity_components`); :func:`blocked_reason` says why one may not move at all (pinned,
cooldown, no measure).  :class:`GroupState` holds the hosts' loads, free capacity and
anti-affinity counts, and answers the placement rules for a unit and a host: :meth:`GroupState.fits_fast`
(often, cheaply) and :meth:`GroupState.why_not` (in words, with placement's ``fits``), both
including whether the unit's storage can follow it there (:func:`storage.route`, asked once per
unit and host).  :meth:`GroupState.apply` makes a move.
"""

from __future__ import annotations

import bisect
import math

from ansible_collections.hotiron.virt.plugins.module_utils.capacity import storage
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.balance_model import EPSILON, PlanError, duration, pct
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.placement import HostCapacity, VmDemand, fits, platform_refusal


class Unit:
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


def affinity_components(vms):
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


class GroupState:
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
        for groups, members in affinity_components(sorted(vms, key=lambda v: v.name)):
            if len(members) > 1:
                check_contradiction(members)
            places = sorted({v.host for v in members})
            if len(places) == 1:
                units = [Unit(members, self.index[places[0]], policy, "/".join(groups) if len(members) > 1 else None)]
            else:
                units = [Unit([v], self.index[v.host], policy) for v in members]
                for unit in units:
                    unit.blocked = "affinity group %s is split across %s: its VMs are not moved" % ("/".join(groups), ", ".join(places))
            for unit in units:
                unit.blocked = unit.blocked or blocked_reason(unit, policy, now)
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
        """``(ok, words)``: whether every VM of ``unit`` can run on host ``d`` (its QEMU has the VM's
        machine type and can run its CPU) and its storage follow it there (:func:`storage.route`), and how or why not;
        ``(True, "")`` where machine types, CPUs, disks or pools are not known."""
        key = (unit.label, d)
        known = self.routes.get(key)
        if known is not None:
            return known
        dest = self.hosts[d]
        results = []
        for vm in unit.vms:
            lacks = platform_refusal(dest.name, vm.name, vm.machine, vm.cpu_need, dest.machines, dest.cpu_offers)
            if lacks:   # a VM defined on a newer QEMU, or with a CPU the host cannot run
                results.append((False, lacks))
                continue
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
        if (self.used[d] + unit.cpu) / self.cpus[d] > self.policy.cpu_high + EPSILON:
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
        if after > self.policy.cpu_high + EPSILON:
            return "%s would be at %s (above %s)" % (self.names[d], pct(after), pct(self.policy.cpu_high))
        for vm in unit.vms:
            host = self.hosts[d]
            lacks = platform_refusal(self.names[d], vm.name, vm.machine, vm.cpu_need, host.machines, host.cpu_offers)
            if lacks:
                return lacks
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


def check_contradiction(members):
    """Refuse VMs that must share a host (one affinity component) and must not (one anti-affinity group)."""
    seen = {}
    for vm in members:
        for group in sorted(vm.anti_affinity):
            if group in seen:
                raise PlanError("VMs %s and %s must share a host (affinity) and must not (anti-affinity group %s)"
                                % (seen[group], vm.name, group))
            seen[group] = vm.name


def blocked_reason(unit, policy, now):
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
