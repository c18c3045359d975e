#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: group_stats
short_description: Load of every host and VM of a resource group, from libvirt or Prometheus
version_added: 0.1.0
description:
  - For every host of a resource group (O(hosts)) and every running VM on it - CPU use (percent of
    one CPU and in CPUs), vCPUs, memory assigned, in use on the host (QEMU's resident memory,
    from libvirt), disk and network bytes per second; per host its load normalised by its CPUs
    and memory, committed vCPUs and memory, VMs; per group the imbalance, the standard deviation
    of the hosts' normalised CPU loads (the measure vSphere DRS balances), hosts in maintenance
    left out.
  - By default every host is sampled at once with libvirt's bulk statistics, O(samples) readings
    O(interval) seconds apart over one connection per host; rates are differences of consecutive
    readings. A VM whose counters restarted in between (it migrated or restarted) has no rate
    that time, and says so (C(no_rate) of RV(hosts[].vms)).
  - A host's CPU load is its guests' CPU time over its CPUs, not the host's own CPU counters, so
    hosts that share hardware (nested labs) still show their own load.
  - With O(prometheus_url), the VMs' load comes from Prometheus (averages over O(window)), as the
    P(hotiron.virt.monitoring#role) role's exporters record it; each host's size and maintenance mark
    are still read from libvirt.
author:
  - hotiron.virt contributors (@hotiron-virt)
extends_documentation_fragment:
  - hotiron.virt.resource_group
  - hotiron.virt.attributes
  - hotiron.virt.attributes.info
options:
  interval:
    description: Seconds (0.1 to 600) between two readings of a host.
    type: float
    default: 2
  samples:
    description:
      - Readings per host (2 to 1000). More than two give RV(hosts[].series), the load between each two
        readings, for charts; the loads returned are over the whole span.
    type: int
    default: 2
  stats:
    description:
      - What to read besides states and vCPUs. CPU alone costs about a fifth of all of them
        (measured - 40 ms against 0.2 s for 20 guests over TCP), so ask for disk and network
        only when needed.
    type: list
    elements: str
    choices: [cpu, memory, disk, network]
    default: [cpu, memory, disk, network]
  prometheus_url:
    description: Base URL of a Prometheus scraping the group's libvirt exporters, for example V(http://mon1:9090).
    type: str
  window:
    description: With O(prometheus_url), the PromQL duration averaged over (it must span two scrapes).
    type: str
    default: 2m
  timeout:
    description: Seconds (1 to 600) a host (or Prometheus) gets to answer, beyond the sampling itself.
    type: float
    default: 30
notes:
  - An unreachable host is listed in RV(unreachable) with the reason; the others are still measured.
seealso:
  - module: hotiron.virt.rebalance
  - module: hotiron.virt.vm_info
"""

EXAMPLES = r"""
- name: The group's load over 5 seconds
  hotiron.virt.group_stats:
    hosts: "{{ dict(groups['cluster1'] | zip(groups['cluster1'] | map('extract', hostvars, 'libvirt_uri'))) }}"
    interval: 5
    stats: [cpu]
  register: load

- name: Which host is the hottest
  ansible.builtin.debug:
    msg: "{{ load.group.hottest }} at {{ (load.hosts[load.group.hottest].load * 100) | round }} %, imbalance {{ load.group.imbalance | round(2) }}"

- name: The same from Prometheus, averaged over 2 minutes
  hotiron.virt.group_stats:
    hosts: "{{ dict(groups['cluster1'] | zip(groups['cluster1'] | map('extract', hostvars, 'libvirt_uri'))) }}"
    prometheus_url: http://mon1.example.com:9090
    window: 2m
"""

RETURN = r"""
hosts:
  description: Each reachable host - C(load) (CPUs used by its VMs over its CPUs, 1.0 = all busy), C(cpu_used),
    C(cpus), C(memory_mib), C(memory_committed) and C(memory_used) (over its memory), C(vcpus_committed),
    C(vm_count), C(in_maintenance), C(no_rate) (VMs without a rate this time), C(vms) and, with more than
    two samples, C(series).
  returned: always
  type: dict
  contains:
    vms:
      description: Each running VM - C(cpu_percent) (of one CPU), C(cpu_cpus), C(vcpus), C(memory_mib),
        C(memory_max_mib), C(memory_used_mib), C(disk_read_bps), C(disk_write_bps), C(net_rx_bps),
        C(net_tx_bps), C(no_rate).
      type: dict
    series:
      description: The host's load between each two readings, C([time, load]) pairs (wall clock).
      type: list
group:
  description: C(imbalance) (standard deviation of the hosts' loads), C(mean_load), C(max_load), C(hottest),
    C(hosts) counted, C(in_maintenance).
  returned: always
  type: dict
  sample: {imbalance: 0.21, mean_load: 0.34, max_load: 0.63, hottest: hv1, hosts: 3, in_maintenance: []}
unreachable:
  description: Hosts that could not be measured, and why.
  returned: always
  type: dict
source:
  description: V(libvirt) or V(prometheus).
  returned: always
  type: str
took_s:
  description: Seconds the module took.
  returned: always
  type: float
"""

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import inputs
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import stats_ops


def argument_spec():
    spec = module_base.group_argument_spec()
    spec.update(
        interval=dict(type="float", default=2.0, min=0.1, max=600),
        samples=dict(type="int", default=2, min=2, max=1000),
        stats=dict(type="list", elements="str", choices=list(stats_ops.STAT_GROUPS), default=list(stats_ops.STAT_GROUPS)),
        prometheus_url=dict(type="str"),
        window=dict(type="str", default="2m"),
        timeout=dict(type="float", default=30.0, min=1, max=600),
    )
    return spec


def run(module):
    p = module.params
    problem = inputs.check_hosts(p["hosts"])
    if problem:
        module.fail_json(msg=problem)
    if p["prometheus_url"]:
        result = stats_ops.prometheus_group(p["prometheus_url"], p["window"], p["hosts"], timeout=p["timeout"])
    else:
        result = stats_ops.sample_group(p["hosts"], p["stats"], p["samples"], p["interval"], p["timeout"])
    if not result["hosts"]:
        module.fail_json(msg=inputs.unmeasured(p["hosts"], result["unreachable"]), **result)
    return module_base.conclude(module, dict(result, changed=False))


def main():
    module_base.main(argument_spec(), run)


if __name__ == "__main__":
    main()
