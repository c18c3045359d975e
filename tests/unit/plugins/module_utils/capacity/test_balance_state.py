# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planner's working state (capacity.balance_state): what moves together, why a unit may not
move, the placement rules in words and fast, storage routing asked once, and a move applied.
(The property test that the fast and the worded rule agree on random groups is in test_balance.py.)"""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.capacity.balance_model import Host, PlanError, Policy, Vm
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.balance_state import (
    GroupState, affinity_components, blocked_reason, check_contradiction)
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.storage import Disk, Pool

NOW = 1000.0


def vm(name, on, cpu, **kw):
    return Vm(name, on, kw.pop("vcpus", 2), cpu, kw.pop("mem", 2048), **kw)


def test_affinity_groups_sharing_a_vm_are_one_component():
    vms = [vm("a", "hv1", 1, affinity=("g1",)), vm("b", "hv1", 1, affinity=("g1", "g2")), vm("c", "hv1", 1, affinity=("g2",)),
           vm("d", "hv1", 1)]
    assert [(groups, [v.name for v in members]) for groups, members in affinity_components(vms)] == [
        (["g1", "g2"], ["a", "b", "c"]), ([], ["d"])]


def test_vms_that_must_and_must_not_share_a_host_are_refused():
    with pytest.raises(PlanError, match="VMs a and b must share a host"):
        check_contradiction([vm("a", "hv1", 1, anti_affinity=("x",)), vm("b", "hv1", 1, anti_affinity=("x",))])


def test_why_a_unit_may_not_move():
    state = GroupState([Host("hv1", 4, 16384)], [vm("a", "hv1", 1, pinned=True), vm("b", "hv1", 1, last_moved=NOW - 60),
                                                 vm("c", "hv1", None), vm("d", "hv1", 1)], Policy(), NOW)
    why = {u.label: u.blocked for u in state.units}
    assert why == {"a": "a is pinned", "b": "b moved 60 s ago, cooldown 30 min",
                   "c": "no CPU measure for c this time (migrated or restarted since the last sample)", "d": None}
    assert blocked_reason(state.units[3], Policy(), NOW) is None


def test_placement_rules_fast_and_in_words_and_a_move_applied():
    hosts = [Host("hv1", 4, 16384), Host("hv2", 4, 4096), Host("hv3", 4, 16384)]
    vms = [vm("big", "hv1", 1.0, mem=8192), vm("small", "hv1", 0.5), vm("peer", "hv3", 0.1, anti_affinity=("web",)),
           vm("web1", "hv1", 0.5, anti_affinity=("web",))]
    state = GroupState(hosts, vms, Policy(), NOW)
    unit = {u.label: u for u in state.units}
    hv2, hv3 = state.index["hv2"], state.index["hv3"]
    assert not state.fits_fast(unit["big"], hv2) and state.why_not(unit["big"], hv2) == "hv2 has 3840 MiB free, big needs 8192 MiB"
    assert not state.fits_fast(unit["web1"], hv3) and state.why_not(unit["web1"], hv3) == "anti-affinity: hv3 already runs peer"
    assert state.fits_fast(unit["small"], hv2) and state.why_not(unit["small"], hv2) is None
    before = state.imbalance()
    assert state.imbalance_if(state.index["hv1"], hv2, 0.5) < before
    state.apply(unit["small"], hv2)
    assert unit["small"].moved and unit["small"].host == hv2 and state.loads()["hv2"] == pytest.approx(0.125)
    assert state.imbalance() < before


def test_storage_routing_is_asked_once_per_unit_and_host():
    images = "/var/lib/libvirt/images"
    hosts = [Host("hv1", 4, 16384, pools=(Pool("default", "dir", images, frozenset([images + "/a.qcow2"])),)),
             Host("hv2", 4, 16384, pools=(Pool("default", "dir", images),))]
    vms = [vm("a", "hv1", 1, disks=(Disk("vda", "file", "/var/lib/libvirt/images/a.qcow2"),))]
    state = GroupState(hosts, vms, Policy(), NOW)
    (unit,) = state.units
    ok, why = state.route(unit, 1)
    assert ok is False and why and state.route(unit, 1) is state.routes[("a", 1)]
    assert state.why_not(unit, 1).startswith("its storage cannot follow it to hv2: ")
