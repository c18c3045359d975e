# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live capacity for real on the lab: busy guests (a vCPU each at 100 %) heat one host.

group_stats must see that host hot and the others cool (each host's load from its own guests'
CPU time: the lab's hosts share one machine's CPUs); rebalance plans in check mode without moving
anything, then moves VMs so that the next measurement shows a lower imbalance, and a second run has
nothing to do; pinned VMs, anti-affinity and a host in maintenance are respected.
"""

from __future__ import annotations

import re
import time

import libvirt
import pytest
from host_snapshot import differences, snapshot

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def hosts_of(lab):
    return {h.name: h.uri for h in lab.hosts}


def where(lab, name):
    found = []
    for host in lab.hosts:
        try:
            if host.connect().lookupByName(name).isActive():
                found.append(host.name)
        except libvirt.libvirtError:
            pass
    return found


@pytest.fixture(scope="module")
def shared_pools(lab):
    """A dir pool over the shared directory on every host: vm_migrate tells shared storage by it."""
    made = []
    for host in lab.hosts:
        conn = host.connect()
        try:
            conn.storagePoolLookupByTargetPath(lab.shared_path)
        except libvirt.libvirtError:
            host.dir_pool(conn, "cap-shared", lab.shared_path)
            made.append(host)
    yield
    for host in made:
        pool = host.connect().storagePoolLookupByName("cap-shared")
        pool.destroy()
        pool.undefine()


@pytest.fixture
def hot_hv1(lab, lab_guest, shared_pools):
    """Four busy guests on hv1 (shared disks: they can move live), an idle one on hv2."""
    busy = [lab_guest("hv1", "busy", shared=True) for _ in range(4)]
    idle = lab_guest("hv2", "idle", shared=True)
    time.sleep(2)  # let them boot before measuring: a booting guest's CPU is not its load
    return busy, idle


def test_group_stats_sees_the_hot_host(lab, hot_hv1, run_module):
    busy, idle = hot_hv1
    started = time.monotonic()
    stats = run_module("hotiron.virt.group_stats", {"hosts": hosts_of(lab), "interval": 2, "stats": ["cpu", "memory"]})
    took = time.monotonic() - started
    print("\ngroup_stats of 3 hosts over a 2 s interval: module %.2f s, sampling itself %.2f s"
          % (took, stats["took_s"]))
    assert not stats["failed"] and stats["source"] == "libvirt", stats
    loads = {name: host["load"] for name, host in stats["hosts"].items()}
    assert stats["group"]["hottest"] == "hv1"
    # The busy guests share the machine's cores with whatever else runs: bounds, not values.
    assert loads["hv1"] > 0.15 and loads["hv1"] > 5 * max(loads["hv2"], loads["hv3"], 0.01), loads
    assert stats["group"]["imbalance"] > 0.05
    vms = stats["hosts"]["hv1"]["vms"]
    assert sorted(vms) == sorted(g.name for g in busy)
    assert all(vm["cpu_percent"] > 5 and vm["memory_used_mib"] > 0 for vm in vms.values()), vms
    assert stats["hosts"]["hv2"]["vms"][idle.name]["cpu_percent"] < 10


def test_rebalance_plans_in_check_mode_then_moves_and_evens_the_group(lab, hot_hv1, run_module):
    busy, _idle = hot_hv1
    args = {"hosts": hosts_of(lab), "cpu_high": 0.25, "window": 120, "interval": 2, "max_imbalance": 0.1,
            "pinned": [busy[0].name], "anti_affinity": [[busy[1].name, busy[2].name]],
            "history": {"hv1": [[time.time() - 150, 0.9], [time.time() - 60, 0.9]]}}
    before = snapshot(lab)
    planned = run_module("hotiron.virt.rebalance", args, check=True, diff=True)
    assert differences(before, snapshot(lab)) == []
    assert planned["changed"] and not planned["failed"], planned
    moves = planned["plan"]["moves"]
    assert moves and all(m["from"] == "hv1" for m in moves)
    assert busy[0].name not in [m["vm"] for m in moves]  # pinned
    assert planned["plan"]["triggers"][0].startswith("hv1 at ")
    assert re.search(r" for \d+ min > 25 %$", planned["plan"]["triggers"][0]), planned["plan"]["triggers"]
    assert "after the move hv1" in moves[0]["reason"] and "imbalance" in moves[0]["reason"]
    assert planned["diff"]["after"]["imbalance"] < planned["diff"]["before"]["imbalance"]

    done = run_module("hotiron.virt.rebalance", args)
    assert done["changed"] and not done["failed"], done
    assert [m["ok"] for m in done["moves"]] == [True] * len(done["moves"])
    for move in done["moves"]:
        assert where(lab, move["vm"]) == [move["to"]]
    assert where(lab, busy[0].name) == ["hv1"]
    for one, other in ((busy[1], busy[2]), (busy[2], busy[1])):  # anti-affinity: never moved next to the other
        for move in [m for m in done["moves"] if m["vm"] == one.name]:
            assert where(lab, other.name) != [move["to"]]
    time.sleep(2)
    after = run_module("hotiron.virt.group_stats", {"hosts": hosts_of(lab), "interval": 2, "stats": ["cpu"]})
    assert after["group"]["imbalance"] < planned["imbalance_before"], (after["group"], planned["imbalance_before"])

    again = run_module("hotiron.virt.rebalance", dict(args, history={}))
    assert again["changed"] is False, again["plan"]


def test_a_host_in_maintenance_receives_nothing(lab, hot_hv1, run_module):
    conn = lab.host("hv3").connect()
    secret = conn.secretDefineXML("<secret ephemeral='no' private='no'><description>{\"state\": \"maintenance\"}"
                                  "</description><usage type='volume'><volume>hotiron-maintenance</volume>"
                                  "</usage></secret>")
    try:
        planned = run_module("hotiron.virt.rebalance", {"hosts": hosts_of(lab), "cpu_high": 0.25, "window": 0,
                                                        "interval": 2}, check=True)
        assert planned["plan"]["moves"] and all(m["to"] == "hv2" for m in planned["plan"]["moves"]), planned["plan"]
    finally:
        secret.undefine()


def test_bad_input_is_refused_before_anything(lab, run_module):
    for args, message in (({"cpu_high": 1.5}, "cpu_high: must be from 0.01 to 1, got 1.5"),
                          ({"sla_weights": {"gold": 0}}, "sla_weights.gold: must be a number above 0"),
                          ({"history": {"hv1": [[1, 2, 3]]}}, "history.hv1: must be a list of [time, load] pairs"),
                          ({"migration": {"bandwidth": -1}}, "migration.bandwidth: must be from 0 to 1048576")):
        result = run_module("hotiron.virt.rebalance", dict({"hosts": hosts_of(lab)}, **args))
        assert result["failed"] and message in result["msg"], result["msg"]

