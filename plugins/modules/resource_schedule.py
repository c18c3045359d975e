#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: resource_schedule
short_description: Give VMs more or fewer resources by time of day
version_added: 0.1.0
description:
  - Applies to the VMs of a resource group (O(hosts)) the rule of O(rules) in force now - vCPUs,
    memory, CPU shares, a CPU quota, the SLA class - live where libvirt can and to the persistent
    definition too. Outside every rule each VM has its declared values again.
  - A rule selects VMs by name pattern, tag or resource group (the collection's metadata, see
    M(hotiron.virt.vm)), on some days between two wall-clock times of a time zone; a rule whose end
    is not after its start crosses midnight and belongs to the day it starts. When several rules
    select a VM, the last one in force wins, alone; the result says which rule applied to each VM.
    Daylight-saving changes are handled (a time that does not exist is taken after the jump, a time
    that happens twice at its first occurrence).
  - vCPUs and memory stay within the VM's maxima (the result says when a rule asked for more).
    When a rule first changes a VM, its declared values are recorded in its metadata
    (C(schedule_declared)), and they are restored when no rule is in force any more.
  - Run it on a timer (cron, AWX, the collection's capacity rulebook); RV(next_change) says when the
    answer changes next.
author:
  - hotiron.virt contributors (@hotiron-virt)
extends_documentation_fragment:
  - hotiron.virt.resource_group
  - hotiron.virt.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Each VM's values before and after.
options:
  rules:
    description: The rules, in order (the last one in force wins).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: A name for the rule, shown in the result.
        type: str
      vms:
        description: VM name patterns (shell style, V(web-*)); V(['*']) for every VM.
        type: list
        elements: str
      tags:
        description: VMs with any of these tags.
        type: list
        elements: str
      groups:
        description: VMs of any of these resource groups.
        type: list
        elements: str
      days:
        description: Days of the week (V(mon) ... V(sun)) or ranges (V(mon-fri)); every day when left out.
        type: list
        elements: str
      from:
        description: Start, V(HH:MM) wall-clock time (quote it in YAML - unquoted, 22:00 is a number). Default V(00:00).
        type: str
      to:
        description: End, V(HH:MM) (V(24:00) allowed). Default V(24:00).
        type: str
      timezone:
        description: Time zone of O(rules[].from) and O(rules[].to), such as V(Europe/Berlin).
        type: str
        default: UTC
      set:
        description: What the rule sets; at least one.
        type: dict
        required: true
        suboptions:
          vcpus:
            description: Active vCPUs (1 to 4096, within the VM's maximum).
            type: int
          memory:
            description: Memory (balloon target) with a unit, such as V(4GiB), within the VM's maximum.
            type: str
          cpu_shares:
            description: CPU shares (2 to 262144).
            type: int
          vcpu_quota:
            description: CPU time per vCPU, in percent of one CPU (above 0, at most 100).
            type: float
          sla:
            description: SLA class; a built-in class (gold, silver, bronze) also sets its CPU shares unless the rule sets O(rules[].set.cpu_shares).
            type: str
  sla_classes:
    description: When given, the SLA classes a rule may set (a typo is refused).
    type: list
    elements: str
  at:
    description: Apply the rules as at this time (ISO 8601 with a zone), instead of now - to try a schedule.
    type: str
notes:
  - CPU shares and quotas need libvirt to manage the host's CPU cgroup controller (C(cgroup_controllers)
    in qemu.conf, as on any production host); where it does not, the task fails saying "not supported
    on this host" for that VM.
  - Memory moves the guest's balloon; a guest without a balloon driver keeps what it has until it restarts.
seealso:
  - module: hotiron.virt.vm
  - module: hotiron.virt.rebalance
"""

EXAMPLES = r"""
- name: Batch VMs get 8 vCPUs at night on weekdays, web VMs fewer shares at the weekend
  hotiron.virt.resource_schedule:
    hosts: "{{ dict(groups['cluster1'] | zip(groups['cluster1'] | map('extract', hostvars, 'libvirt_uri'))) }}"
    rules:
      - name: night batch
        vms: ["batch-*"]
        days: [mon-fri]
        from: "22:00"
        to: "06:00"
        timezone: Europe/Berlin
        set: {vcpus: 8, memory: 16GiB}
      - name: quiet weekend
        tags: [web]
        days: [sat, sun]
        set: {sla: bronze}
"""

RETURN = r"""
vms:
  description: Every VM - C(vm), C(host), C(rule) (index) and C(rule_name) that applied (null - its declared
    values), C(reason), C(values) wanted, C(changes) (field to V([now, wanted])), C(clipped), and when applied,
    C(applied), C(errors) and C(restart_pending) (written to the definition, refused live by the
    running guest, such as a vCPU it cannot unplug; applied at its next start).
  returned: always
  type: list
  elements: dict
next_change:
  description: The next time (ISO 8601, UTC) any VM's values change, null when none ever does.
  returned: always
  type: str
at:
  description: The time the rules were applied as at.
  returned: always
  type: str
"""

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import inputs
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.schedule_ops import run_schedule


def argument_spec():
    values = dict(
        vcpus=dict(type="int", min=1, max=4096),
        memory=dict(type="str"),
        cpu_shares=dict(type="int", min=2, max=262144),
        vcpu_quota=dict(type="float", min=0.001, max=100),
        sla=dict(type="str"),
    )
    rule = dict(
        name=dict(type="str"),
        vms=dict(type="list", elements="str"),
        tags=dict(type="list", elements="str"),
        groups=dict(type="list", elements="str"),
        days=dict(type="list", elements="str"),
        timezone=dict(type="str", default="UTC"),
        set=dict(type="dict", required=True, options=values),
        **{"from": dict(type="str"), "to": dict(type="str")},
    )
    spec = module_base.group_argument_spec()
    spec.update(
        rules=dict(type="list", elements="dict", required=True, options=rule),
        sla_classes=dict(type="list", elements="str"),
        at=dict(type="str"),
    )
    return spec


def clean_rules(rules):
    """The rules as the pure code takes them: options left out are not given at all."""
    out = []
    for rule in rules:
        clean = {k: v for k, v in rule.items() if v is not None and k != "set"}
        clean["set"] = {k: v for k, v in (rule.get("set") or {}).items() if v is not None}
        out.append(clean)
    return out


def run(module):
    problem = inputs.check_hosts(module.params["hosts"])
    if problem:
        module.fail_json(msg=problem)
    params = dict(module.params, rules=clean_rules(module.params["rules"]))
    return module_base.conclude(module, run_schedule(params, module.check_mode))


def main():
    module_base.main(argument_spec(), run)


if __name__ == "__main__":
    main()
