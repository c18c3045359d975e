# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load model: rates from two bulk samples, host and group loads, sustained thresholds."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.hotiron.virt.plugins.module_utils.capacity.load import (
    HostLoad,
    LoadError,
    Sample,
    group_load,
    host_load,
    imbalance,
    pstdev,
    sustained_above,
    sustained_below,
    vm_load,
    vm_loads,
)

GIB_KIB = 1024 * 1024


def stats(cpu_s=10.0, vcpus=2, mem_kib=2 * GIB_KIB, rss_kib=GIB_KIB, disks=(), nics=(), state=1):
    """A stats dict shaped as getAllDomainStats returns it for a running QEMU guest.

    ``disks`` are ``(name, rd, wr)`` or ``(name, rd, wr, backing_index)``; ``nics`` ``(name, rx, tx)``.
    """
    out = {"state.state": state, "state.reason": 1, "cpu.time": int(cpu_s * 1e9), "cpu.user": 1, "cpu.system": 1,
           "balloon.current": mem_kib, "balloon.maximum": mem_kib, "balloon.rss": rss_kib,
           "vcpu.current": vcpus, "vcpu.maximum": vcpus, "block.count": len(disks), "net.count": len(nics)}
    for i, disk in enumerate(disks):
        out.update({"block.%d.name" % i: disk[0], "block.%d.path" % i: "/img/%s.qcow2" % disk[0],
                    "block.%d.rd.bytes" % i: disk[1], "block.%d.wr.bytes" % i: disk[2], "block.%d.rd.reqs" % i: 1})
        if len(disk) > 3:
            out["block.%d.backingIndex" % i] = disk[3]
    for i, nic in enumerate(nics):
        out.update({"net.%d.name" % i: nic[0], "net.%d.rx.bytes" % i: nic[1], "net.%d.tx.bytes" % i: nic[2],
                    "net.%d.rx.pkts" % i: 1})
    return out


def test_rates_of_a_running_vm():
    before = stats(cpu_s=100.0, disks=[("vda", 1000, 2000), ("vdb", 0, 0)], nics=[("vnet0", 500, 700)])
    after = stats(cpu_s=130.0, disks=[("vda", 7000, 2000), ("vdb", 600, 1200)], nics=[("vnet0", 6500, 1300)])
    load = vm_load("web1", before, after, 60.0)
    assert load.no_rate is None
    assert load.cpu_cpus == pytest.approx(0.5)
    assert load.cpu_percent == pytest.approx(50.0)
    assert load.disk_read_bps == pytest.approx((6000 + 600) / 60.0)
    assert load.disk_write_bps == pytest.approx(1200 / 60.0)
    assert load.net_rx_bps == pytest.approx(100.0)
    assert load.net_tx_bps == pytest.approx(10.0)
    assert (load.memory_mib, load.memory_max_mib, load.memory_used_mib) == (2048, 2048, 1024)
    assert (load.vcpus, load.state) == (2, "running")


def test_memory_is_from_the_later_sample_and_balloon_maximum_kept_apart():
    after = dict(stats(mem_kib=GIB_KIB), **{"balloon.maximum": 4 * GIB_KIB})
    load = vm_load("a", stats(mem_kib=2 * GIB_KIB), after, 10.0)
    assert (load.memory_mib, load.memory_max_mib) == (1024, 4096)


@pytest.mark.parametrize(
    "before, after, ids, reason",
    [
        (stats(cpu_s=500), stats(cpu_s=3), ({}, {}), "cpu.time went down: counters restarted (migrated or restarted)"),
        (stats(cpu_s=5), stats(cpu_s=9), ({"a": 4}, {"a": 7}), "domain id changed 4 -> 7: a new QEMU process (migrated or restarted)"),
        (stats(disks=[("vda", 900, 0)]), stats(cpu_s=11, disks=[("vda", 100, 0)]), ({}, {}),
         "block rd.bytes of vda went down (900 -> 100): counters restarted"),
        (stats(nics=[("vnet0", 0, 900)]), stats(cpu_s=11, nics=[("vnet0", 0, 5)]), ({}, {}),
         "net tx.bytes of vnet0 went down (900 -> 5): counters restarted"),
        ({"state.state": 5}, stats(), ({}, {}), "cpu.time missing from the earlier sample"),
        (stats(), {"state.state": 5, "state.reason": 1}, ({}, {}), "cpu.time missing from the later sample"),
        (stats(cpu_s=0, vcpus=2), stats(cpu_s=40, vcpus=2), ({}, {}), "cpu.time grew by 4.0 CPUs with 2 vCPUs: samples inconsistent"),
    ],
    ids=["cpu-down", "new-domain-id", "disk-down", "net-down", "was-off", "now-off", "impossible-cpu"],
)
def test_no_rate_when_the_samples_are_not_of_one_qemu_run(before, after, ids, reason):
    load = vm_load("a", before, after, 10.0, ids[0], ids[1])
    assert load.no_rate == reason
    assert (load.cpu_cpus, load.cpu_percent, load.disk_read_bps, load.net_rx_bps) == (None, None, None, None)


def test_same_domain_id_and_growing_counters_give_a_rate():
    load = vm_load("a", stats(cpu_s=5), stats(cpu_s=6), 10.0, {"a": 4}, {"a": 4})
    assert load.cpu_cpus == pytest.approx(0.1)


def test_emulator_threads_may_take_a_vm_slightly_above_its_vcpus():
    load = vm_load("a", stats(cpu_s=0, vcpus=1), stats(cpu_s=15, vcpus=1), 10.0)
    assert load.cpu_cpus == pytest.approx(1.5)


def test_devices_pair_by_name_not_index_and_hotplug_is_ignored():
    before = stats(disks=[("vda", 100, 0), ("vdb", 5000, 0)])
    # vdb unplugged, vdc plugged: vdc now has index 1 with a small counter.
    after = stats(cpu_s=11, disks=[("vda", 300, 0), ("vdc", 10, 0)])
    load = vm_load("a", before, after, 10.0)
    assert load.no_rate is None
    assert load.disk_read_bps == pytest.approx(20.0)


def test_backing_chain_entries_are_not_counted_twice():
    before = stats(disks=[("vda", 100, 100), ("vda", 50, 0, 1)])
    after = stats(cpu_s=11, disks=[("vda", 200, 300), ("vda", 90, 0, 1)])
    load = vm_load("a", before, after, 10.0)
    assert (load.disk_read_bps, load.disk_write_bps) == (pytest.approx(10.0), pytest.approx(20.0))


def test_vm_loads_covers_the_later_sample_only():
    before = Sample(100.0, {"old": stats(), "both": stats(cpu_s=10)}, {"old": 1, "both": 2})
    after = Sample(110.0, {"both": stats(cpu_s=12), "new": stats()}, {"both": 2, "new": 3})
    loads = vm_loads(before, after)
    assert sorted(loads) == ["both", "new"]
    assert loads["both"].cpu_cpus == pytest.approx(0.2)
    assert loads["new"].no_rate == "not in the earlier sample"
    assert loads["new"].as_dict()["cpu_cpus"] is None


@pytest.mark.parametrize("later", [100.0, 99.0])
def test_samples_out_of_order_are_refused(later):
    with pytest.raises(LoadError, match="must be taken after"):
        vm_loads(Sample(100.0, {}), Sample(later, {}))


COUNTER = st.integers(min_value=0, max_value=10 ** 15)


@settings(max_examples=300, deadline=None)
@given(st.tuples(COUNTER, COUNTER), st.tuples(COUNTER, COUNTER), st.tuples(COUNTER, COUNTER),
       st.integers(1, 64), st.floats(0.5, 3600), st.booleans())
def test_a_rate_is_never_negative_nor_beyond_the_vm(cpu_ns, rd, tx, vcpus, dt, same_id):
    before = stats(vcpus=vcpus, disks=[("vda", rd[0], 0)], nics=[("vnet0", 0, tx[0])])
    before["cpu.time"] = cpu_ns[0]
    after = stats(vcpus=vcpus, disks=[("vda", rd[1], 0)], nics=[("vnet0", 0, tx[1])])
    after["cpu.time"] = cpu_ns[1]
    load = vm_load("a", before, after, dt, {"a": 1}, {"a": 1 if same_id else 2})
    went_down = cpu_ns[1] < cpu_ns[0] or rd[1] < rd[0] or tx[1] < tx[0]
    if went_down or not same_id:
        assert load.cpu_cpus is None and load.no_rate
        return
    if load.cpu_cpus is None:
        assert "inconsistent" in load.no_rate
        assert (cpu_ns[1] - cpu_ns[0]) / 1e9 / dt > vcpus + 1
        return
    assert 0 <= load.cpu_cpus <= vcpus + 1
    assert load.disk_read_bps >= 0 and load.net_tx_bps >= 0
    assert load.cpu_percent == pytest.approx(100 * load.cpu_cpus)


# --- hosts and groups ------------------------------------------------------------------------

def vmload(name, cpu, vcpus=2, mem=1024, used=512):
    return vm_load(name, stats(cpu_s=0, vcpus=vcpus, mem_kib=mem * 1024, rss_kib=used * 1024),
                   stats(cpu_s=cpu * 10, vcpus=vcpus, mem_kib=mem * 1024, rss_kib=used * 1024), 10.0)


def test_host_load_is_its_vms_cpu_over_its_cpus():
    restarted = vm_load("c", stats(cpu_s=50), stats(cpu_s=1), 10.0)
    host = host_load("hv1", 4, 8192, [vmload("a", 1.0), vmload("b", 0.5, vcpus=4, mem=2048, used=1024), restarted])
    assert host.cpu_used == pytest.approx(1.5)
    assert host.load == pytest.approx(0.375)
    assert host.vcpus_committed == 8
    assert host.memory_committed_mib == 1024 + 2048 + 2048
    assert host.memory_committed == pytest.approx(5120 / 8192)
    assert host.memory_used_mib == 512 + 1024 + 1024
    assert host.vm_count == 3
    assert host.no_rate == ("c",)
    assert host.as_dict()["no_rate"] == ["c"]


def test_empty_host_has_no_load():
    host = host_load("hv1", 8, 4096, [])
    assert (host.load, host.vm_count, host.memory_committed) == (0.0, 0, 0.0)


@pytest.mark.parametrize("cpus, mem", [(0, 1024), (4, 0), (-1, 1024)])
def test_host_needs_cpus_and_memory(cpus, mem):
    with pytest.raises(LoadError, match="hv1: cpus and memory_mib must be positive"):
        host_load("hv1", cpus, mem, [])


def hl(name, load, maint=False):
    return HostLoad(name, 1, 1, load, load, 0, 0, 0, 0, 0, 0, (), maint)


@pytest.mark.parametrize(
    "loads, expected",
    [([], 0.0), ([0.5], 0.0), ([0.5, 0.5], 0.0), ([0.2, 0.6], 0.2), ([0.9, 0.3, 0.3], math.sqrt(0.08))],
)
def test_imbalance_is_population_stdev(loads, expected):
    assert imbalance([hl("h%d" % i, x) for i, x in enumerate(loads)]) == pytest.approx(expected)
    assert pstdev(loads) == pytest.approx(expected)


def test_hosts_in_maintenance_do_not_count():
    hosts = [hl("a", 0.2), hl("b", 0.6), hl("c", 0.0, maint=True)]
    assert imbalance(hosts) == pytest.approx(0.2)
    summary = group_load(hosts)
    assert summary == {"hosts": 2, "in_maintenance": ["c"], "imbalance": pytest.approx(0.2),
                       "mean_load": pytest.approx(0.4), "max_load": 0.6, "hottest": "b"}


def test_group_of_no_active_host():
    assert group_load([hl("a", 0.5, maint=True)])["hottest"] is None


# --- sustained -------------------------------------------------------------------------------

def series(start, step, values):
    return [(start + i * step, v) for i, v in enumerate(values)]


@pytest.mark.parametrize(
    "samples, now, holds, since, reason",
    [
        # 0..120 every 20 s, all above, window 120 s ending at 120: covered from the first sample.
        (series(0, 20, [0.9] * 7), 120, True, 0, "above 0.8 for 120 s (window 120 s)"),
        # The run began at 10 (the sample before the first above is at 0: its interval starts there).
        ([(0, 0.5)] + series(10, 10, [0.9] * 12), 130, True, 0, "above 0.8 for 130 s (window 120 s)"),
        ([(0, 0.5), (20, 0.5)] + series(30, 10, [0.9] * 10), 120, False, 20, "above 0.8 for 100 s only, window 120 s"),
        # History starts inside the window: not enough.
        (series(10, 10, [0.9] * 11), 120, False, 10, "above 0.8 for 110 s only, window 120 s"),
        # One sample below inside the window.
        (series(0, 20, [0.9, 0.9, 0.9, 0.7, 0.9, 0.9, 0.9]), 120, False, 60, "above 0.8 for 60 s only, window 120 s"),
        (series(0, 20, [0.9] * 6 + [0.8]), 120, False, None, "latest sample 0.8 is not above 0.8"),
        ([], 120, False, None, "no samples"),
        # Samples after `now` are ignored.
        (series(0, 20, [0.9] * 7) + [(140, 0.1)], 120, True, 0, "above 0.8 for 120 s (window 120 s)"),
        # A single old sample does not cover the window.
        ([(0, 0.9)], 120, False, 0, "no sample within the last 120 s"),
        # Unsorted input is sorted first.
        (list(reversed(series(0, 20, [0.9] * 7))), 120, True, 0, "above 0.8 for 120 s (window 120 s)"),
    ],
)
def test_sustained_above(samples, now, holds, since, reason):
    verdict = sustained_above(samples, 0.8, 120, now)
    assert (verdict.holds, verdict.since, verdict.reason) == (holds, since, reason)


def test_sustained_with_a_gap_limit():
    samples = [(0, 0.9), (20, 0.9), (100, 0.9), (120, 0.9)]
    assert sustained_above(samples, 0.8, 120, 120).holds
    gapped = sustained_above(samples, 0.8, 120, 120, max_gap_s=30)
    assert (gapped.holds, gapped.since) == (False, 100)
    stale = sustained_above(series(0, 20, [0.9] * 7), 0.8, 60, 200, max_gap_s=30)
    assert (stale.holds, stale.reason) == (False, "latest sample is 80 s old (more than 30 s)")


def test_sustained_below_clears_an_alert():
    samples = series(0, 30, [0.9, 0.9, 0.5, 0.4, 0.5, 0.3])
    assert sustained_below(samples, 0.7, 60, 150).holds
    # The first sample below is at 60: its interval, and the run, began at 30.
    assert sustained_below(samples, 0.7, 120, 150).holds
    assert not sustained_below(samples, 0.7, 121, 150).holds
    assert sustained_below(samples, 0.7, 121, 150).since == 30
    assert not sustained_above(samples, 0.7, 60, 150).holds


def test_zero_window_is_the_latest_sample():
    assert sustained_above([(0, 0.9)], 0.8, 0, 500).holds
    with pytest.raises(LoadError, match="window_s"):
        sustained_above([(0, 0.9)], 0.8, -1, 500)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 600), st.floats(0, 1)), max_size=30), st.integers(1, 300), st.integers(0, 700))
def test_sustained_iff_every_sample_of_the_window_is_above_and_history_reaches_its_start(samples, window, now):
    verdict = sustained_above(samples, 0.5, window, now)
    considered = [(t, v) for t, v in samples if t <= now]
    inside = [v for t, v in considered if t > now - window]
    expected = bool(inside) and all(v > 0.5 for v in inside) and any(t <= now - window for t, _v in considered)
    assert verdict.holds == expected
    if verdict.holds:
        assert verdict.since <= now - window
