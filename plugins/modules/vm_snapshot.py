#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vm_snapshot
short_description: Take, list, revert to and delete named snapshots of a VM
version_added: 0.1.0
description:
  - O(state=present) takes a named external snapshot of a VM, running or shut off. Each writable
    disk gets a qcow2 overlay next to its current image (C(<vm>-<disk>-<snapshot>.qcow2)) and the
    images below are frozen. With O(memory), the running guest's memory is saved too
    (C(<vm>-<snapshot>.mem)), so that a revert brings the guest back running where it was.
  - The guest's file systems are frozen for the snapshot through the QEMU guest agent when the VM
    has a connected one (RV(quiesced)); otherwise the snapshot is crash-consistent and a warning
    says so.
  - O(state=absent) deletes a snapshot and merges its images back (a block commit of the overlay
    above the snapshot's frozen image into that image, with an explicit base), so that the chain
    never grows without bound. Nothing is ever written into an image that anything else is built
    on or runs from (the template of a linked clone, another VM's disk, an overlay made by hand);
    such images are kept, and RV(plan) says why.
  - O(state=reverted) puts the VM back to a snapshot, with a new overlay on the snapshot's frozen image,
    the VM on it, the old leaf removed. A running VM is stopped and started again on the snapshot's
    disks; a snapshot with memory brings the guest back running (or paused) as it was. libvirt 9.0
    refuses to revert external snapshots itself; the module does it. A second run changes nothing
    while nothing has been written since (the memory of a running guest is not compared).
  - O(state=listed) returns the snapshot tree.
  - Internal snapshots made by other tools are reverted and deleted by libvirt.
  - A revert deletes the VM's backup checkpoints (the dirty bitmaps no longer describe the disks),
    as does a snapshot or merge of a shut-off VM that has some (libvirt 9.0 refuses them
    otherwise), so the VM's next M(hotiron.virt.vm_backup) is then a full one, and a warning says so.
author:
  - hotiron.virt contributors (@hotiron-virt)
extends_documentation_fragment:
  - hotiron.virt.connection
  - hotiron.virt.attributes
attributes:
  check_mode:
    support: full
    details: Returns the plan (overlays, merges, images kept and why) without changing anything.
  diff_mode:
    support: full
    details: The VM's snapshot names and current snapshot before and after.
options:
  uri:
    description:
      - libvirt URI of the VM's host. Merges, reverts and the safety checks read the image files,
        so the module must run on that host (the default V(qemu:///system) there).
  name:
    description: Name of the VM.
    type: str
    required: true
  snapshot:
    description:
      - Name of the snapshot (letters, digits and C(_.:+-), at most 100 characters). Required unless
        O(state=listed).
    type: str
  state:
    description: V(present), V(absent), V(reverted), or V(listed) to only list the snapshots.
    type: str
    choices: [present, absent, reverted, listed]
    default: present
  memory:
    description: With O(state=present), save the running guest's memory too (the VM must run).
    type: bool
    default: false
  live:
    description:
      - With O(memory), keep the guest running while its memory is written (longer, larger file);
        by default it is paused for that time.
    type: bool
    default: false
  quiesce:
    description:
      - V(auto) freezes the guest's file systems through a connected QEMU guest agent, and takes an
        unquiesced snapshot (with a warning) without one; V(always) fails without one; V(never) does not.
    type: str
    choices: [auto, always, never]
    default: auto
  description:
    description: Description stored with a new snapshot.
    type: str
notes:
  - Only file disks can have external snapshots; CD-ROMs and read-only or shareable disks are left
    out of every snapshot.
seealso:
  - module: hotiron.virt.vm_info
  - module: hotiron.virt.vm_backup
"""

EXAMPLES = r"""
- name: Before the upgrade
  hotiron.virt.vm_snapshot:
    name: db1
    snapshot: before-upgrade
    memory: true

- name: The upgrade went wrong
  hotiron.virt.vm_snapshot:
    name: db1
    snapshot: before-upgrade
    state: reverted

- name: The upgrade went fine, merge the snapshot away
  hotiron.virt.vm_snapshot:
    name: db1
    snapshot: before-upgrade
    state: absent

- name: All snapshots of db1
  hotiron.virt.vm_snapshot:
    name: db1
    state: listed
  register: db1_snapshots
"""

RETURN = r"""
vm:
  description: Name of the VM.
  returned: always
  type: str
snapshot:
  description: Name of the snapshot.
  returned: unless O(state=listed)
  type: str
snapshots:
  description:
    - The VM's snapshots after the run, oldest first, each with name, parent, children, state,
      created (epoch seconds), current, kind (V(external) or V(internal)), memory, memory_file,
      description and per disk the frozen image and the overlay.
  returned: always
  type: list
  elements: dict
quiesced:
  description: Whether the new snapshot was taken with the guest's file systems frozen.
  returned: when a snapshot was taken
  type: bool
plan:
  description:
    - O(state=present) the overlays and memory file; O(state=absent) per disk the merge (base,
      child, online, active, rebase, remove) or why images are kept; O(state=reverted) per disk the
      new overlay, its base and the old leaf.
  returned: when something changes
  type: raw
memory:
  description: Whether a revert restored the guest's memory.
  returned: O(state=reverted), when something changes
  type: bool
checkpoints_deleted:
  description: Backup checkpoints a revert deletes.
  returned: O(state=reverted), when something changes
  type: list
  elements: str
"""

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.backup.snapshot_ops import run_vm_snapshot


def run(module):
    return module_base.conclude(module, run_vm_snapshot(module.params, module.check_mode))


def argument_spec():
    spec = module_base.connection_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        snapshot=dict(type="str"),
        state=dict(type="str", choices=["present", "absent", "reverted", "listed"], default="present"),
        memory=dict(type="bool", default=False),
        live=dict(type="bool", default=False),
        quiesce=dict(type="str", choices=["auto", "always", "never"], default="auto"),
        description=dict(type="str"),
    )
    return spec


def main():
    module_base.main(argument_spec(), run, required_if=[("state", "present", ("snapshot",)), ("state", "absent", ("snapshot",)),
                                                        ("state", "reverted", ("snapshot",))])


if __name__ == "__main__":
    main()
