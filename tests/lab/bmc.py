# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A baseboard management controller (IPMI 2.0 over LAN) for every lab host.

A real host's BMC is a board of its own: it keeps running when the host loses power, and a
fence agent asks it to cut or restore the host's power.  The lab's BMC of ``hv<n>`` is a
pyghmi ``Bmc`` (as OpenStack's VirtualBMC is built) in a process of its own, in the
machine's namespaces, not the host's, so that a power cut of the host leaves it alone.  It
listens on UDP ``127.77.<lab id>.<n>:623`` (the host's address, the standard IPMI port) and
drives the host through the lab:

- chassis power off   = ``lab.py kill HOST``  (every process of the host SIGKILLed, by pid)
- chassis power on    = ``lab.py revive HOST`` (the keeper starts; the command does not wait
                        for libvirtd, as a real BMC does not wait for the OS to boot)
- power cycle / reset = off, then on
- power state         = whether the host's keeper runs

Debian's ``fence_ipmilan --lanplus`` drives it (IPMI 1.5 is not offered).  The user name and
a random password per host live in ``<lab>/bmc/hv<n>.json`` (mode 0600), never on a
command line; ``lab.py inventory`` hands them to Ansible as ``hotiron_fence``.

Managing BMCs (start, stop, pidfiles, credentials) needs only the standard library, like
the rest of lab.py; only the BMC process itself (``lab.py _bmc``) imports pyghmi, with a
Python that has it (this one, or the repository's ``.venv``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid

import lab

IPMI_PORT = 623
USERNAME = "hotiron"
FENCE_AGENT = "fence_ipmilan"
REPO_VENV_PYTHON = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), ".venv", "bin", "python")
# IPMI completion codes (IPMI 2.0, table 5-2).
CC_OK = 0x00
CC_UNSPECIFIED = 0xFF


def channel_auth_request():
    """A sessionless *Get Channel Authentication Capabilities* request (IPMI 1.5 framing,
    IPMI 2.0 extended data asked for, channel 0xE = this one, administrator level): what
    ipmitool sends first, and what the lab sends to see that a BMC answers."""
    body = bytes([0x81, 0x00, 0x38, 0x8E, 0x04])    # rqSA, rqSeq/LUN, cmd, channel, level
    header = bytes([0x20, 0x06 << 2])                 # rsSA (BMC), netFn application / LUN 0
    message = header + bytes([-sum(header) & 0xFF]) + body + bytes([-sum(body) & 0xFF])
    return (bytes([0x06, 0x00, 0xFF, 0x07])           # RMCP: version, reserved, seq, IPMI class
            + bytes([0x00]) + bytes(8)                # auth type none, sequence, session id
            + bytes([len(message)]) + message)


def is_channel_auth_reply(data):
    """Does ``data`` answer :func:`channel_auth_request` with completion code 0?"""
    return (len(data) >= 21 and data[:4] == b"\x06\x00\xff\x07" and data[19] == 0x38
            and data[20] == CC_OK)


def ipmi_ping(address, port=IPMI_PORT, timeout=0.5):
    """True when a BMC answers on UDP address:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
            sock.send(channel_auth_request())
            return is_channel_auth_reply(sock.recv(512))
        except OSError:        # refused (nothing bound) or no answer in time
            return False


def bmc_python():
    """A Python that can import pyghmi: this one, or the repository's virtualenv."""
    if importlib.util.find_spec("pyghmi") is not None:
        return sys.executable
    if os.access(REPO_VENV_PYTHON, os.X_OK) and subprocess.run(
            [REPO_VENV_PYTHON, "-c", "import pyghmi.ipmi.bmc"], capture_output=True,
            check=False).returncode == 0:
        return REPO_VENV_PYTHON
    raise lab.LabError(f"the lab's BMCs need pyghmi (requirements.txt): neither {sys.executable} "
                       f"nor {REPO_VENV_PYTHON} can import it")


class HostBmc:
    """The BMC of one lab host: where it listens, its credentials, its process."""

    def __init__(self, host):
        self.host = host
        self.name = host.name
        self.address = host.address
        self.port = IPMI_PORT
        self.dir = os.path.join(host.lab.state_dir, "bmc")
        self.pid_file = os.path.join(self.dir, f"{host.name}.pid")
        self.log_file = os.path.join(self.dir, f"{host.name}.log")
        self.credentials_file = os.path.join(self.dir, f"{host.name}.json")
        self.marker = f"{host.lab.lab_id}/{host.name}"
        self.uuid = uuid.uuid5(uuid.NAMESPACE_DNS, f"bmc.{host.name}.lab{host.lab.lab_id}.hotiron")

    def __repr__(self):
        return f"<HostBmc {self.name} {self.address}:{self.port}>"

    # --- credentials -------------------------------------------------------------------
    def credentials(self):
        """``{"username", "password"}``, made once (random password, file mode 0600)."""
        try:
            with open(self.credentials_file, encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            pass
        os.makedirs(self.dir, exist_ok=True)
        # IPMI 2.0 passwords have at most 20 bytes; 16 hex digits leave room.
        made = {"username": USERNAME, "password": secrets.token_hex(8)}
        fd = os.open(self.credentials_file + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(made, handle)
        os.replace(self.credentials_file + ".tmp", self.credentials_file)
        return made

    def fence_vars(self):
        """What the collection reads (``hotiron_fence``) to fence this host."""
        creds = self.credentials()
        return {"agent": FENCE_AGENT, "ip": self.address, "ipport": self.port,
                "username": creds["username"], "password": creds["password"], "lanplus": True}

    # --- the process ---------------------------------------------------------------------
    def env(self):
        # The marker makes `Lab.leftovers()` see a BMC that outlived `down`.
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                "HOTIRON_LAB_HOST": f"{self.marker}/bmc"}

    def pid(self):
        """Pid of this BMC if it runs and really is ours, else None."""
        try:
            with open(self.pid_file, encoding="utf-8") as handle:
                pid = int(handle.read().strip())
        except (OSError, ValueError):
            return None
        argv = lab.cmdline(pid)
        if b"_bmc" not in argv or self.marker.encode() not in argv:
            return None
        return pid

    def is_running(self):
        return self.pid() is not None

    def answers(self):
        return ipmi_ping(self.address, self.port)

    def start(self, python=None):
        """Start the BMC process (``lab.py _bmc <lab id>/<host>``); returns it at once."""
        if self.is_running():
            raise lab.LabError(f"the BMC of {self.name} already runs (pid {self.pid()})")
        self.credentials()
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(   # pylint: disable=consider-using-with  # runs on after us
                [python or bmc_python(), lab.Host.KEEPER_SCRIPT, "_bmc", self.marker],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.env(),
                start_new_session=True)
        lab._atomic_write(self.pid_file, f"{proc.pid}\n")   # pylint: disable=protected-access
        return proc

    def wait_ready(self, proc, timeout=None):
        def ready():
            if proc.poll() is not None:
                raise lab.LabError(f"the BMC of {self.name} exited with {proc.returncode}; "
                                   f"see {self.log_file}")
            return self.answers()
        lab.wait_for(f"the BMC of {self.name} on {self.address}:{self.port}", ready,
                     timeout or lab.READY_TIMEOUT,
                     interval=0.05)

    def stop(self, timeout=10.0):
        """Stop the BMC by its pid (SIGTERM, then SIGKILL); True if one was running."""
        pid = self.pid()
        if pid is not None:
            started = lab.start_time(pid)
            for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    break
                try:   # every thread gone, so its UDP port is free again for bmc-start
                    lab.wait_for(f"the BMC of {self.name} to exit",
                                 lambda: lab.has_exited(pid, started), wait, interval=0.02)
                    break
                except lab.LabError:
                    if sig == signal.SIGKILL:
                        raise
        try:
            os.unlink(self.pid_file)
        except FileNotFoundError:
            pass
        return pid is not None


# --- the BMC process: `lab.py _bmc <lab id>/<host>` ------------------------------------------
def _log(message):
    now = time.time()   # read once: the seconds and the milliseconds of one moment
    print(f"{time.strftime('%H:%M:%S', time.localtime(now))}.{int(now * 1000) % 1000:03d} {message}", flush=True)


def make_server_class():
    """The pyghmi ``Bmc`` subclass (imported here: only the BMC process needs pyghmi)."""
    from pyghmi.ipmi import bmc as ipmi_bmc  # pylint: disable=import-outside-toplevel

    class LabBmc(ipmi_bmc.Bmc):
        """Chassis power of one lab host, over IPMI 2.0 (RMCP+)."""

        def __init__(self, board):
            creds = board.credentials()
            super().__init__({creds["username"]: creds["password"]}, port=board.port,
                             address=board.address, bmcuuid=board.uuid)
            self.board = board
            self.host = board.host

        def get_system_guid(self):
            return self.board.uuid

        def get_power_state(self):
            return "on" if self.host.is_up() else "off"

        def power_off(self):
            started = time.monotonic()
            try:
                killed = self.host.lab.kill(self.host.name)
            except lab.LabError as exc:
                _log(f"power off failed: {exc}")
                return CC_UNSPECIFIED
            _log(f"power off: {killed} processes killed in {time.monotonic() - started:.3f} s")
            return CC_OK

        def power_on(self):
            started = time.monotonic()
            try:
                with self.host.lab.lock():
                    if self.host.is_up():
                        _log("power on: already on")
                        return CC_OK
                    proc = self.host.start()
                    # Power is on once the keeper runs; the OS (libvirtd) boots after.
                    lab.wait_for(f"the keeper of {self.host.name}",
                                 lambda: proc.poll() is not None or self.host.is_up(), 30, 0.02)
            except lab.LabError as exc:
                _log(f"power on failed: {exc}")
                return CC_UNSPECIFIED
            if proc.poll() is not None:
                _log(f"power on failed: the keeper exited with {proc.returncode}")
                return CC_UNSPECIFIED
            _log(f"power on: keeper {self.host.keeper_pid()} in {time.monotonic() - started:.3f} s")
            threading.Thread(target=self._booting, args=(proc, started), daemon=True).start()
            return CC_OK

        def _booting(self, proc, started):
            """Log when the host is ready, and reap its keeper (our child) when it dies."""
            try:
                self.host.wait_ready(proc)
                _log(f"power on: {self.host.name} ready in {time.monotonic() - started:.3f} s")
            except lab.LabError as exc:
                _log(f"power on: {exc}")
            proc.wait()

        def power_cycle(self):
            code = self.power_off()
            return code if code != CC_OK else self.power_on()

        power_reset = power_cycle

        def handle_raw_request(self, request, session):
            _log(f"request netfn {request['netfn']:#x} command {request['command']:#x}")
            super().handle_raw_request(request, session)

    return LabBmc


def serve(marker):
    """Run the BMC of host ``<lab id>/<name>`` until it is stopped (by pid)."""
    lab_id, name = marker.split("/")
    board = HostBmc(lab.Lab(int(lab_id)).host(name))
    try:
        server = make_server_class()(board)
    except OSError as exc:
        _log(f"cannot listen on {board.address}:{board.port}: {exc}")
        traceback.print_exc()
        return 1
    _log(f"BMC of {name} listening on {board.address}:{board.port} (pid {os.getpid()})")
    server.listen(timeout=30)
    return 0
