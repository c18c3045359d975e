# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network XML for each mode, validation messages, read-modify-write."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import libvirt
import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.network import network_xml as nx

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "storage")
HOST = "test://" + os.path.abspath(os.path.join(DATA, "host.xml"))

CASES = {
    "nat": dict(
        name="natlan", mode="nat", bridge="virbr10", forward_dev="eth0",
        ips=[dict(address="10.255.3.1", prefix=24, dhcp_ranges=[dict(start="10.255.3.100", end="10.255.3.199")],
                  dhcp_hosts=[dict(mac="52:54:00:AA:00:10", name="web1", ip="10.255.3.10")])],
    ),
    "route": dict(name="routed", mode="route", bridge="hi3rt0", mtu=9000, ips=[dict(address="10.255.4.1", prefix=24)]),
    "isolated": dict(
        name="back", mode="isolated", bridge="hi3iso0", domain="lab.test", mac="52:54:00:00:03:01",
        ips=[dict(address="10.255.5.1", prefix=24, dhcp_ranges=[dict(start="10.255.5.10", end="10.255.5.20")]), dict(address="fd00:3::1", prefix=64)],
    ),
    "bridge": dict(name="hostbr", mode="bridge", bridge="br0"),
}


def expected(kind):
    with open(os.path.join(DATA, "networks", kind + ".xml"), encoding="utf-8") as handle:
        return handle.read()


@pytest.mark.parametrize("kind", sorted(CASES))
def test_exact_xml(kind):
    assert nx.network_xml(nx.validate_network(CASES[kind])) == expected(kind)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_libvirt_accepts_and_redefinition_is_unchanged(kind):
    conn = libvirt.open(HOST)
    try:
        spec = nx.validate_network(CASES[kind])
        net = conn.networkDefineXML(nx.network_xml(spec))
        new_xml, changed = nx.plan_network_xml(net.XMLDesc(0), spec)
        assert not changed, new_xml
        assert ET.fromstring(new_xml).findtext("uuid") == net.UUIDString()
    finally:
        conn.close()


BAD = [
    (dict(name="n", mode="vepa"), "mode 'vepa' is not a network mode"),
    (dict(name="n", mode="bridge"), "mode bridge needs bridge"),
    (dict(name="n", mode="nat"), "mode nat needs ips"),
    (dict(name="n"), "network n does not exist; to create it give mode (nat, route, open, isolated, bridge)"),
    (dict(name="n", bridge="hi0", ips=[dict(address="10.0.0.1", prefix=24)]),
     "give mode (nat, route, open, isolated, bridge); mode isolated with the bridge, ips given makes a network for guests and host only"),
    (dict(name="n", mode="isolated", bridge="a-very-long-bridge-name"), "bridge must be an interface name of at most 15"),
    (dict(name="n", mode="isolated", forward_dev="eth0"), "forward_dev applies to modes nat and route, not isolated"),
    (dict(name="n", mode="isolated", mac="52:54:00:00:00"), "mac must be a MAC address"),
    (dict(name="n", mode="isolated", mtu=20), "mtu must be between 68 and 65535"),
    (dict(name="n", mode="bridge", bridge="br0", ips=[dict(address="10.0.0.1", prefix=24)]), "ips do not apply to mode bridge"),
    (dict(name="n", mode="isolated", ips=[dict(address="10.0.0.1", prefix=33)]), "ips[0] needs address and prefix"),
    (dict(name="n", mode="isolated", ips=[dict(address="10.0.0.0", prefix=24)]), "ips[0].address 10.0.0.0 is the network's own or broadcast"),
    (dict(name="n", mode="isolated", ips=[dict(address="10.0.0.1", prefix=24, dhcp_ranges=[dict(start="10.0.1.5", end="10.0.0.9")])]),
     "ips[0].dhcp_ranges[0].start 10.0.1.5 is outside 10.0.0.0/24"),
    (dict(name="n", mode="isolated", ips=[dict(address="10.0.0.1", prefix=24, dhcp_ranges=[dict(start="10.0.0.9", end="10.0.0.5")])]),
     "ips[0].dhcp_ranges[0]: start 10.0.0.9 is after end 10.0.0.5"),
    (dict(name="n", mode="isolated", ips=[dict(address="10.0.0.1", prefix=24, dhcp_hosts=[dict(ip="10.0.0.5")])]), "ips[0].dhcp_hosts[0] needs mac or name"),
    (dict(name="n", mode="isolated", ips=[dict(address="10.0.0.1", prefix=24, dhcp_hosts=[dict(ip="10.0.0.5", mac="zz")])]),
     "ips[0].dhcp_hosts[0].mac must be"),
    (dict(name="n", mode="isolated", ips=[dict(address="10.0.0.1", prefix=24, dhcp_ranges=[dict(start="10.0.0.5", end="10.0.0.6")]),
                                          dict(address="10.0.1.1", prefix=24)]), "DHCP can serve only one IPv4 address"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[message for _args, message in BAD])
def test_bad_input_names_the_parameter(args, message):
    with pytest.raises(nx.NetworkSpecError) as err:
        nx.validate_network(args)
    assert message in str(err.value)


CURRENT = """<network>
  <name>lan</name>
  <uuid>1f7c3a2e-5e0b-4d0c-9d2a-2b8e2c1f0a01</uuid>
  <forward mode='nat'>
    <nat><port start='1024' end='65535'/></nat>
  </forward>
  <bridge name='virbr10' stp='on' delay='0'/>
  <mac address='52:54:00:11:22:33'/>
  <dns><host ip='10.255.3.2'><hostname>gw</hostname></host></dns>
  <ip address='10.255.3.1' prefix='24'>
    <dhcp><range start='10.255.3.100' end='10.255.3.199'/></dhcp>
  </ip>
</network>"""


def test_merge_keeps_what_options_do_not_mention():
    ips = [dict(address="10.255.3.1", prefix=24, dhcp_ranges=[dict(start="10.255.3.100", end="10.255.3.199")])]
    spec = nx.validate_network(dict(name="lan", mode="nat", bridge="virbr10", ips=ips), existing=True)
    assert nx.plan_network_xml(CURRENT, spec)[1] is False


def test_merge_replaces_ips_as_a_whole_and_keeps_dns():
    spec = nx.validate_network(dict(name="lan", ips=[dict(address="10.255.3.1", prefix=24)]), existing=True)
    new_xml, changed = nx.plan_network_xml(CURRENT, spec)
    root = ET.fromstring(new_xml)
    assert changed
    assert root.find("ip/dhcp") is None
    assert root.find("dns/host").get("ip") == "10.255.3.2"
    assert root.find("forward").get("mode") == "nat", "mode not given: kept"


def test_switch_to_isolated_removes_forward():
    new_xml, changed = nx.plan_network_xml(CURRENT, nx.validate_network(dict(name="lan", mode="isolated"), existing=True))
    assert changed and ET.fromstring(new_xml).find("forward") is None


def test_switch_mode_drops_old_mode_settings():
    new_xml, changed = nx.plan_network_xml(CURRENT, nx.validate_network(dict(name="lan", mode="route"), existing=True))
    forward = ET.fromstring(new_xml).find("forward")
    assert changed and forward.get("mode") == "route" and forward.find("nat") is None


def test_parse_network():
    info = nx.parse_network(CURRENT)
    assert info["mode"] == "nat" and info["bridge"] == "virbr10"
    assert info["ips"] == [
        {"address": "10.255.3.1", "prefix": "24", "family": "ipv4", "dhcp_ranges": [{"start": "10.255.3.100", "end": "10.255.3.199"}], "dhcp_hosts": []}
    ]


def test_dns_hosts_and_portgroups_accepted_by_libvirt_and_read_back():
    params = dict(name="pg", mode="isolated", bridge="hi3pg0", ips=[dict(address="10.255.6.1", prefix=24)],
                  dns_hosts=[dict(ip="10.255.6.5", hostnames=["web", "www"])],
                  portgroups=[dict(name="gold", default=True, inbound=dict(average=1000, burst=200)), dict(name="tin", outbound=dict(average=10))])
    spec = nx.validate_network(params, existing=True)
    conn = libvirt.open(HOST)
    try:
        net = conn.networkDefineXML(nx.network_xml(spec))
        info = nx.parse_network(net.XMLDesc(0))
        assert info["dns_hosts"] == [{"ip": "10.255.6.5", "hostnames": ["web", "www"]}]
        assert info["portgroups"] == [{"name": "gold", "default": True, "inbound": {"average": 1000, "burst": 200}},
                                      {"name": "tin", "default": False, "outbound": {"average": 10}}]
        assert not nx.plan_network_xml(net.XMLDesc(0), spec)[1]
        # Emptied lists remove them; an order libvirt chose is no change.
        emptied, changed = nx.plan_network_xml(net.XMLDesc(0), nx.validate_network(dict(name="pg", dns_hosts=[], portgroups=[]), existing=True))
        assert changed and "<dns" not in emptied and "portgroup" not in emptied
        swapped = nx.validate_network(dict(params, portgroups=list(reversed(params["portgroups"]))), existing=True)
        assert not nx.plan_network_xml(net.XMLDesc(0), swapped)[1]
    finally:
        conn.close()
