# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A SAN for the lab: Debian's userspace iSCSI target (tgtd) on a loopback address.

No kernel module is needed: tgtd serves LUN files over iSCSI on
``127.77.<lab id>.250:3260`` (every lab host shares the network namespace, so
they all reach it). Each lab has its own tgtd with its own management channel
(``-C``), so labs do not see each other's targets.

    san = San(lab_id=3, workdir="/var/tmp/...")
    san.start()
    iqn = san.add_target("san1", [("/path/lun1.img", 64 * 1024 * 1024)])
    ...
    san.stop()          # removes the targets, then SIGKILL by pid (tgtd ignores SIGTERM)

Only the standard library is used. Only the tgtd this object started is signalled, by pid; its
pid and start time are kept in ``<workdir>/tgtd.pid`` so that :func:`stop_leftovers` (which the
lab's ``down`` calls) can stop one that a test run killed mid-way left behind.
"""

from __future__ import annotations

import contextlib
import glob
import os
import signal
import socket
import subprocess
import time

PORT = 3260
PIDFILE = "tgtd.pid"
IQN_PREFIX = "iqn.2026-11.hotiron.lab"


class SanError(Exception):
    """tgtd did not start or refused a command."""


def _wait_for(what, predicate, timeout=20.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SanError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class San:
    def __init__(self, lab_id, workdir):
        self.lab_id = int(lab_id)
        self.address = f"127.77.{self.lab_id}.250"
        self.portal = f"{self.address}:{PORT}"
        self.control_port = 3000 + self.lab_id
        self.workdir = workdir
        self.proc = None
        self.targets = {}          # iqn -> tid
        self.accounts = []

    def iqn(self, name):
        return f"{IQN_PREFIX}{self.lab_id}:{name}"

    def initiator(self, host_name):
        return f"{IQN_PREFIX}{self.lab_id}:initiator-{host_name}"

    def _listening(self):
        try:
            with socket.create_connection((self.address, PORT), timeout=0.5):
                return True
        except OSError:
            return False

    def start(self):
        if self._listening():
            raise SanError(f"something already listens on {self.portal}: another lab's tgtd left behind?")
        os.makedirs(self.workdir, exist_ok=True)
        log = open(os.path.join(self.workdir, "tgtd.log"), "ab")  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            ["tgtd", "-f", "-C", str(self.control_port), "--iscsi", f"portal={self.portal}"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        )
        log.close()
        with open(os.path.join(self.workdir, PIDFILE), "w", encoding="utf-8") as handle:
            handle.write("%d %s\n" % (self.proc.pid, _start_time(self.proc.pid)))

        def ready():
            if self.proc.poll() is not None:
                raise SanError(f"tgtd exited with {self.proc.returncode}; see {self.workdir}/tgtd.log")
            return self._listening() and self._tgtadm("--op", "show", "--mode", "target", check=False).returncode == 0

        _wait_for(f"tgtd on {self.portal}", ready)
        return self

    def _tgtadm(self, *args, check=True):
        proc = subprocess.run(["tgtadm", "-C", str(self.control_port), "--lld", "iscsi", *args],
                              capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise SanError(f"tgtadm {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def add_target(self, name, luns, initiators=("ALL",), chap=None):
        """Target ``iqn...:<name>`` with LUNs 1.. from ``luns`` [(path, size)] (missing files are
        made sparse); ``chap=(user, password)`` makes initiators log in with CHAP."""
        iqn = self.iqn(name)
        tid = len(self.targets) + 1
        self._tgtadm("--op", "new", "--mode", "target", "--tid", str(tid), "-T", iqn)
        self.targets[iqn] = tid
        for number, (path, size) in enumerate(luns, start=1):
            if not os.path.exists(path):
                with open(path, "wb") as handle:
                    handle.truncate(size)
            self._tgtadm("--op", "new", "--mode", "logicalunit", "--tid", str(tid), "--lun", str(number), "-b", path)
        for initiator in initiators:
            self._tgtadm("--op", "bind", "--mode", "target", "--tid", str(tid), "-I", initiator)
        if chap:
            user, password = chap
            self._tgtadm("--op", "new", "--mode", "account", "--user", user, "--password", password)
            self._tgtadm("--op", "bind", "--mode", "account", "--tid", str(tid), "--user", user)
            self.accounts.append(user)
        return iqn

    def show(self):
        return self._tgtadm("--op", "show", "--mode", "target").stdout

    def stop(self):
        """Remove the targets, then SIGKILL tgtd by its pid and reap it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            for tid in sorted(self.targets.values(), reverse=True):
                self._tgtadm("--op", "delete", "--force", "--mode", "target", "--tid", str(tid), check=False)
            for user in self.accounts:
                self._tgtadm("--op", "delete", "--mode", "account", "--user", user, check=False)
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.workdir, PIDFILE))
        self.proc = None
        self.targets = {}
        self.accounts = []


def _start_time(pid):
    """The start time of process ``pid`` (field 22 of /proc/<pid>/stat), or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def stop_leftovers(state_dir):
    """SIGKILL every tgtd that a San under ``state_dir`` started and that still runs (its pidfile
    names it; the start time tells it from a later process with the same pid).  The pids stopped."""
    stopped = []
    for path in glob.glob(os.path.join(state_dir, "*", PIDFILE)):
        try:
            with open(path, encoding="utf-8") as handle:
                pid, started = handle.read().split()
        except (OSError, ValueError):
            continue
        if _start_time(int(pid)) == started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
            stopped.append(int(pid))
        os.unlink(path)
    return stopped
