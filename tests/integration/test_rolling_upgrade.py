# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/rolling_upgrade.yml on three fresh Debian hosts: a real upgrade, host by host,
while the VMs keep running.

Lab hosts share this machine's /usr, so an upgrade there would upgrade this machine: the
package step runs on fresh hosts (tests/lab/fresh_host.py), Debian roots of their own (from a
cached root with the role's packages in) converged by the hypervisor role. What is upgraded is
real and needs no network: a marker package built here with dpkg-deb, served to each host by a
local apt repository (a directory, the hosts' only apt source), version 1 installed first, then
2 (and 3) published.

- check mode changes nothing (packages, libvirtd, VMs, maintenance marks);
- the run upgrades each host in turn, restarts its libvirtd (a new pid), brings its VMs back,
  and a sampler polling every host all along never sees a VM shut off or missing;
- a failure on the second host (its package's preinst refuses) stops the run there: that host
  stays in maintenance with no VM, the third is untouched, the VMs run on the others; fixed,
  the playbook runs again and finishes, the VM of the second host back on it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import threading
import time

import libvirt
import pytest
import yaml

import fresh_host
import guests as lab_guests

pytestmark = pytest.mark.lab

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(ROOT, "playbooks", "rolling_upgrade.yml")
CONVERGE = os.path.join(ROOT, "extensions", "molecule", "default", "converge.yml")
CONTROLLER_INVENTORY = os.path.join(ROOT, "extensions", "molecule", "inventory", "controller.yml")
FRESH_ID = int(os.environ.get("FRESH_ID") or 236)
POOL_DIR = "/var/lib/libvirt/images/molecule"        # the converge scenario's pool
PACKAGE = "hotiron-rolling-marker"
REPO = "/var/local/hotiron-repo"                     # inside each host
FAIL_FLAG = "/etc/hotiron-rolling-fail"              # inside a host: the marker's preinst refuses
PREINST = f"""#!/bin/sh
case "$1" in
    install|upgrade)
        if [ -e {FAIL_FLAG} ]; then
            echo "{PACKAGE}: upgrade refused on $(hostname) ({FAIL_FLAG} exists)" >&2
            exit 1
        fi;;
esac
exit 0
"""
VMS = {"roll-a": "fresh1", "roll-b": "fresh2"}       # VM -> home host
STATE_NAMES = {libvirt.VIR_DOMAIN_RUNNING: "running", libvirt.VIR_DOMAIN_PAUSED: "paused",
               libvirt.VIR_DOMAIN_SHUTDOWN: "shutdown", libvirt.VIR_DOMAIN_SHUTOFF: "shutoff",
               libvirt.VIR_DOMAIN_CRASHED: "crashed"}


def role_packages():
    """What the hypervisor role installs on the fresh hosts' Debian release, and python3-apt
    (the apt module's bindings, which it would otherwise fetch from the network the hosts no
    longer have once the local repository is their only source)."""
    with open(os.path.join(ROOT, "roles", "hypervisor", "vars", "Debian.yml"), encoding="utf-8") as handle:
        packages = list(yaml.safe_load(handle)["__hypervisor_packages"])
    if fresh_host.SUITE != "bookworm":       # Debian 13: virtiofsd and the lock manager
        packages += ["virtiofsd", "libvirt-daemon-lock", "libvirt-daemon-plugin-lockd"]
    return packages + ["python3-apt"]


# --- the local apt repository -------------------------------------------------------------------
def build_deb(workdir, version):
    """A tiny arch-independent package PACKAGE at ``version``; returns its path."""
    tree = os.path.join(workdir, f"{PACKAGE}-{version}")
    os.makedirs(os.path.join(tree, "DEBIAN"))
    os.makedirs(os.path.join(tree, "usr", "share", PACKAGE))
    with open(os.path.join(tree, "usr", "share", PACKAGE, "version"), "w", encoding="utf-8") as handle:
        handle.write(f"{version}\n")
    with open(os.path.join(tree, "DEBIAN", "control"), "w", encoding="utf-8") as handle:
        handle.write(f"Package: {PACKAGE}\nVersion: {version}\nArchitecture: all\n"
                     "Maintainer: hotiron.virt tests <tests@hotiron.invalid>\n"
                     "Description: marker upgraded by the rolling upgrade test\n")
    preinst = os.path.join(tree, "DEBIAN", "preinst")
    with open(preinst, "w", encoding="utf-8") as handle:
        handle.write(PREINST)
    os.chmod(preinst, 0o755)
    deb = os.path.join(workdir, f"{PACKAGE}_{version}_all.deb")
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", tree, deb], check=True, capture_output=True)
    return deb


def publish(hosts, debs):
    """A flat repository with ``debs`` in every host's REPO (Packages and Release written here,
    no dpkg-dev needed), the hosts' only apt source."""
    stanzas = []
    for deb in debs:
        control = subprocess.run(["dpkg-deb", "-f", deb], check=True, capture_output=True, text=True).stdout
        with open(deb, "rb") as handle:
            data = handle.read()
        stanzas.append(control.rstrip("\n") + f"\nFilename: ./{os.path.basename(deb)}\nSize: {len(data)}\n"
                       f"SHA256: {hashlib.sha256(data).hexdigest()}\n")
    packages = "\n".join(stanzas).encode()
    release = ("Origin: hotiron-tests\nLabel: hotiron-tests\nSuite: local\nCodename: local\n"
               f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S UTC', time.gmtime())}\n"
               f"SHA256:\n {hashlib.sha256(packages).hexdigest()} {len(packages)} Packages\n")
    for host in hosts:
        repo = host.inside(REPO)
        os.makedirs(repo, exist_ok=True)
        for deb in debs:
            with open(deb, "rb") as src, open(os.path.join(repo, os.path.basename(deb)), "wb") as dst:
                dst.write(src.read())
        with open(os.path.join(repo, "Packages"), "wb") as handle:
            handle.write(packages)
        with open(os.path.join(repo, "Release"), "w", encoding="utf-8") as handle:
            handle.write(release)
        with open(host.inside("/etc/apt/sources.list"), "w", encoding="utf-8") as handle:
            handle.write(f"deb [trusted=yes] file:{REPO} ./\n")
        sources_d = host.inside("/etc/apt/sources.list.d")
        for entry in os.listdir(sources_d) if os.path.isdir(sources_d) else ():
            os.unlink(os.path.join(sources_d, entry))


def marker_version(host):
    out = host.run(["dpkg-query", "-W", "-f", "${Version} ${db:Status-Status}", PACKAGE], check=False).stdout
    return out.strip()


def libvirtd_pid(host):
    return host.run(["cat", "/run/libvirtd.pid"]).stdout.strip()


def in_maintenance(host):
    conn = libvirt.open(host.uri)
    try:
        conn.secretLookupByUsage(libvirt.VIR_SECRET_USAGE_TYPE_VOLUME, "hotiron-maintenance")
        return True
    except libvirt.libvirtError:
        return False
    finally:
        conn.close()


def where(hosts):
    """VM name -> {host: state name} over every host."""
    found = {}
    for host in hosts:
        conn = libvirt.open(host.uri)
        try:
            for dom in conn.listAllDomains(0):
                found.setdefault(dom.name(), {})[host.name] = STATE_NAMES.get(dom.state()[0], str(dom.state()[0]))
        finally:
            conn.close()
    return found


class Sampler(threading.Thread):
    """Polls every host for the VMs while a playbook runs. A round in which every host answered
    and none had a VM running (or paused by a migration) is downtime; so is a VM seen in any
    other state (shut off, being shut down, crashed) unless it runs on another host in the same
    round: the source of a finished migration shows it shut off ("migrated"), and with libvirt 11
    "being shut down" as its QEMU quits, for a moment before undefining it. Maintenance moves
    persistent VMs, so a VM that really stopped stays defined, not running, and is seen."""

    LIVE = (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_PAUSED)

    def __init__(self, hosts, names, interval=0.25):
        super().__init__(daemon=True)
        self.hosts, self.names, self.interval = hosts, names, interval
        self.stop = threading.Event()
        self.rounds = 0
        self.down = []          # (round, vm, what was seen)
        self.seen_on = {name: set() for name in names}
        self.conns = {}

    def state_on(self, host, name):
        """(state, reason) of ``name`` on ``host``, None where it is not defined."""
        conn = self.conns.get(host.name)
        if conn is None:
            conn = self.conns[host.name] = libvirt.open(host.uri)
        try:
            return tuple(conn.lookupByName(name).state())
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            self.conns.pop(host.name, None)
            raise

    def run(self):
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        while not self.stop.is_set():
            self.rounds += 1
            for name in self.names:
                states, answered = {}, True
                for host in self.hosts:
                    try:
                        state = self.state_on(host, name)
                    except libvirt.libvirtError:
                        answered = False        # libvirtd restarting: that host is unknown
                        continue
                    if state is not None:
                        states[host.name] = state
                live = {h for h, (state, _reason) in states.items() if state in self.LIVE}
                self.seen_on[name] |= live
                for host_name, (state, reason) in states.items():
                    if state not in self.LIVE and not live - {host_name}:
                        self.down.append((self.rounds, name, host_name, STATE_NAMES.get(state, state), reason))
                if answered and not live:
                    self.down.append((self.rounds, name, "running nowhere"))
            self.stop.wait(self.interval)
        for conn in self.conns.values():
            try:
                conn.close()
            except libvirt.libvirtError:
                pass

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.join(30)


# --- the group --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def group(run_playbook):
    """Three fresh hosts converged by the hypervisor role, PACKAGE 1 installed from the local
    repository, and VMS running on their homes.

    The hosts start from a cached root in which the role's packages are already installed
    (fresh_host.rootfs_with_packages, made once per machine): the role's install path is
    test_hypervisor_role_fresh.py's; here it would download and install libvirt three times
    per run (about 5 of this test's 10 minutes). The role still converges them (configuration,
    daemons, pool)."""
    instance = fresh_host.FreshInstance(FRESH_ID)
    instance.down()
    instance.up(3, packages=role_packages())
    workdir = tempfile.mkdtemp(prefix="rolling-")
    try:
        run = run_playbook(CONVERGE, inventory=[CONTROLLER_INVENTORY, instance.inventory_path], timeout=1800)
        assert run.rc == 0, run.stdout[-3000:]
        hosts = {h.name: h for h in instance.hosts}
        debs = {v: build_deb(workdir, v) for v in ("1", "2", "3")}
        publish(hosts.values(), [debs["1"]])
        for host in hosts.values():
            host.run(["apt-get", "-q", "update"])
            host.run(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y", "install", PACKAGE])
            assert marker_version(host) == "1 installed"
        for name, home in VMS.items():
            host = hosts[home]
            disk = f"{POOL_DIR}/{name}.img"
            lab_guests.make_image(host.inside(disk), "idle")
            conn = libvirt.open(host.uri)
            try:
                conn.storagePoolLookupByName("molecule-local").refresh(0)
                conn.defineXML(lab_guests.domain_xml(name, disk, "qemu", memory_mib=32)).create()
            finally:
                conn.close()
        yield {"instance": instance, "hosts": hosts, "debs": debs}
    finally:
        instance.down()
        subprocess.run(["rm", "-rf", workdir], check=False)


def upgrade(run_playbook, group, check=False):
    inventory = [CONTROLLER_INVENTORY, group["instance"].inventory_path]
    return run_playbook(PLAYBOOK, inventory=inventory, check=check, timeout=1200,
                        extra_vars={"upgrade_group": "lab"})


def test_check_mode_then_a_rolling_upgrade_without_downtime(group, run_playbook):
    hosts = group["hosts"]
    publish(hosts.values(), [group["debs"]["1"], group["debs"]["2"]])
    pids = {name: libvirtd_pid(host) for name, host in hosts.items()}
    before = where(hosts.values())
    assert before == {"roll-a": {"fresh1": "running"}, "roll-b": {"fresh2": "running"}}

    checked = upgrade(run_playbook, group, check=True)
    assert checked.rc == 0, checked.stdout[-4000:]
    assert {name: marker_version(h) for name, h in hosts.items()} == dict.fromkeys(hosts, "1 installed")
    assert {name: libvirtd_pid(h) for name, h in hosts.items()} == pids
    assert where(hosts.values()) == before
    assert not any(in_maintenance(h) for h in hosts.values())

    with Sampler(list(hosts.values()), list(VMS)) as sampler:
        run = upgrade(run_playbook, group)
    assert run.rc == 0, run.stdout[-4000:]
    assert {name: marker_version(h) for name, h in hosts.items()} == dict.fromkeys(hosts, "2 installed")
    after_pids = {name: libvirtd_pid(h) for name, h in hosts.items()}
    assert all(after_pids[n] != pids[n] for n in hosts), (pids, after_pids)
    assert not any(in_maintenance(h) for h in hosts.values())
    assert where(hosts.values()) == before            # each VM back home, running
    for name, home in VMS.items():
        conn = libvirt.open(hosts[home].uri)
        try:
            assert conn.lookupByName(name).state() == [libvirt.VIR_DOMAIN_RUNNING,
                                                       libvirt.VIR_DOMAIN_RUNNING_MIGRATED]
        finally:
            conn.close()
    # The VMs really moved, and never stopped while they did.
    assert sampler.rounds > 10
    assert not sampler.down, sampler.down[:10]
    assert all(len(sampler.seen_on[name]) >= 2 for name in VMS), sampler.seen_on
    # One host at a time: each host left maintenance before the next one entered it.
    steps = [(r["task"], r["host"]) for r in run.results
             if r["task"].startswith(("Enter maintenance", "Leave maintenance"))]
    assert [host for _task, host in steps] == ["fresh1", "fresh1", "fresh2", "fresh2", "fresh3", "fresh3"], steps
    assert [task.split()[0] for task, _host in steps] == ["Enter", "Leave"] * 3


def test_a_failure_on_the_second_host_stops_the_upgrade_there(group, run_playbook):
    hosts = group["hosts"]
    publish(hosts.values(), [group["debs"]["2"], group["debs"]["3"]])
    with open(hosts["fresh2"].inside(FAIL_FLAG), "w", encoding="utf-8") as handle:
        handle.write("injected by test_rolling_upgrade.py\n")
    pid3 = libvirtd_pid(hosts["fresh3"])

    with Sampler(list(hosts.values()), list(VMS)) as sampler:
        run = upgrade(run_playbook, group)
    assert run.rc != 0
    out = " ".join(run.stdout.split())
    assert "Rolling upgrade of group lab stopped at fresh2" in out, run.stdout[-4000:]
    assert 'step "Upgrade packages (apt)" failed' in out
    assert "fresh2 stays in maintenance" in out
    assert "Upgraded: fresh1; not touched: fresh3." in out
    # fresh1 upgraded and serving; fresh2 in maintenance, empty, still at 2; fresh3 untouched.
    assert marker_version(hosts["fresh1"]) == "3 installed"
    assert marker_version(hosts["fresh2"]) == "2 installed"
    assert marker_version(hosts["fresh3"]) == "2 installed"
    assert libvirtd_pid(hosts["fresh3"]) == pid3
    assert [in_maintenance(h) for h in hosts.values()] == [False, True, False]
    placed = where(hosts.values())
    assert set(placed) == set(VMS)
    for name, states in placed.items():
        assert list(states.values()) == ["running"], placed
        assert "fresh2" not in states, placed
    assert "(roll-b on %s)" % next(iter(placed["roll-b"])) in out     # where fresh2's VM went
    assert not [r for r in run.results if r["host"] == "fresh3"], "fresh3 was touched"
    assert not sampler.down, sampler.down[:10]

    # Fixed, the playbook runs again and finishes: fresh2 leaves maintenance with its VM back.
    os.unlink(hosts["fresh2"].inside(FAIL_FLAG))
    with Sampler(list(hosts.values()), list(VMS)) as sampler:
        again = upgrade(run_playbook, group)
    assert again.rc == 0, again.stdout[-4000:]
    assert {name: marker_version(h) for name, h in hosts.items()} == dict.fromkeys(hosts, "3 installed")
    assert not any(in_maintenance(h) for h in hosts.values())
    assert where(hosts.values()) == {"roll-a": {"fresh1": "running"}, "roll-b": {"fresh2": "running"}}
    assert libvirtd_pid(hosts["fresh3"]) != pid3
    assert not sampler.down, sampler.down[:10]
