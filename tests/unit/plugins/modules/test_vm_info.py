# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vm_info module through main() against libvirt's test driver with our own host (tests/data/vm/host.xml).

query_ops itself (info, filters, job progress) is tested in module_utils/vm/test_query_ops.py.
"""

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hotiron.virt.plugins.modules import vm_info

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "vm", "host.xml"))


def names(vms):
    return [v["name"] for v in vms]


def test_module_runs_in_check_mode(capsys):
    with patch_module_args({"uri": HOST, "states": ["running"], "_ansible_check_mode": True}):
        with pytest.raises(SystemExit):
            vm_info.main()
    out = json.loads(capsys.readouterr().out)
    assert not out["changed"] and names(out["vms"]) == ["web1"]


def test_module_bad_state_filter(capsys):
    with patch_module_args({"uri": HOST, "states": ["on"]}):
        with pytest.raises(SystemExit):
            vm_info.main()
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] and "states" in out["msg"]


def test_module_include_xml(capsys):
    with patch_module_args({"uri": HOST, "include_xml": True}):
        with pytest.raises(SystemExit):
            vm_info.main()
    vms = {vm["name"]: vm for vm in json.loads(capsys.readouterr().out)["vms"]}
    assert "<name>web1</name>" in vms["web1"]["xml"] and "<name>web1</name>" in vms["web1"]["live_xml"]
    assert "<name>tmpl</name>" in vms["tmpl"]["xml"] and "live_xml" not in vms["tmpl"]     # shut off
    with patch_module_args({"uri": HOST}):
        with pytest.raises(SystemExit):
            vm_info.main()
    assert all("xml" not in vm for vm in json.loads(capsys.readouterr().out)["vms"])
