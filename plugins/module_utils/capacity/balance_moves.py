# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Choosing the planner's moves: which hosts are hot, which host gives next, its best move, and
why a VM stays (pure).

:func:`hot_hosts` judges each host on its history (:func:`load.sustained_above`);
:func:`next_source` picks the hottest hot host, else the most loaded; :func:`best_move` weighs the
moves off it (imbalance gain over the unit's SLA weight); :func:`record_stuck` words why the
VMs of a host nothing can leave stay; :func:`move_reason` words a move.
"""

from __future__ import annotations

import math
from itertools import islice

from ansible_collections.hotiron.virt.plugins.module_utils.capacity.balance_model import (
    DESTINATIONS_SCANNED, DESTINATIONS_TRIED, EPSILON, REFUSALS_LISTED, arrow, duration, pct)
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.load import sustained_above


def best_move(state, s):
    """``(key, gain, unit, dest)`` of the best move off host ``s`` that gains ``min_gain``, or None.

    For each movable unit of ``s``, the first ``DESTINATIONS_TRIED`` hosts that
    can take it among the ``DESTINATIONS_SCANNED`` least loaded, all less
    loaded than ``s``, are weighed.
    The imbalance arithmetic of :meth:`GroupState.imbalance_if` is written out
    here: this loop is where a 1,000-host plan spends its time.
    """
    floor = max(state.policy.min_gain, EPSILON)
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


def why_stuck(state, unit, others, capacities):
    """Why ``unit`` cannot move anywhere useful, in words.

    The hosts are looked at as :func:`best_move` does (least loaded first, at
    most ``DESTINATIONS_SCANNED``, hosts in maintenance last); the first
    ``REFUSALS_LISTED`` refusals are worded and the rest counted.  ``others``
    are the hosts in that order, ``capacities`` a cache for :meth:`GroupState.why_not`.
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


def record_stuck(state, s, plan):
    others = [d for _load, _name, d in state.order if d != s] + [d for d in range(len(state.names)) if not state.active[d]]
    capacities = {}
    for unit in state.units_on[s]:
        if unit.moved:
            continue
        why = unit.blocked or why_stuck(state, unit, others, capacities)
        for vm in unit.vms:
            plan.skipped[vm.name] = why


def hot_hosts(state, hosts, policy, now):
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


def next_source(state, hot, stuck, policy):
    """``(host index, phase)``: the hottest hot host still above ``cpu_high``, else the most loaded host."""
    hottest = None
    for i in hot:
        if i not in stuck and state.load[i] > policy.cpu_high + EPSILON:
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


def move_reason(state, phase, hot_words, unit, s, d, before, after):
    names, policy = state.names, state.policy
    if phase == "hot":
        why = "%s at %s %s" % (names[s], pct(state.load[s]), hot_words)
    else:
        why = "imbalance %.2f > %.2f; %s at %s, %s at %s" % (before, policy.max_imbalance, names[s], pct(state.load[s]), names[d], pct(state.load[d]))
    load_s = (state.used[s] - unit.cpu) / state.cpus[s]
    load_d = (state.used[d] + unit.cpu) / state.cpus[d]
    return "%s; moving %s; after the move %s %s, %s %s; imbalance %s" % (
        why, unit.words(), names[s], pct(load_s), names[d], pct(load_d), arrow(before, after))
