# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""network_info and storage_pool_info through main() against libvirt's test driver with our own
host (tests/data/storage/host.xml); their _ops are tested in module_utils/{network,storage}."""

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hotiron.virt.plugins.modules import network_info, storage_pool_info

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "storage", "host.xml"))


def run(module, args, capsys):
    with patch_module_args(dict({"uri": HOST}, **args)):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


def test_network_info_in_check_mode(capsys):
    out = run(network_info, {"_ansible_check_mode": True, "xml": True}, capsys)
    assert not out["changed"] and [n["name"] for n in out["networks"]] == ["lan"]
    assert "<name>lan</name>" in out["networks"][0]["xml"] and "does not report DHCP leases" in json.dumps(out["warnings"])


def test_storage_pool_info_in_check_mode_does_not_refresh(capsys):
    out = run(storage_pool_info, {"_ansible_check_mode": True, "refresh": True, "types": ["dir"]}, capsys)
    assert not out["changed"] and [p["name"] for p in out["pools"]] == ["local", "spare"]
    assert "check mode: storage pool local not refreshed" in json.dumps(out["warnings"])


@pytest.mark.parametrize("module,args,message", [
    (network_info, {"states": ["running"]}, "states"),
    (network_info, {"leases": "maybe"}, "leases"),
    (storage_pool_info, {"types": ["nfs"]}, "types"),
    (storage_pool_info, {"states": ["active"]}, "states"),
])
def test_bad_filters_refused(capsys, module, args, message):
    out = run(module, args, capsys)
    assert out["failed"] and message in out["msg"]
