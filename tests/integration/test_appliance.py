# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm_import and vm_export for real on lab host hv1, run there by Ansible as a user would.

Appliances are built here (tests/lab/appliances.py: descriptors of both dialects from
tests/data/ovf/, streamOptimized VMDKs made by qemu-img) with "marker" boot sectors that
print a word on COM2: a guest printing DISK-ONE booted the first disk of the appliance,
converted from inside the OVA, on the controller the descriptor named.  The packages live
in the lab's shared directory, which hv1 sees at /srv/hotiron/shared.  Everything made
here is called apl-* and removed at the end (VMs, volumes, pool, network).
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile

import libvirt
import pytest
from storage_helpers import marker_sector, outside_path, remove_dir_pool, serial_log, wait_for_marker

import appliances  # tests/lab/appliances.py
from ansible_collections.hotiron.virt.plugins.module_utils.vm import host_fit as vh

pytestmark = pytest.mark.lab

POOL = "apl"
PREFIX = "apl-"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def run_module(ansible_runner, tmp_path_factory):
    """``run_module(module, args, host, check, diff)`` -> the task's result, with ``failed`` set
    from the task's status (the results callback does not keep that key)."""
    workdir = tmp_path_factory.mktemp("plays")
    counter = iter(range(1, 10000))

    def run(module, args, host="hv1", check=False, diff=False):
        path = workdir / ("play%d.yml" % next(counter))
        path.write_text(json.dumps([{"name": "apl", "hosts": host, "gather_facts": False,
                                     "tasks": [{"name": "apl", module: args}]}]))
        done = ansible_runner.playbook(str(path), check=check, diff=diff)
        found = done.for_task("apl", host)
        assert found, done.stdout + done.stderr
        result = dict(found[-1]["result"])
        result["failed"] = found[-1]["status"] == "failed"
        return result

    return run


def com2(name):
    """The xml option giving the imported VM a COM2 that writes to a file the test reads."""
    return ("<domain><devices><serial type='file'><source path='%s'/><target port='1'/></serial>"
            "</devices></domain>" % serial_log(name))


@pytest.fixture(scope="module")
def env(lab, tmp_path_factory):
    host = lab.host("hv1")
    os.makedirs(os.path.join(host.images_dir, POOL), exist_ok=True)
    conn = host.connect()
    pool = host.dir_pool(conn, POOL)
    bridge = "hi%da%d" % (lab.lab_id, os.getpid() % 10000)
    net = conn.networkDefineXML("<network><name>apl-net</name><bridge name='%s'/></network>" % bridge)
    net.create()
    work = os.path.join(lab.shared_dir, "apl-%d" % os.getpid())
    os.makedirs(work, exist_ok=True)
    yield {"host": host, "conn": conn, "pool": pool, "work": work, "lab": lab,
           "inside": lambda path: path.replace(lab.shared_dir, lab.shared_path)}
    for dom in conn.listAllDomains():
        if dom.name().startswith(PREFIX):
            if dom.isActive():
                dom.destroy()
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
    remove_dir_pool(pool)
    net.destroy()
    net.undefine()
    conn.close()
    subprocess.run(["rm", "-rf", work], check=True)


def snapshot(env):
    """What an import could change on hv1: definitions, power states, the pool's volumes."""
    env["pool"].refresh()
    doms = {d.name(): (d.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE), d.state()[0]) for d in env["conn"].listAllDomains()}
    return doms, sorted(env["pool"].listVolumes())


def workdir(env, name):
    path = os.path.join(env["work"], name)
    os.makedirs(path, exist_ok=True)
    return path


def import_args(env, src, **kwargs):
    args = {"src": env["inside"](src), "pool": POOL}
    args.update(kwargs)
    return args


def volume_raw_sha256(env, name):
    """sha256 of a volume's guest-visible bytes, read on this machine from hv1's images dir."""
    vol = env["pool"].storageVolLookupByName(name)
    fmt = "qcow2" if name.endswith(".qcow2") else "raw"
    return appliances.raw_sha256(outside_path(env["host"], vol.path()), fmt)


def disk_targets(dom):
    root = dom_xml(dom)
    return [(d.find("target").get("dev"), d.find("target").get("bus"), d.find("driver").get("type"))
            for d in root.findall("devices/disk")]


def dom_xml(dom):
    import xml.etree.ElementTree as ET  # pylint: disable=import-outside-toplevel

    return ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))


def test_vmware_ova_imported_booted_and_a_second_run_changes_nothing(env, run_module):
    name = PREFIX + "vmw"
    work = workdir(env, "vmw")
    ova = appliances.vmware_ova(work, name, [marker_sector("DISK-ONE"), marker_sector("DISK-TWO")])
    args = import_args(env, ova, network_map={"VM Network": "apl-net", "Backend": None}, state="running",
                       xml=com2(name))
    before = snapshot(env)
    planned = run_module("hotiron.virt.vm_import", args, host="hv1", check=True)
    assert planned["changed"] and not planned.get("failed"), planned
    assert snapshot(env) == before                                   # check mode changed nothing
    result = run_module("hotiron.virt.vm_import", args, host="hv1", diff=True)
    assert result["changed"] and not result.get("failed"), result.get("msg")
    assert result["plan"] == planned["plan"]                         # check mode predicted the run
    assert result["vm"]["state"] == "running"
    wait_for_marker(env["host"], name, "DISK-ONE", timeout=120)     # it booted the OVA's first disk
    dom = env["conn"].lookupByName(name)
    assert disk_targets(dom) == [("sda", "scsi", "qcow2"), ("sdb", "scsi", "qcow2")]
    root = dom_xml(dom)
    assert [(c.get("type"), c.get("model")) for c in root.findall("devices/controller") if c.get("type") == "scsi"] == [
        ("scsi", "lsilogic")]
    assert [(i.find("source").get("network"), i.find("model").get("type")) for i in root.findall("devices/interface")] == [
        ("apl-net", "e1000")]
    assert "NIC 2 (network 'Backend') left out: network_map maps it to nothing" in result["notes"]
    for volume, raw in (("%s-disk1.qcow2" % name, "%s-1.raw" % name), ("%s-disk2.qcow2" % name, "%s-2.raw" % name)):
        assert volume_raw_sha256(env, volume) == appliances.digest(os.path.join(work, raw))
    again = run_module("hotiron.virt.vm_import", args, host="hv1")
    assert not again["changed"] and again["vm"]["name"] == name


def test_virtualbox_ova_imported_on_sata_as_raw_and_booted(env, run_module):
    name = PREFIX + "vbox"
    ova = appliances.virtualbox_ova(workdir(env, "vbox"), name, marker_sector("VBOX-DISK"))
    result = run_module("hotiron.virt.vm_import", import_args(
        env, ova, network_map={"NAT": "apl-net"}, disk_format="raw", state="running", xml=com2(name)), host="hv1")
    assert result["changed"] and not result.get("failed"), result.get("msg")
    assert result["appliance"]["dialect"] == "virtualbox" and result["manifest"]["file"] == name + ".mf"
    wait_for_marker(env["host"], name, "VBOX-DISK", timeout=120)
    assert disk_targets(env["conn"].lookupByName(name)) == [("sda", "sata", "raw")]


def flip_byte(path, member_name, back=1000):
    with tarfile.open(path) as tar:
        member = tar.getmember(member_name)
    with open(path, "r+b") as handle:
        handle.seek(member.offset_data + member.size - back)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))


def test_a_tampered_manifest_fails_and_leaves_nothing(env, run_module):
    name = PREFIX + "tamper"
    ova = appliances.vmware_ova(workdir(env, "tamper"), name, [marker_sector("X"), marker_sector("Y")])
    flip_byte(ova, name + "-disk1.vmdk")
    before = snapshot(env)
    result = run_module("hotiron.virt.vm_import", import_args(env, ova, default_network="apl-net"), host="hv1")
    assert result.get("failed") and "%s-disk1.vmdk does not match the manifest" % name in result["msg"], result
    assert snapshot(env) == before


def test_a_conversion_that_fails_half_way_removes_the_vm_and_its_volumes(env, run_module):
    """The second disk's compressed data is corrupt (its header reads fine, its manifest
    matches): the VM and the first disk were made before qemu-img fails on it."""
    name = PREFIX + "broken"
    work = workdir(env, "broken")
    ova = appliances.vmware_ova(work, name, [marker_sector("X"), marker_sector("Y")], disk_mib=(4, 4))
    disk2 = os.path.join(work, name + "-2.raw")
    with open(disk2, "r+b") as handle:        # enough data that a grain lands in the damaged range
        handle.write(os.urandom(MIB))
    vmdk = appliances.stream_vmdk(disk2, os.path.join(work, name + "-disk2.vmdk"))
    with open(vmdk, "r+b") as handle:
        handle.seek(70000)
        damaged = bytes(b ^ 0x55 for b in handle.read(100))
        handle.seek(70000)
        handle.write(damaged)
    text = appliances.descriptor("vmware-ovf1.ovf", NAME=name, VCPUS=1, MEMORY_MIB=32, FIRMWARE="bios",
                                 DISK1_MIB=4, DISK2_MIB=4,
                                 DISK1_FILE_SIZE=os.path.getsize(os.path.join(work, name + "-disk1.vmdk")),
                                 DISK2_FILE_SIZE=os.path.getsize(vmdk))
    ova = appliances.make_ova(os.path.join(work, name + ".ova"), name, text,
                              [(name + "-disk1.vmdk", os.path.join(work, name + "-disk1.vmdk")), (name + "-disk2.vmdk", vmdk)])
    before = snapshot(env)
    result = run_module("hotiron.virt.vm_import", import_args(env, ova, default_network="apl-net"), host="hv1")
    assert result.get("failed"), result
    assert "Failed to convert %s.ova:%s-disk2.vmdk" % (name, name) in result["msg"]
    assert "vm %s and its volumes were removed again" % name in result["msg"]
    assert snapshot(env) == before


def test_export_then_import_gives_the_same_vm_and_the_same_disks(env, run_module):
    name, copy = PREFIX + "orig", PREFIX + "copy"
    work = workdir(env, "roundtrip")
    ova = appliances.vmware_ova(work, name, [marker_sector("ROUND-ONE"), marker_sector("ROUND-TWO")])
    first = run_module("hotiron.virt.vm_import", import_args(
        env, ova, network_map={"VM Network": "apl-net", "Backend": "apl-net"}, nic_model="virtio",
        tags=["web"], resource_group="rg-apl", disk_bus="virtio"), host="hv1")
    assert first["changed"] and not first.get("failed"), first.get("msg")
    out = os.path.join(work, "export")
    os.makedirs(out)
    exported = run_module("hotiron.virt.vm_export", {"name": name, "dest": env["inside"](out)}, host="hv1")
    assert exported["changed"] and not exported.get("failed"), exported.get("msg")
    path = os.path.join(out, name + ".ova")
    with tarfile.open(path) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == [name + ".ovf", name + ".mf", name + "-disk1.vmdk", name + "-disk2.vmdk"]
    for member in members[2:]:      # each VMDK checked by qemu-img where it lies inside the OVA
        raw = {"driver": "raw", "offset": member.offset_data, "size": member.size,
               "file": {"driver": "file", "filename": path}}
        spec = json.dumps({"driver": "vmdk", "file": raw})
        check = subprocess.run(["qemu-img", "check", "--output=json", "json:" + spec], capture_output=True,
                               text=True, check=True)
        assert json.loads(check.stdout)["check-errors"] == 0
    again = run_module("hotiron.virt.vm_export", {"name": name, "dest": env["inside"](out)}, host="hv1")
    assert not again["changed"]
    second = run_module("hotiron.virt.vm_import", import_args(
        env, path, name=copy, network_map={"apl-net": "apl-net"}, state="running", xml=com2(copy)), host="hv1")
    assert second["changed"] and not second.get("failed"), second.get("msg")
    same = ("vcpus", "memory", "firmware", "os", "tags", "resource_group", "description")
    assert {k: second["spec"][k] for k in same} == {k: first["spec"][k] for k in same}
    for key in ("bus", "size", "format", "device"):
        assert [d[key] for d in second["spec"]["disks"]] == [d[key] for d in first["spec"]["disks"]], key
    assert [(n["network"], n["model"]) for n in second["spec"]["interfaces"]] == [("apl-net", "virtio")] * 2
    orig, dup = env["conn"].lookupByName(name), env["conn"].lookupByName(copy)
    assert disk_targets(orig) == disk_targets(dup) == [("vda", "virtio", "qcow2"), ("vdb", "virtio", "qcow2")]
    for index in (1, 2):
        assert volume_raw_sha256(env, "%s-disk%d.qcow2" % (name, index)) == \
            volume_raw_sha256(env, "%s-disk%d.qcow2" % (copy, index))
    wait_for_marker(env["host"], copy, "ROUND-ONE", timeout=120)


def test_a_fixed_vhd_disk_image_imports_as_vhd_and_boots(env, run_module):
    """qemu-img probes a fixed VHD as raw; read as raw, its footer would end up in the disk."""
    name = PREFIX + "vhd"
    work = workdir(env, "vhd")
    raw = appliances.raw_disk(os.path.join(work, "app.raw"), marker_sector("FIXED-VHD"), 6 * MIB)
    vhd = appliances.convert(raw, os.path.join(work, "app.vhd"), "vpc", "subformat=fixed,force_size=on")
    result = run_module("hotiron.virt.vm_import", import_args(
        env, vhd, name=name, memory="32MiB", state="running", xml=com2(name),
        interfaces=[{"network": "apl-net", "model": "e1000"}]), host="hv1")
    assert result["changed"] and not result.get("failed"), result.get("msg")
    assert result["conversions"][0]["source_format"] == "vpc" and result["conversions"][0]["virtual_size"] == 6 * MIB
    wait_for_marker(env["host"], name, "FIXED-VHD", timeout=120)
    assert volume_raw_sha256(env, name + "-disk1.qcow2") == appliances.digest(raw)


@pytest.mark.parametrize("fmt, options, ext", [
    ("vhdx", None, "vhdx"), ("vmdk", "subformat=monolithicSparse", "vmdk"), ("qcow2", None, "qcow2"),
    ("vmdk", "subformat=monolithicFlat", "vmdk"),             # a descriptor and its -flat extent
    ("vmdk", "subformat=twoGbMaxExtentSparse", "vmdk"),       # a descriptor and its -s001 extent
    ("vpc", "subformat=dynamic,force_size=on", "vhd"),     # without force_size the size is a CHS rounding
    ("raw", None, "img"),
])
def test_single_images_of_each_format_keep_their_contents(env, run_module, fmt, options, ext):
    kind = ext + ("-" + options.split("=")[1].split(",")[0] if options else "")
    name = PREFIX + "img-" + kind.lower()
    work = workdir(env, "img-" + kind)
    raw = appliances.raw_disk(os.path.join(work, "d.raw"), marker_sector("IMG"), 4 * MIB)
    with open(raw, "r+b") as handle:
        handle.seek(3 * MIB)
        handle.write(os.urandom(64 * 1024))
    image = appliances.convert(raw, os.path.join(work, "d." + ext), fmt, options)
    result = run_module("hotiron.virt.vm_import", import_args(env, image, name=name, memory="32MiB"), host="hv1")
    assert result["changed"] and not result.get("failed"), result.get("msg")
    assert volume_raw_sha256(env, name + "-disk1.qcow2") == appliances.digest(raw)


def test_an_efi_appliance_boots_with_ovmf_or_is_refused_before_anything_is_written(env, run_module):
    """This machine has no OVMF (Debian's ovmf is not installed): the import must say so and
    leave nothing; where the host offers UEFI, the VM must be defined with EFI firmware."""
    name = PREFIX + "efi"
    ova = appliances.vmware_ova(workdir(env, "efi"), name, [marker_sector("E1"), marker_sector("E2")],
                                firmware="uefi")
    caps = env["conn"].getDomainCapabilities(None, "x86_64", None, env["lab"].virt_type)
    before = snapshot(env)
    result = run_module("hotiron.virt.vm_import", import_args(env, ova, default_network="apl-net"), host="hv1")
    if vh.uefi_available(caps):
        assert result["changed"] and not result.get("failed"), result.get("msg")
        assert dom_xml(env["conn"].lookupByName(name)).find("os").get("firmware") == "efi"
    else:
        assert result["failed"] and "firmware: this host has no UEFI firmware" in result["msg"], result
        assert snapshot(env) == before
    bios = run_module("hotiron.virt.vm_import", import_args(env, ova, name=name + "-bios", firmware="bios",
                                                            default_network="apl-net"), host="hv1")
    assert bios["changed"] and not bios.get("failed"), bios.get("msg")
    assert bios["appliance"]["firmware"] == "uefi" and bios["spec"]["firmware"] == "bios"


def devices(dom):
    """The VM's device models: SCSI controllers, (target, bus) of its disks, NIC models."""
    root = dom_xml(dom)
    return {"scsi": [c.get("model") for c in root.findall("devices/controller") if c.get("type") == "scsi"],
            "disks": [(d.find("target").get("dev"), d.find("target").get("bus")) for d in root.findall("devices/disk")],
            "nics": [i.find("model").get("type") for i in root.findall("devices/interface")]}


ROUND_TRIPS = {
    "vmware-pvscsi": ("vmware", {"scsi": "VirtualSCSI", "nics": ("E1000e", "E1000")}, "VirtualSCSI",
                      {"scsi": ["vmpvscsi"], "disks": [("sda", "scsi"), ("sdb", "scsi")], "nics": ["e1000e", "e1000"]}),
    "vbox-sata": ("vbox", {"controller": "AHCI", "nic": "E1000"}, None,
                  {"scsi": [], "disks": [("sda", "sata")], "nics": ["e1000"]}),
    "vbox-virtio-scsi": ("vbox", {"controller": "VirtioSCSI", "nic": "virtio"}, "lsilogic",
                         {"scsi": ["virtio-scsi"], "disks": [("sda", "scsi")], "nics": ["virtio"]}),
}


@pytest.mark.parametrize("case", sorted(ROUND_TRIPS))
def test_import_export_import_keeps_the_controllers_and_nics_and_boots(env, run_module, case):
    """The lost controller: a PVSCSI appliance came back from its own export on LSI Logic (the
    import dropped the model when the disk carried the export's bus hint).  Every device model
    is checked after the import, in the exported descriptor, and after the import of the export,
    and the copy boots its first disk on that controller."""
    style, shape, subtype, expected = ROUND_TRIPS[case]
    name, copy = PREFIX + "rt-" + case, PREFIX + "rc-" + case
    work = workdir(env, "rt-" + case)
    if style == "vmware":
        ova = appliances.vmware_ova(work, name, [marker_sector("RT-ONE"), marker_sector("RT-TWO")], **shape)
        networks = {"VM Network": "apl-net", "Backend": "apl-net"}
    else:
        ova = appliances.virtualbox_ova(work, name, marker_sector("RT-ONE"), **shape)
        networks = {"NAT": "apl-net"}
    first = run_module("hotiron.virt.vm_import", import_args(env, ova, network_map=networks), host="hv1")
    assert first["changed"] and not first.get("failed"), first.get("msg")
    assert devices(env["conn"].lookupByName(name)) == expected
    out = os.path.join(work, "export")
    os.makedirs(out)
    exported = run_module("hotiron.virt.vm_export", {"name": name, "dest": env["inside"](out)}, host="hv1")
    assert exported["changed"] and not exported.get("failed"), exported.get("msg")
    path = os.path.join(out, name + ".ova")
    with tarfile.open(path) as tar:
        descriptor = tar.extractfile(name + ".ovf").read().decode()
    rasd = "{http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData}"
    import xml.etree.ElementTree as ET  # pylint: disable=import-outside-toplevel
    items = [i for i in ET.fromstring(descriptor).iter() if i.tag.endswith("}Item")]
    assert [i.findtext(rasd + "ResourceSubType") for i in items if i.findtext(rasd + "ResourceType") == "6"] == (
        [subtype] if subtype else [])
    boots = case != "vmware-pvscsi"        # see test_a_pvscsi_appliance_with_two_disks_starts
    second = run_module("hotiron.virt.vm_import", import_args(
        env, path, name=copy, network_map={"apl-net": "apl-net"}, state="running" if boots else "present",
        xml=com2(copy)), host="hv1")
    assert second["changed"] and not second.get("failed"), second.get("msg")
    assert devices(env["conn"].lookupByName(copy)) == expected
    if boots:
        wait_for_marker(env["host"], copy, "RT-ONE", timeout=120)   # it boots its first disk on that controller


def test_a_pvscsi_appliance_with_two_disks_starts(env, run_module):
    """libvirt would give the second disk of a vmpvscsi controller LUN 1, which QEMU's pvscsi refuses
    ('bad scsi device lun: 1'): each PVSCSI disk gets a SCSI target of its own."""
    name = PREFIX + "pvscsi2"
    ova = appliances.vmware_ova(workdir(env, "pvscsi2"), name, [marker_sector("PV-ONE"), marker_sector("PV-TWO")],
                                scsi="VirtualSCSI")
    result = run_module("hotiron.virt.vm_import", import_args(env, ova, default_network="apl-net", state="running",
                                                              xml=com2(name)), host="hv1")
    assert result["changed"] and not result.get("failed"), result.get("msg")
    wait_for_marker(env["host"], name, "PV-ONE", timeout=120)
    targets = [d.find("address").get("target") for d in dom_xml(env["conn"].lookupByName(name)).findall("devices/disk")]
    assert targets == ["0", "1"]


def test_an_html_page_saved_as_an_ova_or_an_image_is_refused_and_leaves_nothing(env, run_module):
    work = workdir(env, "html")
    page = (b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Sign in to download.</body></html>\n"
            * 64)
    before = snapshot(env)
    for filename, extra, message in (
            ("web.ova", {}, "is not an OVA: an OVA is a tar archive, and this file looks like HTML text"),
            ("web.img", {"name": PREFIX + "html", "memory": "32MiB"},
             "web.img is no disk image format qemu-img reads: it looks like HTML text"),
            ("web.img", {"name": PREFIX + "html"}, "looks like HTML text")):
        src = os.path.join(work, filename)
        with open(src, "wb") as handle:
            handle.write(page)
        for check in (True, False):
            result = run_module("hotiron.virt.vm_import", import_args(env, src, **extra), host="hv1", check=check)
            assert result.get("failed") and message in result["msg"], result
            assert not result.get("changed")
    assert snapshot(env) == before
