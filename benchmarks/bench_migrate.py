# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm_migrate against ``virsh migrate --live``: same VM, same hosts, alternated in one run.

Three ways, alternated round after round (directions alternate too):

* ``vm_migrate``: the module file run as a command with its arguments in a JSON file (as
  Ansible's module runner does, without the playbook around it): Python start-up and imports
  included;
* ``library``: the module's own work (``migrate_ops.run_vm_migrate``) called in this process:
  preflight checks, migration and tuning loop, without the interpreter start-up;
* ``virsh``: ``virsh -c <src> migrate --live --p2p --persistent --undefinesource``.

Prints both ratios against virsh (target at most 1.10) and the downtimes libvirt measured
(vm_migrate's must stay within its configured maximum).

    LAB_ID=0 .venv/bin/python benchmarks/bench_migrate.py [--rounds 4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

import libvirt  # noqa: E402

import guests  # noqa: E402
from lab import Lab  # noqa: E402

MAX_DOWNTIME_MS = 500
MODULE = os.path.join(ROOT, "plugins", "modules", "vm_migrate.py")


def domain_xml(name, virt_type, memory_mib):
    # No disk: the migration moves memory and device state only, the same for both tools.
    return (f"<domain type='{virt_type}'><name>{name}</name><memory unit='MiB'>{memory_mib}</memory>"
            "<vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os>"
            "<devices><memballoon model='none'/></devices></domain>")


def filled_domain_xml(lab, name, memory_mib, fill_mib):
    """A guest whose boot sector writes ``fill_mib`` of its memory once, then halts; its disk
    is on the lab's shared storage, so a migration moves memory and device state only."""
    guests.make_image(os.path.join(lab.shared_dir, name + ".img"), "filled", dirty_mib=fill_mib)
    return guests.domain_xml(name, "%s/%s.img" % (lab.shared_path, name), lab.virt_type, memory_mib=memory_mib)


def settle(doms, timeout=120.0, quiet=0.05):
    """Wait until the guests have booted: together they use under ``quiet`` of one CPU
    over half a second (a booting guest, above all under kvm_pvm, takes seconds of CPU,
    which would be timed with whatever runs first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = sum(d.info()[4] for d in doms)
        time.sleep(0.5)
        if sum(d.info()[4] for d in doms) - before < quiet * 0.5e9:
            return
    raise SystemExit("the guests did not settle within %.0f s" % timeout)


def src_link():
    link = os.path.join(ROOT, "build", "src", "ansible_collections", "hotiron", "virt")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
    return os.path.join(ROOT, "build", "src")


def run_module(src, dest, name, workdir):
    args = {"ANSIBLE_MODULE_ARGS": {"uri": src.uri, "name": name, "dest_uri": dest.uri,
                                    "migration_address": "tcp://" + dest.address,
                                    "max_downtime": MAX_DOWNTIME_MS}}
    path = os.path.join(workdir, "args.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(args, handle)
    env = dict(os.environ, PYTHONPATH=src_link())
    started = time.monotonic()
    proc = subprocess.run([sys.executable, MODULE, path], capture_output=True, text=True, env=env, check=False)
    elapsed = time.monotonic() - started
    result = json.loads(proc.stdout)
    if result.get("failed") or not result.get("changed"):
        raise SystemExit("vm_migrate failed: %s" % result.get("msg"))
    return elapsed, result["downtime_ms"]


def run_library(src, dest, name, _workdir):
    sys.path.insert(0, src_link())
    from ansible_collections.hotiron.virt.plugins.module_utils.migrate_ops import run_vm_migrate

    params = dict(uri=src.uri, name=name, dest_uri=dest.uri, dest=None, hosts=None,
                  migration_address="tcp://" + dest.address, live=True, copy_storage="auto", bandwidth=0,
                  max_downtime=MAX_DOWNTIME_MS, downtime_steps=10, downtime_delay=75.0, auto_converge=False,
                  postcopy=False, postcopy_after=0.0, postcopy_on_stall=True, stall_timeout=30.0,
                  abort_on_stall=False, completion_timeout=0.0, timeout_action="abort", compression=False,
                  parallel_connections=0, cpu_allocation_ratio=4.0, reserved_host_memory=256)
    started = time.monotonic()
    result = run_vm_migrate(params, False)
    return time.monotonic() - started, result["downtime_ms"]


def run_virsh(src, dest, name):
    started = time.monotonic()
    subprocess.run(["virsh", "-q", "-c", src.uri, "migrate", "--live", "--p2p", "--persistent",
                    "--undefinesource", name, dest.uri, "--migrateuri", "tcp://" + dest.address],
                   check=True, capture_output=True)
    elapsed = time.monotonic() - started
    stats = dest.connect().lookupByName(name).jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    return elapsed, stats.get("downtime")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--memory", type=int, default=64, help="guest memory in MiB")
    parser.add_argument("--fill", type=int, default=0,
                        help="MiB of the guest's memory its boot code writes before it idles "
                             "(a guest with data in memory; 0: an empty guest without a disk)")
    opts = parser.parse_args()

    lab = Lab(int(os.environ.get("LAB_ID", "0")))
    was_up = all(h.is_up() for h in lab.hosts) and len(lab.hosts) >= 2
    if not was_up:
        lab.up(3)
    a, b = lab.host("hv1"), lab.host("hv2")
    name = "bench-mig-%d" % os.getpid()
    if opts.fill:
        for host in (a, b):   # vm_migrate moves a disk as is only where it knows it is shared
            host.dir_pool(host.connect(), "bench-shared", lab.shared_path)
        dom = a.connect().defineXML(filled_domain_xml(lab, name, opts.memory, opts.fill))
    else:
        dom = a.connect().defineXML(domain_xml(name, lab.virt_type, opts.memory))
    dom.create()
    settle([dom])
    tools = ["vm_migrate", "library", "virsh"]
    times = {t: [] for t in tools}
    downtimes = {t: [] for t in tools}
    here = a
    try:
        with tempfile.TemporaryDirectory() as workdir:
            for rnd in range(opts.rounds):
                order = tools[rnd % 3:] + tools[:rnd % 3]
                for tool in order:
                    there = b if here is a else a
                    if tool == "vm_migrate":
                        elapsed, downtime = run_module(here, there, name, workdir)
                    elif tool == "library":
                        elapsed, downtime = run_library(here, there, name, workdir)
                    else:
                        elapsed, downtime = run_virsh(here, there, name)
                    times[tool].append(elapsed)
                    downtimes[tool].append(downtime)
                    here = there
    finally:
        for host in (a, b):
            try:
                d = host.connect().lookupByName(name)
                if d.isActive():
                    d.destroy()
                d.undefine()
            except libvirt.libvirtError:
                pass
        if opts.fill and os.path.exists(os.path.join(lab.shared_dir, name + ".img")):
            os.unlink(os.path.join(lab.shared_dir, name + ".img"))
        if not was_up:
            lab.down()

    total_virsh = sum(times["virsh"])
    print("migrations per tool: %d (guest %d MiB, %s, %s)" % (
        opts.rounds, opts.memory, "%d MiB of it written" % opts.fill if opts.fill else "empty", lab.virt_type))
    for tool in tools:
        print("  %-10s total %6.2f s  per migration %s  downtime ms %s" % (
            tool, sum(times[tool]), " ".join("%.2f" % t for t in times[tool]),
            " ".join(str(d) for d in downtimes[tool])))
    print("ratio vm_migrate (command) / virsh migrate --live: %.2f (target <= 1.10)"
          % (sum(times["vm_migrate"]) / total_virsh))
    print("ratio vm_migrate (library call) / virsh migrate --live: %.2f (target <= 1.10)"
          % (sum(times["library"]) / total_virsh))
    worst = max(downtimes["vm_migrate"] + downtimes["library"])
    print("vm_migrate worst downtime: %s ms (maximum allowed %d ms)" % (worst, MAX_DOWNTIME_MS))
    return 0 if worst <= MAX_DOWNTIME_MS else 1


if __name__ == "__main__":
    sys.exit(main())
