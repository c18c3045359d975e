# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lab: a tiny real Linux guest: Debian's kernel and an initramfs with busybox, no disk, no systemd.

For what needs a running Linux and a network service but no distribution (service continuity
through migrations, maintenance, rebalancing and recovery; the demo): it boots in seconds under
TCG where the Debian image (os_guest.py) takes minutes.

- **Made of** three Debian packages: ``linux-image-amd64``'s kernel (its vmlinuz uncompressed
  to an ELF vmlinux: direct kernel boot through PVH), ``busybox`` and the four files of
  ``libc6`` it needs.  They come from os_guest.py's cached package tarball when it is there
  (no network), else from ``apt-get download`` into this guest's own cache (deb.debian.org,
  the machine's apt sources; ~72 MB, once).
- **The initramfs** is written in Python (cpio ``newc``, uncompressed: nothing to inflate under
  TCG): busybox and its applet links, the loader and libraries, the virtio modules the NIC needs
  (virtio_pci, virtio_net and what they depend on, loaded in dependency order), and busybox
  ``init`` with an inittab: /etc/rc (mounts, modules, host name), ``udhcpc`` (DHCP, the address
  set by its script, renewed) and ``httpd`` on port 80, both respawned if they die.
- **The service** is os_guest.py's: ``/cgi-bin/id`` answers ``hostname=`` and ``boot_id=`` (one
  ``key=value`` a line), ``/index.html`` the host name; ``/cgi-bin/burn?SECONDS`` keeps the
  vCPU busy that long (a hot host for rebalancing).  The host name comes from the kernel
  command line (``hotiron.hostname=NAME``), else ``tiny``; ``hotiron.ip=ADDRESS/PREFIX`` there sets a
  static address instead of DHCP (the demo's guest: its address known in advance).
- **No disk**: the guest lives in RAM, so it migrates anywhere without shared storage and a
  recovery restarts it from its kernel and initramfs (a new boot id, same MAC, same DHCP lease).
- Cached under ROOT_DIR/guest-cache/tiny-<hash of the recipe>/ (``vmlinux``, ``initrd.img``,
  ``recipe.json``); a changed recipe makes a new one.

Usage::

    python tests/lab/tiny_guest.py build       # print the directory (built if missing)
    LAB_ID=0 python tests/lab/tiny_guest.py demo-vars    # + the guest bridge up: demo.yml's variables

Costs (measured here, 2 cores shared with other test runs, load 13-16): built in 15-21 s
from os_guest.py's cached package tarball (3.6 MB initramfs, 8 modules; the 66 MB vmlinux);
booted to ``/cgi-bin/id`` answering in 20 s of wall time and 5 CPU-s (the Debian image: 2-7 min
and 50-70 CPU-s).  Figures with the guest in docs/docsite/rst/guide_speed.rst.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import os_guest  # noqa: E402  # pylint: disable=wrong-import-position
from lab import LabError  # noqa: E402  # pylint: disable=wrong-import-position

CACHE_DIR = os_guest.CACHE_DIR
DEBS_DIR = os.path.join(CACHE_DIR, "tiny-debs")
PACKAGES = ("busybox", "libc6", "linux-image-amd64")
# What busybox needs of libc6 (readelf -d: libc.so.6, libresolv.so.2) and the loader.
LIBC_FILES = ("lib/x86_64-linux-gnu/libc.so.6", "lib/x86_64-linux-gnu/libresolv.so.2",
              "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "lib64/ld-linux-x86-64.so.2")
MODULES = ("virtio_pci", "virtio_net")
CMDLINE = "console=ttyS0 quiet panic=-1 cryptomgr.notests"
MEMORY_MIB = 96
BUILD_VERSION = 1

INITTAB = """::sysinit:/etc/rc
::respawn:/etc/dhcp
::respawn:/bin/httpd -f -p 80 -h /srv/www
ttyS0::respawn:/bin/sh
::ctrlaltdel:/bin/poweroff -f
::shutdown:/bin/true
"""
RC = """#!/bin/sh
# Written by tests/lab/tiny_guest.py: the whole boot.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
for module in $(cat /etc/modules.order); do insmod /lib/modules/$module.ko; done
name=tiny
for word in $(cat /proc/cmdline); do
  case "$word" in hotiron.hostname=*) name="${word#hotiron.hostname=}" ;; esac
done
hostname "$name"
echo "$name" > /srv/www/index.html
ip link set lo up
ip link set eth0 up
for word in $(cat /proc/cmdline); do
  case "$word" in hotiron.ip=*) ip addr add "${word#hotiron.ip=}" dev eth0 && echo "${word#hotiron.ip=}" > /run/ip ;; esac
done
"""
DHCP = """#!/bin/sh
# Written by tests/lab/tiny_guest.py: DHCP unless the command line gave an address.
[ -s /run/ip ] && exec sleep 2147483647
exec udhcpc -f -S -i eth0 -s /etc/udhcpc.script -t 0 -T 1 -A 1
"""
UDHCPC_SCRIPT = """#!/bin/sh
# Written by tests/lab/tiny_guest.py: udhcpc's events (address only: the lab gives no router).
case "$1" in
  deconfig) ip addr flush dev "$interface" ;;
  bound|renew) ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" ;;
esac
exit 0
"""
CGI = """#!/bin/sh
# Written by tests/lab/tiny_guest.py: who answers.
echo "Content-Type: text/plain"
echo
echo "hostname=$(cat /proc/sys/kernel/hostname)"
echo "boot_id=$(cat /proc/sys/kernel/random/boot_id)"
"""
BURN_CGI = """#!/bin/sh
# Written by tests/lab/tiny_guest.py: /cgi-bin/burn?SECONDS keeps the vCPU busy that long (at most
# 900 s) at the lowest priority (httpd still answers), for load tests (a hot host to rebalance).
seconds=${QUERY_STRING:-60}
case "$seconds" in *[!0-9]*|"") seconds=60 ;; esac
[ "$seconds" -le 900 ] || seconds=900
echo $(( $(cut -d. -f1 /proc/uptime) + seconds )) > /tmp/burn.end     # burn?0 stops a burn
[ "$seconds" -eq 0 ] || nice -n 19 sh -c 'while [ $(cut -d. -f1 /proc/uptime) -lt $(cat /tmp/burn.end) ]; do :; done' \
  </dev/null >/dev/null 2>&1 &
echo "Content-Type: text/plain"
echo
echo "burning=$seconds"
"""
FILES = {
    "srv/www/cgi-bin/burn": (BURN_CGI, 0o755),
    "etc/inittab": (INITTAB, 0o644),
    "etc/rc": (RC, 0o755),
    "etc/udhcpc.script": (UDHCPC_SCRIPT, 0o755),
    "etc/dhcp": (DHCP, 0o755),
    "srv/www/cgi-bin/id": (CGI, 0o755),
    "srv/www/index.html": ("tiny\n", 0o644),
    "etc/passwd": ("root:x:0:0:root:/:/bin/sh\n", 0o644),
    "etc/group": ("root:x:0:\n", 0o644),
}
DIRS = ("bin", "dev", "etc", "lib", "lib64", "lib/modules", "proc", "sys", "tmp", "run", "srv", "srv/www", "srv/www/cgi-bin",
        "root")


# --- pure helpers (tests/unit/lab/test_tiny_guest.py) -------------------------------------------
def cpio_newc(entries):
    """An uncompressed cpio archive in the kernel's ``newc`` format of ``entries``: (path,
    mode, data) with mode a full st_mode (S_IFDIR, S_IFREG, S_IFLNK | permissions) and data the
    file's bytes or the link's target; directories before what they hold."""
    out = bytearray()

    def record(ino, name, mode, data):
        name_b = name.encode() + b"\0"
        header = "070701" + "".join("%08X" % v for v in (
            ino, mode, 0, 0, 1 if not stat.S_ISDIR(mode) else 2, 0, len(data), 0, 0, 0, 0, len(name_b), 0))
        out.extend(header.encode())
        out.extend(name_b)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))
    for ino, (path, mode, data) in enumerate(entries, start=1):
        record(ino, path.strip("/"), mode, data if isinstance(data, bytes) else data.encode())
    record(0, "TRAILER!!!", 0, b"")
    return bytes(out)


def modinfo_depends(ko):
    """Names of the modules a kernel module (the .ko file's bytes) depends on: its .modinfo
    ``depends=`` string (what depmod reads; the packages ship no modules.dep)."""
    at = ko.find(b"\0depends=")
    if at < 0:
        return []
    value = ko[at + len(b"\0depends="):ko.index(b"\0", at + 1)].decode()
    return [name.replace("-", "_") for name in value.split(",") if name]


def module_order(depends, wanted=MODULES):
    """The wanted modules and what they need (``depends``: {name: [names it needs]}), each after
    everything it depends on: the order to insmod them."""
    missing = sorted(set(wanted) - set(depends))
    if missing:
        raise LabError(f"kernel modules not found: {', '.join(missing)}")
    order = []

    def visit(name):
        if name not in order:
            for need in depends.get(name, ()):
                visit(need)
            order.append(name)
    for name in wanted:
        visit(name)
    return order


def recipe_hash():
    recipe = [BUILD_VERSION, sorted(PACKAGES), sorted(LIBC_FILES), list(MODULES), sorted(FILES.items()), list(DIRS)]
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def image_dir():
    return os.path.join(CACHE_DIR, f"tiny-{recipe_hash()}")


def cmdline(hostname=None, address=None):
    """The kernel command line: the guest's host name and, if given, its static address
    (``198.18.0.5/24``; else DHCP)."""
    return CMDLINE + (f" hotiron.hostname={hostname}" if hostname else "") + (f" hotiron.ip={address}" if address else "")


def domain_xml(name, image, bridge, mac=None, memory_mib=MEMORY_MIB, hostname=None):
    """Libvirt XML of a tiny guest (``image`` is :func:`build_image`'s directory): TCG, no disk,
    one virtio NIC on ``bridge``, a serial console; its host name is ``hostname`` (default: the
    domain's name)."""
    from xml.sax.saxutils import escape, quoteattr
    mac_element = f"<mac address={quoteattr(mac)}/>" if mac else ""
    return f"""<domain type='qemu'>
  <name>{escape(name)}</name>
  <memory unit='MiB'>{int(memory_mib)}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{escape(os.path.join(image, 'vmlinux'))}</kernel>
    <initrd>{escape(os.path.join(image, 'initrd.img'))}</initrd>
    <cmdline>{escape(cmdline(hostname or name))}</cmdline>
  </os>
  <features><acpi/>{os_guest.TCG_FEATURES}</features>
  <devices>
    <interface type='bridge'>{mac_element}<source bridge={quoteattr(bridge)}/><model type='virtio'/></interface>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <memballoon model='none'/>
  </devices>
</domain>
"""


DEMO_ADDRESS_HOST = 5      # below dnsmasq's DHCP range (.10 to .250)


def demo_vars(image, bridge, prefix, name="demo-web"):
    """playbooks/demo.yml's variables for its web guest: this guest's kernel, initramfs and
    command line (host name ``name``, static address ``<prefix>.5/24``), the bridge, the URL."""
    address = f"{prefix}.{DEMO_ADDRESS_HOST}"
    return {"demo_guest_kernel": os.path.join(image, "vmlinux"), "demo_guest_initrd": os.path.join(image, "initrd.img"),
            "demo_guest_cmdline": cmdline(name, address + "/24"), "demo_guest_bridge": bridge,
            "demo_guest_name": name, "demo_guest_url": f"http://{address}/index.html"}


# --- the packages -------------------------------------------------------------------------------
def _package_of(deb_path):
    return os.path.basename(deb_path).split("_", 1)[0]


def _debs_from_tarball(work):
    """The packages from os_guest.py's cached tarball, if there is one: {package: .deb path}."""
    tarball = os.path.join(CACHE_DIR, os_guest.debs_name())
    if not os.path.exists(tarball):
        return None
    found = {}
    with tarfile.open(tarball) as tar:
        for member in tar:
            name = os.path.basename(member.name)
            if name.endswith(".deb") and (_package_of(name) in ("busybox", "libc6")
                                          or _package_of(name).startswith("linux-image-")):
                os.makedirs(work, exist_ok=True)
                path = os.path.join(work, name)
                with tar.extractfile(member) as src, open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                found[_package_of(name)] = path
    return found


def _debs_downloaded(log):
    """The packages by ``apt-get download`` (the machine's apt sources), cached in DEBS_DIR."""
    os.makedirs(DEBS_DIR, exist_ok=True)
    have = {_package_of(p): p for p in glob.glob(os.path.join(DEBS_DIR, "*.deb"))}
    kernel = [p for n, p in have.items() if n.startswith("linux-image-") and n != "linux-image-amd64"]
    if {"busybox", "libc6"} <= set(have) and kernel:
        return have
    log("apt-get download busybox libc6 linux-image-amd64 (and its kernel) ...")
    for attempt in (1, 2):
        try:
            subprocess.run(["apt-get", "-o", "APT::Sandbox::User=root", "download", "-q", *PACKAGES], cwd=DEBS_DIR, check=True, stdout=subprocess.DEVNULL)
            meta = glob.glob(os.path.join(DEBS_DIR, "linux-image-amd64_*.deb"))[0]
            depends = subprocess.run(["dpkg-deb", "-f", meta, "Depends"], check=True, capture_output=True, text=True).stdout
            image = depends.split(",")[0].split()[0]
            subprocess.run(["apt-get", "-o", "APT::Sandbox::User=root", "download", "-q", image], cwd=DEBS_DIR, check=True, stdout=subprocess.DEVNULL)
            break
        except subprocess.CalledProcessError:
            if attempt == 2:
                raise
            subprocess.run(["apt-get", "update", "-qq"], check=True)
    return {_package_of(p): p for p in glob.glob(os.path.join(DEBS_DIR, "*.deb"))}


# --- the build ----------------------------------------------------------------------------------
def build_image(log=print):
    """Directory of the cached tiny guest (vmlinux, initrd.img, recipe.json), built the first
    time.  Returns (directory, {step: seconds}); {} if it was cached."""
    return os_guest.build_once(image_dir(), ".tiny-build.lock", _build, log)


def _build(target, log):
    times, started = {}, time.monotonic()
    build = os.path.join(CACHE_DIR, f"tiny-build.{os.getpid()}")
    shutil.rmtree(build, ignore_errors=True)
    os.makedirs(build)
    try:
        debs = _debs_from_tarball(os.path.join(build, "debs"))
        source = "os_guest's package tarball"
        if not debs:
            debs = _debs_downloaded(log)
            source = "apt-get download"
        kernel_debs = [p for n, p in debs.items() if n.startswith("linux-image-") and n != "linux-image-amd64"]
        if not kernel_debs or "busybox" not in debs or "libc6" not in debs:
            raise LabError(f"packages missing for the tiny guest: found {sorted(debs)}")
        times["packages"] = time.monotonic() - started
        step = time.monotonic()
        root = os.path.join(build, "x")
        for deb in (debs["busybox"], debs["libc6"], kernel_debs[0]):
            subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
        times["unpack"] = time.monotonic() - step
        step = time.monotonic()
        version = os.listdir(os.path.join(root, "lib", "modules"))[0]
        with open(os.path.join(root, "boot", f"vmlinuz-{version}"), "rb") as handle:
            vmlinux = os_guest.extract_vmlinux(handle.read())
        with open(os.path.join(build, "vmlinux"), "wb") as handle:
            handle.write(vmlinux)
        modules = {}
        for path in glob.glob(os.path.join(root, "lib", "modules", version, "kernel", "**", "*.ko"), recursive=True):
            modules[os.path.basename(path)[:-3].replace("-", "_")] = path
        depends = {}
        todo, needed = list(MODULES), {}
        while todo:
            name = todo.pop()
            if name in needed or name not in modules:
                continue
            with open(modules[name], "rb") as handle:
                needed[name] = handle.read()
            depends[name] = modinfo_depends(needed[name])
            todo.extend(depends[name])
        order = module_order(depends)
        entries = [(d, stat.S_IFDIR | 0o755, b"") for d in DIRS]
        with open(os.path.join(root, "bin", "busybox"), "rb") as handle:
            entries.append(("bin/busybox", stat.S_IFREG | 0o755, handle.read()))
        applets = subprocess.run([os.path.join(root, "lib64", "ld-linux-x86-64.so.2"), "--library-path",
                                  os.path.join(root, "lib", "x86_64-linux-gnu"), os.path.join(root, "bin", "busybox"),
                                  "--list"], check=True, capture_output=True, text=True).stdout.split()
        entries += [(f"bin/{a}", stat.S_IFLNK | 0o777, b"busybox") for a in applets if a != "busybox"]
        entries.append(("init", stat.S_IFLNK | 0o777, b"bin/busybox"))
        entries.append(("sbin", stat.S_IFLNK | 0o777, b"bin"))
        entries.append(("usr", stat.S_IFDIR | 0o755, b""))
        entries.append(("usr/bin", stat.S_IFLNK | 0o777, b"../bin"))
        entries.append(("usr/sbin", stat.S_IFLNK | 0o777, b"../bin"))
        entries.append(("lib/x86_64-linux-gnu", stat.S_IFDIR | 0o755, b""))
        for rel in LIBC_FILES:
            path = os.path.realpath(os.path.join(root, rel)) if rel.startswith("lib64/") else os.path.join(root, rel)
            with open(path, "rb") as handle:
                entries.append((rel, stat.S_IFREG | 0o755, handle.read()))
        names = order
        entries += [(f"lib/modules/{name}.ko", stat.S_IFREG | 0o644, needed[name]) for name in order]
        entries.append(("etc/modules.order", stat.S_IFREG | 0o644, "\n".join(names) + "\n"))
        entries += [(rel, stat.S_IFREG | mode, text) for rel, (text, mode) in sorted(FILES.items())]
        with open(os.path.join(build, "initrd.img"), "wb") as handle:
            handle.write(cpio_newc(entries))
        times["initramfs"] = time.monotonic() - step
        shutil.rmtree(root)
        shutil.rmtree(os.path.join(build, "debs"), ignore_errors=True)
        times["total"] = time.monotonic() - started
        for name in os.listdir(build):
            os.chmod(os.path.join(build, name), 0o644)
        with open(os.path.join(build, "recipe.json"), "w", encoding="utf-8") as handle:
            json.dump({"hash": recipe_hash(), "kernel": version, "modules": names, "packages_from": source,
                       "cmdline": CMDLINE, "seconds": times}, handle, indent=2)
        os.chmod(build, 0o755)
        os.replace(build, target)
    finally:
        if os.path.exists(build):
            shutil.rmtree(build, ignore_errors=True)
    log(f"tiny guest built in {times['total']:.0f} s ({source}): {target}")
    return target, times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="make the tiny guest (if missing), print its directory")
    sub.add_parser("demo-vars", help="make it, bring the lab's guest network up (LAB_ID) and print the "
                   "variables of playbooks/demo.yml's web guest (JSON)")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo-vars":
            path, _times = build_image(log=lambda msg: print(msg, file=sys.stderr))
            net = os_guest.GuestNet(os.environ.get("LAB_ID", "0")).up()
            print(json.dumps(demo_vars(path, net.bridge, net.prefix)))
        if args.command == "build":
            path, times = build_image(log=lambda msg: print(msg, file=sys.stderr))
            print(path + (" (built: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()) + ")"
                          if times else " (cached)"))
    except (LabError, subprocess.CalledProcessError, OSError) as exc:
        print(f"tiny_guest: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
