# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host failures short of a power cut: a hung or a dead libvirtd, the guests running on.

A power cut (``lab.py kill``) is kinder to the survivors than a real one: the host's
loopback sockets are reset at once (a peer's libvirt connection closes within milliseconds)
and its file locks are released.  These failures are what a recovery must really detect:

- ``hang HOST``: SIGSTOP the host's libvirtd only.  A TCP connect still succeeds (the
  kernel accepts into the listen backlog), but no RPC is ever answered: only libvirt's
  keepalive notices.  Guests keep running.  ``unhang HOST`` sends SIGCONT.
- ``kill-libvirtd HOST``: SIGKILL the host's libvirtd only (a management failure): the
  port refuses, the guests keep running.  ``restart-libvirtd HOST`` (or ``revive``) starts
  it again in the host, as its keeper did, and waits until it answers.

libvirtd is found by pid, from its own pidfile inside the host (read through the keeper's
root), and checked to be a ``libvirtd`` in the host's mount namespace before any signal.
"""

from __future__ import annotations

import os
import signal
import time

import lab

LIBVIRTD_PIDFILE = "/run/libvirtd.pid"      # inside the host: its own /run


def process_state(pid):
    """The state letter of ``/proc/<pid>/stat`` (R, S, D, T = stopped, Z, ...), None if gone."""
    fields = lab.stat_fields(f"/proc/{pid}/stat")
    return fields[0] if fields else None


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return None


def libvirtd_pid(host):
    """Pid of the host's libvirtd, or None when it does not run (LabError if the host is down)."""
    keeper = host.keeper_pid()
    if keeper is None:
        raise lab.LabError(f"{host.name} is not running")
    try:
        with open(f"/proc/{keeper}/root{LIBVIRTD_PIDFILE}", encoding="utf-8") as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return None
    # A stale pidfile may name a pid reused by anything: it must be the host's libvirtd.
    if _comm(pid) != "libvirtd" or lab.ns_id(pid, "mnt") != lab.ns_id(keeper, "mnt"):
        return None
    return pid


def libvirtd_state(host):
    """'running', 'hung' (stopped by a signal) or 'dead' (not running); None if the host is down."""
    if not host.is_up():
        return None
    pid = libvirtd_pid(host)
    if pid is None:
        return "dead"
    return "hung" if process_state(pid) in ("T", "t") else "running"


def _running_libvirtd(host):
    pid = libvirtd_pid(host)
    if pid is None:
        raise lab.LabError(f"libvirtd of {host.name} is not running")
    return pid


def hang(host):
    """SIGSTOP the host's libvirtd; returns its pid once it is stopped."""
    pid = _running_libvirtd(host)
    os.kill(pid, signal.SIGSTOP)
    lab.wait_for(f"libvirtd of {host.name} to stop", lambda: process_state(pid) in ("T", "t"),
                 10, interval=0.01)
    return pid


def unhang(host):
    """SIGCONT the host's libvirtd; returns its pid once it runs again."""
    pid = _running_libvirtd(host)
    os.kill(pid, signal.SIGCONT)
    lab.wait_for(f"libvirtd of {host.name} to continue",
                 lambda: process_state(pid) not in ("T", "t"), 10, interval=0.01)
    return pid


def kill_libvirtd(host):
    """SIGKILL the host's libvirtd alone (hung or not); returns its pid once it is gone."""
    pid = _running_libvirtd(host)
    started = lab.start_time(pid)
    os.kill(pid, signal.SIGKILL)
    # Every thread gone (so its listening sockets are closed), the zombie left to its reaper.
    lab.wait_for(f"libvirtd of {host.name} to die", lambda: lab.has_exited(pid, started), 10,
                 interval=0.01)
    return pid


def restart_libvirtd(host, timeout=None):
    """Start the host's libvirtd again (as its keeper does) and wait until it answers.
    Returns the seconds it took."""
    pid = libvirtd_pid(host)
    if pid is not None:
        state = "hung: unhang it" if process_state(pid) in ("T", "t") else "running"
        raise lab.LabError(f"libvirtd of {host.name} already runs (pid {pid}, {state})")
    started = time.monotonic()
    done = host.run(lab.LIBVIRTD_CMD, check=False, env=host.keeper_env())
    if done.returncode:
        raise lab.LabError(f"libvirtd of {host.name} did not start: {done.stderr.strip()}")
    for what, check, interval in host.readiness():
        if "libvirtd" in what:
            lab.wait_for(what, check, timeout or lab.READY_TIMEOUT, interval=interval)
    return time.monotonic() - started


def restart_libvirtd_if_dead(host):
    """For ``revive``: restart libvirtd if the host is up but its libvirtd is dead."""
    if host.is_up() and libvirtd_state(host) == "dead":
        return restart_libvirtd(host)
    return None
