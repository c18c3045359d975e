# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live capacity on the lab: how long measuring takes, and how fast a hot host is relieved.

``--stats``: group_stats of the lab's 3 hosts against its own sampling interval (the baseline:
  the interval itself, slept in the same process): the library call and the module as a playbook
  task.  Target: at most 1.5x the interval.
``--rulebook``: with the capacity rulebook already running and the group quiet, 4 busy guests
  start on hv1; the time from the moment they run to the first migration started (target: at most
  the window plus 15 s), and the rebalance runs until no host is above the threshold (target: at
  most 3).

    LAB_ID=0 LAB_VIRT_TYPE=qemu .venv/bin/python benchmarks/bench_capacity.py [--stats] [--rulebook]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for sub in (("tests", "lab"), ("tests", "integration"), ("build", "src")):
    sys.path.insert(0, os.path.join(ROOT, *sub))

import libvirt  # noqa: E402
import eda_helpers  # noqa: E402
import guests  # noqa: E402
from lab import Lab, remove_guests  # noqa: E402
from bench_migrate import src_link  # noqa: E402

src_link()
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import stats_ops  # noqa: E402

THRESHOLD = 0.4
WINDOW = 20


def ansible(args):
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, "build", "collections"))
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-c", "local",
                           "-e", "ansible_python_interpreter=" + sys.executable] + args, check=True,
                          capture_output=True, text=True, env=env)


class Guests:
    def __init__(self, lab):
        self.lab = lab
        self.made = []

    def busy(self, host, count):
        for _index in range(count):
            name = "bench-cap-%d-%d" % (os.getpid(), len(self.made))
            disk = os.path.join(self.lab.shared_dir, name + ".img")
            guests.make_image(disk, "busy")
            dom = self.lab.host(host).connect().defineXML(
                guests.domain_xml(name, "%s/%s.img" % (self.lab.shared_path, name), self.lab.virt_type, memory_mib=32))
            dom.create()
            self.made.append((name, disk))
        return [n for n, _d in self.made]

    def where(self, name):
        out = []
        for host in self.lab.hosts:
            try:
                if host.connect().lookupByName(name).isActive():
                    out.append(host.name)
            except libvirt.libvirtError:
                pass
        return out

    def cleanup(self):
        for host in self.lab.hosts:
            remove_guests(host.connect(), [name for name, _disk in self.made])
        for _name, disk in self.made:
            if os.path.exists(disk):
                os.unlink(disk)


def stats(lab, rounds, interval):
    hosts = {h.name: h.uri for h in lab.hosts}
    lib, task, base = [], [], []
    for _round in range(rounds):
        started = time.monotonic()
        time.sleep(interval)
        base.append(time.monotonic() - started)
        started = time.monotonic()
        stats_ops.sample_group(hosts, groups=("cpu", "memory"), samples=2, interval=interval)
        lib.append(time.monotonic() - started)
        started = time.monotonic()
        ansible(["-m", "hotiron.virt.group_stats", "-a", '{"hosts": %s, "interval": %g, "stats": ["cpu", "memory"]}'
                 % (str(hosts).replace("'", '"'), interval)])
        task.append(time.monotonic() - started)
    b = statistics.median(base)
    print("group_stats of %d hosts, interval %g s (median of %d): library %.2f s = %.2fx the interval"
          " (target <= 1.5: %s); as an ansible task %.2f s = %.2fx (Ansible's start-up included)"
          % (len(hosts), interval, rounds, statistics.median(lib), statistics.median(lib) / b,
             "met" if statistics.median(lib) / b <= 1.5 else "MISSED", statistics.median(task), statistics.median(task) / b))


def rulebook(lab, workdir):
    made = Guests(lab)
    pools = lab.shared_pools("bench-cap-shared")
    inventory_vars = {"rebalance_group": "lab", "rebalance_cpu_high": THRESHOLD, "rebalance_window": WINDOW,
                      "rebalance_max_imbalance": 0.1, "rebalance_cooldown": 120,
                      "rebalance_history_file": os.path.join(workdir, "load.json")}
    rulebook_vars = {"capacity_hosts": {h.name: h.uri for h in lab.hosts}, "capacity_interval": 2,
                     "capacity_cpu_high": THRESHOLD, "capacity_window": WINDOW, "capacity_cooldown": 15,
                     "capacity_schedule_interval": 0}
    try:
        with eda_helpers.rulebook(lab, workdir, "hotiron.virt.capacity", inventory_vars, rulebook_vars):
            time.sleep(15)  # the rulebook up and sampling a quiet group
            names = made.busy("hv1", 4)
            started = time.monotonic()
            while not [n for n in names if made.where(n) not in ([], ["hv1"])]:
                if time.monotonic() - started > 180:
                    raise SystemExit("no VM moved within 180 s")
                time.sleep(0.5)
            first = time.monotonic() - started
            while True:
                answer = stats_ops.sample_group({h.name: h.uri for h in lab.hosts}, groups=("cpu",), interval=3)
                loads = {n: h["load"] for n, h in answer["hosts"].items()}
                if max(loads.values()) <= THRESHOLD or time.monotonic() - started > 300:
                    break
            settled = time.monotonic() - started
        with open(os.path.join(workdir, "rulebook.log"), encoding="utf-8") as handle:
            runs = handle.read().count("TASK [Plan and move]")
        print("capacity rulebook: hv1 hot -> first migration started %.1f s (window %d s; target <= window + 15 s = %d s: %s)"
              % (first, WINDOW, WINDOW + 15, "met" if first <= WINDOW + 15 else "MISSED"))
        print("  balanced (no host above %d %%) after %.1f s and %d rebalance run(s) (target <= 3: %s); loads %s"
              % (THRESHOLD * 100, settled, runs, "met" if runs <= 3 else "MISSED",
                 {n: round(v, 2) for n, v in sorted(loads.items())}))
    finally:
        made.cleanup()
        lab.remove_shared_pools(pools, "bench-cap-shared")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stats", action="store_true")
    parser.add_argument("--rulebook", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--interval", type=float, default=2.0)
    opts = parser.parse_args()
    if not (opts.stats or opts.rulebook):
        opts.stats = opts.rulebook = True
    lab = Lab(int(os.environ.get("LAB_ID", "0")))
    if not (len(lab.hosts) >= 3 and all(h.is_up() for h in lab.hosts)):
        lab.up(3)
    workdir = tempfile.mkdtemp(prefix="bench-capacity-")
    try:
        if opts.stats:
            stats(lab, opts.rounds, opts.interval)
        if opts.rulebook:
            rulebook(lab, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
