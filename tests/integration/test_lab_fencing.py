# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's fencing and failures: each host's BMC obeys a real fence agent
(Debian's fence_ipmilan, options on stdin as the collection passes them), and a host can
hang (libvirtd SIGSTOPped) or lose its libvirtd while its guests run on.

Times are printed, never asserted (run with ``-s`` to see them).  A lab of 2 hosts at
``LAB_ID``; if that lab was already up, it is left up at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import libvirt
import pytest

import guests as lab_guests
from lab import LIBVIRTD_PORT, Lab, cmdline, ns_id, tcp_open, wait_for
import failures

pytestmark = pytest.mark.lab

LAB_ID = int(os.environ.get("LAB_ID", "0"))
LAB_PY = os.path.join(os.path.dirname(os.path.abspath(lab_guests.__file__)), "lab.py")


@pytest.fixture(scope="module")
def flab():
    the_lab = Lab(LAB_ID)
    was_up = any(host.is_up() for host in the_lab.hosts)
    the_lab.up(2)
    the_lab.owned = not was_up
    yield the_lab
    if the_lab.owned and os.environ.get("LAB_KEEP") != "1":
        the_lab.down()


def lab_cli(*args):
    """``lab.py ARGS`` for this lab, as an operator runs it; returns its stdout."""
    done = subprocess.run([sys.executable, LAB_PY, *args], capture_output=True, text=True,
                          env=dict(os.environ, LAB_ID=str(LAB_ID)), check=False, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def fence(host, action, password=None, **options):
    """Run fence_ipmilan against ``host``'s BMC with its options on stdin (as the collection
    will: never a password on a command line).  Returns (rc, output, seconds)."""
    fence_vars = host.bmc.fence_vars()
    stdin = {"ip": fence_vars["ip"], "ipport": fence_vars["ipport"],
             "username": fence_vars["username"],
             "password": fence_vars["password"] if password is None else password,
             "lanplus": "1" if fence_vars["lanplus"] else "0", "action": action, **options}
    started = time.monotonic()
    done = subprocess.run(["fence_ipmilan"], input="".join(f"{k}={v}\n" for k, v in stdin.items()),
                          capture_output=True, text=True, check=False, timeout=120)
    seconds = time.monotonic() - started
    print(f"fence_ipmilan {action} on {host.name}: rc {done.returncode} in {seconds:.2f} s")
    return done.returncode, done.stdout + done.stderr, seconds


def host_pids(host):
    uts = ns_id(host.keeper_pid(), "uts")
    return uts, [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
                 if ns_id(pid, "uts") == uts]


def alive(pid, uts):
    return ns_id(pid, "uts") == uts


def answers(host):
    try:
        return host.connect().getHostname() == host.name
    except libvirt.libvirtError:
        return False


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])        # utime + stime


@pytest.fixture
def busy_guest(flab):
    """A transient spinning guest on hv1; yields (domain name, QEMU pid)."""
    host = flab.host("hv1")
    name = f"fence-busy-{os.getpid()}"
    disk = os.path.join(host.images_dir, name + ".img")
    lab_guests.make_image(disk, "busy")
    host.connect().createXML(lab_guests.domain_xml(
        name, f"/var/lib/libvirt/images/{name}.img", flab.virt_type, memory_mib=32), 0)
    pid = int(host.run(["cat", f"/run/libvirt/qemu/{name}.pid"]).stdout)
    yield name, pid
    if host.is_up() and failures.libvirtd_state(host) == "running":
        try:
            host.connect().lookupByName(name).destroy()
        except libvirt.libvirtError:
            pass
    os.unlink(disk)


def test_fence_agent_powers_a_host_off_and_on(flab):
    host = flab.host("hv2")
    keeper = host.keeper_pid()
    uts, pids = host_pids(host)
    assert len(pids) >= 5                 # keeper, virtlogd, virtlockd, libvirtd, sshd
    rc, out, _err = fence(host, "status")
    assert rc == 0 and "Status: ON" in out, out
    try:
        rc, out, _err = fence(host, "off")
        assert rc == 0 and "Powered OFF" in out, out
        assert not host.is_up()
        assert not any(alive(pid, uts) for pid in pids)
        assert not tcp_open(host.address, LIBVIRTD_PORT)
        rc, out, _err = fence(host, "status")
        assert rc == 2 and "Status: OFF" in out, out        # 2: the agent's "off"
        rc, out, _err = fence(host, "on")
        assert rc == 0 and "Powered ON" in out, out
        assert host.is_up()
        started = time.monotonic()
        wait_for("libvirtd of hv2 after power on", lambda: answers(host), timeout=60)
        print(f"hv2: libvirt answering {time.monotonic() - started:.2f} s after fence_ipmilan on")
        assert host.keeper_pid() != keeper      # (namespace ids may be reused: not those)
    finally:
        if not host.is_up():
            flab.revive("hv2")


def test_fence_agent_with_options_on_its_command_line(flab):
    """The form operators type (the password is in fence_ipmilan's own argv there; ipmitool
    masks its copy): status only."""
    host = flab.host("hv1")
    fence_vars = host.bmc.fence_vars()
    done = subprocess.run(
        ["fence_ipmilan", "--lanplus", "-a", fence_vars["ip"], "-u", str(fence_vars["ipport"]),
         "-l", fence_vars["username"], "-p", fence_vars["password"], "-o", "status"],
        capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0 and "Status: ON" in done.stdout, done.stdout + done.stderr


def test_wrong_password_fails(flab):
    host = flab.host("hv1")
    rc, out, _err = fence(host, "off", password="not-the-password")
    assert rc == 1 and "Powered OFF" not in out, out
    assert host.is_up()


def test_stopped_bmc_fails_and_the_host_runs_on(flab):
    host = flab.host("hv1")
    keeper = host.keeper_pid()
    lab_cli("bmc-stop", "hv1")
    try:
        assert not host.bmc.is_running()
        # The agent's power_timeout (default 20 s) bounds how long it tries a silent BMC.
        rc, out, _err = fence(host, "off", power_timeout=5)
        assert rc == 1 and "Powered OFF" not in out, out
        assert host.keeper_pid() == keeper and answers(host)
    finally:
        lab_cli("bmc-start", "hv1")
    rc, out, _err = fence(host, "status")
    assert rc == 0 and "Status: ON" in out, out


KEEPALIVE_PROBE = r"""
import json, sys, threading, time
import libvirt
def event_loop():
    while True:
        libvirt.virEventRunDefaultImpl()
libvirt.virEventRegisterDefaultImpl()          # keepalive needs an event loop
threading.Thread(target=event_loop, daemon=True).start()
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
uri, interval, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conn = libvirt.open(uri)
closed, result = threading.Event(), {}
def on_close(_conn, reason, _opaque):
    result.update(close_reason=reason, closed_at=time.monotonic())
    closed.set()
conn.registerCloseCallback(on_close, None)
conn.setKeepAlive(interval, count)
print("open", flush=True)
hung_at = float(sys.stdin.readline())          # the test hangs libvirtd, then says when
try:
    conn.getHostname()
    result["call"] = "answered"
except libvirt.libvirtError as exc:
    result["call"] = "failed: " + str(exc)
result["call_seconds"] = time.monotonic() - hung_at
closed.wait(60)
if "closed_at" in result:
    result["close_seconds"] = result.pop("closed_at") - hung_at
print(json.dumps(result), flush=True)
"""


@pytest.mark.parametrize("interval,count", [(1, 3), (2, 3)])
def test_hung_libvirtd_is_noticed_by_keepalive_only(flab, busy_guest, interval, count):
    host = flab.host("hv1")
    name, qemu = busy_guest
    uts = ns_id(host.keeper_pid(), "uts")
    probe = subprocess.Popen(   # pylint: disable=consider-using-with
        [sys.executable, "-c", KEEPALIVE_PROBE, host.uri, str(interval), str(count)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert probe.stdout.readline() == "open\n"
        lab_cli("hang", "hv1")
        hung_at = time.monotonic()
        assert failures.libvirtd_state(host) == "hung"
        probe.stdin.write(f"{hung_at}\n")
        probe.stdin.flush()
        # The kernel still accepts connections: only an RPC would show the host is gone.
        assert tcp_open(host.address, LIBVIRTD_PORT)
        before = cpu_ticks(qemu)
        result = json.loads(probe.stdout.readline())
        print(f"keepalive ({interval},{count}): call failed after {result['call_seconds']:.2f} s, "
              f"close callback after {result.get('close_seconds', float('nan')):.2f} s; "
              f"the call: {result['call']}")
        assert result["call"].startswith("failed"), result
        assert result.get("close_reason") == libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE, result
        # The guest ran on all along, its QEMU untouched (a busy guest uses CPU).
        assert alive(qemu, uts) and failures.process_state(qemu) not in ("T", "t")
        assert cpu_ticks(qemu) > before
    finally:
        if failures.libvirtd_state(host) == "hung":
            lab_cli("unhang", "hv1")
        probe.wait(60)
    assert answers(host)
    dom = host.connect().lookupByName(name)
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert int(host.run(["cat", f"/run/libvirt/qemu/{name}.pid"]).stdout) == qemu


def test_killed_libvirtd_comes_back_and_the_guest_runs_on(flab, busy_guest):
    host = flab.host("hv1")
    name, qemu = busy_guest
    uts = ns_id(host.keeper_pid(), "uts")
    dead = flab.kill_libvirtd("hv1")
    assert not alive(dead, uts)
    assert failures.libvirtd_state(host) == "dead"
    assert not tcp_open(host.address, LIBVIRTD_PORT)        # refused: a management failure
    before = cpu_ticks(qemu)
    wait_for("the guest to use CPU without libvirtd", lambda: cpu_ticks(qemu) > before, 30)
    seconds = flab.restart_libvirtd("hv1")
    print(f"hv1: libvirtd restarted and answering in {seconds:.2f} s")
    dom = host.connect().lookupByName(name)                  # libvirtd found its guest again
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert int(host.run(["cat", f"/run/libvirt/qemu/{name}.pid"]).stdout) == qemu
    # `revive` of a host that is up brings a killed libvirtd back too.
    flab.kill_libvirtd("hv1")
    flab.revive("hv1")
    assert failures.libvirtd_state(host) == "running" and answers(host)


def test_a_hung_host_is_fenced(flab):
    """The case fencing is for: libvirtd hangs, the BMC still cuts the power (SIGKILL ends
    stopped processes too) and brings the host back."""
    host = flab.host("hv2")
    stopped = flab.hang("hv2")
    uts, pids = host_pids(host)
    try:
        rc, out, _err = fence(host, "off")
        assert rc == 0 and "Powered OFF" in out, out
        assert not alive(stopped, uts) and not any(alive(pid, uts) for pid in pids)
        rc, out, _err = fence(host, "on")
        assert rc == 0 and "Powered ON" in out, out
        wait_for("libvirtd of hv2 after power on", lambda: answers(host), timeout=60)
        assert failures.libvirtd_state(host) == "running"
    finally:
        if host.is_up() and failures.libvirtd_state(host) == "hung":
            flab.unhang("hv2")
        if not host.is_up():
            flab.revive("hv2")


def test_down_cleans_up_every_failure_state(flab):
    """Last: hv1's libvirtd hung, hv2's killed and hv2's BMC stopped; `down` leaves nothing."""
    if not flab.owned:
        pytest.skip(f"lab {LAB_ID} was up before this module: it is not taken down here")
    hv1, hv2 = flab.host("hv1"), flab.host("hv2")
    bmc_pid = hv1.bmc.pid()
    flab.hang("hv1")
    flab.kill_libvirtd("hv2")
    flab.bmc_stop("hv2")
    everything = [(pid, uts) for host in (hv1, hv2) for uts, pids in [host_pids(host)]
                  for pid in pids]
    flab.down()
    assert not any(alive(pid, uts) for pid, uts in everything)
    assert b"_bmc" not in b" ".join(cmdline(bmc_pid))
    assert flab.leftovers() == []
    assert not os.path.exists(flab.state_dir)
