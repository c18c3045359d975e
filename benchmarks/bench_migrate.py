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

A first, untimed move there and back comes before the timed rounds: a guest's first migration
after its boot is slower, whichever tool does it.

``--bandwidth N`` caps both tools' migration stream at N MiB/s (``bandwidth`` / ``virsh
--bandwidth``): the lab's hosts talk over loopback, far faster than a data-center link; 1190
MiB/s is a 10 GbE link.

``--playbook`` compares what an operator runs instead: one ansible-playbook whose tasks
alternate ``hotiron.virt.vm_migrate`` and ``ansible.builtin.command: virsh migrate ...``, each
task timed by ``benchmarks/callback_plugins/bench_task_times.py`` (a first, untimed round builds
Ansible's module payloads and is the warm-up).

    LAB_ID=0 .venv/bin/python benchmarks/bench_migrate.py [--rounds 6] [--memory 2048 --fill 2000]
        [--bandwidth 1190] [--playbook]
"""

from __future__ import annotations

import argparse
import json
import os
import re
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


def module_args(src, dest, name, bandwidth):
    return {"uri": src.uri, "name": name, "dest_uri": dest.uri, "migration_address": "tcp://" + dest.address,
            "max_downtime": MAX_DOWNTIME_MS, "bandwidth": bandwidth}


def virsh_argv(src, dest, name, bandwidth):
    argv = ["virsh", "-q", "-c", src.uri, "migrate", "--live", "--p2p", "--persistent", "--undefinesource",
            name, dest.uri, "--migrateuri", "tcp://" + dest.address]
    return argv + (["--bandwidth", str(bandwidth)] if bandwidth else [])


def module_process(args, workdir):
    """Run the vm_migrate file as a command with ``args`` in a JSON file, as Ansible's module
    runner does; returns (seconds, result)."""
    path = os.path.join(workdir, "args.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    env = dict(os.environ, PYTHONPATH=src_link())
    started = time.monotonic()
    proc = subprocess.run([sys.executable, MODULE, path], capture_output=True, text=True, env=env, check=False)
    return time.monotonic() - started, json.loads(proc.stdout)


def run_module(src, dest, name, workdir, bandwidth):
    elapsed, result = module_process(module_args(src, dest, name, bandwidth), workdir)
    if result.get("failed") or not result.get("changed"):
        raise SystemExit("vm_migrate failed: %s" % result.get("msg"))
    return elapsed, result["downtime_ms"]


def startup(src, dest, workdir, runs=5):
    """Median time of a vm_migrate run that fails at its first lookup (a VM that exists nowhere):
    interpreter, imports, argument checks, two connections, exit."""
    args = module_args(src, dest, "bench-absent-%d" % os.getpid(), 0)
    times = []
    for _run in range(runs):
        elapsed, result = module_process(args, workdir)
        times.append(elapsed)
        if "exists neither on" not in result.get("msg", ""):
            raise SystemExit("vm_migrate did not fail as expected: %s" % result.get("msg"))
    return sorted(times)[len(times) // 2]


def run_library(src, dest, name, _workdir, bandwidth):
    sys.path.insert(0, src_link())
    from ansible_collections.hotiron.virt.plugins.module_utils.migration import args, migrate_ops

    params = dict(args.tuning_defaults(), uri=src.uri, name=name, dest_uri=dest.uri, dest=None, hosts=None,
                  migration_address="tcp://" + dest.address, live=True, copy_storage="auto", bandwidth=bandwidth,
                  max_downtime=MAX_DOWNTIME_MS, cpu_allocation_ratio=4.0, reserved_host_memory=256)
    started = time.monotonic()
    result = migrate_ops.run_vm_migrate(params, False)
    return time.monotonic() - started, result["downtime_ms"]


def run_virsh(src, dest, name, bandwidth):
    started = time.monotonic()
    subprocess.run(virsh_argv(src, dest, name, bandwidth), check=True, capture_output=True)
    elapsed = time.monotonic() - started
    stats = dest.connect().lookupByName(name).jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    return elapsed, stats.get("downtime")


def direct_rounds(opts, a, b, name, workdir):
    """Module as a command, library call and virsh, alternated; returns (times, downtimes)."""
    tools = ["vm_migrate", "library", "virsh"]
    times = {t: [] for t in tools}
    downtimes = {t: [] for t in tools}
    # A guest's first migration after it booted is slower (up to 2 s more for 2 GiB here),
    # whichever tool does it: move it there and back untimed first (the library call's way
    # back also imports the module's code into this process).
    run_virsh(a, b, name, opts.bandwidth)
    run_library(b, a, name, workdir, opts.bandwidth)
    here = a
    for rnd in range(opts.rounds):
        for tool in tools[rnd % 3:] + tools[:rnd % 3]:
            there = b if here is a else a
            if tool == "vm_migrate":
                elapsed, downtime = run_module(here, there, name, workdir, opts.bandwidth)
            elif tool == "library":
                elapsed, downtime = run_library(here, there, name, workdir, opts.bandwidth)
            else:
                elapsed, downtime = run_virsh(here, there, name, opts.bandwidth)
            times[tool].append(elapsed)
            downtimes[tool].append(downtime)
            here = there
    return times, downtimes, startup(a, b, workdir)


def playbook_rounds(opts, a, b, name, workdir):
    """One playbook alternating a vm_migrate task and a ``command: virsh migrate`` task
    (round 0 untimed); returns (times, downtimes)."""
    tasks = []
    here = a
    for rnd in range(opts.rounds + 1):
        order = ["vm_migrate", "virsh"] if rnd % 2 == 0 else ["virsh", "vm_migrate"]
        for tool in order:
            there = b if here is a else a
            label = "%s %d" % (tool, rnd)
            if tool == "vm_migrate":
                tasks.append({"name": label, "hotiron.virt.vm_migrate": module_args(here, there, name, opts.bandwidth)})
            else:
                tasks.append({"name": label, "ansible.builtin.command": {"argv": virsh_argv(here, there, name, opts.bandwidth)}})
                tasks.append({"name": "downtime %d" % rnd, "ansible.builtin.command": {
                    "argv": ["virsh", "-q", "-c", there.uri, "domjobinfo", "--completed", name]}})
            here = there
    play = os.path.join(workdir, "migrate.yml")
    with open(play, "w", encoding="utf-8") as handle:
        json.dump([{"name": "bench", "hosts": "localhost", "gather_facts": False, "tasks": tasks}], handle)
    inventory = os.path.join(workdir, "inventory.json")
    with open(inventory, "w", encoding="utf-8") as handle:
        json.dump({"all": {"hosts": {"localhost": {"ansible_connection": "local",
                                                   "ansible_python_interpreter": sys.executable}}}}, handle)
    times_file = os.path.join(workdir, "times.jsonl")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=src_link(), BENCH_TASK_TIMES=times_file,
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(ROOT, "benchmarks", "callback_plugins"),
               ANSIBLE_CALLBACKS_ENABLED="bench_task_times", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory, play],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit("the benchmark playbook failed:\n%s\n%s" % (proc.stdout[-3000:], proc.stderr[-3000:]))
    times = {"vm_migrate": [], "virsh": []}
    downtimes = {"vm_migrate": [], "virsh": []}
    with open(times_file, encoding="utf-8") as handle:
        for line in handle:
            entry = json.loads(line)
            tool, rnd = entry["task"].rsplit(" ", 1)
            if rnd == "0":
                continue
            if tool == "downtime":
                downtimes["virsh"].append(int(re.search(r"Total downtime:\s+(\d+)", entry["result"]["stdout"]).group(1)))
            else:
                times[tool].append(entry["seconds"])
                if tool == "vm_migrate":
                    downtimes[tool].append(entry["result"]["downtime_ms"])
    return times, downtimes, None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--memory", type=int, default=64, help="guest memory in MiB")
    parser.add_argument("--fill", type=int, default=0,
                        help="MiB of the guest's memory its boot code writes before it idles "
                             "(a guest with data in memory; 0: an empty guest without a disk)")
    parser.add_argument("--bandwidth", type=int, default=0,
                        help="cap both tools' migration stream at this many MiB/s (0: no cap)")
    parser.add_argument("--playbook", action="store_true",
                        help="compare playbook tasks: vm_migrate against ansible.builtin.command running virsh")
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
    try:
        with tempfile.TemporaryDirectory() as workdir:
            rounds = playbook_rounds if opts.playbook else direct_rounds
            times, downtimes, start_up = rounds(opts, a, b, name, workdir)
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
    print("migrations per tool: %d (guest %d MiB, %s, %s, %s%s)" % (
        opts.rounds, opts.memory, "%d MiB of it written" % opts.fill if opts.fill else "empty", lab.virt_type,
        "bandwidth cap %d MiB/s" % opts.bandwidth if opts.bandwidth else "no bandwidth cap",
        ", as playbook tasks" if opts.playbook else ""))
    for tool in times:
        print("  %-10s total %6.2f s  per migration %s  downtime ms %s" % (
            tool, sum(times[tool]), " ".join("%.2f" % t for t in times[tool]),
            " ".join(str(d) for d in downtimes[tool])))
    if opts.playbook:
        print("ratio vm_migrate task / command: virsh migrate --live task: %.2f (target <= 1.10)"
              % (sum(times["vm_migrate"]) / total_virsh))
    else:
        print("ratio vm_migrate (command) / virsh migrate --live: %.2f (target <= 1.10)"
              % (sum(times["vm_migrate"]) / total_virsh))
        print("ratio vm_migrate (library call) / virsh migrate --live: %.2f (target <= 1.10)"
              % (sum(times["library"]) / total_virsh))
        gap = (sum(times["vm_migrate"]) - sum(times["library"])) / opts.rounds
        print("vm_migrate (command) minus library call, per migration: %.2f s; start-up alone (a run that"
              " fails at its first lookup, median of 5): %.2f s" % (gap, start_up))
    worst = max(downtimes["vm_migrate"] + downtimes.get("library", []))
    print("vm_migrate worst downtime: %s ms (maximum allowed %d ms)" % (worst, MAX_DOWNTIME_MS))
    return 0 if worst <= MAX_DOWNTIME_MS else 1


if __name__ == "__main__":
    sys.exit(main())
