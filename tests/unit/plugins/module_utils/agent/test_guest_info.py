# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The agent's facts from libvirt's guest info (typed parameters as python-libvirt returns them)."""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils.agent import guest_info

# dom.guestInfo(0, 0) of a Debian 12 guest (keys as libvirt 9.0 names them; values shortened).
DEBIAN = {
    "user.count": 1, "user.0.name": "root", "user.0.login-time": 1733580000000,
    "os.id": "debian", "os.name": "Debian GNU/Linux", "os.pretty-name": "Debian GNU/Linux 12 (bookworm)",
    "os.version": "12 (bookworm)", "os.version-id": "12", "os.kernel-release": "6.1.0-28-amd64",
    "os.kernel-version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1", "os.machine": "x86_64",
    "timezone.name": "UTC", "timezone.offset": 0, "hostname": "web1",
    "fs.count": 2,
    "fs.0.name": "vda", "fs.0.mountpoint": "/", "fs.0.fstype": "ext4", "fs.0.total-bytes": 1000, "fs.0.used-bytes": 400,
    "fs.0.disk.count": 1, "fs.0.disk.0.alias": "vda", "fs.0.disk.0.device": "/dev/vda",
    "fs.1.name": "vdb", "fs.1.mountpoint": "/srv", "fs.1.fstype": "xfs",
    "fs.1.disk.count": 0,
    "disk.count": 1, "disk.0.name": "/dev/vda", "disk.0.partition": False, "disk.0.alias": "vda",
}
AGENT_ADDRESSES = {
    "lo": {"hwaddr": "00:00:00:00:00:00", "addrs": [{"addr": "127.0.0.1", "prefix": 8, "type": 0}]},
    "eth0": {"hwaddr": "52:54:00:AA:00:01", "addrs": [{"addr": "198.18.7.10", "prefix": 24, "type": 0},
                                                      {"addr": "fe80::1", "prefix": 64, "type": 1}]},
}


def test_nest_makes_lists_of_indices_and_drops_counts():
    assert guest_info.nest({"a.count": 2, "a.1.b-c": 2, "a.0.b-c": 1, "x": 3}) == {"a": [{"b_c": 1}, {"b_c": 2}], "x": 3}
    assert guest_info.nest({}) == {}
    assert guest_info.nest({"a": 1, "a.b": 2}) == {"a": 1}     # a scalar and a subtree of one name


def test_facts_of_a_debian_guest():
    found = guest_info.facts(DEBIAN, AGENT_ADDRESSES)
    assert found["hostname"] == "web1"
    assert found["os"]["pretty_name"] == "Debian GNU/Linux 12 (bookworm)"
    assert found["os"]["kernel_release"] == "6.1.0-28-amd64"
    assert found["timezone"] == {"name": "UTC", "offset": 0}
    assert found["users"] == [{"name": "root", "login_time": 1733580000000}]
    assert found["filesystems"] == [
        {"name": "vda", "mountpoint": "/", "fstype": "ext4", "total_bytes": 1000, "used_bytes": 400,
         "disks": [{"alias": "vda", "device": "/dev/vda"}]},
        {"name": "vdb", "mountpoint": "/srv", "fstype": "xfs", "total_bytes": None, "used_bytes": None, "disks": []}]
    assert found["disks"] == [{"name": "/dev/vda", "partition": False, "alias": "vda"}]
    assert [nic["name"] for nic in found["interfaces"]] == ["eth0", "lo"]
    assert found["interfaces"][0] == {"name": "eth0", "hwaddr": "52:54:00:aa:00:01", "addresses": [
        {"address": "198.18.7.10", "prefix": 24, "type": "ipv4"}, {"address": "fe80::1", "prefix": 64, "type": "ipv6"}]}
    assert guest_info.addresses(found) == ["198.18.7.10"]
    assert guest_info.addresses(found, "ipv6") == []


def test_interfaces_of_guest_info_are_preferred():
    params = dict(DEBIAN, **{"if.count": 1, "if.0.name": "eth0", "if.0.hwaddr": "52:54:00:aa:00:02",
                             "if.0.addr.count": 1, "if.0.addr.0.type": "ipv4", "if.0.addr.0.addr": "10.0.0.5",
                             "if.0.addr.0.prefix": 8})
    found = guest_info.facts(params, AGENT_ADDRESSES)
    assert found["interfaces"] == [{"name": "eth0", "hwaddr": "52:54:00:aa:00:02",
                                    "addresses": [{"address": "10.0.0.5", "prefix": 8, "type": "ipv4"}]}]


def test_facts_of_an_agent_that_says_little():
    assert guest_info.facts({}) == {"hostname": None, "os": {}, "timezone": {}, "users": [], "filesystems": [],
                                    "disks": [], "interfaces": []}
