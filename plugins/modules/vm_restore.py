#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vm_restore
short_description: Restore a VM from its backups, on this or another host, under its name or a new one
version_added: 0.1.0
description:
  - Rebuilds a VM backed up by M(hotiron.virt.vm_backup) on the host of O(uri) (any host of the
    group that sees the backup target), from the newest complete backup of O(vm) or the one named
    by O(backup).
  - Each disk is rebuilt from the chain, the full backup first, then every incremental up to the
    chosen backup in order. Every backup file is checked against the SHA-256 in its record before
    it is used, the rebuilt image is checked (C(qemu-img check), virtual size), and only then is
    the VM defined, from the definition recorded with the backup.
  - The restored disks are qcow2 files C(<name>-<disk>.qcow2) in O(disk_dir) (or the directory of
    O(disk_pool)), with no backing file.
  - Restored under a new O(name), the VM gets a new UUID and new MAC addresses, so it can run next
    to the original. Under the same name, it keeps its UUID.
  - A VM of that name (or, under the same name, a VM with its UUID) on the host, or a disk file in
    the way, is refused; nothing is overwritten. On any failure everything the run made is removed.
author:
  - hotiron.virt contributors (@hotiron-virt)
extends_documentation_fragment:
  - hotiron.virt.connection
  - hotiron.virt.attributes
  - hotiron.virt.backup_target
attributes:
  check_mode:
    support: full
    details: Checks names, files and the recorded checksums (reading the backup files), and returns what would
      be restored, without writing anything.
  diff_mode:
    support: full
    details: The VM (none before) and its disks after.
options:
  uri:
    description:
      - libvirt URI of the host to restore the VM on. The module writes the disk files itself, so
        it must run on that host (the default V(qemu:///system) there).
  vm:
    description: Name of the backed-up VM (its directory on the backup target).
    type: str
    required: true
  name:
    description: Name of the restored VM. Defaults to O(vm).
    type: str
  backup:
    description: Id of the backup to restore (as RV(hotiron.virt.backup_info#module:vms) lists them). Defaults to the newest complete one.
    type: str
  disk_dir:
    description: Directory for the restored disks (it must exist). Ignored with O(disk_pool).
    type: path
    default: /var/lib/libvirt/images
  disk_pool:
    description: Name of an active storage pool whose directory receives the restored disks (refreshed after).
    type: str
  start:
    description: Start the VM once restored. If it fails to start, the restore is undone.
    type: bool
    default: false
seealso:
  - module: hotiron.virt.vm_backup
  - module: hotiron.virt.backup_info
"""

EXAMPLES = r"""
- name: Bring web1 back on hv3 as web1-restored, from its newest backup
  hotiron.virt.vm_restore:
    vm: web1
    name: web1-restored
    target: /srv/hotiron/shared/backups
    start: true
  delegate_to: hv3

- name: Web1 as it was at a given backup, under its own name (the original is gone)
  hotiron.virt.vm_restore:
    vm: web1
    backup: 2026-03-01T020000Z
    target_pool: backups
    disk_pool: images
"""

RETURN = r"""
vm:
  description: Name of the restored VM.
  returned: always
  type: str
uuid:
  description: Its UUID.
  returned: success, not in check mode
  type: str
from:
  description: The backups used (vm, target, backup, chain, sequence of backup ids applied).
  returned: success
  type: dict
disks:
  description: The restored disks (target, path, virtual_size).
  returned: success
  type: list
  elements: dict
verified:
  description: Every backup file used, with the SHA-256 it was checked to have.
  returned: success
  type: list
  elements: dict
renamed:
  description: Whether the VM got a new name (and so a new UUID and MAC addresses).
  returned: success
  type: bool
started:
  description: Whether the VM was started.
  returned: success, not in check mode
  type: bool
"""

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.backup.restore_ops import run_vm_restore


def run(module):
    return module_base.conclude(module, run_vm_restore(module.params, module.check_mode), unchanged_diff=True)


def argument_spec():
    spec = module_base.connection_argument_spec()
    spec.update(
        vm=dict(type="str", required=True),
        name=dict(type="str"),
        backup=dict(type="str"),
        **module_base.backup_target_argument_spec(),
        disk_dir=dict(type="path", default="/var/lib/libvirt/images"),
        disk_pool=dict(type="str"),
        start=dict(type="bool", default=False),
    )
    return spec


def main():
    module_base.main(argument_spec(), run, **module_base.BACKUP_TARGET_RULES)


if __name__ == "__main__":
    main()
