# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""restore_ops: a disk rebuilt from a full backup and an incremental with the real qemu-img,
renamed into place only when whole, nothing left on a failure; the refusals before any work.
(Whole restores: tests/integration/test_backup.py.)"""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.backup import layout, restore_ops

MIB = 1024 * 1024


def qemu_io(path, command):
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", command, path], check=True, capture_output=True)


def sha(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def backup(target, chain, backup_id, path, virtual_size=MIB):
    bdir = layout.backup_dir(target, "web1", chain, backup_id)
    os.makedirs(bdir)
    os.rename(path, os.path.join(bdir, "vda.qcow2"))
    final = os.path.join(bdir, "vda.qcow2")
    record = {"vm": "web1", "disks": [{"target": "vda", "file": "vda.qcow2", "sha256": sha(final),
                                       "size": os.path.getsize(final), "virtual_size": virtual_size}]}
    return layout.Backup("web1", chain, backup_id, record)


@pytest.fixture
def sequence(tmp_path):
    """A full backup (0x11 at 0) and an incremental (0x22 at 64 KiB) of one 1 MiB disk."""
    target = str(tmp_path / "target")
    full, inc = str(tmp_path / "full.qcow2"), str(tmp_path / "inc.qcow2")
    for path in (full, inc):
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, str(MIB)], check=True)
    qemu_io(full, "write -P 0x11 0 64k")
    qemu_io(inc, "write -P 0x22 64k 64k")
    return target, [backup(target, "c1", "b1", full), backup(target, "c1", "b2", inc)]


def test_a_disk_is_rebuilt_from_full_and_incremental_and_renamed_into_place(tmp_path, sequence):
    target, backups = sequence
    disk_dir = tmp_path / "disks"
    disk_dir.mkdir()
    dest, made = str(disk_dir / "new-vda.qcow2"), []
    verified = restore_ops._rebuild(target, backups, "vda", dest, str(disk_dir), "new", made)
    assert [v["file"] for v in verified] == [restore_ops._files(target, b)["vda"] for b in backups]
    assert made == [dest] and os.listdir(disk_dir) == ["new-vda.qcow2"]
    qemu_io(dest, "read -P 0x11 0 64k")          # qemu-io fails (check=True) on other contents
    qemu_io(dest, "read -P 0x22 64k 64k")


def test_a_damaged_backup_leaves_nothing_under_the_disk_name(tmp_path, sequence):
    target, backups = sequence
    backups[1].record["disks"][0]["sha256"] = "0" * 64
    disk_dir = tmp_path / "disks"
    disk_dir.mkdir()
    made = []
    with pytest.raises(lc.VirtError, match="is damaged: its SHA-256 is"):
        restore_ops._rebuild(target, backups, "vda", str(disk_dir / "new-vda.qcow2"), str(disk_dir), "new", made)
    restore_ops._undo(made)
    assert os.listdir(disk_dir) == []


def test_a_disk_file_that_appears_meanwhile_is_not_overwritten(tmp_path, sequence, monkeypatch):
    target, backups = sequence
    disk_dir = tmp_path / "disks"
    disk_dir.mkdir()
    dest = disk_dir / "new-vda.qcow2"
    real = restore_ops._assemble

    def assemble(*args):
        verified = real(*args)
        dest.write_text("someone else's")
        return verified
    monkeypatch.setattr(restore_ops, "_assemble", assemble)
    with pytest.raises(lc.VirtError, match="appeared while it was being restored: not overwritten"):
        restore_ops._rebuild(target, backups, "vda", str(dest), str(disk_dir), "new", [])
    assert os.listdir(disk_dir) == ["new-vda.qcow2"] and dest.read_text() == "someone else's"


def test_existing_disk_files_and_missing_backup_files_are_refused(tmp_path, sequence):
    target, backups = sequence
    (tmp_path / "web2-vda.qcow2").write_text("x")
    with pytest.raises(lc.VirtError, match="web2-vda.qcow2 already exist: refusing to overwrite"):
        restore_ops._destinations(str(tmp_path), "web2", ["vda", "vdb"])
    assert restore_ops._destinations(str(tmp_path), "web3", ["vda"]) == {"vda": str(tmp_path / "web3-vda.qcow2")}
    restore_ops._require_files(target, backups)
    os.unlink(restore_ops._files(target, backups[1])["vda"])
    with pytest.raises(lc.VirtError, match="missing or not at their recorded size: .*b2/vda.qcow2; nothing was restored"):
        restore_ops._require_files(target, backups)
