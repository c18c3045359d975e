# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evacuating a host of 6 VMs: 2 migrations at once against one at a time, alternated.

Once the guests have booted and after an untimed warm-up evacuation, each round puts hv1 in maintenance with host_maintenance's own code (concurrency 2, then 1,
or the other way round), timing the evacuation, then brings the VMs back (not timed).
Prints the ratio of total evacuation times (target at most 0.65).

    LAB_ID=0 .venv/bin/python benchmarks/bench_evacuate.py [--rounds 3] [--warmup 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
sys.path.insert(0, os.path.join(ROOT, "build", "src"))

import libvirt  # noqa: E402

from lab import Lab  # noqa: E402
from bench_migrate import domain_xml, settle, src_link  # noqa: E402

src_link()
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.maintenance_ops import run_host_maintenance  # noqa: E402


def params(lab, state, concurrency):
    return dict(uri=lab.host("hv1").uri, state=state, hosts={h.name: h.uri for h in lab.hosts},
                concurrency=concurrency, pinned=[], pinned_action="fail", shutdown_timeout=10.0,
                anti_affinity=[], bring_back=True, migration={}, migration_addresses={},
                cpu_allocation_ratio=4.0, reserved_host_memory=256)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="untimed evacuations first")
    parser.add_argument("--vms", type=int, default=6)
    parser.add_argument("--memory", type=int, default=64)
    opts = parser.parse_args()

    lab = Lab(int(os.environ.get("LAB_ID", "0")))
    was_up = len(lab.hosts) >= 3 and all(h.is_up() for h in lab.hosts)
    if not was_up:
        lab.up(3)
    conn = lab.host("hv1").connect()
    names = ["bench-evac-%d-%d" % (os.getpid(), i) for i in range(opts.vms)]
    times = {1: [], 2: []}
    try:
        doms = [conn.defineXML(domain_xml(name, lab.virt_type, opts.memory)) for name in names]
        for dom in doms:
            dom.create()
        settle(doms)  # booted, so that no round times the guests' boot
        for _round in range(opts.warmup):  # first connections, page cache, QEMU binaries
            run_host_maintenance(params(lab, "maintenance", 2), False)
            run_host_maintenance(params(lab, "active", 2), False)
        for rnd in range(opts.rounds):
            for concurrency in ((2, 1) if rnd % 2 == 0 else (1, 2)):
                started = time.monotonic()
                result = run_host_maintenance(params(lab, "maintenance", concurrency), False)
                elapsed = time.monotonic() - started
                if result.get("failed"):
                    raise SystemExit(result["msg"])
                times[concurrency].append(elapsed)
                back = run_host_maintenance(params(lab, "active", 2), False)
                if back.get("failed"):
                    raise SystemExit(back["msg"])
    finally:
        for host in lab.hosts:
            c = host.connect()
            try:
                c.secretLookupByUsage(libvirt.VIR_SECRET_USAGE_TYPE_VOLUME, "hotiron-maintenance").undefine()
            except libvirt.libvirtError:
                pass
            for name in names:
                try:
                    d = c.lookupByName(name)
                    if d.isActive():
                        d.destroy()
                    d.undefine()
                except libvirt.libvirtError:
                    pass
        if not was_up:
            lab.down()
    print("evacuating %d vms of %d MiB from hv1 to hv2+hv3, %d rounds" % (opts.vms, opts.memory, opts.rounds))
    for c in (2, 1):
        print("  concurrency %d: %s s" % (c, " ".join("%.2f" % t for t in times[c])))
    ratio = sum(times[2]) / sum(times[1])
    print("ratio 2 at once / one at a time: %.2f (target <= 0.65)" % ratio)
    return 0


if __name__ == "__main__":
    sys.exit(main())
