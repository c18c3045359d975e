# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""host_maintenance's libvirt-facing half against libvirt's test driver: the evacuation plan built
from real connections (check mode), refusals, leaving a host that is not in maintenance, the
migration settings, and shutting down a pinned VM.  The test driver can neither migrate nor keep
the maintenance record, and each connection to a ``test://`` file has its own copy of the host, so
"nothing moved" cannot be seen here: tests/integration/test_maintenance.py checks it on the lab.
"""

from __future__ import annotations

import json

import libvirt
import pytest
from ansible.module_utils.testing import patch_module_args

from fakes import Clock  # tests/unit/fakes.py

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import maintenance_ops as mops
from ansible_collections.hotiron.virt.plugins.modules import host_maintenance

HOST = """<node>
  <cpu><mhz>2400</mhz><model>x86_64</model><active>%d</active><nodes>1</nodes><sockets>1</sockets>
       <cores>%d</cores><threads>1</threads></cpu>
  <memory>%d</memory>
  %s
</node>"""
DOMAIN = """<domain type="test"><name>%s</name><memory unit="MiB">%d</memory><vcpu>1</vcpu>
  <os><type arch="x86_64">hvm</type></os></domain>"""


def host_uri(tmp_path, name, memory_mib=8192, cpus=4, domains=()):
    path = tmp_path / ("%s.xml" % name)
    path.write_text(HOST % (cpus, cpus, memory_mib * 1024, "".join(DOMAIN % d for d in domains)))
    return "test://%s" % path


def params(uri, hosts, **kw):
    base = dict(uri=uri, hosts=hosts, state="maintenance", concurrency=2, pinned=[], pinned_action="fail",
                shutdown_timeout=120.0, anti_affinity=[], bring_back=False, migration={}, migration_addresses={},
                cpu_allocation_ratio=4.0, reserved_host_memory=256)
    base.update(kw)
    return base


@pytest.fixture
def group(tmp_path):
    """hv1 runs web1, web2 (1 GiB each) and db1 (2 GiB); hv2 and hv3 are empty 8 GiB hosts."""
    hosts = {
        "hv1": host_uri(tmp_path, "hv1", domains=[("web1", 1024), ("web2", 1024), ("db1", 2048)]),
        "hv2": host_uri(tmp_path, "hv2"),
        "hv3": host_uri(tmp_path, "hv3"),
    }
    return hosts


def test_check_mode_returns_the_plan(group):
    result = mops.run_host_maintenance(params(group["hv1"], group, anti_affinity=[["web1", "web2"]]), True)
    assert result["changed"] is True and result["host"] == "hv1" and result["state"] == "maintenance"
    moves = {m["vm"]: m["to"] for m in result["plan"]["moves"]}
    assert sorted(moves) == ["db1", "web1", "web2"]
    assert set(moves.values()) <= {"hv2", "hv3"} and moves["web1"] != moves["web2"]
    assert result["msg"] == "3 vm(s) would move, 0 would be shut down"
    assert result["diff"] == {
        "before": {"host": "hv1", "state": "active", "running_vms": ["db1", "web1", "web2"]},
        "after": {"host": "hv1", "state": "maintenance", "running_vms": []}}


def test_pinned_vm_refuses_or_is_shut_down_in_the_plan(group):
    with pytest.raises(lc.VirtError, match="Cannot put hv1 in maintenance: VMs pinned to hv1 cannot be moved: db1"):
        mops.run_host_maintenance(params(group["hv1"], group, pinned=["db1"]), True)
    result = mops.run_host_maintenance(params(group["hv1"], group, pinned=["db1"], pinned_action="shutdown"), True)
    assert result["plan"]["shutdown"] == ["db1"] and len(result["plan"]["moves"]) == 2


def test_vm_that_fits_nowhere_is_refused_before_anything_moves(tmp_path):
    hosts = {"hv1": host_uri(tmp_path, "hv1", domains=[("big", 6144), ("small", 512)]),
             "hv2": host_uri(tmp_path, "hv2", memory_mib=4096)}
    for check in (True, False):
        with pytest.raises(lc.VirtError) as err:
            mops.run_host_maintenance(params(hosts["hv1"], hosts), check)
        assert "Cannot put hv1 in maintenance: big:" in err.value.message
        assert err.value.message.endswith("nothing was moved")


def test_unreachable_host_is_reported_and_left_out(group, tmp_path):
    hosts = dict(group, hv4="test://%s/missing.xml" % tmp_path)
    result = mops.run_host_maintenance(params(group["hv1"], hosts), True)
    assert list(result["unreachable_hosts"]) == ["hv4"]
    assert "connect to libvirt at" in result["unreachable_hosts"]["hv4"]
    assert {m["to"] for m in result["plan"]["moves"]} <= {"hv2", "hv3"}


def test_leaving_a_host_that_is_not_in_maintenance_changes_nothing(group):
    for check in (True, False):
        result = mops.run_host_maintenance(params(group["hv2"], group, state="active"), check)
        assert result == {"changed": False, "host": "hv2", "state": "active", "msg": "hv2 is not in maintenance"}


def test_migration_settings_take_vm_migrate_defaults_and_refuse_unknown_keys():
    assert mops.migration_params({"bandwidth": 100})["bandwidth"] == 100
    assert mops.migration_params(None)["max_downtime"] == 500
    with pytest.raises(lc.VirtError, match="Unknown migration settings: speed, turbo \\(known: abort_on_stall, "):
        mops.migration_params({"speed": 1, "turbo": True})


class DeafGuest:
    """A guest that ignores the shutdown request (no ACPI, no agent)."""

    def __init__(self):
        self.active = True

    def name(self):
        return "deaf"

    def state(self):
        return (1, 1) if self.active else (5, 2)

    def shutdown(self):
        raise libvirt.libvirtError("no ACPI")

    def isActive(self):
        return self.active

    def destroy(self):
        self.active = False


def test_shutdown_asks_then_forces_after_the_timeout(group):
    conn = lc.connect(group["hv1"])
    dom = conn.lookupByName("db1")
    assert mops._shutdown(conn, dom, 5) == "shut down" and not dom.isActive()
    clock, deaf = Clock(), DeafGuest()
    assert mops._shutdown(conn, deaf, 5, clock=clock, sleep=clock.sleep) == "forced off after 5s"
    assert not deaf.active and clock.now >= 5


def test_maintenance_diff_sorts_and_keeps_states():
    assert mops.maintenance_diff("hv1", "maintenance", {"b", "a"}, "active", ["c", "a", "b"]) == {
        "before": {"host": "hv1", "state": "maintenance", "running_vms": ["a", "b"]},
        "after": {"host": "hv1", "state": "active", "running_vms": ["a", "b", "c"]}}


@pytest.mark.parametrize("diff", [True, False])
def test_module_returns_the_diff_only_in_diff_mode(group, capsys, diff):
    with patch_module_args({"uri": group["hv1"], "hosts": group, "_ansible_check_mode": True, "_ansible_diff": diff}):
        with pytest.raises(SystemExit):
            host_maintenance.main()
    out = json.loads(capsys.readouterr().out)
    assert out["changed"] is True and ("diff" in out) is diff
