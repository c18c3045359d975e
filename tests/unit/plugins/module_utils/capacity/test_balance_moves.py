# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Choosing the planner's moves (capacity.balance_moves): hot hosts judged on their history (or
their load now), the hottest gives first, the best move off it weighs the SLA, and a stuck VM says
why.  The plans these make together are test_balance.py's."""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils.capacity.balance_model import Host, Policy, RebalancePlan, Vm
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.balance_moves import (
    best_move, hot_hosts, move_reason, next_source, record_stuck)
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.balance_state import GroupState

NOW = 1000.0
POLICY = Policy(window_s=120)
HOT = tuple((NOW - 180 + 60 * k, 0.93) for k in range(4))


def group(hv1_history=HOT):
    hosts = [Host("hv1", 4, 16384, history=hv1_history), Host("hv2", 4, 16384), Host("hv3", 4, 16384, load=0.9)]
    vms = [Vm("gold", "hv1", 2, 1.8, 2048, sla="gold"), Vm("bronze", "hv1", 2, 1.8, 2048, sla="bronze"),
           Vm("x", "hv2", 2, 0.4, 2048)]
    state = GroupState(hosts, vms, POLICY, NOW)
    return hosts, state


def test_hot_on_history_for_the_window_or_on_the_load_now():
    hosts, state = group()
    assert hot_hosts(state, state.hosts, POLICY, NOW) == {0: "for 3 min > 80 %", 2: "> 80 % (no history: current load)"}
    _hosts, cool = group(hv1_history=((NOW - 30, 0.93),))
    assert 0 not in hot_hosts(cool, cool.hosts, POLICY, NOW)


def test_the_hottest_hot_host_gives_first_and_bronze_moves_before_gold():
    _hosts, state = group()
    hot = hot_hosts(state, state.hosts, POLICY, NOW)
    source, phase = next_source(state, hot, set(), POLICY)
    assert (state.names[source], phase) == ("hv3", "hot")
    source, phase = next_source(state, hot, {2}, POLICY)
    assert (state.names[source], phase) == ("hv1", "hot")
    _key, gain, unit, dest = best_move(state, source)
    assert unit.label == "bronze" and state.names[dest] == "hv2" and gain > 0
    before, after = state.imbalance(), state.imbalance_if(source, dest, unit.cpu)
    reason = move_reason(state, phase, hot[source], unit, source, dest, before, after)
    assert reason.startswith("hv1 at 90 % for 3 min > 80 %; moving bronze (bronze, 1.80 CPUs); after the move hv1 45 %, hv2 55 %")


def test_a_host_nothing_can_leave_says_why_for_each_vm():
    hosts = [Host("hv1", 4, 16384, load=0.95), Host("hv2", 4, 2048)]
    state = GroupState(hosts, [Vm("a", "hv1", 2, 3.0, 4096), Vm("b", "hv1", 2, 0.5, 1024, pinned=True)], POLICY, NOW)
    assert best_move(state, 0) is None
    plan = RebalancePlan()
    record_stuck(state, 0, plan)
    assert plan.skipped == {"a": "no host can take it: hv2 has 1792 MiB free, a needs 4096 MiB", "b": "b is pinned"}
