#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vm_info
short_description: Describe the VMs of a libvirt host
version_added: 0.1.0
description:
  - Reports one VM or every VM of a host, optionally filtered by state, tags and collection metadata.
  - For each VM, its state and reason, resources, disks (path, format, size, backing chain),
    its snapshot tree (RV(vms[].snapshots), see M(hotiron.virt.vm_snapshot)) and backup checkpoints
    (RV(vms[].checkpoints), see M(hotiron.virt.vm_backup)), interfaces (MAC, network, addresses from DHCP leases or the guest agent where available),
    the collection metadata, CPU use, and the progress of a running job such as a migration
    (RV(vms[].job)), to poll while M(hotiron.virt.vm_migrate) runs with C(async).
author:
  - hotiron.virt contributors (@hotiron-virt)
extends_documentation_fragment:
  - hotiron.virt.connection
  - hotiron.virt.attributes
  - hotiron.virt.attributes.info
options:
  name:
    description: Only this VM. Without it, every VM of the host.
    type: str
  states:
    description: Only VMs in one of these states.
    type: list
    elements: str
    choices: [running, paused, shutoff, shutdown, crashed, pmsuspended, blocked, nostate]
  tags:
    description: Only VMs carrying all these tags.
    type: list
    elements: str
  metadata:
    description:
      - Only VMs whose collection metadata has these values (keys such as V(owner),
        V(resource_group), V(ha_priority), V(template), or free-form keys).
    type: dict
  owner:
    description: Only VMs of this owner (M(hotiron.virt.vm)'s O(hotiron.virt.vm#module:owner)).
    type: str
  expires_by:
    description:
      - Only VMs whose O(hotiron.virt.vm#module:expires) date is on or before this date
        (V(YYYY-MM-DD), or V(today) on the machine running the module, in UTC). A VM without a date never expires.
    type: str
  cpu_sample:
    description:
      - Seconds between two samples of each running VM's CPU time, to report RV(vms[].cpu_percent).
        V(0) reports only RV(vms[].cpu_time_ns). At most 60.
    type: float
    default: 0
  addresses:
    description: Look up interface addresses (DHCP leases, then the guest agent).
    type: bool
    default: true
  include_guest_info:
    description:
      - Ask the QEMU guest agent of each running VM whose agent is connected what it knows about the
        guest, in RV(vms[].guest) (hostname, OS, time zone, users, file systems, disks, interfaces with
        addresses). About 0.2 s per VM.
    type: bool
    default: false
    version_added: 0.2.0
"""

EXAMPLES = r"""
- name: All running web VMs
  hotiron.virt.vm_info:
    states: [running]
    tags: [web]
  register: web

- name: CPU use of one VM over one second
  hotiron.virt.vm_info:
    name: db1
    cpu_sample: 1
  register: db1

- name: Start a long migration in the background
  hotiron.virt.vm_migrate:
    uri: qemu+tls://hv1.example.com/system
    name: db1
    dest_uri: qemu+tls://hv2.example.com/system
  async: 3600
  poll: 0
  register: moving

- name: Its progress so far (no job yet while its checks run, none once it has ended)
  hotiron.virt.vm_info:
    uri: qemu+tls://hv1.example.com/system
    name: db1
  register: db1_now

- name: Show it
  ansible.builtin.debug:
    msg: "{{ (db1_now.vms | first | default({})).job | default(none) }}"

- name: Wait for the migration's result
  ansible.builtin.async_status:
    jid: "{{ moving.ansible_job_id }}"
  register: moved
  until: moved.finished
  retries: 720
  delay: 5
"""

RETURN = r"""
vms:
  description: The VMs found, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name.
      type: str
    uuid:
      description: UUID.
      type: str
    state:
      description: Power state.
      type: str
    reason:
      description: Why it is in that state.
      type: str
    vcpus:
      description: Active vCPUs.
      type: int
    max_vcpus:
      description: vCPUs it can be hot-plugged up to.
      type: int
    memory_mib:
      description: Memory (balloon target).
      type: int
    max_memory_mib:
      description: Memory it can be ballooned up to.
      type: int
    cpu_time_ns:
      description: CPU time used since it started.
      type: int
    cpu_percent:
      description: Share of its vCPUs used during O(cpu_sample).
      type: float
      returned: when O(cpu_sample) is above 0
    disks:
      description: Disks with target, bus, device, path, format, readonly, capacity, allocation, backing_chain.
      type: list
      elements: dict
    interfaces:
      description: NICs with mac, type, network, bridge, model, device, addresses.
      type: list
      elements: dict
    guest:
      description:
        - What the guest agent reports (C(hostname); C(os) with C(id), C(pretty_name), C(version_id),
          C(kernel_release), ...; C(timezone); C(users); C(filesystems) with C(mountpoint), C(fstype),
          C(total_bytes), C(used_bytes), C(disks); C(disks); C(interfaces) with C(name), C(hwaddr),
          C(addresses)); null when the VM is not running or its agent is not connected.
      type: dict
      returned: when O(include_guest_info) is true
      version_added: 0.2.0
    metadata:
      description: The collection metadata.
      type: dict
    tags:
      description: Tags.
      type: list
      elements: str
    template:
      description: Whether it is a template.
      type: bool
    clone_of:
      description: Template it was cloned from.
      type: str
    autostart:
      description: Starts with the host.
      type: bool
    job:
      description:
        - The VM's running job (a migration, save, dump, backup, ...), or V(null) when none runs.
        - During a migration the remaining data grows again when the guest writes memory faster
          than it is sent, so RV(vms[].job.percent) can fall between two reads.
      type: dict
      contains:
        operation:
          description: What the job does, such as V(outgoing migration) or V(incoming migration).
          type: str
        elapsed_s:
          description: Seconds since the job started.
          type: float
        percent:
          description: Share of the job's data done, V(null) when libvirt gives no total.
          type: float
        data_total_mib:
          description: Memory and disk data the job covers.
          type: float
        data_processed_mib:
          description: Data sent so far.
          type: float
        data_remaining_mib:
          description: Data still to send.
          type: float
        memory_iteration:
          description: Pre-copy pass over the guest's memory.
          type: int
        memory_dirty_rate_pages_s:
          description: Pages the guest writes per second.
          type: int
        memory_mib_s:
          description: Memory transfer rate.
          type: float
        expected_downtime_ms:
          description: Pause QEMU expects at the switch-over.
          type: int
        disk_remaining_mib:
          description: Disk data still to copy (a migration that copies disks).
          type: float
        postcopy:
          description: Whether the migration has switched to post-copy.
          type: bool
    persistent:
      description: Has a persistent definition.
      type: bool
    snapshots:
      description:
        - The snapshot tree, oldest first. Each snapshot has name, parent, children, state, created
          (epoch seconds), current, kind (V(external) or V(internal)), memory, memory_file,
          description, and per disk target the frozen image and the overlay (C(disks)).
      type: list
      elements: dict
    current_snapshot:
      description: Name of the current snapshot (the one the VM was last snapshotted at or reverted to).
      type: str
    checkpoints:
      description: Backup checkpoints (dirty bitmaps), parents first, each with name, parent and the disks with a bitmap.
      type: list
      elements: dict
"""

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.vm import query_ops as vm_query


def run(module):
    return module_base.conclude(module, vm_query.run_vm_info(module.params))


def argument_spec():
    spec = module_base.connection_argument_spec()
    spec.update(
        name=dict(type="str"),
        states=dict(type="list", elements="str",
                    choices=["running", "paused", "shutoff", "shutdown", "crashed", "pmsuspended", "blocked", "nostate"]),
        tags=dict(type="list", elements="str"),
        metadata=dict(type="dict"),
        owner=dict(type="str"),
        expires_by=dict(type="str"),
        cpu_sample=dict(type="float", default=0, min=0, max=60),
        addresses=dict(type="bool", default=True),
        include_guest_info=dict(type="bool", default=False),
    )
    return spec


def main():
    module_base.main(argument_spec(), run)


if __name__ == "__main__":
    main()
