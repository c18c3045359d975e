#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: capacity_report
short_description: An HTML report of a resource group's capacity - load over time, VMs, imbalance, the rebalance plan
version_added: 0.1.0
description:
  - Samples every host of a resource group (O(hosts)) O(samples) times, O(interval) seconds apart (as
    M(hotiron.virt.group_stats) does), plans a rebalance as M(hotiron.virt.rebalance) would in check
    mode, and writes one self-contained HTML file (O(dest)) - each host's load over the sampled window
    as a chart with the threshold (O(cpu_high)), its VMs with their SLA class, CPU and memory, the group's imbalance
    and verdict, and the plan with the reason for every move and for every VM that stays.
  - The plan follows the placement rules of M(hotiron.virt.rebalance) (O(cpu_high) to O(copy_storage) below).
  - The page has no script and loads nothing from elsewhere - it opens in any browser, offline, as a
    mail attachment or a CI artifact.
  - O(dest) is rewritten only when the page would show something else than the file there - its time
    stamp aside - so that a group measured the same gives C(changed=false); check mode predicts this
    from the same comparison. Loads are drawn at whole pixels and whole percents, so a busy group
    usually gives a new page and an idle one the same page.
  - A O(dest) that is a directory, or in a directory that does not exist or cannot be written, is
    refused before any host is measured; the file is replaced atomically (a failure leaves the
    previous file and no temporary file).
author:
  - hotiron.virt contributors (@hotiron-virt)
extends_documentation_fragment:
  - hotiron.virt.resource_group
  - hotiron.virt.resource_group.capacity
  - hotiron.virt.attributes
  - hotiron.virt.placement
  - hotiron.virt.placement.balance
attributes:
  check_mode:
    support: full
    details: Measures and returns the report's data, and whether the file would change; writes no file.
  diff_mode:
    support: none
options:
  dest:
    description: The HTML file to write (on the machine running the module).
    type: path
    required: true
  group:
    description: The group's name, for the title.
    type: str
    default: resource group
  samples:
    description: Readings of every host (2 to 1000).
    type: int
    default: 12
  interval:
    description: Seconds (0.5 to 600) between two readings.
    type: float
    default: 5
  window:
    description: Seconds (0 to 86400) a host must stay above O(cpu_high) for the plan (the sampled span judges it).
    type: int
    default: 0
seealso:
  - module: hotiron.virt.group_stats
  - module: hotiron.virt.rebalance
"""

EXAMPLES = r"""
- name: A report of the last minute of cluster1
  hotiron.virt.capacity_report:
    hosts: "{{ dict(groups['cluster1'] | zip(groups['cluster1'] | map('extract', hostvars, 'libvirt_uri'))) }}"
    group: cluster1
    dest: /var/www/reports/cluster1.html
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
report:
  description: The data the page shows (C(hosts) with C(series) and C(vms), C(imbalance), C(plan), C(unreachable)).
  returned: always
  type: dict
dest:
  description: The report's file (written only when it changed, never in check mode).
  returned: always
  type: str
"""

import time

from ansible_collections.hotiron.virt.plugins.module_utils import files
from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import inputs
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import rebalance_ops
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import report
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import stats_ops
from ansible_collections.hotiron.virt.plugins.module_utils.libvirt_common import VirtError
from ansible_collections.hotiron.virt.plugins.module_utils.migration.args import HOST_LIMITS_SPEC


def argument_spec():
    spec = module_base.group_argument_spec()
    spec.update(
        dest=dict(type="path", required=True),
        group=dict(type="str", default="resource group"),
        samples=dict(type="int", default=12, min=2, max=1000),
        interval=dict(type="float", default=5.0, min=0.5, max=600),
        window=dict(type="int", default=0, min=0, max=86400),
        **HOST_LIMITS_SPEC,
    )
    spec.update(module_base.balance_argument_spec())
    return spec


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


def run(module):
    p = module.params
    problem = check_input(p)
    if problem:
        module.fail_json(msg=problem)
    data = gather(p)
    if not data["hosts"]:
        module.fail_json(msg=inputs.unmeasured(p["hosts"], data["unreachable"]), report=data)
    page = report.render(data)
    # The page is rewritten only when what it shows changed (its time stamp aside): check mode
    # predicts exactly that, from the same comparison.
    changed = not report.same_page(existing_page(p["dest"]), page)
    if changed and not module.check_mode:
        write(p["dest"], page)
    if not changed:
        msg = "%s already shows this measurement (only its time would change): left as it is" % p["dest"]
    else:
        msg = "%s %s" % (p["dest"], "would be written" if module.check_mode else "written")
    return module_base.conclude(module, {"changed": changed, "dest": p["dest"], "report": data, "msg": msg})


def main():
    module_base.main(argument_spec(), run)


if __name__ == "__main__":
    main()
