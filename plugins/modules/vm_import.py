#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vm_import
short_description: Import an OVA, an OVF or a disk image (VMDK, VHD, VHDX, qcow2, raw) as a libvirt VM
version_added: 0.1.0
description:
  - Reads an appliance as VMware writes it (OVF 1.x, C(rasd:) items, SCSI or IDE controllers,
    streamOptimized VMDK) or as VirtualBox writes it (OVF 2.0, C(sasd:)/C(epasd:) storage and
    Ethernet items, SATA/AHCI, E1000), and defines the VM it describes - name, vCPUs, memory in
    its allocation units, disks on their controllers in their order, NICs on the libvirt networks
    of O(network_map), BIOS or UEFI firmware, the OS profile where the descriptor says it - with
    the options of M(hotiron.virt.vm).
  - Before anything is written, every file the descriptor needs must be in the package and the
    manifest (C(.mf), SHA1, SHA256 or SHA512) must match; otherwise the task fails and nothing is
    created. Each disk's contents must match its declared format (a fixed VHD is read as VHD,
    never as raw with its footer).
  - Each disk is converted by C(qemu-img convert) straight from inside the OVA (read at the tar
    member's offset, never unpacked) into a new volume of O(pool), qcow2 by default. C(qemu-img)
    runs where the module runs, so run the task on the host that owns the pool (for example with
    C(delegate_to)) and leave O(uri) at its default.
  - A single disk image (C(.vmdk) of any subformat, C(.vhd), C(.vhdx), C(.qcow2), C(.vdi),
    C(.img)/C(.raw)/C(.iso)) is imported as a VM with one disk; the rest of the VM comes from the options.
  - Nothing is guessed. An C(.ova) (or O(src_format=ova)) is a tar archive or the task fails. A disk's
    format is read from its contents (the headers of qcow2, VMDK sparse, streamOptimized and
    descriptor, VHD, VHDX and VDI), and must agree with what O(src_format), the descriptor or the
    file's name declares. A raw disk has no header, so it is recognised by a partition table (MBR or
    GPT), an ISO 9660/UDF image or a filesystem, LVM or LUKS header at its start; a raw disk without
    any of these (a blank disk, say) is taken only when O(src_format=raw) or the descriptor says so.
    A file of no known disk format is refused saying what it looks like (HTML text, a gzip-compressed
    file, ...), before anything is created.
  - Without a guest conversion (virt-v2v), the guest keeps the hardware its drivers know - disk bus
    and controller model, NIC model - where QEMU has it, and the nearest device otherwise (said in
    RV(notes)). Set O(disk_bus) and O(nic_model) for guests that have virtio drivers.
  - O(interfaces), as in M(hotiron.virt.vm), replaces the appliance's NICs (and is how a disk image gets NICs).
  - An existing VM of that name is left alone (C(ok)); O(force) replaces it and the volumes it owns.
    If the import fails after the VM was defined, the VM and its volumes are removed again.
author:
  - hotiron.virt contributors (@hotiron-virt)
extends_documentation_fragment:
  - hotiron.virt.connection
  - hotiron.virt.vm
  - hotiron.virt.attributes
attributes:
  check_mode:
    support: full
    details: Reads and verifies the package (manifest digests, disk formats and sizes), then returns the VM
      that would be defined (RV(spec)), the plan and the conversions that would run.
  diff_mode:
    support: full
    details: The domain XML before (empty, or the VM O(force) replaces) and after.
options:
  src:
    description:
      - Absolute path, on the host running the module, of the OVA, the C(.ovf) descriptor (its files
        and C(.mf) manifest next to it) or the disk image.
    type: path
    required: true
  src_format:
    description:
      - What O(src) is. V(auto) tells an OVA by its tar header (a file named C(.ova) that is no tar is
        refused), an OVF by its C(.ovf) name, and a disk image's format by its contents (which must
        agree with its extension).
      - A disk image format (V(vmdk), ...) must agree with the image's contents; V(raw) declares a raw
        disk that shows no partition table or filesystem (a blank disk), and is refused for a file
        that looks like something else (text, an archive, another image format).
    type: str
    choices: [auto, ova, ovf, vmdk, vhd, vhdx, qcow2, vdi, raw]
    default: auto
  name:
    description: Name of the VM. Defaults to the appliance's name; required for a disk image.
    type: str
  pool:
    description: Storage pool for the disks (a pool whose volumes are paths on this host, such as V(dir)).
    type: str
    required: true
  disk_format:
    description: Format of the new volumes. CD/DVD images are always raw.
    type: str
    choices: [qcow2, raw]
    default: qcow2
  system:
    description: The C(ovf:id) of the virtual system to import from a package that holds several.
    type: str
  configuration:
    description: The deployment configuration (DeploymentOptionSection) to import; by default the
      descriptor's default one.
    type: str
  network_map:
    description:
      - Maps each network name of the appliance (a NIC's C(Connection)) to a libvirt network of the
        host. A name mapped to V(null) or an empty string leaves its NICs out.
      - Every network of the appliance's NICs must be mapped, unless O(default_network) is set.
    type: dict
  default_network:
    description: libvirt network for NICs whose network is not in O(network_map).
    type: str
  keep_macs:
    description: Keep the MAC addresses the descriptor gives its NICs (new ones are generated otherwise,
      so that two imports of one appliance do not clash).
    type: bool
    default: false
  disk_bus:
    description: Put every disk on this bus instead of its controller's (V(virtio) for guests with virtio
      drivers). A disk image goes on V(virtio) unless this says otherwise.
    type: str
    choices: [virtio, sata, scsi, ide]
  nic_model:
    description: Use this NIC model instead of the appliance's.
    type: str
    choices: [virtio, e1000e, e1000, rtl8139, vmxnet3, pcnet]
  vcpus:
    description: vCPUs, instead of the appliance's (at least V(1)).
    type: int
  memory:
    description: Memory with a unit (V(2GiB)), instead of the appliance's.
    type: str
  firmware:
    description: Firmware, instead of what the appliance says (BIOS unless it says EFI).
    type: str
    choices: [bios, uefi]
  os:
    description: OS profile of M(hotiron.virt.vm), instead of the one read from the descriptor's OS type.
    type: str
    choices: [linux, windows, other]
  description:
    description: Description of the VM; by default the appliance's annotation.
    type: str
  require_manifest:
    description: Refuse a package without a manifest (one that has a manifest is always checked).
    type: bool
    default: false
  state:
    description: V(running) starts the VM once imported.
    type: str
    choices: [present, running]
    default: present
  force:
    description: Replace an existing VM of that name (powered off and removed with the volumes it owns).
    type: bool
    default: false
notes:
  - virt-v2v is not used; guests whose drivers need changing (for example VMware PVSCSI-only Linux
    guests moving to virtio) need O(disk_bus)/O(nic_model) and the drivers, or a virt-v2v run of their own.
  - A signed package's certificate (C(.cert)) is not checked; the manifest is.
seealso:
  - module: hotiron.virt.vm_export
  - module: hotiron.virt.vm
"""

EXAMPLES = r"""
- name: An appliance exported by VMware, on the host that owns pool images
  hotiron.virt.vm_import:
    src: /srv/appliances/web.ova
    pool: images
    network_map:
      VM Network: default
    state: running
  delegate_to: hv1

- name: A VirtualBox export with virtio drivers inside, renamed, with more memory
  hotiron.virt.vm_import:
    src: /srv/appliances/devbox.ova
    name: devbox2
    pool: images
    disk_bus: virtio
    nic_model: virtio
    memory: 4GiB
    default_network: default

- name: A Hyper-V disk (fixed or dynamic VHD) as a Windows VM
  hotiron.virt.vm_import:
    src: /srv/images/app.vhd
    name: app1
    pool: images
    os: windows
    vcpus: 2
    memory: 4GiB
    interfaces:
      - network: default
"""

RETURN = r"""
vm:
  description: Name, UUID and power state of the VM.
  returned: when the VM exists after the task and not in check mode
  type: dict
  sample: {name: web, uuid: 2f0c..., state: running}
spec:
  description: The VM as options of M(hotiron.virt.vm), as decided from the appliance and the options.
  returned: when something is (or would be) imported
  type: dict
conversions:
  description: The disk conversions, each with its source (file or tar member, C(offset), C(size)),
    C(source_format), C(virtual_size), target C(pool)/C(volume)/C(format) and the C(command) run.
  returned: always
  type: list
  elements: dict
appliance:
  description: What the package says - C(kind), C(dialect) (V(vmware), V(virtualbox), V(generic), V(image)),
    C(ovf_version), C(name), C(os), C(firmware), C(vcpus), C(memory) (bytes), C(disks), C(nics),
    C(networks), and the devices it C(ignored).
  returned: when something is (or would be) imported
  type: dict
manifest:
  description: The manifest checked (C(file), the C(files) verified with their algorithm and digest),
    null without one.
  returned: when something is (or would be) imported
  type: dict
plan:
  description: The steps taken (or, in check mode, that would be taken).
  returned: always
  type: list
  elements: str
notes:
  description: Devices left out, or replaced by the nearest one libvirt and the VM spec have.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.vm import args as vm_args
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import import_ops


def argument_spec():
    spec = module_base.connection_argument_spec()
    vm_options = vm_args.vm_options()
    spec.update(
        src=dict(type="path", required=True),
        src_format=dict(type="str", default="auto",
                        choices=["auto", "ova", "ovf", "vmdk", "vhd", "vhdx", "qcow2", "vdi", "raw"]),
        name=dict(type="str"), pool=dict(type="str", required=True),
        disk_format=dict(type="str", default="qcow2", choices=["qcow2", "raw"]),
        system=dict(type="str"), configuration=dict(type="str"),
        network_map=dict(type="dict"), default_network=dict(type="str"),
        keep_macs=dict(type="bool", default=False),
        disk_bus=dict(type="str", choices=["virtio", "sata", "scsi", "ide"]),
        nic_model=dict(type="str", choices=list(vm_args.NIC_MODEL_CHOICES)),
        vcpus=dict(type="int", min=1), memory=dict(type="str"),
        firmware=dict(type="str", choices=["bios", "uefi"]),
        os=dict(type="str", choices=["linux", "windows", "other"]),
        description=dict(type="str"),
        require_manifest=dict(type="bool", default=False),
        state=dict(type="str", default="present", choices=["present", "running"]),
        force=dict(type="bool", default=False),
    )
    # the options documented by the hotiron.virt.vm fragment: M(hotiron.virt.vm)'s own spec
    spec.update((key, vm_options[key]) for key in ("interfaces", "graphics", "tags", "owner", "resource_group", "xml", "overcommit"))
    return spec


def run(module):
    return module_base.conclude(module, import_ops.run_vm_import(module.params, module.check_mode), unchanged_diff=True)


def main():
    module_base.main(argument_spec(), run,
                     mutually_exclusive=[("interfaces", "network_map"), ("interfaces", "default_network")])


if __name__ == "__main__":
    main()
