# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capacity modules (capacity_report, group_stats, rebalance, resource_schedule) against
libvirt's test driver: bad input refused with its option named - never through the module base's
catch-all - and capacity_report predicting in check mode what its run reports."""

from __future__ import annotations

import importlib
import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

HOST = """<node><cpu><mhz>2400</mhz><model>x86_64</model><active>4</active><nodes>1</nodes><sockets>1</sockets>
  <cores>4</cores><threads>1</threads></cpu><memory>8388608</memory>%s</node>"""
DOMAIN = """<domain type="test"><name>%s</name><memory unit="MiB">256</memory><vcpu>2</vcpu>
  <os><type arch="x86_64">hvm</type></os></domain>"""


@pytest.fixture
def hosts(tmp_path):
    out = {}
    for name, vms in (("hv1", ["a", "b"]), ("hv2", ["c"])):
        path = tmp_path / ("%s.xml" % name)
        path.write_text(HOST % "".join(DOMAIN % vm for vm in vms))
        out[name] = "test://%s" % path
    return out


def run(module, args, capsys, check=False):
    args = dict(args, _ansible_check_mode=check)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            importlib.import_module("ansible_collections.hotiron.virt.plugins.modules." + module).main()
    return json.loads(capsys.readouterr().out)


FAST = {"samples": 2, "interval": 0.5}
RULE = {"vms": ["*"], "set": {"vcpus": 1}}


@pytest.mark.parametrize("module, args, message", [
    ("capacity_report", {"hosts": {}, "dest": "{tmp}/r.html"}, "hosts: must have at least 1 entry, got 0"),
    ("capacity_report", {"hosts": {"hv1": 5}, "dest": "{tmp}/r.html"}, "hosts.hv1: must be a non-empty string, got 5"),
    ("capacity_report", {"dest": "{tmp}"}, "dest: cannot write {tmp}: it is a directory (give the path of a file in it)"),
    ("capacity_report", {"dest": "{tmp}/no/r.html"}, "dest: cannot write {tmp}/no/r.html: its directory {tmp}/no does not exist"),
    ("capacity_report", {"dest": "{tmp}/r.html", "sla_weights": {"gold": "x"}}, "sla_weights.gold: must be a number above 0, got 'x'"),
    ("capacity_report", {"dest": "{tmp}/r.html", "sla_weights": {"Gold": 2}}, "sla_weights: 'Gold' is not an SLA class name"),
    ("capacity_report", {"dest": "{tmp}/r.html", "anti_affinity": [[1, 2]]}, "anti_affinity[0]: expected a list of VM names"),
    ("rebalance", {"hosts": {}}, "hosts: must have at least 1 entry, got 0"),
    ("rebalance", {"hosts": {"hv1": None}}, "hosts.hv1: must be a non-empty string, got None"),
    ("rebalance", {"history_file": "{tmp}"}, "history_file: cannot write {tmp}: it is a directory"),
    ("rebalance", {"history": {"hv1": [[1, "x"]]}}, "history.hv1: must be a list of [time, load] pairs of numbers"),
    ("rebalance", {"migration_addresses": {"hv1": 5}}, "migration_addresses.hv1: expected an address"),
    ("rebalance", {"affinity": [["a", 3]]}, "affinity[0]: expected a list of VM names"),
    ("rebalance", {"sla_weights": {"gold": 0}}, "sla_weights.gold: must be a number above 0, got 0"),
    ("group_stats", {"hosts": {}}, "hosts: must have at least 1 entry, got 0"),
    ("group_stats", {"hosts": {"hv1": ""}}, "hosts.hv1: must be a non-empty string, got ''"),
    ("resource_schedule", {"hosts": {}, "rules": [RULE]}, "hosts: must have at least 1 entry, got 0"),
    ("resource_schedule", {"rules": [dict(RULE, timezone="Europe")]},
     "rules[0].timezone: 'Europe' is a region of the time zone database, not a time zone: name a zone in it, such as Europe/Berlin"),
    ("resource_schedule", {"rules": [dict(RULE, timezone="Europe/")]}, "rules[0].timezone: unknown time zone 'Europe/'"),
    ("resource_schedule", {"rules": [dict(RULE, timezone="../../etc/passwd")]}, "rules[0].timezone: unknown time zone"),
    ("resource_schedule", {"rules": [dict(RULE, set={"sla": "Gold"})]},
     "rules[0].set.sla: 'Gold' is not an SLA class name: lower-case letters, digits, '-' and '_', starting with a letter,"
     " 32 at most (did you mean gold?)"),
    ("resource_schedule", {"rules": [RULE], "sla_classes": ["gold", "Silver"]}, "sla_classes[1]: 'Silver' is not an SLA class name"),
    ("resource_schedule", {"rules": [dict(RULE, set={"memory": "lots"})]}, "rules[0].set.memory: expected a size"),
    ("resource_schedule", {"rules": [RULE], "at": "2026-13-01T00:00+00:00"}, "at: '2026-13-01T00:00+00:00' is not an ISO 8601 time"),
])
def test_bad_input_is_named_and_never_reaches_the_catch_all(module, args, message, hosts, tmp_path, capsys):
    tmp = str(tmp_path / "out")
    os.mkdir(tmp)
    args = {k: (v.format(tmp=tmp) if isinstance(v, str) else v) for k, v in args.items()}
    args.setdefault("hosts", hosts)
    if module == "capacity_report":
        args = dict(FAST, **args)
    out = run(module, args, capsys)
    assert out["failed"] and out["msg"].startswith(message.format(tmp=tmp)), out["msg"]
    assert "Unexpected error" not in out["msg"] and "exception" not in out
    assert os.listdir(tmp) == []  # nothing written, no temporary file left


def test_the_report_check_mode_predicts_the_run_and_an_unchanged_group_changes_nothing(hosts, tmp_path, capsys):
    dest = tmp_path / "cap.html"
    args = dict(FAST, hosts=hosts, dest=str(dest), group="lab")
    predicted = run("capacity_report", args, capsys, check=True)
    assert predicted["changed"] is True and not dest.exists() and "would be written" in predicted["msg"]
    written = run("capacity_report", args, capsys)
    assert written["changed"] is True and dest.read_text().startswith("<!DOCTYPE html>")
    first = dest.read_text()
    # The test driver's VMs have no CPU counters: the same group measures the same, and only the
    # time stamp would differ, so neither check mode nor the run changes anything.
    assert run("capacity_report", args, capsys, check=True)["changed"] is False
    again = run("capacity_report", args, capsys)
    assert again["changed"] is False and dest.read_text() == first
    assert "already shows this measurement" in again["msg"]
    # What the page shows changes (the group's title): predicted, then written.
    renamed = dict(args, group="lab2")
    assert run("capacity_report", renamed, capsys, check=True)["changed"] is True and dest.read_text() == first
    assert run("capacity_report", renamed, capsys)["changed"] is True and "lab2" in dest.read_text()
    assert sorted(os.listdir(tmp_path)) == ["cap.html", "hv1.xml", "hv2.xml"]
