# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fresh hosts that boot systemd: Debian 12 roots with systemd as their PID 1.

A fresh host (fresh_host.py) runs only an sshd; a systemd host is the same minimal Debian
root with ``systemd systemd-sysv dbus`` installed into it (a second cached tarball, made
from the first with apt in a chroot), booted by Debian's ``systemd-nspawn -b`` although
this machine has no systemd::

    systemd-nspawn -D ROOT -b --register=no --keep-unit -M hotiron-<id>-fresh<n> --console=pipe ...

``--register=no --keep-unit`` keep nspawn from asking a machined and a system bus that this
machine does not have.  The container shares the machine's network namespace (as every lab
host does): its sshd listens on the host's own lab address only (``/etc/ssh/sshd_config``
written here, started by the root's own ``ssh.service``), and nspawn gives it no
CAP_NET_ADMIN, so nothing in it can add interfaces or firewall rules to the machine.  No
``policy-rc.d``: package scripts start their services through systemd as on a real host.

Each host has cgroups of its own: nspawn is started in ``<hierarchy>/hotiron-lab/fresh-<id>/
fresh<n>`` of every writable hierarchy (the named ``systemd`` one and the unified one), where
it makes its ``payload/`` (the container's systemd) and ``supervisor/``; two nspawns started
from one cgroup would share one ``payload/``.

Going down: ``SIGRTMIN+4`` to the container's init, by its pid (``systemd`` powers off: units
stopped in order, libvirtd and its guests included), then nspawn exits; if that takes longer
than a timeout, SIGKILL to every process in the host's PID namespace, by pid.  The cgroups are
removed afterwards.  Nothing is ever signalled by name.

Usage: ``FRESH_ID=236 python tests/lab/fresh_host.py up --hosts 2 --init systemd``; the other
commands of fresh_host.py (down, status, inventory, run) follow the instance's kind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid

import lab
from lab import LabError
import fresh_host

SYSTEMD_PACKAGES = ("dbus", "systemd", "systemd-sysv")
CGROUP_PARENT = "hotiron-lab"
POWEROFF = signal.SIGRTMIN + 4          # systemd: orderly poweroff
POWEROFF_TIMEOUT = 90.0
KVM_NODE = "dev-kvm"                    # the host's own /dev/kvm node, in its state directory
# Inside the chroot that makes the cached root: no package script may start a daemon there.
CHROOT_POLICY = "#!/bin/sh\nexit 101\n"


# --- pure helpers (tested in tests/unit/lab/test_systemd_host.py) ------------------------------
def systemd_cache_name(base_name, packages=SYSTEMD_PACKAGES):
    """The cached systemd root's file name: the base root's name and what was added to it."""
    stem = base_name[:-len(".tar")] if base_name.endswith(".tar") else base_name
    digest = hashlib.sha256(json.dumps(sorted(packages)).encode()).hexdigest()[:8]
    return f"{stem}-systemd-{digest}.tar"


def machine_name(fresh_id, host_name):
    """nspawn's machine name: unique on this machine (nspawn keeps per-machine state in
    /run/systemd/nspawn), unlike the host name, which is fresh<n> in every instance."""
    return f"hotiron-{fresh_id}-{host_name}"


def nspawn_command(root, machine, hostname, binds=()):
    """The systemd-nspawn command line booting ``root``.  ``binds`` are (source, target)."""
    cmd = ["systemd-nspawn", "--quiet", "-D", root, "-b", "--register=no", "--keep-unit",
           "-M", machine, f"--hostname={hostname}", "--console=pipe",
           # A copy of the machine's resolver (apt must reach deb.debian.org); the machine's
           # journal directory and timezone are left alone.
           "--resolv-conf=copy-host", "--link-journal=no", "--timezone=off"]
    for source, target in binds:
        cmd.append(f"--bind={source}" if source == target else f"--bind={source}:{target}")
    return cmd


def cgroup_roots(mountinfo_text):
    """Mount points of the cgroup hierarchies systemd in a container writes to: the named
    ``systemd`` v1 hierarchy and the unified (v2) one, as mounted on this machine."""
    roots = []
    for line in mountinfo_text.splitlines():
        left, _sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        if tail[0] == "cgroup2" or (tail[0] == "cgroup" and "name=systemd" in tail[2].split(",")):
            roots.append(fields[4])
    return roots


def status_field(status_text, key):
    """The values of ``key`` in a /proc/<pid>/status text, as a list of strings."""
    for line in status_text.splitlines():
        name, _sep, value = line.partition(":")
        if name == key:
            return value.split()
    return []


def init_of(candidates, nspawn_pid):
    """The container's init among ``candidates`` ({pid: (ppid, [nspids])}): a child of nspawn
    that is pid 1 of a namespace of its own."""
    for pid, (ppid, nspids) in sorted(candidates.items()):
        if ppid == nspawn_pid and len(nspids) > 1 and nspids[-1] == "1":
            return pid
    return None


# --- the cached root -------------------------------------------------------------------------------
def rootfs_tarball(log=print):
    """Path of the cached systemd root, made from the base root the first time.

    Returns (path, seconds spent making the base and this root, 0 if both were cached)."""
    base, base_seconds = fresh_host.rootfs_tarball(log)
    tarball = os.path.join(fresh_host.CACHE_DIR, systemd_cache_name(os.path.basename(base)))
    if os.path.exists(tarball):
        return tarball, base_seconds
    started = time.monotonic()
    build = os.path.join(fresh_host.CACHE_DIR, f"build-systemd.{os.getpid()}")
    root = os.path.join(build, "root")
    subprocess.run(["rm", "-rf", "--one-file-system", build], check=True)
    os.makedirs(root)
    try:
        log(f"adding {', '.join(SYSTEMD_PACKAGES)} to the cached root with apt-get ...")
        subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", root, "-xf", base], check=True)
        shutil.copyfile("/etc/resolv.conf", os.path.join(root, "etc", "resolv.conf"))
        lab._atomic_write(os.path.join(root, "usr", "sbin", "policy-rc.d"), CHROOT_POLICY, mode=0o755)
        script = ("mount -t proc proc \"$1/proc\" && chroot \"$1\" sh -c 'apt-get update -q && "
                  "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
                  + " ".join(SYSTEMD_PACKAGES) + " && apt-get clean'")
        with open(os.path.join(fresh_host.CACHE_DIR, "systemd-root.log"), "ab") as out:
            # A mount namespace of its own: /proc goes away with it.
            subprocess.run(["unshare", "--mount", "--propagation", "private", "--",
                            "sh", "-c", script, "sh", root], check=True, stdout=out, stderr=subprocess.STDOUT)
        for path in ("usr/sbin/policy-rc.d", "etc/resolv.conf"):
            os.unlink(os.path.join(root, path))
        # Per host: the machine id (written at `up`); package lists are fetched by the role.
        lab._atomic_write(os.path.join(root, "etc", "machine-id"), "")
        subprocess.run(["find", os.path.join(root, "var", "lib", "apt", "lists"), "-type", "f",
                        "-delete"], check=True)
        tmp = tarball + ".tmp"
        subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", root, "-cf", tmp, "."], check=True)
        os.replace(tmp, tarball)
    finally:
        if not fresh_host.mounts_under(fresh_host._read("/proc/self/mountinfo"), build):
            subprocess.run(["rm", "-rf", "--one-file-system", build], check=False)
    return tarball, base_seconds + time.monotonic() - started


# --- one systemd host -------------------------------------------------------------------------------
class SystemdHost(fresh_host.FreshHost):
    """``fresh<n>`` booted by systemd-nspawn.  Its runtime record (keeper.json) holds nspawn's
    pid and the container init's pid and namespaces; ``keeper_pid`` is the init's pid, so
    ``run`` (nsenter) lands in the host as with the other hosts."""

    def __init__(self, instance, index):
        super().__init__(instance, index)
        self.machine = machine_name(instance.lab_id, self.name)
        self.kvm_node = os.path.join(self.state_dir, KVM_NODE)
        self.cgroup_rel = os.path.join(CGROUP_PARENT, f"fresh-{instance.lab_id}", self.name)

    def __repr__(self):
        return f"<SystemdHost {self.name} {self.address}>"

    # --- preparing the root -------------------------------------------------------------
    def prepare(self, tarball):
        os.makedirs(self.state_dir, exist_ok=True)
        os.chmod(self.state_dir, 0o755)
        if os.path.isdir(self.root):
            self.lab.remove_tree(self.root)
        os.makedirs(self.root)
        subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", self.root, "-xf", tarball], check=True)
        lab._atomic_write(self.inside("/etc/hostname"), self.name + "\n")
        lab._atomic_write(self.inside("/etc/hosts"), (
            "127.0.0.1\tlocalhost\n"
            f"{self.address}\t{self.name}\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"))
        # A machine id of its own: libvirt can take its host UUID from it (the hosts share
        # this machine's SMBIOS UUID), and journald names its files by it.
        lab._atomic_write(self.inside("/etc/machine-id"), uuid.uuid4().hex + "\n", mode=0o444)
        key = self.inside("/etc/ssh/ssh_host_ed25519_key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", self.name, "-f", key], check=True)
        # The root's own ssh.service starts sshd with this configuration: on the host's
        # address only (the network is the machine's).
        lab._atomic_write(self.inside("/etc/ssh/sshd_config"),
                          fresh_host.sshd_config_text(self.name, self.address))
        ssh_root = self.inside("/root/.ssh")
        os.makedirs(ssh_root, mode=0o700, exist_ok=True)
        shutil.copyfile(self.lab.key_file + ".pub", os.path.join(ssh_root, "authorized_keys"))
        os.chmod(os.path.join(ssh_root, "authorized_keys"), 0o600)
        os.makedirs(self.inside(self.lab.lockspace_dir), exist_ok=True)
        # /dev/kvm as a node of the host's own (not the machine's), so that the role's chgrp
        # to the host's kvm group stays in the host.
        if os.path.exists(self.kvm_node):
            os.unlink(self.kvm_node)
        if os.path.exists("/dev/kvm"):
            os.mknod(self.kvm_node, 0o660 | 0o020000, os.makedev(10, 232))
            os.chmod(self.kvm_node, 0o660)

    def binds(self):
        binds = [(self.lab.lockspace_dir, self.lab.lockspace_dir)]
        if os.path.exists(self.kvm_node):
            binds.append((self.kvm_node, "/dev/kvm"))
        return binds

    # --- cgroups --------------------------------------------------------------------------
    def cgroup_dirs(self):
        """This host's own cgroup directory in each hierarchy nspawn and systemd write to."""
        return [os.path.join(root, self.cgroup_rel)
                for root in cgroup_roots(fresh_host._read("/proc/self/mountinfo"))]

    def remove_cgroups(self):
        """rmdir the host's cgroups, deepest first (nspawn's payload/ and supervisor/, and
        whatever systemd made in them); a cgroup with a process left in it stays, and is
        reported by ``leftovers``."""
        for top in self.cgroup_dirs():
            if not os.path.isdir(top):
                continue
            for path, _dirs, _files in sorted(os.walk(top), key=lambda entry: -len(entry[0])):
                try:
                    os.rmdir(path)
                except OSError:
                    pass
            try:        # the instance's directory, once its last host is gone
                os.rmdir(os.path.dirname(top))
            except OSError:
                pass

    def cgroup_leftovers(self):
        return [path for path in self.cgroup_dirs() if os.path.isdir(path)]

    # --- runtime record ----------------------------------------------------------------------
    def _record(self, **values):
        runtime = dict(self._runtime() or {}, **values)
        lab._atomic_write(self.runtime_file, json.dumps(runtime) + "\n")
        lab._atomic_write(self.pid_file, f"{runtime.get('pid', runtime['nspawn'])}\n")

    def nspawn_pid(self, runtime=None):
        """nspawn's pid if that process is still the one we started."""
        runtime = runtime if runtime is not None else self._runtime()
        if not runtime or "nspawn" not in runtime:
            return None
        pid = runtime["nspawn"]
        if lab.start_time(pid) != runtime.get("nspawn_start"):
            return None
        argv = lab.cmdline(pid)
        return pid if argv and b"systemd-nspawn" in argv[0] and self.machine.encode() in argv else None

    def keeper_pid(self):
        """The container's init, if it is alive and really this host's."""
        runtime = self._runtime()
        if not runtime or "pid" not in runtime:
            return None
        pid = runtime["pid"]
        if lab.start_time(pid) != runtime.get("start"):
            return None
        if (lab.ns_id(pid, "mnt"), lab.ns_id(pid, "uts"), lab.ns_id(pid, "pid")) != (
                runtime["mnt"], runtime["uts"], runtime["pidns"]):
            return None
        return pid

    def _find_init(self, nspawn):
        candidates = {}
        for pid in lab.all_pids():
            try:
                status = fresh_host._read(f"/proc/{pid}/status")
            except OSError:
                continue
            ppid = status_field(status, "PPid")
            if ppid and int(ppid[0]) == nspawn:
                candidates[pid] = (int(ppid[0]), status_field(status, "NSpid"))
        return init_of(candidates, nspawn)

    # --- starting ----------------------------------------------------------------------------
    def start(self, tarball):
        self.kill()
        self.prepare(tarball)
        return self.spawn_keeper()

    def spawn_keeper(self):
        """Start nspawn in the host's own cgroups; returns the Popen of nspawn."""
        cgroups = self.cgroup_dirs()
        if not cgroups:
            raise LabError("no cgroup hierarchy for systemd (named systemd or cgroup2) is mounted here")
        for path in cgroups:
            try:
                os.makedirs(path, exist_ok=True)
            except OSError as exc:
                raise LabError(f"{self.name}: cannot make its cgroup {path} ({exc.strerror}): "
                               "systemd hosts need a writable cgroup hierarchy") from exc
        if not shutil.which("systemd-nspawn"):
            raise LabError("systemd-nspawn is missing: apt-get install systemd-container")
        # The shell moves itself into the cgroups, then becomes nspawn (same pid).
        enter = 'for cg in "$@"; do [ "$cg" = -- ] && break; echo $$ > "$cg/cgroup.procs" || exit 1; done; '
        cmd = ["sh", "-c", enter + 'while [ "$1" != -- ]; do shift; done; shift; exec "$@"', "sh",
               *cgroups, "--", *nspawn_command(self.root, self.machine, self.name, self.binds())]
        log = open(self.log_file, "ab")  # pylint: disable=consider-using-with
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True, env=self.keeper_env())
        finally:
            log.close()
        lab.wait_for(f"{self.name}: nspawn started", lambda: lab.start_time(proc.pid), 5, 0.01)
        lab._atomic_write(self.runtime_file, json.dumps({
            "nspawn": proc.pid, "nspawn_start": lab.start_time(proc.pid), "machine": self.machine,
            "cgroups": cgroups}) + "\n")
        lab._atomic_write(self.pid_file, f"{proc.pid}\n")
        return proc

    def _init_recorded(self):
        """Find the container's init (nspawn forks it) and record its pid and namespaces."""
        runtime = self._runtime() or {}
        if "pid" in runtime:
            return self.keeper_pid()
        nspawn = self.nspawn_pid(runtime)
        init = self._find_init(nspawn) if nspawn else None
        # Only once nspawn's child has become systemd: its namespaces are final by then.
        if init is None or not os.path.basename((lab.cmdline(init) or [b""])[0].decode()).startswith(("systemd", "init")):
            return None
        record = {"pid": init, "start": lab.start_time(init), "mnt": lab.ns_id(init, "mnt"),
                  "uts": lab.ns_id(init, "uts"), "pidns": lab.ns_id(init, "pid")}
        if None in record.values() or record["pidns"] == lab.ns_id("self", "pid"):
            return None          # not yet in its own namespaces (nspawn sets them up first)
        self._record(**record)
        return init

    def run(self, cmd, check=True, **kwargs):
        """Run ``cmd`` inside the host: in every namespace of its init (its PID namespace
        too, so that /proc, and systemctl, see the host's processes)."""
        pid = self.keeper_pid()
        if pid is None:
            raise LabError(f"{self.name} is not running")
        if isinstance(cmd, str):
            cmd = ["sh", "-c", cmd]
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(["nsenter", "-t", str(pid), "-a", "--", *cmd], check=check, **kwargs)

    def system_state(self):
        """``systemctl is-system-running`` inside the host, or None if it cannot be asked."""
        try:
            done = self.run(["systemctl", "is-system-running"], check=False, timeout=10)
        except (LabError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() or None

    def readiness(self):
        return [(f"{self.name} init (systemd under nspawn)", self._init_recorded, 0.05),
                (f"{self.name} sshd on {self.address}:22",
                 lambda: lab.tcp_open(self.address, 22, b"SSH-"), 0.05),
                # Booted: every start job done (degraded: a unit failed, which tests may ask about).
                (f"{self.name} systemd booted (running or degraded)",
                 lambda: self.system_state() in ("running", "degraded"), 0.2)]

    # --- going down --------------------------------------------------------------------------
    def request_poweroff(self):
        """SIGRTMIN+4 to the host's init: systemd's orderly poweroff.  Returns at once."""
        pid = self.keeper_pid()
        if pid is None:
            return False
        os.kill(pid, POWEROFF)
        return True

    def finish_poweroff(self, timeout=POWEROFF_TIMEOUT):
        """Wait until nspawn has exited after a poweroff; past ``timeout``, a power cut.
        Returns True if the host powered off by itself, False if it had to be killed."""
        runtime = self._runtime()
        nspawn = self.nspawn_pid(runtime)
        if nspawn is not None:
            started = runtime["nspawn_start"]
            try:
                lab.wait_for(f"{self.name} to power off", lambda: lab.has_exited(nspawn, started)
                             and not self.pidns_processes(runtime), timeout, 0.05)
            except LabError:
                pass
        # Nothing left to kill: it powered off by itself (perhaps while another host was waited for).
        return self.kill() == 0

    def poweroff(self, timeout=POWEROFF_TIMEOUT):
        self.request_poweroff()
        return self.finish_poweroff(timeout)

    def stop(self):
        return self.poweroff()

    def pidns_processes(self, runtime):
        if not runtime or "pidns" not in runtime:
            return []
        return [pid for pid in lab.all_pids() if lab.ns_id(pid, "pid") == runtime["pidns"]]

    def processes(self, mnt, uts):
        runtime = self._runtime() or {}
        return sorted(set(super().processes(mnt, uts)) | set(self.pidns_processes(runtime)))

    def kill(self, timeout=30.0):
        """A power cut: SIGKILL to every process of the host (its PID namespace, and its
        mount or UTS namespace), then to nspawn if it has not exited, by pid; then the
        host's cgroups are removed.  Returns how many processes were killed."""
        runtime = self._runtime()
        if not runtime:
            self.remove_cgroups()
            return 0
        killed = {}

        def victims():
            pids = set(self.pidns_processes(runtime))
            if "mnt" in runtime:
                pids |= set(fresh_host.host_pids(
                    {pid: (lab.ns_id(pid, "mnt"), lab.ns_id(pid, "uts")) for pid in lab.all_pids()},
                    (runtime["mnt"], runtime["uts"]), os.getpid()))
            return pids

        def all_gone():
            pids = victims()
            nspawn = self.nspawn_pid(runtime)
            if not pids and nspawn is not None:
                pids = {nspawn}       # its container is gone: it should exit by itself, or now
            for victim in pids:
                started = killed.get(victim) or lab.start_time(victim)
                try:
                    os.kill(victim, signal.SIGKILL)
                    killed[victim] = started
                except ProcessLookupError:
                    pass
            return not pids and all(lab.has_exited(pid, started) for pid, started in killed.items())

        lab.wait_for(f"every process of {self.name} to die", all_gone, timeout, interval=0.02)
        self.remove_cgroups()
        self._forget()
        return len(killed)

    def process_count(self, pid):
        return len(self.pidns_processes(self._runtime()))

    def status_words(self):
        return f"systemd {self.system_state() or 'not answering'}"
