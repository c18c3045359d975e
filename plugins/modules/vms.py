#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vms
short_description: Declare many libvirt virtual machines of one host in one task
version_added: 0.1.0
description:
  - Brings a list of VMs of one host to their declared state in one task, over one libvirt
    connection, doing for each entry what M(hotiron.virt.vm) does for one VM, up to
    O(concurrency) VMs at a time; results come in the order of the entries.
  - Each entry takes exactly the options of M(hotiron.virt.vm) (without O(uri)), and is checked
    the same way; O(defaults) gives the options every entry shares (an entry's own option
    replaces the default as a whole, lists and dicts included).
  - Use it instead of a loop over M(hotiron.virt.vm) to provision many VMs quickly, for example
    twenty linked clones of a template; Ansible starts one module per loop item, this module
    starts once.
  - Every entry is validated, with the argument spec of M(hotiron.virt.vm) (types, choices,
    ranges), and then planned as check mode would plan it (limits, the host's capabilities, the
    pools, volumes, networks and templates it names) before the first VM is touched; when one
    entry fails, the task fails naming every bad entry and nothing is changed. So a template
    that an entry clones must exist before the task (make it in a task of its own).
  - A VM that fails later (for example the host refusing to start it) is left as
    M(hotiron.virt.vm) leaves it (a create that fails removes what it made); the other VMs are
    still handled, as a loop's items are, and the task then fails naming the VMs that failed.
  - An entry that another entry clones, that sets O(hotiron.virt.vm#module:template), or that
    removes a template runs alone, after the entries before it and before those after it, as in
    a loop; the entries between such entries run concurrently.
author:
  - hotiron.virt contributors (@hotiron-virt)
extends_documentation_fragment:
  - hotiron.virt.connection
  - hotiron.virt.attributes
attributes:
  check_mode:
    support: full
    details: Returns each VM's plan and changes nothing.
  diff_mode:
    support: full
    details: One before and after of the normalised inactive domain XML per VM that changes.
options:
  vms:
    description:
      - The VMs, each a dict of the options of M(hotiron.virt.vm), O(hotiron.virt.vm#module:name) required.
      - Handled in the order given, before the entries of O(names).
    type: list
    elements: dict
  names:
    description:
      - VMs given by name only, each taking O(defaults) as its options.
      - Handled after the entries of O(vms).
    type: list
    elements: str
  defaults:
    description:
      - Options of M(hotiron.virt.vm) shared by every VM, for example O(hotiron.virt.vm#module:clone_from),
        O(hotiron.virt.vm#module:memory) and O(hotiron.virt.vm#module:state).
      - Cannot hold O(hotiron.virt.vm#module:name).
    type: dict
    default: {}
  concurrency:
    description:
      - How many VMs are planned and then brought to their state at a time (threads sharing the
        connection; libvirtd serves 5 calls of one client at a time).
      - V(1) handles them one after the other, as a loop does.
    type: int
    default: 4
    version_added: 0.2.0
notes:
  - One VM name may appear only once in a task.
seealso:
  - module: hotiron.virt.vm
"""

EXAMPLES = r"""
- name: Twenty linked clones of a template, running, in one task
  hotiron.virt.vms:
    uri: qemu:///system
    defaults:
      clone_from: tmpl-debian
      clone: linked
      memory: 1GiB
      state: running
    names: "{{ range(1, 21) | map('string') | map('regex_replace', '^', 'app') | list }}"

- name: A few different VMs
  hotiron.virt.vms:
    defaults:
      state: running
      owner: team-a
    vms:
      - name: db1
        vcpus: 4
        memory: 8GiB
        disks:
          - {pool: default, volume: db1.qcow2, size: 40GiB}
      - name: web1
        clone_from: tmpl-debian
        tags: [web]

- name: Remove them again, with the volumes they own
  hotiron.virt.vms:
    defaults:
      state: absent
      remove_volumes: true
    names: [db1, web1]
"""

RETURN = r"""
vms:
  description:
    - One result per VM, in the order handled; the keys of M(hotiron.virt.vm)'s result
      (RV(hotiron.virt.vm#module:plan), RV(hotiron.virt.vm#module:changes),
      RV(hotiron.virt.vm#module:restart_required), RV(hotiron.virt.vm#module:vm), ...), plus
      C(name), C(changed) and, for a VM that failed, C(failed) and C(msg).
  returned: when the entries were valid
  type: list
  elements: dict
  sample:
    - {name: app1, changed: true, plan: [define vm app1, start vm app1], restart_required: false,
       vm: {name: app1, uuid: 2f0c..., state: running}}
"""

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.vm import batch_ops as vm_batch
from ansible_collections.hotiron.virt.plugins.module_utils.vm import cloud_init


def argument_spec():
    spec = module_base.connection_argument_spec()
    spec.update(
        vms=dict(type="list", elements="dict"),
        names=dict(type="list", elements="str"),
        defaults=dict(type="dict", default={}),
        concurrency=dict(type="int", default=vm_batch.DEFAULT_CONCURRENCY, min=1, max=32),
    )
    return spec


def run(module):
    # vms' entries are untyped dicts: their cloud-init user data (passwords, keys) is masked as
    # vm's no_log option is.
    module.no_log_values.update(cloud_init.secrets((module.params["vms"] or []) + [module.params["defaults"]]))
    return module_base.conclude(module, vm_batch.run_vms(module.params, module.check_mode), unchanged_diff=True)


def main():
    module_base.main(argument_spec(), run, required_one_of=[("vms", "names")])


if __name__ == "__main__":
    main()
