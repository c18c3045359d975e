# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The VM tuning options of M(hotiron.virt.vm) (and each entry of M(hotiron.virt.vms)):
    their argument spec is vm.option_specs.tuning_options(), the one spec of them."""

    DOCUMENTATION = r"""
options:
  numa_cells:
    description:
      - The guest's NUMA topology (C(<cpu><numa>)), cell V(0) first; the complete list, V([]) removes it.
      - Every vCPU up to O(max_vcpus) belongs to exactly one cell, and the cells' memory adds up to
        O(max_memory) (libvirt sizes the VM from the cells); otherwise the task fails before changing anything.
      - Changing it needs a restart.
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      cpus:
        description: The cell's vCPUs, in libvirt's CPU-set syntax such as V(0-1) or V(0,2).
        type: str
        required: true
      memory:
        description: The cell's memory, with units (at least 16MiB).
        type: str
        required: true
  numatune:
    description:
      - Host NUMA nodes the guest's memory comes from (C(<numatune><memory>)); V({}) removes it.
        Changing it needs a restart.
    type: dict
    version_added: 0.2.0
    suboptions:
      mode:
        description: Memory policy (default V(strict)).
        type: str
        choices: [strict, preferred, interleave, restrictive]
      nodeset:
        description: Host NUMA nodes, such as V(0) or V(0-1); required.
        type: str
  cputune:
    description:
      - CPU pinning (C(<cputune>)); the CPU shares of O(cpu_shares) and O(sla) beside it are kept.
      - Host CPUs beyond the host's are refused, as are vCPUs the VM does not have.
      - Applied live to a running VM (C(virDomainPinVcpuFlags), C(virDomainPinEmulator)) and to
        its definition.
    type: dict
    version_added: 0.2.0
    suboptions:
      vcpupin:
        description: The complete list of pinned vCPUs; vCPUs left out (or V([])) float on every host CPU.
        type: list
        elements: dict
        suboptions:
          vcpu:
            description: The vCPU, from V(0).
            type: int
            required: true
          cpuset:
            description: Host CPUs, such as V(2) or V(2-3,^3,6).
            type: str
            required: true
      emulatorpin:
        description: Host CPUs for QEMU's own threads; V('') removes the pinning.
        type: str
  iothreads:
    description: Number of I/O threads (0 to 64, V(0) removes them); needs a restart.
    type: int
    version_added: 0.2.0
  memory_backing:
    description:
      - How guest memory is backed (C(<memoryBacking>)); V({}) removes it. Needs a restart.
      - Hugepages must be reserved on the host (C(vm.nr_hugepages)) for the VM to start.
      - O(filesystems) need shared memory; when they are given without O(memory_backing), the VM
        gets C(memfd) memory with C(shared) access.
    type: dict
    version_added: 0.2.0
    suboptions:
      hugepages:
        description: Back the memory with huge pages.
        type: bool
      hugepage_size:
        description: Huge page size such as V(2MiB) or V(1GiB), checked against the sizes the host offers.
        type: str
      source:
        description: Memory source.
        type: str
        choices: [anonymous, file, memfd]
      access:
        description: Memory access mode (V(shared) for virtiofs and vhost-user).
        type: str
        choices: [shared, private]
      locked:
        description: Lock the memory in host RAM (no swapping).
        type: bool
  hostdevs:
    description:
      - Host devices passed through to the guest (C(<hostdev mode='subsystem'>)); the complete
        list of PCI and USB ones, V([]) removes them. Needs a restart.
      - Checked before anything changes - the device must be one of the host's (its node devices), and
        PCI passthrough needs the host's IOMMU (libvirt capabilities C(iommu support='yes')).
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      type:
        description: Device kind.
        type: str
        choices: [pci, usb]
        required: true
      address:
        description: PCI address such as V(0000:01:00.0).
        type: str
      vendor:
        description: USB vendor id such as V(0x046d).
        type: str
      product:
        description: USB product id such as V(0xc077).
        type: str
      managed:
        description: libvirt detaches the device from its host driver on start and gives it back on stop.
        type: bool
        default: true
  tpm:
    description:
      - An emulated TPM (C(swtpm), which the host must have); V({}) is one with the defaults. Needs a restart.
      - Refused before anything changes when the host's domain capabilities offer no emulated TPM (no swtpm) or not the model.
    type: dict
    version_added: 0.2.0
    suboptions:
      enabled:
        description: V(false) removes the device.
        type: bool
        default: true
      model:
        description: TPM interface (default V(tpm-crb)).
        type: str
        choices: [tpm-crb, tpm-tis]
      version:
        description: TPM version (default V(2.0); V(1.2) only with V(tpm-tis)).
        type: str
        choices: ['2.0', '1.2']
  filesystems:
    description:
      - Host directories shared with the guest through virtiofs (the host needs C(virtiofsd)); the
        complete list of virtiofs shares, V([]) removes them (other filesystems are kept). Needs a restart.
      - The guest mounts one with C(mount -t virtiofs TARGET /mnt).
      - Refused before anything changes when the host's domain capabilities offer no virtiofs.
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      source:
        description: Absolute directory of the host.
        type: str
        required: true
      target:
        description: Mount tag the guest sees.
        type: str
        required: true
  watchdog:
    description: A watchdog device and what the host does when it fires. Needs a restart.
    type: dict
    version_added: 0.2.0
    suboptions:
      enabled:
        description: V(false) removes the device.
        type: bool
        default: true
      model:
        description: Watchdog model (default V(i6300esb); V(itco) on q35 machines).
        type: str
        choices: [i6300esb, ib700, itco]
      action:
        description: Action when it fires (default V(reset)).
        type: str
        choices: [reset, shutdown, poweroff, pause, none, dump, inject-nmi]
  rng:
    description: A virtio random number generator fed from the host. Needs a restart.
    type: dict
    version_added: 0.2.0
    suboptions:
      enabled:
        description: V(false) removes the device.
        type: bool
        default: true
      source:
        description: Host source, V(/dev/urandom) (default), V(/dev/random) or V(/dev/hwrng).
        type: str
      rate_bytes:
        description: At most this many bytes per O(rng.rate_period) (1 to 1073741824).
        type: int
      rate_period:
        description: The period of O(rng.rate_bytes) in milliseconds (1 to 3600000).
        type: int
  panic:
    description: A panic device, so a guest kernel panic reaches O(on_crash). Needs a restart.
    type: dict
    version_added: 0.2.0
    suboptions:
      enabled:
        description: V(false) removes the device.
        type: bool
        default: true
      model:
        description: Panic device model (default V(isa)).
        type: str
        choices: [isa, pvpanic, hyperv]
  on_poweroff:
    description: What the host does when the guest powers off; applied live and to the definition.
    type: str
    choices: [destroy, restart, preserve]
    version_added: 0.2.0
  on_reboot:
    description: What the host does when the guest reboots; applied live and to the definition.
    type: str
    choices: [destroy, restart, preserve]
    version_added: 0.2.0
  on_crash:
    description:
      - What the host does when the guest crashes (with O(panic)); applied live and to the definition.
      - An O(ha) VM's is V(destroy) (set by O(ha)); another value is refused.
    type: str
    choices: [destroy, restart, preserve, coredump-destroy, coredump-restart]
    version_added: 0.2.0
  on_lockfailure:
    description: What the host does when the VM's disk lock is lost (lock manager); needs a restart.
    type: str
    choices: [poweroff, restart, pause, ignore]
    version_added: 0.2.0
  serials:
    description:
      - The complete list of serial ports (port 0 first); V([]) removes them (with O(console=false)).
        A console on the serial port (O(console)) follows port 0 (libvirt gives port 0 one, so
        O(console=false) cannot go with serial ports). Needs a restart.
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      type:
        description: V(pty), V(file) (O(serials[].path)), V(unix) (a socket at O(serials[].path)),
          V(tcp) (telnet on O(serials[].host):O(serials[].port)) or V(null).
        type: str
        choices: [pty, file, unix, tcp, 'null']
        default: pty
      path:
        description: Absolute path of the file or socket.
        type: str
      host:
        description: Address a tcp port listens on (default V(127.0.0.1)).
        type: str
      port:
        description: TCP port, 1 to 65535.
        type: int
  channels:
    description:
      - The complete list of virtio channels, such as the QEMU guest agent's
        (V(org.qemu.guest_agent.0)); V([]) removes them. Needs a restart.
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      name:
        description: Channel name the guest sees.
        type: str
        required: true
      type:
        description: V(unix) (a socket libvirt makes), V(pty) or V(spicevmc) (V(com.redhat.spice.0)).
        type: str
        choices: [unix, pty, spicevmc]
        default: unix
notes:
  - The tuning options (O(numa_cells) to O(channels)) are left unmanaged when not given; they
    cannot be combined with a VM given as a complete domain XML, which states them itself (such a
    task is refused).
  - A running VM gets O(cputune), O(on_poweroff), O(on_reboot) and O(on_crash) live; the other tuning
    options are written to its definition and reported in RV(restart_pending) until it restarts.
"""
