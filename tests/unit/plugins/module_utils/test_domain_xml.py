# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The domain XML model: round trips keep what it does not know; normalisation."""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx

HAND_MADE = """<domain type='kvm' xmlns:other='urn:other'>
  <name>web1</name>
  <metadata>
    <other:thing colour='blue'>kept</other:thing>
  </metadata>
  <memory unit='GiB'>1</memory>
  <devices>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <watchdog model='i6300esb' action='reset'/>
  </devices>
  <seclabel type='dynamic' model='selinux' relabel='yes'/>
</domain>"""


def test_round_trip_keeps_unknown_xml_and_foreign_metadata():
    root = dx.parse(HAND_MADE)
    dx.write_metadata(root, {"owner": "team-a", "tags": ["b", "a"]})
    text = dx.tostring(root)
    again = dx.parse(text)
    assert again.find("devices/rng/backend").text == "/dev/urandom"
    assert again.find("devices/watchdog").get("action") == "reset"
    assert again.find("seclabel").get("model") == "selinux"
    assert again.find("metadata/{urn:other}thing").text == "kept"
    assert dx.read_metadata(again) == {"owner": "team-a", "tags": ["b", "a"]}


@pytest.mark.parametrize("values", [
    {},
    {"owner": "x"},
    {"owner": "x", "ha_priority": "10", "template": "true"},
    {"tags": ["a", "b"], "extra": {"k": "v", "a": "1"}},
    {"volumes": [{"pool": "p", "name": "b"}, {"pool": "p", "name": "a"}], "clone_of": "t"},
])
def test_metadata_round_trip(values):
    root = dx.parse("<domain><name>a</name></domain>")
    dx.write_metadata(root, values)
    got = dx.read_metadata(dx.parse(dx.tostring(root)))
    if "volumes" in values:
        assert sorted(got.pop("volumes"), key=lambda v: v["name"]) == sorted(values["volumes"], key=lambda v: v["name"])
        values = {k: v for k, v in values.items() if k != "volumes"}
    assert got == values


def test_empty_metadata_removes_only_our_element():
    root = dx.parse(HAND_MADE)
    dx.write_metadata(root, {"owner": "x"})
    dx.write_metadata(root, {})
    assert dx.metadata_element(root) is None
    assert root.find("metadata/{urn:other}thing") is not None
    bare = dx.parse("<domain/>")
    dx.write_metadata(bare, {"owner": "x"})
    dx.write_metadata(bare, {})
    assert bare.find("metadata") is None


def test_metadata_is_written_in_a_stable_order():
    a, b = dx.parse("<domain/>"), dx.parse("<domain/>")
    dx.write_metadata(a, {"owner": "x", "resource_group": "g", "extra": {"b": "1", "a": "2"}})
    dx.write_metadata(b, {"extra": {"a": "2", "b": "1"}, "resource_group": "g", "owner": "x"})
    assert dx.tostring(a) == dx.tostring(b)


@pytest.mark.parametrize("text,unit,kib", [
    ("1", "GiB", 1048576), ("512", "MiB", 524288), ("524288", None, 524288),
    ("524288", "KiB", 524288), ("1073741824", "bytes", 1048576), ("1", "G", 1048576),
])
def test_memory_units(text, unit, kib):
    attr = " unit='%s'" % unit if unit else ""
    root = dx.parse("<domain><memory%s>%s</memory></domain>" % (attr, text))
    assert dx.memory_kib(root, "memory") == kib


def test_unknown_unit_is_an_error():
    with pytest.raises(dx.XMLError):
        dx.to_bytes("1", "parsecs")


def test_normalise_ignores_layout_units_attribute_order_and_aliases():
    a = "<domain type='kvm'><name>x</name><memory unit='GiB'>1</memory><devices><disk type='file' device='disk'>" \
        "<alias name='virtio-disk0'/><target dev='vda' bus='virtio'/></disk></devices></domain>"
    b = """<domain type="kvm">
      <name> x </name>
      <memory unit="KiB">1048576</memory>
      <devices>
        <disk device="disk" type="file"><target bus="virtio" dev="vda"/></disk>
      </devices>
    </domain>"""
    assert dx.normalise(a) == dx.normalise(b)


def test_normalise_sees_real_differences():
    a = "<domain><name>x</name><memory unit='MiB'>512</memory></domain>"
    b = "<domain><name>x</name><memory unit='MiB'>513</memory></domain>"
    assert dx.normalise(a) != dx.normalise(b)


def test_normalise_can_drop_uuid():
    a = "<domain><name>x</name><uuid>1</uuid></domain>"
    assert "uuid" in dx.normalise(a)
    assert "uuid" not in dx.normalise(a, keep_uuid=False)


def test_parse_rejects_malformed():
    with pytest.raises(dx.XMLError, match="not well-formed"):
        dx.parse("<domain>")


def test_merge_adds_devices_once_and_merges_elsewhere():
    root = dx.parse(HAND_MADE)
    patch = dx.parse("<domain><features><pae/></features><devices>"
                     "<watchdog model='i6300esb' action='reset'/><panic model='isa'/></devices>"
                     "<on_crash>restart</on_crash></domain>")
    dx.merge(root, patch)
    dx.merge(root, patch)
    assert len(root.findall("devices/watchdog")) == 1
    assert len(root.findall("devices/panic")) == 1
    assert root.find("features/pae") is not None
    assert dx.get_text(root, "on_crash") == "restart"


def test_merge_matches_children_by_identifying_attributes():
    root = dx.parse("<domain><clock offset='utc'><timer name='rtc' tickpolicy='catchup'/></clock></domain>")
    dx.merge(root, dx.parse("<domain><clock><timer name='hpet' present='no'/>"
                            "<timer name='rtc' tickpolicy='delay'/></clock></domain>"))
    timers = {t.get("name"): t.attrib for t in root.findall("clock/timer")}
    assert timers["rtc"]["tickpolicy"] == "delay"
    assert timers["hpet"]["present"] == "no"
    assert root.find("clock").get("offset") == "utc"


def test_device_equality_ignores_addresses():
    root = dx.parse("<domain><devices><rng model='virtio'><backend model='random'>/dev/urandom</backend>"
                    "<address type='pci' bus='0x00' slot='0x07'/></rng></devices></domain>")
    dx.merge(root, dx.parse("<domain><devices><rng model='virtio'><backend model='random'>/dev/urandom</backend>"
                            "</rng></devices></domain>"))
    assert len(root.findall("devices/rng")) == 1


def test_a_device_libvirt_expanded_is_recognised_and_not_added_again():
    # What libvirt returns for a patch's <serial type='pty'/> after a define.
    root = dx.parse("<domain><devices><serial type='pty'><target type='isa-serial' port='0'>"
                    "<model name='isa-serial'/></target><alias name='serial0'/></serial></devices></domain>")
    dx.merge(root, dx.parse("<domain><devices><serial type='pty'/></devices></domain>"))
    assert len(root.findall("devices/serial")) == 1
    # A device that differs in what the patch says is still added.
    dx.merge(root, dx.parse("<domain><devices><serial type='pty'><target port='1'/></serial></devices></domain>"))
    assert [s.find("target").get("port") for s in root.findall("devices/serial")] == ["0", "1"]
    dx.merge(root, dx.parse("<domain><devices><serial type='file'><source path='/tmp/x'/></serial></devices></domain>"))
    assert len(root.findall("devices/serial")) == 3


def test_helpers_create_and_remove_paths():
    root = dx.parse("<domain/>")
    dx.set_text(root, "os/type", "hvm")
    assert dx.get_text(root, "os/type") == "hvm"
    dx.set_attrs(root.find("os/type"), arch="x86_64", machine=None)
    assert root.find("os/type").attrib == {"arch": "x86_64"}
    dx.remove_path(root, "os/type")
    assert root.find("os/type") is None and root.find("os") is not None
    assert dx.get_text(root, "nothing", "d") == "d"


def test_secrets_are_masked_in_what_a_diff_shows():
    text = "<graphics type='vnc' passwd='s3cret1' port='-1'/>\n<graphics type=\"spice\" passwd=\"x y\"/>"
    masked = dx.mask_secrets(text)
    assert "s3cret1" not in masked and "x y" not in masked and masked.count('passwd="********"') == 2
    assert "port='-1'" in masked and dx.mask_secrets("") == "" and dx.mask_secrets(None) is None
