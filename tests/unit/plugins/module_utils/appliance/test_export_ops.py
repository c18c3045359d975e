# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""appliance.export_ops (vm_export) against libvirt's test driver: the VM's definition comes from libvirt, its disks
are real image files made here, so a whole OVA is written and then checked from outside
(tar order, manifest digests, qemu-img check of each VMDK) and read back by vm_import."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
import xml.etree.ElementTree as ET

import libvirt
import pytest

import appliances  # tests/lab/appliances.py
import guests      # tests/lab/guests.py

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_ops
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import export_ops
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import import_ops
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import ovf_build
from ansible_collections.hotiron.virt.plugins.module_utils.storage import qemu_img_ops as qemu_img

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "vm", "host.xml"))


MIB = 1024 * 1024


@pytest.fixture
def vm(conn, tmp_path):
    """A shut-off VM ``exp`` with a qcow2 boot disk on virtio and a raw data disk on SATA."""
    boot = appliances.convert(appliances.raw_disk(str(tmp_path / "boot.raw"), guests.boot_sector("busy"), 4 * MIB),
                              str(tmp_path / "boot.qcow2"), "qcow2")
    data = appliances.raw_disk(str(tmp_path / "data.raw"), guests.boot_sector("idle"), 2 * MIB)
    with open(data, "r+b") as handle:
        handle.seek(MIB)
        handle.write(os.urandom(8192))
    vm_ops.ensure(conn, {"name": "exp", "vcpus": 2, "memory": "96MiB", "firmware": "bios", "os": "linux",
                         "tags": ["web"], "resource_group": "rg1", "description": "exported",
                         "disks": [{"path": boot, "format": "qcow2", "bus": "virtio"},
                                   {"path": data, "format": "raw", "bus": "sata"}],
                         "interfaces": [{"network": "lan", "model": "virtio"}]})
    return {"boot": boot, "data": data, "dir": tmp_path}


def params(dest, **kwargs):
    base = dict(uri=HOST, name="exp", dest=str(dest), format="ova", vmdk_subformat="streamOptimized",
                vhd_subformat="dynamic", force=False, live=False, timeout=60.0)
    base.update(kwargs)
    return base


def test_the_ova_has_descriptor_manifest_and_checked_vmdks_in_that_order(conn, vm, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    changed, result = export_ops.run(conn, params(out))
    ova = str(out / "exp.ova")
    assert changed and result["files"] == [{"path": ova, "size": os.path.getsize(ova)}]
    assert sorted(os.listdir(out)) == ["exp.ova"]                      # no work files left behind
    with tarfile.open(ova) as tar:
        names = tar.getnames()
        contents = {name: tar.extractfile(name).read() for name in names}
    assert names == ["exp.ovf", "exp.mf", "exp-disk1.vmdk", "exp-disk2.vmdk"]
    assert [(m["name"], m["offset"]) for m in result["members"]] == [(n, tarfile.open(ova).getmember(n).offset_data)
                                                                     for n in names]
    assert contents["exp.mf"].decode() == "".join("SHA256(%s)= %s\n" % (n, hashlib.sha256(contents[n]).hexdigest())
                                                  for n in names if n != "exp.mf")
    for name, source, fmt in (("exp-disk1.vmdk", vm["boot"], "qcow2"), ("exp-disk2.vmdk", vm["data"], "raw")):
        path = str(tmp_path / name)
        with open(path, "wb") as handle:
            handle.write(contents[name])
        check = json.loads(subprocess.run(["qemu-img", "check", "--output=json", "-f", "vmdk", path],
                                          capture_output=True, text=True, check=True).stdout)
        assert check["check-errors"] == 0 and check.get("corruptions", 0) == 0
        info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", path], capture_output=True,
                                         text=True, check=True).stdout)
        assert info["format-specific"]["data"]["create-type"] == "streamOptimized"
        assert appliances.raw_sha256(path, "vmdk") == appliances.raw_sha256(source, fmt)
    descriptor = contents["exp.ovf"].decode()
    assert "vmdk.html#streamOptimized" in descriptor and result["descriptor"] == descriptor


def test_read_back_by_the_import_gives_the_same_vm(conn, vm, tmp_path):
    export_ops.run(conn, params(tmp_path / "exp.ova"))
    _changed, result, _diff = import_ops.run(conn, dict(
        uri=HOST, src=str(tmp_path / "exp.ova"), src_format="auto", name="exp2", pool="local", disk_format="qcow2",
        network_map={"lan": "lan"}, keep_macs=False, overcommit=False, state="present", force=False), check_mode=True)
    spec = result["spec"]
    assert (spec["vcpus"], spec["memory"], spec["firmware"], spec["os"], spec["description"]) == (
        2, "98304KiB", "bios", "linux", "exported")
    assert [(d["bus"], d["target"], d["size"]) for d in spec["disks"]] == [
        ("virtio", "vda", "%dB" % (4 * MIB)), ("sata", "sda", "%dB" % (2 * MIB))]
    assert [(n["network"], n["model"]) for n in spec["interfaces"]] == [("lan", "virtio")]
    assert (spec["tags"], spec["resource_group"]) == (["web"], "rg1")
    assert spec["xml"] is None


@pytest.mark.parametrize("kind, options, fmt, subformat", [
    ("vhd", {"vhd_subformat": "fixed"}, "vpc", None), ("vhd", {}, "vpc", None),
    ("vmdk", {"vmdk_subformat": "monolithicSparse"}, "vmdk", "monolithicSparse"), ("qcow2", {}, "qcow2", None),
])
def test_disks_as_image_files(conn, vm, tmp_path, kind, options, fmt, subformat):
    out = tmp_path / "disks"
    out.mkdir()
    changed, result = export_ops.run(conn, params(out, format=kind, **options))
    ext = {"vhd": "vhd", "vmdk": "vmdk", "qcow2": "qcow2"}[kind]
    assert changed and [f["path"] for f in result["files"]] == [str(out / ("exp-vda." + ext)), str(out / ("exp-sda." + ext))]
    assert sorted(os.listdir(out)) == sorted(os.path.basename(f["path"]) for f in result["files"])
    for written, source, src_fmt in zip(result["files"], (vm["boot"], vm["data"]), ("qcow2", "raw")):
        assert appliances.raw_sha256(written["path"], fmt) == appliances.raw_sha256(source, src_fmt)
        if subformat:
            info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", written["path"]],
                                             capture_output=True, text=True, check=True).stdout)
            assert info["format-specific"]["data"]["create-type"] == subformat
    again, _result = export_ops.run(conn, params(out, format=kind, **options))
    assert not again


def test_check_mode_writes_nothing(conn, vm, tmp_path):
    changed, result = export_ops.run(conn, params(tmp_path / "x.ova"), check_mode=True)
    assert changed and not os.path.exists(tmp_path / "x.ova")
    assert result["plan"][-1] == "write %s (descriptor, SHA256 manifest, 2 disks)" % (tmp_path / "x.ova")
    assert [c["command"][:7] for c in result["conversions"]] == [
        ["qemu-img", "convert", "-f", "qcow2", "-O", "vmdk", "-o"], ["qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o"]]


def test_an_existing_file_is_ok_unless_force(conn, vm, tmp_path):
    dest = tmp_path / "x.ova"
    dest.write_text("old")
    changed, _result = export_ops.run(conn, params(dest))
    assert not changed and dest.read_text() == "old"
    changed, _result = export_ops.run(conn, params(dest, force=True))
    assert changed and tarfile.is_tarfile(str(dest))


def test_a_failed_conversion_leaves_nothing_under_the_name(conn, vm, tmp_path):
    os.unlink(vm["data"])
    os.mkdir(vm["data"])                    # the second disk cannot be read: the first was converted
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(lc.VirtError, match="Failed to convert disk sda .*nothing was left under"):
        export_ops.run(conn, params(out / "x.ova"))
    assert os.listdir(out) == []
    out_disks = tmp_path / "disks"
    out_disks.mkdir()
    with pytest.raises(lc.VirtError, match="Failed to convert disk sda"):
        export_ops.run(conn, params(out_disks, format="qcow2"))
    assert os.listdir(out_disks) == []                   # the first disk's file was removed again


@pytest.mark.parametrize("name, dest, message", [
    ("nosuch", "x.ova", "no vm called 'nosuch'"), ("web1", "x.ova", "vm web1 is running"),
    ("tmpl", "x.ova", "disk vda .* is not on this machine"), ("exp", "missing/x.ova", "directory .* does not exist"),
])
def test_refusals(conn, vm, tmp_path, name, dest, message):
    with pytest.raises(lc.VirtError, match=message):
        export_ops.run(conn, params(tmp_path / dest, name=name))


def test_a_running_vm_needs_live_and_its_copy_is_planned_in_check_mode(conn, vm, tmp_path):
    conn.lookupByName("exp").create()
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(lc.VirtError, match="vm exp is running: stop it first .*or give live=true"):
        export_ops.run(conn, params(out))
    changed, result = export_ops.run(conn, params(out, live=True), check_mode=True)
    assert changed and os.listdir(out) == []
    assert result["live_copy"] == ["vda", "sda"]
    assert result["plan"][0] == "copy disks vda, sda of the running vm at one instant (a libvirt backup job)" \
        " into a scratch directory in %s" % out
    assert [c["from_copy"] for c in result["conversions"]] == [True, True]
    assert [c["source"] for c in result["conversions"]] == [vm["boot"], vm["data"]]


def test_a_failed_live_copy_leaves_nothing_behind(conn, vm, tmp_path):
    # The test driver has no backup jobs: the copy fails as a real one would, after the scratch
    # directory was made, and the directory goes again.
    conn.lookupByName("exp").create()
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(lc.VirtError, match="start a backup of vm exp"):
        export_ops.run(conn, params(out, live=True))
    assert os.listdir(out) == []
    assert conn.lookupByName("exp").isActive()


def test_disk_formats_need_a_directory(conn, vm, tmp_path):
    with pytest.raises(lc.VirtError, match="dest: with format vhd, dest is the directory"):
        export_ops.run(conn, params(tmp_path / "nodir", format="vhd"))


# --- the round trip: import, export, import again keeps every device model ----------------


def devices(conn, name):
    """The VM's device models as libvirt defined them: SCSI controllers, disk buses, NIC models."""
    root = dx.parse(conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    return {"scsi": [c.get("model") for c in root.findall("devices/controller") if c.get("type") == "scsi"],
            "disks": [d.find("target").get("bus") for d in root.findall("devices/disk")],
            "nics": [i.find("model").get("type") for i in root.findall("devices/interface")]}


def targets(conn, name):
    root = dx.parse(conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    return [d.find("target").get("dev") for d in root.findall("devices/disk")]


def define_imported(conn, tmp_path, spec):
    """Define the VM an import in check mode decided, with real files for its disks (the test
    driver's volumes are not files, so the conversion itself is the lab test's)."""
    disks = []
    for index, disk in enumerate(spec["disks"], 1):
        path = appliances.raw_disk(str(tmp_path / ("%s-%d.raw" % (spec["name"], index))), guests.boot_sector("idle"), MIB)
        disks.append({"path": path, "format": "raw", "bus": disk["bus"], "target": disk["target"]})
    vm_ops.ensure(conn, dict(spec, disks=disks, state="present"))


def import_check(conn, src, name, network_map):
    _changed, result, _diff = import_ops.run(conn, dict(
        uri=HOST, src=src, src_format="auto", name=name, pool="local", disk_format="qcow2", network_map=network_map,
        keep_macs=False, overcommit=False, state="present", force=False), check_mode=True)
    return result


ROUND_TRIPS = [
    ("vmware", {"scsi": "VirtualSCSI", "nics": ("E1000e", "E1000")},
     {"scsi": ["vmpvscsi"], "disks": ["scsi", "scsi"], "nics": ["e1000e", "e1000"]}, "VirtualSCSI"),
    ("vmware", {"scsi": "lsilogic", "nics": ("E1000", "E1000")},
     {"scsi": ["lsilogic"], "disks": ["scsi", "scsi"], "nics": ["e1000", "e1000"]}, "lsilogic"),
    ("vmware", {"scsi": "lsilogicsas", "nics": ("E1000", "E1000e")},
     {"scsi": ["lsisas1068"], "disks": ["scsi", "scsi"], "nics": ["e1000", "e1000e"]}, "lsilogicsas"),
    ("vbox", {"controller": "AHCI", "nic": "E1000"}, {"scsi": [], "disks": ["sata"], "nics": ["e1000"]}, None),
    ("vbox", {"controller": "VirtioSCSI", "nic": "virtio"},
     {"scsi": ["virtio-scsi"], "disks": ["scsi"], "nics": ["virtio"]}, "lsilogic"),
    ("vbox", {"controller": "LsiLogicSas", "nic": "E1000"},
     {"scsi": ["lsisas1068"], "disks": ["scsi"], "nics": ["e1000"]}, "lsilogicsas"),
]


@pytest.mark.parametrize("style, shape, expected, subtype", ROUND_TRIPS)
def test_import_export_import_keeps_every_device_model(conn, tmp_path, style, shape, expected, subtype):
    work = tmp_path / "src"
    work.mkdir()
    if style == "vmware":
        ova = appliances.vmware_ova(str(work), "rt", [guests.boot_sector("idle")] * 2, **shape)
        networks = {"VM Network": "lan", "Backend": "lan"}
    else:
        ova = appliances.virtualbox_ova(str(work), "rt", guests.boot_sector("idle"), **shape)
        networks = {"NAT": "lan"}
    first = import_check(conn, ova, "rt1", networks)
    define_imported(conn, tmp_path, first["spec"])
    assert devices(conn, "rt1") == expected
    out = tmp_path / "out"
    out.mkdir()
    export_ops.run(conn, params(out, name="rt1"))
    descriptor = ET.fromstring(import_ops.read({"src": str(out / "rt1.ova"), "src_format": "auto"})["package"].read(
        "rt1.ovf", 10 ** 6))
    subtypes = [i.findtext("{%s}ResourceSubType" % ovf_build.RASD) for i in descriptor.iter("{%s}Item" % ovf_build.OVF)
                if i.findtext("{%s}ResourceType" % ovf_build.RASD) == "6"]
    assert subtypes == ([subtype] if subtype else [])
    second = import_check(conn, str(out / "rt1.ova"), "rt2", {"lan": "lan"})
    define_imported(conn, tmp_path, second["spec"])
    assert devices(conn, "rt2") == devices(conn, "rt1") == expected
    assert targets(conn, "rt2") == targets(conn, "rt1")


def test_a_destination_that_is_a_directory_is_never_taken_for_the_ova(conn, vm, tmp_path):
    (tmp_path / "out" / "exp.ova").mkdir(parents=True)
    with pytest.raises(lc.VirtError, match="exp.ova exists and is not a regular file"):
        export_ops.run(conn, params(tmp_path / "out"))          # the OVA would be out/exp.ova


def test_a_vm_ovf_cannot_carry_is_refused_before_anything_is_converted(conn, tmp_path):
    disks = [{"path": appliances.raw_disk(str(tmp_path / ("d%d.raw" % i)), guests.boot_sector("idle"), MIB),
              "format": "raw", "bus": "virtio"} for i in range(16)]
    vm_ops.ensure(conn, {"name": "many", "memory": "32MiB", "disks": disks})
    with pytest.raises(lc.VirtError, match="vm many cannot be exported as an OVA: more than 15 disks on the SCSI"):
        export_ops.run(conn, params(tmp_path / "many.ova", name="many"))
    assert not os.path.exists(tmp_path / "many.ova")


def test_without_qemu_img_the_failure_is_clear(conn, vm, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(qemu_img, "FALLBACKS", ())
    with pytest.raises(lc.VirtError, match="qemu-img is not installed on this host"):
        export_ops.run(conn, params(tmp_path / "x.ova"))
    with pytest.raises(lc.VirtError, match="qemu-img is not installed on this host"):
        import_ops.run(conn, {"src": vm["boot"], "pool": "local", "name": "x"})
