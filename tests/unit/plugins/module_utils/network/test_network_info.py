# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""network_info (leases as libvirt's bindings return them) and network_info_ops against libvirt's
test driver with our own host (tests/data/storage/host.xml)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.network import network_info as ni
from ansible_collections.hotiron.virt.plugins.module_utils.network import network_info_ops as ops
from ansible_collections.hotiron.virt.plugins.module_utils.network import network_xml as nx

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "storage", "host.xml"))

# virNetworkGetDHCPLeases as libvirt-python returns it (one IPv6 and two IPv4 leases).
RAW = [
    {"iface": "virbr1", "expirytime": 1796640300, "type": 1, "mac": "52:54:00:00:00:11", "iaid": "5570321",
     "ipaddr": "fd00::11", "prefix": 64, "hostname": None, "clientid": "00:04:a1:b2"},
    {"iface": "virbr1", "expirytime": 1796640000, "type": 0, "mac": "52:54:00:00:00:10", "iaid": None,
     "ipaddr": "192.168.122.10", "prefix": 24, "hostname": "web1", "clientid": "01:52:54:00:00:00:10"},
    {"iface": "virbr1", "expirytime": 1796640100, "type": 0, "mac": "52:54:00:00:00:09", "iaid": None,
     "ipaddr": "192.168.122.9", "prefix": 24, "hostname": "", "clientid": ""},
]


def test_leases_sorted_by_family_and_address():
    leases = ni.leases(RAW)
    assert [entry["ip"] for entry in leases] == ["192.168.122.9", "192.168.122.10", "fd00::11"]
    assert leases[1] == {"mac": "52:54:00:00:00:10", "ip": "192.168.122.10", "prefix": 24, "family": "ipv4", "hostname": "web1",
                         "client_id": "01:52:54:00:00:00:10", "iaid": None, "expiry_time": 1796640000, "interface": "virbr1"}
    assert leases[0]["hostname"] is None and leases[0]["client_id"] is None
    assert leases[2]["family"] == "ipv6" and leases[2]["iaid"] == "5570321"
    assert ni.leases(None) == []


@pytest.fixture
def conn(open_host):
    conn = open_host(HOST)
    for name, start in (("lab-iso", True), ("lab-off", False)):
        net = conn.networkDefineXML(nx.network_xml(nx.validate_network(dict(
            name=name, mode="isolated", bridge="hi3" + name[4:], ips=[dict(address="10.255.%d.1" % (7 if start else 8), prefix=24)],
            dns_hosts=[dict(ip="10.255.7.5", hostnames=["web"])]))))
        if start:
            net.create()
    return conn


def names(networks):
    return [n["name"] for n in networks]


def test_every_network_sorted_and_described(conn):
    networks, warnings = ops.networks_info(conn)
    assert names(networks) == ["lab-iso", "lab-off", "lan"]
    lan = networks[2]
    assert lan["mode"] == "nat" and lan["bridge"] == "hivbr9" and lan["active"] and lan["persistent"] and lan["state"] == "active"
    assert lan["ips"][0]["dhcp_ranges"] == [{"start": "10.255.99.10", "end": "10.255.99.20"}]
    assert networks[1]["state"] == "inactive" and networks[1]["dhcp_leases"] == []
    assert not lan["restart_required"] and lan["restart_reasons"] == []
    assert networks[0]["dns_hosts"] == [{"ip": "10.255.7.5", "hostnames": ["web"]}]
    # The test driver has no leases to give: one warning names the running networks.
    assert warnings == ["the host's network driver does not report DHCP leases: dhcp_leases left empty for lab-iso, lan"]
    assert "xml" not in lan


@pytest.mark.parametrize("kwargs,expected", [
    (dict(name="lan"), ["lan"]),
    (dict(name="nope"), []),
    (dict(pattern="lab-*"), ["lab-iso", "lab-off"]),
    (dict(states=["inactive"]), ["lab-off"]),
    (dict(pattern="lab-*", states=["active"]), ["lab-iso"]),
])
def test_filters(conn, kwargs, expected):
    assert names(ops.networks_info(conn, with_leases=False, **kwargs)[0]) == expected


def test_xml_on_request(conn):
    (net,), warnings = ops.networks_info(conn, name="lab-off", with_xml=True)
    assert "<name>lab-off</name>" in net["xml"] and "<name>lab-off</name>" in net["xml_inactive"] and warnings == []
