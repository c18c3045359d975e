# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a host can still take and what a VM asks of it (hosts.capacity_ops), read from libvirt's test driver."""

from __future__ import annotations

import re

import libvirt
import pytest

from migration_examples import two_hosts  # tests/unit/migration_examples.py

from ansible_collections.hotiron.virt.plugins.module_utils.hosts import capacity_ops
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.cpu_compat import HostCpu


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


def test_vcpus_and_the_demand_of_a_vm(hosts):
    assert capacity_ops.vcpu_count("<domain><vcpu placement='static'>6</vcpu></domain>") == 6
    assert capacity_ops.vcpu_count("<domain/>") == 1
    assert capacity_ops.memory_mib("<domain/>") == 0
    conn = libvirt.open(hosts[0])
    try:
        demand = capacity_ops.demand_of(conn.lookupByName("db1"))
    finally:
        conn.close()
    assert (demand.name, demand.memory_mib, demand.vcpus) == ("db1", 256, 1)


def test_activity_of_a_domain(hosts):
    conn = libvirt.open(hosts[0])
    try:
        dom = conn.lookupByName("db1")
        assert capacity_ops.is_active(dom)
        dom.destroy()
        assert not capacity_ops.is_active(dom)
        assert capacity_ops.is_active(None) is False
        cap = capacity_ops.host_capacity(conn, "hv1", cpu_ratio=1.0, reserved_memory_mib=0, in_maintenance=True)
    finally:
        conn.close()
    assert cap.vms == frozenset({"both1"}) and cap.free_vcpus == 3 and cap.in_maintenance is True
    assert cap.free_memory_mib == 8192 - 256


def test_a_host_with_less_than_its_reservation_has_nothing_free(hosts):
    conn = libvirt.open(hosts[1])
    try:
        cap = capacity_ops.host_capacity(conn, "hv2", cpu_ratio=0.25, reserved_memory_mib=64 * 1024)
    finally:
        conn.close()
    assert (cap.free_memory_mib, cap.free_vcpus, cap.vms) == (0, 0, frozenset({"web1", "both1"}))


CAPS = """<capabilities><host><uuid>x</uuid></host>
  <guest><os_type>hvm</os_type><arch name='x86_64'><emulator>/usr/bin/qemu-system-x86_64</emulator>
    <machine maxCpus='255'>pc-i440fx-10.0</machine><machine canonical='pc-i440fx-10.0' maxCpus='255'>pc</machine>
    <machine maxCpus='4096'>pc-q35-10.0</machine><machine canonical='pc-q35-10.0' maxCpus='4096'>q35</machine>
  </arch></guest></capabilities>"""


def test_machine_types_from_capabilities_and_the_vms_own():
    assert capacity_ops.machine_types(CAPS) == {"pc-i440fx-10.0", "pc", "pc-q35-10.0", "q35"}
    assert capacity_ops.machine_types("<capabilities><host/></capabilities>") is None   # test driver: not known
    assert capacity_ops.machine_of("<domain><os><type arch='x86_64' machine='pc-q35-10.0'>hvm</type></os></domain>") == "pc-q35-10.0"
    assert capacity_ops.machine_of("<domain><os><type>hvm</type></os></domain>") == ""


def test_cpu_offers_of_a_driver_that_cannot_tell_are_not_known(hosts):
    """libvirt 9's test driver has no domain capabilities (11's has): then nothing is refused on
    CPUs; where it has them, each domain type it offers has its HostCpu."""
    conn = libvirt.open(hosts[0])
    offers = capacity_ops.host_cpus(conn)
    assert offers is None or (set(offers) <= set(capacity_ops.domain_types(conn.getCapabilities()))
                              and all(isinstance(o, HostCpu) for o in offers.values()))
    assert capacity_ops.host_capacity(conn, "hv1").cpu_offers == offers
    assert capacity_ops.domain_types(CAPS.replace("<emulator>", "<domain type='qemu'/><domain type='kvm'/><emulator>")) \
        == ["qemu", "kvm"]


def test_the_demand_of_a_vm_carries_its_cpu_need(hosts):
    conn = libvirt.open(hosts[0])
    dom = conn.lookupByName("db1")
    assert capacity_ops.demand_of(dom).cpu.mode == ""          # no <cpu>: QEMU's default model
    xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).replace(
        "</vcpu>", "</vcpu><cpu mode='custom' match='exact'><model fallback='forbid'>Westmere-v1</model>"
                   "<feature policy='require' name='x2apic'/></cpu>").replace("<name>db1</name>", "<name>cpu1</name>")
    dom = conn.defineXML(re.sub("<uuid>[^<]*</uuid>", "", xml))      # a VM of its own, not running
    need = capacity_ops.demand_of(dom).cpu
    assert (need.mode, need.model, need.features) == ("custom", "Westmere-v1", {"x2apic"})
    # host-passthrough needs what this host's host-model has: not known on the test driver
    assert capacity_ops.cpu_need(conn, "<domain type='test'><cpu mode='host-passthrough'/></domain>").mode == \
        "host-passthrough"
    # a stopped one starts with its next host's own CPU: its host is not even asked
    need = capacity_ops.cpu_need(Unasked(), "<domain type='kvm'><cpu mode='host-passthrough'/></domain>", running=False)
    assert need.mode == "host-passthrough" and not need.features


class Unasked:
    """A connection that must not be asked anything."""

    def __getattr__(self, name):
        raise AssertionError("the host was asked %s" % name)
