#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: host_info
short_description: Facts about a libvirt hypervisor host and its virtualisation support
version_added: 0.1.0
description:
  - Reports the hypervisor and its versions (libvirt, QEMU), the CPU model and topology,
    memory total and free, the guests running and defined on the host, and the vCPUs and
    memory committed to them.
  - Gives one hardware-virtualisation verdict for the machine the module runs on, from the
    CPU flags, a C(/dev/kvm) that really creates a VM (C(KVM_CREATE_VM)), nested
    virtualisation and PVM (the C(kvm_pvm) module); see RV(virtualisation.verdict).
  - Changes nothing on the host.
extends_documentation_fragment:
  - hotiron.virt.connection
  - hotiron.virt.attributes
  - hotiron.virt.attributes.info
options:
  virtualisation:
    description:
      - Probe hardware virtualisation on the machine the module runs on (read C(/proc/cpuinfo)
        and C(/sys/module), open C(/dev/kvm) and create then destroy an empty VM).
      - The probe describes the machine running the module, not the host of a remote O(uri).
      - With V(false), RV(virtualisation) is not returned.
    type: bool
    default: true
  libvirt:
    description:
      - Connect to libvirt at O(uri) and report the hypervisor, CPU, memory and guests.
      - With V(false) only the virtualisation probe runs, which needs no libvirt daemon; the
        C(hotiron.virt.hypervisor) role uses this as its pre-flight check before installing
        libvirt.
    type: bool
    default: true
  qemu_group:
    description:
      - The group QEMU runs in; RV(virtualisation.device_access) says whether it can open
        C(/dev/kvm).
      - V(kvm) on Debian and Ubuntu; RHEL-family hosts also use V(kvm).
    type: str
    default: kvm
notes:
  - Run with C(become) set to true, since an unprivileged probe cannot open C(/dev/kvm) and reports
    V(no_permission).
author:
  - hotiron.virt contributors (@hotiron-virt)
"""

EXAMPLES = r"""
- name: Gather facts of the local hypervisor
  hotiron.virt.host_info:
  register: host

- name: Stop unless guests can use KVM
  ansible.builtin.assert:
    that: host.virtualisation.usable
    fail_msg: "{{ host.virtualisation.message }}"

- name: Only the virtualisation verdict, before libvirt is installed
  hotiron.virt.host_info:
    libvirt: false
  register: preflight

- name: Memory committed to running guests on a remote host
  hotiron.virt.host_info:
    uri: qemu+tls://hv2.example.com/system
    virtualisation: false
  register: hv2
"""

RETURN = r"""
virtualisation:
  description: The hardware-virtualisation verdict of the machine the module ran on.
  returned: when O(virtualisation=true)
  type: dict
  contains:
    verdict:
      description:
        - V(hardware) (vmx/svm and a working /dev/kvm), V(nested) (a working /dev/kvm while
          running under another hypervisor, or with hidden CPU flags), V(pvm) (a working
          /dev/kvm through kvm_pvm without vmx/svm), V(disabled_in_firmware),
          V(no_permission) or V(emulation_only).
      type: str
      sample: pvm
    usable:
      description: Whether guests can run with domain type V(kvm).
      type: bool
    virt_type:
      description: The libvirt domain type guests should use, V(kvm) or V(qemu).
      type: str
    message:
      description: What was found and what to do about it.
      type: str
    vendor:
      description: V(intel) or V(amd) from the CPU flags, null when neither vmx nor svm is shown.
      type: str
    cpu_flags:
      description: The virtualisation-related CPU flags seen (vmx, svm, hypervisor).
      type: list
      elements: str
    kvm_creates_vm:
      description: Whether C(KVM_CREATE_VM) on /dev/kvm succeeded.
      type: bool
    nested_for_guests:
      description: The kvm_intel/kvm_amd C(nested) parameter; null when not loaded.
      type: bool
    running_under_hypervisor:
      description: The CPU shows the C(hypervisor) flag.
      type: bool
    pvm_loaded:
      description: The kvm_pvm module is loaded.
      type: bool
    modules:
      description: Loaded kernel modules among kvm, kvm_intel, kvm_amd, kvm_pvm.
      type: list
      elements: str
    device_access:
      description: Whether QEMU (group O(qemu_group)) can open /dev/kvm, with mode, owner, group.
      type: dict
    warnings:
      description: Problems that do not change the verdict, such as a /dev/kvm QEMU cannot open.
      type: list
      elements: str
hypervisor:
  description: The libvirt driver and versions.
  returned: when O(libvirt=true)
  type: dict
  sample: {driver: QEMU, version: 7.2.0, libvirt_version: 9.0.0}
hostname:
  description: The host name libvirt reports.
  returned: when O(libvirt=true)
  type: str
host_uuid:
  description: The host UUID from the capabilities.
  returned: when O(libvirt=true)
  type: str
uri:
  description: The URI the module connected to.
  returned: when O(libvirt=true)
  type: str
cpu:
  description: CPU model, vendor, topology (sockets, cores_per_socket, threads_per_core, cpus), mhz, features.
  returned: when O(libvirt=true)
  type: dict
memory:
  description: Host memory, RV(memory.total_mib) and RV(memory.free_mib).
  returned: when O(libvirt=true)
  type: dict
  contains:
    total_mib:
      description: Memory of the host, MiB.
      type: int
    free_mib:
      description: Free memory of the host, MiB.
      type: int
guest_virt_types:
  description: "Domain types libvirt offers per guest architecture, for example C({x86_64: [qemu, kvm]})."
  returned: when O(libvirt=true)
  type: dict
guests:
  description: Guests on the host.
  returned: when O(libvirt=true)
  type: dict
  contains:
    defined:
      description: Number of persistent (defined) guests.
      type: int
    running:
      description: Number of active guests (running, paused, ...).
      type: int
    total:
      description: Number of guests, transient ones included.
      type: int
    running_names:
      description: Names of the active guests.
      type: list
      elements: str
    list:
      description: Per guest name, uuid, state, active, persistent, autostart, vcpus, memory_mib, max_memory_mib.
      type: list
      elements: dict
committed:
  description:
    - vCPUs and memory committed to RV(committed.running) guests and to all RV(committed.defined)
      guests, with their ratios to the host's CPUs and memory.
  returned: when O(libvirt=true)
  type: dict
  contains:
    running:
      description: vcpus, memory_mib, vcpu_ratio and memory_ratio of the active guests (current memory).
      type: dict
      sample: {vcpus: 6, memory_mib: 3072, vcpu_ratio: 0.375, memory_ratio: 0.188}
    defined:
      description: The same for every guest, running or not (maximum memory).
      type: dict
      sample: {vcpus: 14, memory_mib: 7168, vcpu_ratio: 0.875, memory_ratio: 0.438}
"""

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.facts_ops import gather


def argument_spec():
    spec = module_base.connection_argument_spec()
    spec.update(
        virtualisation=dict(type="bool", default=True),
        libvirt=dict(type="bool", default=True),
        qemu_group=dict(type="str", default="kvm"),
    )
    return spec


def run(module):
    connect = (lambda: module_base.open_connection(module, readonly=True)) if module.params["libvirt"] else None
    return module_base.conclude(module, gather(module.params, connect=connect))


def main():
    # The pre-flight (libvirt: false) runs before libvirt is installed: it needs no bindings.
    module_base.main(argument_spec(), run, needs_libvirt=lambda params: params["libvirt"])


if __name__ == "__main__":
    main()
