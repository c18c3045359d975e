# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fresh hosts: minimal Debian 12 (or, with FRESH_SUITE=trixie, 13) systems on which nothing of
libvirt is installed yet.

The lab's hosts (lab.py) share this machine's /usr, so libvirt and QEMU are always there.
A fresh host has a root file system of its own, made by ``debootstrap --variant=minbase``
from deb.debian.org (cached as a tarball under ROOT_DIR/rootfs-cache/, so later rounds only
unpack it), and is, like a lab host, a keeper process started by ``unshare --mount --uts
--propagation private`` that pivots into that root and starts an sshd on the host's own
loopback address.  Ansible then installs, configures and starts libvirt in it as on a real
host.  The host shares the machine's network namespace: it reaches loopback and, for apt,
the Debian mirror through the machine's resolver.

Usage::

    FRESH_ID=230 python tests/lab/fresh_host.py up --hosts 3 [--init systemd]
                                                | down | status | inventory
                                                | run HOST [CMD...] | rootfs [--init systemd]

With ``--init systemd`` the hosts boot systemd as their PID 1 under systemd-nspawn
(systemd_host.py); an instance is one kind or the other, recorded when it comes up.

Instance ids are 230..239 (state under ROOT_DIR/fresh-<id>/, host ``fresh<n>`` at
``127.77.<id>.<n>``).  Only processes of the fresh hosts are ever signalled, by pid: every
process whose mount or UTS namespace is a keeper's.  Only the standard library is used.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lab  # noqa: E402  # pylint: disable=wrong-import-position
from lab import LabError, ROOT_DIR  # noqa: E402  # pylint: disable=wrong-import-position

# The Debian release of the fresh hosts' roots: bookworm (12), or trixie (13) with FRESH_SUITE.
SUITES = ("bookworm", "trixie")
SUITE = os.environ.get("FRESH_SUITE") or "bookworm"
MIRROR = "http://deb.debian.org/debian"
INCLUDE = ("python3", "openssh-server")
INITS = ("sysv", "systemd")     # sysv: no init, the keeper starts sshd; systemd: systemd_host.py
CACHE_DIR = os.path.join(ROOT_DIR, "rootfs-cache")
FRESH_IDS = range(230, 240)
DEFAULT_ID = 230
MAX_HOSTS = 9
READY_TIMEOUT = 60.0
SSH_ARGS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
SSHD_CONFIG = "/etc/ssh/hotiron_sshd_config"      # inside the host
SYS_PIVOT_ROOT = 155                               # x86_64
MNT_DETACH = 2
# Package scripts must not start daemons in the host (invoke-rc.d asks this first): the role
# starts them itself, as it would on a host without systemd.
POLICY_RC_D = "#!/bin/sh\n# Written by tests/lab/fresh_host.py: no service starts from package scripts.\nexit 101\n"
# Device nodes of the host's own /dev (a tmpfs): nodes of its own, not the machine's, so that
# a chown or chmod in the host (the role sets /dev/kvm's group) stays in the host.
DEVICES = (
    # name, major, minor, mode
    ("null", 1, 3, 0o666), ("zero", 1, 5, 0o666), ("full", 1, 7, 0o666),
    ("random", 1, 8, 0o666), ("urandom", 1, 9, 0o666), ("tty", 5, 0, 0o666),
    ("kvm", 10, 232, 0o660),
)
DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
             ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"))


# --- pure helpers (tested in tests/unit/lab/test_fresh_host.py) -------------------------------
def check_fresh_id(fresh_id):
    """The instance id as an int, refused outside FRESH_IDS (other ids belong to other labs)."""
    value = int(fresh_id)
    if value not in FRESH_IDS:
        raise LabError(f"fresh host ids are {FRESH_IDS.start}..{FRESH_IDS.stop - 1}, not {value}")
    return value


def host_address(fresh_id, index):
    if not 1 <= index <= MAX_HOSTS:
        raise LabError(f"a fresh instance has 1 to {MAX_HOSTS} hosts, not {index}")
    return f"127.77.{fresh_id}.{index}"


def cache_name(suite=SUITE, include=INCLUDE, mirror=MIRROR):
    """File name of the cached root file system: what it was made from is in the name."""
    digest = hashlib.sha256(
        json.dumps([suite, "minbase", sorted(include), mirror]).encode()).hexdigest()[:12]
    return f"debian-{suite}-minbase-{digest}.tar"


def debootstrap_command(target, suite=SUITE, include=INCLUDE, mirror=MIRROR):
    return ["debootstrap", "--variant=minbase", "--include=" + ",".join(sorted(include)),
            suite, target, mirror]


def inventory_text(fresh_id, hosts, key_file, virt_type, init="sysv"):
    """The YAML inventory of a fresh instance: group ``lab`` with the lab's hostvars, and
    ``lab_init`` (sysv or systemd).

    ``hosts`` is a list of (name, address)."""
    def quoted(value):
        return json.dumps(str(value))
    lines = [f"# Generated by tests/lab/fresh_host.py for fresh instance {fresh_id}: do not edit.",
             "all:", "  children:", "    lab:", "      hosts:"]
    for name, address in hosts:
        lines.append(f"        {name}:")
        for key, value in (
                ("ansible_host", address),
                ("ansible_user", "root"),
                ("ansible_ssh_private_key_file", key_file),
                ("ansible_ssh_common_args", SSH_ARGS),
                ("ansible_python_interpreter", "/usr/bin/python3"),
                ("libvirt_uri", f"qemu+tcp://{address}/system"),
                ("lab_address", address),
                ("lab_virt_type", virt_type),
                ("lab_init", init)):
            lines.append(f"          {key}: {quoted(value)}")
    return "\n".join(lines) + "\n"


def sshd_config_text(name, address, authorized_keys="/root/.ssh/authorized_keys"):
    return (
        f"# Written by tests/lab/fresh_host.py: fresh host {name}\n"
        f"ListenAddress {address}:22\n"
        "HostKey /etc/ssh/ssh_host_ed25519_key\n"
        "PidFile /run/sshd.pid\n"
        f"AuthorizedKeysFile {authorized_keys}\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        "UseDNS no\n"
        "PrintMotd no\n"
        "AcceptEnv LANG LC_*\n"
        "Subsystem sftp internal-sftp\n")


def mounts_under(mountinfo_text, path):
    """Mount points in a /proc/<pid>/mountinfo text that are ``path`` or below it."""
    path = path.rstrip("/")
    found = []
    for line in mountinfo_text.splitlines():
        fields = line.split()
        if len(fields) > 4:
            point = fields[4].replace("\\040", " ")
            if point == path or point.startswith(path + "/"):
                found.append(point)
    return found


def host_pids(namespaces, keeper_ns, self_pid):
    """Pids whose mount or UTS namespace is the keeper's.  ``namespaces`` maps pid to
    (mnt, uts) ids; ``keeper_ns`` is the keeper's (mnt, uts)."""
    mnt, uts = keeper_ns
    return sorted(pid for pid, (p_mnt, p_uts) in namespaces.items()
                  if pid != self_pid and (p_mnt == mnt or p_uts == uts))


# --- the root file system -----------------------------------------------------------------------
def _run(cmd, check=True, **kwargs):
    return subprocess.run(cmd, check=check, **kwargs)


def rootfs_tarball(log=print, suite=None, include=INCLUDE):
    """Path of the cached root file system of ``suite`` (SUITE by default) with ``include``,
    made with debootstrap the first time.

    Returns (path, seconds spent making it, 0 if it was cached)."""
    suite = suite or SUITE
    if suite not in SUITES:
        raise LabError(f"fresh hosts are Debian {' or '.join(SUITES)}, not {suite!r}")
    os.makedirs(CACHE_DIR, exist_ok=True)
    tarball = os.path.join(CACHE_DIR, cache_name(suite, include))
    if os.path.exists(tarball):
        return tarball, 0.0
    lab.ensure_debootstrap(log)
    started = time.monotonic()
    build = os.path.join(CACHE_DIR, f"build.{os.getpid()}")
    shutil.rmtree(build, ignore_errors=True)
    os.makedirs(build)
    try:
        log(f"debootstrap {suite} (minbase + {', '.join(include)}) from {MIRROR} ...")
        # In a mount namespace of its own: the /proc and /sys debootstrap mounts in the
        # target go away with it, even if it is interrupted.
        with open(os.path.join(CACHE_DIR, "debootstrap.log"), "ab") as out:
            _run(["unshare", "--mount", "--propagation", "private", "--",
                  *debootstrap_command(os.path.join(build, "root"), suite, include)],
                 stdout=out, stderr=subprocess.STDOUT)
        root = os.path.join(build, "root")
        # Per host, not per image: the sshd host keys (made again at `up`), downloaded .debs.
        ssh_dir = os.path.join(root, "etc", "ssh")
        for entry in os.listdir(ssh_dir) if os.path.isdir(ssh_dir) else ():
            if entry.startswith("ssh_host_"):
                os.unlink(os.path.join(ssh_dir, entry))
        archives = os.path.join(root, "var", "cache", "apt", "archives")
        for entry in os.listdir(archives):
            if entry.endswith(".deb"):
                os.unlink(os.path.join(archives, entry))
        tmp = tarball + ".tmp"
        _run(["tar", "--numeric-owner", "--xattrs", "-C", root, "-cf", tmp, "."])
        os.replace(tmp, tarball)
    finally:
        if not mounts_under(_read("/proc/self/mountinfo"), build):
            shutil.rmtree(build, ignore_errors=True)
    return tarball, time.monotonic() - started


def packages_cache_name(base_name, packages):
    """File name of a cached root: the base root's name and the packages added to it."""
    stem = base_name[:-len(".tar")] if base_name.endswith(".tar") else base_name
    digest = hashlib.sha256(json.dumps(sorted(packages)).encode()).hexdigest()[:8]
    return f"{stem}-pkgs-{digest}.tar"


# Inside the chroot that makes a cached root: no package script may start a daemon there.
CHROOT_POLICY = "#!/bin/sh\nexit 101\n"


def rootfs_with_packages(packages, log=print):
    """Path of the cached root of SUITE with ``packages`` added (apt-get in a chroot, without
    Recommends), made from the base root the first time: for tests that need libvirt already
    installed and would otherwise download and install it on every host of every run.

    Returns (path, seconds spent making the base and this root, 0 if both were cached)."""
    base, base_seconds = rootfs_tarball(log)
    tarball = os.path.join(CACHE_DIR, packages_cache_name(os.path.basename(base), packages))
    if os.path.exists(tarball):
        return tarball, base_seconds
    started = time.monotonic()
    build = os.path.join(CACHE_DIR, f"build-pkgs.{os.getpid()}")
    root = os.path.join(build, "root")
    _run(["rm", "-rf", "--one-file-system", build])
    os.makedirs(root)
    try:
        log(f"adding {', '.join(sorted(packages))} to the cached root with apt-get ...")
        _run(["tar", "--numeric-owner", "--xattrs", "-C", root, "-xf", base])
        shutil.copyfile("/etc/resolv.conf", os.path.join(root, "etc", "resolv.conf"))
        lab._atomic_write(os.path.join(root, "usr", "sbin", "policy-rc.d"), CHROOT_POLICY, mode=0o755)
        script = ("mount -t proc proc \"$1/proc\" && chroot \"$1\" sh -c 'apt-get update -q && "
                  "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
                  + " ".join(sorted(packages)) + " && apt-get clean'")
        with open(os.path.join(CACHE_DIR, "packages-root.log"), "ab") as out:
            # A mount namespace of its own: /proc goes away with it.
            _run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", root],
                 stdout=out, stderr=subprocess.STDOUT)
        for path in ("usr/sbin/policy-rc.d", "etc/resolv.conf"):
            os.unlink(os.path.join(root, path))
        _run(["find", os.path.join(root, "var", "lib", "apt", "lists"), "-type", "f", "-delete"])
        tmp = tarball + ".tmp"
        _run(["tar", "--numeric-owner", "--xattrs", "-C", root, "-cf", tmp, "."])
        os.replace(tmp, tarball)
    finally:
        if not mounts_under(_read("/proc/self/mountinfo"), build):
            _run(["rm", "-rf", "--one-file-system", build], check=False)
    return tarball, base_seconds + time.monotonic() - started


def _read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


# --- one fresh host ----------------------------------------------------------------------------
class FreshHost(lab.Host):
    """A host ``fresh<n>`` with a root file system of its own.  Reuses the lab host's keeper
    bookkeeping (keeper_pid, kill, run) with its own paths and marker."""

    def __init__(self, instance, index):
        super().__init__(instance, index)
        self.name = f"fresh{index}"
        self.address = host_address(instance.lab_id, index)
        self.uri = f"qemu+tcp://{self.address}/system"
        self.state_dir = os.path.join(instance.state_dir, self.name)
        self.root = os.path.join(self.state_dir, "root")
        self.images_dir = os.path.join(self.root, "var", "lib", "libvirt", "images")
        self.ssh_dir = os.path.join(self.root, "etc", "ssh")
        self.runtime_file = os.path.join(self.state_dir, "keeper.json")
        self.pid_file = os.path.join(self.state_dir, "keeper.pid")
        self.log_file = os.path.join(self.state_dir, "keeper.log")

    def __repr__(self):
        return f"<FreshHost {self.name} {self.address}>"

    @property
    def marker(self):
        return f"fresh-{self.lab.lab_id}/{self.name}"

    def inside(self, path):
        """The outside path of ``path`` inside the host's root."""
        return os.path.join(self.root, path.lstrip("/"))

    def prepare(self, tarball):
        """A new copy of the root file system, with this host's name, sshd and keys."""
        os.makedirs(self.state_dir, exist_ok=True)
        os.chmod(self.state_dir, 0o755)
        if os.path.isdir(self.root):
            self.lab.remove_tree(self.root)
        os.makedirs(self.root)
        _run(["tar", "--numeric-owner", "--xattrs", "-C", self.root, "-xf", tarball])
        lab._atomic_write(self.inside("/etc/hostname"), self.name + "\n")
        lab._atomic_write(self.inside("/etc/hosts"), (
            "127.0.0.1\tlocalhost\n"
            f"{self.address}\t{self.name}\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"))
        # apt must reach deb.debian.org: the machine's resolver.
        shutil.copyfile("/etc/resolv.conf", self.inside("/etc/resolv.conf"))
        lab._atomic_write(self.inside("/usr/sbin/policy-rc.d"), POLICY_RC_D, mode=0o755)
        key = self.inside("/etc/ssh/ssh_host_ed25519_key")
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", self.name, "-f", key])
        lab._atomic_write(self.inside(SSHD_CONFIG), sshd_config_text(self.name, self.address))
        ssh_root = self.inside("/root/.ssh")
        os.makedirs(ssh_root, mode=0o700, exist_ok=True)
        shutil.copyfile(self.lab.key_file + ".pub", os.path.join(ssh_root, "authorized_keys"))
        os.chmod(os.path.join(ssh_root, "authorized_keys"), 0o600)
        # The shared lockspace (the molecule scenario puts it next to the ssh key) at the
        # same path inside as outside.
        os.makedirs(self.inside(self.lab.lockspace_dir), exist_ok=True)

    KEEPER_SCRIPT = os.path.abspath(__file__)

    def start(self, tarball):
        self.kill()
        self.prepare(tarball)
        return self.spawn_keeper()

    def keeper_env(self):
        return dict(super().keeper_env(), FRESH_ID=str(self.lab.lab_id))

    def readiness(self):
        """The keeper and sshd: libvirt comes later, installed by the role."""
        return [(f"{self.name} keeper", self.keeper_pid, 0.05),
                (f"{self.name} sshd on {self.address}:22", lambda: lab.tcp_open(self.address, 22, b"SSH-"), 0.05)]

    def _orphan_pid(self, runtime):
        """A process still in both recorded namespaces of a keeper that is gone.  Unlike the
        lab's, it need not carry the keeper's marker: what Ansible starts over ssh (libvirtd
        by start-stop-daemon) does not.  Both ids must match, and a namespace id cannot be
        reused while a process still holds the namespace."""
        if not runtime:
            return None
        for pid in lab.all_pids():
            if pid != os.getpid() and (lab.ns_id(pid, "mnt"), lab.ns_id(pid, "uts")) == (
                    runtime["mnt"], runtime["uts"]):
                return pid
        return None

    # How the instance takes hosts down (systemd hosts power off cleanly first).
    def request_poweroff(self):
        return False

    def finish_poweroff(self, timeout=None):  # pylint: disable=unused-argument
        """No init to power off: a kill.  False: the host did not power off by itself."""
        self.kill()
        return False

    def process_count(self, pid):
        return len(self.processes(lab.ns_id(pid, "mnt"), lab.ns_id(pid, "uts")))

    def status_words(self):
        return ""

    def processes(self, mnt, uts):
        namespaces = {}
        for pid in lab.all_pids():
            namespaces[pid] = (lab.ns_id(pid, "mnt"), lab.ns_id(pid, "uts"))
        return host_pids(namespaces, (mnt, uts), os.getpid())


class FreshInstance(lab.Lab):
    """Fresh hosts fresh1..N at 127.77.<id>.<n>, state under ROOT_DIR/fresh-<id>."""

    def __init__(self, fresh_id=None):
        if fresh_id is None:
            fresh_id = os.environ.get("FRESH_ID", DEFAULT_ID)
        fresh_id = check_fresh_id(fresh_id)
        super().__init__(fresh_id)
        self.state_dir = os.path.join(ROOT_DIR, f"fresh-{fresh_id}")
        self.key_file = os.path.join(self.state_dir, "id_ed25519")
        self.inventory_path = os.path.join(self.state_dir, "inventory.yml")
        self.state_file = os.path.join(self.state_dir, "fresh.json")
        self.lockspace_dir = os.path.join(self.state_dir, "lockspace")
        self.shared_dir = self.shared_fs = self.shared_fs_pid_file = None

    def lock(self):
        os.makedirs(ROOT_DIR, exist_ok=True)
        handle = open(os.path.join(ROOT_DIR, f".fresh-{self.lab_id}.lock"), "w",  # pylint: disable=consider-using-with
                      encoding="utf-8")
        import fcntl  # pylint: disable=import-outside-toplevel
        fcntl.flock(handle, fcntl.LOCK_EX)
        return handle

    @property
    def init(self):
        """sysv or systemd: what the instance's hosts boot, recorded by ``up``."""
        return self._state().get("init", "sysv")

    def host_class(self):
        if self.init == "systemd":
            import systemd_host  # pylint: disable=import-outside-toplevel
            return systemd_host.SystemdHost
        return FreshHost

    @property
    def hosts(self):
        cls = self.host_class()
        count = self._state().get("hosts", 0)
        try:
            names = os.listdir(self.state_dir)
        except FileNotFoundError:
            names = []
        for name in names:
            if name.startswith("fresh") and name[5:].isdigit():
                count = max(count, int(name[5:]))
        return [cls(self, index) for index in range(1, count + 1)]

    def up(self, count=3, timeout=READY_TIMEOUT, log=print, init="sysv", packages=()):
        """Start hosts fresh1..fresh<count>, each on a new copy of the cached root file system
        (``init`` systemd: booting systemd, see systemd_host.py; ``packages``: a sysv root with
        those packages already installed, see rootfs_with_packages).
        Returns {'rootfs': seconds making the rootfs (0 if cached), 'up': seconds in all}."""
        if not 1 <= count <= MAX_HOSTS:
            raise LabError(f"a fresh instance has 1 to {MAX_HOSTS} hosts")
        if init not in INITS:
            raise LabError(f"init is one of {', '.join(INITS)}, not {init!r}")
        if self.hosts and any(host.is_up() for host in self.hosts) and self.init != init:
            raise LabError(f"fresh instance {self.lab_id} runs {self.init} hosts: take it down first")
        # Lab <id> and fresh instance <id> would both use 127.77.<id>.<n>.
        if any(host.is_up() for host in lab.Lab(self.lab_id).hosts):
            raise LabError(f"lab {self.lab_id} is up and uses the addresses 127.77.{self.lab_id}.*: "
                           f"take it down or use another FRESH_ID")
        started = time.monotonic()
        if packages and init != "sysv":
            raise LabError("packages are added to sysv roots only")
        if init == "systemd":
            import systemd_host  # pylint: disable=import-outside-toplevel
            tarball, rootfs_seconds = systemd_host.rootfs_tarball(log)
        elif packages:
            tarball, rootfs_seconds = rootfs_with_packages(packages, log)
        else:
            tarball, rootfs_seconds = rootfs_tarball(log)
        with self.lock():
            os.makedirs(self.state_dir, exist_ok=True)
            os.chmod(self.state_dir, 0o755)
            os.makedirs(self.lockspace_dir, exist_ok=True)
            if not os.path.exists(self.key_file):
                _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                      f"hotiron-fresh-{self.lab_id}", "-f", self.key_file])
            state = self._state()
            if "virt_type" not in state:
                state["virt_type"], state["virt_reason"] = lab.choose_virt_type()
            state["hosts"] = max(count, state.get("hosts", 0))
            state["init"] = init
            lab._atomic_write(self.state_file, json.dumps(state, indent=2) + "\n")
            self.write_inventory()
            procs = [(host, host.start(tarball)) for host in self.hosts if not host.is_up()]
            try:
                for host, proc in procs:
                    host.wait_ready(proc, timeout)
            except LabError:
                for host, _proc in procs:
                    host.kill()
                raise
        return {"rootfs": rootfs_seconds, "up": time.monotonic() - started}

    def write_inventory(self):
        text = inventory_text(self.lab_id, [(h.name, h.address) for h in self.hosts],
                              self.key_file, self.virt_type, self.init)
        lab._atomic_write(self.inventory_path, text)
        return self.inventory_path

    def down(self):
        """Stop every host (systemd hosts power off, all at once; what is left is killed by
        pid), check nothing of ours is left running or mounted, remove the copies and the
        instance's state."""
        with self.lock():
            hosts = self.hosts
            for host in hosts:
                host.request_poweroff()
            killed = [host.name for host in hosts if not host.finish_poweroff()]
            leftovers = self.leftovers()
            if leftovers:
                raise LabError("fresh instance %d still has: %s" % (self.lab_id, "; ".join(leftovers)))
            if os.path.isdir(self.state_dir):
                self.remove_tree(self.state_dir)
            return killed

    def leftovers(self):
        found = []
        marker = f"HOTIRON_LAB_HOST=fresh-{self.lab_id}/".encode()
        for pid in lab.all_pids():
            try:
                with open(f"/proc/{pid}/environ", "rb") as handle:
                    env = handle.read().split(b"\0")
            except OSError:
                continue
            if any(item.startswith(marker) for item in env):
                found.append(f"process {pid} ({b' '.join(lab.cmdline(pid)).decode(errors='replace')})")
        found += [f"mount {point}" for point in mounts_under(_read("/proc/self/mountinfo"), self.state_dir)]
        for host in self.hosts:
            runtime = host._runtime()  # pylint: disable=protected-access
            if runtime and "pidns" in runtime:
                found += [f"process {pid} of {host.name}" for pid in host.pidns_processes(runtime)]
            found += [f"cgroup {path}" for path in getattr(host, "cgroup_leftovers", list)()]
        return found

    def remove_tree(self, path):
        """rm -rf, refused while anything is mounted below ``path`` in this namespace."""
        mounted = mounts_under(_read("/proc/self/mountinfo"), path)
        if mounted:
            raise LabError(f"not removing {path}: mounted below it: {', '.join(mounted)}")
        _run(["rm", "-rf", "--one-file-system", path])

    def status_lines(self):
        cached = os.path.join(CACHE_DIR, cache_name())
        if self.init == "systemd":
            import systemd_host  # pylint: disable=import-outside-toplevel
            cached = os.path.join(CACHE_DIR, systemd_host.systemd_cache_name(cache_name()))
        lines = [f"fresh instance {self.lab_id} ({self.init} hosts): {self.state_dir}",
                 f"rootfs cache: {cached} ({'present' if os.path.exists(cached) else 'not made yet'})",
                 f"inventory: {self.inventory_path}"]
        if not self.hosts:
            lines.append("no hosts (instance is down)")
        for host in self.hosts:
            pid = host.keeper_pid()
            if pid is None:
                lines.append(f"{host.name}  down  {host.address}")
                continue
            count = host.process_count(pid)
            libvirtd = "libvirtd listening" if lab.tcp_open(host.address, lab.LIBVIRTD_PORT) else "no libvirtd"
            extra = host.status_words()
            lines.append(f"{host.name}  up (keeper {pid}, {count} processes)  ssh root@{host.address}  {libvirtd}"
                         + (f"  {extra}" if extra else ""))
        return lines


# --- the keeper: runs inside the new namespaces (as pid of `unshare`) -------------------------
def _make_dev(dev):
    lab._mount("-t", "tmpfs", "-o", "mode=755,nosuid,noexec", "tmpfs", dev)
    for name, major, minor, mode in DEVICES:
        if name == "kvm" and not os.path.exists("/dev/kvm"):
            continue
        path = os.path.join(dev, name)
        os.mknod(path, mode | 0o020000, os.makedev(major, minor))
        os.chmod(path, mode)
    for sub in ("pts", "shm", "net"):
        os.makedirs(os.path.join(dev, sub))
    lab._mount("-t", "devpts", "-o", "newinstance,ptmxmode=0666,mode=620,nosuid,noexec", "devpts",
               os.path.join(dev, "pts"))
    lab._mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", os.path.join(dev, "shm"))
    for name, target in DEV_LINKS:
        os.symlink(target, os.path.join(dev, name))


def keeper_main(marker):
    instance_part, name = marker.split("/")
    instance = FreshInstance(int(instance_part.split("-")[1]))
    host = FreshHost(instance, int(name[len("fresh"):]))
    root = host.root
    lab._mount("--bind", root, root)                   # pivot_root wants a mount point
    lab._mount("-t", "proc", "-o", "nosuid,nodev,noexec", "proc", os.path.join(root, "proc"))
    # The host shares the machine's network namespace: its sysctls must stay read-only.
    lab._mount("--bind", os.path.join(root, "proc/sys"), os.path.join(root, "proc/sys"))
    lab._mount("-o", "remount,bind,ro", os.path.join(root, "proc/sys"))
    lab._mount("-t", "sysfs", "-o", "ro,nosuid,nodev,noexec", "sysfs", os.path.join(root, "sys"))
    _make_dev(os.path.join(root, "dev"))
    run = os.path.join(root, "run")
    lab._mount("-t", "tmpfs", "-o", "mode=755,nosuid,nodev", "tmpfs", run)
    for sub, mode in (("lock", 0o1777), ("sshd", 0o755)):
        os.makedirs(os.path.join(run, sub))
        os.chmod(os.path.join(run, sub), mode)
    lab._mount("--bind", instance.lockspace_dir, host.inside(instance.lockspace_dir))
    socket.sethostname(host.name)
    libc = lab.keeper_register(host)
    # Into the new root; the machine's root is detached, so nsenter -m lands in the host.
    os.chdir(root)
    os.makedirs(".oldroot", exist_ok=True)
    if libc.syscall(SYS_PIVOT_ROOT, b".", b".oldroot") != 0:
        raise OSError(ctypes.get_errno(), "pivot_root")
    os.chdir("/")
    if libc.umount2(b"/.oldroot", MNT_DETACH) != 0:
        raise OSError(ctypes.get_errno(), "umount /.oldroot")
    os.rmdir("/.oldroot")
    subprocess.run(["/usr/sbin/sshd", "-f", SSHD_CONFIG], check=True, stdin=subprocess.DEVNULL)
    lab.keeper_reap_forever()


# --- command line ---------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start fresh hosts (running ones are left alone)")
    up.add_argument("--hosts", type=int, default=3)
    up.add_argument("--init", choices=INITS, default="sysv",
                    help="systemd: the hosts boot systemd under systemd-nspawn")
    sub.add_parser("down", help="stop every host, unmount, remove the copies")
    sub.add_parser("status", help="the hosts and what runs in them")
    sub.add_parser("inventory", help="print the path of the generated Ansible inventory")
    sub.add_parser("rootfs", help="make the cached root file system (if missing), print its path").add_argument(
        "--init", choices=INITS, default="sysv")
    run = sub.add_parser("run", help="run a command inside a host")
    run.add_argument("host")
    run.add_argument("cmd", nargs=argparse.REMAINDER)
    sub.add_parser("_keeper").add_argument("marker")
    args = parser.parse_args(argv)
    if args.command == "_keeper":
        keeper_main(args.marker)
        return 0
    try:
        instance = FreshInstance()
        if args.command == "up":
            times = instance.up(args.hosts, init=args.init)
            made = f"rootfs made in {times['rootfs']:.0f} s, " if times["rootfs"] else ""
            print(f"fresh instance {instance.lab_id}: {len(instance.hosts)} {args.init} hosts up in "
                  f"{times['up']:.1f} s ({made}guests would use {instance.virt_type})")
            print(f"inventory: {instance.inventory_path}")
        elif args.command == "down":
            count, init = len(instance.hosts), instance.init
            killed = instance.down()
            how = (f"killed: {', '.join(killed)}" if killed else "all powered off cleanly") if init == "systemd" else "killed"
            print(f"fresh instance {instance.lab_id}: {count} hosts down ({how}); no process or mount left")
        elif args.command == "status":
            print("\n".join(instance.status_lines()))
        elif args.command == "inventory":
            if not os.path.exists(instance.inventory_path):
                print(f"fresh instance {instance.lab_id} is not up", file=sys.stderr)
                return 1
            print(instance.inventory_path)
        elif args.command == "rootfs":
            if args.init == "systemd":
                import systemd_host  # pylint: disable=import-outside-toplevel
                path, seconds = systemd_host.rootfs_tarball()
            else:
                path, seconds = rootfs_tarball()
            print(f"{path}" + (f" (made in {seconds:.0f} s)" if seconds else " (cached)"))
        elif args.command == "run":
            done = instance.host(args.host).run(args.cmd or ["sh"], check=False, capture_output=False)
            return done.returncode
    except LabError as exc:
        print(f"fresh hosts: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
