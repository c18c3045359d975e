# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup target's files (backup.store_ops): records listed and checked, copies hashed,
the per-VM lock, removal kept inside the target."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.backup import layout, store_ops as store


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
