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

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import report_ops
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


def run(module):
    return module_base.conclude(module, report_ops.run_report(module.params, module.check_mode))


def main():
    module_base.main(argument_spec(), run)


if __name__ == "__main__":
    main()
