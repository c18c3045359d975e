# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""appliance.import_ops (vm_import) against libvirt's test driver (tests/data/vm/host.xml: pool ``local``, network
``lan``, VM ``web1``) with real OVAs built here: check mode, and every refusal, which must
leave the host as it was.  Conversions for real (and booting the result) are in
tests/integration/test_appliance.py: the test driver's volumes are not files."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tarfile

import libvirt
import pytest

import appliances  # tests/lab/appliances.py
import guests      # tests/lab/guests.py
from ova_examples import MAP, build_ovas, repack  # tests/unit/ova_examples.py

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_ops
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import archive_ops as archive
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import import_ops

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "vm", "host.xml"))


MIB = 1024 * 1024


@pytest.fixture(scope="module")
def ovas(tmp_path_factory):
    return build_ovas(tmp_path_factory.mktemp("ovas"))


def snapshot(conn):
    doms = {d.name(): (dx.normalise(d.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)), d.state()[0]) for d in conn.listAllDomains()}
    return doms, sorted(conn.storagePoolLookupByName("local").listVolumes())


def params(src, **kwargs):
    base = dict(uri=HOST, src=src, src_format="auto", pool="local", disk_format="qcow2", network_map=MAP,
                keep_macs=False, overcommit=False, require_manifest=False, state="present", force=False)
    base.update(kwargs)
    return base


def copy(ovas, tmp_path, which="vmware"):
    dest = str(tmp_path / os.path.basename(ovas[which]))
    shutil.copy(ovas[which], dest)
    return dest


def refused(conn, p, message, check_mode=False):
    before = snapshot(conn)
    with pytest.raises(lc.VirtError, match=message):
        import_ops.run(conn, p, check_mode=check_mode)
    assert snapshot(conn) == before


def test_check_mode_returns_the_vm_and_conversions_and_changes_nothing(conn, ovas):
    before = snapshot(conn)
    changed, result, diff = import_ops.run(conn, params(ovas["vmware"], state="running"), check_mode=True)
    assert changed and snapshot(conn) == before
    assert result["plan"] == [
        "create volume local/app1-disk1.qcow2 (4MiB qcow2)",
        "convert app1.ova:app1-disk1.vmdk (VMDK) into local/app1-disk1.qcow2 (qcow2)",
        "create volume local/app1-disk2.qcow2 (2MiB qcow2)",
        "convert app1.ova:app1-disk2.vmdk (VMDK) into local/app1-disk2.qcow2 (qcow2)",
        "define vm app1", "start vm app1"]
    conversion = result["conversions"][0]
    package = archive.open_package(ovas["vmware"])
    member = package.member("app1-disk1.vmdk")
    assert (conversion["offset"], conversion["size"], conversion["source_subformat"]) == (
        member.offset, member.size, "streamOptimized")
    assert conversion["command"][:6] == ["qemu-img", "convert", "-n", "--target-is-zero", "-O", "qcow2"]
    assert conversion["command"][-1] == "/var/lib/hotiron-test/local/app1-disk1.qcow2"
    assert [f["file"] for f in result["manifest"]["files"]] == ["app1.ovf", "app1-disk1.vmdk", "app1-disk2.vmdk"]
    assert result["appliance"]["dialect"] == "vmware" and result["spec"]["name"] == "app1"
    after = dx.parse(diff["after"])
    assert [n.get("model") for n in after.findall("devices/controller")] == ["lsilogic"]
    assert dx.read_metadata(after)["extra"] == {"imported_from": "app1.ova", "ovf_os_type": "otherLinux64Guest",
                                                "ovf_os_id": "101"}


def test_virtualbox_ova_in_check_mode(conn, ovas):
    _changed, result, diff = import_ops.run(conn, params(ovas["vbox"], network_map={"NAT": "lan"}), check_mode=True)
    assert result["appliance"]["dialect"] == "virtualbox" and result["manifest"]["file"] == "vb1.mf"
    assert [d.get("bus") for d in dx.parse(diff["after"]).findall("devices/disk/target")] == ["sata"]


def test_a_disk_changed_after_the_manifest_is_refused_before_anything_is_written(conn, ovas, tmp_path):
    ova = copy(ovas, tmp_path)
    member = archive.open_package(ova).member("app1-disk2.vmdk")
    with open(ova, "r+b") as handle:
        handle.seek(member.offset + member.size - 1000)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))
    for check_mode in (True, False):
        refused(conn, params(ova), "app1-disk2.vmdk does not match the manifest: its SHA256 is", check_mode)


def test_an_ovf_with_its_files_in_a_directory(conn, ovas, tmp_path):
    with tarfile.open(ovas["vmware"]) as tar:
        tar.extractall(tmp_path, filter="data")
    _changed, result, _diff = import_ops.run(conn, params(str(tmp_path / "app1.ovf")), check_mode=True)
    assert result["appliance"]["kind"] == "ovf" and result["manifest"]["file"] == "app1.mf"
    conversion = result["conversions"][0]
    assert json.loads(conversion["source_spec"][5:]) == {
        "driver": "vmdk", "file": {"driver": "file", "filename": str(tmp_path / "app1-disk1.vmdk")}}
    assert conversion["source"] == str(tmp_path / "app1-disk1.vmdk")
    with open(tmp_path / "app1-disk2.vmdk", "ab") as handle:
        handle.write(b"\0")
    refused(conn, params(str(tmp_path / "app1.ovf")), "app1-disk2.vmdk does not match the manifest")
    os.unlink(tmp_path / "app1-disk2.vmdk")
    refused(conn, params(str(tmp_path / "app1.ovf")), "app1-disk2.vmdk is missing from the package")


def test_a_changed_descriptor_is_refused_too(conn, ovas, tmp_path):
    ova = copy(ovas, tmp_path)
    member = archive.open_package(ova).member("app1.ovf")
    with open(ova, "r+b") as handle:
        handle.seek(member.offset)
        text = handle.read(member.size)
        handle.seek(member.offset)
        handle.write(text.replace(b"<rasd:VirtualQuantity>32<", b"<rasd:VirtualQuantity>64<"))
    refused(conn, params(ova), "app1.ovf does not match the manifest")


def test_a_missing_file_is_refused(conn, ovas, tmp_path):
    ova = repack(ovas["vmware"], str(tmp_path / "x.ova"), drop=("app1-disk2.vmdk",))
    refused(conn, params(ova), "app1-disk2.vmdk is missing from the package")


def test_without_a_manifest_only_when_allowed(conn, ovas, tmp_path):
    ova = repack(ovas["vmware"], str(tmp_path / "x.ova"), drop=("app1.mf",))
    _changed, result, _diff = import_ops.run(conn, params(ova), check_mode=True)
    assert result["manifest"] is None
    refused(conn, params(ova, require_manifest=True), "has no manifest .* require_manifest")


def test_an_unreadable_descriptor_is_refused(conn, ovas, tmp_path):
    ova = repack(ovas["vmware"], str(tmp_path / "x.ova"), drop=("app1.mf",),
                 replace={"app1.ovf": b"<Envelope><References>"})
    refused(conn, params(ova), "src .*x.ova: the descriptor is not well-formed XML")


def test_a_disk_whose_contents_are_not_its_declared_format(conn, ovas, tmp_path):
    qcow2 = appliances.convert(appliances.raw_disk(str(tmp_path / "d.raw"), guests.boot_sector("idle"), MIB),
                               str(tmp_path / "d.qcow2"), "qcow2")
    with open(qcow2, "rb") as handle:
        data = handle.read()
    ova = repack(ovas["vmware"], str(tmp_path / "x.ova"), drop=("app1.mf",), replace={"app1-disk2.vmdk": data})
    with tarfile.open(ova) as tar:   # the descriptor's File size must match, or that is found first
        size = tar.getmember("app1-disk2.vmdk").size
    text = archive.open_package(ova).read("app1.ovf", 10 ** 6).decode()
    text = text.replace('ovf:id="file2" ovf:size="%d"' % os.path.getsize(os.path.join(os.path.dirname(ovas["vmware"]), "app1-disk2.vmdk")),
                        'ovf:id="file2" ovf:size="%d"' % size)
    ova = repack(ova, str(tmp_path / "y.ova"), replace={"app1.ovf": text.encode()})
    refused(conn, params(ova), "app1-disk2.vmdk is VMDK by the descriptor, but its contents are a qcow2 image")


def test_a_truncated_member_is_refused_by_its_declared_size(conn, ovas, tmp_path):
    with tarfile.open(ovas["vmware"]) as tar:
        data = tar.extractfile("app1-disk2.vmdk").read()
    ova = repack(ovas["vmware"], str(tmp_path / "x.ova"), drop=("app1.mf",), replace={"app1-disk2.vmdk": data[:-512]})
    refused(conn, params(ova), "app1-disk2.vmdk is %d bytes, but the descriptor says %d" % (len(data) - 512, len(data)))


def test_unmapped_networks_are_refused(conn, ovas):
    refused(conn, params(ovas["vmware"], network_map={"Backend": "lan"}), "network 'VM Network' is not mapped")


def test_an_existing_vm_is_ok_and_its_package_is_not_even_read(conn, ovas, tmp_path):
    ova = repack(ovas["vmware"], str(tmp_path / "x.ova"), replace={"app1-disk1.vmdk": b"garbage"})
    before = snapshot(conn)
    changed, result, _diff = import_ops.run(conn, params(ova, name="web1"))
    assert not changed and result["vm"]["name"] == "web1" and result["plan"] == []
    assert snapshot(conn) == before


def test_a_vm_left_by_an_unfinished_import_needs_force(conn, ovas):
    vm_ops.ensure(conn, {"name": "app1", "memory": "32MiB", "disks": [], "metadata": {import_ops.IMPORT_MARK: "converting"}})
    refused(conn, params(ovas["vmware"]), "import that did not finish .* force: true")
    _changed, result, diff = import_ops.run(conn, params(ovas["vmware"], force=True), check_mode=True)
    assert result["plan"][0] == "remove vm app1 and the volumes it owns (force)"
    assert result["plan"][-1] == "define vm app1"
    assert "<name>app1</name>" in diff["before"] and "<name>app1</name>" in diff["after"]
    assert "<memory unit=\"KiB\">32768</memory>" in diff["after"]


def test_force_checks_the_new_vm_before_removing_the_old_one(conn, ovas):
    """An appliance the host cannot take (here: a network that does not exist) must fail
    before force removes the VM it would replace."""
    vm_ops.ensure(conn, {"name": "app1", "memory": "32MiB", "disks": []})
    refused(conn, params(ovas["vmware"], force=True, network_map={"VM Network": "nosuch", "Backend": None}),
            "no network called 'nosuch'")


def test_pool_errors(conn, ovas):
    refused(conn, params(ovas["vmware"], pool="nosuch"), "pool: no storage pool called 'nosuch'")


def test_a_fixed_vhd_image_is_read_as_vhd(conn, tmp_path):
    raw = appliances.raw_disk(str(tmp_path / "d.raw"), guests.boot_sector("idle"), 3 * MIB)
    vhd = appliances.convert(raw, str(tmp_path / "d.img"), "vpc", "subformat=fixed,force_size=on")
    _changed, result, _diff = import_ops.run(conn, params(vhd, name="hv", memory="64MiB", network_map=None,
                                                          interfaces=[{"network": "lan", "bridge": None,
                                                                       "model": "e1000", "mac": None}]),
                                             check_mode=True)
    [conversion] = result["conversions"]
    assert (conversion["source_format"], conversion["virtual_size"]) == ("vpc", 3 * MIB)
    assert result["appliance"]["kind"] == "image" and result["spec"]["disks"][0]["bus"] == "virtio"
    refused(conn, params(vhd, name="hv", memory="64MiB", src_format="raw", network_map=None),
            "d.img is raw by src_format, but its contents are a VHD image")


# --- imports that do not guess ----------------------------------------------------------------


HTML = (b"<!DOCTYPE html>\n<html><head><title>Download failed</title></head>\n"
        b"<body><p>Sign in to download this file.</p></body></html>\n") * 40


def write(path, data):
    with open(path, "wb") as handle:
        handle.write(data)
    return str(path)


IMAGE = dict(name="img1", memory="64MiB", network_map=None)


@pytest.mark.parametrize("filename, extra, message", [
    ("page.ova", {}, "src: .*page.ova is not an OVA: an OVA is a tar archive, and this file looks like HTML text"),
    ("page.bin", {"src_format": "ova"}, "is not an OVA: an OVA is a tar archive, and this file looks like HTML text"),
    ("page.img", IMAGE, "page.img is no disk image format qemu-img reads: it looks like HTML text"),
    ("page.raw", IMAGE, "page.raw is raw by its name, but it is no disk image: it looks like HTML text"),
    ("page.vmdk", IMAGE, "page.vmdk is VMDK by its name, but it is no disk image: it looks like HTML text"),
    ("page.img", dict(IMAGE, src_format="raw"), "page.img is raw by src_format, but it is no disk image: it looks like HTML"),
    ("page.qcow2", dict(IMAGE, src_format="qcow2"), "is qcow2 by src_format, but it is no disk image: it looks like HTML"),
    ("page.ovf", {}, "the descriptor is no XML document: it looks like HTML text"),
    ("page.bin", {"src_format": "ovf"}, "the descriptor is no XML document: it looks like HTML text"),
    ("page.img", {}, "looks like HTML text"),                     # without memory: the format is said first
])
def test_an_html_page_is_refused_for_what_it_is_before_anything_is_created(conn, tmp_path, filename, extra, message):
    src = write(tmp_path / filename, HTML)
    for check_mode in (True, False):
        refused(conn, params(src, **extra), message, check_mode)


@pytest.mark.parametrize("data, what", [
    (gzip.compress, "a gzip-compressed file"),
    (lambda raw: b"", "an empty file"),
    (lambda raw: b"LibvirtQemudSave" + raw[16:], "a libvirt saved state"),
])
def test_other_files_are_refused_saying_what_they_look_like(conn, tmp_path, data, what):
    raw = open(appliances.raw_disk(str(tmp_path / "d.raw"), guests.boot_sector("idle"), MIB), "rb").read()
    for name in ("x.ova", "x.img", "x.vhd"):
        refused(conn, params(write(tmp_path / name, data(raw)), **IMAGE), what)


def test_a_raw_disk_needs_evidence_or_a_declaration(conn, tmp_path):
    blank = appliances.raw_disk(str(tmp_path / "blank.img"), bytes(512), MIB)
    refused(conn, params(blank, **IMAGE), "blank.img is no known disk image format, and it shows no partition table"
            ".*only zeroes.*src_format: raw")
    _changed, result, _diff = import_ops.run(conn, params(blank, src_format="raw", **IMAGE), check_mode=True)
    assert result["conversions"][0]["source_format"] == "raw"
    booting = appliances.raw_disk(str(tmp_path / "boot.img"), guests.boot_sector("idle"), MIB)
    _changed, result, _diff = import_ops.run(conn, params(booting, **IMAGE), check_mode=True)
    assert result["conversions"][0]["source_format"] == "raw"        # an MBR boot sector is evidence


def test_a_tar_is_not_an_ovf_nor_a_disk(conn, ovas, tmp_path):
    refused(conn, params(ovas["vmware"], src_format="ovf"), "is a tar archive \\(an OVA\\), not an OVF descriptor")
    refused(conn, params(ovas["vmware"], src_format="vmdk", **IMAGE), "is VMDK by src_format, but it is no disk image:"
            " it looks like a tar archive")


def test_a_disk_of_an_ova_that_is_no_image_is_refused_with_what_it_looks_like(conn, ovas, tmp_path):
    ova = repack(ovas["vmware"], str(tmp_path / "x.ova"), drop=("app1.mf",), replace={"app1-disk2.vmdk": HTML})
    text = archive.open_package(ova).read("app1.ovf", 10 ** 6).decode()
    size = os.path.getsize(os.path.join(os.path.dirname(ovas["vmware"]), "app1-disk2.vmdk"))
    ova = repack(ova, str(tmp_path / "y.ova"), replace={"app1.ovf": text.replace(
        'ovf:id="file2" ovf:size="%d"' % size, 'ovf:id="file2" ovf:size="%d"' % len(HTML)).encode()})
    refused(conn, params(ova), "app1-disk2.vmdk is VMDK by the descriptor, but it is no disk image: it looks like HTML text")


def test_a_descriptor_in_an_encoding_xml_cannot_read_is_refused(conn, ovas, tmp_path):
    ova = repack(ovas["vmware"], str(tmp_path / "x.ova"), drop=("app1.mf",),
                 replace={"app1.ovf": b'<?xml version="1.0" encoding="bogus"?><Envelope/>'})
    refused(conn, params(ova), "the descriptor is not well-formed XML: unknown encoding")
