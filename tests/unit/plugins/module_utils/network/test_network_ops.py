# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""network_ops (ensure_network) against libvirt's test driver with our own host (tests/data/storage/host.xml)."""

from __future__ import annotations

import os

import libvirt
import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.network import network_ops

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "storage", "host.xml"))


def params(**kwargs):
    base = dict(uri=HOST, name="n1", state="active", mode=None, bridge=None, forward_dev=None, mac=None, mtu=None, domain=None,
                ips=None, dns_hosts=None, portgroups=None, autostart=None, restart=False)
    base.update(kwargs)
    return base


def ensure(conn, check=False, **kwargs):
    return network_ops.ensure_network(conn, params(**kwargs), check_mode=check, want_diff=True)


ISO = dict(mode="isolated", bridge="hi3t0", ips=[dict(address="198.18.3.1", prefix=24, dhcp_ranges=[dict(start="198.18.3.10", end="198.18.3.20")],
                                                      dhcp_hosts=[dict(mac="52:54:00:00:03:05", name="vm5", ip="198.18.3.5")])])


def test_isolated_define_start_autostart_then_idempotent(conn):
    first = ensure(conn, autostart=True, **ISO)
    assert first["actions"] == ["define", "start", "autostart on"]
    net = first["network"]
    assert net["mode"] == "isolated" and net["bridge"] == "hi3t0" and net["active"] and net["autostart"]
    assert net["ips"][0]["dhcp_hosts"] == [{"mac": "52:54:00:00:03:05", "name": "vm5", "ip": "198.18.3.5"}]
    second = ensure(conn, autostart=True, **ISO)
    assert second["changed"] is False and second["actions"] == []


def test_check_mode(conn):
    result = ensure(conn, check=True, **ISO)
    assert result["changed"] and "<bridge name=\"hi3t0\" />" in result["diff"]["after"]
    assert lc.lookup_network(conn, "n1") is None


def test_present_and_inactive(conn):
    assert ensure(conn, state="present", **ISO)["actions"] == ["define"]
    assert ensure(conn, state="active", **ISO)["actions"] == ["start"]
    assert ensure(conn, state="inactive")["actions"] == ["stop"]


@pytest.mark.parametrize("check", [True, False])
def test_a_name_alone_creates_no_network(conn, check):
    """A misspelled name created and started an isolated network; now it is an error saying what to add."""
    with pytest.raises(lc.VirtError, match=r"^network nonet does not exist; to create it give mode"):
        ensure(conn, check=check, name="nonet", state="active")
    assert lc.lookup_network(conn, "nonet") is None


def test_dhcp_change_on_a_running_network_goes_live(conn):
    changed = ensure(conn, name="lan", ips=[dict(address="10.255.99.1", prefix=24)])
    assert changed["actions"] == ["update ip-dhcp-range delete 10.255.99.10-10.255.99.20"]
    assert changed["updates"] == [{"section": "ip-dhcp-range", "command": "delete", "parent_index": 0,
                                   "xml": '<range start="10.255.99.10" end="10.255.99.20" />'}]
    assert not changed["restart_required"] and changed["restart_reasons"] == [] and "warnings" not in changed
    assert "<range" in changed["diff"]["before"] and "<range" not in changed["diff"]["after"]
    assert "<range" not in conn.networkLookupByName("lan").XMLDesc(0)
    assert ensure(conn, name="lan", ips=[dict(address="10.255.99.1", prefix=24)])["changed"] is False


def test_reservation_dns_host_and_portgroup_added_live_then_idempotent(conn):
    ips = [dict(address="10.255.99.1", prefix=24, dhcp_ranges=[dict(start="10.255.99.10", end="10.255.99.20")],
                dhcp_hosts=[dict(mac="52:54:00:00:99:05", name="web", ip="10.255.99.5")])]
    kwargs = dict(name="lan", ips=ips, dns_hosts=[dict(ip="10.255.99.5", hostnames=["web", "www"])],
                  portgroups=[dict(name="gold", default=True, inbound=dict(average=1000, peak=2000, burst=256))])
    check = ensure(conn, check=True, **kwargs)
    assert check["changed"] and len(check["updates"]) == 3 and "<range" in conn.networkLookupByName("lan").XMLDesc(0)
    assert "web" not in conn.networkLookupByName("lan").XMLDesc(0), "check mode changed nothing"
    applied = ensure(conn, **kwargs)
    assert applied["actions"] == ["update ip-dhcp-host add 52:54:00:00:99:05=10.255.99.5", "update dns-host add 10.255.99.5=web,www",
                                  "update portgroup add gold"]
    assert applied["network"]["dns_hosts"] == [{"ip": "10.255.99.5", "hostnames": ["web", "www"]}]
    assert applied["network"]["portgroups"] == [{"name": "gold", "default": True, "inbound": {"average": 1000, "peak": 2000, "burst": 256}}]
    assert ensure(conn, **kwargs)["changed"] is False
    removed = ensure(conn, name="lan", dns_hosts=[], portgroups=[])
    assert removed["actions"] == ["update dns-host delete 10.255.99.5=web,www", "update portgroup delete gold"]
    assert ensure(conn, name="lan", dns_hosts=[], portgroups=[])["changed"] is False


def test_change_needing_a_restart_warns_then_restarts(conn):
    changed = ensure(conn, name="lan", bridge="hivbr8", ips=[dict(address="10.255.99.1", prefix=24)])
    # The DHCP range goes live at once; the bridge waits for a restart.
    assert changed["actions"] == ["update ip-dhcp-range delete 10.255.99.10-10.255.99.20", "define", "pending restart"]
    assert changed["restart_required"] and changed["restart_reasons"] == ["the bridge changes"]
    assert "previous definition" in changed["warnings"][0] and "the bridge changes" in changed["warnings"][0]
    restarted = ensure(conn, name="lan", mode="route", restart=True)
    # (the test driver keeps running the old definition after a restart; the lab test checks the mode)
    assert restarted["actions"] == ["define", "restart"] and restarted["network"]["active"]
    assert restarted["restart_reasons"] == ["the forward mode or device changes"] and not restarted["restart_required"]


def test_inactive_network_takes_updates_on_its_definition(conn):
    assert ensure(conn, name="lan", state="inactive")["actions"] == ["stop"]
    changed = ensure(conn, name="lan", state="inactive", ips=[dict(address="10.255.99.1", prefix=24)])
    assert changed["actions"] == ["update ip-dhcp-range delete 10.255.99.10-10.255.99.20"] and not changed["restart_required"]
    assert "<range" not in conn.networkLookupByName("lan").XMLDesc(0)


def test_existing_nat_network_unchanged_without_options(conn):
    assert ensure(conn, name="lan")["changed"] is False


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(mode="nat", bridge="hi3n0", ips=[dict(address="198.18.3.1", prefix=24)]),
        dict(mode="route", bridge="hi3r0", ips=[dict(address="198.18.4.1", prefix=24)]),
        dict(mode="open", bridge="hi3o0", ips=[dict(address="198.18.5.1", prefix=24)]),
        dict(mode="bridge", bridge="br0"),
    ],
)
def test_other_modes_idempotent(conn, kwargs):
    first = ensure(conn, name="m", **kwargs)
    assert first["network"]["mode"] == kwargs["mode"]
    assert ensure(conn, name="m", **kwargs)["changed"] is False


def test_absent(conn):
    assert ensure(conn, name="lan", state="absent")["actions"] == ["stop", "undefine"]
    assert ensure(conn, name="lan", state="absent")["changed"] is False


class NoDnsmasq(libvirt.libvirtError):
    def get_error_code(self):
        return libvirt.VIR_ERR_SYSTEM_ERROR

    def get_error_domain(self):
        return libvirt.VIR_FROM_NETWORK

    def get_error_message(self):
        return "Unable to find 'dnsmasq' binary in $PATH"


class StartFails:
    def __init__(self, net):
        self.net = net

    def __getattr__(self, name):
        return getattr(self.net, name)

    def create(self):
        raise NoDnsmasq("no dnsmasq")


class StartFailsConn:
    def __init__(self, conn):
        self.conn = conn

    def __getattr__(self, name):
        return getattr(self.conn, name)

    def networkDefineXML(self, xml):  # noqa: N802 - libvirt's name
        return StartFails(self.conn.networkDefineXML(xml))


def test_new_network_that_cannot_start_is_removed_again(conn):
    with pytest.raises(lc.VirtError, match=r"dnsmasq.*; the network definition this run made was removed again"):
        network_ops.ensure_network(StartFailsConn(conn), params(**ISO))
    assert lc.lookup_network(conn, "n1") is None


@pytest.mark.parametrize("state", ["present", "active", "inactive"])
def test_a_name_alone_creates_nothing(conn, state):
    with pytest.raises(lc.VirtError, match="network nonet does not exist; to create it give mode"):
        ensure(conn, name="nonet", state=state)
    assert lc.lookup_network(conn, "nonet") is None
    assert ensure(conn, name="nonet", state="absent")["changed"] is False


def test_a_reservation_on_libvirts_own_default_network_goes_live():
    """libvirt writes its stock ``default`` network with ``netmask``; the module with ``prefix``:
    the same address, so a DHCP reservation is a live update, not a restart (review of #23)."""
    conn = libvirt.open("test:///default")
    try:
        ips = [dict(address="192.168.122.1", prefix=24, dhcp_ranges=[dict(start="192.168.122.2", end="192.168.122.254")],
                    dhcp_hosts=[dict(ip="192.168.122.10", mac="52:54:00:00:00:01")])]
        assert 'netmask="255.255.255.0"' in conn.networkLookupByName("default").XMLDesc(0).replace("'", '"')
        checked = ensure(conn, check=True, name="default", ips=ips)
        assert checked["restart_reasons"] == [] and [u["section"] for u in checked["updates"]] == ["ip-dhcp-host"]
        applied = ensure(conn, name="default", ips=ips)
        assert applied["actions"] == ["update ip-dhcp-host add 52:54:00:00:00:01=192.168.122.10"], applied["actions"]
        assert not applied["restart_required"]
        assert ensure(conn, name="default", ips=ips)["changed"] is False
    finally:
        conn.close()
