# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""network_update: which changes go live, checked by libvirt's rules twice: the module's own
model of them (apply_update) and libvirt's test driver, which runs libvirt's own update code."""

from __future__ import annotations

import os

import libvirt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.hotiron.virt.plugins.module_utils.network import network_update as nu
from ansible_collections.hotiron.virt.plugins.module_utils.network import network_xml as nx

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "storage", "host.xml"))

SECTION = {nu.DHCP_HOST: "VIR_NETWORK_SECTION_IP_DHCP_HOST", nu.DHCP_RANGE: "VIR_NETWORK_SECTION_IP_DHCP_RANGE",
           nu.DNS_HOST: "VIR_NETWORK_SECTION_DNS_HOST", nu.PORTGROUP: "VIR_NETWORK_SECTION_PORTGROUP"}
COMMAND = {nu.ADD: "VIR_NETWORK_UPDATE_COMMAND_ADD_LAST", nu.DELETE: "VIR_NETWORK_UPDATE_COMMAND_DELETE",
           nu.MODIFY: "VIR_NETWORK_UPDATE_COMMAND_MODIFY"}


def net_xml(**kwargs):
    params = dict(name="live", mode="isolated", bridge="hi9lv0", ips=[dict(address="10.255.7.1", prefix=24)])
    params.update(kwargs)
    return nx.network_xml(nx.validate_network(params, existing=True))


def with_dhcp(hosts=(), ranges=({"start": "10.255.7.100", "end": "10.255.7.150"},), **kwargs):
    return net_xml(ips=[dict(address="10.255.7.1", prefix=24, dhcp_ranges=list(ranges), dhcp_hosts=list(hosts))], **kwargs)


def summaries(plan):
    return [u["summary"] for u in plan["updates"]]


def test_reservation_added_live():
    plan = nu.plan_updates(with_dhcp(), with_dhcp(hosts=[dict(mac="52:54:00:00:07:05", name="web", ip="10.255.7.5")]))
    assert plan["restart_reasons"] == []
    assert summaries(plan) == ["ip-dhcp-host add 52:54:00:00:07:05=10.255.7.5"]
    assert plan["updates"][0]["parent_index"] == 0 and plan["updates"][0]["command"] == nu.ADD


def test_reservation_moved_to_a_new_address_is_a_modify():
    old = [dict(mac="52:54:00:00:07:05", name="web", ip="10.255.7.5")]
    new = [dict(mac="52:54:00:00:07:05", name="web", ip="10.255.7.6")]
    plan = nu.plan_updates(with_dhcp(hosts=old), with_dhcp(hosts=new))
    assert summaries(plan) == ["ip-dhcp-host modify 52:54:00:00:07:05=10.255.7.6"]


def test_swapped_addresses_are_deleted_and_added_not_modified():
    a, b = "52:54:00:00:07:0a", "52:54:00:00:07:0b"
    old = [dict(mac=a, ip="10.255.7.5"), dict(mac=b, ip="10.255.7.6")]
    new = [dict(mac=a, ip="10.255.7.6"), dict(mac=b, ip="10.255.7.5")]
    plan = nu.plan_updates(with_dhcp(hosts=old), with_dhcp(hosts=new))
    assert [u["command"] for u in plan["updates"]] == [nu.DELETE, nu.DELETE, nu.ADD, nu.ADD]


def test_range_dns_and_portgroups_live():
    plan = nu.plan_updates(
        with_dhcp(dns_hosts=[dict(ip="10.255.7.9", hostnames=["old"])], portgroups=[dict(name="gold", default=True), dict(name="tin")]),
        with_dhcp(ranges=[dict(start="10.255.7.100", end="10.255.7.200")], dns_hosts=[dict(ip="10.255.7.9", hostnames=["new", "alias"])],
                  portgroups=[dict(name="gold"), dict(name="silver", default=True, inbound=dict(average=1000))]),
    )
    assert plan["restart_reasons"] == []
    assert summaries(plan) == [
        "ip-dhcp-range delete 10.255.7.100-10.255.7.150", "ip-dhcp-range add 10.255.7.100-10.255.7.200",
        "dns-host delete 10.255.7.9=old", "dns-host add 10.255.7.9=new,alias",
        "portgroup delete tin", "portgroup modify gold", "portgroup add silver",
    ]


@pytest.mark.parametrize("change,reason", [
    (dict(bridge="hi9lv1"), "the bridge changes"),
    (dict(mtu=1400), "the MTU changes"),
    (dict(domain="lab.test"), "the DNS domain changes"),
    (dict(mode="open", ips=[dict(address="10.255.7.1", prefix=24)]), "the forward mode or device changes"),
    (dict(ips=[dict(address="10.255.7.1", prefix=25)]), "the addresses change"),
])
def test_what_needs_a_restart(change, reason):
    plan = nu.plan_updates(net_xml(), net_xml(**change))
    assert plan["restart_reasons"] == [reason] and plan["updates"] == []


def test_first_ipv4_dhcp_goes_live_first_ipv6_dhcp_needs_a_restart():
    plan = nu.plan_updates(net_xml(), with_dhcp())
    assert summaries(plan) == ["ip-dhcp-range add 10.255.7.100-10.255.7.150"] and plan["restart_reasons"] == []
    v6 = [dict(address="10.255.7.1", prefix=24), dict(address="fd00:7::1", prefix=64)]
    v6_dhcp = [v6[0], dict(v6[1], dhcp_ranges=[dict(start="fd00:7::100", end="fd00:7::1ff")])]
    plan = nu.plan_updates(net_xml(ips=v6), net_xml(ips=v6_dhcp))
    assert plan == {"updates": [], "restart_reasons": ["address fd00:7::1 gets its first DHCP settings"]}


def test_pending_reasons_ignore_what_libvirt_fills_in_at_start():
    definition = net_xml(mode="bridge", bridge="br0", ips=None).replace("<forward mode=\"bridge\" />",
                                                                        "<forward mode='bridge'><pf dev='eth0'/></forward>")
    live = definition.replace("<network>", "<network connections='2'>").replace(
        "<pf dev='eth0'/>", "<pf dev='eth0'/><interface dev='eth0' connections='2'/>")
    assert "connections" in live and "<interface" in live
    assert nu.pending_reasons(live, definition) == []
    assert nu.pending_reasons(net_xml(), net_xml(mtu=1400)) == ["the MTU changes"]
    assert nu.pending_reasons(with_dhcp(), with_dhcp(hosts=[dict(mac="52:54:00:00:07:05", ip="10.255.7.5")])) == [nu.SECTIONS_DRIFT]


def test_dns_host_sharing_a_name_cannot_go_live():
    plan = nu.plan_updates(net_xml(dns_hosts=[dict(ip="10.255.7.9", hostnames=["a"])]),
                           net_xml(dns_hosts=[dict(ip="10.255.7.9", hostnames=["a"]), dict(ip="10.255.7.8", hostnames=["a"])]))
    assert plan["updates"] == [] and "the DNS hosts cannot change live" in plan["restart_reasons"][0]


def test_unchanged_is_empty():
    xml = with_dhcp(hosts=[dict(mac="52:54:00:00:07:05", ip="10.255.7.5")], portgroups=[dict(name="p")])
    assert nu.plan_updates(xml, xml) == {"updates": [], "restart_reasons": []}


def test_sections_differ():
    assert not nu.sections_differ(with_dhcp(), with_dhcp(bridge="hi9lv1"))
    assert nu.sections_differ(with_dhcp(), with_dhcp(hosts=[dict(mac="52:54:00:00:07:05", ip="10.255.7.5")]))


# ---- properties --------------------------------------------------------------------------------

MACS = ["52:54:00:00:07:%02x" % n for n in range(1, 6)]
NAMES = ["h1", "h2", "h3"]
IPS = ["10.255.7.%d" % n for n in range(2, 7)]


@st.composite
def dhcp_hosts(draw):
    hosts = []
    used = set()
    for _count in range(draw(st.integers(0, 4))):
        host = {"ip": draw(st.sampled_from(IPS))}
        if draw(st.booleans()):
            host["mac"] = draw(st.sampled_from(MACS))
        if "mac" not in host or draw(st.booleans()):
            host["name"] = draw(st.sampled_from(NAMES))
        keys = set(host.items())
        if keys & used:
            continue
        used |= keys
        hosts.append(host)
    return hosts


@st.composite
def definitions(draw):
    starts = draw(st.lists(st.sampled_from([100, 120, 140]), unique=True, max_size=2))
    ranges = [dict(start="10.255.7.%d" % s, end="10.255.7.%d" % (s + draw(st.sampled_from([5, 10])))) for s in starts]
    dns = []
    for ip in draw(st.lists(st.sampled_from(IPS), unique=True, max_size=3)):
        dns.append(dict(ip=ip, hostnames=draw(st.lists(st.sampled_from(["n1", "n2", "n3", "n4"]), unique=True, min_size=1, max_size=2))))
    groups = [dict(name=name) for name in draw(st.lists(st.sampled_from(["p1", "p2", "p3"]), unique=True, max_size=3))]
    if groups and draw(st.booleans()):
        draw(st.sampled_from(groups))["default"] = True
    return with_dhcp(hosts=draw(dhcp_hosts()), ranges=ranges or [dict(start="10.255.7.200", end="10.255.7.210")],
                     dns_hosts=dns, portgroups=groups)


@settings(max_examples=300, deadline=None)
@given(definitions(), definitions())
def test_updates_reach_the_wanted_definition_by_libvirts_rules(current, wanted):
    plan = nu.plan_updates(current, wanted)
    xml = current
    for update in plan["updates"]:
        xml = nu.apply_update(xml, update)
    reasons = plan["restart_reasons"]
    assert all(r.startswith("the DNS hosts cannot change live") for r in reasons), reasons
    if not reasons:
        assert not nu.sections_differ(xml, wanted)
    assert nu.plan_updates(wanted, wanted)["updates"] == []


@pytest.fixture(scope="module")
def driver():
    conn = libvirt.open(HOST)
    yield conn
    conn.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(definitions(), definitions())
def test_libvirts_own_update_code_takes_the_plan(driver, current, wanted):
    """The test driver runs libvirt's conf code for virNetworkUpdate (the same matching rules as
    a real host): every planned update is accepted and the result is the wanted definition."""
    net = driver.networkDefineXML(current)
    try:
        net.create()
        plan = nu.plan_updates(current, wanted)
        for update in plan["updates"]:
            flags = libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE | libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG
            net.update(getattr(libvirt, COMMAND[update["command"]]), getattr(libvirt, SECTION[update["section"]]),
                       update["parent_index"], update["xml"], flags)
        if not plan["restart_reasons"]:
            assert not nu.sections_differ(net.XMLDesc(0), wanted)
            # (the test driver has no separate inactive definition to read: the lab test reads it)
    finally:
        net.destroy()
        net.undefine()
