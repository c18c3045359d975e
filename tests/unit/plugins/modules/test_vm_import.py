# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm_import against libvirt's test driver (tests/data/vm/host.xml: pool ``local``, network
``lan``, VM ``web1``) with real OVAs built here: check mode, and every refusal, which must
leave the host as it was.  Conversions for real (and booting the result) are in
tests/integration/test_appliance.py: the test driver's volumes are not files."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile

import libvirt
import pytest
from ansible.module_utils.testing import patch_module_args

import appliances  # tests/lab/appliances.py
import guests      # tests/lab/guests.py

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils import vm_ops
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import archive
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import import_ops
from ansible_collections.hotiron.virt.plugins.modules import vm_import

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "vm", "host.xml"))
MIB = 1024 * 1024
MAP = {"VM Network": "lan", "Backend": None}


@pytest.fixture(scope="module")
def ovas(tmp_path_factory):
    work = tmp_path_factory.mktemp("ovas")
    vmware_dir, vbox_dir = work / "vmware", work / "vbox"
    vmware_dir.mkdir()
    vbox_dir.mkdir()
    return {"vmware": appliances.vmware_ova(str(vmware_dir), "app1", [guests.boot_sector("idle")] * 2),
            "vbox": appliances.virtualbox_ova(str(vbox_dir), "vb1", guests.boot_sector("idle")),
            "dir": str(work)}


@pytest.fixture
def conn():
    connection = lc.connect(HOST)
    yield connection
    connection.close()


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


def repack(ova, dest, drop=(), replace=None):
    """Copy the members of ``ova`` into ``dest`` except ``drop``, replacing some contents."""
    replace = replace or {}
    with tarfile.open(ova) as src, tarfile.open(dest, "w", format=tarfile.USTAR_FORMAT) as out:
        for info in src.getmembers():
            if info.name in drop:
                continue
            data = replace.get(info.name, src.extractfile(info).read())
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return dest


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
    refused(conn, params(ova), "app1-disk2.vmdk is VMDK by the descriptor, but its contents are qcow2")


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
    vm_ops.ensure(conn, {"name": "app1", "memory": "32MiB", "metadata": {import_ops.IMPORT_MARK: "converting"}})
    refused(conn, params(ovas["vmware"]), "import that did not finish .* force: true")
    _changed, result, diff = import_ops.run(conn, params(ovas["vmware"], force=True), check_mode=True)
    assert result["plan"][0] == "remove vm app1 and the volumes it owns (force)"
    assert result["plan"][-1] == "define vm app1"
    assert "<name>app1</name>" in diff["before"] and "<name>app1</name>" in diff["after"]
    assert "<memory unit=\"KiB\">32768</memory>" in diff["after"]


def test_force_checks_the_new_vm_before_removing_the_old_one(conn, ovas):
    """An appliance the host cannot take (here: a network that does not exist) must fail
    before force removes the VM it would replace."""
    vm_ops.ensure(conn, {"name": "app1", "memory": "32MiB"})
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
            "d.img is raw by src_format, but its contents are VHD")


@pytest.mark.parametrize("host_name, here, same", [("hv1", "hv1", True), ("hv1.lab.example", "hv1", True),
                                                   ("HV1", "hv1.lab", True), ("hv2", "hv1", False)])
def test_same_host(host_name, here, same):
    assert import_ops.same_host(host_name, here) is same


def run_module(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            vm_import.main()
    return json.loads(capsys.readouterr().out)


def test_module_check_mode(capsys, ovas):
    out = run_module({"uri": HOST, "src": ovas["vmware"], "pool": "local", "network_map": MAP,
                      "_ansible_check_mode": True, "_ansible_diff": True}, capsys)
    assert out["changed"] and out["plan"][-1] == "define vm app1" and "diff" in out
    assert out["vm"] is None


@pytest.mark.parametrize("args, message", [
    ({"vcpus": 0}, "vcpus: must be at least 1"), ({"network_map": {"x": ["a"]}}, "network_map: the value for 'x'"),
    ({"memory": "lots"}, "memory: expected a size"), ({"src": "relative.ova"}, "src: 'relative.ova' is not an absolute"),
    ({"disk_bus": "floppy"}, "disk_bus must be one of"),
])
def test_module_bad_input(capsys, ovas, args, message):
    base = {"uri": HOST, "src": ovas["vmware"], "pool": "local", "network_map": MAP}
    out = run_module(dict(base, **args), capsys)
    assert out["failed"] and message in out["msg"], out["msg"]
