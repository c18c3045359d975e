# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Where backups are kept: the options of vm_backup, vm_restore and backup_info."""

    DOCUMENTATION = r"""
options:
  target:
    description:
      - Directory of the backup target, on the host the module runs on (for M(hotiron.virt.vm_backup)
        it must exist and be writable).
      - Exactly one of O(target) and O(target_pool) is needed.
    type: path
  target_pool:
    description: Name of an active storage pool whose directory is the backup target.
    type: str
"""
