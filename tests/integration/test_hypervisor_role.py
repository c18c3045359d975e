# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hotiron.virt.hypervisor role on fresh lab hosts: check mode changes nothing, converge,
verify (the molecule scenario's own verify playbook), a second converge changes nothing.

The role restarts libvirtd, so it gets a lab instance of its own (2 fresh hosts, LAB_ID + 128)
rather than the session's lab that other tests are using.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from lab import Lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCENARIO = os.path.join(ROOT, "extensions", "molecule", "default")
CONTROLLER_INVENTORY = os.path.join(ROOT, "extensions", "molecule", "inventory", "controller.yml")
ROLE_LAB_ID = (int(os.environ.get("LAB_ID", "0")) + 128) % 256
CONF_FILES = ("libvirtd.conf", "qemu.conf", "qemu-lockd.conf")


@pytest.fixture(scope="module")
def role_lab():
    the_lab = Lab(ROLE_LAB_ID)
    the_lab.down()          # fresh hosts: nothing left from an earlier run
    the_lab.up(2)
    yield the_lab
    if os.environ.get("LAB_KEEP") != "1":
        the_lab.down()


def snapshot(the_lab):
    """What converging may change on each host: config files, libvirtd's pid, /dev/kvm."""
    state = {}
    for host in the_lab.hosts:
        etc = os.path.join(host.state_dir, "etc-libvirt")
        files = {}
        for name in CONF_FILES:
            path = os.path.join(etc, name)
            if os.path.exists(path):
                with open(path, "rb") as handle:
                    files[name] = hashlib.sha256(handle.read()).hexdigest()
        pid = host.run(["cat", "/run/libvirtd.pid"], check=False).stdout.strip()
        state[host.name] = {"files": files, "libvirtd_pid": pid}
    st = os.stat("/dev/kvm") if os.path.exists("/dev/kvm") else None
    state["/dev/kvm"] = (st.st_mode, st.st_gid) if st else None
    return state


def role_task(run, name):
    """Results of the role's task ``name`` (Ansible prefixes role tasks with the role)."""
    return [r for r in run.results if r["task"] in (name, "hotiron.virt.hypervisor : " + name)]


def converge(run_playbook, the_lab, **kwargs):
    return run_playbook(os.path.join(SCENARIO, "converge.yml"),
                        inventory=[CONTROLLER_INVENTORY, the_lab.inventory_path], **kwargs)


@pytest.mark.parametrize("bad, shown", [
    ({"hypervisor_migration_transport": "ftp"}, "ftp"),
    ({"hypervisor_migration_port_min": 80}, "(got 80-"),
    ({"hypervisor_migration_port_min": 49300, "hypervisor_migration_port_max": 49200}, "got 49300-49200"),
    ({"hypervisor_tls_days": -1}, "hypervisor_tls_days from 1 to 36500 (got -1)"),
])
def test_bad_variable_fails_before_anything_changes(role_lab, run_playbook, bad, shown):
    before = snapshot(role_lab)
    run = converge(run_playbook, role_lab, extra_vars=bad)
    assert run.rc != 0
    assert list(bad)[0] in run.stdout and shown in run.stdout, run.stdout[-2000:]
    assert snapshot(role_lab) == before


def test_check_mode_then_converge_verify_and_converge_again(role_lab, run_playbook):
    hosts = [h.name for h in role_lab.hosts]
    before = snapshot(role_lab)

    checked = converge(run_playbook, role_lab, check=True, diff=True)
    assert checked.rc == 0, checked.stdout[-3000:]
    # A fresh lab host needs the role's qemu.conf/lockd keys: check mode says so ...
    assert all(checked.changed(h) > 0 for h in hosts), checked.recap
    conf = [item for r in role_task(checked, "Set the managed keys of the libvirt configuration files")
            for item in r["result"]["files"] if item["changed"]]
    assert conf and all(item["keys_changed"] for item in conf)
    assert {"lock_manager", "migration_port_min"} <= {k for item in conf for k in item["keys_changed"]}
    # ... and changed nothing: same files, same libvirtd process.
    assert snapshot(role_lab) == before

    first = converge(run_playbook, role_lab)
    assert first.rc == 0, first.stdout[-3000:]
    assert all(first.changed(h) > 0 for h in hosts), first.recap
    after_first = snapshot(role_lab)
    for h in hosts:
        # The configuration changed, so libvirtd was restarted by its pidfile (no systemd here).
        assert after_first[h]["files"] != before[h]["files"]
        assert after_first[h]["libvirtd_pid"] and after_first[h]["libvirtd_pid"] != before[h]["libvirtd_pid"]
    facts = role_task(first, "Record the virtualisation verdict as facts")
    assert {r["host"] for r in facts} == set(hosts)
    assert all(r["result"]["ansible_facts"]["hypervisor_verdict"]["verdict"] in
               ("hardware", "nested", "pvm", "disabled_in_firmware", "no_permission", "emulation_only")
               for r in facts)

    verify = run_playbook(os.path.join(SCENARIO, "verify.yml"),
                          inventory=[CONTROLLER_INVENTORY, role_lab.inventory_path])
    assert verify.rc == 0, verify.stdout[-3000:]
    refused = verify.for_task("The second host can neither take the lease nor open the disk")
    assert sorted((r["host"], r["status"]) for r in refused) == [("hv1", "skipped"), ("hv2", "ok")], refused

    second = converge(run_playbook, role_lab)
    assert second.rc == 0, second.stdout[-3000:]
    assert all(second.changed(h) == 0 for h in hosts), second.recap
    assert snapshot(role_lab) == after_first

    checked_again = converge(run_playbook, role_lab, check=True)
    assert checked_again.rc == 0 and all(checked_again.changed(h) == 0 for h in hosts)
