# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cost with group size: one recover pass, one group_stats, one rebalance plan + check and one
host_maintenance evacuation on groups of 3, 12 and 24 lab hosts.

Every host holds ``--vms`` defined VMs (32 MiB, no disk), ``--running`` of them running (hv1 one
more, so that the evacuation moves ``--running`` + 1 VMs whatever the size).  Each operation is
the module's own code called as a library with the module's defaults (its argument spec), timed
``--rounds`` times (median), each in a process of its own as a module runs.  Prints the wall time of each at each size (the curve) and the ratio
24-host / 3-host (targets: at most 2 for recover, group_stats and the rebalance plan, whose hosts
are asked concurrently; the evacuation proportional to the VMs moved, which do not grow with the
group).  group_stats and rebalance sample for a fixed interval (2 s and 5 s by default): the
time above it is printed too.

    LAB_ID=0 .venv/bin/python benchmarks/bench_scale.py [--sizes 3,12,24] [--vms 10] [--running 1]

The lab is grown to the largest size (hosts are cheap: a libvirtd each) and left as it was found
(hosts it started are stopped again only when it brought the lab up).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

import libvirt  # noqa: E402

from lab import Lab  # noqa: E402
from bench_migrate import domain_xml, settle, src_link  # noqa: E402

sys.path.insert(0, src_link())
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # noqa: E402
from ansible_collections.hotiron.virt.plugins.module_utils import arg_ranges  # noqa: E402
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import stats_ops  # noqa: E402
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.rebalance_ops import run_rebalance  # noqa: E402
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.maintenance_ops import run_host_maintenance  # noqa: E402
from ansible_collections.hotiron.virt.plugins.module_utils.recovery.recover_ops import run_recover  # noqa: E402
from ansible_collections.hotiron.virt.plugins.modules import group_stats, host_maintenance, rebalance, recover  # noqa: E402

PREFIX = "bench-scale"


def module_params(module, **given):
    """``given`` completed with the defaults of ``module``'s argument spec, as AnsibleModule would."""
    spec, _ranges = arg_ranges.split(module.argument_spec())
    checked = ArgumentSpecValidator(spec).validate(given)
    if checked.error_messages:
        raise SystemExit("%s: %s" % (module.__name__, "; ".join(checked.error_messages)))
    return checked.validated_parameters


def populate(lab, hosts, vms, running):
    """Define ``vms`` VMs on each host (``running`` of them started, hv1 one more); the running
    domains."""
    started = []
    for host in hosts:
        conn = host.connect()
        names = {d.name() for d in conn.listAllDomains()}
        for index in range(vms):
            name = "%s-%s-%d" % (PREFIX, host.name, index)
            dom = conn.lookupByName(name) if name in names else conn.defineXML(domain_xml(name, lab.virt_type, 32))
            if index < running + (1 if host.name == "hv1" else 0) and not dom.isActive():
                dom.create()
            if dom.isActive():
                started.append(dom)
    return started


def cleanup(hosts):
    for host in hosts:
        try:
            conn = host.connect()
        except libvirt.libvirtError:
            continue
        for dom in conn.listAllDomains():
            if dom.name().startswith(PREFIX):
                if dom.isActive():
                    dom.destroy()
                dom.undefine()


def timed(func, *args):
    started = time.monotonic()
    result = func(*args)
    elapsed = time.monotonic() - started
    if isinstance(result, dict) and result.get("failed"):
        raise SystemExit("failed: %s" % result.get("msg"))
    return elapsed, result


def one_operation(op, hosts, workdir):
    """``(seconds, VMs moved)`` of one operation on ``hosts``, in this (fresh) process."""
    if op == "recover":
        state_file = os.path.join(workdir, "recover-%d.json" % len(hosts))
        return timed(run_recover, module_params(recover, hosts=hosts, state_file=state_file), False)[0], 0
    if op == "group_stats":
        p = module_params(group_stats, hosts=hosts)
        return timed(stats_ops.sample_group, p["hosts"], p["stats"], p["samples"], p["interval"], p["timeout"])[0], 0
    if op == "rebalance":
        return timed(run_rebalance, module_params(rebalance, hosts=hosts), True)[0], 0
    maint = dict(uri=hosts["hv1"], hosts=hosts, shutdown_timeout=10.0)
    elapsed, result = timed(run_host_maintenance, module_params(host_maintenance, state="maintenance", **maint), False)
    back = run_host_maintenance(module_params(host_maintenance, state="active", bring_back=True, **maint), False)
    if back.get("failed"):
        raise SystemExit("bringing hv1 back failed: %s" % back.get("msg"))
    return elapsed, len(result["moves"])


OPERATIONS = ("recover", "group_stats", "rebalance", "evacuation")


def measure(lab, size, rounds, workdir):
    """Each operation in a process of its own, as a module runs (several passes of recover in one
    process found lab hosts not answering their connect: see the README), timed inside it."""
    hosts = {h.name: h.uri for h in lab.hosts[:size]}
    times = {op: [] for op in OPERATIONS}
    moved = 0
    for _rnd in range(rounds):
        for op in OPERATIONS:
            proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--op", op, "--workdir", workdir,
                                   "--hosts-json", json.dumps(hosts)], capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise SystemExit("%s on %d hosts failed: %s" % (op, size, proc.stderr[-2000:]))
            elapsed, count = json.loads(proc.stdout.strip().splitlines()[-1])
            times[op].append(elapsed)
            moved = count or moved
    return {k: statistics.median(v) for k, v in times.items()}, moved


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3,12,24")
    parser.add_argument("--vms", type=int, default=10, help="defined VMs per host")
    parser.add_argument("--running", type=int, default=1, help="of them running (hv1: one more)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--op", choices=OPERATIONS, help=argparse.SUPPRESS)        # one operation (a child)
    parser.add_argument("--hosts-json", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.op:
        print(json.dumps(one_operation(opts.op, json.loads(opts.hosts_json), opts.workdir)))
        return 0
    sizes = sorted(int(s) for s in opts.sizes.split(","))
    lab = Lab(int(os.environ.get("LAB_ID", "0")))
    was_up = bool(lab.hosts) and all(h.is_up() for h in lab.hosts)
    lab.up(max(sizes))
    curve = {}
    try:
        started = populate(lab, lab.hosts[:max(sizes)], opts.vms, opts.running)
        settle(started)
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as workdir:
            for size in sizes:
                curve[size] = measure(lab, size, opts.rounds, workdir)
                print("  %2d hosts: %s" % (size, ", ".join("%s %.2f s" % kv for kv in curve[size][0].items())), flush=True)
    finally:
        cleanup(lab.hosts)
        if not was_up:
            lab.down()
    intervals = {"group_stats": 2.0, "rebalance": 5.0}    # the modules' default sampling time
    first, last = sizes[0], sizes[-1]
    print("one operation on groups of %s lab hosts, %d defined VMs per host, %d running (hv1: %d), median of %d:"
          % (", ".join(map(str, sizes)), opts.vms, opts.running, opts.running + 1, opts.rounds))
    print("  %-12s %s   %d/%d   %s" % ("", "  ".join("%6d" % s for s in sizes), last, first, "target"))
    for op, target in (("recover", "<= 2"), ("group_stats", "<= 2"), ("rebalance", "<= 2"),
                       ("evacuation", "~ VMs moved")):
        row = [curve[s][0][op] for s in sizes]
        line = "  %-12s %s   %5.2f" % (op, "  ".join("%5.2fs" % t for t in row), row[-1] / row[0])
        if op in intervals:
            above = [t - intervals[op] for t in row]
            line += "   (above its %gs sampling: %s)" % (intervals[op], " ".join("%.2fs" % a for a in above))
        print(line + "   " + target)
    print("  VMs moved by each evacuation: %s" % ", ".join(str(curve[s][1]) for s in sizes))
    print("  (load average %.1f on %d CPUs)" % (os.getloadavg()[0], os.cpu_count()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
