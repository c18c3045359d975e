# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capacity report of hotiron.virt.capacity_report: the group measured (as group_stats does),
the balancer's plan for it (as rebalance decides, changing nothing), one HTML page rendered by the
pure :mod:`report` and written atomically when what it shows changed.
"""

from __future__ import annotations

import time

from ansible_collections.hotiron.virt.plugins.module_utils import files
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import inputs
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import rebalance_ops
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import report
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import stats_ops
from ansible_collections.hotiron.virt.plugins.module_utils.libvirt_common import VirtError


def gather(p):
    """The report's data: the readings, their loads and series, the VMs' classes, the plan."""
    readings = stats_ops.read_group(p["hosts"], groups=("cpu", "memory"), samples=p["samples"],
                                    interval=p["interval"], timeout=30.0, with_policy=True)
    try:
        rebalance_ops.read_pools(readings, refresh=False)  # a report changes nothing on the hosts
    finally:
        for reading in readings.values():
            if reading.conn is not None:
                reading.conn.close()
    now = time.time()
    params = dict(p, prometheus_url=None, history=None, history_file=None, min_gain=0.002)
    hosts, vms, measured, unreachable = rebalance_ops.from_readings(params, readings, now)
    plan = rebalance_ops.decide(params, hosts, vms, measured, unreachable, now)[0] if hosts else None
    data = {"group": p["group"], "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now)),
            "window_s": p["interval"] * (p["samples"] - 1), "cpu_high": p["cpu_high"],
            "max_imbalance": p["max_imbalance"], "hosts": {}, "unreachable": unreachable,
            "plan": plan.as_dict() if plan else {}, "imbalance": plan.imbalance_before if plan else 0.0}
    for name, reading in readings.items():
        if reading.error:
            continue
        host, loads, _series = stats_ops.loads_of(reading)
        entry = host.as_dict()
        entry["series"] = [[t, v] for t, v in measured.get(name, [])]
        entry["vms"] = [dict(load.as_dict(), sla=(reading.policy.get(vm) or {}).get("sla") or "silver")
                        for vm, load in sorted(loads.items())]
        data["hosts"][name] = entry
    return data


def check_input(params):
    """What AnsibleModule cannot check, before any host is measured: the group, the weights and
    groups of VMs (as rebalance checks them), and a ``dest`` that can be written (a directory, or a
    file in a directory that does not exist, is refused now, not after the sampling)."""
    return inputs.first_problem(
        inputs.check_hosts(params["hosts"]),
        inputs.check_sla_weights(params["sla_weights"]),
        inputs.check_vm_groups(params["affinity"], "affinity"),
        inputs.check_vm_groups(params["anti_affinity"], "anti_affinity"),
        inputs.check_file(params["dest"], "dest"))


def existing_page(path):
    """The text of the report already at ``path`` (None: no file, or not a page of text)."""
    try:
        return files.read_text(path)
    except ValueError:  # not UTF-8: not a page this module wrote
        return None
    except OSError as err:
        raise VirtError("dest: cannot read the existing report %s: %s" % (path, err.strerror)) from None


def write(path, text):
    try:
        files.write_atomic(path, text, makedirs=False)
    except OSError as err:
        raise VirtError("dest: cannot write the report %s: %s" % (path, err.strerror)) from None


def run_report(p, check_mode):
    """The module's result: the group measured, the page rendered and written when what it shows
    changed (its time stamp aside) - check mode predicts exactly that, from the same comparison."""
    problem = check_input(p)
    if problem:
        raise VirtError(problem)
    data = gather(p)
    if not data["hosts"]:
        return {"failed": True, "changed": False, "msg": inputs.unmeasured(p["hosts"], data["unreachable"]),
                "report": data}
    page = report.render(data)
    changed = not report.same_page(existing_page(p["dest"]), page)
    if changed and not check_mode:
        write(p["dest"], page)
    if not changed:
        msg = "%s already shows this measurement (only its time would change): left as it is" % p["dest"]
    else:
        msg = "%s %s" % (p["dest"], "would be written" if check_mode else "written")
    return {"changed": changed, "dest": p["dest"], "report": data, "msg": msg}
