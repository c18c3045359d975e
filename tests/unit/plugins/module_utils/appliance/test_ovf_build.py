# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The exported descriptor: shaped as VMware's and accepted by VirtualBox's reader rules,
and read back by our own reader into the same VM."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.appliance import ovf
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import ovf_build

MIB = 1024 * 1024
RASD = "{%s}" % ovf_build.RASD
OVF = "{%s}" % ovf_build.OVF


def spec(**changes):
    base = {
        "name": "web1", "description": "the web server", "vcpus": 2, "memory": 96 * MIB, "firmware": "bios",
        "os": {"profile": "linux", "cim_id": None, "type": None, "bits": 64}, "scsi_model": None,
        "disks": [{"id": "vmdisk1", "file": "web1-disk1.vmdk", "file_size": 1234, "capacity": 4 * MIB,
                   "bus": "virtio", "target": "vda"},
                  {"id": "vmdisk2", "file": "web1-disk2.vmdk", "file_size": 99, "capacity": 2 * MIB,
                   "bus": "sata", "target": "sda"}],
        "nics": [{"network": "lan", "model": "virtio"}, {"network": "dmz", "model": "e1000e"}],
        "metadata": {"tags": ["web", "prod"], "resource_group": "rg1"},
    }
    base.update(changes)
    return base


def items(text):
    root = ET.fromstring(text)
    return root, root.findall("%sVirtualSystem/%sVirtualHardwareSection/%sItem" % (OVF, OVF, OVF))


def test_read_back_gives_the_same_vm():
    model = ovf.parse(ovf_build.build(spec()))
    assert (model["dialect"], model["ovf_version"], model["name"], model["description"]) == (
        "vmware", "1.0", "web1", "the web server")
    assert (model["vcpus"], model["memory"], model["firmware"]) == (2, 96 * MIB, "bios")
    assert [(d["disk_id"], d["capacity"], d["file"]["href"], d["file"]["size"], d["controller"]["type"])
            for d in model["disks"]] == [("vmdisk1", 4 * MIB, "web1-disk1.vmdk", 1234, "scsi"),
                                         ("vmdisk2", 2 * MIB, "web1-disk2.vmdk", 99, "sata")]
    assert [(n["network"], n["model"]) for n in model["nics"]] == [("lan", "E1000"), ("dmz", "E1000e")]
    assert model["os"] == {"cim_id": 101, "type": "otherLinux64Guest", "description": None, "family": "linux", "bits": 64}
    assert model["hints"] == {"os": "linux", "disks": {"vmdisk1": {"bus": "virtio", "target": "vda", "index": 1},
                                                       "vmdisk2": {"bus": "sata", "target": "sda", "index": 2}},
                              "nics": {"7": {"model": "virtio"}, "8": {"model": "e1000e"}}, "controllers": {},
                              "metadata": {"tags": ["web", "prod"], "resource_group": "rg1"}}
    assert model["ignored"] == [] and model["networks"] == ["lan", "dmz"]


def test_disks_on_their_controllers_virtio_as_lsi_logic_sata_as_ahci():
    model = ovf.parse(ovf_build.build(spec()))
    by_id = {d["disk_id"]: (d["controller"]["type"], d["controller"]["model"], d["unit"]) for d in model["disks"]}
    assert by_id == {"vmdisk1": ("scsi", "lsilogic", 0), "vmdisk2": ("sata", "ahci", 0)}


def test_shaped_as_vmware_writes_it():
    text = ovf_build.build(spec(firmware="uefi"))
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<Envelope ')
    assert 'xmlns="http://schemas.dmtf.org/ovf/envelope/1"' in text
    root, found = items(text)
    assert root.find("%sVirtualSystem/%sVirtualHardwareSection/%sSystem/{%s}VirtualSystemType"
                     % (OVF, OVF, OVF, ovf_build.VSSD)).text == "vmx-10"
    for item in found:
        names = [child.tag.replace(RASD, "") for child in item]
        assert names == sorted(names, key=ovf_build.RASD_ORDER.index), names   # the schema's sequence
        assert "Caption" in names and "InstanceID" in names                    # VirtualBox needs a caption
    sata = [i for i in found if i.find(RASD + "ResourceType").text == "20"]
    assert [i.find(RASD + "Caption").text for i in sata] == ["sataController0"]
    assert [i.find(RASD + "ResourceSubType").text for i in sata] == ["vmware.sata.ahci"]
    os_section = root.find("%sVirtualSystem/%sOperatingSystemSection" % (OVF, OVF))
    assert os_section.get(OVF + "id") == "101"
    config = root.findall("%sVirtualSystem/%sVirtualHardwareSection/{%s}Config" % (OVF, OVF, ovf_build.VMW))
    assert [(c.get("{%s}key" % ovf_build.VMW), c.get("{%s}value" % ovf_build.VMW)) for c in config] == [("firmware", "efi")]
    spec_section = root.find("%sVirtualSystem/{%s}Spec" % (OVF, ovf.HOTIRON_NS))
    assert spec_section.get(OVF + "required") == "false"
    assert ovf.parse(text)["firmware"] == "uefi"
    assert "vmw:Config" not in ovf_build.build(spec())


def test_references_and_disks_agree():
    root = ET.fromstring(ovf_build.build(spec()))
    files = {f.get(OVF + "id"): f.get(OVF + "href") for f in root.find(OVF + "References")}
    disks = {d.get(OVF + "diskId"): (files[d.get(OVF + "fileRef")], d.get(OVF + "format"))
             for d in root.find(OVF + "DiskSection").findall(OVF + "Disk")}
    assert disks == {"vmdisk1": ("web1-disk1.vmdk", ovf_build.STREAM_OPTIMIZED),
                     "vmdisk2": ("web1-disk2.vmdk", ovf_build.STREAM_OPTIMIZED)}


@pytest.mark.parametrize("profile, bits, recorded, expected", [
    ("linux", 64, {}, ("101", "otherLinux64Guest")), ("windows", 64, {}, ("120", "windows9_64Guest")),
    ("other", 32, {}, ("1", "otherGuest")), (None, 64, {}, ("1", "otherGuest64")),
    ("linux", 64, {"cim_id": "94", "type": "ubuntu64Guest"}, ("94", "ubuntu64Guest")),
])
def test_os_identity(profile, bits, recorded, expected):
    root = ET.fromstring(ovf_build.build(spec(os=dict({"profile": profile, "bits": bits}, **recorded))))
    section = root.find("%sVirtualSystem/%sOperatingSystemSection" % (OVF, OVF))
    assert (section.get(OVF + "id"), section.get("{%s}osType" % ovf_build.VMW)) == expected


def test_the_first_disk_stays_first_whatever_its_controller():
    text = ovf_build.build(spec(disks=list(reversed(spec()["disks"]))))
    assert [d["disk_id"] for d in ovf.parse(text)["disks"]] == ["vmdisk2", "vmdisk1"]
    without_hints = text[:text.index("<hotiron:Spec")] + text[text.index("</hotiron:Spec>") + 15:]
    assert [d["disk_id"] for d in ovf.parse(without_hints)["disks"]] == ["vmdisk2", "vmdisk1"]


def test_controller_plan_skips_the_scsi_hba_unit_and_keeps_ide_channels():
    disks = [{"bus": "scsi", "target": "sd%s" % c} for c in "abcdefghi"] + [
        {"bus": "ide", "target": "hdc"}, {"bus": "ide", "target": "hdb"}]
    controllers, placed = ovf_build.controller_plan(disks, "vmpvscsi")
    assert [unit for _key, unit in placed[:9]] == [0, 1, 2, 3, 4, 5, 6, 8, 9]
    assert placed[9:] == [(("ide", 1), 0), (("ide", 0), 1)]
    assert controllers[("scsi", 0)]["subtype"] == "VirtualSCSI"
    assert list(controllers) == [("scsi", 0), ("ide", 1), ("ide", 0)]     # in the order disks use them


def test_text_is_escaped():
    text = ovf_build.build(spec(description='a <b> & "c"', nics=[{"network": "net & co", "model": "e1000"}]))
    model = ovf.parse(text)
    assert model["description"] == 'a <b> & "c"' and model["networks"] == ["net & co"]


@pytest.mark.parametrize("scsi_model, subtype", [
    ("vmpvscsi", "VirtualSCSI"), ("lsilogic", "lsilogic"), ("lsisas1068", "lsilogicsas"),
    ("virtio-scsi", "lsilogic"),        # what VMware and VirtualBox have; the hint keeps virtio-scsi
])
def test_the_scsi_controller_model_is_written_and_recorded(scsi_model, subtype):
    disks = [dict(spec()["disks"][0], bus="scsi", target="sda"), spec()["disks"][1]]
    text = ovf_build.build(spec(scsi_model=scsi_model, disks=disks))
    root, found = items(text)
    scsi = [i for i in found if i.find(RASD + "ResourceType").text == "6"]
    assert [i.find(RASD + "ResourceSubType").text for i in scsi] == [subtype]
    model = ovf.parse(text)
    item = scsi[0].find(RASD + "InstanceID").text
    assert model["hints"]["controllers"] == {item: {"type": "scsi", "model": scsi_model}}
    assert model["disks"][0]["controller"]["instance"] == item


def test_a_profile_the_builder_does_not_know_is_other():
    root = ET.fromstring(ovf_build.build(spec(os={"profile": "plan9", "bits": 64})))
    assert root.find("%sVirtualSystem/%sOperatingSystemSection" % (OVF, OVF)).get(OVF + "id") == "1"


def test_more_scsi_disks_than_a_controller_holds_is_a_build_error():
    with pytest.raises(ovf_build.BuildError, match="more than 15 disks on the SCSI controller"):
        ovf_build.controller_plan([{"bus": "virtio", "target": "vd%s" % c} for c in "abcdefghijklmnop"], None)
