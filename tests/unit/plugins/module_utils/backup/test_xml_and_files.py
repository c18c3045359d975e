# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""XML built and read for backups and snapshots, qcow2 headers, and the target's files
(backup.backup_xml, snapshot_xml, qcow2, store).  qcow2 images come from qemu-img when it is
installed (it is wherever libvirt runs QEMU)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.backup import backup_xml, layout, qcow2_ops as qcow2, snapshot_xml, store_ops as store

DOMAIN = """<domain type='kvm'><name>web1</name><uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/>
      <source file='/i/web1-vda-s1.qcow2'/><backingStore type='file'><format type='qcow2'/>
      <source file='/i/web1.qcow2'/></backingStore><target dev='vda' bus='virtio'/></disk>
    <disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/sdb'/>
      <target dev='vdb' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><source file='/iso/x.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>
    <disk type='file' device='disk'><source file='/i/shared.img'/><target dev='vdc' bus='virtio'/><shareable/></disk>
    <interface type='network'><mac address='52:54:00:00:00:01'/><source network='lan'/></interface>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0' state='connected'/></channel>
  </devices></domain>"""


def test_backup_and_checkpoint_xml():
    root = ET.fromstring(backup_xml.backup_xml(["vda"], {"vda": "/b/vda.qcow2"}, incremental="cp1"))
    assert root.get("mode") == "push" and root.findtext("incremental") == "cp1"
    disk = root.find("disks/disk")
    assert (disk.get("name"), disk.find("target").get("file"), disk.find("driver").get("type")) == (
        "vda", "/b/vda.qcow2", "qcow2")
    others = ET.fromstring(backup_xml.backup_xml(["vda"], {"vda": "/b/vda.qcow2"}, others=["vda", "vdc", None]))
    assert [(d.get("name"), d.get("backup")) for d in others.findall("disks/disk")] == [("vda", "yes"), ("vdc", "no")]
    assert others.find("disks/disk[@name='vdc']/target") is None and others.find("incremental") is None
    cp = backup_xml.checkpoint_xml("cp2", ["vda"], ["vda", "hdc"], "why")
    assert backup_xml.checkpoint_info(cp) == ("cp2", None, {"vda": "bitmap", "hdc": "no"})
    assert backup_xml.guest_agent_connected(DOMAIN) is True
    assert backup_xml.guest_agent_connected("<domain><devices/></domain>") is None


def test_restored_domain_renamed_gets_new_identity_and_flat_disks():
    xml = backup_xml.restored_domain(DOMAIN, "web1-r", {"vda": "/r/web1-r-vda.qcow2", "vdb": "/r/web1-r-vdb.qcow2"},
                                     renamed=True)
    root = ET.fromstring(xml)
    assert root.findtext("name") == "web1-r" and root.find("uuid") is None
    assert root.find("devices/interface/mac") is None
    vda, vdb, cdrom = root.findall("devices/disk")[:3]
    assert vda.find("source").get("file") == "/r/web1-r-vda.qcow2" and vda.find("backingStore") is None
    assert vdb.get("type") == "file" and vdb.find("driver").get("type") == "qcow2"
    assert vdb.find("source").attrib == {"file": "/r/web1-r-vdb.qcow2"}
    assert cdrom.find("source").get("file") == "/iso/x.iso"
    same = ET.fromstring(backup_xml.restored_domain(DOMAIN, "web1", {"vda": "/r/a.qcow2"}, renamed=False))
    assert same.findtext("uuid") == "6695eb01-f6a4-8304-79aa-97f2502e193f"
    assert same.find("devices/interface/mac").get("address") == "52:54:00:00:00:01"


SNAPSHOT = """<domainsnapshot><name>s2</name><state>running</state><parent><name>s1</name></parent>
  <creationTime>1700000000</creationTime><memory snapshot='external' file='/i/web1-s2.mem'/>
  <disks><disk name='vda' snapshot='external' type='file'><driver type='qcow2'/><source file='/i/web1-vda-s2.qcow2'/></disk>
  <disk name='hdc' snapshot='no'/></disks>
  <domain type='kvm'><name>web1</name><devices><disk type='file' device='disk'><source file='/i/web1-vda-s1.qcow2'/>
  <backingStore type='file'><source file='/i/web1.qcow2'/></backingStore><target dev='vda'/></disk></devices></domain>
</domainsnapshot>"""


def test_snapshot_xml_read_built_and_moved():
    snap, kind = snapshot_xml.parse(SNAPSHOT, current=True)
    assert kind == "external" and snap.parent == "s1" and snap.current and snap.created == 1700000000
    assert snap.frozen == {"vda": "/i/web1-vda-s1.qcow2"} and snap.overlay == {"vda": "/i/web1-vda-s2.qcow2"}
    assert snap.memory == "/i/web1-s2.mem"
    moved = snapshot_xml.parse(snapshot_xml.moved(SNAPSHOT, frozen={"vda": "/i/web1.qcow2"},
                                                  overlay={"vda": "/i/n.qcow2"}))[0]
    assert moved.frozen == {"vda": "/i/web1.qcow2"} and moved.overlay == {"vda": "/i/n.qcow2"}
    assert "backingStore" not in snapshot_xml.moved(SNAPSHOT, frozen={"vda": "/i/web1.qcow2"})
    built = ET.fromstring(snapshot_xml.create_xml("s3", {"vda": "/i/o.qcow2"}, ["hdc"], "before", "/i/m.mem"))
    assert built.find("memory").attrib == {"snapshot": "external", "file": "/i/m.mem"}
    assert [(d.get("name"), d.get("snapshot")) for d in built.findall("disks/disk")] == [
        ("vda", "external"), ("hdc", "no")]
    internal = "<domainsnapshot><name>i</name><disks><disk name='vda' snapshot='internal'/></disks></domainsnapshot>"
    assert snapshot_xml.parse(internal)[1] == "internal"


needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")


@needs_qemu_img
def test_qcow2_headers_name_their_backing_image(tmp_path):
    base = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "1M"], check=True)
    over = tmp_path / "over.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", "base.qcow2", str(over)], check=True)
    header = qcow2.read_header(str(over))
    assert (header.backing, header.backing_format, header.virtual_size) == ("base.qcow2", "qcow2", 1 << 20)
    assert qcow2.resolve(str(over), header.backing) == str(base)
    assert qcow2.read_header(str(base)).backing is None
    raw = tmp_path / "raw.img"
    raw.write_bytes(b"\0" * 4096)
    assert qcow2.read_header(str(raw)) is None
    assert qcow2.resolve("/i/x.qcow2", "/abs/y.qcow2") == "/abs/y.qcow2"
    assert qcow2.resolve("/i/x.qcow2", "nbd://host/y") == "nbd://host/y"


def test_store_lists_records_and_refuses_what_it_cannot_trust(tmp_path):
    target = str(tmp_path)
    good = os.path.join(target, "web1", "2026-03-01T020000Z", "2026-03-01T020000Z")
    os.makedirs(good)
    with open(os.path.join(good, "vda.qcow2"), "wb") as handle:
        handle.write(b"x" * 10)
    record = {"format": 1, "vm": "web1", "uuid": "u", "id": "2026-03-01T020000Z", "chain": "2026-03-01T020000Z",
              "mode": "full", "parent": None, "checkpoint": "cp", "disks": [
                  {"target": "vda", "file": "vda.qcow2", "source": "/x", "format": "qcow2", "virtual_size": 10,
                   "size": 10, "sha256": store.sha256_file(os.path.join(good, "vda.qcow2"))}],
              "domain": {"file": "domain.xml", "sha256": "0"}, "size": 10}
    store.write_json_atomic(os.path.join(good, layout.RECORD), record)
    unfinished = os.path.join(target, "web1", "2026-03-01T020000Z", "2026-03-02T020000Z")
    os.makedirs(unfinished)
    lying = os.path.join(target, "web1", "2026-03-05T020000Z", "2026-03-05T020000Z")
    os.makedirs(lying)
    store.write_json_atomic(os.path.join(lying, layout.RECORD), dict(record))     # says it is in another chain
    chains, incomplete = store.chains(target, "web1")
    assert [c.id for c in chains] == ["2026-03-01T020000Z"]
    assert sorted((b.id, b.problem.split(":")[0]) for b in incomplete) == [
        ("2026-03-02T020000Z", "no record (unfinished or failed backup)"), ("2026-03-05T020000Z", "record refused")]
    assert store.missing_files(target, chains[0]) == []
    with open(os.path.join(good, "vda.qcow2"), "ab") as handle:
        handle.write(b"y")
    assert store.missing_files(target, chains[0]) == ["2026-03-01T020000Z/vda.qcow2 (size differs)"]
    assert store.list_vms(target) == ["web1"]
    assert json.load(open(os.path.join(good, layout.RECORD), encoding="utf-8"))["id"] == "2026-03-01T020000Z"
    assert not [n for n in os.listdir(good) if n.startswith(".tmp-")]


def test_store_copy_hashing_lock_and_remove(tmp_path):
    src = tmp_path / "src"
    src.write_bytes(os.urandom(3 * store.CHUNK + 5))
    dst = tmp_path / "dst"
    expected = hashlib.sha256(src.read_bytes()).hexdigest()
    assert store.sha256_file(str(src)) == expected
    assert store.copy_hashing(str(src), str(dst)) == expected
    with pytest.raises(FileNotFoundError):
        store.sha256_file(str(tmp_path / "missing"))
    assert dst.read_bytes() == src.read_bytes()
    with pytest.raises(FileExistsError):
        store.copy_hashing(str(src), str(dst))
    target = str(tmp_path / "t")
    os.makedirs(target)
    with store.vm_lock(target, "web1"):
        with pytest.raises(store.StoreError, match="another backup of vm web1 is running"):
            with store.vm_lock(target, "web1"):
                pass
    with store.vm_lock(target, "web1"):
        pass
    with pytest.raises(store.StoreError, match="not inside the backup target"):
        store.remove_tree(target, str(tmp_path))
    os.makedirs(os.path.join(target, "web1", "c"))
    store.remove_tree(target, os.path.join(target, "web1", "c"))
    assert not os.path.exists(os.path.join(target, "web1", "c"))


def test_check_target(tmp_path):
    assert store.check_target(str(tmp_path)) == str(tmp_path)
    with pytest.raises(store.StoreError, match="must be an absolute path"):
        store.check_target("relative/dir")
    with pytest.raises(store.StoreError, match="does not exist or is not a directory"):
        store.check_target(str(tmp_path / "nope"))


def test_only_backups_without_a_record_are_cleared(tmp_path):
    from ansible_collections.hotiron.virt.plugins.module_utils.backup import backup_ops

    target = str(tmp_path)
    died = os.path.join(target, "web1", "2026-03-01T020000Z", "2026-03-01T020000Z")
    os.makedirs(died)
    newer = os.path.join(target, "web1", "2026-03-02T020000Z", "2026-03-02T020000Z")
    os.makedirs(newer)
    store.write_json_atomic(os.path.join(newer, layout.RECORD), {"format": 2, "vm": "web1"})
    removed = backup_ops._remove_incomplete(target, "web1")
    assert removed == ["2026-03-01T020000Z/2026-03-01T020000Z: " + store.NO_RECORD]
    assert not os.path.exists(os.path.dirname(died)) and os.path.exists(newer)
