# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab itself: are its hosts really separate libvirt hosts, reachable by Ansible,
and does a power cut behave like one?"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import xml.etree.ElementTree as ET

import libvirt
import pytest

import guests as lab_guests
from lab import Lab, LabError, ns_id, probe_kvm, tcp_open, wait_for

pytestmark = pytest.mark.lab


def qemu_pid(host, name):
    """Pid of the guest's QEMU, from libvirt's pidfile inside the host."""
    return int(host.run(["cat", f"/run/libvirt/qemu/{name}.pid"]).stdout)


def host_uts(host):
    return ns_id(host.keeper_pid(), "uts")


def alive(pid, uts):
    """Is ``pid`` still a process of the host whose UTS namespace is ``uts``?  (A zombie has
    left its namespaces, and a reused pid would be in another one: both count as gone.)"""
    return ns_id(pid, "uts") == uts


def test_hosts_are_distinct_libvirt_hosts(lab):
    assert [h.name for h in lab.hosts][:3] == ["hv1", "hv2", "hv3"]
    uuids = set()
    for host in lab.hosts:
        conn = host.connect()
        assert conn.getHostname() == host.name
        assert conn.getURI() == host.uri
        uuids.add(ET.fromstring(conn.getCapabilities()).findtext("host/uuid"))
        assert host.run(["hostname"]).stdout.strip() == host.name
        # its own /etc/libvirt, /var/lib/libvirt and /run
        mounts = host.run(["findmnt", "-n", "-o", "TARGET,SOURCE", "/etc/libvirt"]).stdout
        assert host.state_dir in mounts
    assert len(uuids) == 3


def test_up_again_leaves_running_hosts_alone(lab):
    before = [h.keeper_pid() for h in lab.hosts]
    lab.up(3)
    assert [h.keeper_pid() for h in lab.hosts] == before


def test_inventory_describes_every_host(lab):
    text = open(lab.inventory_path, encoding="utf-8").read()
    for host in lab.hosts:
        assert f'libvirt_uri: "{host.uri}"' in text
        assert f'ansible_host: "{host.address}"' in text
    assert f'lab_virt_type: "{lab.virt_type}"' in text


def test_each_guest_runs_on_its_own_host(lab, lab_guest):
    made = {host.name: lab_guest(host, kind="idle") for host in lab.hosts}
    for host in lab.hosts:
        names = {dom.name() for dom in host.connect().listAllDomains()}
        assert names & {g.name for g in made.values()} == {made[host.name].name}
        pid = qemu_pid(host, made[host.name].name)
        assert ns_id(pid, "uts") == host_uts(host)


def test_shared_directory_is_seen_by_every_host(lab):
    name = f"shared-probe-{os.getpid()}"
    lab.hosts[0].run(["sh", "-c", f"echo from-hv1 > {lab.shared_path}/{name}"])
    try:
        for host in lab.hosts[1:]:
            assert host.run(["cat", f"{lab.shared_path}/{name}"]).stdout == "from-hv1\n"
        assert open(os.path.join(lab.shared_dir, name), encoding="utf-8").read() == "from-hv1\n"
    finally:
        os.unlink(os.path.join(lab.shared_dir, name))


def test_ansible_runs_inside_each_host(lab, run_playbook, tmp_path):
    playbook = tmp_path / "where.yml"
    playbook.write_text(
        "- hosts: lab\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - name: hostname\n"
        "      ansible.builtin.command: hostname\n"
        "      changed_when: false\n"
        "    - name: libvirt host\n"
        "      ansible.builtin.command: virsh -c qemu:///system hostname\n"
        "      changed_when: false\n")
    run = run_playbook(playbook, limit="hv1,hv2,hv3")
    assert run.rc == 0, run.stdout + run.stderr
    assert set(run.recap) == {"hv1", "hv2", "hv3"}
    for task in ("hostname", "libvirt host"):
        got = {r["host"]: r["result"]["stdout"] for r in run.for_task(task)}
        assert got == {"hv1": "hv1", "hv2": "hv2", "hv3": "hv3"}


def test_run_module_on_localhost_and_on_a_lab_host(lab, run_module):
    assert run_module("ansible.builtin.ping", {})["ping"] == "pong"
    assert run_module("ansible.builtin.command", {"cmd": "hostname"}, host="hv2")["stdout"] == "hv2"


def cpu_seconds(dom):
    return dom.info()[4] / 1e9


def cpu_used(doms, window):
    """CPU seconds each domain used during the same ``window`` seconds."""
    start = [cpu_seconds(dom) for dom in doms]
    time.sleep(window)      # measuring over a time window, not synchronising
    return [cpu_seconds(dom) - before for dom, before in zip(doms, start)]


def test_busy_guest_spins_and_idle_guest_sleeps(lab, lab_guest):
    idle = lab_guest("hv1", kind="idle").domain()
    busy = lab_guest("hv2", kind="busy").domain()
    # SeaBIOS itself keeps a vCPU busy for a while: wait until the idle guest has reached
    # its hlt loop.  The machine is shared, so compare the two guests over the same window
    # rather than against the wall clock.
    wait_for("the idle guest to go idle", lambda: cpu_used([idle], 0.5)[0] < 0.05, timeout=120)
    wait_for("the busy guest to boot", lambda: guest_eip(busy) in (0x7C00, 0x7C01), timeout=120)
    idle_used, busy_used = cpu_used([idle, busy], 2.0)
    assert busy_used > 10 * idle_used
    assert busy_used > 0.02


def guest_eip(dom):
    regs = libvirt_qemu_hmp(dom, "info registers")
    return int(regs.split("EIP=")[1][:8], 16)


def guest_dword(dom, address):
    out = libvirt_qemu_hmp(dom, f"xp /1wx {address:#x}")
    return int(out.split(":")[1].split()[0], 16)


def libvirt_qemu_hmp(dom, command):
    import libvirt_qemu
    return libvirt_qemu.qemuMonitorCommand(
        dom, command, libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP)


def test_dirty_guest_keeps_rewriting_memory(lab, lab_guest):
    dom = lab_guest("hv3", kind="dirty").domain()
    # The loop writes a pass counter into every page from 1 MiB: it must keep growing.
    first = wait_for("the dirty loop to start", lambda: guest_dword(dom, 0x100000), timeout=90)
    wait_for("the dirty loop to make another pass",
             lambda: guest_dword(dom, 0x100000) > first + 1, timeout=30)
    last_page = 0x100000 + 23 * 1024 * 1024
    wait_for("the dirty loop to reach 24 MiB", lambda: guest_dword(dom, last_page) > 0, 30)


def test_live_migration_between_hosts(lab, lab_guest):
    local = lab_guest("hv1", kind="idle")
    guest = lab_guest("hv1", kind="idle", shared=True)
    src, dst = lab.host("hv1"), lab.host("hv2")
    dconn = dst.connect()
    flags = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PERSIST_DEST
             | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)
    # A disk on the host's own storage is not shared: libvirt refuses to move the guest
    # without copying it...
    with pytest.raises(libvirt.libvirtError) as refused:
        local.domain().migrate(dconn, flags, None, None, 0)
    assert refused.value.get_error_code() == libvirt.VIR_ERR_MIGRATE_UNSAFE
    # ...while the lab's shared directory is a file system libvirt counts as shared
    # (fuse.glusterfs through bindfs), so a guest there moves as it is.
    guest.domain().migrate(dconn, flags, None, None, 0)
    moved = dconn.lookupByName(guest.name)
    assert moved.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert guest.name not in {d.name() for d in src.connect().listAllDomains()}
    assert ns_id(qemu_pid(dst, guest.name), "uts") == host_uts(dst)


def test_kvm_guest_runs_with_hardware_acceleration_when_dev_kvm_works(lab, lab_guest):
    """Whatever type the lab's guests use (LAB_VIRT_TYPE=qemu makes the suite faster on
    kvm_pvm machines), a lab host runs a KVM guest whenever /dev/kvm can create a VM."""
    virt_type, reason = probe_kvm()
    if virt_type != "kvm":
        pytest.skip(reason)
    host = lab.host("hv2")
    name = "kvm-probe"
    disk = os.path.join(host.images_dir, name + ".img")
    lab_guests.make_image(disk, "busy")
    conn = host.connect()
    dom = conn.createXML(lab_guests.domain_xml(name, "/var/lib/libvirt/images/" + name + ".img", "kvm"), 0)
    try:
        args = open(f"/proc/{qemu_pid(host, name)}/cmdline", "rb").read().split(b"\0")
        assert b"kvm" in args[args.index(b"-accel") + 1]
        assert dom.info()[0] == libvirt.VIR_DOMAIN_RUNNING
    finally:
        dom.destroy()
        os.unlink(disk)


def test_shared_directory_carries_locks_between_hosts(lab, lab_guest):
    """The hosts share one file system, not copies of it: a disk that runs on hv1 is locked
    for hv2 too (QEMU's image locks), as on a real SAN or cluster file system."""
    guest = lab_guest("hv1", kind="idle", shared=True)
    conn = lab.host("hv2").connect()
    twin = conn.defineXML(lab_guests.domain_xml(guest.name + "-twin", guest.disk, lab.virt_type))
    try:
        with pytest.raises(libvirt.libvirtError) as refused:
            twin.create()
        assert "lock" in str(refused.value)
        assert not twin.isActive()
    finally:
        twin.undefine()


def test_dirty_guest_does_not_converge_at_low_bandwidth(lab, lab_guest):
    guest = lab_guest("hv1", kind="dirty", shared=True)
    dom = guest.domain()
    wait_for("the dirty loop to start", lambda: guest_dword(dom, 0x100000), timeout=120)
    failure = []

    def migrate():
        try:
            dom.migrateToURI3(lab.host("hv2").uri, {libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 8},
                              libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER)
        except libvirt.libvirtError as exc:
            failure.append(exc)

    thread = threading.Thread(target=migrate)
    thread.start()
    try:
        # 24 MiB rewritten continuously against 8 MiB/s: pass after pass, never done.
        wait_for("a third pass over guest memory",
                 lambda: dom.jobStats().get("memory_iteration", 0) >= 3, timeout=120,
                 interval=0.2)
        assert thread.is_alive()
    finally:
        try:
            dom.abortJob()
        except libvirt.libvirtError:
            pass
        thread.join(60)
    # Aborted: libvirt says so, or (seen once, the abort meeting the destination mid-load) the
    # destination QEMU's own failure to load what it had got comes back first.
    assert failure, "the migration ended by itself: it converged"
    assert failure[0].get_error_code() == libvirt.VIR_ERR_OPERATION_ABORTED \
        or "load of migration failed" in str(failure[0]), failure[0]
    assert dom.isActive()


def test_power_cut_and_revive(lab, lab_guest):
    made = {host.name: lab_guest(host, kind="busy") for host in lab.hosts}
    pids = {host.name: qemu_pid(host, made[host.name].name) for host in lab.hosts}
    victim = lab.host("hv3")
    uts = {host.name: host_uts(host) for host in lab.hosts}
    try:
        assert lab.kill("hv3") > 0
        assert not victim.is_up()
        assert not alive(pids["hv3"], uts["hv3"])
        assert not tcp_open(victim.address, 16509)
        assert not tcp_open(victim.address, 22)
        for name in ("hv1", "hv2"):
            assert alive(pids[name], uts[name])
            assert made[name].domain().isActive()
        with pytest.raises(LabError):
            victim.run(["true"])
    finally:
        lab.revive("hv3")
    assert victim.run(["hostname"]).stdout.strip() == "hv3"
    dom = made["hv3"].domain()
    assert dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
    assert dom.isPersistent()


def test_revive_after_the_keeper_alone_died(lab):
    host = lab.host("hv2")
    uts = host_uts(host)
    daemons = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
               if ns_id(pid, "uts") == uts and pid != host.keeper_pid()]
    assert daemons
    os.kill(host.keeper_pid(), signal.SIGKILL)      # a process the lab started, by pid
    wait_for("the keeper to die", lambda: not host.is_up(), timeout=10)
    assert any(alive(pid, uts) for pid in daemons)  # orphaned daemons still hold the ports
    lab.revive("hv2")
    assert not any(alive(pid, uts) for pid in daemons)
    assert host.connect().getHostname() == "hv2"


def test_down_leaves_no_process_and_no_mount():
    # A one-host lab of its own (LAB_ID + 64: the role tests use + 128, benchmarks + 192),
    # so the session's lab stays up.
    other = Lab((int(os.environ.get("LAB_ID", "0")) + 64) % 256)
    other.up(1)
    host = other.hosts[0]
    uts = host_uts(host)
    daemons = [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
               if ns_id(pid, "uts") == uts]
    assert len(daemons) >= 5          # keeper, virtlogd, virtlockd, libvirtd, sshd
    other.down()
    assert not any(alive(pid, uts) for pid in daemons)
    assert other.leftovers() == []
    assert not os.path.exists(other.state_dir)
    with socket.socket() as sock:
        assert sock.connect_ex((host.address, 16509)) != 0
