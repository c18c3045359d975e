#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rebalance
short_description: Even out the CPU load of a resource group by live-migrating VMs
version_added: 0.1.0
description:
  - Measures every host of a resource group (O(hosts)) and plans, with rules an operator can read,
    which running VMs to live-migrate - when a host's CPU stayed above O(cpu_high) for O(window)
    seconds (oVirt's CpuOverCommitDurationMinutes), or when the imbalance of the group (the standard
    deviation of the hosts' normalised CPU loads, as vSphere DRS measures it) is above
    O(max_imbalance). Hot hosts are brought under the threshold first, hottest first; then the most
    loaded hosts give VMs to the least loaded while that lowers the imbalance.
  - Every move keeps the rules of host maintenance - never more memory or vCPUs on a host than it has
    free, never to a host in maintenance or lacking the VM's machine type or CPU, O(anti_affinity)
    groups never share a host, O(affinity) groups move whole or not at all, O(pinned) VMs never
    move - and every move must lower the imbalance by at least O(min_gain) (so a plan never raises
    it). A VM moved less than O(cooldown) seconds ago (by any run, since the time travels in its metadata) does not move, lower SLA classes move
    before higher ones (the VM's O(hotiron.virt.vm#module:sla), weighted by O(sla_weights)), and at
    most O(max_moves) VMs move per run. The same measurements give the same plan.
  - Each move carries its reason in words, for example
    "hv1 at 93 % for 2 min > 80 %; moving web3 (bronze, 0.95 CPUs); after the move hv1 61 %, hv3 58 %; imbalance 0.21 -> 0.07".
  - The load is read as M(hotiron.virt.group_stats) reads it - libvirt's bulk statistics over
    O(interval) seconds, or Prometheus (O(prometheus_url)). Whether a host stayed hot for the whole
    window is judged on its history - Prometheus's, the O(history) given (the collection's event
    source hands in what it sampled), or the O(history_file) runs of this module keep (when run from
    cron). Without any, a host is judged on its current load alone.
  - The migrations are M(hotiron.virt.vm_migrate)'s, with its tuning (O(migration)), O(concurrency) at a time.
  - A move is planned only when the VM's storage can follow it (as M(hotiron.virt.vm_migrate) decides)
    - network disks, volumes of shared pools (NFS, iSCSI, Ceph, ...), block devices the destination
    lists, and files in a directory that is a storage pool on both hosts and that the destination's
    pool lists; with O(copy_storage), also files the destination does not see, copied during the live
    migration. Every other VM stays, the plan saying why (C(skipped)). The run refreshes the pools over
    the VMs' disk directories to read them; check mode reads them as last refreshed, and where those
    listings do not show a disk yet it plans the move and says that the run decides.
author:
  - hotiron.virt contributors (@hotiron-virt)
extends_documentation_fragment:
  - hotiron.virt.migration_tuning.group
  - hotiron.virt.resource_group
  - hotiron.virt.resource_group.capacity
  - hotiron.virt.attributes
  - hotiron.virt.placement
  - hotiron.virt.placement.balance
attributes:
  check_mode:
    support: full
    details: Measures and returns the plan with its reasons; moves nothing and writes no history.
  diff_mode:
    support: full
    details: The hosts' loads and the group's imbalance, before and after the plan.
options:
  window:
    description: Seconds (0 to 86400) a host must stay above O(cpu_high) before VMs leave it.
    type: int
    default: 120
  min_gain:
    description:
      - Least imbalance gain (0 to 1) of a move. One move changes the imbalance of a group of n hosts
        by about 1/n of what it changes between its two hosts; lower it for groups of hundreds of hosts.
    type: float
    default: 0.002
  interval:
    description: Seconds (0.5 to 600) between the two libvirt readings of each host.
    type: float
    default: 5
  history:
    description:
      - Each host's recent load, host name to a list of V([time, load]) pairs (seconds since the epoch,
        load over the host's CPUs), for the O(window) test; what the collection's event source sampled.
      - Two readings further apart than half the O(window) (or three O(interval)s, whichever is longer)
        cannot tell that the host stayed hot in between, so the window starts again after such a gap;
        so does a latest reading older than that.
    type: dict
    default: {}
  history_file:
    description:
      - A file where runs of this module keep each host's load (JSON), so that runs from cron judge
        the O(window) on their own measurements. Not written in check mode.
    type: path
  prometheus_url:
    description: Base URL of a Prometheus scraping the group's libvirt exporters; the loads and the history come from it.
    type: str
  rate_window:
    description: With O(prometheus_url), the PromQL duration the current loads are averaged over.
    type: str
    default: 1m
  timeout:
    description: Seconds (1 to 600) a host or Prometheus gets to answer.
    type: float
    default: 30
  concurrency:
    description: Migrations at once (1 to 64).
    type: int
    default: 2
  migration_addresses:
    description: Host name to the address it receives migrations on.
    type: dict
    default: {}
seealso:
  - module: hotiron.virt.group_stats
  - module: hotiron.virt.host_maintenance
  - module: hotiron.virt.vm_migrate
"""

EXAMPLES = r"""
- name: What would move, and why
  hotiron.virt.rebalance:
    hosts: "{{ dict(groups['cluster1'] | zip(groups['cluster1'] | map('extract', hostvars, 'libvirt_uri'))) }}"
    history_file: /var/lib/hotiron-virt/load-cluster1.json
  check_mode: true
  register: plan

- name: Even the group out, at most 3 moves, keeping the databases apart
  hotiron.virt.rebalance:
    hosts: "{{ dict(groups['cluster1'] | zip(groups['cluster1'] | map('extract', hostvars, 'libvirt_uri'))) }}"
    prometheus_url: http://mon1.example.com:9090
    cpu_high: 0.75
    window: 300
    max_moves: 3
    anti_affinity:
      - [db1, db2]
    migration:
      max_downtime: 300
"""

RETURN = r"""
plan:
  description:
    - C(moves) (each with C(vm), C(from), C(to), C(reason), C(unit) the VMs moving with it, C(cpu),
      C(memory_mib), C(storage) - V(shared storage) or the disks copied), C(skipped) (VM to why it stayed), C(triggers), C(notes), C(loads_before),
      C(loads_after), C(imbalance_before), C(imbalance_after).
  returned: always
  type: dict
moves:
  description: The migrations carried out, each with C(vm), C(from), C(to), C(reason), C(ok), C(time_s), C(copied) (the disks copied), C(error).
  returned: always
  type: list
  elements: dict
imbalance_before:
  description: The group's imbalance as measured.
  returned: always
  type: float
imbalance_after:
  description: The imbalance the plan leads to.
  returned: always
  type: float
unreachable:
  description: Hosts that could not be measured (they neither give nor receive VMs).
  returned: always
  type: dict
"""

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import inputs
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.rebalance_ops import run_rebalance
from ansible_collections.hotiron.virt.plugins.module_utils.migration.args import HOST_LIMITS_SPEC, tuning_group_spec


def argument_spec():
    spec = module_base.group_argument_spec()
    spec.update(
        window=dict(type="int", default=120, min=0, max=86400),
        min_gain=dict(type="float", default=0.002, min=0, max=1),
        interval=dict(type="float", default=5.0, min=0.5, max=600),
        history=dict(type="dict", default={}),
        history_file=dict(type="path"),
        prometheus_url=dict(type="str"),
        rate_window=dict(type="str", default="1m"),
        timeout=dict(type="float", default=30.0, min=1, max=600),
        concurrency=dict(type="int", default=2, min=1, max=64),
        migration=tuning_group_spec(),
        migration_addresses=dict(type="dict", default={}),
        **HOST_LIMITS_SPEC,
    )
    spec.update(module_base.balance_argument_spec())
    return spec


def check_input(params):
    """Shapes AnsibleModule cannot check (capacity.inputs): the group's URIs, weights, groups of
    VMs, history points, addresses, and a history file that can be written."""
    return inputs.first_problem(
        inputs.check_hosts(params["hosts"]),
        inputs.check_sla_weights(params["sla_weights"]),
        inputs.check_vm_groups(params["affinity"], "affinity"),
        inputs.check_vm_groups(params["anti_affinity"], "anti_affinity"),
        inputs.check_history(params["history"]),
        inputs.check_addresses(params["migration_addresses"]),
        inputs.check_file(params["history_file"], "history_file", makedirs=True))


def run(module):
    problem = check_input(module.params)
    if problem:
        module.fail_json(msg=problem)
    return module_base.conclude(module, run_rebalance(module.params, module.check_mode))


def main():
    module_base.main(argument_spec(), run)


if __name__ == "__main__":
    main()
