# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vms module through main() against libvirt's test driver (tests/data/vm/host.xml).

The host has pool ``local`` (tmpl.qcow2, data.raw), network ``lan``, a running VM
``web1`` and a shut-off template ``tmpl``.  Every test opens a fresh connection,
so the test driver starts from that file each time.  batch_ops itself is
tested in module_utils/vm/test_batch_ops.py.
"""

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hotiron.virt.plugins.modules import vms

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "vm", "host.xml"))
CLONES = {"clone_from": "tmpl", "memory": "64MiB", "state": "running"}


def run_module(args, capsys):
    with patch_module_args(dict(args, uri=HOST)):
        with pytest.raises(SystemExit):
            vms.main()
    return json.loads(capsys.readouterr().out)


def test_module_makes_the_vms_and_returns_one_result_each(capsys):
    out = run_module({"names": ["c1", "c2"], "defaults": CLONES, "_ansible_diff": True}, capsys)
    assert not out.get("failed") and out["changed"]
    assert [(r["name"], r["vm"]["state"]) for r in out["vms"]] == [("c1", "running"), ("c2", "running")]
    assert [d["before_header"] for d in out["diff"]] == ["vm c1 (before)", "vm c2 (before)"]


def test_module_check_mode_plans(capsys):
    out = run_module({"vms": [{"name": "c1", **CLONES}], "_ansible_check_mode": True}, capsys)
    assert out["changed"] and out["vms"][0]["plan"][0].startswith("create volume local/c1-vda.qcow2")
    assert "vm" not in out["vms"][0]


def test_module_needs_vms_or_names(capsys):
    out = run_module({"defaults": CLONES}, capsys)
    assert out["failed"] and "one of the following is required: vms, names" in out["msg"]


def test_module_bad_entry_fails_before_anything_is_made(capsys):
    out = run_module({"names": ["c1"], "vms": [{"name": "c2", "memory": "lots"}], "defaults": CLONES}, capsys)
    assert out["failed"] and out["msg"].startswith("vms[0] c2: memory:")
    assert "vms" not in out and "exception" not in out


def test_module_entry_that_cannot_be_planned_fails_before_anything_is_made(capsys):
    out = run_module({"vms": [{"name": "c1"}, {"name": "c2", "clone_from": "web1"}], "defaults": CLONES}, capsys)
    assert out["failed"] and not out.get("changed")
    assert out["msg"] == "1 of 2 VMs cannot be made as given, so none was touched: vms[1] c2: clone_from: template" \
                         " 'web1' is running: stop it (and mark it template: true) before cloning"
    assert "vms" not in out


def test_module_partial_failure_fails_with_every_result(capsys):
    vms_ = [{"name": "c1", "memory": "64MiB", "disks": [{"pool": "local", "volume": "c2-vda.qcow2", "size": "1GiB"}]},
            dict(CLONES, name="c2")]
    out = run_module({"vms": vms_}, capsys)
    assert out["failed"] and out["changed"]
    assert out["msg"].startswith("1 of 2 VMs failed: vms[1] c2: name: volume 'c2-vda.qcow2' already exists")
    assert [r["name"] for r in out["vms"]] == ["c1", "c2"] and out["vms"][0]["changed"]


def test_module_unreachable_host_fails_cleanly(capsys):
    with patch_module_args({"uri": "qemu+tcp://127.77.250.250:1/system", "names": ["a"]}):
        with pytest.raises(SystemExit):
            vms.main()
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] and "connect to libvirt at qemu+tcp://127.77.250.250:1/system" in out["msg"]


def test_cloud_init_user_data_is_masked_in_the_result_and_the_diff(capsys):
    secret = "#cloud-config\nchpasswd: {list: 'root:S3cretPW', expire: false}\n"
    entry = dict(CLONES, name="c1", cloud_init={"hostname": "c1", "user_data": secret})
    out = run_module({"vms": [entry], "_ansible_check_mode": True, "_ansible_diff": True}, capsys)
    assert not out.get("failed"), out.get("msg")
    assert out["changed"] and "S3cretPW" not in json.dumps(out)
