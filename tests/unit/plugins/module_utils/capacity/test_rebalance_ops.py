# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rebalancing a group (capacity.rebalance_ops) against libvirt's test driver (the group of
conftest.py): nothing measured plans nothing, the load history file, SLA weights, CPU reservations,
pools.  (The test driver has no CPU counters: its VMs have no rate; the lab tests measure real guests.)"""

from __future__ import annotations

import json

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import rebalance_ops
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import stats_ops


def test_rebalance_with_nothing_measured_plans_nothing(group):
    params = dict(hosts={k: v for k, v in group.items() if k != "hv3"}, prometheus_url=None, interval=0.1,
                  timeout=5, cpu_high=0.8, window=0, max_imbalance=0.1, max_moves=5, min_gain=0.002, cooldown=0,
                  cpu_allocation_ratio=4.0, reserved_host_memory=256, sla_weights={}, history={},
                  history_file=None, pinned=[], affinity=[], anti_affinity=[])
    result = rebalance_ops.run_rebalance(params, check_mode=True)
    assert result["changed"] is False and result["plan"]["moves"] == []
    assert result["msg"].startswith("nothing to do")


def test_the_history_file_keeps_the_window_and_drops_what_is_older(tmp_path):
    path = str(tmp_path / "load.json")
    assert rebalance_ops.load_history(path) == {}
    rebalance_ops.save_history(path, {"hv1": [(100.0, 0.9), (190.0, 0.95)], "hv2": [(10.0, 0.1)]}, keep_s=60, now=200.0)
    assert rebalance_ops.load_history(path) == {"hv1": [(190.0, 0.95)], "hv2": []}
    merged = rebalance_ops._merge_history({"hv1": [(1, 0.5)]}, {"hv1": [[2, 0.6]], "hv2": [[2, 0.1]]}, {"hv1": [(1, 0.5)]})
    assert merged == {"hv1": [(1.0, 0.5), (2.0, 0.6)], "hv2": [(2.0, 0.1)]}
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(lc.VirtError, match="cannot read the load history"):
        rebalance_ops.load_history(str(tmp_path / "bad.json"))
    assert json.loads(open(path, encoding="utf-8").read())["hv1"] == [[190.0, 0.95]]


def test_unknown_sla_classes_weigh_as_bronze_and_bad_weights_are_refused():
    params = dict(cpu_high=0.8, window=0, max_imbalance=0.1, max_moves=5, min_gain=0.002, cooldown=0,
                  cpu_allocation_ratio=4.0, reserved_host_memory=256, sla_weights={"platinum": 8})
    policy, warnings = rebalance_ops._policy(params, {"gold", "batch"})
    assert policy.sla_weights["batch"] == 1.0 and policy.sla_weights["platinum"] == 8.0
    assert warnings == ["SLA class batch has no weight in sla_weights: weighted 1 (as bronze)"]


def test_a_cpu_reservation_is_the_least_a_vm_is_planned_at():
    assert rebalance_ops.planned_cpu(0.1, {"cpu_reservation": "2"}) == 2.0
    assert rebalance_ops.planned_cpu(3.0, {"cpu_reservation": "2"}) == 3.0
    assert rebalance_ops.planned_cpu(None, {"cpu_reservation": "1.5"}) == 1.5
    assert rebalance_ops.planned_cpu(None, {}) is None and rebalance_ops.planned_cpu(0.4, {"cpu_reservation": "x"}) == 0.4


POOL = """<pool type="dir"><name>local</name><target><path>/data/vms</path></target>
  <volume type="file"><name>a.img</name><capacity unit="MiB">10</capacity><target><path>/data/vms/a.img</path></target></volume>
</pool>"""
WITH_DISK = """<domain type="test"><name>%s</name><memory unit="MiB">256</memory><vcpu>2</vcpu>
  <os><type arch="x86_64">hvm</type></os><devices><disk type="file" device="disk"><source file="%s"/>
  <target dev="vda" bus="virtio"/></disk></devices></domain>"""


def test_a_vm_on_a_directory_no_other_host_has_a_pool_over_is_not_planned(tmp_path, host_xml):
    """The inputs rebalance gathers: each VM's disks, each host's pools (listed afresh)."""
    (tmp_path / "hv1.xml").write_text(host_xml % (WITH_DISK % ("a", "/data/vms/a.img") + POOL))
    (tmp_path / "hv2.xml").write_text(host_xml % "")
    hosts = {"hv1": "test://%s" % (tmp_path / "hv1.xml"), "hv2": "test://%s" % (tmp_path / "hv2.xml")}
    readings = stats_ops.read_group(hosts, groups=("cpu",), samples=2, interval=0.1, with_policy=True)
    try:
        rebalance_ops.read_pools(readings)
    finally:
        for reading in readings.values():
            reading.conn.close()
    assert [(d.target, d.kind, d.source) for d in readings["hv1"].disks["a"]] == [("vda", "file", "/data/vms/a.img")]
    (pool,) = readings["hv1"].pools
    assert (pool.name, pool.type, pool.path) == ("local", "dir", "/data/vms") and "/data/vms/a.img" in pool.volumes
    assert readings["hv2"].pools == ()
    hosts_, vms, _history, _unreachable = rebalance_ops.from_readings(
        dict(hosts=hosts, prometheus_url=None, affinity=[], anti_affinity=[], pinned=[]), readings, 100.0)
    assert vms[0].disks == readings["hv1"].disks["a"] and hosts_[0].pools == readings["hv1"].pools
