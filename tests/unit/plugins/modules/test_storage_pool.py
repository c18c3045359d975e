# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The storage_pool module through main(); pool_ops itself is tested in module_utils/storage/test_pool_ops.py."""

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hotiron.virt.plugins.modules import storage_pool

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "storage", "host.xml"))


def run_main(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            storage_pool.main()
    return json.loads(capsys.readouterr().out)


def test_main_fails_naming_the_parameter(capsys):
    result = run_main(
        {"uri": HOST, "name": "fc", "type": "scsi", "source": {"adapter": {"wwnn": "20000000c9831b4b", "wwpn": "xyz"}}}, capsys
    )
    assert result["failed"] and "source.adapter.wwpn must be 16 hexadecimal digits" in result["msg"]


def test_main_defines_pool_and_hides_password(capsys):
    result = run_main(
        {"uri": HOST, "name": "d1", "type": "dir", "target": {"path": "/srv/d1"}, "_ansible_check_mode": True, "_ansible_diff": True}, capsys
    )
    assert result["changed"] and result["actions"] == ["define", "build", "start"]
    assert "<path>/srv/d1</path>" in result["diff"]["after"]
