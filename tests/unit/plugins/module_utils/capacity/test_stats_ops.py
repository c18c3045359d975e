# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sampling a group (capacity.stats_ops) against libvirt's test driver (the group of conftest.py):
hosts read at once, an unreachable one reported, the answer's shape.  (The test driver has no CPU counters: its VMs
have no rate, which is what a VM without one must look like; the lab tests measure real guests.)"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils.capacity import stats_ops


def test_every_host_is_sampled_and_an_unreachable_one_reported(group):
    answer = stats_ops.sample_group(group, groups=("cpu",), samples=3, interval=0.1)
    assert sorted(answer["hosts"]) == ["hv1", "hv2"] and answer["source"] == "libvirt"
    assert "hv3" in answer["unreachable"] and "Failed to connect" in answer["unreachable"]["hv3"]
    hv1 = answer["hosts"]["hv1"]
    assert sorted(hv1["vms"]) == ["a", "b"] and hv1["cpus"] == 4 and hv1["vm_count"] == 2
    assert all(vm["no_rate"] == "cpu.time missing from the earlier sample" for vm in hv1["vms"].values())
    assert len(hv1["series"]) == 2 and answer["group"]["hosts"] == 2
