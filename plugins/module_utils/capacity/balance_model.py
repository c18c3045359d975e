# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rebalance planner's vocabulary: the group it is given, the policy, the plan it returns.

Pure.  :class:`Host`, :class:`Vm` and :class:`Policy` are the planner's input (checked by
:func:`validate_policy` and :func:`validate`), :class:`Move` and :class:`RebalancePlan` its answer;
:func:`pct`, :func:`duration` and :func:`arrow` put loads and times in the words of its reasons.
The planner is :mod:`capacity.balance`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ansible_collections.hotiron.virt.plugins.module_utils import errors
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import sla as sla_vocab
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.cpu_compat import CpuNeed

DEFAULT_SLA_WEIGHTS = dict(sla_vocab.DEFAULT_WEIGHTS)
# Fitting destinations tried per VM (least loaded first): enough to find a
# host whose size makes the move gain more, few enough to plan 1,000 hosts fast.
DESTINATIONS_TRIED = 3
# Hosts looked at per VM, least loaded first, when looking for those: a full
# group of 1,000 hosts must not cost 1,000 checks per VM.
DESTINATIONS_SCANNED = 100
# How many hosts' refusals are spelled out in "no host can take it".
REFUSALS_LISTED = 5
EPSILON = 1e-12


class PlanError(errors.InputError):
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
    machines: frozenset | None = None     # machine types its QEMU offers; None: not known
    cpu_offers: dict | None = field(default=None, hash=False)  # {domain type: cpu_compat.HostCpu}; None: not known


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
    machine: str = ""                     # its machine type (pc-q35-10.0); "": not known
    cpu_need: CpuNeed | None = None       # what its CPU needs (cpu_compat); None: not known


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


def validate(hosts, vms, policy):
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
