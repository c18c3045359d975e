# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a host can still take and what a VM asks of it (hosts.capacity_ops), read from libvirt's test driver."""

from __future__ import annotations

import libvirt
import pytest

from migration_examples import two_hosts  # tests/unit/migration_examples.py

from ansible_collections.hotiron.virt.plugins.module_utils.hosts import capacity_ops



@pytest.fixture
def hosts(tmp_path):
    """web1 running on the destination only; db1 on the source only; both1 running on both."""
    return two_hosts(tmp_path)


def test_memory_units():
    assert capacity_ops.memory_mib("<domain><memory unit='GiB'>2</memory></domain>") == 2048
    assert capacity_ops.memory_mib("<domain><memory>65536</memory></domain>") == 64


def test_host_capacity_counts_running_vms(hosts):
    src = hosts[0]
    cap = capacity_ops.host_capacity(libvirt.open(src), "hv1", cpu_ratio=2.0, reserved_memory_mib=1024)
    # 8 GiB - 1 GiB reserved - 2 x 256 MiB running; 4 CPUs x 2 - 2 vCPUs
    assert cap.free_memory_mib == 8192 - 1024 - 512
    assert cap.free_vcpus == 6
    assert cap.vms == frozenset({"db1", "both1"})
    assert cap.in_maintenance is False  # the test driver has no secrets: never in maintenance
