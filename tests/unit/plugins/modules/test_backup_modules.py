# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm_backup, vm_restore, backup_info and vm_snapshot: bad input refused before a host is
reached, and clear failures that leave nothing behind, against libvirt's test driver (which
has checkpoints and snapshots but no backup jobs) with the project's own host XML."""

from __future__ import annotations

import importlib
import json
import os
import re

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.backup import backup_ops, restore_ops, snapshot_ops

NOWHERE = "qemu+tcp://127.77.250.250:1/system"
URI = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "backup", "host.xml"))


def run(module, args, capsys):
    with patch_module_args(dict(args, uri=NOWHERE)):
        with pytest.raises(SystemExit):
            importlib.import_module("ansible_collections.hotiron.virt.plugins.modules." + module).main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("module, args, message", [
    ("vm_backup", {"name": "a", "target": "/b", "keep_chains": 0}, "keep_chains: must be from 1 to 10000, got 0"),
    ("vm_backup", {"name": "a", "target": "/b", "keep_days": 40000}, "keep_days: must be from 1 to 36500, got 40000"),
    ("vm_backup", {"name": "a", "target": "/b", "max_incrementals": -1}, "max_incrementals: must be from 0 to 10000, got -1"),
    ("vm_backup", {"name": "a", "target": "/b", "timeout": 0}, "timeout: must be from 1 to 604800, got 0"),
    ("vm_backup", {"name": "a"}, "one of the following is required: target, target_pool"),
    ("vm_backup", {"name": "a", "target": "/b", "target_pool": "p"}, "parameters are mutually exclusive: target|target_pool"),
    ("vm_backup", {"name": "a", "target": "/b", "mode": "incremental"}, "value of mode must be one of: auto, full"),
    ("vm_restore", {"target": "/b"}, "missing required arguments: vm"),
    ("backup_info", {}, "one of the following is required: target, target_pool"),
    ("vm_snapshot", {"name": "a"}, "state is present but all of the following are missing: snapshot"),
    ("vm_snapshot", {"name": "a", "snapshot": "s", "state": "gone"}, "value of state must be one of"),
])
def test_bad_input_is_named_before_any_host_is_reached(module, args, message, capsys):
    out = run(module, args, capsys)
    assert out["failed"] and message in out["msg"], out["msg"]
    assert "Failed to connect" not in out["msg"]


def backup_params(where, **kw):
    params = dict(uri=URI, name="db1", target=str(where), target_pool=None, mode="auto", max_incrementals=6,
                  keep_chains=None, keep_days=None, quiesce="auto", timeout=60.0)
    params.update(kw)
    return params


def test_check_mode_plans_a_first_full_backup_and_writes_nothing(tmp_path):
    result = backup_ops.run_vm_backup(backup_params(tmp_path), check_mode=True)
    assert result["changed"] and result["plan"]["mode"] == "full" and result["plan"]["checkpoint"] is True
    assert result["plan"]["reason"] == "first backup of this vm on the target"
    assert os.listdir(tmp_path) == []


def test_a_failed_backup_leaves_nothing(tmp_path):
    with pytest.raises(lc.VirtError, match="Failed to start a backup of vm db1: .*not supported"):
        backup_ops.run_vm_backup(backup_params(tmp_path), check_mode=False)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kw, message", [
    ({"name": "nope"}, "vm nope does not exist on test://"),
    ({"name": "web1"}, "vm web1 has no disk to back up"),
    ({"name": "../etc"}, "vm name '../etc' cannot name a directory"),
    ({"quiesce": "always"}, "vm db1 has no QEMU guest agent channel: quiesce=always"),
    ({"target": "/nonexistent/backups"}, "backup target /nonexistent/backups does not exist"),
    ({"target": None, "target_pool": "nope"}, "Storage pool nope (target_pool) does not exist"),
])
def test_clear_failures(tmp_path, kw, message):
    params = backup_params(tmp_path, **kw)
    with pytest.raises(lc.VirtError, match=re.escape(message)):
        backup_ops.run_vm_backup(params, check_mode=False)
    if params["target"] == str(tmp_path):
        assert os.listdir(tmp_path) == []


def test_a_remote_host_is_refused_for_file_work():
    class Remote:
        def getURI(self):
            return "qemu+tcp://far.example/system"

        def getHostname(self):
            return "far.example"

    with pytest.raises(lc.VirtError, match="libvirt at qemu\\+tcp://far.example/system is host far.example"):
        backup_ops.require_local(Remote(), "back up vm x")


def test_restore_without_backups_fails_clearly(tmp_path):
    params = dict(uri=URI, vm="db1", name=None, backup=None, target=str(tmp_path), target_pool=None,
                  disk_dir=str(tmp_path), disk_pool=None, start=False)
    with pytest.raises(lc.VirtError, match="There is no complete backup of vm db1"):
        restore_ops.run_vm_restore(params, check_mode=False)
    assert os.listdir(tmp_path) == []


def test_snapshots_need_the_images_here():
    params = dict(uri=URI, name="db1", snapshot="s1", state="present", memory=False, live=False, quiesce="auto",
                  description=None)
    with pytest.raises(lc.VirtError, match="the image /var/lib/hotiron-test/db1.qcow2 of vm db1 is not visible here"):
        snapshot_ops.run_vm_snapshot(params, check_mode=True)
    listed = snapshot_ops.run_vm_snapshot(dict(params, state="listed"), check_mode=False)
    assert listed == {"changed": False, "vm": "db1", "snapshots": []}
    with pytest.raises(lc.VirtError, match="snapshot name 'a b'"):
        snapshot_ops.run_vm_snapshot(dict(params, snapshot="a b"), check_mode=False)
    with pytest.raises(lc.VirtError, match="vm db1 has no snapshot s9 to revert to"):
        snapshot_ops.run_vm_snapshot(dict(params, snapshot="s9", state="reverted"), check_mode=False)
    assert snapshot_ops.run_vm_snapshot(dict(params, state="absent"), check_mode=False)["changed"] is False
