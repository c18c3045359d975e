# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input is refused, naming the option, before any module reaches a host.

Every case points the module at a URI nothing listens on: a module that got past its input
checks would fail with "Failed to connect" instead of the expected message.
"""

from __future__ import annotations

import importlib
import json

import pytest
from ansible.module_utils.testing import patch_module_args

NOWHERE = "qemu+tcp://127.77.250.250:1/system"
HOSTS = {"hv1": NOWHERE, "hv2": "qemu+tcp://127.77.250.251:1/system"}


GROUP_MODULES = ("recover", "rebalance", "group_stats", "capacity_report", "resource_schedule")  # hosts, no uri


def run(module, args, capsys):
    with patch_module_args(args if module in GROUP_MODULES else dict(args, uri=NOWHERE)):
        with pytest.raises(SystemExit):
            importlib.import_module("ansible_collections.hotiron.virt.plugins.modules." + module).main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("module, args, message", [
    ("host_maintenance", {"hosts": HOSTS, "concurrency": -1}, "concurrency: must be from 1 to 64, got -1"),
    ("host_maintenance", {"hosts": HOSTS, "concurrency": 0}, "concurrency: must be from 1 to 64, got 0"),
    ("host_maintenance", {"hosts": HOSTS, "reserved_host_memory": -256}, "reserved_host_memory: must be at least 0, got -256"),
    ("host_maintenance", {"hosts": HOSTS, "shutdown_timeout": -1}, "shutdown_timeout: must be at least 0, got -1"),
    ("host_maintenance", {"hosts": HOSTS, "cpu_allocation_ratio": 0}, "cpu_allocation_ratio: must be from 0.1 to 64, got 0"),
    ("host_maintenance", {"hosts": HOSTS, "migration": {"bandwidth": "fast"}},
     "argument 'bandwidth' is of type str found in 'migration'. and we were unable to convert to int"),
    ("host_maintenance", {"hosts": HOSTS, "migration": {"max_downtime": 0}}, "migration.max_downtime: must be from 1 to 60000, got 0"),
    ("host_maintenance", {"hosts": HOSTS, "migration": {"turbo": True}}, "migration.turbo. Supported parameters include"),
    ("vm_migrate", {"name": "a", "dest_uri": NOWHERE, "bandwidth": -5}, "bandwidth: must be from 0 to 1048576, got -5"),
    ("vm_migrate", {"name": "a", "dest_uri": NOWHERE, "parallel_connections": 300}, "parallel_connections: must be from 0 to 255, got 300"),
    ("vm_migrate", {"name": "a", "dest_uri": NOWHERE, "downtime_steps": "some"}, "argument 'downtime_steps' is of type"),
    ("vm", {"name": "a", "vcpus": 0}, "vcpus: must be from 1 to 4096, got 0"),
    ("vm", {"name": "a", "disks": [{"path": "/x.img", "boot_order": -1}]}, "disks[0].boot_order: must be from 1 to 64, got -1"),
    ("vm", {"name": "a", "limits": {"max_vcpus": 0}}, "limits.max_vcpus: must be from 1 to 4096, got 0"),
    ("vm", {"name": "a", "shutdown_timeout": -1}, "shutdown_timeout: must be from 0 to 86400, got -1"),
    ("vms", {"vms": [{"name": "a", "vcpus": -2}]}, "vms[0] a: vcpus: must be from 1 to 4096, got -2"),
    ("vms", {"names": ["a"], "defaults": {"memory": "1GiB", "vcpus": "two"}}, "defaults: argument 'vcpus' is of type"),
    ("network", {"name": "n", "mtu": 10}, "mtu: must be from 68 to 65535, got 10"),
    ("network", {"name": "n", "ips": [{"address": "198.18.0.1", "prefix": 200}]}, "ips[0].prefix: must be from 0 to 128, got 200"),
    ("storage_pool", {"name": "p", "type": "iscsi-direct", "source": {"hosts": [{"name": "127.0.0.1", "port": 0}]}},
     "source.hosts[0].port: must be from 1 to 65535, got 0"),
    ("storage_pool", {"name": "p", "type": "dir", "target": {"path": "/x", "owner": -1}}, "target.owner: must be from 0 to 4294967294, got -1"),
    ("vm_info", {"cpu_sample": -1}, "cpu_sample: must be from 0 to 60, got -1"),
    # NaN compares false with every bound: refused as not finite, wherever a number is meant
    ("vm_backup", {"name": "a", "target": "/srv/b", "timeout": "nan"}, "timeout: must be a finite number, got nan"),
    ("vm", {"name": "a", "cpu_reservation": "nan"}, "cpu_reservation: must be a finite number, got nan"),
    ("vm", {"name": "a", "cpu_reservation": "inf"}, "cpu_reservation: must be a finite number, got inf"),
    ("vms", {"vms": [{"name": "a", "cpu_reservation": "nan"}]}, "vms[0] a: cpu_reservation: must be a finite number, got nan"),
    ("recover", {"hosts": HOSTS, "host_timeout": "nan"}, "host_timeout: must be a finite number, got nan"),
    ("group_stats", {"hosts": HOSTS, "interval": "nan"}, "interval: must be a finite number, got nan"),
    ("host_maintenance", {"hosts": HOSTS, "shutdown_timeout": "-inf"}, "shutdown_timeout: must be a finite number, got -inf"),
    ("rebalance", {"hosts": HOSTS, "sla_weights": {"gold": float("nan")}}, "sla_weights.gold: must be a finite number, got nan"),
    # an empty group is no group
    ("recover", {"hosts": {}}, "hosts: must have at least 1 entry, got 0"),
    ("rebalance", {"hosts": {}}, "hosts: must have at least 1 entry, got 0"),
    ("group_stats", {"hosts": {}}, "hosts: must have at least 1 entry, got 0"),
    ("capacity_report", {"hosts": {}, "dest": "/tmp/r.html"}, "hosts: must have at least 1 entry, got 0"),
    ("resource_schedule", {"hosts": {}, "rules": [{"vms": ["a"], "set": {"cpu_shares": 512}}]}, "hosts: must have at least 1 entry, got 0"),
    ("host_maintenance", {"hosts": {}}, "hosts: must have at least 1 entry, got 0"),
    ("recover", {"hosts": {"hv1": None}}, "hosts.hv1: must be a non-empty string, got None"),
    ("group_stats", {"hosts": {"hv1": ""}}, "hosts.hv1: must be a non-empty string, got ''"),
])
def test_bad_input_is_named_before_any_host_is_reached(module, args, message, capsys):
    out = run(module, args, capsys)
    assert out["failed"] and message in out["msg"], out["msg"]
    assert "Failed to connect" not in out["msg"] and "exception" not in out
