#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: storage_pool_info
short_description: Describe the storage pools of a libvirt host and their volumes
version_added: 0.2.0
description:
  - Reports one storage pool or every pool of a host, optionally filtered by a name pattern,
    state and type.
  - For each pool, its type, state, capacity, allocation and free space, target path, source
    (hosts, devices, IQN, source name and format, without secrets), whether it is defined and
    starts with libvirtd, and its volumes (RV(pools[].volumes)) with their path, format, capacity,
    allocation and backing store.
  - A stopped pool lists no volumes (libvirt knows them only while the pool runs).
  - Reads only. The figures are libvirt's as of the pool's last refresh; O(refresh) rescans first.
    A name that matches no pool gives an empty list.
author:
  - hotiron.virt contributors (@hotiron-virt)
extends_documentation_fragment:
  - hotiron.virt.connection
  - hotiron.virt.attributes
attributes:
  check_mode:
    support: full
    details: Reads only; with O(refresh=true) the pools are not refreshed in check mode (a warning says so).
  diff_mode:
    support: none
    details: Changes nothing, so there is nothing to compare.
options:
  name:
    description: Only this pool. Without it, every pool of the host.
    type: str
  pattern:
    description: Only pools whose name matches this shell-style pattern, such as V(vm-*) (case-sensitive).
    type: str
  states:
    description: Only pools in one of these states.
    type: list
    elements: str
    choices: [running, inactive, building, degraded, inaccessible]
  types:
    description: Only pools of these types.
    type: list
    elements: str
    choices: [dir, fs, netfs, logical, disk, iscsi, iscsi-direct, scsi, mpath, rbd, sheepdog, gluster, zfs, vstorage]
  volumes:
    description: List each running pool's volumes. With V(false), only RV(pools[].volume_count).
    type: bool
    default: true
  xml:
    description: Also return the XML of each pool (its definition) and of each volume.
    type: bool
    default: false
  refresh:
    description:
      - Rescan each selected running pool before reading it, so volumes made or removed outside
        libvirt show. Skipped in check mode. Waits while a job of another task holds the pool.
    type: bool
    default: false
seealso:
  - module: hotiron.virt.storage_pool
  - module: hotiron.virt.volume
"""

EXAMPLES = r"""
- name: Every pool of the host with its volumes
  hotiron.virt.storage_pool_info:
    uri: qemu+ssh://root@hv1/system
  register: storage

- name: Free space per running pool
  ansible.builtin.debug:
    msg: "{{ storage.pools | selectattr('active') | items2dict(key_name='name', value_name='available') }}"

- name: One pool, rescanned, with the XML of its volumes
  hotiron.virt.storage_pool_info:
    name: images
    refresh: true
    xml: true
"""

RETURN = r"""
pools:
  description: The pools passing the filters, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Pool name., type: str, returned: always}
    uuid: {description: Pool UUID., type: str, returned: always}
    type: {description: "Pool type (V(dir), V(netfs), V(logical), V(iscsi), ...).", type: str, returned: always}
    state: {description: "V(running), V(inactive), V(building), V(degraded) or V(inaccessible).", type: str, returned: always}
    active: {description: Whether the pool runs., type: bool, returned: always}
    persistent: {description: Whether the pool is defined (a transient one goes when stopped)., type: bool, returned: always}
    autostart: {description: Whether the pool starts with libvirtd., type: bool, returned: always}
    capacity: {description: Size in bytes (0 for a stopped pool)., type: int, returned: always}
    allocation: {description: Bytes in use., type: int, returned: always}
    available: {description: Bytes free., type: int, returned: always}
    target_path: {description: Where the pool's volumes appear on the host (null when none)., type: str, returned: always}
    source:
      description:
        - The pool's source (C(hosts), C(devices), C(iqn), C(name), C(dir), C(format),
          C(initiator_iqn), C(adapter), C(auth) without the password), as given.
      type: dict
      returned: always
    volume_count: {description: Number of volumes (0 for a stopped pool)., type: int, returned: always}
    volumes:
      description: The pool's volumes, sorted by name (empty for a stopped pool).
      type: list
      elements: dict
      returned: when O(volumes=true)
      contains:
        name: {description: Volume name., type: str}
        key: {description: libvirt's key of the volume (often its path)., type: str}
        type: {description: "V(file), V(block), V(dir), V(network), ...", type: str}
        path: {description: Path of the volume on the host., type: str}
        format: {description: "Format (V(raw), V(qcow2), ...; null when the pool type has none).", type: str}
        capacity: {description: Virtual size in bytes., type: int}
        allocation: {description: Bytes the volume takes on its pool., type: int}
        backing: {description: "Backing store (C(path), C(format)) of an overlay; null when none.", type: dict}
        xml: {description: The volume's XML; with O(xml=true)., type: str}
    xml:
      description: The pool's definition; with O(xml=true).
      type: str
      returned: when O(xml=true)
  sample:
    - name: images
      uuid: 7d2b6a1c-1b4e-4c35-a0d5-5e0f1c9a6b01
      type: dir
      state: running
      active: true
      persistent: true
      autostart: true
      capacity: 107374182400
      allocation: 21474836480
      available: 85899345920
      target_path: /var/lib/libvirt/images
      source: {}
      volume_count: 1
      volumes:
        - name: web1.qcow2
          key: /var/lib/libvirt/images/web1.qcow2
          type: file
          path: /var/lib/libvirt/images/web1.qcow2
          format: qcow2
          capacity: 10737418240
          allocation: 1376256
          backing: {path: /var/lib/libvirt/images/base.qcow2, format: qcow2}
"""

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.storage import pool_info
from ansible_collections.hotiron.virt.plugins.module_utils.storage import pool_info_ops


def argument_spec():
    spec = module_base.connection_argument_spec()
    spec.update(
        name=dict(type="str"),
        pattern=dict(type="str"),
        states=dict(type="list", elements="str", choices=sorted(set(pool_info.POOL_STATES.values()))),
        types=dict(type="list", elements="str", choices=list(pool_info.ALL_POOL_TYPES)),
        volumes=dict(type="bool", default=True),
        xml=dict(type="bool", default=False),
        refresh=dict(type="bool", default=False),
    )
    return spec


def run(module):
    return module_base.conclude(module, pool_info_ops.run_storage_pool_info(module.params, check_mode=module.check_mode))


def main():
    module_base.main(argument_spec(), run)


if __name__ == "__main__":
    main()
