#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: backup_info
short_description: The backups of a VM, or of every VM on a backup target, by chain
version_added: 0.1.0
description:
  - Lists the backups M(hotiron.virt.vm_backup) wrote to a backup target (O(target) or the
    directory of storage pool O(target_pool)), per VM its chains (a full backup and the
    incrementals after it), each backup's record (mode, parent, checkpoint, times, size, files
    with their SHA-256), sizes, and the directories of backups that never finished.
  - With O(verify), every file is read and checked against its recorded SHA-256.
  - Reports problems (missing or damaged files, chains that do not start with a full backup) in
    RV(problems) without failing.
author:
  - hotiron.virt contributors (@hotiron-virt)
extends_documentation_fragment:
  - hotiron.virt.connection
  - hotiron.virt.attributes
  - hotiron.virt.backup_target
  - hotiron.virt.attributes.info
options:
  uri:
    description: libvirt URI, used only to find the directory of O(target_pool).
  vm:
    description: Only this VM's backups. Without it, every VM on the target.
    type: str
  verify:
    description: Read every file and compare it with its recorded SHA-256.
    type: bool
    default: false
seealso:
  - module: hotiron.virt.vm_backup
  - module: hotiron.virt.vm_restore
"""

EXAMPLES = r"""
- name: Every backup on the target
  hotiron.virt.backup_info:
    target: /srv/backups
  register: backups

- name: Check web1's backups byte for byte
  hotiron.virt.backup_info:
    target: /srv/backups
    vm: web1
    verify: true
  register: web1_backups
  failed_when: web1_backups.problems | length > 0
"""

RETURN = r"""
target:
  description: The backup target directory.
  returned: always
  type: str
size:
  description: Bytes of all complete backups listed.
  returned: always
  type: int
problems:
  description: Missing or damaged files and broken chains found.
  returned: always
  type: list
  elements: str
vms:
  description: Per VM name, its backups.
  returned: always
  type: dict
  contains:
    chains:
      description: Chains, oldest first, each with id, first, last, last_finished, size,
        complete, backups (records, oldest first) and, with O(verify), verified.
      type: list
      elements: dict
    latest:
      description: Id of the newest backup.
      type: str
    size:
      description: Bytes of the VM's complete backups.
      type: int
    incomplete:
      description: Backup directories without a usable record (an interrupted run), and why.
      type: list
      elements: str
"""

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.backup.info_ops import run_backup_info


def run(module):
    return module_base.conclude(module, run_backup_info(module.params))


def argument_spec():
    spec = module_base.connection_argument_spec()
    spec.update(
        **module_base.backup_target_argument_spec(),
        vm=dict(type="str"),
        verify=dict(type="bool", default=False),
    )
    return spec


def main():
    module_base.main(argument_spec(), run, **module_base.BACKUP_TARGET_RULES)


if __name__ == "__main__":
    main()
