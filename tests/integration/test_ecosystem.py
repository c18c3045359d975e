# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection as the Ansible ecosystem uses it: module_defaults groups (on the lab), the
execution environment's definition (ansible-builder, bindep)."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
PLAYS = "tests/integration/playbooks/ecosystem/"


def run(args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=300, **kwargs)


def only(run, task):
    found = run.for_task(task, "localhost")
    assert len(found) == 1, (task, run.stdout, run.stderr)
    assert found[0]["status"] in ("ok", "changed"), found[0]
    return found[0]["result"]


@pytest.mark.lab
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


# --- the execution environment: no lab, no container engine ------------------------------------

def declared(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip() and not line.startswith("#")]


def test_ansible_builder_makes_the_build_context(tmp_path):
    tarballs = glob.glob(os.path.join(ROOT, "build", "hotiron-virt-*.tar.gz"))
    assert len(tarballs) == 1, "run `make collection` first: " + repr(tarballs)
    context = tmp_path / "context"
    done = run([os.path.join(BIN, "ansible-builder"), "create", "-f",
                os.path.join(ROOT, "ee", "execution-environment.yml"), "-c", str(context)])
    assert "Complete!" in done.stdout, done.stdout + done.stderr
    containerfile = (context / "Dockerfile").read_text(encoding="utf-8")
    assert "FROM $EE_BASE_IMAGE AS base" in containerfile
    assert "ansible-runner==" in containerfile
    assert (context / "_build" / "collections" / os.path.basename(tarballs[0])).exists()
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text(encoding="utf-8"))
    assert galaxy["collections"] == [{"name": "/build/collections/hotiron-virt.tar.gz", "type": "file"}]


def test_ansible_builder_introspect_lists_exactly_the_declared_dependencies():
    # over the collection as installed from its tarball: the tarball carries the declarations
    collections = os.path.join(ROOT, "build", "collections")
    found = yaml.safe_load(run([os.path.join(BIN, "ansible-builder"), "introspect", collections]).stdout)
    suffix = "  # from collection hotiron.virt"
    assert found["python"] == [line + suffix for line in declared("meta/ee-requirements.txt")]
    assert found["system"] == [line + suffix for line in declared("bindep.txt")]
    assert found["python"] == ["libvirt-python==11.3.0" + suffix]


@pytest.mark.parametrize("profile", [[], ["compile"]])
def test_bindep_finds_nothing_missing_on_this_machine(profile):
    # `make` installed the Debian packages; bindep -b prints what is missing and exits 1
    done = subprocess.run([os.path.join(BIN, "bindep"), "-b", "-f", os.path.join(ROOT, "bindep.txt")] + profile,
                          capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stdout) == (0, ""), done.stdout + done.stderr
