# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an appliance becomes: buses and controller models kept, NIC models mapped or
replaced with a note, networks mapped, options winning over the descriptor."""

from __future__ import annotations

import pytest

import appliances  # tests/lab/appliances.py

from ansible_collections.hotiron.virt.plugins.module_utils.vm import spec as vs
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import ovf
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import plan as plans

MIB = 1024 * 1024


def vmware_model(**values):
    base = dict(NAME="app1", DISK1_FILE_SIZE=1000, DISK2_FILE_SIZE=2000, DISK1_MIB=4, DISK2_MIB=2,
                VCPUS=2, MEMORY_MIB=48, FIRMWARE="bios")
    base.update(values)
    return ovf.parse(appliances.descriptor("vmware-ovf1.ovf", **base))


def virtualbox_model():
    return ovf.parse(appliances.descriptor("virtualbox-ovf2.ovf", NAME="vb1", DISK1_BYTES=8 * MIB, VCPUS=1,
                                           MEMORY_MIB=64, FIRMWARE_VBOX="BIOS"))


def sources(model, sizes=None):
    sizes = sizes or [d["capacity"] for d in model["disks"]]
    return [{"label": "d%d" % i, "format": "vmdk", "virtual_size": size, "spec": "json:{}", "subformat": None}
            for i, size in enumerate(sizes)]


OPTIONS = dict(pool="images", network_map={"VM Network": "lan", "Backend": "back"})


def decide(model, srcs=None, **options):
    return plans.plan(model, srcs if srcs is not None else sources(model), dict(OPTIONS, **options))


def test_vmware_appliance_keeps_its_scsi_controller_and_disk_order():
    decided = decide(vmware_model())
    vm = decided["vm"]
    assert (vm["name"], vm["vcpus"], vm["memory"], vm["firmware"], vm["os"]) == ("app1", 2, "49152KiB", "bios", "linux")
    assert [(d["volume"], d["bus"], d["format"], d["size"]) for d in vm["disks"]] == [
        ("app1-disk1.qcow2", "scsi", "qcow2", "4194304B"), ("app1-disk2.qcow2", "scsi", "qcow2", "2097152B")]
    assert vm["xml"] == "<domain><devices><controller type='scsi' index='0' model='lsilogic'/></devices></domain>"
    assert vm["metadata"] == {"ovf_os_type": "otherLinux64Guest", "ovf_os_id": "101"}
    assert [v["name"] for v in decided["volumes"]] == ["app1-disk1.qcow2", "app1-disk2.qcow2"]
    # Every NIC keeps the model the descriptor states (VmxNet3 included: QEMU emulates it).
    assert [(n["network"], n["model"], n["mac"]) for n in vm["interfaces"]] == [("lan", "e1000", None), ("back", "vmxnet3", None)]
    assert not [note for note in decided["notes"] if note.startswith("NIC")]
    assert "ignored: USB controller usb" in decided["notes"]
    vs.validate(vm)    # what vm_ops will be given passes the VM spec's own checks


def test_virtualbox_appliance_stays_on_sata():
    vm = decide(virtualbox_model(), network_map={"NAT": "lan"})["vm"]
    assert [(d["bus"], d["target"]) for d in vm["disks"]] == [("sata", None)]
    assert vm["xml"] is None and vm["memory"] == "65536KiB"


def test_every_network_must_be_mapped_and_the_message_lists_them():
    with pytest.raises(plans.PlanError, match="networks 'VM Network', 'Backend' are not mapped"):
        decide(vmware_model(), network_map={})
    vm = decide(vmware_model(), network_map={"VM Network": None}, default_network="dflt")["vm"]
    assert [n["network"] for n in vm["interfaces"]] == ["dflt"]


def test_options_win_over_the_descriptor():
    vm = decide(vmware_model(), name="other", vcpus=4, memory=256 * MIB, firmware="uefi", os="windows",
                disk_bus="virtio", nic_model="virtio", disk_format="raw", tags=["a"], owner="o",
                resource_group="rg", description="d")["vm"]
    assert (vm["name"], vm["vcpus"], vm["memory"], vm["firmware"], vm["os"]) == ("other", 4, "262144KiB", "uefi", "windows")
    assert [(d["bus"], d["volume"]) for d in vm["disks"]] == [("virtio", "other-disk1.raw"), ("virtio", "other-disk2.raw")]
    assert vm["xml"] is None
    assert {n["model"] for n in vm["interfaces"]} == {"virtio"}
    assert (vm["tags"], vm["owner"], vm["resource_group"], vm["description"]) == (["a"], "o", "rg", "d")


def test_the_volume_is_as_large_as_the_bigger_of_descriptor_and_image():
    model = vmware_model()
    decided = decide(model, sources(model, [5 * MIB, MIB]))
    assert [v["capacity"] for v in decided["volumes"]] == [5 * MIB, 2 * MIB]


def test_ide_drives_keep_channel_and_unit():
    model = vmware_model()
    for disk, (address, unit) in zip(model["disks"], [(1, 0), (0, 1)]):
        disk["controller"] = dict(disk["controller"], type="ide", model="piix4", address=address)
        disk["unit"] = unit
    vm = decide(model)["vm"]
    assert [(d["bus"], d["target"]) for d in vm["disks"]] == [("ide", "hdc"), ("ide", "hdb")]


@pytest.mark.parametrize("controller, bus, xml_model, note", [
    ({"type": "scsi", "model": "pvscsi"}, "scsi", "vmpvscsi", None),
    ({"type": "scsi", "model": "lsilogicsas"}, "scsi", "lsisas1068", None),
    ({"type": "scsi", "model": "buslogic"}, "scsi", "lsilogic", "QEMU has no BusLogic"),
    ({"type": "nvme", "model": "nvme"}, "sata", None, "NVMe controller: attached to SATA"),
])
def test_controllers_libvirt_has_differently(controller, bus, xml_model, note):
    model = vmware_model()
    for disk in model["disks"]:
        disk["controller"] = dict(disk["controller"], **controller)
    decided = decide(model)
    assert {d["bus"] for d in decided["vm"]["disks"]} == {bus}
    assert (xml_model in (decided["vm"]["xml"] or "")) if xml_model else decided["vm"]["xml"] is None
    if note:
        assert any(note in n for n in decided["notes"])


def test_a_disk_image_needs_a_name_and_takes_its_nics_from_options():
    model = plans.image_model("app.vhd", "vpc")
    srcs = [{"label": "app.vhd", "format": "vpc", "virtual_size": 10 * MIB, "spec": "json:{}", "subformat": None}]
    with pytest.raises(plans.PlanError, match="name: the appliance names no VM"):
        plans.plan(model, srcs, dict(pool="p", memory=64 * MIB))
    with pytest.raises(plans.PlanError, match="memory: the appliance gives no memory"):
        plans.plan(model, srcs, dict(pool="p", name="app"))
    vm = plans.plan(model, srcs, dict(pool="p", name="app", memory=64 * MIB,
                                      interfaces=[{"network": "lan", "bridge": None, "model": None, "mac": None}]))["vm"]
    assert [(d["bus"], d["size"]) for d in vm["disks"]] == [("virtio", "10485760B")]
    assert vm["interfaces"] == [{"network": "lan", "bridge": None, "model": None, "mac": None}]


def test_hints_of_our_own_export_restore_buses_models_and_metadata():
    model = vmware_model()
    model["hints"] = {"os": "windows", "disks": {"vmdisk1": {"bus": "virtio", "target": "vda"},
                                                 "vmdisk2": {"bus": "sata", "target": "sda"}},
                      "nics": {"11": {"model": "virtio"}, "12": {"model": "rtl8139"}},
                      "metadata": {"tags": ["web"], "resource_group": "rg1"}}
    vm = decide(model)["vm"]
    assert [(d["bus"], d["target"]) for d in vm["disks"]] == [("virtio", "vda"), ("sata", "sda")]
    assert [n["model"] for n in vm["interfaces"]] == ["virtio", "rtl8139"]
    assert (vm["os"], vm["tags"], vm["resource_group"]) == ("windows", ["web"], "rg1")
    assert vm["xml"] is None


def test_keep_macs():
    model = vmware_model()
    model["nics"][0]["mac"] = "00:50:56:aa:bb:cc"
    assert decide(model, keep_macs=True)["vm"]["interfaces"][0]["mac"] == "00:50:56:aa:bb:cc"
    assert decide(model)["vm"]["interfaces"][0]["mac"] is None


def test_a_blank_disk_gets_an_empty_volume_of_its_capacity():
    model = vmware_model()
    model["disks"][1]["file"] = None
    decided = decide(model, sources(model)[:1] + [None])
    assert decided["volumes"][1]["source"] is None and decided["volumes"][1]["capacity"] == 2 * MIB


@pytest.mark.parametrize("name, expected", [("My Appliance 1.0", "My-Appliance-1.0"), ("web_01", "web_01"),
                                            ("../x/y", "x-y"), ("a" * 80, "a" * 63)])
def test_the_appliance_name_is_made_a_vm_name(name, expected):
    model = vmware_model()
    model["name"] = name
    decided = decide(model)
    assert decided["vm"]["name"] == expected
    assert (("the appliance's name %r is not a VM name: %s used" % (name, expected)) in decided["notes"]) == (name != expected)
    vs.validate(decided["vm"])


def test_an_unusable_appliance_name_asks_for_a_name():
    model = vmware_model()
    model["name"] = "!!!"
    with pytest.raises(plans.PlanError, match="name: the appliance names no VM usable as a VM name .'!!!'.: give a name"):
        decide(model)


def pvscsi_model(hint_bus):
    """A VMware appliance on PVSCSI, as VMware writes it (``hint_bus`` None) or as this collection's
    own export writes it (a bus hint for each disk)."""
    text = appliances.descriptor("vmware-ovf1.ovf", NAME="app1", DISK1_FILE_SIZE=1000, DISK2_FILE_SIZE=2000,
                                 DISK1_MIB=4, DISK2_MIB=2, VCPUS=2, MEMORY_MIB=48, FIRMWARE="bios")
    text = text.replace("<rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>",
                        "<rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType>")
    if hint_bus:
        text = text.replace("</VirtualSystem>", (
            '<hotiron:Spec xmlns:hotiron="https://hotiron.example/virt/1" ovf:required="false"><Info>x</Info>'
            '<hotiron:disk diskId="vmdisk1" bus="%s" target="sda" index="1"/>'
            '<hotiron:disk diskId="vmdisk2" bus="%s" target="sdb" index="2"/></hotiron:Spec></VirtualSystem>'
            % (hint_bus, hint_bus)))
    return ovf.parse(text)


@pytest.mark.parametrize("hint_bus, disk_bus", [(None, None), ("scsi", None), (None, "scsi"), ("scsi", "scsi")])
def test_the_scsi_controller_model_is_kept_whoever_chose_the_bus(hint_bus, disk_bus):
    """The lost controller: a bus hint (every export of this collection writes one) or disk_bus
    used to drop the controller's model, and PVSCSI came back as LSI Logic."""
    vm = decide(pvscsi_model(hint_bus), disk_bus=disk_bus)["vm"]
    assert [d["bus"] for d in vm["disks"]] == ["scsi", "scsi"]
    assert vm["xml"] == "<domain><devices><controller type='scsi' index='0' model='vmpvscsi'/></devices></domain>"


def test_disks_moved_off_scsi_need_no_scsi_controller():
    assert decide(pvscsi_model("virtio"))["vm"]["xml"] is None
    assert decide(pvscsi_model(None), disk_bus="sata")["vm"]["xml"] is None


def test_a_recorded_libvirt_controller_model_wins_over_the_ovf_subtype():
    model = pvscsi_model("scsi")
    model["hints"]["controllers"] = {"3": {"type": "scsi", "model": "virtio-scsi"}}
    assert "model='virtio-scsi'" in decide(model)["vm"]["xml"]
    model["hints"]["controllers"] = {"3": {"type": "scsi", "model": "x' onload='y"}}   # not a libvirt model
    assert "model='vmpvscsi'" in decide(model)["vm"]["xml"]


def test_a_nic_model_hint_the_vm_spec_cannot_declare_falls_back_to_the_descriptor():
    model = vmware_model()
    model["hints"] = {"nics": {"11": {"model": "ne2k_pci"}, "12": {"model": "virtio"}}}
    assert [n["model"] for n in decide(model)["vm"]["interfaces"]] == ["e1000", "virtio"]
