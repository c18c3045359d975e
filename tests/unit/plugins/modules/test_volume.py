# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The volume module through main(); volume_ops itself is tested in module_utils/storage/test_volume_ops.py."""

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hotiron.virt.plugins.modules import volume

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "storage", "host.xml"))


def test_main_reports_bad_capacity_by_name(capsys):
    with patch_module_args({"uri": HOST, "pool": "local", "name": "x", "capacity": "lots"}):
        with pytest.raises(SystemExit):
            volume.main()
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] and result["msg"].startswith("capacity must be a size")
