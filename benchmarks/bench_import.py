# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm_import of an OVA against doing it by hand: ``tar x`` + ``qemu-img convert`` + ``virsh
define``, on lab host hv1, alternated round after round in one run.

The OVA (VirtualBox layout, tests/data/ovf/virtualbox-ovf2.ovf) holds one 2 GiB disk with
200 MiB of random data (1 MiB every 10 MiB) as a streamOptimized VMDK, and a SHA256 manifest.
It lies in hv1's own /var/lib/libvirt/images (not on the lab's FUSE shared directory).  Every
way runs inside hv1, as it would on a hypervisor:

* ``module``: the vm_import file run as a command with its arguments in a JSON file, as
  Ansible's module runner does on the host (interpreter start-up and imports included):
  manifest checked, the disk converted from inside the tar into a qcow2 volume, VM defined;
* ``library``: the same work called in a Python process that has already started (the
  module's work without start-up);
* ``by hand``: ``tar xf`` of the VMDK, ``qemu-img convert -O qcow2`` into the pool's
  directory, ``virsh define`` of a hand-written domain (no manifest check).

Prints the medians and the ratios against ``by hand`` (target: module at most 1.2).  With
``--playbook``, one ansible-playbook on hv1 alternates a ``hotiron.virt.vm_import`` task and an
``ansible.builtin.shell`` task doing the by-hand steps, each timed by
benchmarks/callback_plugins/bench_task_times.py (round 0 untimed).

    LAB_ID=0 .venv/bin/python benchmarks/bench_import.py [--rounds 3] [--playbook]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

import appliances  # noqa: E402
import guests  # noqa: E402
from lab import Lab  # noqa: E402

MIB = 1024 * 1024
POOL, SRC = "bench-imp", "bench-src"
INSIDE = "/var/lib/libvirt/images"
NAME = "bench-ova"
MODULE = os.path.join(ROOT, "plugins", "modules", "vm_import.py")
PYTHON = sys.executable
LIBRARY = r"""
import json, sys, time
sys.path.insert(0, %(src)r)
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import import_ops
conn = lc.connect("qemu:///system")
started = time.monotonic()
import_ops.run(conn, json.loads(sys.argv[1]))
print(time.monotonic() - started)
"""


def src_link():
    link = os.path.join(ROOT, "build", "src", "ansible_collections", "hotiron", "virt")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
    return os.path.join(ROOT, "build", "src")


def build_ova(host):
    """The OVA in hv1's images dir (made once, kept between runs): returns its path inside hv1."""
    outside = os.path.join(host.images_dir, SRC)
    os.makedirs(outside, exist_ok=True)
    ova = os.path.join(outside, NAME + ".ova")
    if not os.path.exists(ova):
        raw = os.path.join(outside, NAME + ".raw")
        appliances.raw_disk(raw, guests.boot_sector("idle"), 2048 * MIB)
        with open(raw, "r+b") as handle:
            for chunk in range(200):
                handle.seek(chunk * 10 * MIB + MIB)
                handle.write(os.urandom(MIB))
        vmdk = appliances.stream_vmdk(raw, os.path.join(outside, NAME + "-disk001.vmdk"))
        text = appliances.descriptor("virtualbox-ovf2.ovf", NAME=NAME, VCPUS=1, MEMORY_MIB=64,
                                     DISK1_BYTES=2048 * MIB, FIRMWARE_VBOX="BIOS")
        appliances.make_ova(ova + ".part", NAME, text, [(NAME + "-disk001.vmdk", vmdk)], style="virtualbox",
                            manifest_last=True)
        os.replace(ova + ".part", ova)
        for path in (raw, vmdk, os.path.join(outside, NAME + ".ovf"), os.path.join(outside, NAME + ".mf")):
            os.unlink(path)
    return "%s/%s/%s.ova" % (INSIDE, SRC, NAME)


def by_hand_script(ova, vm):
    work = "%s/%s/work-%s" % (INSIDE, SRC, vm)
    xml = ("<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
           "<os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'>"
           "<driver name='qemu' type='qcow2'/><source file='%s/%s/%s.qcow2'/><target dev='sda' bus='sata'/>"
           "</disk></devices></domain>" % (vm, INSIDE, POOL, vm))
    return " && ".join([
        "mkdir -p %s" % work, "cd %s" % work, "printf %%s %s > dom.xml" % shlex.quote(xml),
        "tar xf %s %s-disk001.vmdk" % (ova, NAME),
        "qemu-img convert -O qcow2 %s-disk001.vmdk %s/%s/%s.qcow2" % (NAME, INSIDE, POOL, vm),
        "virsh -q -c qemu:///system define dom.xml >/dev/null"])


def module_args(ova, vm):
    return {"src": ova, "name": vm, "pool": POOL, "default_network": None, "network_map": {"NAT": None}}


def cleanup(host, conn, vm):
    import libvirt  # pylint: disable=import-outside-toplevel
    try:
        dom = conn.lookupByName(vm)
        dom.undefine()
    except libvirt.libvirtError:
        pass
    pool = conn.storagePoolLookupByName(POOL)
    pool.refresh()
    for vol in pool.listAllVolumes():
        if vol.name().startswith(vm):
            vol.delete()
    host.run(["rm", "-rf", "%s/%s/work-%s" % (INSIDE, SRC, vm)])


def timed(host, cmd, env=None, fails=False):
    started = time.monotonic()
    proc = host.run(cmd, check=False, env=env)
    elapsed = time.monotonic() - started
    if (proc.returncode != 0) != fails:
        raise SystemExit("%s failed: %s %s" % (cmd if isinstance(cmd, str) else cmd[:3], proc.stdout[-2000:], proc.stderr[-2000:]))
    return elapsed, proc.stdout


def direct(host, conn, ova, rounds, workdir):
    env = dict(os.environ, PYTHONPATH=src_link())
    library = os.path.join(workdir, "library.py")
    with open(library, "w", encoding="utf-8") as handle:
        handle.write(LIBRARY % {"src": src_link()})
    times = {"module": [], "library": [], "by hand": []}
    host.run("cat %s > /dev/null" % ova)                        # untimed: the OVA in the page cache
    for rnd in range(rounds + 1):
        tools = ["module", "library", "by hand"]
        for tool in tools[rnd % 3:] + tools[:rnd % 3]:
            vm = "bench-imp-%d-%s" % (rnd, tool.replace(" ", ""))
            if tool == "module":
                args = os.path.join(workdir, "args.json")
                with open(args, "w", encoding="utf-8") as handle:
                    json.dump({"ANSIBLE_MODULE_ARGS": module_args(ova, vm)}, handle)
                elapsed, out = timed(host, [PYTHON, MODULE, args], env)
                result = json.loads(out)
                if result.get("failed") or not result.get("changed"):
                    raise SystemExit("vm_import failed: %s" % result.get("msg"))
            elif tool == "library":
                _elapsed, out = timed(host, [PYTHON, library, json.dumps(dict(
                    module_args(ova, vm), src_format="auto", disk_format="qcow2", keep_macs=False,
                    overcommit=False, require_manifest=False, state="present", force=False))], env)
                elapsed = float(out.strip().splitlines()[-1])
            else:
                elapsed, _out = timed(host, by_hand_script(ova, vm))
            if rnd:                                              # round 0 is the warm-up
                times[tool].append(elapsed)
            cleanup(host, conn, vm)
    args = os.path.join(workdir, "fail.json")
    with open(args, "w", encoding="utf-8") as handle:       # start-up: a run that fails at its first check
        json.dump({"ANSIBLE_MODULE_ARGS": {"src": "/nonexistent.ova", "pool": POOL, "name": "x"}}, handle)
    startup = statistics.median(timed(host, [PYTHON, MODULE, args], env, fails=True)[0] for _run in range(3))
    return times, startup


def playbook(lab, conn, ova, rounds, workdir):
    host = lab.host("hv1")
    tasks = []
    for rnd in range(rounds + 1):
        order = ["module", "by hand"] if rnd % 2 == 0 else ["by hand", "module"]
        for tool in order:
            vm = "bench-pb-%d-%s" % (rnd, tool.replace(" ", ""))
            if tool == "module":
                tasks.append({"name": "module %d" % rnd, "hotiron.virt.vm_import": module_args(ova, vm)})
            else:
                tasks.append({"name": "by hand %d" % rnd, "ansible.builtin.shell": by_hand_script(ova, vm)})
    play = os.path.join(workdir, "import.yml")
    with open(play, "w", encoding="utf-8") as handle:
        json.dump([{"name": "bench", "hosts": "hv1", "gather_facts": False, "tasks": tasks}], handle)
    times_file = os.path.join(workdir, "times.jsonl")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=src_link(), BENCH_TASK_TIMES=times_file,
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(ROOT, "benchmarks", "callback_plugins"),
               ANSIBLE_CALLBACKS_ENABLED="bench_task_times", ANSIBLE_NOCOLOR="1", ANSIBLE_PIPELINING="True",
               ANSIBLE_HOST_KEY_CHECKING="False", PATH=os.path.dirname(PYTHON) + os.pathsep + os.environ.get("PATH", ""))
    try:
        proc = subprocess.run([os.path.join(os.path.dirname(PYTHON), "ansible-playbook"), "-i", lab.inventory_path,
                               play], capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            raise SystemExit("the benchmark playbook failed:\n%s\n%s" % (proc.stdout[-3000:], proc.stderr[-3000:]))
    finally:
        for rnd in range(rounds + 1):
            for tool in ("module", "byhand"):
                cleanup(host, conn, "bench-pb-%d-%s" % (rnd, tool))
    times = {"module": [], "by hand": []}
    with open(times_file, encoding="utf-8") as handle:
        for line in handle:
            entry = json.loads(line)
            tool, rnd = entry["task"].rsplit(" ", 1)
            if rnd != "0":
                times[tool].append(entry["seconds"])
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--playbook", action="store_true", help="time tasks of one playbook instead")
    opts = parser.parse_args()
    if opts.rounds < 1:
        parser.error("--rounds must be at least 1")
    lab = Lab()
    if not all(h.is_up() for h in lab.hosts) or not lab.hosts:
        lab.up(3)
    host = lab.host("hv1")
    os.makedirs(os.path.join(host.images_dir, POOL), exist_ok=True)
    conn = host.connect()
    host.dir_pool(conn, POOL)
    started = time.monotonic()
    ova = build_ova(host)
    size = os.path.getsize(os.path.join(host.images_dir, SRC, NAME + ".ova"))
    print("OVA: one 2 GiB disk with 200 MiB of data, %.0f MB (built or found in %.1f s)"
          % (size / 1e6, time.monotonic() - started))
    with tempfile.TemporaryDirectory(prefix="bench-import-") as workdir:
        if opts.playbook:
            times, startup = playbook(lab, conn, ova, opts.rounds, workdir), None
        else:
            times, startup = direct(host, conn, ova, opts.rounds, workdir)
    base = statistics.median(times["by hand"])
    for tool, values in times.items():
        print("%-8s median %.2f s (%s)" % (tool, statistics.median(values), ", ".join("%.2f" % v for v in values)))
    for tool in times:
        if tool != "by hand":
            target = "  (target <= 1.2)" if tool == "module" else ""
            print("%s / by hand: %.2f%s" % (tool, statistics.median(times[tool]) / base, target))
    if startup is not None:
        print("module start-up (a run failing at its first check): %.2f s" % startup)


if __name__ == "__main__":
    main()
