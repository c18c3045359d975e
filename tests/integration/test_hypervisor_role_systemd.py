# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hypervisor role on Debian 12 hosts that run systemd, from a bare root.

Two systemd hosts (tests/lab/systemd_host.py: a debootstrap root booted by systemd-nspawn,
systemd as its PID 1, sshd on its own lab address) are made once for this module, then:
check mode on the bare hosts changes nothing; the converge installs libvirt and QEMU from
deb.debian.org and runs libvirt through systemd (socket activation, the listen address in
the sockets' drop-ins); libvirt answers over TCP from outside; a second converge and check
mode change nothing; a changed setting restarts libvirtd through systemd, a new listen address
makes systemd bind the sockets anew; a TCG guest live-migrates from one host to the other.
sanlock: its daemon cannot run here (no CAP_SYS_RESOURCE), so the role's sanlock path is
tested as far as it can run (packages, configuration) and the role must refuse before it
changes anything, naming the capability.

Instance ``FRESH_ID`` (default 231); the hosts go down at the end unless ``LAB_KEEP=1``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import time

import libvirt
import pytest
import yaml

import fresh_host
import guests as lab_guests
from lab import wait_for

pytestmark = pytest.mark.lab

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCENARIO = os.path.join(ROOT, "extensions", "molecule", "systemd")
CONVERGE = os.path.join(SCENARIO, "converge.yml")
CONTROLLER_INVENTORY = os.path.join(ROOT, "extensions", "molecule", "inventory", "controller.yml")
POOL_DIR = "/var/lib/libvirt/images/molecule"        # the scenario's pool, on every host
CAP_SYS_RESOURCE = 24


def debian_vars():
    with open(os.path.join(ROOT, "roles", "hypervisor", "vars", "Debian.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


DEBIAN = debian_vars()
UNITS = DEBIAN["__hypervisor_units"]
SOCKETS = [UNITS[key] for key in ("virtlogd", "virtlockd", "libvirtd_tcp")] + UNITS["libvirtd_sockets"]


# --- reading a host ----------------------------------------------------------------------------
def show(host, unit, *props):
    """``systemctl show`` properties of a unit inside the host, as a dict."""
    out = host.run(["systemctl", "show", unit] + [f"--property={p}" for p in props]).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def installed(host, packages):
    out = host.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\\n"] + list(packages),
                   check=False).stdout
    return sorted(line.split()[0] for line in out.splitlines() if line.endswith(" installed"))


def tree(host, path):
    """{relative path: sha256 of the content, or the target of a symlink} below ``path``."""
    top = host.inside(path)
    found = {}
    for directory, _dirs, files in os.walk(top):
        for name in files:
            full = os.path.join(directory, name)
            rel = os.path.relpath(full, top)
            if os.path.islink(full):
                found[rel] = "-> " + os.readlink(full)
            else:
                with open(full, "rb") as handle:
                    found[rel] = hashlib.sha256(handle.read()).hexdigest()
    return found


def state(host):
    """What check mode must not change: packages (dpkg's database), libvirt's configuration,
    the units' configuration (enablement links, drop-ins), and each socket's activation (a
    restart is a new invocation id).  libvirtd.service itself starts and (after two idle
    minutes) stops by socket activation: only whether it is enabled counts."""
    with open(host.inside("/var/lib/dpkg/status"), "rb") as handle:
        dpkg = hashlib.sha256(handle.read()).hexdigest()
    units = {unit: show(host, unit, "ActiveState", "UnitFileState", "InvocationID") for unit in SOCKETS}
    units[UNITS["libvirtd"]] = show(host, UNITS["libvirtd"], "UnitFileState")
    return {"dpkg": dpkg, "etc-libvirt": tree(host, "/etc/libvirt"),
            "units": tree(host, "/etc/systemd/system"), "active": units}


def role_results(run, name, host=None):
    return [r for r in run.results if r["task"] in (name, "hotiron.virt.hypervisor : " + name)
            and (host is None or r["host"] == host)]


# --- the module's hosts --------------------------------------------------------------------------
class Hosts:
    """The instance, and what its first runs did (each asserted by a test of its own)."""

    def __init__(self, instance):
        self.instance = instance
        self.hosts = instance.hosts
        self.inventory = [CONTROLLER_INVENTORY, instance.inventory_path]
        self.before = self.after_check = self.check = self.first = self.bare_packages = None
        self.first_seconds = None


@pytest.fixture(scope="module")
def systemd(run_playbook):
    fresh_id = int(os.environ.get("FRESH_ID", "231"))
    instance = fresh_host.FreshInstance(fresh_id)
    instance.down()
    instance.up(2, init="systemd")
    made = Hosts(instance)
    try:
        made.before = [state(h) for h in made.hosts]
        made.bare_packages = [installed(h, DEBIAN["__hypervisor_packages"]) for h in made.hosts]
        made.check = run_playbook(CONVERGE, inventory=made.inventory, check=True)
        made.after_check = [state(h) for h in made.hosts]
        started = time.monotonic()
        made.first = run_playbook(CONVERGE, inventory=made.inventory, timeout=1500)
        made.first_seconds = time.monotonic() - started
        assert made.first.rc == 0, made.first.stdout[-4000:]
        yield made
    finally:
        killed = [] if os.environ.get("LAB_KEEP") == "1" else instance.down()
    assert killed == [], f"{killed}: did not power off by itself"


def converge(systemd, run_playbook, check=False, **extra_vars):
    run = run_playbook(CONVERGE, inventory=systemd.inventory, check=check, extra_vars=extra_vars or None)
    assert run.rc == 0, run.stdout[-4000:]
    return run


# --- the bare hosts and the first converge --------------------------------------------------------
def test_hosts_boot_systemd_and_nothing_of_libvirt(systemd):
    for host, before, packages in zip(systemd.hosts, systemd.before, systemd.bare_packages):
        assert host.run(["readlink", "/proc/1/exe"]).stdout.strip().endswith("/systemd")
        assert host.system_state() in ("running", "degraded")
        assert before["etc-libvirt"] == {}
        assert not set(packages) & {"libvirt-daemon-system", "qemu-system-x86"}, packages


def test_check_mode_on_bare_hosts_changes_nothing(systemd):
    check = systemd.check
    assert check.rc == 0, check.stdout[-3000:]
    for host, before, after in zip(systemd.hosts, systemd.before, systemd.after_check):
        assert check.changed(host.name) > 0
        (plan,) = role_results(check, "Name the packages that would be installed", host.name)
        assert {"libvirt-daemon-system", "qemu-system-x86"} <= set(plan["result"]["msg"].split())
        (units,) = role_results(check, "Name the units that would be enabled and started", host.name)
        assert UNITS["libvirtd_tcp"] in units["result"]["msg"]
        assert after == before


def test_first_converge_installs_and_runs_libvirt_through_systemd(systemd):
    print(f"\nfirst converge of {len(systemd.hosts)} bare systemd hosts: {systemd.first_seconds:.0f} s")
    for host in systemd.hosts:
        assert systemd.first.changed(host.name) > 0
        assert installed(host, DEBIAN["__hypervisor_packages"]) == sorted(DEBIAN["__hypervisor_packages"])
        for unit in SOCKETS:
            assert show(host, unit, "ActiveState", "UnitFileState") == {
                "ActiveState": "active", "UnitFileState": "enabled"}, unit
        assert show(host, UNITS["libvirtd"], "UnitFileState")["UnitFileState"] == "enabled"
        # The listening socket is systemd's, on the host's address only (the drop-in).
        assert show(host, UNITS["libvirtd_tcp"], "Listen")["Listen"] == f"{host.address}:16509 (Stream)"
        assert show(host, UNITS["libvirtd_tcp"], "DropInPaths")["DropInPaths"].endswith(
            f"{UNITS['libvirtd_tcp']}.d/hotiron-listen.conf")


def test_libvirt_answers_over_tcp_from_outside_as_each_host(systemd):
    uuids = set()
    for host in systemd.hosts:
        conn = libvirt.open(host.uri)        # activates libvirtd.service if it idled out
        try:
            assert conn.getHostname() == host.name
            assert conn.storagePoolLookupByName("molecule-local").isActive()
            uuids.add(conn.getCapabilities().split("<uuid>", 1)[1].split("</uuid>", 1)[0])
        finally:
            conn.close()
        main_pid = int(show(host, UNITS["libvirtd"], "MainPID")["MainPID"])
        assert main_pid > 0
        assert host.run(["cat", f"/proc/{main_pid}/comm"]).stdout.strip() == "libvirtd"
    # Each host's UUID from its own machine id (the hosts share one SMBIOS UUID).
    assert len(uuids) == len(systemd.hosts)


def test_second_converge_changes_nothing(systemd, run_playbook):
    second = converge(systemd, run_playbook)
    for host in systemd.hosts:
        assert second.changed(host.name) == 0, second.recap


def test_check_mode_on_converged_hosts_changes_nothing(systemd, run_playbook):
    before = [state(h) for h in systemd.hosts]
    check = converge(systemd, run_playbook, check=True)
    for host in systemd.hosts:
        assert check.changed(host.name) == 0, check.recap
    assert [state(h) for h in systemd.hosts] == before


# --- handlers and sockets through systemd ---------------------------------------------------------
def test_a_changed_setting_restarts_libvirtd_through_systemd(systemd, run_playbook):
    settings = {"host_uuid_source": "machine-id", "max_clients": 50}
    before = [show(h, UNITS["libvirtd"], "InvocationID") for h in systemd.hosts]
    run = converge(systemd, run_playbook, hypervisor_libvirtd_settings=settings)
    for host, was in zip(systemd.hosts, before):
        (restart,) = role_results(run, "Restart libvirtd (systemd)", host.name)
        assert restart["status"] == "changed"
        now = show(host, UNITS["libvirtd"], "ActiveState", "InvocationID")
        assert now["ActiveState"] == "active" and now["InvocationID"] != was["InvocationID"]
        with open(host.inside("/etc/libvirt/libvirtd.conf"), encoding="utf-8") as handle:
            assert "max_clients = 50\n" in handle.read()
    again = converge(systemd, run_playbook, hypervisor_libvirtd_settings=dict(settings, max_clients=None))
    assert all(again.changed(h.name) > 0 for h in systemd.hosts)


def test_a_new_listen_address_makes_systemd_bind_the_socket_anew(systemd, run_playbook):
    moved = "{{ lab_address | regex_replace('\\.(\\d+)$', '.10\\1') }}"      # 127.77.x.1 -> .101
    run = converge(systemd, run_playbook, hypervisor_listen_address=moved)
    for host in systemd.hosts:
        new = host.address.rsplit(".", 1)[0] + ".10" + host.address.rsplit(".", 1)[1]
        assert [r["status"] for r in role_results(run, "Listen on the new addresses", host.name)] == ["changed"]
        assert show(host, UNITS["libvirtd_tcp"], "Listen")["Listen"] == f"{new}:16509 (Stream)"
        conn = libvirt.open(f"qemu+tcp://{new}/system")
        try:
            assert conn.getHostname() == host.name
        finally:
            conn.close()
        with pytest.raises(libvirt.libvirtError):
            libvirt.open(host.uri)
    back = converge(systemd, run_playbook)
    assert all(back.changed(h.name) > 0 for h in systemd.hosts)
    for host in systemd.hosts:
        libvirt.open(host.uri).close()


def test_tls_listener_added_through_systemd(systemd, run_playbook, tmp_path):
    """TLS on top of TCP: a socket unit that is not active yet while libvirtd runs (systemd would
    refuse to start it), and a qemu+tls client from outside with a certificate of the role's CA."""
    ca_dir = tmp_path / "pki"
    run = converge(systemd, run_playbook, hypervisor_migration_transport="tls", hypervisor_listen_tcp=True,
                   hypervisor_tls_ca_dir=str(ca_dir), hypervisor_tls_addresses=["{{ lab_address }}"])
    for host in systemd.hosts:
        # Socket-activated libvirtd exits after 120 idle seconds (--timeout 120 in Debian's unit):
        # it is stopped only when it runs; either way systemd binds the new socket.
        (stop,) = role_results(run, "Stop libvirtd while systemd binds its sockets", host.name)
        assert stop["status"] in ("changed", "skipped")
        assert show(host, UNITS["libvirtd_tls"], "ActiveState", "Listen") == {
            "ActiveState": "active", "Listen": f"{host.address}:16514 (Stream)"}
        client = tmp_path / ("client-" + host.name)
        client.mkdir()
        for source, target in (("ca-cert.pem", "cacert.pem"), (f"{host.name}-cert.pem", "clientcert.pem"),
                               (f"{host.name}-key.pem", "clientkey.pem")):
            shutil.copy(ca_dir / source, client / target)
        conn = libvirt.open(f"qemu+tls://{host.address}/system?pkipath={client}")
        try:
            assert conn.getHostname() == host.name
        finally:
            conn.close()
        libvirt.open(host.uri).close()        # TCP still there


# --- a guest moves between two systemd hosts --------------------------------------------------------
def test_live_migration_between_systemd_hosts(systemd, run_module):
    src, dest = systemd.hosts[:2]
    name = f"sd-mig-{os.getpid()}"
    disk = f"{POOL_DIR}/{name}.img"
    lab_guests.make_image(src.inside(disk), "idle")
    conn = libvirt.open(src.uri)
    try:
        conn.storagePoolLookupByName("molecule-local").refresh()
        dom = conn.defineXML(lab_guests.domain_xml(name, disk, "qemu", memory_mib=32))
        dom.create()
        result = run_module("hotiron.virt.vm_migrate", {
            "uri": src.uri, "dest_uri": dest.uri, "name": name,
            "migration_address": f"tcp://{dest.address}"})
        assert not result["failed"], result
        assert result["live"] and result["host"] == dest.name
        assert result["disks"][0]["mode"] == "copy"
        dconn = libvirt.open(dest.uri)
        try:
            moved = dconn.lookupByName(name)
            assert moved.state() == [libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_MIGRATED]
            first = moved.info()[4]
            wait_for(f"{name}'s CPU time to grow on {dest.name}", lambda: moved.info()[4] > first, timeout=20)
            with pytest.raises(libvirt.libvirtError):
                conn.lookupByName(name)
            assert not os.path.exists(src.inside(disk)) and os.path.exists(dest.inside(disk))
            moved.destroy()
            moved.undefine()
        finally:
            dconn.close()
    finally:
        conn.close()
        for host in (src, dest):
            if os.path.exists(host.inside(disk)):
                os.unlink(host.inside(disk))


# --- sanlock -----------------------------------------------------------------------------------------
SANLOCK_VARS = {"hypervisor_migration_transport": "tcp", "hypervisor_tcp_auth": "none",
                "hypervisor_lock_manager": "sanlock", "hypervisor_sanlock_host_id": 2}


def role_part(tasks_from):
    """A task including one task file of the role, as its tests of parts do."""
    return {"name": tasks_from, "ansible.builtin.include_role": {"name": "hotiron.virt.hypervisor",
                                                                 "tasks_from": tasks_from}}


def write_play(tmp_path, name, plays):
    path = tmp_path / name
    path.write_text(json.dumps(plays))
    return str(path)


def test_sanlock_packages_and_configuration(systemd, run_playbook, tmp_path):
    """What of the sanlock path can run here: the packages, and the keys written into copies
    of Debian's qemu.conf and qemu-sanlock.conf (the host's live files keep virtlockd)."""
    host = systemd.hosts[1]
    conf = "/root/sanlock-conf"
    copies = {"name": "Copies of the configuration", "changed_when": True, "ansible.builtin.shell": {
        "cmd": f"mkdir -p {conf} && cp -p /etc/libvirt/qemu.conf /etc/libvirt/qemu-sanlock.conf "
               f"/etc/libvirt/libvirtd.conf {conf}/"}}
    tasks = [role_part("set_vars.yml"), role_part("packages.yml"), copies,
             dict(role_part("config.yml"), vars={"__hypervisor_conf_dir": conf})]
    play = write_play(tmp_path, "sanlock.yml", [{"hosts": host.name, "gather_facts": False, "vars": SANLOCK_VARS,
                                                 "tasks": tasks}])
    run = run_playbook(play, inventory=systemd.inventory)
    assert run.rc == 0, run.stdout[-3000:]
    assert installed(host, DEBIAN["__hypervisor_sanlock_packages"]) == sorted(DEBIAN["__hypervisor_sanlock_packages"])
    # Debian's package started the daemon, which does not run, as the role's pre-flight says
    # (systemd saw it fail or, when it died before systemd found it, just end); in the
    # foreground it says why (EPERM: no CAP_SYS_RESOURCE to raise its memlock limit).
    assert show(host, UNITS["sanlock"], "ActiveState")["ActiveState"] in ("failed", "inactive")
    daemon = host.run(["timeout", "20", "sanlock", "daemon", "-D", "-w", "0"], check=False, timeout=60)
    assert daemon.returncode == 1, (daemon.returncode, daemon.stderr)
    assert "cannot set the limits for memlock 1" in daemon.stderr, daemon.stderr
    with open(host.inside(f"{conf}/qemu.conf"), encoding="utf-8") as handle:
        assert 'lock_manager = "sanlock"\n' in handle.read()
    with open(host.inside(f"{conf}/qemu-sanlock.conf"), encoding="utf-8") as handle:
        sanlock_conf = handle.read()
    for line in ("auto_disk_leases = 1", "host_id = 2", 'disk_lease_dir = "/var/lib/libvirt/sanlock"'):
        assert line + "\n" in sanlock_conf
    assert sanlock_conf.count("\n#") > 10                 # Debian's commented file, keys added
    # The live configuration still has virtlockd.
    with open(host.inside("/etc/libvirt/qemu.conf"), encoding="utf-8") as handle:
        assert 'lock_manager = "lockd"\n' in handle.read()


@pytest.mark.parametrize("check", [True, False], ids=["check-mode", "converge"])
def test_sanlock_refused_before_anything_changes_naming_the_capability(systemd, run_playbook, tmp_path, check):
    host = systemd.hosts[0]
    capbnd = host.run(["sh", "-c", "sed -n 's/^CapBnd:\\s*//p' /proc/1/status"]).stdout.strip()
    assert not (int(capbnd, 16) >> CAP_SYS_RESOURCE) & 1, "this host could run sanlock"
    before = state(host)
    play = write_play(tmp_path, "sanlock-role.yml", [{"hosts": host.name, "gather_facts": False,
                                                      "vars": SANLOCK_VARS,
                                                      "roles": ["hotiron.virt.hypervisor"]}])
    run = run_playbook(play, inventory=systemd.inventory, check=check)
    assert run.rc != 0
    (refused,) = role_results(run, "Stop unless sanlock's daemon can start", host.name)
    assert refused["status"] == "failed"
    message = refused["result"]["msg"]
    assert "CAP_SYS_RESOURCE" in message and capbnd in message and "/proc/1/status" in message
    assert run.changed(host.name) == 0
    assert state(host) == before


def status_with(capbnd):
    text = f"Name:\tpython3\nCapInh:\t0000000000000000\nCapBnd:\t{capbnd}\nCapAmb:\t0000000000000000\n"
    return {"content": base64.b64encode(text.encode()).decode(), "source": "/proc/1/status"}


@pytest.mark.parametrize("capbnd,allowed", [
    ("000001ffffffffff", True),            # every capability
    ("0000000001000000", True),            # CAP_SYS_RESOURCE alone
    ("000001fffeffffff", False),           # this machine: all but CAP_SYS_RESOURCE
    ("00000000fcecafff", False),           # systemd-nspawn's default set
    (None, None),                          # the real /proc/self/status of this machine
])
def test_sanlock_preflight_reads_cap_sys_resource_from_the_bounding_set(run_playbook, tmp_path, capbnd, allowed):
    """The pre-flight's arithmetic (bit 24 of CapBnd), on localhost without systemd: with a given
    status, and with this machine's own, whose answer is worked out here independently."""
    if capbnd is None:
        with open("/proc/self/status", encoding="utf-8") as handle:
            own = next(line.split()[1] for line in handle if line.startswith("CapBnd:"))
        allowed = bool((int(own, 16) >> CAP_SYS_RESOURCE) & 1)
    variables = dict(SANLOCK_VARS, hypervisor_allow_emulation=True, hypervisor_service_manager="pidfile")
    play = write_play(tmp_path, "preflight.yml", [{"hosts": "localhost", "gather_facts": False, "vars": variables,
                                                   "tasks": [role_part("set_vars.yml"), role_part("preflight.yml")]}])
    run = run_playbook(play, extra_vars={"__hypervisor_proc_status": status_with(capbnd)} if capbnd else None)
    (check,) = role_results(run, "Stop unless sanlock's daemon can start")
    assert (run.rc == 0) == allowed and (check["status"] == "ok") == allowed, run.stdout[-2000:]
    if not allowed:
        assert "CAP_SYS_RESOURCE" in check["result"]["msg"]
        assert (capbnd or "/proc/self/status") in check["result"]["msg"]
