# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real playbook against the lab from the newest ansible-core of the controller matrix.

The unit suite runs under every series (`make matrix`); this runs playbooks/maintenance.yml,
from the newest series' own ansible-playbook on its own Python (the matrix's virtualenv,
.ci/matrix.py, made here if the background matrix has not made it yet), with the installed
collection: two VMs of hv2 live-migrate away and come back, with deprecation warnings shown
and none printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, ansible_env, parse_recap
from lab import wait_for
from test_maintenance import marked, unmark  # noqa: F401  pylint: disable=unused-import
from test_migrate import find, guest, image_pools  # noqa: F401  pylint: disable=unused-import

pytestmark = pytest.mark.lab

NEWEST = os.environ.get("MATRIX_NEWEST", "2.21.5@3.13")
NO_PYTHON = 3           # .ci/matrix.py venv: the machine has no such Python


@pytest.fixture(scope="module")
def newest_venv():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, ".ci", "matrix.py"), "venv", NEWEST],
                          capture_output=True, text=True, check=False, timeout=1200)
    if proc.returncode == NO_PYTHON:
        # the same rule as the matrix: a Python the machine lacks is a loud skip
        pytest.skip("no Python for ansible-core %s: %s" % (NEWEST, (proc.stdout + proc.stderr)[-300:]))
    assert proc.returncode == 0, "making the virtualenv of ansible-core %s failed:\n%s" % (NEWEST, proc.stdout + proc.stderr)
    return proc.stdout.strip().splitlines()[-1]


def test_maintenance_playbook_from_the_newest_ansible_core(lab, guest, newest_venv, unmark, tmp_path):
    bindir = os.path.join(newest_venv, "bin")
    version = subprocess.run([os.path.join(bindir, "ansible"), "--version"], capture_output=True, text=True,
                             check=True).stdout.splitlines()[0]
    assert NEWEST.split("@")[0] in version, version
    vms = [guest("hv2", "idle") for _i in range(2)]
    local = tmp_path / "localhost.json"
    local.write_text(json.dumps({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": os.path.join(bindir, "python")}}}}))
    results = tmp_path / "results.jsonl"
    env = dict(ansible_env(), PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "collections"),
               ANSIBLE_DEPRECATION_WARNINGS="True", HOTIRON_RESULTS_FILE=str(results))
    proc = subprocess.run([os.path.join(bindir, "ansible-playbook"), "playbooks/maintenance.yml",
                           "-i", str(local), "-i", lab.inventory_path,
                           "-e", "maintenance_host=hv2", "-e", "maintenance_pause=1"],
                          capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert parse_recap(proc.stdout)["localhost"]["failed"] == 0
    assert "DEPRECATION" not in output, output
    done = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    entered = [r["result"] for r in done if r["task"] == "Enter maintenance (evacuate the host)"][0]
    assert sorted(m["vm"] for m in entered["moves"]) == sorted(g.name for g in vms)
    assert all(m["to"] in ("hv1", "hv3") for m in entered["moves"])
    for g in vms:
        wait_for(f"{g.name} back on hv2", lambda g=g: list(find(lab, g.name)) == ["hv2"], timeout=60)
    assert not marked(lab, "hv2")
