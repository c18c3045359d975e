# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm_export against libvirt's test driver: the VM's definition comes from libvirt, its disks
are real image files made here, so a whole OVA is written and then checked from outside
(tar order, manifest digests, qemu-img check of each VMDK) and read back by vm_import."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile

import pytest
from ansible.module_utils.testing import patch_module_args

import appliances  # tests/lab/appliances.py
import guests      # tests/lab/guests.py

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils import vm_ops
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import export_ops
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import import_ops
from ansible_collections.hotiron.virt.plugins.modules import vm_export

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "vm", "host.xml"))
MIB = 1024 * 1024


@pytest.fixture
def conn():
    connection = lc.connect(HOST)
    yield connection
    connection.close()


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


def test_module_check_mode(capsys, tmp_path):
    with patch_module_args({"uri": HOST, "name": "nosuch", "dest": str(tmp_path), "_ansible_check_mode": True}):
        with pytest.raises(SystemExit):
            vm_export.main()
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] and "no vm called 'nosuch'" in out["msg"]
