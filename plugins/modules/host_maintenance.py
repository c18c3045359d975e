#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_maintenance
short_description: Put a libvirt host in maintenance (evacuating its VMs) or take it out
version_added: 0.1.0
description:
  - O(state=maintenance) live-migrates every running VM of the host of O(uri) to the other hosts of
    its resource group (O(hosts)), placed so that no host gets more memory or vCPUs than it has free,
    no VM goes to a host in maintenance or to one lacking its machine type or unable to run its CPU
    (a model, mode or feature, in a group mixing QEMU versions), and VMs of one O(anti_affinity) group never share a host.
    Then the host is marked as in maintenance, and no hotiron.virt placement uses it until
    O(state=active).
  - The mark is a libvirt secret object without a value, usage V(volume) named
    V(hotiron-maintenance), on the host itself (C(virsh secret-list) shows it); its description
    records which VMs went where.
  - Migrations run concurrently, at most O(concurrency) at a time.
  - VMs in O(pinned) cannot leave the host; O(pinned_action) says whether that refuses the whole
    evacuation or shuts them down (they are started again by O(state=active)).
  - When a VM cannot be placed nothing is moved. When a migration fails, that VM keeps running on
    the host, the others still move, and the task fails naming it.
  - O(state=active) removes the mark, starts the VMs shut down for maintenance and, with
    O(bring_back), migrates back the VMs that were moved away.
author:
  - hotiron.virt contributors (@hotiron-virt)
extends_documentation_fragment:
  - hotiron.virt.resource_group.both_groups
  - hotiron.virt.connection
  - hotiron.virt.migration_tuning.group
  - hotiron.virt.resource_group.capacity
  - hotiron.virt.attributes
  - hotiron.virt.placement
attributes:
  check_mode:
    support: full
    details: Returns the evacuation plan (RV(plan)) without moving anything.
  diff_mode:
    support: full
    details: The host's state and the VMs running on it, before and after (planned in check mode).
options:
  uri:
    description: libvirt URI of the host entering or leaving maintenance.
  state:
    description: V(maintenance) to evacuate and mark the host, V(active) to end maintenance.
    type: str
    choices: [maintenance, active]
    default: maintenance
  hosts:
    description:
      - The hosts of the resource group, name to libvirt URI (the URI each host's libvirtd reaches
        the others by). The host of O(uri) may be included; it is recognised by its URI.
    type: dict
    required: true
  concurrency:
    description: How many migrations run at once (1 to 64).
    type: int
    default: 2
  pinned:
    description: VMs that must not leave the host.
    type: list
    elements: str
    default: []
  pinned_action:
    description: V(fail) refuses to evacuate a host running a pinned VM; V(shutdown) shuts those down.
    type: str
    choices: [fail, shutdown]
    default: fail
  shutdown_timeout:
    description: Seconds (0 or more) a pinned VM gets to shut down cleanly before it is forced off.
    type: float
    default: 120
  bring_back:
    description: With O(state=active), migrate back the VMs that maintenance moved away.
    type: bool
    default: false
  migration_addresses:
    description: Host name to the address it receives migrations on (V(tcp://10.0.0.2) or V(10.0.0.2)).
    type: dict
    default: {}
seealso:
  - module: hotiron.virt.vm_migrate
"""

EXAMPLES = r"""
- name: Empty hv1 onto the other hosts of its group
  hotiron.virt.host_maintenance:
    uri: "{{ hostvars['hv1'].libvirt_uri }}"
    hosts: "{{ dict(groups['lab'] | zip(groups['lab'] | map('extract', hostvars, 'libvirt_uri'))) }}"
    state: maintenance
    anti_affinity:
      - [db1, db2]
    pinned: [licence-server]
    pinned_action: shutdown

- name: Back in service, with its VMs
  hotiron.virt.host_maintenance:
    uri: "{{ hostvars['hv1'].libvirt_uri }}"
    hosts: "{{ dict(groups['lab'] | zip(groups['lab'] | map('extract', hostvars, 'libvirt_uri'))) }}"
    state: active
    bring_back: true
"""

RETURN = r"""
host:
  description: Name of the host.
  returned: always
  type: str
state:
  description: The state the host is in now.
  returned: always
  type: str
plan:
  description: The evacuation plan (C(moves), C(shutdown), C(unplaced)) or, for
    O(state=active), what comes back.
  returned: when there is work
  type: dict
moves:
  description: Each migration, with C(vm), C(from), C(to), C(time_s), C(ok) and C(error).
  returned: when vms moved
  type: list
  elements: dict
shutdown:
  description: Pinned VMs shut down, and how.
  returned: with O(state=maintenance)
  type: list
  elements: dict
duration_s:
  description: Time the evacuation took.
  returned: when vms moved
  type: float
unreachable_hosts:
  description: Hosts of the group that could not be reached, and why; they got no VM.
  returned: with O(state=maintenance)
  type: dict
"""

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.maintenance_ops import run_host_maintenance
from ansible_collections.hotiron.virt.plugins.module_utils.migration.args import HOST_LIMITS_SPEC, tuning_group_spec


def run(module):
    return module_base.conclude(module, run_host_maintenance(module.params, module.check_mode))


def argument_spec():
    spec = module_base.connection_argument_spec()
    spec.update(
        state=dict(type="str", choices=["maintenance", "active"], default="maintenance"),
        hosts=dict(type="dict", required=True, min_items=1, string_values=True),
        concurrency=dict(type="int", default=2, min=1, max=64),
        pinned=dict(type="list", elements="str", default=[]),
        pinned_action=dict(type="str", choices=["fail", "shutdown"], default="fail"),
        shutdown_timeout=dict(type="float", default=120.0, min=0),
        bring_back=dict(type="bool", default=False),
        migration=tuning_group_spec(),
        migration_addresses=dict(type="dict", default={}),
        **HOST_LIMITS_SPEC,
    )
    spec.update(module_base.placement_argument_spec())
    return spec


def main():
    module_base.main(argument_spec(), run)


if __name__ == "__main__":
    main()
