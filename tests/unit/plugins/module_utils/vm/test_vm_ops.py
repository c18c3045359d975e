# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm_ops (ensure, apply_live, stop) against libvirt's test driver with our own host (tests/data/vm/host.xml).

The host has pool ``local`` (tmpl.qcow2 2 GiB, data.raw), network ``lan``, a
running VM ``web1`` and a shut-off template VM ``tmpl``.  Every test opens a
fresh connection, so the test driver starts from that file each time.
"""

from __future__ import annotations

# ``**dict(NEW, memory=...)`` overrides fields of a base spec: pylint reads that as the same
# keyword given twice. ``_`` names the parts of ensure()'s result a test does not look at.
# pylint: disable=repeated-keyword,disallowed-name

import libvirt
import pytest

from fakes import Clock  # tests/unit/fakes.py
import vm_driver  # tests/unit/vm_driver.py
from vm_driver import params

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import Guest
from ansible_collections.hotiron.virt.plugins.module_utils.vm import power_ops, resolve_ops, vm_ops

HOST = vm_driver.HOST  # what the conn fixture (tests/unit/conftest.py) opens


def ensure(conn, check=False, **kwargs):
    return vm_ops.ensure(conn, params(**kwargs), check_mode=check)


def snapshot(conn):
    """Everything a task could change: domains (XML, state, autostart) and volumes."""
    doms = {d.name(): (dx.normalise(d.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)), d.state()[0], d.autostart())
            for d in conn.listAllDomains()}
    vols = sorted(conn.storagePoolLookupByName("local").listVolumes())
    return doms, vols


NEW = dict(name="n1", vcpus=2, max_vcpus=4, memory="128MiB", max_memory="256MiB",
           disks=[dict(pool="local", volume="n1.qcow2", size="1GiB")], interfaces=[dict(network="lan")],
           tags=["web"], owner="team-a", ha_priority=10, state="running")


def test_create_running_then_idempotent(conn):
    changed, result, diff = ensure(conn, **NEW)
    assert changed
    assert result["plan"] == ["create volume local/n1.qcow2 (1GiB qcow2)", "define vm n1", "start vm n1"]
    assert result["vm"]["state"] == "running" and not result["restart_required"]
    dom = conn.lookupByName("n1")
    root = dx.parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert dx.read_metadata(root) == {"os": "linux", "owner": "team-a", "ha_priority": "10", "tags": ["web"],
                                      "volumes": [{"pool": "local", "name": "n1.qcow2"}]}
    assert root.find("devices/disk/source").get("file") == "/var/lib/hotiron-test/local/n1.qcow2"
    assert "<name>n1</name>" in diff["after"] and diff["before"] == ""
    before = snapshot(conn)
    changed, result, diff = ensure(conn, **NEW)
    assert not changed and result["plan"] == [] and diff["before"] == diff["after"]
    assert snapshot(conn) == before


def test_check_mode_create_changes_nothing(conn):
    before = snapshot(conn)
    changed, result, diff = ensure(conn, check=True, **NEW)
    assert changed
    assert result["plan"] == ["create volume local/n1.qcow2 (1GiB qcow2)", "define vm n1", "start vm n1"]
    assert "<source file=\"/var/lib/hotiron-test/local/n1.qcow2\" />" in diff["after"]
    assert snapshot(conn) == before


def test_check_mode_update_changes_nothing_and_reports_the_plan(conn):
    ensure(conn, **NEW)
    before = snapshot(conn)
    changed, result, diff = ensure(conn, check=True, **dict(NEW, memory="200MiB", vcpus=8, max_vcpus=8, overcommit=True))
    assert changed
    assert {c["field"]: c["apply"] for c in result["changes"]} == {"memory": "live", "vcpus": "restart", "max_vcpus": "restart"}
    assert result["restart_required"]
    assert "<vcpu current=\"2\" placement=\"static\">4</vcpu>" in diff["before"]
    assert "<vcpu placement=\"static\">8</vcpu>" in diff["after"]
    assert snapshot(conn) == before


def test_live_resize_within_maximum(conn):
    ensure(conn, **NEW)
    changed, result, _ = ensure(conn, **dict(NEW, memory="200MiB", vcpus=3))
    assert changed and not result["restart_required"]
    assert {c["field"]: c["apply"] for c in result["changes"]} == {"memory": "live", "vcpus": "live"}
    dom = conn.lookupByName("n1")
    assert dom.info()[2] == 200 * 1024                      # live balloon
    assert dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE) == 3
    assert dx.memory_kib(dx.parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)), "currentMemory") == 200 * 1024
    assert not ensure(conn, **dict(NEW, memory="200MiB", vcpus=3))[0]


def test_change_beyond_maximum_needs_restart_and_restart_applies_it(conn):
    ensure(conn, **NEW)
    spec = dict(NEW, memory="512MiB", max_memory="512MiB")
    changed, result, _ = ensure(conn, **spec)
    assert changed and result["restart_required"]
    assert "max_memory" in result["restart_pending"]
    changed, result, _ = ensure(conn, **spec)
    assert not changed and result["restart_required"]   # reported until the restart, never dropped
    changed, result, _ = ensure(conn, **dict(spec, state="restarted"))
    assert changed and not result["restart_required"]
    assert result["plan"][-2:] == ["stop vm n1", "start vm n1"]


def test_hotplug_unsupported_is_reported_not_dropped(conn):
    # libvirt's test driver cannot hot-plug devices: the NIC lands in the config and the
    # task warns and says a restart is required.
    ensure(conn, **NEW)
    changed, result, _ = ensure(conn, **dict(NEW, interfaces=[dict(network="lan"), dict(network="lan")]))
    assert changed and result["restart_required"]
    assert any("not applied live" in w for w in result["warnings"])


def test_metadata_change_is_live(conn):
    ensure(conn, **NEW)
    changed, result, _ = ensure(conn, **dict(NEW, owner="team-b", description="moved"))
    assert changed and not result["restart_required"] and not result["warnings"]
    live = dx.parse(conn.lookupByName("n1").XMLDesc(0))
    assert dx.read_metadata(live)["owner"] == "team-b"
    assert dx.get_text(live, "description") == "moved"


def test_ha_and_sla_options_are_stored_and_idempotent(conn):
    policy = dict(ha=True, ha_priority=800, restart_limit={"count": 2, "window": 300}, sla="gold",
                  expires="2027-03-31", purpose="billing")
    changed, result, _ = ensure(conn, **dict(NEW, **policy))
    assert changed
    root = dx.parse(conn.lookupByName("n1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    meta = dx.read_metadata(root)
    assert {k: meta[k] for k in ("ha", "ha_priority", "restart_limit", "sla", "expires", "purpose")} == {
        "ha": "true", "ha_priority": "800", "restart_limit": "2/300", "sla": "gold", "expires": "2027-03-31",
        "purpose": "billing"}
    assert dx.get_text(root, "on_crash") == "destroy" and dx.get_text(root, "cputune/shares") == "4096"
    assert ensure(conn, **dict(NEW, **policy))[0] is False
    # Recovery's own bookkeeping in the metadata survives a later run of the module.
    dom = conn.lookupByName("n1")
    meta["restarts"] = "1795000000"
    dx.write_metadata(root, meta)
    conn.defineXML(dx.tostring(root))
    assert ensure(conn, **dict(NEW, **policy))[0] is False
    assert dx.read_metadata(dx.parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)))["restarts"] == "1795000000"


def test_crash_action_and_shares_change_live(conn):
    ensure(conn, **NEW)
    changed, result, _ = ensure(conn, **dict(NEW, sla="silver", ha=True))
    assert changed
    fields = {c["field"]: c["apply"] for c in result["changes"]}
    assert fields["cpu_shares"] == "live" and fields["metadata"] == "live"
    live = dx.parse(conn.lookupByName("n1").XMLDesc(0))
    assert dx.get_text(live, "on_crash") == "destroy"


@pytest.mark.parametrize("kwargs,message", [
    (dict(vcpus=0), "^vcpus: must be at least 1"),
    (dict(memory="0GiB"), "^memory: must be greater than zero"),
    (dict(memory="lots"), "^memory: expected a size"),
    (dict(name="bad name"), "^name: "),
    (dict(vcpus=9, max_vcpus=None), "^vcpus: 9 vCPUs is above the per-guest limit of 8"),
    (dict(vcpus=5, max_vcpus=None), "^vcpus: 5 vCPUs is more than the 4 CPUs of the host"),
    (dict(memory="9GiB", max_memory=None), "^memory: 9GiB is more than the host's 8GiB"),
    (dict(disks=[dict(pool="nope", volume="a.qcow2", size="1GiB")]), r"^disks\[0\]\.pool: no storage pool called 'nope'"),
    (dict(disks=[dict(pool="local", volume="missing.qcow2")]), r"^disks\[0\]\.size: volume 'missing.qcow2' does not exist"),
    (dict(disks=[dict(pool="local", volume="data.raw", format="qcow2")]), r"^disks\[0\]\.format: volume local/data.raw is raw"),
    (dict(disks=[dict(pool="local", volume="a.qcow2", size="-1GiB")]), r"^disks\[0\]\.size: "),
    (dict(interfaces=[dict(network="wan")]), r"^interfaces\[0\]\.network: no network called 'wan'"),
    (dict(sla="Gold Class"), "^sla: 'Gold Class' is not an SLA class name"),
    (dict(expires="next year"), "^expires: expected a date such as 2027-03-31"),
])
def test_bad_input_fails_naming_the_parameter_and_leaves_nothing(conn, kwargs, message):
    before = snapshot(conn)
    with pytest.raises(lc.VirtError, match=message):
        ensure(conn, **dict(NEW, **kwargs))
    assert snapshot(conn) == before


def test_half_failed_create_removes_what_it_made(conn):
    before = snapshot(conn)
    bad = "<domain><on_crash>explode</on_crash></domain>"   # the volume is made, the define fails
    with pytest.raises(lc.VirtError, match="define vm n1.*everything this task created was removed"):
        ensure(conn, **dict(NEW, xml=bad))
    assert snapshot(conn) == before


def test_linked_clone_of_template(conn):
    changed, result, _ = ensure(conn, name="c1", clone_from="tmpl", state="running")
    assert changed
    assert result["plan"][0] == ("create volume local/c1-vda.qcow2 (qcow2 overlay on "
                                 "/var/lib/hotiron-test/local/tmpl.qcow2)")
    vol = conn.storagePoolLookupByName("local").storageVolLookupByName("c1-vda.qcow2")
    vroot = dx.parse(vol.XMLDesc())
    assert dx.get_text(vroot, "backingStore/path") == "/var/lib/hotiron-test/local/tmpl.qcow2"
    clone = dx.parse(conn.lookupByName("c1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    tmpl = dx.parse(conn.lookupByName("tmpl").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert dx.get_text(clone, "uuid") != dx.get_text(tmpl, "uuid")
    assert clone.find("devices/interface/mac").get("address") != tmpl.find("devices/interface/mac").get("address")
    assert clone.find("devices/disk/readonly") is None and tmpl.find("devices/disk/readonly") is not None
    meta = dx.read_metadata(clone)
    assert meta["clone_of"] == "tmpl" and "template" not in meta
    assert meta["volumes"] == [{"pool": "local", "name": "c1-vda.qcow2"}]
    assert not ensure(conn, name="c1", clone_from="tmpl", state="running")[0]


def test_full_clone_copies_in_the_template_format(conn):
    changed, result, _ = ensure(conn, name="c2", clone_from="tmpl", clone="full", memory="64MiB")
    assert changed and result["plan"][0].startswith("copy volume /var/lib/hotiron-test/local/tmpl.qcow2 to local/c2-vda.qcow2")
    vol = conn.storagePoolLookupByName("local").storageVolLookupByName("c2-vda.qcow2")
    assert dx.parse(vol.XMLDesc()).find("backingStore") is None
    assert dx.memory_kib(dx.parse(conn.lookupByName("c2").XMLDesc(0)), "currentMemory") == 64 * 1024


def test_clone_from_a_volume(conn):
    changed, _, _ = ensure(conn, name="c3", clone_from="local/data.raw", memory="64MiB")
    assert changed
    root = dx.parse(conn.lookupByName("c3").XMLDesc(0))
    assert root.find("devices/disk/source").get("file") == "/var/lib/hotiron-test/local/c3-vda.qcow2"


@pytest.mark.parametrize("kwargs,message", [
    (dict(clone_from="ghost"), "^clone_from: no VM called 'ghost'"),
    (dict(clone_from="web1"), "^clone_from: template 'web1' is running"),
    (dict(clone_from="local/ghost.qcow2"), "^clone_from: no volume 'ghost.qcow2'"),
    (dict(clone_from="nopool/x"), "^clone_from: no storage pool called 'nopool'"),
])
def test_clone_bad_sources(conn, kwargs, message):
    before = snapshot(conn)
    with pytest.raises(lc.VirtError, match=message):
        ensure(conn, name="c9", **kwargs)
    assert snapshot(conn) == before


def test_template_cannot_start_nor_go_while_clones_use_it(conn):
    with pytest.raises(lc.VirtError, match="^state: vm 'tmpl' is a template"):
        ensure(conn, name="tmpl", state="running")
    ensure(conn, name="c1", clone_from="tmpl")
    with pytest.raises(lc.VirtError, match="^state: vm 'tmpl' is a template used by c1"):
        ensure(conn, name="tmpl", state="absent")
    assert ensure(conn, name="c1", state="absent", remove_volumes=True)[0]
    assert "c1-vda.qcow2" not in conn.storagePoolLookupByName("local").listVolumes()
    assert ensure(conn, name="tmpl", state="absent")[0]
    assert "tmpl.qcow2" in conn.storagePoolLookupByName("local").listVolumes()   # not created by us


def test_absent_removes_owned_volumes_only_when_asked(conn):
    ensure(conn, **NEW)
    changed, result, diff = ensure(conn, name="n1", state="absent", check=True, remove_volumes=True)
    assert changed and result["plan"] == ["undefine vm n1", "force off vm n1", "delete volume local/n1.qcow2"]
    assert lc.lookup_domain(conn, "n1") is not None
    assert ensure(conn, name="n1", state="absent")[0]
    assert lc.lookup_domain(conn, "n1") is None
    assert "n1.qcow2" in conn.storagePoolLookupByName("local").listVolumes()
    assert not ensure(conn, name="n1", state="absent")[0]


@pytest.mark.parametrize("running", [True, False])
def test_absent_removes_a_vm_with_checkpoints_whole(conn, running):
    """A checkpoint (as vm_backup leaves) goes with the VM, and the plan says so."""
    ensure(conn, **NEW)
    dom = conn.lookupByName("n1")
    dom.checkpointCreateXML("<domaincheckpoint><name>cp1</name></domaincheckpoint>", 0)
    if not running:
        dom.destroy()
    before = snapshot(conn)
    changed, result, _ = ensure(conn, name="n1", state="absent", check=True)
    assert changed and result["plan"] == ["undefine vm n1 with the metadata of its 1 checkpoint (cp1)"] + (
        ["force off vm n1"] if running else [])
    assert snapshot(conn) == before
    assert ensure(conn, name="n1", state="absent")[1]["plan"] == result["plan"]
    assert lc.lookup_domain(conn, "n1") is None


class RefusingDom:
    """A test-driver domain whose undefine or destroy libvirt refuses (as QEMU's driver refused a
    domain with checkpoints); everything else is the real domain's."""

    def __init__(self, dom, refuse):
        self._dom, self.refuse = dom, refuse

    def __getattr__(self, name):
        return getattr(self._dom, name)

    def undefineFlags(self, flags):
        if self.refuse == "undefine":
            raise libvirt.libvirtError("cannot delete inactive domain with 1 checkpoints")
        return self._dom.undefineFlags(flags)

    def destroy(self):
        if self.refuse == "destroy":
            raise libvirt.libvirtError("destroy refused by the test")
        return self._dom.destroy()


@pytest.mark.parametrize("refuse,message", [
    ("undefine", "^Failed to undefine vm n1 .*cannot delete inactive domain with 1 checkpoints"),
    ("destroy", "^Failed to force off vm n1 .*refused by the test .*\\(it was defined again and runs on as it was\\)$"),
])
def test_absent_that_fails_leaves_the_vm_as_it_was(conn, refuse, message):
    ensure(conn, **NEW)
    before = snapshot(conn)
    dom = RefusingDom(conn.lookupByName("n1"), refuse)
    with pytest.raises(lc.VirtError, match=message):
        vm_ops.ensure_absent(conn, dom, params(name="n1", state="absent"), False)
    dom = conn.lookupByName("n1")
    assert dom.isActive() and dom.isPersistent() and snapshot(conn) == before


@pytest.mark.parametrize("start,state,plan,final", [
    ("running", "stopped", ["stop vm n1"], 5),
    ("running", "paused", ["pause vm n1"], 3),
    ("running", "restarted", ["stop vm n1", "start vm n1"], 1),
    ("present", "running", ["start vm n1"], 1),
    ("present", "paused", ["start paused vm n1"], 3),
    ("present", "stopped", [], 5),
    ("paused", "running", ["resume vm n1"], 1),
    ("paused", "stopped", ["stop vm n1"], 5),
])
def test_power_states(conn, start, state, plan, final):
    ensure(conn, **dict(NEW, state=start))
    changed, result, _ = ensure(conn, **dict(NEW, state=state))
    assert result["plan"] == plan and changed == bool(plan)
    assert conn.lookupByName("n1").state()[0] == final


class StubbornDom:
    """A libvirt domain stand-in whose guest ignores the shutdown request (no ACPI handler)."""

    def __init__(self):
        self.active = True
        self.calls = []

    def name(self):
        return "stubborn"

    def state(self):
        return (1, 1) if self.active else (5, 1)

    def shutdown(self):
        self.calls.append("shutdown")

    def destroy(self):
        self.calls.append("destroy")
        self.active = False

    def isActive(self):
        return self.active


def test_stop_times_out_then_forces_only_when_asked():
    clock = Clock()
    dom = StubbornDom()
    guest = Guest(None, dom)
    with pytest.raises(lc.VirtError, match="^shutdown_timeout: vm stubborn did not shut down within 30s"):
        power_ops.stop(guest, {"shutdown_timeout": 30, "force": False}, clock, clock.sleep)
    assert dom.calls == ["shutdown"] and 30 <= clock.now < 31
    power_ops.stop(guest, {"shutdown_timeout": 30, "force": True}, clock, clock.sleep)
    assert dom.calls == ["shutdown", "shutdown", "destroy"] and not dom.active


def test_stop_with_zero_timeout_and_force_powers_off_at_once():
    dom = StubbornDom()
    power_ops.stop(Guest(None, dom), {"shutdown_timeout": 0, "force": True})
    assert dom.calls == ["destroy"]


def test_windows_profile_and_i686(conn):
    ensure(conn, name="win", os="windows", memory="64MiB", disks=[dict(pool="local", volume="w.qcow2", size="1GiB")],
           interfaces=[dict(network="lan")])
    root = dx.parse(conn.lookupByName("win").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert root.find("devices/disk/target").get("bus") == "sata"
    assert root.find("devices/interface/model").get("type") == "e1000e"
    assert root.find("clock").get("offset") == "localtime" and root.find("features/hyperv/relaxed") is not None
    assert not ensure(conn, name="win", os="windows", memory="64MiB", interfaces=[dict(network="lan")],
                      disks=[dict(pool="local", volume="w.qcow2", size="1GiB")])[0]
    ensure(conn, name="old", arch="i686", memory="64MiB", disks=[])
    assert dx.parse(conn.lookupByName("old").XMLDesc(0)).find("os/type").get("arch") == "i686"


def test_existing_hand_made_vm_keeps_unknown_devices(conn):
    changed, result, diff = ensure(conn, name="web1", tags=["legacy"])
    assert changed and [c["field"] for c in result["changes"]] == ["metadata"]
    root = dx.parse(conn.lookupByName("web1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert root.find("devices/rng") is not None and dx.get_text(root, "description") == "hand-made"
    assert "<hotiron:tag>legacy</hotiron:tag>" in diff["after"] and "hotiron:tag" not in diff["before"]


def test_xml_escape_hatch_is_merged_and_stable(conn):
    extra = "<domain><devices><panic model='isa'/></devices><on_crash>restart</on_crash></domain>"
    ensure(conn, **dict(NEW, xml=extra))
    root = dx.parse(conn.lookupByName("n1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert dx.get_text(root, "on_crash") == "restart" and root.find("devices/disk") is not None
    assert not ensure(conn, **dict(NEW, xml=extra))[0]


def test_autostart(conn):
    ensure(conn, **NEW)
    changed, result, _ = ensure(conn, **dict(NEW, autostart=True))
    assert changed and result["plan"] == ["set autostart on"]
    assert conn.lookupByName("n1").autostart() == 1
    assert not ensure(conn, **dict(NEW, autostart=True))[0]


class RecordingGuest:
    """Stands in for a running guest: the new persistent definition, and the live calls made."""

    def __init__(self, inactive, keeps=False):
        self.inactive = inactive
        self.keeps = keeps
        self.calls = []

    def inactive_xml(self):
        return self.inactive

    def set_memory_live(self, kib):
        self.calls.append(("memory", kib))

    def set_vcpus_live(self, count):
        self.calls.append(("vcpus", count))

    def set_metadata_live(self, root):
        self.calls.append(("metadata", dx.read_metadata(root).get("owner")))

    def attach_live(self, xml):
        node = dx.parse(xml)
        self.calls.append(("attach", node.tag, (node.find("mac") if node.tag == "interface" else node.find("target")).attrib))

    def detach_live(self, xml, present=None):
        node = dx.parse(xml)
        self.calls.append(("detach", node.tag))
        return present is not None and not self.keeps    # a guest that keeps devices never releases them


LIVE = """<domain><name>g</name><devices>
  <disk type='file' device='disk'><source file='/a'/><target dev='vda' bus='virtio'/></disk>
  <disk type='file' device='disk'><source file='/old'/><target dev='vdc' bus='virtio'/></disk>
  <interface type='network'><mac address='52:54:00:00:00:01'/><source network='lan'/></interface>
</devices></domain>"""
NEW_DEF = """<domain><name>g</name><metadata><hotiron:vm xmlns:hotiron='https://hotiron.example/virt/1'>
  <hotiron:owner>b</hotiron:owner></hotiron:vm></metadata><devices>
  <disk type='file' device='disk'><source file='/a'/><target dev='vda' bus='virtio'/></disk>
  <disk type='file' device='disk'><source file='/b'/><target dev='vdb' bus='virtio'/></disk>
  <interface type='network'><mac address='52:54:00:00:00:01'/><source network='lan'/></interface>
  <interface type='network'><mac address='52:54:00:00:00:02'/><source network='lan'/></interface>
  <interface type='network'><mac address='52:54:00:00:00:03'/><source network='lan'/></interface>
</devices></domain>"""


def test_apply_live_plugs_each_new_device_once_and_skips_restart_changes():
    guest = RecordingGuest(NEW_DEF)
    changes = [
        {"field": "memory", "apply": "live", "after": 65536}, {"field": "vcpus", "apply": "live", "after": 2},
        {"field": "metadata", "apply": "live", "after": {}}, {"field": "description", "apply": "live", "after": "x"},
        {"field": "machine", "apply": "restart", "after": "q35"},
        {"field": "disks.vdb", "apply": "live", "after": {"bus": "virtio"}},
        {"field": "disks.vdc", "apply": "live", "after": None},
        {"field": "interfaces.new1", "apply": "live", "after": {}}, {"field": "interfaces.new2", "apply": "live", "after": {}},
    ]
    assert vm_ops.apply_live(guest, changes, dx.parse(LIVE)) == []
    assert guest.calls == [
        ("memory", 65536), ("vcpus", 2), ("metadata", "b"),
        ("attach", "disk", {"dev": "vdb", "bus": "virtio"}), ("detach", "disk"),
        ("attach", "interface", {"address": "52:54:00:00:00:02"}),
        ("attach", "interface", {"address": "52:54:00:00:00:03"}),
    ]


def test_apply_live_warns_when_the_guest_does_not_release_an_unplugged_device():
    guest = RecordingGuest(NEW_DEF, keeps=True)
    changes = [{"field": "disks.vdc", "apply": "live", "after": None},
               {"field": "interfaces.52:54:00:00:00:01", "apply": "live", "after": None}]
    warnings = vm_ops.apply_live(guest, changes, dx.parse(LIVE))
    assert [w.split(":", 1)[0] for w in warnings] == ["disks.vdc", "interfaces.52"]
    assert all("has not released the device yet" in w and "restart_required" in w for w in warnings)
    assert vm_ops.apply_live(RecordingGuest(NEW_DEF), changes, dx.parse(LIVE)) == []


@pytest.mark.parametrize("state, starts", [("running", ["start vm n1"]), ("paused", ["start paused vm n1"]),
                                           ("restarted", ["start vm n1"]), ("stopped", []), ("present", [])])
def test_creating_plans_its_start_the_same_in_check_mode_and_for_real(conn, state, starts):
    """One decision for the start of a new VM: check mode used to plan "start vm n1" for state
    paused (the run: "start vm n1 paused"), and restarted started it twice for real."""
    _changed, planned, _diff = ensure(conn, check=True, **dict(NEW, state=state))
    _changed, done, _diff = ensure(conn, **dict(NEW, state=state))
    assert planned["plan"] == done["plan"]
    assert [step for step in done["plan"] if step.startswith(("start", "stop"))] == starts


def test_machine_alias_in_xml_is_idempotent(conn):
    """``<type machine='pc'>`` in ``xml`` is stored as the versioned machine the alias stands for;
    a second run finds nothing to change (it reported ``pc-i440fx-7.2 -> pc`` every time)."""
    host = resolve_ops.host_facts(conn)
    host["arches"]["x86_64"]["machines"] = {"pc": "pc-i440fx-7.2", "pc-i440fx-7.2": "pc-i440fx-7.2"}
    spec = params(**dict(NEW, xml="<domain><os><type machine='pc'>hvm</type></os></domain>"))
    assert vm_ops.ensure(conn, spec, host=host)[0]
    root = dx.parse(conn.lookupByName("n1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert root.find("os/type").get("machine") == "pc-i440fx-7.2"
    changed, result, _ = vm_ops.ensure(conn, spec, host=host)
    assert not changed and result["plan"] == []
    with pytest.raises(lc.VirtError, match="^xml: this host cannot emulate machine 'virt'"):
        vm_ops.ensure(conn, dict(spec, xml="<domain><os><type machine='virt'>hvm</type></os></domain>"), host=host)


@pytest.mark.parametrize("kwargs,creates", [
    ({}, False),
    (dict(memory="64MiB", interfaces=[dict(network="lan")], state="running"), False),
    (dict(xml="<domain><devices><panic model='isa'/></devices></domain>"), False),
    (dict(disks=[]), True),
    (dict(xml="<domain><os><boot dev='network'/></os></domain>"), True),
    (dict(xml="<domain><devices><disk type='file' device='cdrom'><target dev='sda' bus='sata'/></disk></devices></domain>"),
     True),
    (dict(clone_from="tmpl"), True),
])
def test_a_missing_vm_is_created_only_from_a_definition(conn, kwargs, creates):
    before = snapshot(conn)
    if creates:
        assert ensure(conn, name="nope-a", **kwargs)[0] and lc.lookup_domain(conn, "nope-a") is not None
        return
    for check in (True, False):
        with pytest.raises(lc.VirtError, match="^name: no vm called 'nope-a' on test:.*nothing to create it from: give disks"):
            ensure(conn, check=check, name="nope-a", **kwargs)
    assert snapshot(conn) == before


def test_remove_disks_deletes_every_file_disk_of_the_vm(conn):
    """remove_disks: the volumes the collection made and the disks it did not make (data.raw) go."""
    ensure(conn, **dict(NEW, disks=NEW["disks"] + [dict(pool="local", volume="data.raw")]))
    before = snapshot(conn)
    changed, result, diff = ensure(conn, name="n1", state="absent", remove_disks=True, check=True)
    assert changed and result["plan"] == [
        "undefine vm n1", "force off vm n1", "delete disk vda (/var/lib/hotiron-test/local/n1.qcow2)",
        "delete disk vdb (/var/lib/hotiron-test/local/data.raw)"]
    assert result["removed_disks"] == ["/var/lib/hotiron-test/local/n1.qcow2", "/var/lib/hotiron-test/local/data.raw"]
    assert "disk file /var/lib/hotiron-test/local/data.raw\n" in diff["before"] and diff["after"] == ""
    assert snapshot(conn) == before
    assert ensure(conn, name="n1", state="absent", remove_disks=True, remove_volumes=True)[1]["plan"][2:] == [
        "delete volume local/n1.qcow2", "delete disk vdb (/var/lib/hotiron-test/local/data.raw)"]
    assert lc.lookup_domain(conn, "n1") is None
    assert sorted(conn.storagePoolLookupByName("local").listVolumes()) == ["tmpl.qcow2"]


@pytest.mark.parametrize("other,message", [
    (dict(disks=[dict(pool="local", volume="data.raw")]), "disk file /var/lib/hotiron-test/local/data.raw of vm n1 is used by n2"),
    (dict(clone_from="local/data.raw"), "disk file /var/lib/hotiron-test/local/data.raw of vm n1 is used by n2"),
])
def test_remove_disks_refuses_a_disk_another_vm_uses(conn, other, message):
    ensure(conn, **dict(NEW, disks=[dict(pool="local", volume="data.raw")], state="present"))
    ensure(conn, name="n2", memory="64MiB", **other)
    before = snapshot(conn)
    for check in (True, False):
        with pytest.raises(lc.VirtError, match="^remove_disks: " + message):
            ensure(conn, check=check, name="n1", state="absent", remove_disks=True)
    assert snapshot(conn) == before


def test_remove_disks_refuses_a_disk_outside_the_pools(conn):
    ensure(conn, **dict(NEW, disks=[dict(path="/srv/elsewhere/n1.img")], state="present"))
    with pytest.raises(lc.VirtError, match="^remove_disks: disk vda of vm n1 .*/srv/elsewhere/n1.img.* is not a volume"):
        ensure(conn, name="n1", state="absent", remove_disks=True)
    assert lc.lookup_domain(conn, "n1") is not None


@pytest.mark.parametrize("keep", [True, False])
def test_keep_nvram_says_what_happens_to_the_uefi_variables(conn, keep):
    ensure(conn, **dict(NEW, state="present", xml="<domain><os><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>"
                        "<nvram>/var/lib/hotiron-test/n1_VARS.fd</nvram></os></domain>"))
    # (the test driver has no NVRAM undefine flags: the lab test removes a VM for real)
    changed, result, _ = ensure(conn, name="n1", state="absent", keep_nvram=keep, check=True)
    assert changed and result["plan"] == ["undefine vm n1, %s its UEFI variables file /var/lib/hotiron-test/n1_VARS.fd"
                                          % ("keeping" if keep else "deleting")]


@pytest.mark.parametrize("check", [True, False])
def test_stop_without_waiting_sends_the_request_and_returns(conn, check):
    ensure(conn, **NEW)
    changed, result, _ = ensure(conn, check=check, **dict(NEW, state="stopped", wait=False))
    assert changed and result["plan"] == ["request the shutdown of vm n1 (not waiting)"]
    # the test driver's guests shut down at once; a real one reports "shutting down" (the lab test)
    assert check or result["vm"]["state"] in ("shutoff", "shutting down")


def test_stop_without_waiting_does_not_wait_nor_force():
    clock = Clock()
    dom = StubbornDom()
    result = {"plan": []}
    assert power_ops.ensure_power(Guest(None, dom), "stopped", {"wait": False, "shutdown_timeout": 30}, False, False,
                                  result, clock, clock.sleep)
    assert dom.calls == ["shutdown"] and dom.active and clock.now == 0


@pytest.mark.parametrize("kwargs,message", [
    (dict(state="running", wait=False), "^wait: false applies to state stopped"),
    (dict(state="stopped", wait=False, force=True), "^force: needs waiting for the shutdown"),
])
def test_stop_without_waiting_bad_combinations(conn, kwargs, message):
    with pytest.raises(lc.VirtError, match=message):
        ensure(conn, name="web1", **kwargs)


def test_removing_a_vm_with_its_volumes_removes_its_cloud_init_seed(conn):
    """The seed the collection made for the VM (its user data may hold passwords) goes with
    remove_volumes or remove_disks; another VM's seed attached to it stays."""
    pool = conn.storagePoolLookupByName("local")
    for name in ("n1-cidata.iso", "n9-cidata.iso"):
        pool.createXML("<volume><name>%s</name><capacity>4096</capacity><target><format type='raw'/></target></volume>" % name, 0)
    seeds = [dict(pool="local", volume=v, device="cdrom", bus="sata") for v in ("n1-cidata.iso", "n9-cidata.iso")]
    ensure(conn, **dict(NEW, disks=NEW["disks"] + seeds, state="present"))
    changed, result, _diff = ensure(conn, name="n1", state="absent", remove_volumes=True)
    assert changed and "delete volume /var/lib/hotiron-test/local/n1-cidata.iso (its cloud-init seed)" in result["plan"]
    assert sorted(pool.listVolumes()) == ["data.raw", "n9-cidata.iso", "tmpl.qcow2"]
