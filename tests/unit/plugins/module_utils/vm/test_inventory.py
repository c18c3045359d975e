# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inventory plugin's decisions: records from domain XML, names, groups, addresses."""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.vm import inventory as vi

XML = """<domain type='kvm'>
  <name>web1</name><uuid>7f3a9c1e-0000-4000-8000-00000000a001</uuid>
  <description>front</description>
  <metadata><hotiron:vm xmlns:hotiron="https://hotiron.example/virt/1">
    <hotiron:owner>team-a</hotiron:owner><hotiron:resource_group>rg 1</hotiron:resource_group>
    <hotiron:sla>gold</hotiron:sla><hotiron:tags><hotiron:tag>web</hotiron:tag><hotiron:tag>eu-west</hotiron:tag></hotiron:tags>
  </hotiron:vm></metadata>
  <memory unit='GiB'>2</memory><currentMemory unit='MiB'>1536</currentMemory>
  <vcpu current='2'>4</vcpu>
  <devices>
    <interface type='network'><mac address='52:54:00:AA:00:01'/><source network='lan'/><model type='virtio'/></interface>
    <interface type='bridge'><mac address='52:54:00:aa:00:02'/><source bridge='br0'/></interface>
  </devices>
</domain>"""

ADDRESSES = {
    "vnet0": {"hwaddr": "52:54:00:aa:00:01", "addrs": [{"addr": "fe80::1", "prefix": 64, "type": 1},
                                                       {"addr": "10.0.0.5", "prefix": 24, "type": 0}]},
    "vnet1": {"hwaddr": "52:54:00:aa:00:02", "addrs": [{"addr": "2001:db8::5", "prefix": 64, "type": 1}]},
}


def rec(**changes):
    found = vi.record(XML, 1, "hv1", "qemu+tcp://hv1/system", ADDRESSES)
    found.update(changes)
    return found


def test_record_from_the_domain():
    found = rec()
    assert {k: found[k] for k in ("name", "uuid", "state", "hypervisor", "vcpus", "memory_mib", "description",
                                  "tags", "resource_group", "sla", "owner", "template", "os", "extra")} == {
        "name": "web1", "uuid": "7f3a9c1e-0000-4000-8000-00000000a001", "state": "running", "os": None, "extra": {},
        "hypervisor": "hv1", "vcpus": 2, "memory_mib": 1536, "description": "front", "tags": ["web", "eu-west"],
        "resource_group": "rg 1", "sla": "gold", "owner": "team-a", "template": False}
    assert found["interfaces"] == [
        {"mac": "52:54:00:aa:00:01", "network": "lan", "bridge": None, "model": "virtio",
         "addresses": ["fe80::1", "10.0.0.5"]},
        {"mac": "52:54:00:aa:00:02", "network": None, "bridge": "br0", "model": None,
         "addresses": ["2001:db8::5"]}]


def test_host_vars_prefer_a_usable_ipv4_address_then_ipv6():
    assert vi.host_vars(rec())["ansible_host"] == "10.0.0.5"
    only_v6 = rec(interfaces=[{"addresses": ["fe80::1", "::1", "2001:db8::5"]}])
    assert vi.host_vars(only_v6)["ansible_host"] == "2001:db8::5"
    assert "ansible_host" not in vi.host_vars(rec(interfaces=[{"addresses": ["127.0.0.1", "169.254.0.9"]}]))


def test_groups_are_safe_names():
    assert vi.groups(rec()) == ["libvirt_vms", "hypervisor_hv1", "state_running", "resource_group_rg_1",
                                "tag_web", "tag_eu_west", "sla_gold"]
    assert vi.groups(rec(resource_group=None, tags=[], sla=None, template=True, state="shutoff"), "x_") == [
        "x_libvirt_vms", "x_hypervisor_hv1", "x_state_shutoff", "x_templates"]


def test_a_name_on_two_hypervisors():
    a = rec(hypervisor="hv1", state="shutoff")
    b = rec(hypervisor="hv2", state="running")
    c = rec(name="db1")
    named, warnings = vi.inventory_names([a, b, c])
    assert [(name, r["hypervisor"]) for name, r in named] == [("db1", "hv1"), ("web1", "hv2"), ("web1@hv1", "hv1")]
    assert warnings == ["vm web1 is on hv2, hv1: the running one is web1, the others are named name@hypervisor"]


@pytest.mark.parametrize("uri, name", [
    ("qemu+tcp://127.77.5.1/system", "127.77.5.1"), ("qemu+ssh://root@hv2.example.com:2222/system", "hv2.example.com"),
    ("test:///var/tmp/hosts/hv7.xml", "hv7"), ("qemu:///system", "qemu____system"),
])
def test_hypervisor_names_from_uris(uri, name):
    assert vi.hypervisor_name(uri) == name


def test_host_vars_for_the_guest_agent_connection_and_guest_facts():
    values = vi.host_vars(rec(name="web1", guest={"hostname": "web1.lan"}), agent_connection=True)
    assert values["ansible_connection"] == "hotiron.virt.qemu_ga"
    assert values["hotiron_qemu_ga_uri"] == "qemu+tcp://hv1/system"
    assert values["hotiron_qemu_ga_domain"] == "web1"
    assert values["hotiron_guest"] == {"hostname": "web1.lan"}
    assert "guest" not in values["hotiron_vm"]
    plain = vi.host_vars(rec())
    assert not {"ansible_connection", "hotiron_qemu_ga_uri", "hotiron_qemu_ga_domain", "hotiron_guest"} & set(plain)
