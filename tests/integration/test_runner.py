# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/recover.yml and playbooks/rebalance.yml run by ansible-runner, as AWX and EDA
Controller run them: a private data directory (project/, inventory/, env/extravars, env/envvars),
no process isolation, no container. What happened is read back from the runner's artifacts
(status, rc, job events), as AWX reads it, and checked against the lab."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import yaml
from recovery_helpers import kill_qemu, running_on, state_of

pytestmark = [pytest.mark.lab, pytest.mark.slow]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def private_data_dir(lab, base, playbook, extravars):
    """A private data directory as AWX lays one out for a job template."""
    os.makedirs(base / "project")
    shutil.copy(os.path.join(ROOT, "playbooks", playbook), base / "project" / playbook)
    os.makedirs(base / "inventory")
    shutil.copy(lab.inventory_path, base / "inventory" / "hosts.yml")
    os.makedirs(base / "env")
    (base / "env" / "extravars").write_text(yaml.safe_dump(extravars), encoding="utf-8")
    collections = os.environ.get("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, "build", "collections"))
    (base / "env" / "envvars").write_text(yaml.safe_dump({
        "ANSIBLE_COLLECTIONS_PATH": collections, "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_DEPRECATION_WARNINGS": "False"}), encoding="utf-8")
    return base


def runner_run(base, playbook, ident):
    """``ansible-runner run``; returns (status, rc, the job events in order)."""
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    subprocess.run([os.path.join(BIN, "ansible-runner"), "run", str(base), "-p", playbook, "--ident", ident],
                   capture_output=True, text=True, env=env, timeout=600, check=False)
    artifacts = base / "artifacts" / ident
    status = (artifacts / "status").read_text(encoding="utf-8").strip()
    rc = int((artifacts / "rc").read_text(encoding="utf-8").strip())
    events = []
    for path in glob.glob(str(artifacts / "job_events" / "*.json")):
        with open(path, encoding="utf-8") as handle:
            events.append(json.load(handle))
    events.sort(key=lambda event: event["counter"])
    return status, rc, events


def task_result(events, task):
    """The one result (``event_data.res``) of ``task``, from its runner_on_ok event."""
    found = [e["event_data"] for e in events
             if e["event"] in ("runner_on_ok", "runner_on_failed") and e["event_data"].get("task") == task]
    assert len(found) == 1, (task, [e["event"] for e in events])
    return found[0]["res"]


@pytest.fixture
def ha_guest(lab, lab_guest, run_module):
    guest = lab_guest("hv1", "idle", shared=True)
    made = run_module("hotiron.virt.vms", {"uri": lab.host("hv1").uri, "vms": [{"name": guest.name, "ha": True}]})
    assert not made.get("failed"), made
    return guest


def test_recover_playbook_through_ansible_runner_restarts_a_crashed_vm(lab, ha_guest, tmp_path):
    hv1 = lab.host("hv1")
    kill_qemu(hv1, ha_guest.name)
    base = private_data_dir(lab, tmp_path / "runner", "recover.yml", {
        "recover_group": "lab", "recover_state_file": str(tmp_path / "recover.json"),
        "recover_shared_paths": [lab.shared_path], "recover_host_timeout": 3})
    status, rc, events = runner_run(base, "recover.yml", "recover-1")
    assert (status, rc) == ("successful", 0), [e.get("stdout") for e in events]
    assert events[-1]["event"] == "playbook_on_stats"
    assert events[-1]["event_data"]["ok"].get("localhost", 0) >= 1
    assert not events[-1]["event_data"]["failures"]
    done = task_result(events, "One recovery pass")
    assert done["changed"] is True and done["restarted"] == [ha_guest.name], done
    assert running_on(lab, ha_guest.name) == ["hv1"]
    assert state_of(hv1, ha_guest.name)[0] == 1     # VIR_DOMAIN_RUNNING, read from libvirt itself


@pytest.fixture
def shared_pool(lab):
    """A dir pool over the shared directory on every host: vm_migrate tells shared storage by it."""
    made = lab.shared_pools("runner-shared")
    yield
    lab.remove_shared_pools(made, "runner-shared")


def test_rebalance_playbook_through_ansible_runner_moves_a_vm_off_a_hot_host(lab, lab_guest, shared_pool, tmp_path):
    busy = [lab_guest("hv1", "busy", shared=True) for _index in range(2)]
    time.sleep(2)  # let them boot before measuring: a booting guest's CPU is not its load
    # The trigger is the group's imbalance (two busy guests on hv1, nothing elsewhere: at least 0.1
    # however little CPU this shared machine gives them), not a host's load against cpu_high, which
    # would depend on how busy the machine is; cpu_high is set high so that any host may receive.
    base = private_data_dir(lab, tmp_path / "runner", "rebalance.yml", {
        "rebalance_group": "lab", "rebalance_history_file": str(tmp_path / "load.json"),
        "rebalance_cpu_high": 0.95, "rebalance_max_imbalance": 0.03, "rebalance_max_moves": 1,
        "rebalance_cooldown": 0})
    status, rc, events = runner_run(base, "rebalance.yml", "rebalance-1")
    assert (status, rc) == ("successful", 0), [e.get("stdout") for e in events]
    done = task_result(events, "Plan and move")
    assert done["changed"] is True, done.get("plan")
    assert any(t.startswith("imbalance ") for t in done["plan"]["triggers"]), done["plan"]
    (move,) = done["moves"]
    assert move["ok"] is True and move["from"] == "hv1" and move["vm"] in [g.name for g in busy], move
    assert running_on(lab, move["vm"]) == [move["to"]] and move["to"] != "hv1"
    assert any(move["vm"] in str(e.get("stdout", "")) for e in events if e["event"] == "runner_on_ok")  # the "Why" task
