# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The domain layer against libvirt's test driver (a host of the project's own) and stand-ins
for what the test driver cannot show (a guest that ignores or refuses the shutdown request)."""

from __future__ import annotations

import os

import libvirt
import pytest

from fakes import Clock  # tests/unit/fakes.py

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.domain import guest as domain

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "vm", "host.xml"))
NEW = "<domain type='test'><name>new1</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>"


def test_lookup_finds_a_guest_or_none(conn):
    assert domain.lookup(conn, "web1").name == "web1"
    assert domain.lookup(conn, "nope") is None
    assert sorted(g.name for g in domain.all_guests(conn)) == ["tmpl", "web1"]


def test_define_start_stop_and_delete(conn):
    guest = domain.define(conn, NEW, "define vm new1")
    assert guest.state() == ("shutoff", "unknown") and guest.is_persistent()
    guest.start()
    assert guest.state()[0] == "running" and guest.is_active()
    assert guest.stop(timeout=5, force=False) == "shut down"   # the test driver obeys at once
    guest.start(paused=True)
    assert guest.state()[0] == "paused"
    assert guest.stop(timeout=5, force=True) == "forced off"   # a paused guest cannot hear the request
    guest.delete_definition()
    assert domain.lookup(conn, "new1") is None


def test_errors_name_the_action_the_vm_and_the_host(conn):
    guest = domain.lookup(conn, "tmpl")
    with pytest.raises(lc.VirtError, match=r"^Failed to force off vm tmpl on test://.*host.xml"):
        guest.force_off()   # not running
    with pytest.raises(lc.VirtError, match=r"^Failed to define vm broken"):
        domain.define(conn, "<domain type='test'><name>broken</name></domain>", "define vm broken")


def test_set_metadata_writes_the_sides_the_domain_has(conn):
    stopped = domain.lookup(conn, "tmpl")
    root = dx.parse(stopped.inactive_xml())
    dx.write_metadata(root, dict(dx.read_metadata(root), owner="ops"))
    stopped.set_metadata(root)    # stopped: the definition only
    assert dx.read_metadata(dx.parse(stopped.inactive_xml()))["owner"] == "ops"
    guest = domain.lookup(conn, "web1")
    assert guest.is_active()
    root = dx.parse(guest.inactive_xml())
    dx.write_metadata(root, {"owner": "ops"})
    guest.set_metadata(root)      # running: both sides
    dx.write_metadata(root, {"owner": "dev"})
    guest.set_metadata(root, persistent=False)
    assert dx.read_metadata(dx.parse(guest.live_xml()))["owner"] == "dev"
    assert dx.read_metadata(dx.parse(guest.inactive_xml()))["owner"] == "ops"


def test_delete_definition_chooses_its_flags_once():
    seen = []

    class Dom:
        def name(self):
            return "uefi1"

        def XMLDesc(self, flags):
            return "<domain><name>uefi1</name><os><nvram>/var/lib/libvirt/qemu/nvram/uefi1_VARS.fd</nvram></os></domain>"

        def listAllCheckpoints(self, flags):
            return [type("C", (), {"getName": lambda self: "ck1"})()]

        def undefineFlags(self, flags):
            seen.append(flags)

    base = libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    guest = domain.Guest(None, Dom())
    guest.delete_definition()
    guest.delete_definition(keep_nvram=True)
    guest.delete_definition(keep_checkpoints=True)
    assert seen == [
        base | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM,
        base | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | libvirt.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM,
        base | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM,
    ]


class DeafDom:
    """A running guest that ignores (or, ``refuses``, rejects) the shutdown request."""

    def __init__(self, refuses=False):
        self.active, self.refuses, self.calls = True, refuses, []

    def name(self):
        return "deaf"

    def state(self):
        return (1, 1) if self.active else (5, 2)

    def isActive(self):
        return self.active

    def shutdown(self):
        self.calls.append("shutdown")
        if self.refuses:
            raise libvirt.libvirtError("no ACPI")

    def destroy(self):
        self.calls.append("destroy")
        self.active = False


def test_stop_waits_its_timeout_then_forces_only_when_asked():
    clock, dom = Clock(), DeafDom()
    guest = domain.Guest(None, dom)
    assert guest.stop(30, False, clock, clock.sleep) is None and 30 <= clock.now < 31 and dom.active
    assert guest.stop(30, True, clock, clock.sleep) == "forced off" and not dom.active
    assert dom.calls == ["shutdown", "shutdown", "destroy"]


def test_a_refused_request_fails_unless_told_to_force_anyway():
    clock = Clock()
    with pytest.raises(lc.VirtError, match="^Failed to shut down vm deaf"):
        domain.Guest(None, DeafDom(refuses=True)).stop(5, True, clock, clock.sleep)
    dom = DeafDom(refuses=True)
    assert domain.Guest(None, dom).stop(5, True, clock, clock.sleep, ignore_refusal=True) == "forced off"


def test_wait_for_returns_the_last_value_at_the_deadline():
    clock = Clock()
    assert domain.wait_for(lambda: 0, 2, clock, clock.sleep) == 0 and clock.now >= 2
    assert domain.wait_for(lambda: "yes", 2, clock, clock.sleep) == "yes"


@pytest.mark.parametrize("state, reason, expected", [(1, 2, "migrated"), (5, 3, "crashed"), (5, 99, "unknown"), (9, 0, "unknown")])
def test_state_reasons_as_virsh_names_them(state, reason, expected):
    assert domain.state_reason(state, reason) == expected


class SlowToReleaseDom:
    """A running guest with one NIC that releases it ``after`` readings of its live XML (never: None)."""

    NIC = "<interface type='bridge'><mac address='52:54:00:00:00:02'/></interface>"

    def __init__(self, after):
        self.after, self.readings, self.asked = after, 0, []

    def name(self):
        return "slow"

    def detachDeviceFlags(self, xml, flags):
        self.asked.append((xml, flags))

    def XMLDesc(self, flags):
        self.readings += 1
        gone = self.after is not None and self.readings > self.after
        return "<domain><name>slow</name><devices>%s</devices></domain>" % ("" if gone else self.NIC)


def nic_present(root):
    return root.find("devices/interface") is not None


def test_detach_live_waits_for_the_guest_to_release_the_device():
    """libvirt returns after 5 s with the device still there when the guest is slower (a TCG
    guest under load): detach_live waits on the live XML, and says when the guest did not release it."""
    clock, dom = Clock(), SlowToReleaseDom(after=3)
    guest = domain.Guest(None, dom)
    assert guest.detach_live(dom.NIC, nic_present, 60, clock, clock.sleep) is True
    assert dom.asked == [(dom.NIC, libvirt.VIR_DOMAIN_AFFECT_LIVE)] and clock.now < 60
    clock, dom = Clock(), SlowToReleaseDom(after=None)
    assert domain.Guest(None, dom).detach_live(dom.NIC, nic_present, 60, clock, clock.sleep) is False
    assert clock.now >= 60
    dom = SlowToReleaseDom(after=None)
    assert domain.Guest(None, dom).detach_live(dom.NIC) is True and dom.readings == 0
