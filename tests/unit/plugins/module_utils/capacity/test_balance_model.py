# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planner's vocabulary (capacity.balance_model): input refused with a message naming what is
wrong, and loads and times in words."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.capacity.balance import plan_rebalance
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.balance_model import (
    Host, PlanError, Policy, Vm, arrow, duration, pct, validate, validate_policy)


def host(name, cpus=4, mem=16384, **kw):
    return Host(name, cpus, mem, **kw)


def vm(name, on, cpu, vcpus=2, mem=2048, **kw):
    return Vm(name, on, vcpus, cpu, mem, **kw)


# --- validation ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "change, message",
    [
        (dict(cpu_high=0), "cpu_high must be in (0, 1], got 0"),
        (dict(cpu_high=1.5), "cpu_high must be in (0, 1], got 1.5"),
        (dict(window_s=-1), "window_s must be at least 0, got -1"),
        (dict(max_imbalance=-0.1), "max_imbalance must be at least 0, got -0.1"),
        (dict(max_moves=-1), "max_moves must be an integer >= 0, got -1"),
        (dict(max_moves=2.5), "max_moves must be an integer >= 0, got 2.5"),
        (dict(min_gain=-1), "min_gain must be at least 0, got -1"),
        (dict(cooldown_s=-5), "cooldown_s must be at least 0, got -5"),
        (dict(cpu_allocation_ratio=0), "cpu_allocation_ratio must be greater than 0, got 0"),
        (dict(reserved_memory_mib=-1), "reserved_memory_mib must be at least 0, got -1"),
        (dict(max_gap_s=0), "max_gap_s must be greater than 0, got 0"),
        (dict(sla_weights={}), "sla_weights must name at least one class"),
        (dict(sla_weights={"gold": 0}), "sla_weights.gold must be greater than 0, got 0"),
    ],
)
def test_policy_out_of_range_is_named(change, message):
    with pytest.raises(PlanError) as err:
        validate_policy(replace(Policy(), **change))
    assert str(err.value) == message


@pytest.mark.parametrize(
    "hosts, vms, message",
    [
        ([host("hv1"), host("hv1")], [], "host names must be unique"),
        ([host("hv1", cpus=0)], [], "host hv1: cpus and memory_mib must be positive"),
        ([host("hv1", load=-0.1)], [], "host hv1: load must be at least 0, got -0.1"),
        ([host("hv1")], [vm("a", "hv9", 1)], "VM a runs on hv9, which is not a host of the group"),
        ([host("hv1")], [vm("a", "hv1", 1), vm("a", "hv1", 1)], "VM names must be unique: a twice"),
        ([host("hv1")], [vm("a", "hv1", -1)], "VM a: cpu must be at least 0, got -1"),
        ([host("hv1")], [vm("a", "hv1", 1, mem=-1)], "VM a: vcpus and memory_mib must be at least 0"),
        ([host("hv1")], [vm("a", "hv1", 1, sla="platinum")], "VM a: unknown SLA class 'platinum' (known: bronze, gold, silver)"),
        ([host("hv1")], [vm("a", "hv1", 1, affinity=("g",), anti_affinity=("x",)), vm("b", "hv1", 1, affinity=("g",), anti_affinity=("x",))],
         "VMs a and b must share a host (affinity) and must not (anti-affinity group x)"),
    ],
)
def test_bad_input_is_refused_with_a_message(hosts, vms, message):
    with pytest.raises(PlanError) as err:
        plan_rebalance(hosts, vms, Policy(window_s=120), now=1000.0)
    assert str(err.value) == message


@pytest.mark.parametrize("seconds, words", [(45, "45 s"), (119.6, "120 s"), (125, "2 min"), (1800, "30 min"), (7200, "2.0 h")])
def test_duration_words(seconds, words):
    assert duration(seconds) == words


@pytest.mark.parametrize(
    "a, b, words",
    [(0.21, 0.07, "0.21 -> 0.07"), (0.1203, 0.1201, "0.1203 -> 0.1201"), (0.1213, 0.1201, "0.121 -> 0.120"), (0.5, 0.5, "0.50000 -> 0.50000")],
)
def test_arrow_shows_enough_digits(a, b, words):
    assert arrow(a, b) == words


# --- properties on random groups -------------------------------------------------------------


def test_validate_accepts_a_good_group_and_pct_words_a_load():
    assert validate([host("hv1"), host("hv2")], [vm("a", "hv1", 1)], Policy()) is None
    assert pct(0.934) == "93 %"
