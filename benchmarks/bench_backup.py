# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup and restore speed on a lab host, as ratios against baselines run in the same process.

1. An incremental backup after 16 MiB written into a running guest's 2 GiB disk, against the
   full backup of the same disk.  Targets: bytes <= 5 %, time <= 15 %.
2. The full backup of that 2 GiB disk (running guest), against ``qemu-img convert`` of the same
   image while the guest is stopped.  Target: <= 1.3.
3. A restore (full + 3 incrementals, every file checked against its SHA-256, the rebuilt image
   checked), against copying the full backup image.  Target: <= 1.5.

The work is the collection's own (``backup_ops.run_vm_backup``, ``restore_ops.run_vm_restore``),
called as a library inside host hv1 (a worker started in the host's namespaces), so the figures
are the backup's and not Ansible's start-up.  The disk holds 2 GiB of data (no zero cluster) and
the guest's disk uses ``cache='none'`` as the lab's guests do; the main baseline reads and writes
the same way (``qemu-img convert -T none -t none``), and the durable variants (``+ fsync``) are
printed too, since a backup is synced before its record is written.

Usage: ``LAB_ID=6 .venv/bin/python benchmarks/bench_backup.py [--size-gib 2] [--rounds 1]``.
Create the lab with ``LAB_VIRT_TYPE=qemu`` (TCG guests).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "build", "src")
MIB = 1024 * 1024
IMAGES = "/var/lib/libvirt/images"
NAME = "bench-bk"


# ---- the worker, inside the lab host -----------------------------------------------------------

def worker(size_gib, rounds):
    sys.path.insert(0, SRC)
    sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
    import libvirt
    import libvirt_qemu

    import guests
    from ansible_collections.hotiron.virt.plugins.module_utils.backup import backup_ops, restore_ops

    libvirt.registerErrorHandler(lambda _c, _e: None, None)
    conn = libvirt.open("qemu:///system")
    disk = "%s/%s.qcow2" % (IMAGES, NAME)
    target = "%s/%s-target" % (IMAGES, NAME)
    figures = {"rounds": []}

    def sh(*cmd):
        subprocess.run(list(cmd), check=True, capture_output=True)

    def timed(func):
        start = time.monotonic()
        value = func()
        return time.monotonic() - start, value

    def fsync(path):
        fd = os.open(path, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)

    # A 2 GiB disk full of data: the boot sector, then every MiB a different byte.
    raw = disk + ".raw"
    with open(raw, "wb") as handle:
        handle.write(guests.boot_sector("idle"))
        handle.seek(MIB)
        for index in range(size_gib * 1024 - 1):
            handle.write(bytes([1 + index % 251]) * MIB)
    sh("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, disk)
    os.unlink(raw)
    fsync(disk)
    os.makedirs(target, exist_ok=True)
    xml = guests.domain_xml(NAME, disk, "qemu", memory_mib=32).replace("type='raw'", "type='qcow2'")
    dom = conn.defineXML(xml)

    def wait_idle(timeout=60.0):
        """Until the guest has booted: its CPU time grows by less than 20 % of one vCPU."""
        deadline = time.monotonic() + timeout
        before = dom.info()[4]
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = dom.info()[4]
            if now - before < 0.1e9:
                return
            before = now
        raise RuntimeError("the guest did not settle within %gs" % timeout)

    def write(offset_mib, length_mib, byte):
        device = "/machine/peripheral/virtio-disk0/virtio-backend"
        for command in ("write -P %d %dM %dM" % (byte, offset_mib, length_mib), "flush"):
            libvirt_qemu.qemuMonitorCommand(dom, 'qemu-io -d %s "%s"' % (device, command), 1)

    params = dict(uri="qemu:///system", name=NAME, target=target, target_pool=None, mode="full",
                  max_incrementals=10, keep_chains=None, keep_days=None, quiesce="never", timeout=3600.0)
    try:
        for _round in range(rounds):
            one = {}
            # Baselines on the stopped image.
            for variant, args in (("convert_direct", ["-T", "none", "-t", "none"]), ("convert_cached", [])):
                copy = "%s/convert.qcow2" % target
                seconds = timed(lambda a=args: sh("qemu-img", "convert", *a, "-O", "qcow2", disk, copy))[0]
                sync_s = timed(lambda: fsync(copy))[0]
                one[variant + "_s"] = seconds
                one[variant + "_fsync_s"] = seconds + sync_s
                os.unlink(copy)
            dom.create()
            wait_idle()
            full_s, full = timed(lambda: backup_ops.run_vm_backup(dict(params, mode="full"), False))
            one["full_s"], one["full_bytes"] = full_s, full["backup"]["size"]
            one["full_copy_s"], one["full_checksum_s"] = full["timing"]["copy_s"], full["timing"]["checksum_s"]
            incs = []
            for number in range(3):
                write(256 + 128 * number, 16, 0x5A + number)
                inc_s, inc = timed(lambda: backup_ops.run_vm_backup(dict(params, mode="auto"), False))
                assert inc["mode"] == "incremental", inc["reason"]
                incs.append((inc_s, inc["backup"]["size"]))
            one["inc_s"], one["inc_bytes"] = incs[0]
            one["inc_all"] = incs
            dom.destroy()
            # Restore (full + 3 incrementals) against copying the full image.
            full_file = os.path.join(full["backup_dir"], "vda.qcow2")
            copy = "%s/%s-copy.qcow2" % (IMAGES, NAME)
            one["cp_s"] = timed(lambda: sh("cp", full_file, copy))[0]
            sync_s = timed(lambda: fsync(copy))[0]
            one["cp_fsync_s"] = one["cp_s"] + sync_s
            os.unlink(copy)
            rparams = dict(uri="qemu:///system", vm=NAME, name=NAME + "-r", backup=None, target=target,
                           target_pool=None, disk_dir=IMAGES, disk_pool=None, start=False)
            one["restore_s"], restored = timed(lambda: restore_ops.run_vm_restore(rparams, False))
            one["restore_files"] = len(restored["verified"])
            conn.lookupByName(NAME + "-r").undefine()
            os.unlink(restored["disks"][0]["path"])
            shutil.rmtree(os.path.join(target, NAME))
            figures["rounds"].append(one)
    finally:
        if dom.isActive():
            dom.destroy()
        for cp in dom.listAllCheckpoints(0):
            cp.delete(libvirt.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY)
        dom.undefine()
        os.unlink(disk)
        shutil.rmtree(target, ignore_errors=True)
    print(json.dumps(figures))


# ---- the driver, outside ---------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--size-gib", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.size_gib, args.rounds)
        return
    sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
    from lab import Lab

    link = os.path.join(SRC, "ansible_collections", "hotiron", "virt")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
    lab = Lab(int(os.environ.get("LAB_ID", "0")))
    lab.up(3)
    host = lab.host("hv1")
    proc = host.run(["/usr/bin/python3", os.path.abspath(__file__), "--worker", "--size-gib", str(args.size_gib),
                     "--rounds", str(args.rounds)], check=False)
    if proc.returncode != 0:
        sys.exit("worker failed:\n%s\n%s" % (proc.stdout, proc.stderr))
    rounds = json.loads(proc.stdout.strip().splitlines()[-1])["rounds"]

    def med(key):
        return statistics.median(r[key] for r in rounds)

    print("backup benchmark on %s (lab %d, %s guests), %d GiB disk, %d round(s), medians:"
          % (host.name, lab.lab_id, lab.virt_type, args.size_gib, len(rounds)))
    print("1. incremental after 16 MiB vs full: bytes %.1f MiB vs %.1f MiB = %.2f %% (target <= 5 %%);"
          " time %.2f s vs %.2f s = %.1f %% (target <= 15 %%)" % (
              med("inc_bytes") / MIB, med("full_bytes") / MIB, 100 * med("inc_bytes") / med("full_bytes"),
              med("inc_s"), med("full_s"), 100 * med("inc_s") / med("full_s")))
    print("   the 3 incrementals: %s" % ", ".join("%.2f s / %.1f MiB" % (s, b / MIB) for s, b in rounds[-1]["inc_all"]))
    print("2. full backup (running guest, synced, hashed) vs qemu-img convert of the stopped image:")
    for key, label in (("convert_direct_s", "convert -T none -t none (the guest's cache mode)"),
                       ("convert_direct_fsync_s", "the same + fsync"),
                       ("convert_cached_s", "convert through the page cache"),
                       ("convert_cached_fsync_s", "the same + fsync")):
        target = " (target <= 1.3)" if key == "convert_direct_s" else ""
        print("   %.2f s vs %.2f s %s = %.2f%s" % (med("full_s"), med(key), label, med("full_s") / med(key), target))
    print("   the full backup's job %.2f s, syncing and hashing the file %.2f s; per round (full / convert -T none):"
          " %s" % (med("full_copy_s"), med("full_checksum_s"),
                   ", ".join("%.2f / %.2f" % (r["full_s"], r["convert_direct_s"]) for r in rounds)))
    print("3. restore (full + 3 incrementals, %d files verified) vs copying the full image:" % rounds[-1]["restore_files"])
    for key, label in (("cp_s", "cp"), ("cp_fsync_s", "cp + fsync")):
        target = " (target <= 1.5)" if key == "cp_fsync_s" else ""
        print("   %.2f s vs %.2f s %s = %.2f%s" % (med("restore_s"), med(key), label, med("restore_s") / med(key), target))


if __name__ == "__main__":
    main()
