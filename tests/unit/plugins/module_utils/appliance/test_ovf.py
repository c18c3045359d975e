# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading OVF descriptors of both dialects (tests/data/ovf/) and what is refused."""

from __future__ import annotations

import pytest

import appliances  # tests/lab/appliances.py

from ansible_collections.hotiron.virt.plugins.module_utils.appliance import ovf

MIB = 1024 * 1024


def vmware(**values):
    base = dict(NAME="app1", DISK1_FILE_SIZE=1000, DISK2_FILE_SIZE=2000, DISK1_MIB=4, DISK2_MIB=2,
                VCPUS=2, MEMORY_MIB=48, FIRMWARE="bios")
    base.update(values)
    return appliances.descriptor("vmware-ovf1.ovf", **base)


def virtualbox(**values):
    base = dict(NAME="vb1", DISK1_BYTES=8 * MIB, VCPUS=1, MEMORY_MIB=64, FIRMWARE_VBOX="BIOS")
    base.update(values)
    return appliances.descriptor("virtualbox-ovf2.ovf", **base)


def test_vmware_dialect_scsi_disks_in_unit_order_nics_and_ignored_devices():
    model = ovf.parse(vmware())
    assert (model["dialect"], model["ovf_version"], model["name"]) == ("vmware", "1.0", "app1")
    assert (model["vcpus"], model["memory"], model["firmware"]) == (2, 48 * MIB, "bios")
    assert model["os"] == {"cim_id": 101, "type": "otherLinux64Guest", "description": None,
                           "family": "linux", "bits": 64}
    assert [(d["disk_id"], d["controller"]["type"], d["controller"]["model"], d["unit"], d["capacity"])
            for d in model["disks"]] == [("vmdisk1", "scsi", "lsilogic", 0, 4 * MIB),
                                         ("vmdisk2", "scsi", "lsilogic", 1, 2 * MIB)]
    assert [d["file"] for d in model["disks"]] == [{"id": "file1", "href": "app1-disk1.vmdk", "size": 1000},
                                                   {"id": "file2", "href": "app1-disk2.vmdk", "size": 2000}]
    assert all(d["format"] == "vmdk" for d in model["disks"])
    assert [(n["network"], n["model"]) for n in model["nics"]] == [("VM Network", "E1000"), ("Backend", "VmxNet3")]
    assert model["networks"] == ["VM Network", "Backend"]
    assert model["description"] == "Test appliance made by hotiron.virt's tests"
    assert model["ignored"] == ["empty CD/DVD drive CD-ROM 1", "graphics controller VirtualVideoCard",
                                "USB controller usb"]


def test_vmware_firmware_efi_from_vmw_config():
    assert ovf.parse(vmware(FIRMWARE="efi"))["firmware"] == "uefi"


def test_virtualbox_dialect_storage_and_ethernet_port_items_on_sata():
    model = ovf.parse(virtualbox())
    assert (model["dialect"], model["ovf_version"], model["name"]) == ("virtualbox", "2.0", "vb1")
    assert (model["vcpus"], model["memory"], model["firmware"]) == (1, 64 * MIB, "bios")
    assert model["os"]["family"] == "linux" and model["os"]["type"] == "Debian_64" and model["os"]["cim_id"] == 96
    [disk] = model["disks"]
    assert (disk["controller"]["type"], disk["unit"], disk["capacity"], disk["file"]["size"]) == ("sata", 0, 8 * MIB, None)
    assert [(n["network"], n["model"]) for n in model["nics"]] == [("NAT", "E1000")]
    assert model["ignored"] == ["empty CD/DVD drive cdrom1", "sound card sound"]


def test_virtualbox_firmware_only_in_its_machine_section():
    assert ovf.parse(virtualbox(FIRMWARE_VBOX="EFI"))["firmware"] == "uefi"


def test_memory_in_gigabytes_units_and_capacity_in_bytes():
    text = vmware().replace("<rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>",
                            "<rasd:AllocationUnits>byte * 2^30</rasd:AllocationUnits>")
    text = text.replace("<rasd:VirtualQuantity>48</rasd:VirtualQuantity>", "<rasd:VirtualQuantity>2</rasd:VirtualQuantity>")
    text = text.replace('ovf:capacity="4" ovf:capacityAllocationUnits="byte * 2^20"', 'ovf:capacity="4194304"')
    model = ovf.parse(text)
    assert model["memory"] == 2 * 1024 * MIB
    assert model["disks"][0]["capacity"] == 4 * MIB


def test_capacity_from_a_product_property():
    text = vmware().replace('ovf:capacity="4"', 'ovf:capacity="${disk_size}"').replace(
        "<VirtualSystem ovf:id=\"app1\">",
        "<VirtualSystem ovf:id=\"app1\"><ProductSection><Info>x</Info>"
        "<Property ovf:key=\"disk_size\" ovf:type=\"int\" ovf:value=\"16\"/></ProductSection>")
    assert ovf.parse(text)["disks"][0]["capacity"] == 16 * MIB


@pytest.mark.parametrize("mutate, message", [
    (lambda t: t.replace("<rasd:Parent>3</rasd:Parent>", "<rasd:Parent>42</rasd:Parent>", 1),
     "Parent '42' is not a disk controller"),
    (lambda t: t.replace("ovf:/disk/vmdisk1", "ovf:/disk/nosuch"), "disk 'nosuch', which the DiskSection does not list"),
    (lambda t: t.replace('ovf:fileRef="file1"', 'ovf:fileRef="file9"'), "file 'file9', which the References section"),
    (lambda t: t.replace('ovf:href="app1-disk1.vmdk"', 'ovf:href="../../etc/shadow"'), "points outside the package"),
    (lambda t: t.replace('ovf:href="app1-disk1.vmdk"', 'ovf:href="http://example.invalid/d.vmdk"'), "URLs"),
    (lambda t: t.replace('ovf:href="app1-disk1.vmdk"', 'ovf:href="/etc/shadow"'), "absolute paths"),
    (lambda t: t.replace('ovf:id="file1"', 'ovf:id="file1" ovf:compression="gzip"'), "gzip-compressed"),
    (lambda t: t.replace('ovf:id="file1"', 'ovf:id="file1" ovf:chunkSize="1000"'), "chunks"),
    (lambda t: t.replace("<rasd:VirtualQuantity>2</rasd:VirtualQuantity>", "<rasd:VirtualQuantity>0</rasd:VirtualQuantity>"),
     "vCPUs.*at least 1"),
    (lambda t: t.replace("<rasd:ResourceType>3</rasd:ResourceType>", ""), "has no ResourceType"),
    (lambda t: t.replace("</Envelope>", ""), "not well-formed"),
    (lambda t: t.replace("http://schemas.dmtf.org/ovf/envelope/1", "http://www.vmware.com/schema/ovf/1/envelope"),
     "not an OVF 1.x/2.x descriptor"),
])
def test_descriptors_the_import_cannot_read_are_refused_with_the_reason(mutate, message):
    with pytest.raises(ovf.OVFError, match=message):
        ovf.parse(mutate(vmware()))


def test_a_collection_of_systems_needs_a_choice():
    text = vmware()
    start, end = text.index("<VirtualSystem "), text.index("</VirtualSystem>") + len("</VirtualSystem>")
    system = text[start:end]
    second = system.replace('ovf:id="app1"', 'ovf:id="app2"').replace("<Name>app1</Name>", "<Name>app2</Name>")
    collection = text[:start] + ('<VirtualSystemCollection ovf:id="pair"><Info>two</Info>%s%s</VirtualSystemCollection>'
                                 % (system, second)) + text[end:]
    with pytest.raises(ovf.OVFError, match="2 virtual systems .'app1', 'app2'.: choose one with system"):
        ovf.parse(collection)
    assert ovf.parse(collection, system="app2")["name"] == "app2"
    with pytest.raises(ovf.OVFError, match="no virtual system 'app3'"):
        ovf.parse(collection, system="app3")


def test_deployment_configurations_pick_their_items():
    text = vmware().replace("<VirtualSystem ", '<DeploymentOptionSection><Info>sizes</Info>'
                            '<Configuration ovf:id="small"><Label>S</Label><Description>s</Description></Configuration>'
                            '<Configuration ovf:default="true" ovf:id="large"><Label>L</Label><Description>l</Description></Configuration>'
                            '</DeploymentOptionSection><VirtualSystem ', 1)
    memory_item = ("<Item>\n        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>\n"
                   "        <rasd:Description>Memory Size</rasd:Description>")
    assert memory_item in text
    text = text.replace(memory_item, '<Item ovf:configuration="small">\n        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>'
                        '<rasd:InstanceID>99</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType>'
                        '<rasd:VirtualQuantity>16</rasd:VirtualQuantity></Item>\n'
                        + memory_item.replace("<Item>", '<Item ovf:configuration="large">'))
    assert ovf.parse(text)["memory"] == 48 * MIB
    assert ovf.parse(text, configuration="small")["memory"] == 16 * MIB
    with pytest.raises(ovf.OVFError, match="no deployment configuration 'huge'"):
        ovf.parse(text, configuration="huge")


@pytest.mark.parametrize("cim_id, os_type, family, bits", [
    (101, "otherLinux64Guest", "linux", 64), (1, "windows9_64Guest", "windows", 64), (105, None, "windows", 32),
    (36, "otherLinuxGuest", "linux", 32), (1, "otherGuest", "other", 32), (1, None, "other", None),
    (94, "ubuntu64Guest", "linux", 64), (109, "Oracle_64", "linux", 64), (1, "freebsd64Guest", "other", 64),
])
def test_os_family_and_word_size(cim_id, os_type, family, bits):
    text = vmware().replace('ovf:id="101" vmw:osType="otherLinux64Guest"',
                            'ovf:id="%d"%s' % (cim_id, ' vmw:osType="%s"' % os_type if os_type else ""))
    model = ovf.parse(text)
    assert (model["os"]["family"], model["os"]["bits"]) == (family, bits)


def test_cdrom_with_an_iso_is_a_drive_and_hard_disks_come_first():
    text = vmware().replace('<File ovf:href="app1-disk2.vmdk" ovf:id="file2" ovf:size="2000"/>',
                            '<File ovf:href="app1-disk2.vmdk" ovf:id="file2" ovf:size="2000"/>'
                            '<File ovf:href="tools.iso" ovf:id="file3" ovf:size="4096"/>')
    text = text.replace("<rasd:ResourceSubType>vmware.cdrom.remotepassthrough</rasd:ResourceSubType>",
                        "<rasd:HostResource>ovf:/file/file3</rasd:HostResource>")
    model = ovf.parse(text)
    assert [(d["device"], d["controller"]["type"], d["controller"]["address"]) for d in model["disks"]] == [
        ("disk", "scsi", 0), ("disk", "scsi", 0), ("cdrom", "ide", 1)]
    assert model["disks"][2]["file"]["href"] == "tools.iso"


@pytest.mark.parametrize("subtype, kind, model", [
    ("AHCI", "sata", "ahci"), ("vmware.sata.ahci", "sata", "ahci"), ("vmware.nvme.controller", "nvme", "nvme"),
    ("VirtioSCSI", "scsi", "virtio-scsi"), ("LsiLogicSas", "scsi", "lsilogicsas"),
])
def test_other_storage_controllers(subtype, kind, model):
    text = virtualbox().replace("<rasd:ResourceSubType>AHCI</rasd:ResourceSubType>",
                                "<rasd:ResourceSubType>%s</rasd:ResourceSubType>" % subtype)
    disk = ovf.parse(text)["disks"][0]
    assert (disk["controller"]["type"], disk["controller"]["model"]) == (kind, model)


def test_our_own_hints_section_is_read():
    text = vmware().replace("</VirtualSystem>", (
        '<hotiron:Spec xmlns:hotiron="https://hotiron.example/virt/1" ovf:required="false"><Info>x</Info>'
        '<hotiron:os>windows</hotiron:os><hotiron:disk diskId="vmdisk1" bus="virtio" target="vda"/>'
        '<hotiron:nic item="11" model="virtio"/><hotiron:tag>web</hotiron:tag><hotiron:tag>prod</hotiron:tag>'
        '<hotiron:controller item="3" type="scsi" model="virtio-scsi"/>'
        '<hotiron:owner>team-a</hotiron:owner></hotiron:Spec></VirtualSystem>'))
    assert ovf.parse(text)["hints"] == {"os": "windows", "disks": {"vmdisk1": {"bus": "virtio", "target": "vda", "index": None}},
                                        "nics": {"11": {"model": "virtio"}},
                                        "controllers": {"3": {"type": "scsi", "model": "virtio-scsi"}},
                                        "metadata": {"tags": ["web", "prod"], "owner": "team-a"}}


def test_oversized_descriptor_is_refused_before_parsing():
    with pytest.raises(ovf.OVFError, match="more than the"):
        ovf.parse(b" " * (ovf.MAX_DESCRIPTOR + 1))
