#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vm
short_description: Declare a libvirt virtual machine and its power state
version_added: 0.1.0
description:
  - Creates, clones, changes, starts, stops and removes a libvirt VM from a declarative spec.
  - An option left out is not managed on an existing VM; a new VM gets the default of its O(os) profile.
  - A VM that does not exist is created only from a definition - O(disks) (V([]) for a VM without
    disks on purpose), O(clone_from), O(xml) with a boot source (a C(<disk>), C(<kernel>) or
    C(<boot>)) or a whole domain XML (O(xml_mode=full)); a name alone (a misspelled one, most often)
    is an error that says what to add.
  - Changes to a running VM are applied live where libvirt can (memory balloon within O(max_memory),
    vCPUs within O(max_vcpus), disk and NIC hot-plug), otherwise written to the persistent
    definition and reported with RV(restart_required). A new vCPU count of a running TCG guest
    (O(domain_type=qemu)) waits for its restart (QEMU aborts when a plugged vCPU finds no free region of
    its translation cache). An unplugged disk or NIC is waited for
    until the guest releases it (up to 60 s), else a warning says so.
  - Sizes take units, for example V(512MiB), V(2GiB), V(2G) (binary) or V(2GB) (decimal); a bare
    number is MiB.
author:
  - hotiron.virt contributors (@hotiron-virt)
extends_documentation_fragment:
  - hotiron.virt.connection
  - hotiron.virt.vm
  - hotiron.virt.vm.install
  - hotiron.virt.vm_tuning
  - hotiron.virt.attributes
attributes:
  check_mode:
    support: full
    details: Returns the plan (RV(plan), RV(changes)) and changes nothing.
  diff_mode:
    support: full
    details: Before and after of the normalised inactive domain XML.
options:
  name:
    description: Name of the VM.
    type: str
    required: true
  state:
    description:
      - V(present) defines the VM without touching its power state; V(running), V(stopped)
        (graceful shutdown within O(shutdown_timeout), then power off only with O(force)),
        V(paused) and V(restarted) (a full stop and start, which applies pending changes)
        also set the power state; V(absent) removes it.
    type: str
    choices: [present, running, stopped, paused, restarted, absent]
    default: present
  vcpus:
    description: Number of vCPUs (active), 1 to 4096 (and within O(limits.max_vcpus)).
    type: int
  max_vcpus:
    description: vCPUs the VM can be hot-plugged up to without a restart, 1 to 4096.
    type: int
  memory:
    description: Memory of the VM (balloon target), with units.
    type: str
  max_memory:
    description: Memory the VM can be ballooned up to without a restart.
    type: str
  cpu:
    description: CPU model.
    type: dict
    suboptions:
      mode:
        description: CPU mode.
        type: str
        choices: [host-passthrough, host-model, custom]
      model:
        description: CPU model name for O(cpu.mode=custom).
        type: str
  arch:
    description: Guest architecture; V(i686) for a 32-bit guest.
    type: str
    choices: [x86_64, i686]
  machine:
    description: Machine type (V(pc), V(q35) or a versioned name); checked against the host.
    type: str
  domain_type:
    description: Hypervisor type; by default V(kvm) when the host offers it, else V(qemu).
    type: str
  firmware:
    description: Firmware.
    type: str
    choices: [bios, uefi]
  os:
    description:
      - OS profile. V(windows) adds Hyper-V enlightenments, a localtime clock and SATA disks and
        e1000e NICs (drivers Windows has out of the box) unless O(virtio) is set.
    type: str
    choices: [linux, windows, other]
  virtio:
    description: Use virtio disks and NICs with the V(windows) profile.
    type: bool
  disks:
    description:
      - The complete list of disks; disks of the VM not listed are removed from its definition
        (their volumes are kept).
      - Each is a volume in a pool (O(disks[].pool) and O(disks[].volume), created when missing and
        O(disks[].size) is given) or a O(disks[].path).
    type: list
    elements: dict
    suboptions:
      pool:
        description: Storage pool of the volume.
        type: str
      volume:
        description: Volume name.
        type: str
      path:
        description: Absolute path of an image or device.
        type: str
      size:
        description: Size of a volume to create, with units.
        type: str
      format:
        description: Image format.
        type: str
        choices: [raw, qcow2]
      bus:
        description: Disk bus (default from the O(os) profile).
        type: str
        choices: [virtio, sata, scsi, ide, usb]
      cache:
        description: Cache mode.
        type: str
        choices: [default, none, writethrough, writeback, directsync, unsafe]
      device:
        description: Device kind.
        type: str
        choices: [disk, cdrom]
        default: disk
      readonly:
        description: Read-only disk.
        type: bool
        default: false
      boot_order:
        description: Boot order (1 boots first), 1 to 64.
        type: int
      target:
        description: Target device name such as V(vda) or V(sdb); assigned in order when left out.
        type: str
  console:
    description: A serial console on a pty (default for a new VM).
    type: bool
  autostart:
    description: Start the VM when the host boots.
    type: bool
  description:
    description: Free text stored as the domain description.
    type: str
  ha:
    description:
      - Live recovery of this VM by M(hotiron.virt.recover) (kept in the collection metadata, which
        travels with the VM). When it stops with reason crashed or failed it is started again on its
        host (within O(restart_limit)), and when its host fails it is started on another host of
        the group after the failed host is fenced.
      - V(true) also sets the VM's crash action to C(destroy), so that a panicking guest stops and
        the limited restart decides, rather than libvirt's own unlimited C(restart).
      - A VM stopped by an operator or by the collection is never restarted.
      - An HA VM cannot have O(autostart) (a host fenced and powered on again would start a copy of a
        VM that runs elsewhere by then).
    type: bool
  ha_priority:
    description: HA restart priority (0-1000, higher first) stored in the collection metadata.
    type: int
  restart_limit:
    description:
      - At most O(restart_limit.count) restarts by M(hotiron.virt.recover) within O(restart_limit.window)
        seconds (as Pacemaker's migration-threshold and systemd's StartLimitBurst); a crash loop then
        stops and recover reports it. Without it, 3 restarts in 600 seconds.
    type: dict
    suboptions:
      count:
        description: Restarts allowed within the window, 1 to 100 (default 3).
        type: int
      window:
        description: The window in seconds, 1 to 604800 (default 600).
        type: int
  sla:
    description:
      - Service class of the VM (kept in the collection metadata), V(gold), V(silver), V(bronze) or a
        name of the operator's (lower-case letters, digits, C(-) and C(_)).
      - The balancer (M(hotiron.virt.rebalance)) moves lower classes first. The built-in classes set
        the VM's CPU shares (gold 4096, silver 2048, bronze 512; libvirt's default is 1024) unless
        O(cpu_shares) is given.
    type: str
  cpu_shares:
    description:
      - Relative CPU weight of the VM against the other VMs of its host (C(<cputune><shares>)), 2 to
        262144. Applied live where the host has cgroups' CPU controller for QEMU, otherwise from the
        next start (a warning says so).
    type: int
  cpu_reservation:
    description:
      - CPUs (0 to 4096) reserved for the VM (collection metadata) - M(hotiron.virt.rebalance) counts the VM
        at this load at least, on its host and on any host it would move to, so that hosts keep room
        for what the VM may need however idle it is when measured.
    type: float
  expires:
    description: Date (V(YYYY-MM-DD)) after which the VM is due for retirement (collection metadata).
    type: str
  purpose:
    description: What the VM is for, in words (collection metadata).
    type: str
  template:
    description: Mark the VM as a template; a template cannot be started, nor removed while clones use it.
    type: bool
  metadata:
    description: Further free-form keys stored in the collection metadata (the complete set).
    type: dict
  xml_mode:
    description:
      - How O(xml) is used. V(merge) merges a partial C(<domain>) into the definition the options make
        (it must not set C(<name>) or C(<uuid>)).
      - V(full) takes O(xml) as the whole definition, as community.libvirt's C(virt) does - any
        C(virsh dumpxml) or virt-manager domain XML defines the VM as it is. Its C(<name>), if any,
        must be O(name). An existing VM keeps what the XML leaves out - its UUID (a different C(<uuid>)
        is refused), the MAC addresses of its interfaces (given in order to the XML's interfaces that
        have none), and the collection's metadata (the XML's own and the metadata options win key by key).
      - Idempotent the way libvirt stores a definition - a real run writes the XML only when it differs from
        the stored definition as text and then compares the definitions libvirt stored before and after, so
        a re-run with the same XML reports no change. Check mode predicts that by comparing the XML with the
        stored definition, not counting what libvirt adds by itself (controllers, PCI addresses, default
        devices, the clock, default lifecycle actions); the diff shows the stored and the new definition.
      - With V(full), only these options may be given beside O(xml) - O(name), O(state), O(autostart), the
        power and removal options (O(shutdown_timeout), O(force), O(wait), O(remove_volumes), O(remove_disks),
        O(keep_nvram)), O(limits), O(overcommit) and the options kept in the collection's metadata (O(tags),
        O(owner), O(resource_group), O(ha), O(ha_priority), O(restart_limit), O(sla), O(cpu_shares),
        O(cpu_reservation), O(expires), O(purpose), O(template), O(metadata)). Every option that writes the
        definition (O(vcpus), O(memory), O(disks), O(interfaces), O(clone_from), ... and every tuning option
        added later) is refused, naming it - write it into the XML instead. O(ha) and O(sla)/O(cpu_shares)
        add C(<on_crash>destroy</on_crash>) and C(<cputune><shares>) and are refused when the XML says otherwise.
    type: str
    choices: [merge, full]
    default: merge
    version_added: 0.2.0
  clone_from:
    description:
      - Create the VM as a clone of a template VM (its disks are cloned) or of a volume given as
        V(pool/volume). Only used when the VM does not exist yet.
    type: str
  clone:
    description:
      - V(linked) makes qcow2 overlays backed by the template's disks (instant; the template's disks
        become read-only in its definition and it is marked a template); V(full) copies them.
    type: str
    choices: [linked, full]
    default: linked
  pool:
    description: Pool for cloned volumes; by default the template volume's pool.
    type: str
  remove_volumes:
    description: With O(state=absent), also delete the volumes this collection created for the VM.
    type: bool
    default: false
  remove_disks:
    description:
      - With O(state=absent), also delete every file-backed disk of the VM (C(<disk device='disk'>) of
        type C(file) or C(volume); CD-ROMs, block devices and network disks are kept), not only the
        volumes this collection created (O(remove_volumes)).
      - Refused, before anything is changed, when a disk is used by another defined VM (as its disk,
        or as the backing file of its disk's volume) or is not a volume of a storage pool of the
        host (libvirt deletes only those). Check mode and the diff list the files that would go.
    type: bool
    default: false
    version_added: 0.2.0
  keep_nvram:
    description:
      - With O(state=absent), keep the VM's UEFI variables file (C(<nvram>)); by default it is
        deleted with the definition. Checkpoint and snapshot metadata always go with the VM (the
        checkpoints' bitmaps stay in the disk images).
    type: bool
    default: false
    version_added: 0.2.0
  wait:
    description:
      - With O(state=stopped), V(false) sends the shutdown request (ACPI power button) and returns at
        once, reporting V(shutting down) as the C(state) of RV(vm) while the guest is still up (as
        C(virsh shutdown)); for playbooks that stop many VMs and wait later. Not combined with
        O(force), which needs the wait. Each run with V(false) on a VM still up sends the request again.
    type: bool
    default: true
    version_added: 0.2.0
  shutdown_timeout:
    description: Seconds to wait for a graceful shutdown (0 to 86400); V(0) skips it.
    type: int
    default: 120
  force:
    description: Power the VM off when it does not shut down within O(shutdown_timeout).
    type: bool
    default: false
  limits:
    description: Per-guest limits.
    type: dict
    suboptions:
      max_vcpus:
        description: Most vCPUs a guest may have (1 to 4096).
        type: int
        default: 8
      max_memory:
        description: Most memory a guest may have.
        type: str
        default: 96GiB
"""

EXAMPLES = r"""
- name: A small Linux VM with a new disk, running
  hotiron.virt.vm:
    name: web1
    vcpus: 2
    max_vcpus: 4
    memory: 1GiB
    max_memory: 2GiB
    disks:
      - {pool: default, volume: web1.qcow2, size: 10GiB}
    interfaces:
      - {network: default}
    tags: [web]
    owner: team-a
    state: running

- name: Twenty linked clones of a template
  hotiron.virt.vm:
    name: "app{{ item }}"
    clone_from: tmpl-debian
    clone: linked
    state: running
  loop: "{{ range(1, 21) | list }}"

- name: A tuned VM - two NUMA cells, pinned vCPUs, a TPM, a watchdog, the guest agent's channel
  hotiron.virt.vm:
    name: db1
    vcpus: 2
    memory: 1GiB
    disks:
      - {pool: default, volume: db1.qcow2, size: 10GiB}
    numa_cells:
      - {cpus: "0", memory: 512MiB}
      - {cpus: "1", memory: 512MiB}
    cputune:
      vcpupin:
        - {vcpu: 0, cpuset: "2"}
        - {vcpu: 1, cpuset: "3"}
      emulatorpin: "0-1"
    tpm: {model: tpm-crb, version: "2.0"}
    watchdog: {model: i6300esb, action: reset}
    rng: {source: /dev/urandom}
    panic: {model: isa}
    on_crash: coredump-destroy
    channels:
      - {name: org.qemu.guest_agent.0}
    state: running

- name: Ask many VMs to shut down without waiting for each
  hotiron.virt.vm:
    name: "{{ item }}"
    state: stopped
    wait: false
  loop: [web1, web2, web3]

- name: Remove a VM with all its disk files, keeping its UEFI variables
  hotiron.virt.vm:
    name: old1
    state: absent
    remove_disks: true
    keep_nvram: true

- name: A VM from a domain XML as virsh dumpxml or virt-manager wrote it (UUID and MACs kept on redefinition)
  hotiron.virt.vm:
    name: legacy1
    xml: "{{ lookup('file', 'legacy1.xml') }}"
    xml_mode: full
    owner: team-a
    state: running

- name: A Windows guest with virtio devices
  hotiron.virt.vm:
    name: win1
    os: windows
    virtio: true
    firmware: uefi
    memory: 4GiB
    vcpus: 2
    disks:
      - {pool: default, volume: win1.qcow2, size: 40GiB}

- name: Remove a VM and the volumes it owns
  hotiron.virt.vm:
    name: web1
    state: absent
    remove_volumes: true
"""

RETURN = r"""
vm:
  description: Name, UUID and power state after the task.
  returned: when the VM exists after the task and not in check mode
  type: dict
  sample: {name: web1, uuid: 2f0c..., state: running}
plan:
  description: The steps taken (or, in check mode, that would be taken).
  returned: always
  type: list
  elements: str
changes:
  description: Changed fields with before, after and how they apply (V(live), V(restart) or V(config)).
  returned: always
  type: list
  elements: dict
removed_disks:
  description: With O(state=absent), the disk files deleted (or, in check mode, that would be).
  returned: when O(state=absent) removes a VM
  type: list
  elements: str
  version_added: 0.2.0
restart_required:
  description: The persistent definition differs from the running guest in ways only a restart applies.
  returned: always
  type: bool
restart_pending:
  description: The fields that need a restart.
  returned: when RV(restart_required) is true
  type: list
  elements: str
"""

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.vm import args as vm_args
from ansible_collections.hotiron.virt.plugins.module_utils.vm import power_ops


def argument_spec():
    spec = module_base.connection_argument_spec()
    spec.update(vm_args.vm_options())
    return spec


def run(module):
    # A run that writes no definition (an existing VM started, stopped, removed) needs neither the
    # spec nor the XML model, which the module would otherwise compile at every start.
    if power_ops.applies(module.params, {name: opt.get("default") for name, opt in argument_spec().items()}):
        result = power_ops.run(module.params, module.check_mode)
        if result is not None:
            return module_base.conclude(module, result, unchanged_diff=True)
    from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_ops
    return module_base.conclude(module, vm_ops.run_vm(module.params, module.check_mode), unchanged_diff=True)


def main():
    module_base.main(argument_spec(), run, mutually_exclusive=vm_args.MUTUALLY_EXCLUSIVE)


if __name__ == "__main__":
    main()
