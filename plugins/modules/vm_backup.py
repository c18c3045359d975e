#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vm_backup
short_description: Full and incremental backups of a VM to a backup directory
version_added: 0.1.0
description:
  - Backs up one VM to a directory on backup storage (O(target), or the directory of storage pool
    O(target_pool)), local or shared, laid out as C(<target>/<vm>/<chain>/<backup>/) with the
    times in UTC in the names (C(2026-03-01T020000Z)). Each backup directory holds one qcow2 file
    per disk, the VM's definition at that time (C(domain.xml)) and its record (C(backup.json) with
    mode, parent, checkpoint, sizes, SHA-256 of every file, times, why it is full).
  - A running VM is backed up with libvirt's backup API in push mode while it runs. QEMU writes
    the disks, and a checkpoint (a dirty bitmap in each qcow2 image) starts at the same instant,
    so that the next backup copies only what changed since (an incremental backup).
  - The next backup is incremental when it can be and full otherwise, and says why
    (RV(reason)), such as the first backup, O(mode=full), a VM that was recreated, a checkpoint that was
    lost (see the notes on migration), disks added, removed or resized, files of the chain missing,
    a chain that reached O(max_incrementals), raw disks (bitmaps need qcow2), a shut-off VM. An
    incremental that libvirt itself refuses is retried once as a full backup, with a warning.
  - A shut-off VM's disks are copied whole with C(qemu-img convert).
  - Retention (O(keep_chains), O(keep_days)) removes whole chains only, never the newest.
  - On failure the job is aborted, its checkpoint deleted and its directory removed.
author:
  - hotiron.virt contributors (@hotiron-virt)
extends_documentation_fragment:
  - hotiron.virt.connection
  - hotiron.virt.attributes
  - hotiron.virt.backup_target
attributes:
  check_mode:
    support: full
    details: Decides full or incremental (with the reason) and what retention would prune; writes nothing,
      takes no lock and no checkpoint.
  diff_mode:
    support: full
    details: The VM's backups on the target (chain/backup (mode)) before and after.
options:
  uri:
    description:
      - libvirt URI of the VM's host. The module reads and writes the backup files itself, so it
        must run on that host (the default V(qemu:///system) there); a URI of another host is refused.
  name:
    description: Name of the VM.
    type: str
    required: true
  mode:
    description: V(auto) takes an incremental backup when the chain allows it, else a full one; V(full) starts a new chain.
    type: str
    choices: [auto, full]
    default: auto
  max_incrementals:
    description:
      - Incremental backups a chain may hold before the next backup starts a new chain (0 to
        10000); V(0) makes every backup full.
    type: int
    default: 6
  keep_chains:
    description: Keep the newest N chains (1 to 10000). Older chains are removed whole, unless O(keep_days) keeps them.
    type: int
  keep_days:
    description:
      - Keep chains whose newest backup is less than D days old (1 to 36500); older ones are
        removed whole, unless O(keep_chains) keeps them.
    type: int
  quiesce:
    description:
      - Freeze the guest's file systems through the QEMU guest agent for the instant the backup starts.
      - V(auto) does when the VM's agent is connected (RV(backup.quiesced) says whether it was);
        V(always) fails when it is not; V(never) does not.
    type: str
    choices: [auto, always, never]
    default: auto
  timeout:
    description: Seconds (1 to 604800) the backup job may take before it is aborted.
    type: float
    default: 86400
notes:
  - After a live migration libvirt's checkpoint records stay behind on the source (the bitmaps
    themselves travel in the images); M(hotiron.virt.vm_migrate) and M(hotiron.virt.host_maintenance)
    redefine them on the destination, so the next backup stays incremental. A VM moved by other
    means gets a full backup next, with the reason.
  - Checkpoints are named C(hotiron-<8 hex of the target>-<backup id>); after a backup only the
    newest of the target's checkpoints is kept on the VM.
  - One backup of a VM at a time per target (a lock file C(<target>/<vm>/.lock), shared between
    hosts on shared storage).
  - A checksum is recorded for every file; M(hotiron.virt.vm_restore) checks them before it uses a
    backup and M(hotiron.virt.backup_info) with O(hotiron.virt.backup_info#module:verify=true) on demand.
seealso:
  - module: hotiron.virt.vm_restore
  - module: hotiron.virt.backup_info
"""

EXAMPLES = r"""
- name: Back up web1 (incremental when its chain allows), keeping 4 chains
  hotiron.virt.vm_backup:
    name: web1
    target: /srv/backups
    keep_chains: 4

- name: A new full chain every Sunday
  hotiron.virt.vm_backup:
    name: web1
    target_pool: backups
    mode: "{{ 'full' if ansible_date_time.weekday == 'Sunday' else 'auto' }}"
    keep_days: 30
"""

RETURN = r"""
vm:
  description: Name of the VM.
  returned: always
  type: str
target:
  description: The backup target directory.
  returned: always
  type: str
backup_dir:
  description: Directory of the new backup.
  returned: success, not in check mode
  type: str
mode:
  description: V(full) or V(incremental).
  returned: success, not in check mode
  type: str
reason:
  description: Why the backup is full, or what the incremental follows.
  returned: success, not in check mode
  type: str
backup:
  description: The record of the new backup.
  returned: success, not in check mode
  type: dict
  contains:
    id:
      description: The backup's id (its time, UTC), also its directory's name.
      type: str
    chain:
      description: Id of the chain (of its full backup).
      type: str
    mode:
      description: V(full) or V(incremental).
      type: str
    parent:
      description: Id of the backup an incremental follows.
      type: str
    checkpoint:
      description: The checkpoint taken with it, V(null) for a shut-off VM or raw disks.
      type: str
    quiesced:
      description: Whether the guest's file systems were frozen for it.
      type: bool
    size:
      description: Bytes of its disk files.
      type: int
    started:
      description: When it started (ISO 8601, UTC).
      type: str
    finished:
      description: When it finished (ISO 8601, UTC).
      type: str
    reason:
      description: Why it is full, or what it follows.
      type: str
    host:
      description: Hostname of the host it was taken on.
      type: str
    uuid:
      description: UUID of the VM.
      type: str
    disks:
      description: Per disk, target, file, size, sha256 and virtual_size.
      type: list
      elements: dict
timing:
  description: Seconds spent copying the disks (C(copy_s), the backup job) and syncing and hashing the files (C(checksum_s)).
  returned: success, not in check mode
  type: dict
pruned:
  description: Chains removed by retention, with their backups, size and the reason.
  returned: success, not in check mode
  type: list
  elements: dict
checkpoints_deleted:
  description: Older checkpoints of this target deleted from the VM.
  returned: success, not in check mode
  type: list
  elements: str
removed_incomplete:
  description: Directories of earlier backups that never finished (no record), removed.
  returned: success, not in check mode
  type: list
  elements: str
plan:
  description: In check mode, the backup that would be taken (id, chain, mode, parent, reason,
    checkpoint, quiesce) and the chains retention would prune.
  returned: check mode
  type: dict
"""

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.backup.backup_ops import run_vm_backup


def run(module):
    return module_base.conclude(module, run_vm_backup(module.params, module.check_mode), unchanged_diff=True)


def argument_spec():
    spec = module_base.connection_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        **module_base.backup_target_argument_spec(),
        mode=dict(type="str", choices=["auto", "full"], default="auto"),
        max_incrementals=dict(type="int", default=6, min=0, max=10000),
        keep_chains=dict(type="int", min=1, max=10000),
        keep_days=dict(type="int", min=1, max=36500),
        quiesce=dict(type="str", choices=["auto", "always", "never"], default="auto"),
        timeout=dict(type="float", default=86400.0, min=1, max=604800),
    )
    return spec


def main():
    module_base.main(argument_spec(), run, **module_base.BACKUP_TARGET_RULES)


if __name__ == "__main__":
    main()
