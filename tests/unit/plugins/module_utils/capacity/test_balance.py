# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rebalance planner: one case per rule and per reason, then properties on random groups."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.hotiron.virt.plugins.module_utils.hosts.cpu_compat import CpuNeed, HostCpu
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.balance import Host, Policy, Vm, plan_rebalance
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.balance_state import GroupState
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.load import pstdev

NOW = 1000.0
POLICY = Policy(window_s=120)
# Above 93 % for three minutes (samples each the mean since the one before).
HOT = tuple((NOW - 180 + 60 * k, 0.93) for k in range(4))


def host(name, cpus=4, mem=16384, **kw):
    return Host(name, cpus, mem, **kw)


def vm(name, on, cpu, vcpus=2, mem=2048, **kw):
    return Vm(name, on, vcpus, cpu, mem, **kw)


def three_hosts(hv1_history=HOT):
    """hv1 at 93 % (a gold, b bronze, c silver), hv2 at 25 %, hv3 at 20 %."""
    hosts = [host("hv1", history=hv1_history), host("hv2"), host("hv3")]
    vms = [vm("a", "hv1", 1.2, sla="gold"), vm("b", "hv1", 1.2, sla="bronze"), vm("c", "hv1", 1.32),
           vm("d", "hv2", 1.0), vm("e", "hv3", 0.8)]
    return hosts, vms


def moved(plan):
    return [(m.vm, m.source, m.dest) for m in plan.moves]


# --- triggers and reasons --------------------------------------------------------------------

def test_hot_host_is_relieved_with_reasons_in_words():
    plan = plan_rebalance(*three_hosts(), POLICY, now=NOW)
    assert plan.triggers == ["hv1 at 93 % for 3 min > 80 %", "imbalance 0.33 > 0.10"]
    first = plan.moves[0]
    assert (first.vm, first.source, first.dest, first.unit) == ("b", "hv1", "hv3", ("b",))
    assert first.reason == ("hv1 at 93 % for 3 min > 80 %; moving b (bronze, 1.20 CPUs); "
                            "after the move hv1 63 %, hv3 50 %; imbalance 0.33 -> 0.16")
    # Then the imbalance (0.16 > 0.10) is worked down.
    assert plan.moves[1].reason.startswith("imbalance 0.16 > 0.10; hv1 at 63 %, hv2 at 25 %; moving c (silver, 1.32 CPUs)")
    assert plan.notes == ["done: imbalance 0.09 <= 0.10"]
    assert plan.loads_before == {"hv1": pytest.approx(0.93), "hv2": pytest.approx(0.25), "hv3": pytest.approx(0.2)}
    assert plan.imbalance_before == pytest.approx(pstdev([0.93, 0.25, 0.2]))
    assert plan.imbalance_after == pytest.approx(pstdev(plan.loads_after.values()))
    assert plan.imbalance_after < 0.10
    assert max(plan.loads_after.values()) <= 0.80


def test_as_dict_shape():
    out = plan_rebalance(*three_hosts(), POLICY, now=NOW).as_dict()
    assert sorted(out) == ["imbalance_after", "imbalance_before", "loads_after", "loads_before", "moves", "notes",
                           "skipped", "triggers"]
    assert out["moves"][0] == {"vm": "b", "from": "hv1", "to": "hv3", "unit": ["b"], "cpu": 1.2, "memory_mib": 2048, "storage": "",
                               "reason": plan_rebalance(*three_hosts(), POLICY, now=NOW).moves[0].reason}


def test_nothing_to_do_in_a_balanced_group():
    hosts = [host("hv1"), host("hv2")]
    plan = plan_rebalance(hosts, [vm("a", "hv1", 1.0), vm("b", "hv2", 1.4)], POLICY, now=NOW)
    assert plan.moves == [] and plan.triggers == []
    assert plan.notes == ["nothing to do: no host above 80 % for 2 min, imbalance 0.05 <= 0.10"]
    assert plan.loads_after == plan.loads_before


def test_hot_for_less_than_the_window_is_no_trigger():
    short = tuple((NOW - 60 + 30 * k, 0.93) for k in range(3))
    plan = plan_rebalance(*three_hosts(short), replace(POLICY, max_imbalance=0.5), now=NOW)
    assert plan.moves == [] and plan.triggers == []


def test_without_history_the_current_load_decides():
    hosts, vms = three_hosts(hv1_history=())
    plan = plan_rebalance(hosts, vms, replace(POLICY, max_imbalance=0.5), now=NOW)
    assert plan.triggers == ["hv1 at 93 % > 80 % (no history: current load)"]
    assert moved(plan) == [("b", "hv1", "hv3")]
    assert plan.notes == ["done: imbalance 0.16 <= 0.50"]


def test_imbalance_alone_triggers():
    hosts = [host("hv1"), host("hv2")]
    vms = [vm("a", "hv1", 1.0), vm("b", "hv1", 1.0), vm("c", "hv1", 0.6)]
    plan = plan_rebalance(hosts, vms, POLICY, now=NOW)
    assert plan.triggers == ["imbalance 0.33 > 0.10"]
    assert moved(plan) == [("a", "hv1", "hv2")]
    assert plan.moves[0].reason == ("imbalance 0.33 > 0.10; hv1 at 65 %, hv2 at 0 %; moving a (silver, 1.00 CPUs); "
                                    "after the move hv1 40 %, hv2 25 %; imbalance 0.33 -> 0.08")


def test_given_host_load_above_its_vms_counts_as_load_that_stays():
    hosts = [host("hv1", load=0.9), host("hv2")]
    vms = [vm("a", "hv1", 0.4), vm("b", "hv1", 0.4)]
    plan = plan_rebalance(hosts, vms, POLICY, now=NOW)
    assert plan.loads_before["hv1"] == pytest.approx(0.9)
    # 2.8 of its 3.6 CPUs are not the VMs': moving both leaves hv1 at 70 %.
    assert [m.vm for m in plan.moves] == ["a", "b"]
    assert plan.loads_after == {"hv1": pytest.approx(0.7), "hv2": pytest.approx(0.2)}


# --- preferences and refusals ----------------------------------------------------------------

def test_bronze_moves_before_gold():
    hosts = [host("hv1", history=HOT), host("hv2"), host("hv3")]
    vms = [vm("g", "hv1", 1.0, sla="gold"), vm("s", "hv1", 1.0, sla="silver"), vm("z", "hv1", 1.0, sla="bronze")]
    plan = plan_rebalance(hosts, vms, replace(POLICY, max_moves=1), now=NOW)
    assert moved(plan) == [("z", "hv1", "hv2")]
    assert plan.skipped["s"] == "max_moves (1) reached: it would have gone from hv1 to hv3"


def test_operator_sla_classes_and_weights():
    policy = replace(POLICY, sla_weights={"platinum": 10.0, "scrap": 0.5}, max_moves=1)
    hosts = [host("hv1", history=HOT), host("hv2")]
    vms = [vm("p", "hv1", 1.4, sla="platinum"), vm("s", "hv1", 1.0, sla="scrap")]
    assert moved(plan_rebalance(hosts, vms, policy, now=NOW)) == [("s", "hv1", "hv2")]


def test_much_larger_gain_can_outweigh_the_sla():
    # Moving the tiny bronze VM gains almost nothing; the gold one halves the spread.
    hosts = [host("hv1", history=HOT), host("hv2")]
    vms = [vm("g", "hv1", 1.5, sla="gold"), vm("z", "hv1", 0.05, sla="bronze"), vm("x", "hv1", 2.0, pinned=True)]
    plan = plan_rebalance(hosts, vms, replace(POLICY, max_moves=1), now=NOW)
    assert moved(plan) == [("g", "hv1", "hv2")]


@pytest.mark.parametrize(
    "flags, reason",
    [
        (dict(pinned=True), "a is pinned"),
        (dict(last_moved=NOW - 300), "a moved 5 min ago, cooldown 30 min"),
        (dict(cpu=None), "no CPU measure for a this time (migrated or restarted since the last sample)"),
    ],
    ids=["pinned", "cooldown", "no-measure"],
)
def test_vms_that_may_not_move_say_why(flags, reason):
    hosts = [host("hv1", load=0.93, history=HOT), host("hv2")]
    cpu = flags.pop("cpu", 3.72)
    plan = plan_rebalance(hosts, [vm("a", "hv1", cpu, vcpus=4, **flags)], replace(POLICY, max_imbalance=1.0), now=NOW)
    assert plan.moves == []
    assert plan.skipped == {"a": reason}


def test_cooldown_over_lets_a_vm_move():
    hosts = [host("hv1", history=HOT), host("hv2")]
    vms = [vm("a", "hv1", 2.0, last_moved=NOW - 1800), vm("b", "hv1", 1.72, pinned=True)]
    assert moved(plan_rebalance(hosts, vms, POLICY, now=NOW)) == [("a", "hv1", "hv2")]


def test_affinity_group_moves_whole_to_one_host():
    hosts = [host("hv1", history=HOT), host("hv2"), host("hv3")]
    vms = [vm("db1", "hv1", 0.8, affinity=("db",)), vm("db2", "hv1", 0.8, affinity=("db",)), vm("x", "hv1", 2.12, pinned=True)]
    plan = plan_rebalance(hosts, vms, POLICY, now=NOW)
    assert moved(plan) == [("db1", "hv1", "hv2"), ("db2", "hv1", "hv2")]
    assert plan.moves[0].unit == plan.moves[1].unit == ("db1", "db2")
    assert plan.moves[0].reason == plan.moves[1].reason
    assert "moving affinity group db (db1, db2; silver, 1.60 CPUs)" in plan.moves[0].reason


def test_affinity_group_that_fits_nowhere_stays_whole():
    hosts = [host("hv1", history=HOT), host("hv2", mem=256 + 4095)]
    vms = [vm("db1", "hv1", 0.8, mem=2048, affinity=("db",)), vm("db2", "hv1", 0.8, mem=2048, affinity=("db",)),
           vm("x", "hv1", 2.12, pinned=True)]
    plan = plan_rebalance(hosts, vms, replace(POLICY, max_imbalance=1.0), now=NOW)
    assert plan.moves == []
    assert plan.skipped["db1"] == plan.skipped["db2"] == "no host can take it: hv2 has 4095 MiB free, db1+db2 needs 4096 MiB"
    assert plan.notes[0] == "still above 80 %: hv1 (no move off them qualifies)"


def test_affinity_groups_sharing_a_vm_are_one_unit():
    hosts = [host("hv1", history=HOT), host("hv2")]
    vms = [vm("a", "hv1", 0.6, affinity=("g1",)), vm("b", "hv1", 0.6, affinity=("g1", "g2")),
           vm("c", "hv1", 0.6, affinity=("g2",)), vm("x", "hv1", 1.92, pinned=True)]
    plan = plan_rebalance(hosts, vms, POLICY, now=NOW)
    assert moved(plan) == [("a", "hv1", "hv2"), ("b", "hv1", "hv2"), ("c", "hv1", "hv2")]
    assert "affinity group g1/g2 (a, b, c;" in plan.moves[0].reason


def test_split_affinity_group_is_not_moved():
    hosts = [host("hv1", history=HOT), host("hv2")]
    vms = [vm("db1", "hv1", 3.72, vcpus=4, affinity=("db",)), vm("db2", "hv2", 0.1, affinity=("db",))]
    plan = plan_rebalance(hosts, vms, replace(POLICY, max_imbalance=1.0), now=NOW)
    assert plan.moves == []
    assert plan.skipped["db1"] == "affinity group db is split across hv1, hv2: its VMs are not moved"


def test_pinned_member_holds_its_affinity_group():
    hosts = [host("hv1", history=HOT), host("hv2")]
    vms = [vm("db1", "hv1", 1.86, affinity=("db",), pinned=True), vm("db2", "hv1", 1.86, affinity=("db",))]
    plan = plan_rebalance(hosts, vms, replace(POLICY, max_imbalance=1.0), now=NOW)
    assert plan.moves == []
    assert plan.skipped == {"db1": "db1 is pinned (its affinity group stays together)",
                            "db2": "db1 is pinned (its affinity group stays together)"}


def test_anti_affinity_peer_on_the_coolest_host_sends_the_vm_elsewhere():
    hosts = [host("hv1", history=HOT), host("hv2"), host("hv3")]
    vms = [vm("web1", "hv1", 1.5, anti_affinity=("web",)), vm("web2", "hv2", 0.1, anti_affinity=("web",)),
           vm("x", "hv1", 2.22, pinned=True), vm("y", "hv3", 0.6)]
    plan = plan_rebalance(hosts, vms, replace(POLICY, max_imbalance=1.0), now=NOW)
    assert moved(plan) == [("web1", "hv1", "hv3")]


def test_anti_affinity_everywhere_is_a_reason():
    hosts = [host("hv1", history=HOT), host("hv2")]
    vms = [vm("web1", "hv1", 3.72, vcpus=4, anti_affinity=("web",)), vm("web2", "hv2", 0.1, anti_affinity=("web",))]
    plan = plan_rebalance(hosts, vms, replace(POLICY, max_imbalance=1.0), now=NOW)
    assert plan.skipped == {"web1": "no host can take it: anti-affinity: hv2 already runs web2"}


@pytest.mark.parametrize(
    "hv2, vm_kw, reason",
    [
        (dict(mem=2047 + 256), {}, "no host can take it: hv2 has 2047 MiB free, a needs 2048 MiB"),
        (dict(cpus=1), dict(vcpus=5), "no host can take it: hv2 has 4 vCPUs free, a needs 5"),
        (dict(in_maintenance=True), {}, "no host can take it: hv2 is in maintenance"),
        (dict(load=0.6), {}, "no host can take it: hv2 would be at 110 % (above 80 %)"),
    ],
    ids=["memory", "vcpus", "maintenance", "cpu-high"],
)
def test_destination_refusals_are_named(hv2, vm_kw, reason):
    hosts = [host("hv1", history=HOT), host("hv2", **hv2)]
    vms = [vm("a", "hv1", 2.0, **vm_kw), vm("x", "hv1", 1.72, pinned=True)]
    plan = plan_rebalance(hosts, vms, replace(POLICY, max_imbalance=1.0), now=NOW)
    assert plan.moves == []
    assert plan.skipped == {"a": reason, "x": "x is pinned"}


def test_allocation_ratio_counts_vcpus_already_there():
    hosts = [host("hv1", history=HOT), host("hv2", cpus=2)]
    vms = [vm("a", "hv1", 1.0, vcpus=2), vm("x", "hv1", 2.72, pinned=True), vm("y", "hv2", 0.1, vcpus=3)]
    policy = replace(POLICY, cpu_allocation_ratio=2.0, max_imbalance=1.0)
    plan = plan_rebalance(hosts, vms, policy, now=NOW)
    assert plan.skipped["a"] == "no host can take it: hv2 has 1 vCPUs free, a needs 2"
    assert moved(plan_rebalance(hosts, vms, replace(policy, cpu_allocation_ratio=2.5), now=NOW)) == [("a", "hv1", "hv2")]


def test_many_refusals_are_summed_up():
    hosts = [host("hv0", history=HOT)] + [host("hv%d" % i, mem=300) for i in range(1, 9)]
    plan = plan_rebalance(hosts, [vm("a", "hv0", 3.72, vcpus=4)], replace(POLICY, max_imbalance=1.0), now=NOW)
    assert plan.skipped["a"].startswith("no host can take it: hv1 has 44 MiB free, a needs 2048 MiB; hv2 has")
    assert plan.skipped["a"].endswith("; and 3 more hosts")


def test_maintenance_hosts_give_nothing_receive_nothing_and_do_not_count():
    hosts = [host("hv1", history=HOT), host("hv2", in_maintenance=True), host("hv3")]
    vms = [vm("a", "hv1", 1.9), vm("b", "hv1", 1.82), vm("m", "hv2", 4.0, vcpus=4)]
    plan = plan_rebalance(hosts, vms, POLICY, now=NOW)
    assert plan.imbalance_before == pytest.approx(pstdev([0.93, 0.0]))
    assert moved(plan) == [("a", "hv1", "hv3")]
    assert plan.loads_after["hv2"] == plan.loads_before["hv2"] == 1.0


def test_a_lone_host_has_nowhere_to_go():
    plan = plan_rebalance([host("hv1", history=HOT)], [vm("a", "hv1", 3.72, vcpus=4)], POLICY, now=NOW)
    assert plan.skipped == {"a": "no other host in the group"}
    assert plan.notes == ["still above 80 %: hv1 (no move off them qualifies)", "done: imbalance 0.00 <= 0.10"]


def test_gain_too_small():
    hosts = [host("hv1", history=HOT), host("hv2")]
    vms = [vm("a", "hv1", 0.01), vm("x", "hv1", 3.71, pinned=True), vm("y", "hv2", 3.0)]
    plan = plan_rebalance(hosts, vms, replace(POLICY, min_gain=0.01, max_imbalance=1.0), now=NOW)
    assert plan.moves == []
    # 93 % and 75 %: moving 0.01 CPU lowers the imbalance by 0.0025 only.
    assert plan.skipped["a"] == "gain too small: to hv2 the imbalance would go 0.090 -> 0.088 (min_gain 0.01)"


def test_a_move_that_overshoots_gains_nothing():
    hosts = [host("hv1"), host("hv2")]
    plan = plan_rebalance(hosts, [vm("a", "hv1", 2.4, vcpus=4), vm("b", "hv2", 0.8)], replace(POLICY, min_gain=0.0), now=NOW)
    assert plan.moves == []
    assert plan.skipped == {"a": "gain too small: to hv2 the imbalance would go 0.20 -> 0.40 (min_gain 0)"}
    assert plan.notes == ["stopped: imbalance 0.20 > 0.10 but no move off the 1 most loaded hosts qualifies"]


def test_max_moves_stops_the_plan_and_says_so():
    hosts = [host("hv1", history=HOT), host("hv2"), host("hv3")]
    vms = [vm("v%d" % i, "hv1", 0.62) for i in range(6)]
    plan = plan_rebalance(hosts, vms, replace(POLICY, max_moves=2), now=NOW)
    assert len(plan.moves) == 2
    assert plan.notes == ["stopped: max_moves (2) reached with hv1 at 62 %, imbalance 0.22"]
    assert sum("max_moves (2) reached" in why for why in plan.skipped.values()) == 1


def test_max_moves_counts_every_vm_of_an_affinity_group():
    hosts = [host("hv1", history=HOT), host("hv2")]
    vms = [vm("a", "hv1", 0.9, affinity=("g",)), vm("b", "hv1", 0.9, affinity=("g",)), vm("x", "hv1", 1.92, pinned=True)]
    plan = plan_rebalance(hosts, vms, replace(POLICY, max_moves=1), now=NOW)
    assert plan.moves == []
    assert plan.skipped["a"] == "max_moves (1) reached: it would have gone from hv1 to hv2"


def test_no_host_under_the_threshold_means_no_move():
    hosts = [host("hv1", history=HOT), host("hv2", load=0.79)]
    plan = plan_rebalance(hosts, [vm("a", "hv1", 0.5), vm("b", "hv1", 3.22)], replace(POLICY, max_imbalance=1.0), now=NOW)
    assert plan.moves == []
    assert plan.skipped["a"] == "no host can take it: hv2 would be at 92 % (above 80 %)"


def test_same_plan_whatever_the_input_order():
    hosts, vms = three_hosts()
    reference = plan_rebalance(hosts, vms, POLICY, now=NOW).as_dict()
    shuffler = random.Random(3)
    for _round in range(5):
        shuffler.shuffle(hosts)
        shuffler.shuffle(vms)
        assert plan_rebalance(hosts, vms, POLICY, now=NOW).as_dict() == reference


def test_ties_go_to_the_first_names():
    hosts = [host("hv3"), host("hv1", history=HOT), host("hv2")]
    vms = [vm("b", "hv1", 1.86), vm("a", "hv1", 1.86)]
    assert moved(plan_rebalance(hosts, vms, replace(POLICY, max_moves=1), now=NOW)) == [("a", "hv1", "hv2")]


@st.composite
def groups(draw):
    """A random group: 1-6 hosts, up to 24 VMs; affinity group A kept on hv0, B placed anywhere (often split)."""
    n_hosts = draw(st.integers(1, 6))
    hosts = []
    for i in range(n_hosts):
        hot = draw(st.booleans())
        history = tuple((NOW - 180 + 60 * k, 0.95) for k in range(4)) if hot else ()
        hosts.append(Host("hv%d" % i, draw(st.sampled_from([2, 4, 8])), draw(st.sampled_from([2048, 8192, 16384])),
                          load=draw(st.sampled_from([None, None, None, 0.3, 0.9])), history=history,
                          in_maintenance=draw(st.integers(0, 5)) == 0))
    vms = []
    for j in range(draw(st.integers(0, 24))):
        affinity = draw(st.sampled_from([(), (), (), (), ("A",), ("B",)]))
        on = 0 if affinity == ("A",) else draw(st.integers(0, n_hosts - 1))
        vms.append(Vm("vm%02d" % j, "hv%d" % on, draw(st.integers(1, 4)),
                      draw(st.one_of(st.none(), st.floats(0, 2), st.floats(0, 2), st.floats(0, 2))),
                      draw(st.sampled_from([256, 512, 1024, 2048])),
                      sla=draw(st.sampled_from(["gold", "silver", "bronze"])), pinned=draw(st.integers(0, 9)) == 0,
                      last_moved=draw(st.sampled_from([None, None, None, NOW - 60, NOW - 4000])), affinity=affinity,
                      anti_affinity=draw(st.sampled_from([(), (), ("X",), ("Y",), ("X", "Y")]))))
    # Affinity groups and anti-affinity groups must not contradict: drop anti-affinity where they would.
    clean = []
    for v in vms:
        mates = [w for w in vms if w is not v and set(w.affinity) & set(v.affinity)]
        if any(set(w.anti_affinity) & set(v.anti_affinity) for w in mates):
            v = replace(v, anti_affinity=())
        clean.append(v)
    vms = []
    for v in clean:  # second pass: a VM cleaned above may still clash with a mate cleaned after it
        mates = [w for w in clean if w is not v and set(w.affinity) & set(v.affinity)]
        vms.append(replace(v, anti_affinity=()) if mates and v.anti_affinity else v)
    policy = Policy(window_s=120, max_imbalance=draw(st.sampled_from([0.0, 0.05, 0.2])), max_moves=draw(st.sampled_from([0, 1, 3, 20])),
                    min_gain=draw(st.sampled_from([0.0, 0.002, 0.05])), reserved_memory_mib=256,
                    cpu_allocation_ratio=draw(st.sampled_from([1.0, 2.0, 4.0])))
    return hosts, vms, policy


def replay(hosts, vms, plan, policy):
    """Apply the plan's moves unit by unit, checking each step; returns the final placement."""
    where = {v.name: v.host for v in vms}
    by_name = {v.name: v for v in vms}
    by_host = {h.name: h for h in hosts}

    def loads():
        out = {}
        for h in hosts:
            vm_cpu = sum(v.cpu for v in vms if where[v.name] == h.name and v.cpu is not None)
            start_cpu = sum(v.cpu for v in vms if v.host == h.name and v.cpu is not None)
            other = max(0.0, h.load * h.cpus - start_cpu) if h.load is not None else 0.0
            out[h.name] = (vm_cpu + other) / h.cpus
        return out

    def imbalance():
        current = loads()
        return pstdev(current[h.name] for h in hosts if not h.in_maintenance)

    steps = []
    for m in plan.moves:
        if steps and steps[-1][0] == m.unit and steps[-1][2] == m.dest and m.vm not in steps[-1][3]:
            steps[-1][3].append(m.vm)
        else:
            steps.append((m.unit, m.source, m.dest, [m.vm]))
    for unit, source, dest, members in steps:
        assert sorted(members) == sorted(unit)
        before = imbalance()
        for name in members:
            assert where[name] == source
            where[name] = dest
        assert before - imbalance() >= policy.min_gain - 1e-9
        assert before - imbalance() > 0
        d = by_host[dest]
        assert not d.in_maintenance and not by_host[source].in_maintenance
        on_dest = [by_name[n] for n in where if where[n] == dest]
        assert sum(v.memory_mib for v in on_dest) <= d.memory_mib - policy.reserved_memory_mib
        assert sum(v.vcpus for v in on_dest) <= int(d.cpus * policy.cpu_allocation_ratio)
        assert loads()[dest] <= policy.cpu_high + 1e-9
        for name in members:
            for other in on_dest:
                if other.name != name:
                    assert not set(other.anti_affinity) & set(by_name[name].anti_affinity)
    return where


def check_plan(hosts, vms, policy):
    """Plan, and check every rule on the plan; returns the plan."""
    plan = plan_rebalance(hosts, vms, policy, now=NOW)
    names = [m.vm for m in plan.moves]
    assert len(names) == len(set(names)), "a VM moved twice"
    assert len(names) <= policy.max_moves
    by_name = {v.name: v for v in vms}
    for name in names:
        v = by_name[name]
        assert not v.pinned and v.cpu is not None
        assert v.last_moved is None or NOW - v.last_moved >= policy.cooldown_s
    where = replay(hosts, vms, plan, policy)
    # Affinity: VMs of one group that shared a host still do.
    for a in vms:
        for b in vms:
            if set(a.affinity) & set(b.affinity) and a.host == b.host:
                assert where[a.name] == where[b.name]
    assert plan.imbalance_after <= plan.imbalance_before + 1e-9
    assert plan.imbalance_after == pytest.approx(pstdev(plan.loads_after[h.name] for h in hosts if not h.in_maintenance), abs=1e-9)
    assert set(plan.skipped).isdisjoint(names)
    # Deterministic, whatever the order of the input.
    assert plan_rebalance(list(reversed(hosts)), list(reversed(vms)), policy, now=NOW).as_dict() == plan.as_dict()
    return plan


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(groups())
def test_every_plan_keeps_every_rule(group):
    check_plan(*group)


def random_group(rng):
    """A bigger group than hypothesis draws, where plans have many moves."""
    hosts = [Host("hv%02d" % i, rng.choice([4, 8, 16]), rng.choice([8192, 16384, 65536]),
                  history=tuple((NOW - 180 + 60 * k, 0.9) for k in range(4)) if rng.random() < 0.3 else (),
                  in_maintenance=rng.random() < 0.1) for i in range(rng.randint(3, 12))]
    vms = []
    for j in range(rng.randint(10, 80)):
        on = rng.choice(hosts[:3]) if rng.random() < 0.5 else rng.choice(hosts)  # the first hosts get busy
        anti = ("W%d" % rng.randint(0, 3),) if rng.random() < 0.3 else ()
        vms.append(Vm("vm%03d" % j, on.name, rng.choice([1, 2, 4]), rng.uniform(0, 1.5), rng.choice([512, 1024, 4096]),
                      sla=rng.choice(["gold", "silver", "bronze"]), pinned=rng.random() < 0.05,
                      last_moved=NOW - 60 if rng.random() < 0.05 else None,
                      affinity=("P%d" % (j // 2),) if j < 8 and rng.random() < 0.5 else (), anti_affinity=anti))
    # Affinity mates share a host and no anti-affinity group.
    first = {}
    for k, v in enumerate(vms):
        if v.affinity:
            mate = first.setdefault(v.affinity, v)
            vms[k] = replace(v, host=mate.host, anti_affinity=())
    policy = Policy(window_s=120, max_imbalance=rng.choice([0.0, 0.05]), max_moves=rng.choice([5, 50]),
                    min_gain=rng.choice([0.0, 0.001]), cpu_allocation_ratio=rng.choice([1.0, 4.0]))
    return hosts, vms, policy


@pytest.mark.parametrize("seed", range(60))
def test_every_plan_of_bigger_random_groups_keeps_every_rule(seed):
    hosts, vms, policy = random_group(random.Random(seed))
    check_plan(hosts, vms, policy)


def test_bigger_random_groups_do_move_vms():
    """The seeded groups above are not vacuous: most of their plans move VMs, some many."""
    counts = [len(plan_rebalance(*random_group(random.Random(seed))[:2], random_group(random.Random(seed))[2], now=NOW).moves)
              for seed in range(60)]
    assert sum(1 for c in counts if c) >= 40
    assert max(counts) >= 10


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(groups())
def test_the_fast_fit_test_and_the_worded_one_agree(group):
    """The planner's quick test and the reasons (placement.fits + cpu_high) say the same thing."""
    hosts, vms, policy = group
    state = GroupState(hosts, vms, policy, NOW)
    for unit in state.units:
        for d in range(len(state.names)):
            if state.active[d] and d != unit.host:
                assert state.fits_fast(unit, d) == (state.why_not(unit, d) is None), (unit.label, state.names[d])


def test_a_vm_never_moves_to_a_host_whose_qemu_lacks_its_machine_type():
    """A mixed group: hv3 (QEMU 7.2) cannot run b and c, defined on QEMU 10 (pc-q35-10.0)."""
    hosts, vms = three_hosts()
    old = frozenset({"pc-q35-7.2", "q35"})
    hosts = [hosts[0], replace(hosts[1], machines=old | {"pc-q35-10.0"}), replace(hosts[2], machines=old)]
    vms = [replace(v, machine="pc-q35-10.0") if v.name in ("b", "c") else v for v in vms]
    plan = plan_rebalance(hosts, vms, POLICY, now=NOW)
    assert plan.moves and all(m.dest != "hv3" for m in plan.moves if m.vm in ("b", "c")), moved(plan)
    state = GroupState(hosts, vms, POLICY, NOW)
    unit = next(u for u in state.units_on[0] if u.label == "b")
    assert state.why_not(unit, 2) == "hv3 lacks machine type pc-q35-10.0 (its newest pc-q35 is pc-q35-7.2) of b: an older QEMU"
    assert not state.fits_fast(unit, 2)


def test_a_vm_never_moves_to_a_host_that_cannot_run_its_cpu_model():
    """A mixed group: hv3 (QEMU 7.2) does not know Denverton, which b and c use (QEMU 10 does)."""
    hosts, vms = three_hosts()
    old = HostCpu(usable=frozenset({"qemu64", "Nehalem"}))
    new = HostCpu(usable=frozenset({"qemu64", "Nehalem", "Denverton"}))
    hosts = [replace(hosts[0], cpu_offers={"qemu": new}), replace(hosts[1], cpu_offers={"qemu": new}),
             replace(hosts[2], cpu_offers={"qemu": old})]
    vms = [replace(v, cpu_need=CpuNeed("custom", "Denverton", virt_type="qemu")) if v.name in ("b", "c") else v
           for v in vms]
    plan = plan_rebalance(hosts, vms, POLICY, now=NOW)
    assert plan.moves and all(m.dest != "hv3" for m in plan.moves if m.vm in ("b", "c")), moved(plan)
    state = GroupState(hosts, vms, POLICY, NOW)
    unit = next(u for u in state.units_on[0] if u.label == "b")
    assert state.why_not(unit, 2) == "hv3 lacks CPU model Denverton (its libvirt and QEMU do not offer it) of b"
    assert not state.fits_fast(unit, 2)
    assert state.route(unit, 2) == (False, "hv3 lacks CPU model Denverton (its libvirt and QEMU do not offer it) of b")
