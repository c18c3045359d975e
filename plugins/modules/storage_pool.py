#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: storage_pool
short_description: Define, start, stop, build and remove libvirt storage pools
version_added: 0.1.0
description:
  - Manages a libvirt storage pool of any of the types C(dir) (a local directory), C(fs) (a block
    device or image formatted and mounted), C(logical) (an LVM volume group), C(netfs) (NFS, CIFS,
    GlusterFS), C(iscsi) (kernel initiator), C(iscsi-direct) (libvirt's userspace initiator),
    C(scsi) (an FC C(fc_host) adapter, including NPIV vHBA creation, or a C(scsi_host)),
    C(mpath) (multipath devices) and C(rbd) (Ceph).
  - The definition is read, the options are laid over it, and it is written back only when that
    changes it; elements the options do not mention are kept.
  - CHAP passwords and Ceph keys are stored in libvirt secrets, never in the pool definition, and
    are never logged.
  - Bad options fail with a message naming the option before anything is changed.
extends_documentation_fragment:
  - hotiron.virt.connection
  - hotiron.virt.attributes
attributes:
  check_mode:
    support: full
    details: The plan is computed and returned in RV(actions); nothing is changed.
  diff_mode:
    support: full
    details: The pool definition before and after, as XML.
options:
  name:
    description: Name of the storage pool.
    type: str
    required: true
  type:
    description:
      - Pool type. Required to define a pool; an existing pool's type cannot change.
    type: str
    choices: [dir, fs, netfs, logical, iscsi, iscsi-direct, scsi, mpath, rbd]
  state:
    description:
      - V(present) defines the pool (and builds it where that is safe) without changing whether it runs.
      - V(active) defines and starts it; V(inactive) defines it and stops it.
      - V(absent) stops and undefines the pool, leaving its storage alone.
      - V(deleted) also deletes what the pool made (the directory of a C(dir) pool, the volume group
        of a C(logical) pool); volumes still in it are deleted only with O(delete_volumes=true).
    type: str
    choices: [present, active, inactive, absent, deleted]
    default: active
  target:
    description:
      - Where the pool's volumes appear on the host. Not taken by C(iscsi-direct) and C(rbd).
      - Required for C(dir), C(fs) and C(netfs). C(iscsi) and C(scsi) default to
        C(/dev/disk/by-path), C(mpath) to C(/dev/mapper), C(logical) to C(/dev/<volume group>).
    type: dict
    suboptions:
      path:
        description: Absolute path of the directory.
        type: str
      mode:
        description: Octal mode of the directory, such as V('0755').
        type: str
      owner:
        description: Numeric user id owning the directory (0 or more).
        type: int
      group:
        description: Numeric group id owning the directory (0 or more).
        type: int
  source:
    description:
      - Where the storage comes from. Each type takes only some of these; giving another fails
        with a message naming it.
    type: dict
    suboptions:
      hosts:
        description:
          - Server of C(netfs), portal of C(iscsi) and C(iscsi-direct) (one entry), Ceph monitors
            of C(rbd) (one or more).
        type: list
        elements: dict
        suboptions:
          name:
            description: Host name or address.
            type: str
            required: true
          port:
            description: TCP port (1 to 65535), when not the protocol's default.
            type: int
      devices:
        description: Block devices of an C(fs) pool (one) or the physical volumes of a C(logical) pool.
        type: list
        elements: str
      dir:
        description: Exported directory of a C(netfs) pool.
        type: str
      name:
        description: Volume group of a C(logical) pool; Ceph pool of an C(rbd) pool.
        type: str
      format:
        description:
          - Filesystem of an C(fs) pool (V(auto), V(ext4), V(xfs), ...), protocol of a C(netfs) pool
            (V(auto), V(nfs), V(glusterfs), V(cifs)), V(lvm2) for a C(logical) pool.
        type: str
      iqn:
        description: IQN of the iSCSI target (C(iscsi), C(iscsi-direct)).
        type: str
      initiator_iqn:
        description: IQN the host logs in with. Required by C(iscsi-direct).
        type: str
      adapter:
        description:
          - The SCSI adapter of a C(scsi) pool.
          - An C(fc_host) adapter is named by O(source.adapter.wwnn) and O(source.adapter.wwpn);
            when no HBA has them, libvirt creates an NPIV vHBA with these names on a vport-capable
            parent when the pool starts, and destroys it when the pool stops.
        type: dict
        suboptions:
          type:
            description: Adapter type.
            type: str
            choices: [fc_host, scsi_host]
            default: fc_host
          name:
            description: The C(scsi_host) adapter, such as V(host0).
            type: str
          wwnn:
            description: World wide node name of the (v)HBA, 16 hexadecimal digits.
            type: str
          wwpn:
            description: World wide port name of the (v)HBA, 16 hexadecimal digits.
            type: str
          parent:
            description: The vport-capable HBA to create the vHBA on, such as V(scsi_host5).
            type: str
          parent_wwnn:
            description: Parent HBA by its node name (with O(source.adapter.parent_wwpn)).
            type: str
          parent_wwpn:
            description: Parent HBA by its port name (with O(source.adapter.parent_wwnn)).
            type: str
          parent_fabric_wwn:
            description: Parent HBA by the fabric it is on.
            type: str
          managed:
            description: Whether libvirt destroys the vHBA it created when the pool stops.
            type: bool
      auth:
        description:
          - CHAP login (C(iscsi), C(iscsi-direct)) or Ceph user (C(rbd)).
          - With O(source.auth.password), the module keeps the password in a private libvirt secret
            with usage O(source.auth.secret_usage); without it, O(source.auth.secret_usage) names an
            existing secret.
        type: dict
        suboptions:
          username:
            description: CHAP user name or Ceph user (without C(client.)).
            type: str
            required: true
          password:
            description:
              - CHAP password, or for C(rbd) the key printed by C(ceph auth get-key) (base64).
            type: str
          secret_usage:
            description: Usage name of the libvirt secret; defaults to C(hotiron-pool-<name>).
            type: str
  autostart:
    description: Start the pool when libvirtd starts. Left alone when not given.
    type: bool
  build:
    description:
      - Build the pool when the module defines it.
      - C(dir) and C(netfs) pools are built (their directory created) unless this is V(false).
      - C(fs) and C(logical) pools are built (the device formatted, the volume group created) only
        with V(true), and libvirt refuses to overwrite an existing filesystem or label.
    type: bool
  refresh:
    description: Rescan an active pool for volumes made outside libvirt.
    type: bool
    default: false
  restart:
    description:
      - When the definition of a running pool changes, stop and start it so the change applies.
        Without it the module warns that the pool still runs its old definition.
    type: bool
    default: false
  delete_volumes:
    description: With O(state=deleted), delete the volumes still in the pool first.
    type: bool
    default: false
  update_password:
    description:
      - V(on_create) sets the secret's value only when the module creates the secret (the value of
        a private secret cannot be read back to compare); V(always) sets it on every run and
        reports a change.
    type: str
    choices: [always, on_create]
    default: on_create
author:
  - hotiron.virt developers (@hotiron)
"""

EXAMPLES = r"""
- name: Local images directory, running and started at boot
  hotiron.virt.storage_pool:
    name: images
    type: dir
    target:
      path: /var/lib/libvirt/images
      mode: "0711"
    autostart: true

- name: A LUN over libvirt's userspace iSCSI initiator
  hotiron.virt.storage_pool:
    name: san1
    type: iscsi-direct
    source:
      hosts:
        - name: 192.0.2.10
      iqn: iqn.2026-11.com.example:san1
      initiator_iqn: "iqn.2026-11.com.example:{{ inventory_hostname }}"
      auth:
        username: hv
        password: "{{ vault_san1_chap }}"

- name: NPIV vHBA on an FC HBA
  hotiron.virt.storage_pool:
    name: fc1
    type: scsi
    source:
      adapter:
        type: fc_host
        parent: scsi_host5
        wwnn: "20000000c9831b4b"
        wwpn: "10000000c9831b4b"

- name: Ceph pool
  hotiron.virt.storage_pool:
    name: ceph
    type: rbd
    source:
      name: libvirt-pool
      hosts:
        - name: mon1.example.com
        - name: mon2.example.com
      auth:
        username: libvirt
        password: "{{ vault_ceph_key }}"

- name: Remove a pool and the directory it made, with its volumes
  hotiron.virt.storage_pool:
    name: scratch
    state: deleted
    delete_volumes: true
"""

RETURN = r"""
actions:
  description: What the module did, or would do in check mode, in order.
  returned: always
  type: list
  elements: str
  sample: [define, build, start, autostart on]
pool:
  description: The pool after the change; empty when it was removed.
  returned: always
  type: dict
  contains:
    name:
      description: "Pool name."
      type: str
      returned: success
    uuid:
      description: "Pool UUID."
      type: str
      returned: success
    type:
      description: "Pool type."
      type: str
      returned: success
    state:
      description: "V(running), V(inactive), V(building), V(degraded) or V(inaccessible)."
      type: str
      returned: success
    active:
      description: "Whether the pool runs."
      type: bool
      returned: success
    persistent:
      description: "Whether the pool is defined."
      type: bool
      returned: success
    autostart:
      description: "Whether the pool starts with libvirtd."
      type: bool
      returned: success
    capacity:
      description: "Size in bytes (0 when inactive)."
      type: int
      returned: success
    allocation:
      description: "Bytes allocated."
      type: int
      returned: success
    available:
      description: "Bytes free."
      type: int
      returned: success
    target_path:
      description: "Path of the pool on the host."
      type: str
      returned: success
    source:
      description: "The pool's source as in its definition (no secret values)."
      type: dict
      returned: success
    volumes:
      description: "Names of the volumes of an active pool."
      type: list
      elements: str
      returned: success
  sample:
    name: images
    type: dir
    state: running
    active: true
    autostart: true
    capacity: 107374182400
    target_path: /var/lib/libvirt/images
    volumes: [web1.qcow2]
"""

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.storage.pool_ops import ensure_pool


def argument_spec():
    spec = module_base.connection_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        type=dict(type="str", choices=["dir", "fs", "netfs", "logical", "iscsi", "iscsi-direct", "scsi", "mpath", "rbd"]),
        state=dict(type="str", default="active", choices=["present", "active", "inactive", "absent", "deleted"]),
        target=dict(
            type="dict",
            options=dict(path=dict(type="str"), mode=dict(type="str"),
                         owner=dict(type="int", min=0, max=4294967294), group=dict(type="int", min=0, max=4294967294)),
        ),
        source=dict(
            type="dict",
            options=dict(
                hosts=dict(type="list", elements="dict", options=dict(name=dict(type="str", required=True), port=dict(type="int", min=1, max=65535))),
                devices=dict(type="list", elements="str"),
                dir=dict(type="str"),
                name=dict(type="str"),
                format=dict(type="str"),
                iqn=dict(type="str"),
                initiator_iqn=dict(type="str"),
                adapter=dict(
                    type="dict",
                    options=dict(
                        type=dict(type="str", default="fc_host", choices=["fc_host", "scsi_host"]),
                        name=dict(type="str"),
                        wwnn=dict(type="str"),
                        wwpn=dict(type="str"),
                        parent=dict(type="str"),
                        parent_wwnn=dict(type="str"),
                        parent_wwpn=dict(type="str"),
                        parent_fabric_wwn=dict(type="str"),
                        managed=dict(type="bool"),
                    ),
                ),
                auth=dict(
                    type="dict",
                    options=dict(
                        username=dict(type="str", required=True),
                        password=dict(type="str", no_log=True),
                        secret_usage=dict(type="str", no_log=False),
                    ),
                ),
            ),
        ),
        autostart=dict(type="bool"),
        build=dict(type="bool"),
        refresh=dict(type="bool", default=False),
        restart=dict(type="bool", default=False),
        delete_volumes=dict(type="bool", default=False),
        update_password=dict(type="str", default="on_create", choices=["always", "on_create"], no_log=False),
    )
    return spec


def run(module):
    with module_base.connection(module) as conn:
        result = ensure_pool(conn, module.params, check_mode=module.check_mode, want_diff=module._diff)
    return module_base.conclude(module, result, unchanged_diff=True)


def main():
    module_base.main(argument_spec(), run)


if __name__ == "__main__":
    main()
