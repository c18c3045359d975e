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
    args = {"uri": HOST, "name": "x", "mode": "isolated",
            "ips": [{"address": "198.18.3.1", "prefix": 24, "dhcp_ranges": [{"start": "198.18.9.1", "end": "198.18.3.9"}]}]}
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            network.main()
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] and "ips[0].dhcp_ranges[0].start 198.18.9.1 is outside 198.18.3.0/24" in result["msg"]


@pytest.mark.parametrize("extra,message", [
    ({"portgroups": [{"name": "a", "vlan": 5000}]}, "portgroups[0].vlan: must be from 0 to 4095, got 5000"),
    ({"portgroups": [{"name": "a", "default": True}, {"name": "b", "default": True}]}, "at most one port group can be the default"),
    ({"portgroups": [{"name": "a", "outbound": {"peak": 10}}]}, "portgroups[0].outbound needs average"),
    ({"dns_hosts": [{"ip": "198.18.3.9", "hostnames": []}]}, "dns_hosts[0].hostnames: must have at least 1 entry"),
    ({"dns_hosts": [{"ip": "nope", "hostnames": ["a"]}]}, "dns_hosts[0].ip must be an IP address"),
    ({"dns_hosts": [{"ip": "198.18.3.9", "hostnames": ["a"]}, {"ip": "198.18.3.9", "hostnames": ["b"]}]}, "dns_hosts[1].ip 198.18.3.9 is given twice"),
])
def test_main_bad_dns_hosts_and_portgroups(capsys, extra, message):
    with patch_module_args(dict({"uri": HOST, "name": "lan"}, **extra)):
        with pytest.raises(SystemExit):
            network.main()
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] and message in result["msg"], result["msg"]
