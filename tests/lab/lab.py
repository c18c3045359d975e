# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab: N real libvirt hosts on this one machine.

Each host ``hv<n>`` is a libvirtd (with virtlogd, virtlockd and an sshd) living
in its own mount + UTS namespace, listening on ``127.77.<lab id>.<n>``.  A small
keeper process holds the namespaces; its pid is kept in the host's state
directory and ``nsenter -t <pid> -m -u`` enters the host.

Usage::

    LAB_ID=0 python tests/lab/lab.py up --hosts 3 | down | kill HOST | revive HOST
                                     | status | inventory | run HOST [CMD...]
                                     | hang HOST | unhang HOST | kill-libvirtd HOST
                                     | restart-libvirtd HOST | bmc-stop HOST | bmc-start HOST

Every host has a BMC (bmc.py: IPMI over LAN, for fence_ipmilan) outside its namespaces;
failures.py hangs or kills a host's libvirtd alone.
Only the standard library is used, so the system python can run it too (the BMC processes
alone need pyghmi, and run with a Python that has it).
Only processes the lab started are ever signalled, always by pid.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import fcntl
import grp
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

if __name__ == "__main__":
    # bmc.py and failures.py import this file as `lab`; run as a script it is `__main__`:
    # let them find this very module instead of loading a second copy of it.
    sys.modules.setdefault("lab", sys.modules[__name__])

import bmc  # noqa: E402  (tests/lab is not a package: its files import each other by name)
import failures  # noqa: E402
import san  # noqa: E402

ROOT_DIR = "/var/tmp/hotiron-lab"
SHARED_PATH = "/srv/hotiron/shared"      # the shared directory as seen inside every host
# Hosts whose libvirt manages the CPU cgroup controllers, as production hosts do (CPU shares and
# quotas work there); the others have cgroup_controllers = [ ], since every lab host shares the
# machine's cgroup tree.  Guest names must then be unique across labs (the tests' are).
CGROUP_HOSTS = ("hv3",)
CGROUP_DIRS = ("/sys/fs/cgroup/cpu/machine", "/sys/fs/cgroup/cpuacct/machine")
PRISTINE_ETC = "/etc/libvirt"
LIBVIRTD_PORT = 16509
KVM_CREATE_VM = 0xAE01
PR_SET_CHILD_SUBREAPER = 36
READY_TIMEOUT = 60.0
# How a host's keeper starts libvirtd (and failures.restart_libvirtd after a kill-libvirtd).
# It runs on CPU 0 only: its QEMU capabilities cache records the CPUID of the CPU it
# probed on (leaf 0x1f gives the x2APIC id), and a cache probed on another CPU is thrown
# away and probed again (~3 s).  QEMU processes still get every CPU: libvirt resets their
# affinity to all online CPUs when a guest sets no placement.
LIBVIRTD_CMD = ["taskset", "-c", "0", "libvirtd", "-d", "--listen"]
MAX_HOSTS = 31          # each host of each lab gets its own block of 16 migration ports
# libvirtd probes every QEMU binary when its capabilities cache is empty (~3 s).  All lab
# hosts run the same binaries, so a fresh host starts from a copy of what a host probed;
# libvirtd checks the copy (binary ctimes, kernel, microcode) and probes again if stale.
CAPS_TEMPLATE = os.path.join(ROOT_DIR, ".qemu-capabilities")
CAPS_SUBDIR = os.path.join("cache-libvirt", "qemu", "capabilities")
# Per host: (path inside the host, name of its persistent directory in the host's state dir).
PRIVATE_DIRS = (
    ("/etc/libvirt", "etc-libvirt"),
    ("/var/lib/libvirt", "lib-libvirt"),
    ("/var/log/libvirt", "log-libvirt"),
    ("/var/cache/libvirt", "cache-libvirt"),
)


class LabError(Exception):
    """Something in the lab did not come up or go down as it should."""


def wait_for(what, predicate, timeout=READY_TIMEOUT, interval=0.05):
    """Poll ``predicate`` until it returns a true value; raise LabError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def tcp_open(address, port, banner=None):
    """True when something accepts connections on address:port (and sends ``banner``)."""
    try:
        with socket.create_connection((address, port), timeout=1) as sock:
            if banner is None:
                return True
            sock.settimeout(2)
            return sock.recv(64).startswith(banner)
    except OSError:
        return False


def ns_id(pid, kind):
    """The namespace id (e.g. 'mnt:[4026532290]') of a process, or None if it is gone."""
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def all_pids():
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().split(b"\0")
    except OSError:
        return []


def stat_fields(path):
    """The fields of a ``/proc/<pid>[/task/<tid>]/stat`` after ``pid (comm)``: [state, ppid,
    ...]; None if it is gone.  (comm may contain ") ", hence the last parenthesis.)"""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()


def start_time(pid):
    """When ``pid`` started (clock ticks since boot): with the pid, it names one process."""
    fields = stat_fields(f"/proc/{pid}/stat")
    return fields[19] if fields else None


def has_exited(pid, started):
    """Has the process ``pid`` (started at ``started``) wholly exited: gone, or a zombie all of
    whose threads have exited too?  Only then are its files closed (a listening socket among
    them), which can be a moment after its main thread has left its namespaces."""
    if start_time(pid) != started:         # gone, or the pid is another process's by now
        return True
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return True
    for tid in tids:
        fields = stat_fields(f"/proc/{pid}/task/{tid}/stat")
        if fields and fields[0] not in ("Z", "X"):
            return False
    return True


def choose_virt_type():
    """(virt_type, reason): LAB_VIRT_TYPE=kvm|qemu if set, else what probe_kvm finds."""
    wanted = os.environ.get("LAB_VIRT_TYPE", "")
    if wanted == "qemu":
        # The lab's guests use TCG, but modules may still define KVM guests (vm_import does):
        # the probe gives a working /dev/kvm to QEMU's group all the same.
        probe_kvm()
        return "qemu", "LAB_VIRT_TYPE=qemu: using TCG emulation"
    if wanted not in ("", "kvm"):
        raise LabError(f"LAB_VIRT_TYPE must be kvm or qemu, not {wanted!r}")
    virt_type, reason = probe_kvm()
    if wanted == "kvm" and virt_type != "kvm":
        raise LabError(f"LAB_VIRT_TYPE=kvm but {reason}")
    return virt_type, reason


def probe_kvm():
    """Return (virt_type, reason): 'kvm' only if /dev/kvm can really create a VM."""
    if not os.path.exists("/dev/kvm"):
        return "qemu", "/dev/kvm does not exist: using TCG emulation"
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return "qemu", f"cannot open /dev/kvm ({exc.strerror}): using TCG emulation"
    try:
        vm_fd = fcntl.ioctl(fd, KVM_CREATE_VM, 0)
        os.close(vm_fd)
    except OSError as exc:
        return "qemu", f"KVM_CREATE_VM failed ({exc.strerror}): using TCG emulation"
    finally:
        os.close(fd)
    # QEMU runs as libvirt-qemu (group kvm): let that group open the device.
    try:
        os.chown("/dev/kvm", -1, grp.getgrnam("kvm").gr_gid)
        os.chmod("/dev/kvm", 0o660)
    except (KeyError, OSError) as exc:
        return "qemu", f"/dev/kvm works but cannot be given to group kvm ({exc}): using TCG"
    reason = "/dev/kvm created a test VM (KVM_CREATE_VM): using hardware acceleration"
    if os.path.isdir("/sys/module/kvm_pvm"):
        reason += ("; note: KVM here is kvm_pvm, which emulates 16/32-bit guest code in the "
                   "kernel, so SeaBIOS takes seconds of CPU to boot a lab guest "
                   "(LAB_VIRT_TYPE=qemu boots one in under a second)")
    return "kvm", reason


def remove_guests(conn, names):
    """Force off and undefine those of ``names`` defined on the libvirt connection ``conn``
    (any host's: the lab's, a fresh one); the others are skipped."""
    import libvirt  # pylint: disable=import-outside-toplevel
    for name in names:
        try:
            dom = conn.lookupByName(name)
        except libvirt.libvirtError:
            continue
        if dom.isActive():
            dom.destroy()
        dom.undefine()


def remove_empty_guest_cgroups():
    """Remove the CPU cgroups libvirt made for guests that no longer run (a power cut leaves
    them): only directories of guests (``*.libvirt-qemu``) without a task, deepest first."""
    for top in CGROUP_DIRS:
        if not os.path.isdir(top):
            continue
        for entry in os.listdir(top):
            if not entry.endswith(".libvirt-qemu"):
                continue
            for root, _dirs, _files in sorted(os.walk(os.path.join(top, entry)), key=lambda w: -len(w[0])):
                try:
                    with open(os.path.join(root, "cgroup.procs"), encoding="utf-8") as handle:
                        if handle.read().strip():
                            break  # a guest still runs there: not ours to remove
                    os.rmdir(root)
                except OSError:
                    break


def ensure_debootstrap(log=print):
    """Install debootstrap with apt-get if it is missing: the fresh hosts' root file system and
    the real-OS guests' packages are both made with it."""
    if not shutil.which("debootstrap"):
        log("installing debootstrap with apt-get")
        subprocess.run(["apt-get", "install", "-y", "-q", "debootstrap"], check=True, stdout=subprocess.DEVNULL)


def _atomic_write(path, text, mode=0o644):
    tmp = f"{path}.tmp"
    # Created with ``mode`` already (a secret is never readable meanwhile), chmod for the umask.
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w",
                   encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _yaml_str(value):
    # A JSON string is a valid YAML double-quoted scalar.
    return json.dumps(str(value))


class Host:
    """One lab host: its addresses, its persistent directories and its keeper process."""

    def __init__(self, lab, index):
        self.lab = lab
        self.index = index
        self.name = f"hv{index}"
        self.address = f"127.77.{lab.lab_id}.{index}"
        self.uri = f"qemu+tcp://{self.address}/system"
        self.state_dir = os.path.join(lab.state_dir, "hosts", self.name)
        self.images_dir = os.path.join(self.state_dir, "lib-libvirt", "images")
        self.ssh_dir = os.path.join(self.state_dir, "ssh")
        self.runtime_file = os.path.join(self.state_dir, "keeper.json")   # pid + namespace ids
        self.pid_file = os.path.join(self.state_dir, "keeper.pid")        # the pid alone
        self.log_file = os.path.join(self.state_dir, "keeper.log")
        self.host_uuid = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{self.name}.lab{lab.lab_id}.hotiron"))
        # QEMU listens on the host's own address, so ranges could even overlap; they do not
        # for lab ids 0..30, which keeps `ss` output readable.
        low = 49200 + (lab.lab_id * (MAX_HOSTS + 1) + index) * 16 % 16000
        self.migration_ports = (low, low + 15)

    def __repr__(self):
        return f"<Host {self.name} {self.address}>"

    # --- runtime state -------------------------------------------------------------------
    def _runtime(self):
        try:
            with open(self.runtime_file, encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def keeper_pid(self):
        """Pid of this host's keeper if it is alive and really ours, else None."""
        runtime = self._runtime()
        if not runtime:
            return None
        pid = runtime["pid"]
        argv = cmdline(pid)
        if b"_keeper" not in argv or self.marker.encode() not in argv:
            return None
        if ns_id(pid, "mnt") != runtime["mnt"] or ns_id(pid, "uts") != runtime["uts"]:
            return None
        return pid

    @property
    def marker(self):
        return f"{self.lab.lab_id}/{self.name}"

    def is_up(self):
        return self.keeper_pid() is not None

    @property
    def bmc(self):
        """This host's BMC (bmc.py): a separate board, outside the host's namespaces."""
        return bmc.HostBmc(self)

    def processes(self, mnt, uts):
        """Pids of every process in this host's namespaces (QEMU has a mount ns of its own,
        but it keeps the host's UTS namespace)."""
        return [pid for pid in all_pids()
                if pid != os.getpid() and (ns_id(pid, "mnt") == mnt or ns_id(pid, "uts") == uts)]

    def run(self, cmd, check=True, **kwargs):
        """Run ``cmd`` (list, or string for sh -c) inside the host's namespaces."""
        pid = self.keeper_pid()
        if pid is None:
            raise LabError(f"{self.name} is not running")
        if isinstance(cmd, str):
            cmd = ["sh", "-c", cmd]
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(["nsenter", "-t", str(pid), "-m", "-u", "--", *cmd],
                              check=check, **kwargs)

    def connect(self):
        """A libvirt connection to this host's libvirtd (needs the libvirt bindings)."""
        import libvirt  # pylint: disable=import-outside-toplevel
        # Errors are raised as exceptions; do not also print them on stderr.
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        return libvirt.open(self.uri)

    def dir_pool(self, conn, name, path=None):
        """A running, refreshed ``dir`` pool ``name`` at ``path`` inside the host (default
        /var/lib/libvirt/images/<name>), defined if missing, for tests and benchmarks."""
        import libvirt  # pylint: disable=import-outside-toplevel
        try:
            pool = conn.storagePoolLookupByName(name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_POOL:
                raise
            pool = conn.storagePoolDefineXML(
                f"<pool type='dir'><name>{name}</name>"
                f"<target><path>{path or '/var/lib/libvirt/images/' + name}</path></target></pool>")
        if not pool.isActive():
            pool.create()
        pool.refresh()
        return pool

    # --- preparing the persistent directories --------------------------------------------
    def prepare(self):
        """Create the host's persistent directories the first time (kept across kill/revive)."""
        os.makedirs(self.state_dir, exist_ok=True)
        os.chmod(self.state_dir, 0o755)
        etc = os.path.join(self.state_dir, "etc-libvirt")
        if not os.path.isdir(etc):
            self._clean_etc(etc)
        lib = os.path.join(self.state_dir, "lib-libvirt")
        if not os.path.isdir(lib):
            self._clean_lib(lib)
        for _inside, name in PRIVATE_DIRS[2:]:
            os.makedirs(os.path.join(self.state_dir, name), exist_ok=True)
        caps = os.path.join(self.state_dir, CAPS_SUBDIR)
        if not os.path.isdir(caps) and os.path.isdir(CAPS_TEMPLATE):
            shutil.copytree(CAPS_TEMPLATE, caps)
        self._write_configs(etc)
        self._prepare_ssh()

    @staticmethod
    def _clean_etc(etc):
        tmp = etc + ".new"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(PRISTINE_ETC, tmp, symlinks=True)
        # No domains, storage, secrets or autostart links from whatever ran on the machine.
        for sub in ("qemu/autostart", "storage", "secrets", "qemu/networks/autostart"):
            shutil.rmtree(os.path.join(tmp, sub), ignore_errors=True)
        qemu_dir = os.path.join(tmp, "qemu")
        for entry in os.listdir(qemu_dir):
            if entry.endswith(".xml"):
                os.unlink(os.path.join(qemu_dir, entry))
        os.makedirs(os.path.join(tmp, "qemu/networks/autostart"), exist_ok=True)
        os.rename(tmp, etc)

    @staticmethod
    def _clean_lib(lib):
        tmp = lib + ".new"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        os.chmod(tmp, 0o755)
        for sub, mode in (("boot", 0o711), ("images", 0o711), ("sanlock", 0o700)):
            os.makedirs(os.path.join(tmp, sub))
            os.chmod(os.path.join(tmp, sub), mode)
        qemu_dir = os.path.join(tmp, "qemu")
        os.makedirs(qemu_dir)
        os.chmod(qemu_dir, 0o750)
        try:
            qemu_gid = grp.getgrnam("libvirt-qemu").gr_gid
            import pwd
            os.chown(qemu_dir, pwd.getpwnam("libvirt-qemu").pw_uid, qemu_gid)
        except KeyError:
            pass
        os.rename(tmp, lib)

    def _write_configs(self, etc):
        _atomic_write(os.path.join(etc, "libvirtd.conf"), (
            "# Written by tests/lab/lab.py: lab host %s (no authentication: lab only)\n"
            "listen_tls = 0\n"
            "listen_tcp = 1\n"
            'listen_addr = "%s"\n'
            'tcp_port = "%d"\n'
            'auth_tcp = "none"\n'
            'auth_unix_rw = "none"\n'
            'auth_unix_ro = "none"\n'
            'host_uuid = "%s"\n'
            "log_outputs = \"3:file:/var/log/libvirt/libvirtd.log\"\n"
        ) % (self.name, self.address, LIBVIRTD_PORT, self.host_uuid))
        if self.name in CGROUP_HOSTS:
            cgroups = ("# As a production host: libvirt puts each guest in the CPU controllers, so CPU\n"
                       "# shares and quotas work (all lab hosts share the machine's cgroup tree).\n"
                       'cgroup_controllers = [ "cpu", "cpuacct" ]\n')
        else:
            cgroups = ("# All lab hosts share one cgroup tree: libvirt must not manage cgroups.\n"
                       "cgroup_controllers = [ ]\n")
        _atomic_write(os.path.join(etc, "qemu.conf"), (
            "# Written by tests/lab/lab.py: lab host %s\n" + cgroups +
            "migration_port_min = %d\n"
            "migration_port_max = %d\n"
            'migration_address = "%s"\n'
            'migration_host = "%s"\n'
        ) % (self.name, self.migration_ports[0], self.migration_ports[1], self.address,
             self.address), mode=0o600)

    def _prepare_ssh(self):
        os.makedirs(self.ssh_dir, exist_ok=True)
        key = os.path.join(self.ssh_dir, "ssh_host_ed25519_key")
        if not os.path.exists(key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", self.name,
                            "-f", key], check=True)
        _atomic_write(os.path.join(self.ssh_dir, "sshd_config"), (
            "# Written by tests/lab/lab.py: lab host %s\n"
            "ListenAddress %s:22\n"
            "HostKey %s\n"
            "PidFile /run/sshd.pid\n"
            "AuthorizedKeysFile %s\n"
            "PermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "StrictModes no\n"
            "UseDNS no\n"
            "PrintMotd no\n"
            "AcceptEnv LANG LC_*\n"
            "Subsystem sftp internal-sftp\n"
        ) % (self.name, self.address, key, self.lab.key_file + ".pub"))

    # --- starting (runs in the lab's own process) ----------------------------------------
    KEEPER_SCRIPT = os.path.abspath(__file__)

    def start(self):
        """Start the keeper (which sets up the namespaces and daemons); returns at once."""
        self.kill()          # daemons left over by a keeper that died would hold the ports
        self.prepare()
        return self.spawn_keeper()

    def keeper_env(self):
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOTIRON_LAB_HOST": self.marker}

    def spawn_keeper(self):
        """Run ``KEEPER_SCRIPT _keeper <marker>`` in new mount and UTS namespaces."""
        log = open(self.log_file, "ab")
        try:
            # unshare execs the keeper without forking: the pid we get is the keeper's.
            proc = subprocess.Popen(
                ["unshare", "--mount", "--uts", "--propagation", "private", "--",
                 "/usr/bin/python3", self.KEEPER_SCRIPT, "_keeper", self.marker],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                env=self.keeper_env())
        finally:
            log.close()
        return proc

    def readiness(self):
        """``(what, check, interval)``, in order, that the host must pass to be up."""
        return [
            (f"{self.name} keeper", self.keeper_pid, 0.05),
            (f"{self.name} libvirtd on {self.address}:{LIBVIRTD_PORT}",
             lambda: tcp_open(self.address, LIBVIRTD_PORT), 0.05),
            (f"{self.name} sshd on {self.address}:22", lambda: tcp_open(self.address, 22, b"SSH-"), 0.05),
            (f"{self.name} libvirtd answering on {self.uri}",
             lambda: subprocess.run(["virsh", "-q", "-c", self.uri, "version"], check=False,
                                    capture_output=True).returncode == 0, 0.2),
        ]

    def wait_ready(self, proc, timeout=READY_TIMEOUT):
        """Wait until every check of :meth:`readiness` passes, while the keeper lives."""
        def alive_and(check):
            def predicate():
                if proc.poll() is not None:
                    raise LabError(f"{self.name}: keeper exited with {proc.returncode}; "
                                   f"see {self.log_file}")
                return check()
            return predicate
        for what, check, interval in self.readiness():
            wait_for(what, alive_and(check), timeout, interval=interval)

    def save_capabilities(self):
        """Keep this host's QEMU capabilities cache as the template for fresh hosts."""
        caps = os.path.join(self.state_dir, CAPS_SUBDIR)
        try:
            files = sorted(os.listdir(caps))
        except FileNotFoundError:
            return
        if not files:
            return
        if os.path.isdir(CAPS_TEMPLATE) and sorted(os.listdir(CAPS_TEMPLATE)) == files:
            return
        tmp = f"{CAPS_TEMPLATE}.{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(caps, tmp)
        shutil.rmtree(CAPS_TEMPLATE, ignore_errors=True)
        try:
            os.rename(tmp, CAPS_TEMPLATE)
        except OSError:          # another lab saved one at the same moment
            shutil.rmtree(tmp, ignore_errors=True)

    # --- power cut ------------------------------------------------------------------------
    def kill(self, timeout=30.0):
        """SIGKILL every process in the host's namespaces at once, like a power cut."""
        runtime = self._runtime()
        pid = self.keeper_pid() or self._orphan_pid(runtime)
        if pid is None:
            self._forget()
            return 0
        # Hold the namespaces open so their ids cannot be reused by another lab meanwhile.
        try:
            pins = [os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
                    for kind in ("mnt", "uts")]
        except FileNotFoundError:
            return self.kill(timeout)        # it died just now: look again
        if ns_id(pid, "mnt") != runtime["mnt"] or ns_id(pid, "uts") != runtime["uts"]:
            for fd in pins:
                os.close(fd)
            raise LabError(f"{self.name}: keeper {pid} changed under us")
        killed = {}          # pid: start time
        try:
            def all_gone():
                pids = self.processes(runtime["mnt"], runtime["uts"])
                for victim in pids:
                    started = killed.get(victim) or start_time(victim)
                    try:
                        os.kill(victim, signal.SIGKILL)
                        killed[victim] = started
                    except ProcessLookupError:
                        pass
                # Out of the namespaces is not dead yet: every thread must have exited (and
                # with the last one the sockets closed) before the power is really off.
                return not pids and all(has_exited(pid, started) for pid, started in killed.items())
            wait_for(f"every process of {self.name} to die", all_gone, timeout, interval=0.02)
        finally:
            for fd in pins:
                os.close(fd)
        if self.name in CGROUP_HOSTS:
            remove_empty_guest_cgroups()
        self._forget()
        return len(killed)

    def _orphan_pid(self, runtime):
        """A process of this host still alive although its keeper is gone, found by the
        marker every daemon inherits from the keeper and by the recorded namespaces."""
        if not runtime:
            return None
        marker = f"HOTIRON_LAB_HOST={self.marker}".encode()
        for pid in all_pids():
            try:
                with open(f"/proc/{pid}/environ", "rb") as handle:
                    env = handle.read().split(b"\0")
            except OSError:
                continue
            if marker in env and (ns_id(pid, "mnt"), ns_id(pid, "uts")) == (
                    runtime["mnt"], runtime["uts"]):
                return pid
        return None

    def _forget(self):
        for path in (self.runtime_file, self.pid_file):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    # --- status -----------------------------------------------------------------------------
    def guests(self):
        """[(name, state)] as libvirtd of this host reports them."""
        out = subprocess.run(["virsh", "-q", "-c", self.uri, "list", "--all"], check=False,
                             capture_output=True, text=True, timeout=30)
        if out.returncode:
            raise LabError(out.stderr.strip())
        guests = []
        for line in out.stdout.splitlines():
            fields = line.split(None, 2)
            if len(fields) == 3:
                guests.append((fields[1], fields[2].strip()))
        return guests


class Lab:
    """A lab instance: hosts hv1..hvN at 127.77.<lab_id>.<n>, state under ROOT_DIR/<lab_id>."""

    def __init__(self, lab_id=None):
        if lab_id is None:
            lab_id = int(os.environ.get("LAB_ID", "0"))
        self.lab_id = int(lab_id)
        if not 0 <= self.lab_id <= 255:
            raise LabError(f"LAB_ID must be 0..255, not {self.lab_id}")
        self.state_dir = os.path.join(ROOT_DIR, str(self.lab_id))
        self.shared_dir = os.path.join(self.state_dir, "shared")
        self.shared_path = SHARED_PATH
        # The shared directory as a file system libvirt counts as shared (see _ensure_shared_fs).
        self.shared_fs = os.path.join(self.state_dir, "shared-fs")
        self.shared_fs_pid_file = os.path.join(self.state_dir, "shared-fs.pid")
        self.key_file = os.path.join(self.state_dir, "id_ed25519")
        self.inventory_path = os.path.join(self.state_dir, "inventory.yml")
        self.state_file = os.path.join(self.state_dir, "lab.json")

    def lock(self):
        """An exclusive lock on this lab instance (released when the returned file closes)."""
        os.makedirs(ROOT_DIR, exist_ok=True)
        os.chmod(ROOT_DIR, 0o755)
        handle = open(os.path.join(ROOT_DIR, f".{self.lab_id}.lock"), "w", encoding="utf-8")
        fcntl.flock(handle, fcntl.LOCK_EX)
        return handle

    # --- persistent lab state --------------------------------------------------------------
    def _state(self):
        try:
            with open(self.state_file, encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {}

    @property
    def hosts(self):
        count = self._state().get("hosts", 0)
        try:      # hosts whose directory exists count too, even if lab.json were lost
            names = os.listdir(os.path.join(self.state_dir, "hosts"))
        except FileNotFoundError:
            names = []
        for name in names:
            if name.startswith("hv") and name[2:].isdigit():
                count = max(count, int(name[2:]))
        return [Host(self, index) for index in range(1, count + 1)]

    def host(self, name):
        for host in self.hosts:
            if host.name == name:
                return host
        raise LabError(f"no host {name!r} in lab {self.lab_id} (hosts: "
                       f"{', '.join(h.name for h in self.hosts) or 'none'})")

    def shared_pools(self, name, path=None):
        """A dir pool ``name`` over ``path`` (the shared directory by default) on every host that
        has no pool there yet: vm_migrate tells shared storage by it.  Returns the hosts it was
        defined on, for ``remove_shared_pools``."""
        import libvirt  # pylint: disable=import-outside-toplevel
        path = path or self.shared_path
        made = []
        for host in self.hosts:
            conn = host.connect()
            try:
                conn.storagePoolLookupByTargetPath(path)
            except libvirt.libvirtError:
                host.dir_pool(conn, name, path)
                made.append(host)
        return made

    @staticmethod
    def remove_shared_pools(made, name):
        """Stop and undefine pool ``name`` on the hosts ``shared_pools`` defined it on."""
        for host in made:
            pool = host.connect().storagePoolLookupByName(name)
            pool.destroy()
            pool.undefine()

    @property
    def virt_type(self):
        return self._state().get("virt_type") or choose_virt_type()[0]

    @property
    def virt_reason(self):
        return self._state().get("virt_reason", "")

    # --- up ------------------------------------------------------------------------------------
    def up(self, count=3, timeout=READY_TIMEOUT):
        """Start hosts hv1..hv<count>; hosts already running are left as they are.
        Returns the seconds it took."""
        if not 1 <= count <= MAX_HOSTS:
            raise LabError(f"the lab has 1 to {MAX_HOSTS} hosts")
        with self.lock():
            return self._up(count, timeout)

    def _up(self, count, timeout):
        started = time.monotonic()
        os.makedirs(self.state_dir, exist_ok=True)
        for path in (ROOT_DIR, self.state_dir):
            os.chmod(path, 0o755)
        os.makedirs(self.shared_dir, exist_ok=True)
        os.chmod(self.shared_dir, 0o755)
        if not os.path.exists(self.key_file):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                            f"hotiron-lab-{self.lab_id}", "-f", self.key_file], check=True)
        state = self._state()
        # Chosen when the lab is created; a later `up` keeps it unless LAB_VIRT_TYPE says.
        if "virt_type" not in state or os.environ.get("LAB_VIRT_TYPE"):
            state["virt_type"], state["virt_reason"] = choose_virt_type()
        state["hosts"] = max(count, state.get("hosts", 0))
        _atomic_write(self.state_file, json.dumps(state, indent=2) + "\n")
        self.write_inventory()
        self._ensure_shared_fs(timeout)
        procs = [(host, host.start()) for host in self.hosts if not host.is_up()]
        boards = []
        try:
            python = bmc.bmc_python()
            boards = [(host.bmc, host.bmc.start(python)) for host in self.hosts
                      if not host.bmc.is_running()]
            for host, proc in procs:
                host.wait_ready(proc, timeout)
            if procs:
                procs[0][0].save_capabilities()
            for board, proc in boards:
                board.wait_ready(proc, timeout)
        except LabError:
            for board, _proc in boards:
                board.stop()
            for host, _proc in procs:
                host.kill()
            raise
        return time.monotonic() - started

    # --- shared storage ----------------------------------------------------------------------
    def shared_fs_mounted(self):
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            return any(line.split()[4] == self.shared_fs for line in handle)

    def _ensure_shared_fs(self, timeout):
        """Present the shared directory as one ``fuse.glusterfs`` mount that every host binds.

        A plain directory is ext4 to libvirt, which (rightly) refuses to live-migrate a guest
        whose disk is there.  bindfs with the subtype ``glusterfs`` makes it a file system
        libvirt counts as a cluster file system, as the real shared storage of a resource group
        would be.  It is ONE mount in the machine's namespace, bound into every host, so the
        hosts see the same inodes and file locks (virtlockd leases, QEMU image locks) work
        across hosts; a power cut of one host leaves it alone, like a real SAN.  bindfs is
        started by the lab (pid in shared-fs.pid) and stopped by `down`.  Without bindfs or
        /dev/fuse the hosts bind the plain directory instead.
        """
        os.makedirs(self.shared_fs, exist_ok=True)
        if self.shared_fs_mounted():
            return
        if not (shutil.which("bindfs") and os.path.exists("/dev/fuse")):
            return
        env = dict(os.environ, HOTIRON_LAB_HOST=f"{self.lab_id}/shared-fs")
        with open(os.path.join(self.state_dir, "shared-fs.log"), "ab") as log:
            proc = subprocess.Popen(   # pylint: disable=consider-using-with  # runs on after us
                ["bindfs", "-f", "-o", "subtype=glusterfs,fsname=hotiron-lab-shared,allow_other",
                 self.shared_dir, self.shared_fs],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True)
        _atomic_write(self.shared_fs_pid_file, f"{proc.pid}\n")
        wait_for("the shared file system", lambda: proc.poll() is not None or self.shared_fs_mounted(),
                 timeout)
        if proc.poll() is not None:
            raise LabError(f"bindfs exited with {proc.returncode}: see {self.state_dir}/shared-fs.log")

    def shared_source(self):
        """What the hosts bind at SHARED_PATH: the shared file system, or the plain directory."""
        return self.shared_fs if self.shared_fs_mounted() else self.shared_dir

    def _stop_shared_fs(self):
        if self.shared_fs_mounted():
            subprocess.run(["umount", self.shared_fs], check=True)
        try:
            with open(self.shared_fs_pid_file, encoding="utf-8") as handle:
                pid = int(handle.read().strip())
        except (OSError, ValueError):
            return
        if b"bindfs" in b" ".join(cmdline(pid)):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            wait_for("bindfs to exit", lambda: b"bindfs" not in b" ".join(cmdline(pid)), 10)
        os.unlink(self.shared_fs_pid_file)

    def revive(self, name, timeout=READY_TIMEOUT):
        """Power a killed host on again: new namespaces, same persistent directories.  A host
        that is up but whose libvirtd was killed (``kill-libvirtd``) gets its libvirtd back."""
        with self.lock():
            host = self.host(name)
            if not host.is_up():
                host.wait_ready(host.start(), timeout)
            else:
                failures.restart_libvirtd_if_dead(host)
            return host

    def kill(self, name):
        """Power cut: SIGKILL every process of the host (daemons, sshd, guests) at once."""
        with self.lock():
            return self.host(name).kill()

    # --- failures short of a power cut (failures.py) and BMCs (bmc.py) ----------------------
    def hang(self, name):
        """SIGSTOP the host's libvirtd alone; returns its pid."""
        with self.lock():
            return failures.hang(self.host(name))

    def unhang(self, name):
        """SIGCONT the host's libvirtd; returns its pid."""
        with self.lock():
            return failures.unhang(self.host(name))

    def kill_libvirtd(self, name):
        """SIGKILL the host's libvirtd alone; returns its pid."""
        with self.lock():
            return failures.kill_libvirtd(self.host(name))

    def restart_libvirtd(self, name, timeout=READY_TIMEOUT):
        """Start a killed libvirtd again and wait until it answers; returns the seconds taken."""
        with self.lock():
            return failures.restart_libvirtd(self.host(name), timeout)

    def bmc_stop(self, name):
        """Stop the host's BMC (fencing it must then fail); the host runs on."""
        with self.lock():
            return self.host(name).bmc.stop()

    def bmc_start(self, name, timeout=READY_TIMEOUT):
        """Start the host's BMC again (if it is not running) and wait until it answers."""
        with self.lock():
            board = self.host(name).bmc
            if not board.is_running():
                board.wait_ready(board.start(), timeout)
            return board

    # --- down ----------------------------------------------------------------------------------
    def down(self):
        """Stop every host (by pid), check nothing is left running or mounted, remove state."""
        with self.lock():
            for host in self.hosts:     # first the BMCs, so that none powers a host on again
                host.bmc.stop()
            for host in self.hosts:
                host.kill()
            san.stop_leftovers(self.state_dir)    # a tgtd a test run killed mid-way left listening
            import os_guest  # pylint: disable=import-outside-toplevel  # (it imports this module)
            os_guest.GuestNet(self.lab_id).down()     # the guests' bridge and its dnsmasq, if up
            self._stop_shared_fs()
            leftovers = self.leftovers()
            if leftovers:
                raise LabError("lab %d still has: %s" % (self.lab_id, "; ".join(leftovers)))
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def leftovers(self):
        """Lab processes still alive and lab mounts visible in this (the root) namespace."""
        found = []
        marker = f"HOTIRON_LAB_HOST={self.lab_id}/".encode()
        for pid in all_pids():
            try:
                with open(f"/proc/{pid}/environ", "rb") as handle:
                    env = handle.read().split(b"\0")
            except OSError:
                continue
            if any(item.startswith(marker) for item in env):
                found.append(f"process {pid} ({b' '.join(cmdline(pid)).decode(errors='replace')})")
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            for line in handle:
                mount_point = line.split()[4]
                if mount_point.startswith((self.state_dir, SHARED_PATH)):
                    found.append(f"mount {mount_point}")
        return found

    # --- inventory --------------------------------------------------------------------------
    def write_inventory(self):
        lines = ["# Generated by tests/lab/lab.py for lab %d: do not edit." % self.lab_id,
                 "all:", "  children:", "    lab:", "      hosts:"]
        ssh_args = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
        for host in self.hosts:
            lines.append(f"        {host.name}:")
            for key, value in (
                    ("ansible_host", host.address),
                    ("ansible_user", "root"),
                    ("ansible_ssh_private_key_file", self.key_file),
                    ("ansible_ssh_common_args", ssh_args),
                    ("ansible_python_interpreter", "/usr/bin/python3"),
                    ("libvirt_uri", host.uri),
                    ("lab_address", host.address),
                    ("lab_virt_type", self.virt_type),
                    ("lab_shared_path", SHARED_PATH)):
                lines.append(f"          {key}: {_yaml_str(value)}")
            # How to fence the host: its BMC (bmc.py), for fence_ipmilan.
            lines.append("          hotiron_fence:")
            for key, value in host.bmc.fence_vars().items():
                lines.append(f"            {key}: {json.dumps(value)}")      # JSON is YAML
        # It holds the BMC passwords.
        _atomic_write(self.inventory_path, "\n".join(lines) + "\n", mode=0o600)
        return self.inventory_path

    def status_lines(self):
        lines = [f"lab {self.lab_id}: {self.state_dir}",
                 f"virt type: {self.virt_type} ({self.virt_reason or choose_virt_type()[1]})",
                 f"inventory: {self.inventory_path}",
                 f"shared: {self.shared_dir} (inside hosts: {SHARED_PATH})"]
        if not self.hosts:
            lines.append("no hosts (lab is down)")
        for host in self.hosts:
            pid = host.keeper_pid()
            if pid is None:
                lines.append(f"{host.name}  down  {host.uri}")
                lines.append(f"    {self._bmc_line(host)}")
                continue
            hostname = host.run(["hostname"], check=False).stdout.strip()
            lines.append(f"{host.name}  up (keeper {pid})  hostname={hostname}  {host.uri}")
            lines.append(f"    {self._bmc_line(host)}")
            libvirtd = failures.libvirtd_state(host)
            if libvirtd != "running":
                lines.append(f"    libvirtd {libvirtd} (see `hang`, `unhang`, `restart-libvirtd`)")
                continue
            try:
                guests = host.guests()
            except (LabError, subprocess.TimeoutExpired) as exc:
                lines.append(f"    libvirtd not answering: {exc}")
                continue
            for name, state in guests:
                lines.append(f"    {name}: {state}")
            if not guests:
                lines.append("    (no guests)")
        return lines

    @staticmethod
    def _bmc_line(host):
        board = host.bmc
        pid = board.pid()
        where = f"ipmi {board.address}:{board.port}"
        return f"BMC {where}: pid {pid}" if pid else f"BMC {where}: not running"


# --- the keeper: runs inside the new namespaces (as pid of `unshare`) -----------------------
def _mount(*args):
    subprocess.run(["mount", *args], check=True)


def keeper_register(host):
    """In a keeper: become the subreaper of the daemons it starts (those that detach land with
    it, not with the machine's init), and record its pid and namespaces before any daemon
    starts, so that ``kill``/``down`` find them even if a start fails.  Returns libc."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    _atomic_write(host.pid_file, f"{os.getpid()}\n")
    _atomic_write(host.runtime_file, json.dumps({
        "pid": os.getpid(), "mnt": ns_id("self", "mnt"), "uts": ns_id("self", "uts"),
        "started": time.time()}) + "\n")
    return libc


def keeper_reap_forever():
    """The keeper's last act: reap whatever dies in its namespaces; it only dies by SIGKILL."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            time.sleep(1)
        except OSError as exc:
            if exc.errno != errno.EINTR:
                raise


def keeper_main(marker):
    lab_id, name = marker.split("/")
    lab = Lab(int(lab_id))
    host = Host(lab, int(name[2:]))
    _mount("-t", "tmpfs", "-o", "mode=755", "tmpfs", "/run")
    for path in ("/run/libvirt", "/run/lock", "/run/sshd"):
        os.makedirs(path, exist_ok=True)
    os.chmod("/run/sshd", 0o755)
    for inside, sub in PRIVATE_DIRS:
        _mount("--bind", os.path.join(host.state_dir, sub), inside)
    # /srv is replaced by a tmpfs so the mount point leaves no trace in the root filesystem.
    os.makedirs("/srv", exist_ok=True)
    _mount("-t", "tmpfs", "-o", "mode=755", "tmpfs", "/srv")
    os.makedirs(SHARED_PATH)
    socket.sethostname(host.name)
    keeper_register(host)
    # One shared file system for all hosts (Lab._ensure_shared_fs), bound here.
    _mount("--bind", lab.shared_source(), SHARED_PATH)
    for cmd in (["virtlogd", "-d"], ["virtlockd", "-d"], LIBVIRTD_CMD,
                ["/usr/sbin/sshd", "-f", os.path.join(host.ssh_dir, "sshd_config")]):
        subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL)
    keeper_reap_forever()


# --- command line -----------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the hosts (running ones are left alone)")
    up.add_argument("--hosts", type=int, default=3)
    sub.add_parser("down", help="stop every host and remove the lab's state")
    sub.add_parser("kill", help="power cut one host").add_argument("host")
    sub.add_parser("revive", help="power a killed host on again").add_argument("host")
    sub.add_parser("status", help="hosts, their guests and how guests are accelerated")
    sub.add_parser("inventory", help="print the path of the generated Ansible inventory")
    run = sub.add_parser("run", help="run a command inside a host's namespaces")
    run.add_argument("host")
    run.add_argument("cmd", nargs=argparse.REMAINDER)
    for command, text in (
            ("hang", "SIGSTOP a host's libvirtd (guests run on; only keepalive notices)"),
            ("unhang", "SIGCONT a host's libvirtd"),
            ("kill-libvirtd", "SIGKILL a host's libvirtd alone (guests run on)"),
            ("restart-libvirtd", "start a killed libvirtd again"),
            ("bmc-stop", "stop a host's BMC (fencing it then fails)"),
            ("bmc-start", "start a host's BMC again")):
        sub.add_parser(command, help=text).add_argument("host")
    for internal in ("_keeper", "_bmc"):
        sub.add_parser(internal).add_argument("marker")
    args = parser.parse_args(argv)
    if args.command == "_keeper":
        keeper_main(args.marker)
        return 0
    if args.command == "_bmc":
        return bmc.serve(args.marker)
    lab = Lab()
    try:
        if args.command == "up":
            seconds = lab.up(args.hosts)
            print(f"lab {lab.lab_id}: {len(lab.hosts)} hosts up in {seconds:.1f} s; "
                  f"guests use {lab.virt_type}: {lab.virt_reason}")
            print(f"inventory: {lab.inventory_path}")
        elif args.command == "down":
            count = len(lab.hosts)
            lab.down()
            print(f"lab {lab.lab_id}: {count} hosts down; no lab process or mount left")
        elif args.command == "kill":
            killed = lab.kill(args.host)
            print(f"{args.host}: power cut ({killed} processes killed)")
        elif args.command == "revive":
            host = lab.revive(args.host)
            print(f"{host.name}: up again at {host.uri}")
        elif args.command in ("hang", "unhang", "kill-libvirtd"):
            pid = getattr(lab, args.command.replace("-", "_"))(args.host)
            done = {"hang": "stopped (SIGSTOP)", "unhang": "continued (SIGCONT)",
                    "kill-libvirtd": "killed (SIGKILL)"}[args.command]
            print(f"{args.host}: libvirtd {pid} {done}")
        elif args.command == "restart-libvirtd":
            seconds = lab.restart_libvirtd(args.host)
            print(f"{args.host}: libvirtd answering again after {seconds:.2f} s")
        elif args.command == "bmc-stop":
            was = lab.bmc_stop(args.host)
            print(f"{args.host}: BMC {'stopped' if was else 'was not running'}")
        elif args.command == "bmc-start":
            board = lab.bmc_start(args.host)
            print(f"{args.host}: BMC answering on {board.address}:{board.port} (pid {board.pid()})")
        elif args.command == "status":
            print("\n".join(lab.status_lines()))
        elif args.command == "run":
            done = lab.host(args.host).run(args.cmd or ["sh"], check=False, capture_output=False)
            return done.returncode
        elif args.command == "inventory":
            if not os.path.exists(lab.inventory_path):
                print(f"lab {lab.lab_id} is not up (no {lab.inventory_path})", file=sys.stderr)
                return 1
            print(lab.inventory_path)
    except LabError as exc:
        print(f"lab {lab.lab_id}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
