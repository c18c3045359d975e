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
  :func:`hosts.capacity_ops.host_capacity` counts them), never ends above
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

The planner by question: :mod:`capacity.balance_model` (the input, the plan, the words),
:mod:`capacity.balance_state` (units, the placement rules and storage routing, the state updated
move by move), :mod:`capacity.balance_moves` (triggers and the choice of each move), and this
file, the loop that ties them.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils.capacity.balance_model import (
    DEFAULT_SLA_WEIGHTS, Host, Move, PlanError, Policy, RebalancePlan, Vm, duration, pct, validate, validate_policy)
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.balance_model import EPSILON
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.balance_moves import (
    best_move, hot_hosts, move_reason, next_source, record_stuck)
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.balance_state import GroupState
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.load import pstdev

# The planner's public names: its input and answer live in balance_model, callers import them here.
__all__ = ["DEFAULT_SLA_WEIGHTS", "Host", "Move", "PlanError", "Policy", "RebalancePlan", "Vm", "plan_rebalance",
           "validate_policy"]


def plan_rebalance(hosts, vms, policy=None, now=0.0):
    """Plan moves for a group of ``hosts`` running ``vms``; see the module doc. Returns a :class:`RebalancePlan`."""
    policy = policy or Policy()
    hosts, vms = list(hosts), list(vms)
    validate(hosts, vms, policy)
    state = GroupState(hosts, vms, policy, now)
    hosts = state.hosts
    plan = RebalancePlan(loads_before=state.loads(), imbalance_before=pstdev(state.load[i] for i in range(len(hosts)) if state.active[i]))
    hot = hot_hosts(state, hosts, policy, now)
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
        source, phase = next_source(state, hot, stuck, policy)
        if source is None:
            _stop_note(state, hot, stuck, phase, plan)
            return
        if source not in looked_at:  # say once why the VMs that may not move stay
            looked_at.add(source)
            for unit in state.units_on[source]:
                for vm in unit.vms if unit.blocked else ():
                    plan.skipped[vm.name] = unit.blocked
        best = best_move(state, source)
        if best is None:
            stuck.add(source)
            record_stuck(state, source, plan)
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
        reason = move_reason(state, phase, hot.get(source, ""), unit, source, dest, before, after)
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
    still = sorted(state.names[i] for i in hot if state.load[i] > policy.cpu_high + EPSILON)
    if still:
        plan.notes.append("still above %s: %s (no move off them qualifies)" % (pct(policy.cpu_high), ", ".join(still)))
    if phase == "balanced":
        plan.notes.append("done: imbalance %.2f <= %.2f" % (state.imbalance(), policy.max_imbalance))
    else:
        plan.notes.append("stopped: imbalance %.2f > %.2f but no move off the %d most loaded hosts qualifies"
                          % (state.imbalance(), policy.max_imbalance, len(stuck)))
