# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Image formats as qemu-img writes them, read in place from a tar, and the traps."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile

import pytest

import appliances  # tests/lab/appliances.py
import guests      # tests/lab/guests.py

from ansible_collections.hotiron.virt.plugins.module_utils.appliance import archive_ops as archive
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import images_ops as images
from ansible_collections.hotiron.virt.plugins.module_utils.storage import qemu_img_ops as qemu_img

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("img") / "disk.raw")
    appliances.raw_disk(path, guests.boot_sector("busy"), 3 * MIB)
    with open(path, "r+b") as handle:      # some data away from the start, for the contents checks
        handle.seek(2 * MIB)
        handle.write(os.urandom(4096))
    return path


def qemu_img_probe(path):
    out = subprocess.run(["qemu-img", "info", "--output=json", path], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["format"]


@pytest.mark.parametrize("fmt, options, expected", [
    ("vpc", "subformat=fixed", "vpc"), ("vpc", "subformat=dynamic", "vpc"),
    ("vmdk", "subformat=streamOptimized", "vmdk"), ("vmdk", "subformat=monolithicSparse", "vmdk"),
    ("vmdk", "subformat=monolithicFlat", "vmdk"), ("qcow2", None, "qcow2"), ("vhdx", None, "vhdx"),
    ("vdi", None, "vdi"), ("raw", None, "raw"),
])
def test_identify_tells_each_format_qemu_img_writes(raw, tmp_path, fmt, options, expected):
    out = appliances.convert(raw, str(tmp_path / ("disk." + fmt)), fmt, options)
    member = archive.Member("disk", out, 0, os.path.getsize(out))
    seen = images.identify(member)
    assert seen.fmt == expected and seen.kind == ("raw" if fmt == "raw" else "image")


def test_a_fixed_vhd_is_probed_as_raw_by_qemu_img_but_not_by_identify(raw, tmp_path):
    """The trap: read as raw, the VHD footer would become part of the disk."""
    vhd = appliances.convert(raw, str(tmp_path / "fixed.vhd"), "vpc", "subformat=fixed,force_size=on")
    assert qemu_img_probe(vhd) == "raw"
    assert os.path.getsize(vhd) == os.path.getsize(raw) + 512
    member = archive.Member("fixed.vhd", vhd, 0, os.path.getsize(vhd))
    fmt = images.identify(member).fmt
    assert fmt == "vpc"
    info = qemu_img.info(images.source_spec(member, fmt, whole_file=True), "read")
    assert info["virtual-size"] == os.path.getsize(raw)


def test_vhd_sizes_round_to_the_geometry_without_force_size(raw, tmp_path):
    odd = str(tmp_path / "odd.raw")
    appliances.raw_disk(odd, guests.boot_sector("idle"), 1000 * 512 * 9)
    rounded = appliances.convert(odd, str(tmp_path / "r.vhd"), "vpc", "subformat=dynamic")
    exact = appliances.convert(odd, str(tmp_path / "e.vhd"), "vpc", "subformat=dynamic,force_size=on")
    sizes = [qemu_img.info(images.source_spec(archive.Member("v", p, 0, 0), "vpc", True), "read")["virtual-size"]
             for p in (rounded, exact)]
    assert sizes[0] != os.path.getsize(odd) and sizes[1] == os.path.getsize(odd)


def test_a_streamoptimized_vmdk_is_read_from_inside_a_tar_at_its_offset(raw, tmp_path):
    vmdk = appliances.stream_vmdk(raw, str(tmp_path / "d.vmdk"))
    ova = str(tmp_path / "x.ova")
    (tmp_path / "x.ovf").write_text("<Envelope/>")
    with tarfile.open(ova, "w", format=tarfile.USTAR_FORMAT) as tar:
        tar.add(str(tmp_path / "x.ovf"), arcname="x.ovf")
        tar.add(vmdk, arcname="d.vmdk")
    member = archive.open_package(ova).member("d.vmdk")
    assert member.offset > 0
    assert images.identify(member).fmt == "vmdk"
    spec = images.source_spec(member, "vmdk", whole_file=False)
    assert json.loads(spec[5:])["file"] == {"driver": "raw", "offset": member.offset, "size": member.size,
                                            "file": {"driver": "file", "filename": ova}}
    assert qemu_img.info(spec, "read")["virtual-size"] == 3 * MIB
    out = str(tmp_path / "back.raw")
    qemu_img.run(["qemu-img", "convert", "-O", "raw", spec, out], "convert")
    assert appliances.digest(out) == appliances.digest(raw)


@pytest.mark.parametrize("kind, subformat, expected", [
    ("vmdk", None, ["-O", "vmdk", "-o", "subformat=streamOptimized,adapter_type=lsilogic"]),
    ("vhd", "fixed", ["-O", "vpc", "-o", "subformat=fixed,force_size=on"]),
    ("vhd", None, ["-O", "vpc", "-o", "subformat=dynamic,force_size=on"]),
    ("qcow2", None, ["-O", "qcow2"]),
])
def test_export_commands(kind, subformat, expected):
    cmd = images.export_command("/a.qcow2", "qcow2", "/out", kind, subformat)
    assert cmd == ["qemu-img", "convert", "-f", "qcow2"] + expected + ["/a.qcow2", "/out"]


def test_import_command_writes_into_the_existing_volume():
    assert images.import_command("json:{}", "/p/v.qcow2", "qcow2", True) == [
        "qemu-img", "convert", "-n", "--target-is-zero", "-O", "qcow2", "json:{}", "/p/v.qcow2"]
    assert "--target-is-zero" not in images.import_command("json:{}", "/dev/vg/lv", "raw", False)


@pytest.mark.parametrize("name, fmt", [("a.VMDK", "vmdk"), ("a.vhd", "vpc"), ("a.vhdx", "vhdx"), ("a.img", None),
                                       ("a.qcow2", "qcow2"), ("a.iso", "raw"), ("a.bin", None),
                                       ("a.qcow", None)])
def test_format_by_extension(name, fmt):
    assert images.format_by_extension(name) == fmt


def test_a_missing_qemu_img_is_the_modules_failure(tmp_path, monkeypatch):
    from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(qemu_img, "FALLBACKS", ())
    with pytest.raises(lc.VirtError, match="qemu-img is not installed on this host"):
        images.require_qemu_img()
