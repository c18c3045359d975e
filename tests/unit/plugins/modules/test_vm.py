# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vm module through main() against libvirt's test driver (tests/data/vm/host.xml).

vm_ops itself (ensure, apply_live, stop) is tested in module_utils/vm/test_vm_ops.py.
"""

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hotiron.virt.plugins.modules import vm

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "vm", "host.xml"))


def run_module(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            vm.main()
    return json.loads(capsys.readouterr().out)


def test_module_unknown_option_fails_cleanly(capsys):
    out = run_module({"uri": HOST, "name": "x", "vcpu": 2}, capsys)
    assert out["failed"] and "vcpu" in out["msg"] and "Unsupported parameters" in out["msg"]


def test_module_mistyped_value_fails_cleanly(capsys):
    out = run_module({"uri": HOST, "name": "x", "vcpus": "two"}, capsys)
    assert out["failed"] and "vcpus" in out["msg"]


def test_module_unreachable_host_fails_cleanly(capsys):
    out = run_module({"uri": "qemu+tcp://127.77.250.250:1/system", "name": "x"}, capsys)
    assert out["failed"] and "connect to libvirt at qemu+tcp://127.77.250.250:1/system" in out["msg"]
    assert "exception" not in out


def test_module_check_and_diff(capsys):
    out = run_module({"uri": HOST, "name": "m1", "memory": "64MiB", "disks": [], "_ansible_check_mode": True,
                      "_ansible_diff": True}, capsys)
    assert out["changed"] and out["plan"] == ["define vm m1"]
    assert "<name>m1</name>" in out["diff"]["after"]


def test_module_bad_size_names_parameter(capsys):
    out = run_module({"uri": HOST, "name": "m1", "disks": [{"pool": "local", "volume": "a", "size": "0"}]}, capsys)
    assert out["failed"] and out["msg"].startswith("disks[0].size: must be greater than zero")


@pytest.mark.parametrize("check", [True, False])
def test_module_a_name_alone_creates_nothing(capsys, check):
    """A misspelled name must not create (and start) an empty VM: the task fails saying what to add."""
    out = run_module({"uri": HOST, "name": "nope-a", "state": "running", "_ansible_check_mode": check}, capsys)
    assert out["failed"] and not out.get("changed") and "exception" not in out
    assert out["msg"].startswith("name: no vm called 'nope-a' on test://") and "give disks (disks: [] for a vm" in out["msg"]
