# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What resource_schedule reads from a definition and keeps in the metadata (capacity.schedule_ops)."""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import schedule_ops as so

XML = """<domain type='kvm'><name>a</name><memory unit='KiB'>2097152</memory><currentMemory unit='KiB'>1048576</currentMemory>
<vcpu current='2'>4</vcpu><cputune><shares>2048</shares><period>100000</period><quota>25000</quota></cputune>
<metadata><hotiron:vm xmlns:hotiron="https://hotiron.example/virt/1"><hotiron:sla>gold</hotiron:sla></hotiron:vm></metadata>
</domain>"""


def test_current_values_of_a_definition():
    assert so.current_values(dx.parse(XML)) == {"vcpus": 2, "memory_mib": 1024, "cpu_shares": 2048, "vcpu_quota": 25.0,
                                                "sla": "gold"}
    bare = dx.parse("<domain><name>b</name><memory>524288</memory><vcpu>1</vcpu></domain>")
    assert so.current_values(bare) == {"vcpus": 1, "memory_mib": 512, "cpu_shares": None, "vcpu_quota": None, "sla": None}


@pytest.mark.parametrize("values", [
    {"vcpus": 2, "memory_mib": 1024, "cpu_shares": 2048, "vcpu_quota": 25.0, "sla": "gold"},
    {"vcpus": 1, "memory_mib": 512, "cpu_shares": None, "vcpu_quota": None, "sla": None},
])
def test_declared_values_round_trip_through_the_metadata(values):
    assert so.parse_declared(so.format_declared(values)) == values


def test_a_damaged_record_is_ignored():
    assert so.parse_declared("vcpus=2 memory_mib=1") is None
    assert so.parse_declared(None) is None


def test_changes_name_only_what_differs():
    class Vm:
        current = {"vcpus": 2, "memory_mib": 1024, "cpu_shares": None, "vcpu_quota": None, "sla": "gold"}
    wanted = dict(Vm.current, vcpus=4, cpu_shares=4096)
    assert so.changes_for(Vm, wanted) == {"vcpus": [2, 4], "cpu_shares": [None, 4096]}
