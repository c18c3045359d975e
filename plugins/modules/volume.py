#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: volume
short_description: Create, resize, clone, upload, download, wipe and delete libvirt storage volumes
version_added: 0.1.0
description:
  - Manages a volume in an active libvirt storage pool (see M(hotiron.virt.storage_pool)).
  - A new volume is created empty (O(capacity), O(format), O(allocation) or O(preallocation)), as a
    copy of another volume (O(clone_from), converting the format with qemu-img when they differ),
    as a linked overlay on a backing volume (O(backing_volume)), or filled from a file
    (O(upload_from)).
  - An existing volume is grown to O(capacity); shrinking needs O(shrink=true). Its format cannot
    change in place.
  - Formats are those qemu-img can write; a format it can only read (such as V(dmg) or V(iso)) is
    refused with a message saying so. V(vhdx) is refused too; qemu-img writes it, but libvirt (9.0)
    has no VHDX volume or disk format, so no guest could use such a volume.
  - Returns the volume's capacity, allocation, format and backing chain.
extends_documentation_fragment:
  - hotiron.virt.connection
  - hotiron.virt.attributes
attributes:
  check_mode:
    support: full
    details: The plan is returned in RV(actions); nothing is changed or written. Deciding on
      O(upload_when=changed) or O(download_to) still reads the volume to compare checksums.
  diff_mode:
    support: full
    details: Name, path, format, capacity and backing chain before and after.
options:
  pool:
    description: Name of the storage pool holding the volume. It must be active.
    type: str
    required: true
  name:
    description: Name of the volume in the pool (a file name for directory pools).
    type: str
    required: true
  state:
    description:
      - V(present) creates the volume if needed and brings its size to O(capacity).
      - V(absent) deletes it (after overwriting it when O(wipe=true)).
    type: str
    choices: [present, absent]
    default: present
  capacity:
    description:
      - Size seen by the guest, as bytes or with a unit (V(10G), V(512MiB), V(1GB)); V(K), V(M),
        V(G), V(T) and V(KiB)... are powers of 1024, V(KB), V(MB)... powers of 1000.
      - Required to create a volume from nothing; defaults to the source's size with
        O(clone_from) or O(backing_volume).
      - VHD (V(vpc)) sizes are rounded by qemu-img to a disk geometry; a capacity within that
        rounding counts as equal.
    type: raw
  allocation:
    description: Bytes to allocate when creating (sparse otherwise). Same units as O(capacity).
    type: raw
  preallocation:
    description:
      - V(off) creates a sparse volume; V(metadata) preallocates qcow2 metadata; V(full)
        allocates the whole capacity.
    type: str
    choices: ['off', metadata, full]
    default: 'off'
  format:
    description:
      - Image format of a new volume, one qemu-img can write and libvirt knows such as V(raw),
        V(qcow2), V(vpc) (VHD) or V(vmdk).
      - Defaults to V(raw), to the source's format with O(clone_from), and to V(qcow2) with
        O(backing_volume).
    type: str
  shrink:
    description: Allow O(capacity) below the current size. Data past the new end is lost.
    type: bool
    default: false
  clone_from:
    description: Create the volume as a full copy of this volume (when it does not exist yet).
    type: str
  clone_from_pool:
    description: Pool of O(clone_from); defaults to O(pool).
    type: str
  backing_volume:
    description:
      - Create the volume as a linked overlay (copy-on-write) on this volume, which stays
        read-only underneath it.
    type: str
  backing_pool:
    description: Pool of O(backing_volume); defaults to O(pool).
    type: str
  upload_from:
    description:
      - File on the machine running the module whose bytes become the volume's content. It is
        written as it is, so it must already be in the volume's O(format) (use O(clone_from) to
        convert). Capacity and format are then read from the image.
      - See O(upload_when) for existing volumes.
    type: path
  upload_when:
    description:
      - V(created) uploads only when the module creates the volume, so later runs change nothing.
      - V(changed) compares SHA-256 checksums of the volume and the file (reading the whole
        volume) and replaces the volume when they differ.
      - V(always) replaces the volume on every run.
    type: str
    choices: [created, changed, always]
    default: created
  download_to:
    description:
      - Copy the volume's bytes (as stored, in its format) to this file on the machine running
        the module, when the file is missing or its checksum differs.
    type: path
  wipe:
    description: With O(state=absent), overwrite the volume's data before deleting it.
    type: bool
    default: false
  wipe_algorithm:
    description: How to overwrite with O(wipe=true); see libvirt's virStorageVolWipePattern.
    type: str
    choices: [zero, nnsa, dod, bsi, gutmann, schneier, pfitzner7, pfitzner33, random, trim]
    default: zero
author:
  - hotiron.virt developers (@hotiron)
"""

EXAMPLES = r"""
- name: A 20 GiB sparse qcow2 disk
  hotiron.virt.volume:
    pool: images
    name: web1.qcow2
    capacity: 20G
    format: qcow2

- name: Grow it to 40 GiB
  hotiron.virt.volume:
    pool: images
    name: web1.qcow2
    capacity: 40G

- name: A linked clone of a golden image
  hotiron.virt.volume:
    pool: images
    name: web2.qcow2
    backing_volume: golden-debian12.qcow2

- name: Fill a volume from an image file on the host
  hotiron.virt.volume:
    pool: images
    name: golden.raw
    upload_from: /srv/images/golden.raw

- name: A VHD copy of it for another hypervisor
  hotiron.virt.volume:
    pool: images
    name: golden.vhd
    clone_from: golden.raw
    format: vpc

- name: Overwrite and delete a volume
  hotiron.virt.volume:
    pool: images
    name: old.qcow2
    state: absent
    wipe: true
"""

RETURN = r"""
actions:
  description: What the module did, or would do in check mode, in order.
  returned: always
  type: list
  elements: str
  sample: [create, upload]
volume:
  description: The volume after the change; empty when it was deleted.
  returned: always
  type: dict
  contains:
    name:
      description: "Volume name."
      type: str
      returned: success
    pool:
      description: "Pool name."
      type: str
      returned: success
    path:
      description: "Path of the volume on the host (or its URL-like name for network pools)."
      type: str
      returned: success
    key:
      description: "libvirt's unique key of the volume."
      type: str
      returned: success
    type:
      description: "libvirt volume type (V(file), V(block), V(network), ...)."
      type: str
      returned: success
    format:
      description: "Image format."
      type: str
      returned: success
    capacity:
      description: "Size in bytes seen by a guest."
      type: int
      returned: success
    allocation:
      description: "Bytes used on the storage."
      type: int
      returned: success
    backing_chain:
      description: Backing files from the nearest down, each with its path, format and, when libvirt knows it, volume and pool names.
      type: list
      elements: dict
      returned: success
  sample:
    name: web2.qcow2
    pool: images
    path: /var/lib/libvirt/images/web2.qcow2
    format: qcow2
    capacity: 21474836480
    allocation: 196608
    backing_chain:
      - {path: /var/lib/libvirt/images/golden.qcow2, format: qcow2, volume: golden.qcow2, pool: images}
"""

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.storage.volume_ops import WIPE_ALGORITHMS, ensure_volume


def argument_spec():
    spec = module_base.connection_argument_spec()
    spec.update(
        pool=dict(type="str", required=True),
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        capacity=dict(type="raw"),
        allocation=dict(type="raw"),
        preallocation=dict(type="str", default="off", choices=["off", "metadata", "full"]),
        format=dict(type="str"),
        shrink=dict(type="bool", default=False),
        clone_from=dict(type="str"),
        clone_from_pool=dict(type="str"),
        backing_volume=dict(type="str"),
        backing_pool=dict(type="str"),
        upload_from=dict(type="path"),
        upload_when=dict(type="str", default="created", choices=["created", "changed", "always"]),
        download_to=dict(type="path"),
        wipe=dict(type="bool", default=False),
        wipe_algorithm=dict(type="str", default="zero", choices=list(WIPE_ALGORITHMS)),
    )
    return spec


def run(module):
    with module_base.connection(module) as conn:
        result = ensure_volume(conn, module.params, check_mode=module.check_mode, want_diff=module._diff)
    return module_base.conclude(module, result, unchanged_diff=True)


def main():
    module_base.main(argument_spec(), run, mutually_exclusive=[("clone_from", "backing_volume", "upload_from")])


if __name__ == "__main__":
    main()
