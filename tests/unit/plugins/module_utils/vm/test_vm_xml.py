# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A spec written into domain XML (vm_xml)."""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils.vm import spec as vs
from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_xml as vx
from vm_examples import FULL, build, params


def test_build_full_spec():
    root = build(**FULL)
    assert root.get("type") == "kvm"
    assert dx.memory_kib(root, "memory") == 1024 * 1024 and dx.memory_kib(root, "currentMemory") == 256 * 1024
    assert root.find("vcpu").text == "4" and root.find("vcpu").get("current") == "2"
    assert root.find("os/type").attrib == {"arch": "x86_64", "machine": "pc-q35-7.2"}
    assert root.find("cpu").get("mode") == "host-passthrough"
    disks = {d.find("target").get("dev"): d for d in root.findall("devices/disk")}
    assert sorted(disks) == ["sda", "vda", "vdb"]
    assert disks["sda"].get("device") == "cdrom" and disks["sda"].find("readonly") is not None
    assert disks["vdb"].find("driver").attrib == {"name": "qemu", "type": "raw", "cache": "none"}
    assert disks["vdb"].find("boot").get("order") == "2" and disks["vda"].find("boot") is None
    nics = root.findall("devices/interface")
    assert [n.get("type") for n in nics] == ["network", "bridge"]
    assert nics[1].find("mac").get("address") == "52:54:00:00:00:01" and nics[0].find("model").get("type") == "virtio"
    assert root.find("devices/graphics").attrib == {"type": "vnc", "autoport": "yes", "listen": "127.0.0.1"}
    assert root.find("devices/console") is not None
    assert dx.read_metadata(root) == {"os": "linux", "owner": "me", "tags": ["web"]}
    assert dx.get_text(root, "description") == "hello"
    assert root.find("features/hyperv") is None and root.find("clock").get("offset") == "utc"


def test_first_disk_boots_when_no_order_given():
    root = build(disks=[{"path": "/a.img"}, {"path": "/b.img"}])
    assert [d.find("boot") is not None for d in root.findall("devices/disk")] == [True, False]


def test_defaults_for_a_new_vm():
    root = build()
    assert dx.memory_kib(root, "memory") == 512 * 1024 and root.find("vcpu").text == "1"
    assert root.find("os/type").get("machine") is None


@pytest.mark.parametrize("virtio,bus,model", [(None, "sata", "e1000e"), (True, "virtio", "virtio")])
def test_windows_profile(virtio, bus, model):
    root = build(os="windows", virtio=virtio, disks=[{"path": "/w.qcow2"}], interfaces=[{"network": "n"}])
    assert {c.tag for c in root.find("features/hyperv")} == {"relaxed", "vapic", "spinlocks"}
    assert root.find("clock").get("offset") == "localtime"
    assert {t.get("name") for t in root.findall("clock/timer")} == {"rtc", "pit", "hpet", "hypervclock"}
    assert root.find("devices/disk/target").get("bus") == bus
    assert root.find("devices/interface/model").get("type") == model


def test_switching_profile_back_to_linux_removes_hyperv():
    root = build(os="windows")
    root = build(root=root, creating=False, os="linux")
    assert root.find("features/hyperv") is None and root.find("clock").get("offset") == "utc"
    assert root.find("clock/timer") is None


def test_i686_guest():
    root = build(arch="i686")
    assert root.get("type") == "qemu" and root.find("os/type").get("arch") == "i686"


def test_uefi_and_back():
    root = build(firmware="uefi")
    assert root.find("os").get("firmware") == "efi"
    dx.set_text(root, "os/nvram", "/var/lib/libvirt/qemu/nvram/vm1_VARS.fd")
    root = build(root=root, creating=False, firmware="bios")
    assert root.find("os").get("firmware") is None and root.find("os/nvram") is None


def test_custom_cpu():
    root = build(cpu={"mode": "custom", "model": "Skylake-Client"})
    assert root.find("cpu").attrib == {"mode": "custom", "match": "exact"}
    assert dx.get_text(root, "cpu/model") == "Skylake-Client"
    root = build(root=root, creating=False, cpu={"mode": "host-model"})
    assert root.find("cpu/model") is None and root.find("cpu").get("match") is None


@pytest.mark.parametrize("kwargs", [
    FULL, dict(os="windows", disks=[{"path": "/w.qcow2"}]), dict(arch="i686", memory="64MiB"), {},
    dict(firmware="uefi", console=False, graphics="spice", xml="<domain><devices><panic model='isa'/></devices></domain>"),
])
def test_applying_twice_changes_nothing(kwargs):
    first = build(**kwargs)
    second = build(root=dx.clone(first), creating=False, **kwargs)
    assert dx.normalise(first) == dx.normalise(second)


def test_unmanaged_options_keep_what_the_vm_has():
    root = build(**FULL)
    again = build(root=dx.clone(root), creating=False)
    assert dx.normalise(again) == dx.normalise(root)


def test_apply_keeps_unknown_devices_and_addresses():
    root = dx.parse("""<domain type='kvm'><name>vm1</name><memory unit='KiB'>262144</memory><vcpu>1</vcpu>
      <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type><boot dev='hd'/></os>
      <devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/pool/a.qcow2'/>
        <target dev='vda' bus='virtio'/><address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/></disk>
        <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng></devices></domain>""")
    out = build(root=root, creating=False, memory="512MiB", disks=[{"pool": "p", "volume": "a.qcow2"}])
    assert out.find("devices/rng") is not None
    assert out.find("devices/disk/address").get("bus") == "0x04"
    assert out.find("os/boot") is not None  # no disk has a boot order: the OS boot list stays
    out = build(root=out, creating=False, disks=[{"pool": "p", "volume": "a.qcow2", "bus": "sata"}])
    assert out.find("devices/disk/address") is None  # new bus, the old PCI address would be wrong


def test_disks_not_listed_are_removed_and_nics_matched_by_mac_then_position():
    root = build(**FULL)
    macs_before = [n.find("mac") for n in root.findall("devices/interface")]
    assert macs_before[0] is None
    root.findall("devices/interface")[0].insert(0, dx.parse("<mac address='52:54:00:9f:9f:9f'/>"))
    out = build(root=dx.clone(root), creating=False, disks=[{"pool": "p", "volume": "a.qcow2"}],
                interfaces=[{"bridge": "br0", "mac": "52:54:00:00:00:01"}, {"network": "default"}])
    assert [d.find("target").get("dev") for d in out.findall("devices/disk")] == ["vda"]
    nics = out.findall("devices/interface")
    assert [n.find("mac").get("address") for n in nics] == ["52:54:00:9f:9f:9f", "52:54:00:00:00:01"]


def test_memory_without_max_keeps_a_higher_maximum():
    root = build(memory="1GiB")
    out = build(root=root, creating=False, memory="512MiB")
    assert dx.memory_kib(out, "memory") == 1024 * 1024 and dx.memory_kib(out, "currentMemory") == 512 * 1024
    out = build(root=out, creating=False, memory="2GiB")
    assert dx.memory_kib(out, "memory") == 2048 * 1024


def test_vcpus_current_attribute_only_below_maximum():
    root = build(vcpus=2, max_vcpus=4)
    out = build(root=root, creating=False, vcpus=4)
    assert out.find("vcpu").get("current") is None and out.find("vcpu").text == "4"


def test_metadata_merges_managed_keys_only():
    root = build(owner="a", tags=["x"], resource_group="rg")
    out = build(root=root, creating=False, owner="b")
    assert dx.read_metadata(out) == {"os": "linux", "owner": "b", "tags": ["x"], "resource_group": "rg"}


def test_console_off_and_graphics_none():
    root = build(graphics="vnc")
    out = build(root=root, creating=False, console=False, graphics="none")
    assert out.find("devices/console") is None and out.find("devices/serial") is None
    assert out.find("devices/graphics") is None


def test_description_empty_removes_it():
    root = build(description="x")
    assert dx.get_text(build(root=root, creating=False, description=""), "description") is None


@pytest.mark.parametrize("bus,device,first", [("virtio", "disk", "vda"), ("sata", "disk", "sda"), ("ide", "disk", "hda"),
                                              (None, "cdrom", "sda")])
def test_assign_targets(bus, device, first):
    disks = vs.validate(params(disks=[{"path": "/a", "bus": bus, "device": device}, {"path": "/b", "bus": bus, "device": device}]))["disks"]
    out = vx.assign_targets(disks, "virtio")
    assert out[0]["target"] == first and out[1]["target"] == first[:-1] + "b"


def test_assign_targets_skips_explicit_ones():
    disks = vs.validate(params(disks=[{"path": "/a"}, {"path": "/b", "target": "vda"}]))["disks"]
    assert [d["target"] for d in vx.assign_targets(disks, "virtio")] == ["vdb", "vda"]


PVSCSI = "<domain><devices><controller type='scsi' index='0' model='vmpvscsi'/></devices></domain>"
TWO_SCSI = [{"pool": "p", "volume": "a.qcow2", "size": "1GiB", "bus": "scsi"},
            {"pool": "p", "volume": "b.qcow2", "size": "1GiB", "bus": "scsi"},
            {"pool": "p", "volume": "c.qcow2", "size": "1GiB", "bus": "virtio"}]


def _drive_addresses(root):
    return [(d.find("target").get("dev"), dict(d.find("address").attrib) if d.find("address") is not None else None)
            for d in root.findall("devices/disk")]


def test_each_pvscsi_disk_gets_a_target_of_its_own_at_lun_0():
    root = build(disks=TWO_SCSI, xml=PVSCSI)
    drive = {"type": "drive", "controller": "0", "bus": "0", "unit": "0"}
    assert _drive_addresses(root) == [("sda", dict(drive, target="0")), ("sdb", dict(drive, target="1")), ("vda", None)]
    again = dx.normalise(build(root=dx.clone(root), creating=False, disks=TWO_SCSI, xml=PVSCSI))
    assert again == dx.normalise(root)                         # a second run changes nothing


def test_a_taken_target_is_kept_and_other_scsi_controllers_are_left_to_libvirt():
    root = build(disks=TWO_SCSI, xml=PVSCSI)
    root.find("devices/disk/address").set("target", "5")   # as libvirt or a user left it
    for disk in root.findall("devices/disk"):
        if disk.find("target").get("dev") == "sdb":
            disk.remove(disk.find("address"))
    build(root=root, creating=False, disks=TWO_SCSI, xml=PVSCSI)
    assert [a["target"] for _dev, a in _drive_addresses(root) if a] == ["5", "0"]
    lsi = build(disks=TWO_SCSI, xml=PVSCSI.replace("vmpvscsi", "lsilogic"))
    assert [a for _dev, a in _drive_addresses(lsi)] == [None, None, None]
