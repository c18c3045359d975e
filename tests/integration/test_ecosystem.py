# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection as the Ansible ecosystem uses it, on the lab: module_defaults groups."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.lab

PLAYS = "tests/integration/playbooks/ecosystem/"


def only(run, task):
    found = run.for_task(task, "localhost")
    assert len(found) == 1, (task, run.stdout, run.stderr)
    assert found[0]["status"] in ("ok", "changed"), found[0]
    return found[0]["result"]


def test_module_defaults_groups_set_the_connection_once(lab, run_playbook, lab_guest):
    guest = lab_guest("hv2")
    run = run_playbook(PLAYS + "module_defaults.yml", extra_vars={"guest": guest.name})
    assert run.rc == 0, run.stdout + run.stderr
    assert only(run, "host_info")["hostname"] == "hv2"                      # group/...libvirt
    assert [vm["name"] for vm in only(run, "vm_info")["vms"]] == [guest.name]
    assert sorted(only(run, "group_stats")["hosts"]) == ["hv1", "hv2", "hv3"]   # .resource_group
    # in both groups: the VM found through uri, the destination's name looked up in hosts (without
    # hosts, dest alone is refused as an argument error) and found to be the source itself
    refused = run.for_task("vm_migrate", "localhost")[0]
    assert refused["status"] in ("failed", "ignored"), refused
    assert f"the same host ({lab.host('hv2').uri})" in refused["result"]["msg"], refused
    assert only(run, "host_info_own_uri")["hostname"] == "hv3"             # the task's own wins
    assert guest.domain(lab.host("hv2")).isActive()
