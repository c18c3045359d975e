# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hypervisor role on a fresh Debian 12 host (or 13 with FRESH_SUITE=trixie, in
`make test-platforms`): nothing of libvirt installed yet.

A lab host shares this machine's /usr, so libvirt is always installed there; a fresh host
(tests/lab/fresh_host.py) is a minimal debootstrap root of its own, so the role's package
path runs for real: apt fetches libvirt and QEMU from deb.debian.org and installs them.
Check mode first (it must change nothing on a host it cannot even ask libvirt of), then the
converge, then a second converge that changes nothing, and libvirtd answering over TCP; then
a guest runs under the host's own QEMU (7.2 on Debian 12, 10.0 on Debian 13).
"""

from __future__ import annotations

import os

import libvirt
import pytest

import fresh_host
import guests as lab_guests

pytestmark = pytest.mark.lab

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCENARIO = os.path.join(ROOT, "extensions", "molecule", "default")
CONTROLLER_INVENTORY = os.path.join(ROOT, "extensions", "molecule", "inventory", "controller.yml")
PACKAGES = ["libvirt-daemon-system", "qemu-system-x86", "python3-libvirt"]
# Debian 13 moved virtlockd out of libvirt-daemon-system (a Recommends only): the role installs it.
if fresh_host.SUITE != "bookworm":
    PACKAGES += ["libvirt-daemon-lock", "libvirt-daemon-plugin-lockd"]
# (libvirt, QEMU) versions of each suite, as libvirt reports them.
VERSIONS = {"bookworm": (9000000, 7002000), "trixie": (11003000, 10000000)}
POOL_DIR = "/var/lib/libvirt/images/molecule"        # the scenario's pool


@pytest.fixture(scope="module")
def fresh():
    instance = fresh_host.FreshInstance(230 + int(os.environ.get("LAB_ID", "0")) % 10)
    instance.down()
    instance.up(1)
    yield instance
    instance.down()


def role_task(run, name):
    """Results of the role's task ``name`` (Ansible prefixes role tasks with the role)."""
    return [r for r in run.results if r["task"] in (name, "hotiron.virt.hypervisor : " + name)]


def installed(host):
    """The packages of PACKAGES dpkg has installed inside the host."""
    out = host.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\\n"] + PACKAGES,
                   check=False).stdout
    return sorted(line.split()[0] for line in out.splitlines() if line.endswith(" installed"))


def state(host):
    """What a check-mode run must not change: installed packages, /etc/libvirt, dpkg's database."""
    with open(host.inside("/var/lib/dpkg/status"), "rb") as handle:
        status = handle.read()
    return installed(host), os.path.exists(host.inside("/etc/libvirt")), status


def test_fresh_host_check_mode_then_install_then_nothing_to_do(fresh, run_playbook):
    host = fresh.hosts[0]
    playbook = os.path.join(SCENARIO, "converge.yml")
    inventory = [CONTROLLER_INVENTORY, fresh.inventory_path]
    before = state(host)
    assert before[:2] == ([], False), "a fresh host has no libvirt"

    checked = run_playbook(playbook, inventory=inventory, check=True)
    assert checked.rc == 0, checked.stdout[-3000:]
    assert checked.changed(host.name) > 0
    (plan,) = role_task(checked, "Name the packages that would be installed")
    assert set(PACKAGES) <= set(plan["result"]["msg"].removeprefix("would install: ").split())
    assert state(host) == before

    first = run_playbook(playbook, inventory=inventory, timeout=1500)
    assert first.rc == 0, first.stdout[-3000:]
    assert first.changed(host.name) > 0
    assert installed(host) == sorted(PACKAGES)
    (probe,) = role_task(first, "Record the virtualisation verdict after installing")
    assert probe["result"]["ansible_facts"]["hypervisor_verdict"]["verdict"]

    conn = libvirt.open(host.uri)        # libvirtd started by the role, listening on TCP
    try:
        assert conn.getHostname() == host.name
        assert conn.storagePoolLookupByName("molecule-local").isActive()
    finally:
        conn.close()

    second = run_playbook(playbook, inventory=inventory)
    assert second.rc == 0, second.stdout[-3000:]
    assert second.changed(host.name) == 0, second.recap


def test_a_guest_runs_under_the_hosts_own_qemu(fresh):
    host = fresh.hosts[0]
    name = f"fresh-guest-{os.getpid()}"
    disk = f"{POOL_DIR}/{name}.img"
    lab_guests.make_image(host.inside(disk), "idle")
    conn = libvirt.open(host.uri)
    try:
        libvirt_version, qemu_version = VERSIONS[fresh_host.SUITE]
        assert conn.getLibVersion() // 1000 == libvirt_version // 1000
        assert conn.getVersion() // 1000000 == qemu_version // 1000000
        dom = conn.defineXML(lab_guests.domain_xml(name, disk, "qemu", memory_mib=32, machine="q35"))
        try:
            dom.create()
            assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
            # q35 is expanded to the newest machine type of this QEMU (pc-q35-10.0 on Debian 13):
            # what a group's older hosts are checked against before a migration.
            machine = dom.XMLDesc(0).split("machine='", 1)[1].split("'", 1)[0]
            assert machine == "pc-q35-%d.%d" % (qemu_version // 1000000, qemu_version // 1000 % 1000)
            dom.destroy()
        finally:
            dom.undefine()
    finally:
        conn.close()
        os.unlink(host.inside(disk))
