#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vm_migrate
short_description: Live or offline migration of a VM to another libvirt host
version_added: 0.1.0
description:
  - Moves a VM from the host of O(uri) to another host, peer-to-peer (the source libvirtd talks to
    the destination's), live by default.
  - Storage the destination sees too (a shared directory, NFS, an iSCSI SAN, network disks) is used
    as is; disks on local storage are copied with the VM into volumes created on the destination.
    Whether a directory is shared is tested with a probe volume, so a stale file with the same path
    is never mistaken for shared storage.
  - Migrations that libvirt calls unsafe are refused with the reason, never forced.
  - In a group mixing QEMU versions or CPUs, a destination lacking the VM's machine type (V(pc-q35-10.0)
    on QEMU 7.2), CPU model, CPU mode or required CPU features (those of a running C(host-model) CPU
    included) is refused before anything starts, live or not, the message naming what it lacks; read
    from its capabilities and domain capabilities.
  - The maximum downtime is raised in steps while the migration runs (as OpenStack Nova and oVirt
    do); it can switch to post-copy after a time or when pre-copy stalls, and give up after a
    completion timeout.
  - On failure the VM keeps running on the source and nothing is left on the destination.
  - A VM already on the destination is left alone (C(changed=false)).
author:
  - hotiron.virt contributors (@hotiron-virt)
extends_documentation_fragment:
  - hotiron.virt.resource_group.both_groups
  - hotiron.virt.connection
  - hotiron.virt.migration_tuning
  - hotiron.virt.resource_group.capacity
  - hotiron.virt.attributes
attributes:
  check_mode:
    support: full
    details: Validates everything (destination reachable and not in maintenance, CPU, memory, vCPUs, storage,
      name clash) without moving anything.
  diff_mode:
    support: full
    details: The host and URI the VM runs on before and after.
options:
  name:
    description: Name of the VM, on the host of O(uri) (the source).
    type: str
    required: true
  dest_uri:
    description:
      - libvirt URI of the destination as the source host reaches it, for example
        V(qemu+tls://hv2.example.com/system). In a playbook, take it from the destination's
        C(libvirt_uri) host variable.
      - Exactly one of O(dest_uri) and O(dest) is needed.
    type: str
  dest:
    description:
      - Name of the destination host, looked up in O(hosts).
    type: str
  hosts:
    description:
      - Host names and their libvirt URIs, for O(dest), for example built from the inventory
        group's C(libvirt_uri) host variables.
    type: dict
  migration_address:
    description:
      - Where the destination receives the migration stream, for example V(tcp://10.0.0.2) or
        just V(10.0.0.2) (then TCP). Defaults to what the destination's C(qemu.conf) says
        (C(migration_host)), else its hostname.
    type: str
  live:
    description:
      - Keep the VM running while it moves. With V(false) a running VM is paused during the
        transfer; a VM that is shut off has its definition (and copied disks) moved.
      - A live migration of a VM that is not running is an error.
    type: bool
    default: true
  copy_storage:
    description:
      - V(auto) copies disks the destination does not see and uses shared storage as is;
        V(always) copies every file disk; V(never) copies nothing (libvirt refuses if the storage
        is not shared).
    type: str
    choices: [auto, always, never]
    default: auto
notes:
  - Runs for as long as the migration; use C(async) and C(poll) for long ones. Meanwhile
    M(hotiron.virt.vm_info) on the source reports its progress (RV(hotiron.virt.vm_info#module:vms[].job)).
  - Copying a local disk, and telling whether a directory is shared, needs a storage pool covering
    the disk's directory on both hosts (a C(dir) pool at C(/var/lib/libvirt/images) usually).
    The copy on the source is removed after a successful migration.
  - The downtime steps, post-copy switch and timeouts are applied by the module while it waits.
    If the module process itself is killed, libvirt goes on with the migration untuned
    (C(virsh domjobabort) stops it).
  - libvirt waits on QEMU without a limit; the module does not. A call on the running job that
    libvirt has not answered within 20 seconds (a downtime step, the switch to post-copy, the
    abort), job statistics it has not answered for 60 seconds, or a job still running 30 seconds
    after its abort was accepted, fail the task; before post-copy the destination's half is then
    removed, which ends the job, and the VM runs on the source. Statistics that cannot be read still count toward O(completion_timeout). A switch to
    post-copy that libvirt accepted but that has not begun 30 seconds later is aborted once
    O(completion_timeout) has passed.
  - Post-copy needs userfaultfd for QEMU; with QEMU before 8.1 running unprivileged, the
    C(vm.unprivileged_userfaultfd) sysctl must be 1, else QEMU answers "Postcopy is not supported".
seealso:
  - module: hotiron.virt.host_maintenance
"""

EXAMPLES = r"""
- name: Move web1 from hv1 to hv2, live
  hotiron.virt.vm_migrate:
    uri: "{{ hostvars['hv1'].libvirt_uri }}"
    name: web1
    dest_uri: "{{ hostvars['hv2'].libvirt_uri }}"
    migration_address: "tcp://{{ hostvars['hv2'].lab_address }}"

- name: A busy database, with a bandwidth cap, auto-converge and a post-copy fallback
  hotiron.virt.vm_migrate:
    uri: qemu+tls://hv1.example.com/system
    name: db1
    dest: hv3
    hosts: "{{ dict(groups['cluster1'] | zip(groups['cluster1'] | map('extract', hostvars, 'libvirt_uri'))) }}"
    bandwidth: 100
    auto_converge: true
    postcopy: true
    completion_timeout: 300
    timeout_action: postcopy
  async: 900
  poll: 5
"""

RETURN = r"""
vm:
  description: Name of the VM.
  returned: always
  type: str
destination:
  description: URI of the host the VM is on now.
  returned: always
  type: str
source_host:
  description: Hostname of the source.
  returned: when moved or in check mode
  type: str
host:
  description: Hostname of the destination.
  returned: success
  type: str
running:
  description: Whether the VM runs on the destination.
  returned: success
  type: bool
duration_s:
  description: How long the migration took.
  returned: when moved
  type: float
downtime_ms:
  description:
    - How long the VM was paused at the switch-over, as libvirt measured it.
    - V(null) after a switch to post-copy, where the destination keeps no measurement.
  returned: when moved live
  type: int
data_sent_bytes:
  description:
    - Memory data sent.
    - After a switch to post-copy, what libvirt reported at the last read during the migration.
  returned: when moved live
  type: int
compression:
  description:
    - What xbzrle compression did, from libvirt's statistics of the completed migration (after a
      switch to post-copy, which leaves them out, the last ones read while pre-copy ran); V(null)
      values where libvirt reports none.
    - C(pages) and C(bytes) are the pages sent as deltas and their size, C(cache_misses) the pages
      not in the cache, C(overflow) the deltas too large to send as such.
  returned: when moved live with O(compression=true)
  type: dict
  sample: {pages: 5021, bytes: 180112, cache_misses: 32788, overflow: 0}
memory_iterations:
  description:
    - Pre-copy passes over the VM's memory (after a switch to post-copy, as at the last read).
  returned: when moved live
  type: int
disks:
  description: Each disk, whether it was V(shared), V(copy) (copied) or V(skip), and why.
  returned: when moved or in check mode
  type: list
  elements: dict
settings:
  description: The tuning used, the libvirt flags and the downtime schedule.
  returned: when moved
  type: dict
events:
  description: Tuning decisions taken during the migration (downtime steps, post-copy switch, abort).
  returned: when moved
  type: list
  elements: dict
"""

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.migration.args import HOST_LIMITS_SPEC, tuning_argument_spec
from ansible_collections.hotiron.virt.plugins.module_utils.migration.migrate_ops import run_vm_migrate


def run(module):
    return module_base.conclude(module, run_vm_migrate(module.params, module.check_mode))


def argument_spec():
    spec = module_base.connection_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        dest_uri=dict(type="str"),
        dest=dict(type="str"),
        hosts=dict(type="dict"),
        migration_address=dict(type="str"),
        live=dict(type="bool", default=True),
        copy_storage=dict(type="str", choices=["auto", "always", "never"], default="auto"),
        **tuning_argument_spec(),
        **HOST_LIMITS_SPEC,
    )
    return spec


def main():
    module_base.main(argument_spec(), run, mutually_exclusive=[("dest_uri", "dest")],
                     required_one_of=[("dest_uri", "dest")], required_by={"dest": "hosts"})


if __name__ == "__main__":
    main()
