# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The network module through main(); network_ops itself is tested in module_utils/network/test_network_ops.py."""

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hotiron.virt.plugins.modules import network

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "storage", "host.xml"))


def test_main_bad_dhcp_range_names_parameter(capsys):
    args = {"uri": HOST, "name": "x", "mode": "isolated", "ips": [{"address": "198.18.3.1", "prefix": 24, "dhcp_ranges": [{"start": "198.18.9.1", "end": "198.18.3.9"}]}]}
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            network.main()
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] and "ips[0].dhcp_ranges[0].start 198.18.9.1 is outside 198.18.3.0/24" in result["msg"]
