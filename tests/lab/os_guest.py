# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lab: a real Linux guest (Debian 12), built once from Debian packages and cached.

What it is (measured numbers in "Costs" below):

- **Image**: ``debootstrap --variant=minbase --include=PACKAGES --make-tarball`` once (the only
  step that uses the network: deb.debian.org), then ``--unpack-tarball`` for every build, with
  no network.  Configured with plain files; every kernel module but the few a virtio guest
  needs removed and the initramfs made again in a chroot with nothing mounted; ``mkfs.ext4 -d``
  (no loop mounts, no partition table, no boot loader) and ``qemu-img convert -O qcow2``.
  Cached under ROOT_DIR/guest-cache/guest-<hash of the recipe>/ (disk.qcow2, vmlinux,
  initrd.img): a changed recipe (packages, files, modules) makes a new image, an unchanged one is
  never built again.  The package tarball is cached apart (debs-<hash>.tgz), by its package list.
- **Boot**: direct kernel boot of the *uncompressed* kernel (vmlinux, PVH entry) with
  ``root=/dev/vda rw console=ttyS0 net.ifnames=0``, TCG (``type='qemu'``, 64 MiB TB cache): KVM
  here (kvm_pvm) cannot boot a stock kernel at a usable speed.
- **Inside**: systemd, systemd-networkd (DHCP on eth*, client id = MAC), cloud-init (NoCloud
  only; locale C.UTF-8 and ed25519 host keys only, so a first boot does not spend minutes in
  locale-gen and RSA key generation under TCG), qemu-guest-agent, openssh-server (no host keys in
  the image: cloud-init makes them on the first boot), an empty /etc/machine-id (each guest makes
  its own) and ``hotiron-http.service``: busybox httpd on port 80 serving /cgi-bin/id, which
  answers ``hostname=... boot_id=... machine_id=... ssh_host_key=<sha256 of the ed25519 public
  key>`` (one ``key=value`` a line), and /index.html (the hostname, written when it starts).
- **Network** (``GuestNet``): a bridge ``hvgbr<LAB_ID>`` per lab, made by the lab, with a fixed
  MAC (else it takes the lowest tap MAC and changes as guests come and go) and 198.18.<LAB_ID>.1/24
  (the benchmarking range), and a dnsmasq serving DHCP on that bridge only (no DNS, *no router
  option*).  The rule followed: traffic only to loopback or to what the test created.  The lab
  hosts' libvirtd run in the machine's network namespace, so the guests' taps (and so the bridge)
  must be there too; but the bridge has no port but the guests' taps, the guests get no default
  route and nothing forwards or NATs for them: every packet of a guest stays on the lab's bridge,
  between the guests and this machine's address on it.
- **Getting a running guest quickly**: ``saved_guest(lab, host)`` boots one guest once (a linked
  clone of the image), waits for its HTTP answer and ``virsh save``s it to the lab's shared
  directory together with a copy of its overlay; ``restore_guest`` puts that overlay back and
  ``virsh restore``s the state: a running guest in seconds instead of minutes of boot.
  tests/integration/conftest.py has the fixtures (``os_image``, ``os_guest_saved``).

Usage::

    python tests/lab/os_guest.py build          # make the image (if missing), print its directory
    LAB_ID=6 python tests/lab/os_guest.py net-up | net-down

Costs (measured here, 2 cores shared by several test runs, load 9-12):

- package tarball (the only download): 42-95 s, 151 MB;
- image from the tarball: 568 s the first time at load 11 (download 95, debootstrap 443,
  modules and initramfs 19, mkfs + qcow2 10); from the cached tarball with dpkg's unsafe-io at
  load 3: 123 s (debootstrap 109, configure 11, image 3.5); a cached image: 0 s;
- the image: disk.qcow2 250 MB (1.5 GiB ext4, ~0.6 GiB used), vmlinux 66 MB, initrd 7 MB
  (41 kernel modules kept of 4,022);
- a first boot with a seed (cloud-init makes the host name, SSH host key, machine id) to the DHCP
  lease: ~56 CPU-s; two linked clones booted at once to answering HTTP: 431 and 447 s of wall
  time at load 19-21 (the whole test_os_guest.py 365 s at load 12, 511 s at load 20);
- ``virsh save``: 1.6 s; restore (disk copied back + ``virsh restore``) to HTTP answering: 15 s,
  same boot id.
- The CGI itself takes up to 3.5 s under TCG on a busy machine: ask with a generous timeout.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lab import LabError, ROOT_DIR, ensure_debootstrap, wait_for  # noqa: E402  # pylint: disable=wrong-import-position

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# python3-cffi-backend: python3-cryptography (cloud-init -> python3-oauthlib) needs it through a
# virtual package, which debootstrap's resolver does not follow.
PACKAGES = ("busybox", "cloud-init", "dbus", "linux-image-amd64", "openssh-server", "python3-cffi-backend",
            "qemu-guest-agent", "sudo", "systemd-sysv", "udev")
CACHE_DIR = os.path.join(ROOT_DIR, "guest-cache")
IMAGE_SIZE_MIB = 1536
KERNEL_CMDLINE = "root=/dev/vda rw console=ttyS0 net.ifnames=0"
HTTP_PORT = 80
# Kernel modules kept (with what they depend on): virtio devices, ext4, the cdrom of a NoCloud
# seed (IDE on pc, SATA on q35, SCSI) and its ISO9660 or FAT file system, ACPI button, autofs4.
KEEP_MODULES = (
    "virtio_blk", "virtio_net", "virtio_console", "virtio_pci", "virtio_scsi", "virtio_balloon",
    "virtio_rng", "ext4", "crc32c_generic", "button", "evdev", "autofs4", "ata_piix", "ahci",
    "sr_mod", "sd_mod", "isofs", "vfat", "nls_cp437", "nls_ascii", "nls_utf8")

# --- files written into the image --------------------------------------------------------------
HTTP_CGI = """#!/bin/sh
# Written by tests/lab/os_guest.py: who answers.
echo "Content-Type: text/plain"
echo
echo "hostname=$(cat /proc/sys/kernel/hostname)"
echo "boot_id=$(cat /proc/sys/kernel/random/boot_id)"
echo "machine_id=$(cat /etc/machine-id)"
echo "ssh_host_key=$(sha256sum /etc/ssh/ssh_host_ed25519_key.pub 2>/dev/null | cut -d' ' -f1)"
"""
HTTP_UNIT = """# Written by tests/lab/os_guest.py
[Unit]
Description=hotiron lab HTTP service (hostname and boot id)
After=network.target cloud-init.service

[Service]
ExecStartPre=/bin/sh -c 'cat /proc/sys/kernel/hostname > /srv/www/index.html'
ExecStart=/bin/busybox httpd -f -p %d -h /srv/www
Restart=always

[Install]
WantedBy=multi-user.target
""" % HTTP_PORT
NETWORKD_DHCP = """# Written by tests/lab/os_guest.py: DHCP on every NIC (cloud-init's 10-cloud-init-*.network, when
# a seed gives a network config, comes first).
[Match]
Name=eth*

[Network]
DHCP=ipv4

[DHCPv4]
ClientIdentifier=mac
"""
CLOUD_CFG = """# Written by tests/lab/os_guest.py
datasource_list: [NoCloud, None]
system_info:
  network:
    renderers: [networkd]
locale: C.UTF-8
ssh_genkeytypes: [ed25519]
ssh_deletekeys: true
"""
FSTAB = "/dev/vda / ext4 rw,errors=remount-ro 0 1\n"
FILES = {
    "etc/fstab": (FSTAB, 0o644),
    "etc/hostname": ("guest\n", 0o644),
    "etc/hosts": ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", 0o644),
    "etc/machine-id": ("", 0o444),
    "etc/systemd/network/90-hotiron-dhcp.network": (NETWORKD_DHCP, 0o644),
    "etc/cloud/cloud.cfg.d/90-hotiron.cfg": (CLOUD_CFG, 0o644),
    "etc/systemd/system/hotiron-http.service": (HTTP_UNIT, 0o644),
    "srv/www/cgi-bin/id": (HTTP_CGI, 0o755),
    "etc/default/locale": ("LANG=C.UTF-8\n", 0o644),
}
# Units enabled by symlinks (no systemctl in a chroot): (link, target).
ENABLE = (
    ("etc/systemd/system/multi-user.target.wants/systemd-networkd.service",
     "/lib/systemd/system/systemd-networkd.service"),
    ("etc/systemd/system/sockets.target.wants/systemd-networkd.socket",
     "/lib/systemd/system/systemd-networkd.socket"),
    ("etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service",
     "/lib/systemd/system/systemd-networkd-wait-online.service"),
    ("etc/systemd/system/multi-user.target.wants/hotiron-http.service",
     "/etc/systemd/system/hotiron-http.service"),
)
# Removed after the packages are in: per-image state (host keys, machine id), and bulk a test
# guest never reads (docs, locales, apt lists and archives, the udev hardware database).
REMOVE = ("etc/ssh/ssh_host_*", "var/lib/dbus/machine-id", "usr/share/doc/*", "usr/share/man/*",
          "usr/share/info/*", "usr/share/locale/*", "var/lib/apt/lists/*", "var/cache/apt/*.bin",
          "var/cache/apt/archives/*.deb", "var/cache/debconf/*-old", "lib/udev/hwdb.bin",
          "etc/udev/hwdb.bin", "var/log/*.log", "etc/systemd/system/getty.target.wants/getty@tty1.service")
BUILD_VERSION = 1      # bump when the build steps change in a way the data above does not show


# --- pure helpers (tests/unit/lab/test_os_guest.py) ------------------------------------------
def debs_name(suite=SUITE, packages=PACKAGES, mirror=MIRROR):
    """File name of the cached package tarball: what it holds is in the name."""
    digest = hashlib.sha256(json.dumps([suite, "minbase", sorted(packages), mirror]).encode()).hexdigest()[:12]
    return f"debs-{suite}-{digest}.tgz"


def recipe_hash():
    """What the image is made from, hashed: the package tarball, every file and step input."""
    recipe = [BUILD_VERSION, debs_name(), IMAGE_SIZE_MIB, sorted(KEEP_MODULES), sorted(FILES.items()),
              list(ENABLE), list(REMOVE)]
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def image_dir():
    return os.path.join(CACHE_DIR, f"guest-{recipe_hash()}")


def debootstrap_debs_command(tarball, workdir, suite=SUITE, packages=PACKAGES, mirror=MIRROR):
    return ["debootstrap", "--variant=minbase", "--include=" + ",".join(sorted(packages)),
            "--make-tarball=" + tarball, suite, workdir, mirror]


def debootstrap_unpack_command(tarball, root, suite=SUITE, packages=PACKAGES, mirror=MIRROR):
    return ["debootstrap", "--variant=minbase", "--include=" + ",".join(sorted(packages)),
            "--unpack-tarball=" + tarball, suite, root, mirror]


def modules_to_keep(modules_dep_text, wanted=KEEP_MODULES):
    """Relative paths (as in modules.dep) of the wanted modules and all they depend on."""
    deps = {}
    for line in modules_dep_text.splitlines():
        if ":" not in line:
            continue
        module, _colon, needs = line.partition(":")
        deps[module.strip()] = needs.split()

    def name_of(path):
        base = os.path.basename(path)
        for suffix in (".ko", ".ko.xz", ".ko.zst", ".ko.gz"):
            if base.endswith(suffix):
                base = base[:-len(suffix)]
        return base.replace("-", "_")

    by_name = {name_of(path): path for path in deps}
    missing = sorted(set(wanted) - set(by_name))
    if missing:
        raise LabError(f"kernel modules not found: {', '.join(missing)}")
    keep, todo = set(), [by_name[name] for name in wanted]
    while todo:
        path = todo.pop()
        if path not in keep:
            keep.add(path)
            todo.extend(deps.get(path, ()))
    return keep


XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b\x08"


def extract_vmlinux(bzimage):
    """The uncompressed ELF kernel inside a bzImage (as the kernel's scripts/extract-vmlinux)."""
    import gzip
    import lzma
    import zlib
    for magic in (XZ_MAGIC, GZIP_MAGIC, ZSTD_MAGIC):
        start = bzimage.find(magic)
        while start >= 0:
            data = None
            try:
                if magic == XZ_MAGIC:
                    data = lzma.LZMADecompressor().decompress(bzimage[start:])
                elif magic == GZIP_MAGIC:
                    data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(bzimage[start:])
                else:
                    data = subprocess.run(["zstd", "-dc"], input=bzimage[start:], capture_output=True, check=False).stdout
            except (lzma.LZMAError, zlib.error, gzip.BadGzipFile, OSError):
                data = None
            if data and data.startswith(b"\x7fELF"):
                return data
            start = bzimage.find(magic, start + 1)
    raise LabError("no compressed ELF kernel found in the bzImage")


# --- the package tarball and the image ------------------------------------------------------
def _run(cmd, **kwargs):
    kwargs.setdefault("check", True)
    return subprocess.run(cmd, **kwargs)  # pylint: disable=subprocess-run-check


def debs_tarball(log=print):
    """Path of the cached package tarball, downloaded the first time (the only step that needs
    the network).  Returns (path, seconds spent, 0 if cached)."""
    os.makedirs(CACHE_DIR, exist_ok=True)
    tarball = os.path.join(CACHE_DIR, debs_name())
    if os.path.exists(tarball):
        return tarball, 0.0
    ensure_debootstrap(log)
    started = time.monotonic()
    work = os.path.join(CACHE_DIR, f"debs.{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    tmp = tarball + f".{os.getpid()}.tmp"
    try:
        log(f"downloading the packages of {', '.join(PACKAGES)} ({SUITE}) from {MIRROR} ...")
        with open(os.path.join(CACHE_DIR, "debootstrap.log"), "ab") as out:
            _run(debootstrap_debs_command(os.path.abspath(tmp), work), stdout=out, stderr=subprocess.STDOUT)
        os.replace(tmp, tarball)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return tarball, time.monotonic() - started


def _remove_glob(root, pattern):
    import glob
    for path in glob.glob(os.path.join(root, pattern)):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def _configure(root, log):
    """Everything after the packages: files, units, kernel modules, initramfs, cleanup."""
    for rel, (text, mode) in FILES.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.lexists(path):
            os.unlink(path)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(path, mode)
    for link, target in ENABLE:
        path = os.path.join(root, link)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink(target, path)
    versions = os.listdir(os.path.join(root, "lib", "modules"))
    if len(versions) != 1:
        raise LabError(f"expected one kernel in the image, found {versions}")
    version = versions[0]
    moddir = os.path.join(root, "lib", "modules", version)
    with open(os.path.join(moddir, "modules.dep"), encoding="utf-8") as handle:
        keep = modules_to_keep(handle.read())
    removed = 0
    for dirpath, _dirs, files in os.walk(os.path.join(moddir, "kernel")):
        for name in files:
            rel = os.path.relpath(os.path.join(dirpath, name), moddir)
            if rel not in keep:
                os.unlink(os.path.join(dirpath, name))
                removed += 1
    log(f"kernel {version}: kept {len(keep)} modules, removed {removed}")
    # initramfs-tools: a small initrd of the modules left (MODULES=most takes them all).
    _run(["chroot", root, "depmod", version])
    _run(["chroot", root, "update-initramfs", "-u", "-k", version], stdout=subprocess.DEVNULL)
    for pattern in REMOVE:
        _remove_glob(root, pattern)


def build_once(target, lock_name, build, log):
    """``(target, {step: seconds})``: ``build(target, log)`` unless ``target`` already holds a
    recipe.json (then ``{}``).  One build at a time: a second caller (a test run while `make test`
    builds in the background) waits on the lock ``lock_name`` and then finds it made."""
    if os.path.exists(os.path.join(target, "recipe.json")):
        return target, {}
    os.makedirs(CACHE_DIR, exist_ok=True)
    with open(os.path.join(CACHE_DIR, lock_name), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(target, "recipe.json")):
            return target, {}
        return build(target, log)


def build_image(log=print):
    """Directory of the cached image (disk.qcow2, vmlinux, initrd.img, recipe.json), built the
    first time.  Returns (directory, {step: seconds}); {} if it was cached."""
    return build_once(image_dir(), ".build.lock", _build_image, log)


def _build_image(target, log):
    times = {}
    started = time.monotonic()
    tarball, times["download"] = debs_tarball(log)
    build = os.path.join(CACHE_DIR, f"build.{os.getpid()}")
    shutil.rmtree(build, ignore_errors=True)
    os.makedirs(build)
    root = os.path.join(build, "root")
    try:
        step = time.monotonic()
        log(f"debootstrap --unpack-tarball {os.path.basename(tarball)} (no network) ...")
        with open(os.path.join(CACHE_DIR, "debootstrap.log"), "ab") as out:
            # A mount namespace of its own: debootstrap's /proc and /sys mounts in the target go
            # away with it, even if it is interrupted.  No mirror is reached: every package is in
            # the tarball.
            # DPKG_FORCE=unsafe-io: no fsync per unpacked file (dpkg >= 1.19.5 reads it; the
            # chroot keeps the environment); a build cut short is thrown away anyway.
            _run(["unshare", "--mount", "--propagation", "private", "--",
                  *debootstrap_unpack_command(tarball, root)], stdout=out, stderr=subprocess.STDOUT,
                 env=dict(os.environ, DPKG_FORCE="unsafe-io"))
        times["debootstrap"] = time.monotonic() - step
        step = time.monotonic()
        _configure(root, log)
        times["configure"] = time.monotonic() - step
        step = time.monotonic()
        boot = os.path.join(root, "boot")
        kernel = [n for n in os.listdir(boot) if n.startswith("vmlinuz-")][0]
        initrd = [n for n in os.listdir(boot) if n.startswith("initrd.img-")][0]
        with open(os.path.join(boot, kernel), "rb") as handle:
            vmlinux = extract_vmlinux(handle.read())
        with open(os.path.join(build, "vmlinux"), "wb") as handle:
            handle.write(vmlinux)
        shutil.move(os.path.join(boot, initrd), os.path.join(build, "initrd.img"))
        for name in os.listdir(boot):     # the host boots the guest's kernel: none in the image
            path = os.path.join(boot, name)
            if os.path.isfile(path) and not os.path.islink(path):
                os.unlink(path)
        raw = os.path.join(build, "disk.raw")
        _run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", root, raw, f"{IMAGE_SIZE_MIB}M"])
        _run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, os.path.join(build, "disk.qcow2")])
        os.unlink(raw)
        times["image"] = time.monotonic() - step
        times["total"] = time.monotonic() - started
        shutil.rmtree(root)
        for name in os.listdir(build):
            os.chmod(os.path.join(build, name), 0o644)
        with open(os.path.join(build, "recipe.json"), "w", encoding="utf-8") as handle:
            json.dump({"hash": recipe_hash(), "packages": sorted(PACKAGES), "suite": SUITE,
                       "kernel": kernel, "cmdline": KERNEL_CMDLINE, "seconds": times}, handle, indent=2)
        os.chmod(build, 0o755)
        os.replace(build, target)
    finally:
        if os.path.exists(build):
            shutil.rmtree(build, ignore_errors=True)
    return target, times


# --- the guests' network ------------------------------------------------------------------------
class GuestNet:
    """The lab's guest bridge ``hvgbr<LAB_ID>`` (198.18.<LAB_ID>.1/24, fixed MAC) and its dnsmasq
    (DHCP only, on that bridge only, no router and no DNS option), state under
    ROOT_DIR/<LAB_ID>/guestnet/.  ``up`` is idempotent; ``down`` stops dnsmasq by its pid and
    deletes the bridge."""

    def __init__(self, lab_id):
        self.lab_id = int(lab_id)
        if not 0 <= self.lab_id <= 255:
            raise LabError(f"LAB_ID must be 0..255, not {self.lab_id}")
        self.bridge = f"hvgbr{self.lab_id}"
        self.prefix = f"198.18.{self.lab_id}"
        self.address = self.prefix + ".1"
        self.mac = "02:68:69:%02x:00:01" % self.lab_id
        self.state_dir = os.path.join(ROOT_DIR, str(self.lab_id), "guestnet")
        self.pid_file = os.path.join(self.state_dir, "dnsmasq.pid")
        self.lease_file = os.path.join(self.state_dir, "dnsmasq.leases")

    def dnsmasq_command(self):
        return ["dnsmasq", "--conf-file=/dev/null", "--port=0", f"--interface={self.bridge}", "--bind-interfaces",
                "--except-interface=lo", f"--dhcp-range={self.prefix}.10,{self.prefix}.250,255.255.255.0,12h",
                "--dhcp-option=option:router", "--dhcp-option=option:dns-server", "--dhcp-authoritative",
                f"--dhcp-leasefile={self.lease_file}", f"--pid-file={self.pid_file}", "--user=root",
                f"--log-facility={os.path.join(self.state_dir, 'dnsmasq.log')}"]

    def _bridge_exists(self):
        return os.path.exists(f"/sys/class/net/{self.bridge}")

    def _dnsmasq_pid(self):
        try:
            with open(self.pid_file, encoding="utf-8") as handle:
                pid = int(handle.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if f"--pid-file={self.pid_file}".encode() in handle.read():
                    return pid
        except (OSError, ValueError):
            pass
        return None

    def up(self):
        os.makedirs(self.state_dir, exist_ok=True)
        if not self._bridge_exists():
            _run(["ip", "link", "add", "name", self.bridge, "type", "bridge"])
            _run(["ip", "link", "set", "dev", self.bridge, "address", self.mac])
            _run(["ip", "addr", "add", self.address + "/24", "dev", self.bridge])
            with open(f"/proc/sys/net/ipv6/conf/{self.bridge}/disable_ipv6", "w", encoding="utf-8") as handle:
                handle.write("1\n")
            _run(["ip", "link", "set", "dev", self.bridge, "up"])
        if self._dnsmasq_pid() is None:
            _run(self.dnsmasq_command())
            wait_for("dnsmasq of " + self.bridge, lambda: self._dnsmasq_pid() is not None, timeout=30.0, interval=0.1)
        return self

    def down(self):
        pid = self._dnsmasq_pid()
        if pid is not None:
            os.kill(pid, 15)
            wait_for(f"dnsmasq {pid} to exit", lambda: not os.path.exists(f"/proc/{pid}"), timeout=30.0, interval=0.1)
        if self._bridge_exists():
            _run(["ip", "link", "del", "dev", self.bridge])
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def leases(self):
        """{MAC: address} of the DHCP leases."""
        try:
            with open(self.lease_file, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return {}
        return {f[1].lower(): f[2] for f in (line.split() for line in lines) if len(f) >= 3}


def http_get(address, path="/cgi-bin/id", timeout=15.0):
    """The body of ``GET path`` on the guest's HTTP service (port 80), or None if it does not answer."""
    import http.client
    try:
        conn = http.client.HTTPConnection(address, HTTP_PORT, timeout=timeout)
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        conn.close()
        return body if response.status == 200 else None
    except OSError:
        return None


def parse_id(body):
    """{key: value} of a /cgi-bin/id answer."""
    return dict(line.split("=", 1) for line in (body or "").splitlines() if "=" in line)


# --- a guest's definition ------------------------------------------------------------------------
AGENT_CHANNEL = ("<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>")
TCG_FEATURES = "<tcg><tb-cache unit='MiB'>64</tb-cache></tcg>"


def domain_xml(name, disk_path, image, bridge, mac=None, memory_mib=192, seed_path=None):
    """Libvirt XML of a TCG guest booting the image's kernel (``image`` is :func:`build_image`'s
    directory) from ``disk_path`` (qcow2), one virtio NIC on ``bridge``, the agent's channel, a
    serial console and, if given, a NoCloud seed cdrom."""
    from xml.sax.saxutils import escape, quoteattr
    mac_element = f"<mac address={quoteattr(mac)}/>" if mac else ""
    seed = (f"<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file={quoteattr(seed_path)}/>"
            "<target dev='sda' bus='sata'/><readonly/></disk>") if seed_path else ""
    return f"""<domain type='qemu'>
  <name>{escape(name)}</name>
  <memory unit='MiB'>{int(memory_mib)}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{escape(os.path.join(image, 'vmlinux'))}</kernel>
    <initrd>{escape(os.path.join(image, 'initrd.img'))}</initrd>
    <cmdline>{escape(KERNEL_CMDLINE)}</cmdline>
  </os>
  <features><acpi/>{TCG_FEATURES}</features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file={quoteattr(disk_path)}/>
      <target dev='vda' bus='virtio'/></disk>{seed}
    <interface type='bridge'>{mac_element}<source bridge={quoteattr(bridge)}/><model type='virtio'/></interface>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    {AGENT_CHANNEL}
    <memballoon model='virtio'/>
  </devices>
</domain>
"""


def guest_mac(dom_xml):
    import xml.etree.ElementTree as ET
    node = ET.fromstring(dom_xml).find("devices/interface/mac")
    return node.get("address").lower() if node is not None else None


def wait_http(net, mac, timeout=900.0, expect=None):
    """(address, parsed /cgi-bin/id) once the guest with ``mac`` has a lease and answers
    (with ``hostname=expect`` when given)."""
    found = {}

    def answered():
        address = net.leases().get(mac)
        if address:
            info = parse_id(http_get(address))
            if info.get("hostname") and (expect is None or info["hostname"] == expect):
                found.update(address=address, info=info)
                return True
        return False
    wait_for(f"the guest {mac} to answer HTTP", answered, timeout=timeout, interval=2.0)
    return found["address"], found["info"]


# --- saved states: a running guest in seconds --------------------------------------------------
def save_guest(dom, state_path, disk_file):
    """``virsh save`` of a running guest to ``state_path`` plus a copy of its disk (the overlay,
    ``disk_file``) as ``state_path + '.disk'``: a restore needs the disk as it was when saved.  The
    guest stops.  Both are paths of this (the root) namespace; ``state_path`` must also be one the
    host sees (the lab's directories under ROOT_DIR are)."""
    dom.save(state_path)
    shutil.copyfile(disk_file, state_path + ".disk")


def restore_guest(conn, state_path, disk_file):
    """Put the saved disk back over ``disk_file`` and ``virsh restore`` the state: the guest runs
    on from where it was saved (same boot id), in seconds."""
    shutil.copyfile(state_path + ".disk", disk_file)
    conn.restore(state_path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="make the image (if missing), print its directory")
    sub.add_parser("debs", help="download the package tarball (if missing), print its path")
    sub.add_parser("net-up", help="the lab's guest bridge and DHCP server (LAB_ID)")
    sub.add_parser("net-down", help="stop them")
    args = parser.parse_args(argv)
    try:
        if args.command == "debs":
            path, seconds = debs_tarball()
            print(path + (f" (made in {seconds:.0f} s)" if seconds else " (cached)"))
        elif args.command == "net-up":
            net = GuestNet(os.environ.get("LAB_ID", "0")).up()
            print(f"{net.bridge} {net.address}/24 {net.mac}")
        elif args.command == "net-down":
            GuestNet(os.environ.get("LAB_ID", "0")).down()
        elif args.command == "build":
            path, times = build_image()
            print(path + (" (built: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()) + ")"
                          if times else " (cached)"))
    except (LabError, subprocess.CalledProcessError) as exc:
        print(f"os_guest: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
