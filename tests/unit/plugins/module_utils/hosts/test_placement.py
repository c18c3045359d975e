# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Placement: hand-made cases, then properties checked on random inputs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.hotiron.virt.plugins.module_utils.hosts.placement import (
    HostCapacity,
    PlacementError,
    VmDemand,
    fits,
    missing_machine,
    plan_evacuation,
)


def host(name, mem=4096, cpus=8, maint=False, vms=()):
    return HostCapacity(name, mem, cpus, maint, frozenset(vms))


def vm(name, mem=512, cpus=1, pinned=False):
    return VmDemand(name, mem, cpus, pinned)


@pytest.mark.parametrize(
    "demand, target, source, groups, expected",
    [
        (vm("a"), host("h2"), "h1", (), None),
        (vm("a"), host("h1"), "h1", (), "h1 is the host being left"),
        (vm("a"), host("h2", maint=True), "h1", (), "h2 is in maintenance"),
        (vm("a", mem=600), host("h2", mem=599), "h1", (), "h2 has 599 MiB free, a needs 600 MiB"),
        (vm("a", mem=600), host("h2", mem=600), "h1", (), None),
        (vm("a", cpus=3), host("h2", cpus=2), "h1", (), "h2 has 2 vCPUs free, a needs 3"),
        (vm("a"), host("h2", vms={"a"}), "h1", (), "a VM named a already runs on h2"),
        (vm("a"), host("h2", vms={"b"}), "h1", ({"a", "b"},), "anti-affinity: h2 already runs b"),
        (vm("a"), host("h2", vms={"c"}), "h1", ({"a", "b"},), None),
    ],
)
def test_fits(demand, target, source, groups, expected):
    assert fits(demand, target, groups, source) == expected


def test_spreads_largest_first_onto_most_free_memory():
    plan = plan_evacuation(
        [vm("small", 256), vm("big", 2048), vm("mid", 1024)],
        [host("h1", 8192), host("h2", 3000), host("h3", 2500)],
        source="h1",
    )
    # h1 is the source; big -> h2 (most free), then h3 has 2500 > 952 so mid -> h3,
    # then small -> h3 (1476) vs h2 (952) -> h3.
    assert plan.moves == [("big", "h2"), ("mid", "h3"), ("small", "h3")]
    assert plan.complete


def test_ties_go_to_first_name():
    plan = plan_evacuation([vm("a")], [host("h3"), host("h2")], source="h1")
    assert plan.moves == [("a", "h2")]


def test_anti_affinity_pair_split_even_when_capacity_invites_sharing():
    plan = plan_evacuation(
        [vm("db1", 512), vm("db2", 512)],
        [host("big", 100000), host("small", 600)],
        source="h1",
        anti_affinity=[{"db1", "db2"}],
    )
    assert sorted(dest for _vm, dest in plan.moves) == ["big", "small"]


def test_anti_affinity_counts_vms_already_on_destination():
    plan = plan_evacuation([vm("db1")], [host("h2", vms={"db2"}), host("h3", mem=600)], source="h1",
                           anti_affinity=[{"db1", "db2"}])
    assert plan.moves == [("db1", "h3")]


def test_unplaceable_vm_is_reported_with_reasons():
    plan = plan_evacuation([vm("huge", 9000)], [host("h2"), host("h3", maint=True)], source="h1")
    assert plan.moves == []
    assert not plan.complete
    assert plan.unplaced["huge"] == (
        "no host can take it: h2 has 4096 MiB free, huge needs 9000 MiB; h3 is in maintenance"
    )


def test_no_other_host():
    plan = plan_evacuation([vm("a")], [], source="h1")
    assert plan.unplaced == {"a": "no other host in the group"}


def test_pinned_fail_refuses_the_whole_plan():
    with pytest.raises(PlacementError, match="pinned to h1 cannot be moved: p1"):
        plan_evacuation([vm("a"), vm("p1", pinned=True)], [host("h2")], source="h1")


def test_pinned_shutdown_is_listed_and_not_moved():
    plan = plan_evacuation([vm("a"), vm("p1", pinned=True)], [host("h2")], source="h1", pinned_action="shutdown")
    assert plan.moves == [("a", "h2")]
    assert plan.shutdown == ["p1"]
    assert plan.as_dict() == {"moves": [{"vm": "a", "to": "h2"}], "shutdown": ["p1"], "unplaced": {}}


@pytest.mark.parametrize(
    "vms, hosts, action, match",
    [
        ([vm("a")], [host("h2")], "reboot", "pinned_action must be one of fail, shutdown"),
        ([vm("a")], [host("h2"), host("h2")], "fail", "host names must be unique"),
        ([vm("a"), vm("a")], [host("h2")], "fail", "VM names must be unique"),
        ([vm("a", mem=-1)], [host("h2")], "fail", "negative"),
    ],
)
def test_bad_input(vms, hosts, action, match):
    with pytest.raises(PlacementError, match=match):
        plan_evacuation(vms, hosts, source="h1", pinned_action=action)


def test_six_vms_onto_two_hosts_with_pair_and_pinned():
    vms = [vm("vm%d" % i, 64) for i in range(1, 5)] + [vm("aa1", 64), vm("aa2", 64), vm("pin", 64, pinned=True)]
    plan = plan_evacuation(vms, [host("hv2", 1024), host("hv3", 1024)], source="hv1",
                           anti_affinity=[{"aa1", "aa2"}], pinned_action="shutdown")
    dests = dict(plan.moves)
    assert len(dests) == 6 and plan.complete
    assert dests["aa1"] != dests["aa2"]
    assert sorted(dests.values()).count("hv2") == 3  # balanced
    assert plan.shutdown == ["pin"]


# ---- properties ----------------------------------------------------------------------------

names = st.sampled_from(["v%d" % i for i in range(12)])
host_names = st.sampled_from(["h%d" % i for i in range(1, 6)])


@st.composite
def scenarios(draw):
    vm_names = draw(st.lists(names, min_size=0, max_size=10, unique=True))
    vms = [VmDemand(n, draw(st.integers(0, 4096)), draw(st.integers(0, 8)), draw(st.booleans()))
           for n in vm_names]
    hnames = draw(st.lists(host_names, min_size=0, max_size=5, unique=True))
    others = ["x%d" % i for i in range(3)] + vm_names
    hosts = [HostCapacity(h, draw(st.integers(0, 8192)), draw(st.integers(0, 16)), draw(st.booleans()),
                          frozenset(draw(st.lists(st.sampled_from(others), max_size=3))))
             for h in hnames]
    groups = draw(st.lists(st.frozensets(st.sampled_from(vm_names + ["x0", "x1"]), min_size=2, max_size=4),
                           max_size=3)) if vm_names else []
    source = draw(st.sampled_from(hnames + ["elsewhere"])) if hnames else "elsewhere"
    return vms, hosts, groups, source


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_plan_properties(scenario):
    vms, hosts, groups, source = scenario
    plan = plan_evacuation(vms, hosts, source=source, anti_affinity=groups, pinned_action="shutdown")
    by_name = {h.name: h for h in hosts}
    demand = {v.name: v for v in vms}

    # every VM is accounted for exactly once
    moved = [v for v, _dest in plan.moves]
    assert sorted(moved + plan.shutdown + list(plan.unplaced)) == sorted(demand)
    # pinned never move, unpinned never shut down
    assert all(demand[v].pinned for v in plan.shutdown)
    assert not any(demand[v].pinned for v in moved)

    load = {}
    for v, dest in plan.moves:
        target = by_name[dest]
        assert dest != source, "placed on the source"
        assert not target.in_maintenance, "placed on a host in maintenance"
        assert v not in target.vms, "name clash"
        load.setdefault(dest, []).append(v)
    for dest, placed in load.items():
        target = by_name[dest]
        assert sum(demand[v].memory_mib for v in placed) <= target.free_memory_mib, "memory over-committed"
        assert sum(demand[v].vcpus for v in placed) <= target.free_vcpus, "vCPUs over-committed"
        for v in placed:
            neighbours = (set(placed) | set(target.vms)) - {v}
            for group in groups:
                if v in group:
                    assert not (neighbours & group), "anti-affinity broken"
    # an unplaced VM fits on no host even in the final state (room only shrinks as VMs are
    # placed, so it fit nowhere when its turn came either)
    final = dict(by_name)
    for v, dest in plan.moves:
        final[dest] = final[dest].take(demand[v])
    for v in plan.unplaced:
        assert all(fits(demand[v], h, groups, source) is not None for h in final.values())


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_pinned_fail_raises_iff_a_vm_is_pinned(scenario):
    vms, hosts, groups, source = scenario
    if any(v.pinned for v in vms):
        with pytest.raises(PlacementError):
            plan_evacuation(vms, hosts, source=source, anti_affinity=groups, pinned_action="fail")
    else:
        plan_evacuation(vms, hosts, source=source, anti_affinity=groups, pinned_action="fail")


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_plan_is_deterministic_whatever_the_input_order(scenario):
    vms, hosts, groups, source = scenario
    a = plan_evacuation(vms, hosts, source=source, anti_affinity=groups, pinned_action="shutdown")
    b = plan_evacuation(list(reversed(vms)), list(reversed(hosts)), source=source, anti_affinity=groups,
                        pinned_action="shutdown")
    assert a.as_dict() == b.as_dict()


# --- mixed QEMU versions: a VM defined on QEMU 10 cannot go back to QEMU 7.2 ----------------------
OLD_QEMU = frozenset({"pc-q35-7.2", "q35", "pc-q35-7.1", "pc-i440fx-7.2", "pc", "ubuntu"})
NEW_QEMU = OLD_QEMU | {"pc-q35-10.0", "pc-q35-9.2", "pc-i440fx-10.0"}


@pytest.mark.parametrize("machine, machines, lacks", [
    ("pc-q35-10.0", OLD_QEMU, "machine type pc-q35-10.0 (its newest pc-q35 is pc-q35-7.2)"),
    ("pc-q35-7.2", NEW_QEMU, None), ("pc-q35-7.2", OLD_QEMU, None),
    ("pc-i440fx-10.0", OLD_QEMU, "machine type pc-i440fx-10.0 (its newest pc-i440fx is pc-i440fx-7.2)"),
    ("virt-10.0", OLD_QEMU, "machine type virt-10.0 (its QEMU offers no virt machine)"),
    ("", OLD_QEMU, None), ("pc-q35-10.0", None, None),
])
def test_missing_machine(machine, machines, lacks):
    assert missing_machine(machine, machines) == lacks


def test_an_evacuation_never_sends_a_vm_to_a_host_lacking_its_machine_type():
    vms = [VmDemand("new-vm", 512, 1, machine="pc-q35-10.0"), VmDemand("old-vm", 512, 1, machine="pc-q35-7.2")]
    hosts = [HostCapacity("old", 100000, 64, machines=OLD_QEMU), HostCapacity("new", 1000, 64, machines=NEW_QEMU)]
    plan = plan_evacuation(vms, hosts, source="src")
    assert dict(plan.moves) == {"new-vm": "new", "old-vm": "old"}
    full = [HostCapacity("old", 100000, 64, machines=OLD_QEMU)]
    plan = plan_evacuation(vms[:1], full, source="src")
    assert plan.unplaced == {"new-vm": "no host can take it: old lacks machine type pc-q35-10.0"
                                       " (its newest pc-q35 is pc-q35-7.2) of new-vm: an older QEMU"}
