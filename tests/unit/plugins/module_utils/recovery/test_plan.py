# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recovery decisions (recovery.plan): every rule by example, the safety rules by property."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recovery_examples import NOW, actions, down, up, vm  # tests/unit/recovery_examples.py

from ansible_collections.hotiron.virt.plugins.module_utils.hosts.cpu_compat import CpuNeed, HostCpu
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.placement import VmDemand, fits
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import plan as rp


# --- restarts ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("record, expected", [
    (vm("a", state="shutoff", reason="crashed"), "restart"),
    (vm("a", state="shutoff", reason="failed"), "restart"),
    (vm("a", state="crashed", reason="panicked"), "restart"),
    (vm("a", state="shutoff", reason="shutdown"), None),       # an operator shut it down
    (vm("a", state="shutoff", reason="destroyed"), None),      # an operator (or the collection) destroyed it
    (vm("a", state="shutoff", reason="migrated"), None),
    (vm("a", state="shutoff", reason="saved"), None),
    (vm("a", state="shutoff", reason="unknown"), None),
    (vm("a", state="shutoff", reason="crashed", ha=False), None),
    (vm("a", state="running"), None),
    (vm("a", state="paused", reason="I/O error"), None),
    (vm("a", state="shutoff", reason="crashed", restarts=[NOW - 10, NOW - 20, NOW - 30]), "limit"),
    (vm("a", state="shutoff", reason="crashed", restarts=[NOW - 10, NOW - 20, NOW - 700]), "restart"),
    (vm("a", state="shutoff", reason="crashed", limit=(1, 60), restarts=[NOW - 59]), "limit"),
    (vm("a", state="shutoff", reason="crashed", limit=(1, 60), restarts=[NOW - 61]), "restart"),
])
def test_which_stopped_vms_restart(record, expected):
    decided = rp.plan_restarts([up("hv1", [record])], NOW)
    assert [d.action for d in decided] == ([expected] if expected else [])


def test_restart_reasons_name_the_limit():
    (limit,) = rp.plan_restarts([up("hv1", [vm("a", state="shutoff", reason="crashed", restarts=[NOW - 5] * 3)])], NOW)
    assert limit.reason.startswith("crash loop: restarted 3 times in the last 600s (limit 3 in 600s)")
    (restart,) = rp.plan_restarts([up("hv1", [vm("a", state="shutoff", reason="crashed", restarts=[NOW - 5])])], NOW)
    assert restart.reason == "HA vm stopped (crashed) on hv1; restart 2 of 3 allowed in 600s"


def test_no_restart_on_an_unreachable_host():
    assert rp.plan_restarts([down("hv1")], NOW) == []


# --- failed hosts -----------------------------------------------------------------------------------

@pytest.mark.parametrize("host, expected", [
    (down("hv2", since=NOW - 3), "wait"),
    (down("hv2", since=NOW - 10), "fence"),
    (down("hv2", since=NOW - 10, fencing="none"), "no_fencing"),
    (down("hv2", since=NOW - 10, fencing="manual"), "no_fencing"),
    (down("hv2", since=NOW - 10, fencing="manual", confirmed=True), "confirmed"),
    (down("hv2", since=NOW - 3, confirmed=True), "wait"),        # a confirmation does not skip the timeout
    (down("hv2", since=NOW - 1, fenced=True), "fenced"),
    # emptied for maintenance (an upgrade restarting libvirtd, a reboot): never powered off
    (down("hv2", since=NOW - 10, maintenance=True), "no_fencing"),
    (down("hv2", since=NOW - 3, maintenance=True), "no_fencing"),
    (down("hv2", since=NOW - 10, maintenance=True, confirmed=True), "confirmed"),
])
def test_fencing_due(host, expected):
    (decision,) = rp.fencing_due([up("hv1"), host], 10, NOW)
    assert decision.action == expected and decision.host == "hv2"


def test_failover_by_priority_when_capacity_is_short():
    remembered = {v.name: v for v in [vm("low", "hv2", priority=1), vm("high", "hv2", priority=900),
                                      vm("mid", "hv2", priority=500)]}
    hosts = [up("hv1", free_mib=1200), up("hv3", free_mib=300), down("hv2")]
    decided = rp.plan_failover(["hv2"], hosts, remembered)
    assert actions(decided) == [("failover", "high"), ("failover", "mid"), ("unplaced", "low")]
    assert [d.target for d in decided[:2]] == ["hv1", "hv1"]
    assert decided[2].reason.startswith("priority 1: no host can take it: hv1 has 176 MiB free, low needs 512 MiB")


def test_failover_never_to_maintenance_nor_down_hosts_and_respects_anti_affinity():
    remembered = {v.name: v for v in [vm("db1", "hv2"), vm("db2", "hv2")]}
    hosts = [up("hv1", [vm("db3")]), up("hv3", maintenance=True), up("hv4"), down("hv2"), down("hv5")]
    decided = rp.plan_failover(["hv2"], hosts, remembered, anti_affinity=[{"db1", "db2", "db3"}])
    assert actions(decided) == [("failover", "db1"), ("unplaced", "db2")]
    assert decided[0].target == "hv4"
    assert "hv3 is in maintenance" in decided[1].reason and "anti-affinity" in decided[1].reason


def test_failover_skips_what_runs_elsewhere_was_stopped_local_or_not_ha():
    remembered = {v.name: v for v in [
        vm("moved", "hv2"), vm("off", "hv2", state="shutoff", reason="shutdown"), vm("local", "hv2", shared=False),
        vm("plain", "hv2", ha=False), vm("other", "hv3")]}
    hosts = [up("hv1", [vm("moved")]), down("hv2"), down("hv3")]
    decided = rp.plan_failover(["hv2"], hosts, remembered)
    assert actions(decided) == [("local_storage", "local"), ("elsewhere", "moved"), ("was_stopped", "off")]


def test_decide_places_only_for_fenced_or_confirmed_hosts():
    remembered = {"a": vm("a", "hv2"), "b": vm("b", "hv3"), "c": vm("c", "hv4")}
    hosts = [up("hv1"), down("hv2"), down("hv3", confirmed=True), down("hv4", since=NOW - 2)]
    decided = rp.decide(hosts, remembered, 10, NOW)
    assert actions(decided.decisions) == [("fence", "hv2"), ("confirmed", "hv3"), ("wait", "hv4"), ("failover", "b")]
    # the caller fenced hv2: now its VM is placed too
    decided = rp.decide(hosts, remembered, 10, NOW, fenced_ok=["hv2"])
    assert ("failover", "a") in actions(decided.decisions)


def test_a_fenced_host_back_cleans_stale_definitions_and_starts_what_went_nowhere():
    remembered = {v.name: v for v in [vm("moved", "hv2"), vm("stuck", "hv2", shared=False),
                                      vm("was_off", "hv2", state="shutoff", reason="shutdown")]}
    back = up("hv2", [vm("moved", "hv2", state="shutoff", reason="unknown"), vm("stuck", "hv2", state="shutoff"),
                      vm("was_off", "hv2", state="shutoff")], fenced=True)
    hosts = [up("hv1", [vm("moved")]), back]
    decided = rp.decide(hosts, remembered, 10, NOW)
    assert actions(decided.decisions) == [("clean_stale", "moved"), ("start_returned", "stuck"), ("returned", "hv2")]
    assert decided.decisions[0].target == "hv1"


def test_a_stale_definition_running_on_the_returned_host_too_is_stopped_first():
    back = up("hv2", [vm("twice", "hv2")], fenced=True)
    decided = rp.decide([up("hv1", [vm("twice")]), back], {}, 10, NOW)
    assert decided.decisions[0].action == "clean_stale" and "running here too: stopped first" in decided.decisions[0].reason


def test_remember_keeps_down_hosts_vms_and_follows_the_running_copy():
    remembered = {"a": vm("a", "hv2"), "gone": vm("gone", "hv1"), "b": vm("b", "hv2")}
    hosts = [up("hv1", [vm("a", "hv1", state="shutoff", reason="unknown"), vm("c", "hv1")]),
             up("hv3", [vm("b", "hv3")]), down("hv2")]
    kept = rp.remember(remembered, hosts)
    assert sorted(kept) == ["a", "b", "c"]
    assert kept["a"].host == "hv2"       # a stopped definition elsewhere is not the VM that ran on hv2
    assert kept["b"].host == "hv3"       # running on a reachable host: recovered (or moved) there
    assert kept["c"].host == "hv1"


# --- properties --------------------------------------------------------------------------------------

NAMES = [f"v{i}" for i in range(12)]


@st.composite
def groups(draw):
    host_names = [f"hv{i}" for i in range(1, draw(st.integers(2, 5)) + 1)]
    failed = set(draw(st.lists(st.sampled_from(host_names), min_size=1, max_size=len(host_names) - 1, unique=True)))
    remembered, observed = {}, {h: [] for h in host_names}
    for name in draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=12)):
        home = draw(st.sampled_from(host_names))
        record = vm(name, home, ha=draw(st.booleans()), priority=draw(st.integers(0, 3)),
                    memory=draw(st.sampled_from([256, 512, 1024, 2048])), vcpus=draw(st.integers(1, 4)),
                    shared=draw(st.booleans()))
        remembered[name] = record
        if home not in failed:
            observed[home].append(record)
        elif draw(st.booleans()) and len(host_names) > len(failed):
            # seen running on a reachable host already (recovered, or migrated before the failure)
            other = draw(st.sampled_from([h for h in host_names if h not in failed]))
            observed[other].append(rp.VmRecord(name, other, state="running"))
    hosts = []
    for name in host_names:
        if name in failed:
            hosts.append(down(name, since=NOW - draw(st.integers(0, 30)), fencing=draw(st.sampled_from(["agent", "none"])),
                              confirmed=draw(st.booleans()), maintenance=draw(st.booleans())))
        else:
            hosts.append(up(name, observed[name], free_mib=draw(st.integers(0, 4096)), free_vcpus=draw(st.integers(0, 8)),
                            maintenance=draw(st.booleans())))
    return hosts, remembered, [set(draw(st.lists(st.sampled_from(NAMES), max_size=3, unique=True)))]


@settings(max_examples=600, deadline=None)
@given(groups(), st.booleans())
def test_safety_properties(group, fence_all):
    hosts, remembered, anti = group
    due = rp.fencing_due(hosts, 10, NOW)
    fenced = [d.host for d in due if d.action == "fence"] if fence_all else []
    decided = rp.decide(hosts, remembered, 10, NOW, anti_affinity=anti, fenced_ok=fenced)
    failovers = decided.of("failover")
    allowed = {d.host for d in due if d.action in ("confirmed", "fenced")} | set(fenced)
    by_name = {h.name: h for h in hosts}
    running = rp.running_on_reachable(hosts)
    # A VM is placed at most once, never for a host that was not fenced or confirmed off,
    # never when it already runs somewhere reachable, only HA VMs on shared storage.
    assert len({d.vm for d in failovers}) == len(failovers)
    for d in failovers:
        assert d.host in allowed and d.vm not in running
        assert remembered[d.vm].ha and remembered[d.vm].shared
        target = by_name[d.target]
        assert target.reachable and not target.in_maintenance and d.target not in allowed
    # Capacity and anti-affinity hold on every target after all placements.
    state = {h.name: h.capacity for h in hosts if h.reachable}
    for d in failovers:
        demand = VmDemand(d.vm, remembered[d.vm].memory_mib, remembered[d.vm].vcpus)
        assert fits(demand, state[d.target], [frozenset(g) for g in anti]) is None
        state[d.target] = state[d.target].take(demand)
    # Priorities: a VM left unplaced fits nowhere once the VMs of its priority and above are placed
    # (no VM of lower priority took its room).
    for miss in decided.of("unplaced"):
        record = remembered[miss.vm]
        room = {h.name: h.capacity for h in hosts if h.reachable and not h.in_maintenance and h.name not in allowed}
        for d in failovers:
            if remembered[d.vm].priority >= record.priority:
                room[d.target] = room[d.target].take(VmDemand(d.vm, remembered[d.vm].memory_mib, remembered[d.vm].vcpus))
        demand = VmDemand(record.name, record.memory_mib, record.vcpus)
        assert not [n for n, cap in room.items() if fits(demand, cap, [frozenset(g) for g in anti]) is None], miss
    # Restarts only on reachable hosts, only of HA VMs.
    for d in decided.of("restart"):
        assert by_name[d.host].reachable


def test_a_crashed_definition_is_not_restarted_where_the_vm_runs_elsewhere_or_last_ran_on_a_lost_host():
    crashed = vm("a", "hv1", state="shutoff", reason="crashed")
    running_elsewhere = [up("hv1", [crashed]), up("hv2", [vm("a", "hv2")])]
    assert actions(rp.plan_restarts(running_elsewhere, NOW)) == [("elsewhere", "a")]
    lost = [up("hv1", [crashed]), down("hv3")]
    remembered = {"a": vm("a", "hv3")}
    (decision,) = rp.plan_restarts(lost, NOW, remembered)
    assert decision.action == "elsewhere" and "hv3, which is unreachable" in decision.reason
    assert actions(rp.plan_restarts(lost, NOW, {"a": vm("a", "hv1")})) == [("restart", "a")]


def test_a_host_whose_vms_could_not_be_read_keeps_its_records_and_takes_nothing():
    degraded = rp.HostRecord("hv2", True, degraded="its vms were not read within 60s", fencing="agent")
    remembered = {"a": vm("a", "hv2"), "b": vm("b", "hv3")}
    hosts = [up("hv1"), degraded, down("hv3")]
    assert rp.remember(remembered, hosts)["a"].host == "hv2"           # kept, not forgotten
    decided = rp.plan_failover(["hv3"], hosts, remembered)
    assert [(d.action, d.target) for d in decided] == [("failover", "hv1")]
    assert rp.fencing_due(hosts, 10, NOW)[0].host == "hv3"             # a degraded host is never fenced


# --- what a pass remembers of its own work (issue #19: an HA VM left down) ----------------------------

def test_a_vm_restarted_then_its_host_failing_is_recovered_not_left_down():
    """The sequence of the issue, pass by pass: pass 1 restarts a crashed HA VM; the host's
    libvirtd dies; pass 2 fences it and must start the VM elsewhere, never decide was_stopped."""
    crashed = vm("db1", "hv1", state="shutoff", reason="crashed", restarts=[NOW - 5000])
    hosts = [up("hv1", [crashed]), up("hv2")]
    (restart,) = rp.plan_restarts(hosts, NOW, {})
    assert restart.action == "restart"
    acted = rp.after_acting(hosts, {}, started=[("hv1", "db1", (NOW - 5000, NOW))])
    kept = rp.remember({}, acted)
    assert (kept["db1"].host, kept["db1"].state, kept["db1"].restarts) == ("hv1", "running", (NOW - 5000, NOW))
    # Pass 2, seconds later: hv1 unreachable, fenced by the caller.
    later = [down("hv1", since=NOW + 1), up("hv2")]
    decided = rp.decide(later, kept, 10, NOW + 15, fenced_ok=["hv1"])
    assert actions(decided.of("failover", "was_stopped")) == [("failover", "db1")]


def test_a_record_still_showing_the_crash_counts_as_meant_to_run():
    """Even a record older than the restart (a pass killed before it saved, a crash seen by no pass
    yet) does not leave an HA VM down: a crash within its restart limit is failed over."""
    remembered = {"db1": vm("db1", "hv1", state="shutoff", reason="crashed"),
                  "panic": vm("panic", "hv1", state="crashed", reason="panicked"),
                  "loop": vm("loop", "hv1", state="shutoff", reason="crashed", restarts=[NOW - 1, NOW - 2, NOW - 3]),
                  "off": vm("off", "hv1", state="shutoff", reason="shutdown"),
                  "gone": vm("gone", "hv1", state="shutoff", reason="destroyed"),
                  "plain": vm("plain", "hv1", state="shutoff", reason="crashed", ha=False)}
    decided = rp.plan_failover(["hv1"], [down("hv1"), up("hv2")], remembered, now=NOW)
    assert sorted(actions(decided)) == [("failover", "db1"), ("failover", "panic"), ("was_stopped", "gone"),
                                        ("was_stopped", "loop"), ("was_stopped", "off")]
    (loop,) = [d for d in decided if d.vm == "loop"]
    assert "(shutoff, crashed)" in loop.reason


@pytest.mark.parametrize("record, expected", [
    (vm("a", state="shutoff", reason="crashed"), True),
    (vm("a", state="shutoff", reason="failed"), True),
    (vm("a", state="crashed", reason="panicked"), True),
    (vm("a", state="shutoff", reason="crashed", limit=(1, 60), restarts=[NOW - 59]), False),
    (vm("a", state="shutoff", reason="crashed", limit=(1, 60), restarts=[NOW - 61]), True),
    (vm("a", state="shutoff", reason="shutdown"), False),
    (vm("a", state="shutoff", reason="crashed", ha=False), False),
    (vm("a", state="running"), False),
])
def test_meant_to_run(record, expected):
    assert rp.meant_to_run(record, NOW) is expected


def test_after_acting_records_every_start_and_removal_of_the_pass():
    stale = vm("moved", "hv3", state="shutoff", reason="destroyed")
    left = vm("left", "hv3", state="shutoff", reason="destroyed")
    crashed = vm("db1", "hv1", state="shutoff", reason="crashed")
    remembered = {"web": vm("web", "hv2"), "moved": vm("moved", "hv2"), "left": vm("left", "hv3")}
    hosts = [up("hv1", [crashed]), down("hv2", fenced=True), up("hv3", [stale, left], fenced=True), up("hv4")]
    acted = rp.after_acting(hosts, remembered,
                            started=[("hv1", "db1", (NOW,)), ("hv4", "web", None), ("hv3", "left", None)],
                            removed=[("hv3", "moved")])
    by_host = {h.name: {v.name: (v.host, v.state, v.restarts) for v in h.vms} for h in acted}
    assert by_host == {"hv1": {"db1": ("hv1", "running", (NOW,))}, "hv2": {},
                       "hv3": {"left": ("hv3", "running", ())}, "hv4": {"web": ("hv4", "running", ())}}
    kept = rp.remember(remembered, acted)
    assert {n: (v.host, v.state) for n, v in kept.items()} == {
        "db1": ("hv1", "running"), "web": ("hv4", "running"), "left": ("hv3", "running"), "moved": ("hv2", "running")}
    assert rp.after_acting(hosts, remembered) == hosts      # nothing done: nothing changes


def test_an_ha_vm_started_by_anyone_is_refreshed_by_the_next_observation():
    """An operator starts an HA VM that a pass saw shut down; the pass on its start event (the
    event source emits vm_started) records it running, so that its host failing next is a failover."""
    remembered = rp.remember({}, [up("hv1", [vm("db1", "hv1", state="shutoff", reason="shutdown")])])
    assert rp.plan_failover(["hv1"], [up("hv2")], remembered, now=NOW)[0].action == "was_stopped"
    seen = rp.remember(remembered, [up("hv1", [vm("db1", "hv1")])])
    assert rp.plan_failover(["hv1"], [up("hv2")], seen, now=NOW)[0].action == "failover"


def test_failover_never_to_a_host_whose_qemu_lacks_the_vms_machine_type():
    remembered = {"new": replace(vm("new", "hv2"), machine="pc-q35-10.0"), "old": replace(vm("old", "hv2"), machine="pc-q35-7.2")}
    old_qemu = replace(up("hv1", free_mib=8192), capacity=replace(up("hv1", free_mib=8192).capacity,
                                                                  machines=frozenset({"pc-q35-7.2", "q35"})))
    new_qemu = replace(up("hv3", free_mib=1024), capacity=replace(up("hv3", free_mib=1024).capacity,
                                                                  machines=frozenset({"pc-q35-7.2", "pc-q35-10.0"})))
    decided = rp.plan_failover(["hv2"], [old_qemu, new_qemu, down("hv2")], remembered)
    assert {d.vm: d.target for d in decided if d.action == "failover"} == {"new": "hv3", "old": "hv1"}
    alone = rp.plan_failover(["hv2"], [old_qemu, down("hv2")], {"new": remembered["new"]})
    assert actions(alone) == [("unplaced", "new")]
    assert "hv1 lacks machine type pc-q35-10.0 (its newest pc-q35 is pc-q35-7.2) of new" in alone[0].reason


def test_failover_never_to_a_host_that_cannot_run_the_vms_cpu_model():
    """Recorded from the inactive definition: a custom model only the newer QEMU knows."""
    need = CpuNeed("custom", "Denverton", virt_type="qemu")
    remembered = {"new": replace(vm("new", "hv2"), cpu=need), "old": vm("old", "hv2")}
    old_cpu = {"qemu": HostCpu(usable=frozenset({"qemu64"}))}
    new_cpu = {"qemu": HostCpu(usable=frozenset({"qemu64", "Denverton"}))}
    older = replace(up("hv1", free_mib=8192), capacity=replace(up("hv1", free_mib=8192).capacity, cpu_offers=old_cpu))
    newer = replace(up("hv3", free_mib=1024), capacity=replace(up("hv3", free_mib=1024).capacity, cpu_offers=new_cpu))
    decided = rp.plan_failover(["hv2"], [older, newer, down("hv2")], remembered)
    assert {d.vm: d.target for d in decided if d.action == "failover"} == {"new": "hv3", "old": "hv1"}
    alone = rp.plan_failover(["hv2"], [older, down("hv2")], {"new": remembered["new"]})
    assert actions(alone) == [("unplaced", "new")]
    assert "hv1 lacks CPU model Denverton (its libvirt and QEMU do not offer it) of new" in alone[0].reason
