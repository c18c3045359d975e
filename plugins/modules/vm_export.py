#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vm_export
short_description: Export a libvirt VM as an OVA, or its disks as VMDK, VHD, qcow2 or raw files
version_added: 0.1.0
description:
  - With O(format=ova), writes an OVA that VMware and VirtualBox import - the OVF 1.0 descriptor
    first in the tar, a SHA256 manifest next, then one streamOptimized VMDK per disk.
  - Disks on virtio or SATA buses and virtio NICs, which VMware cannot take, are described as LSI
    Logic SCSI (or AHCI SATA) disks and E1000 NICs; the VM's own buses, NIC models, OS profile and
    tags are kept in a section other importers skip, so that M(hotiron.virt.vm_import) of the OVA
    gives the same VM again.
  - With O(format=vmdk), V(vhd), V(qcow2) or V(raw), writes each disk as C(<name>-<target>.<ext>)
    into the directory O(dest). VHD sizes are kept exact (C(force_size)), as Hyper-V and Azure need.
  - A shut-off VM's disks are read as they are. A running VM is refused unless O(live=true); then its
    writable disks are copied at one instant by a libvirt backup job (push mode, no checkpoint, so
    M(hotiron.virt.vm_backup)'s chains are not touched) into a hidden directory next to the destination
    while the VM goes on running, the export is made from those copies, and the directory is removed.
    Such an export is crash-consistent, like a disk after a power cut.
  - The disks are read by C(qemu-img) where the module runs, so run the task on the VM's host (for
    example with C(delegate_to)) and leave O(uri) at its default.
  - Files already there are left alone (C(ok)) unless O(force). Nothing is left under the
    destination's name when the export fails.
author:
  - hotiron.virt contributors (@hotiron-virt)
extends_documentation_fragment:
  - hotiron.virt.connection
  - hotiron.virt.attributes
attributes:
  check_mode:
    support: full
    details: Returns the conversions and files that would be written.
  diff_mode:
    support: none
options:
  name:
    description: Name of the VM.
    type: str
    required: true
  dest:
    description:
      - With O(format=ova), the path of the OVA, or an existing directory to write C(<name>.ova) into.
      - With a disk format, the existing directory for the disk files.
    type: path
    required: true
  format:
    description: What to write.
    type: str
    choices: [ova, vmdk, vhd, qcow2, raw]
    default: ova
  vmdk_subformat:
    description: VMDK variant with O(format=vmdk) (an OVA always holds streamOptimized disks).
    type: str
    choices: [streamOptimized, monolithicSparse]
    default: streamOptimized
  vhd_subformat:
    description: VHD variant with O(format=vhd).
    type: str
    choices: [dynamic, fixed]
    default: dynamic
  force:
    description: Write the files again when they exist.
    type: bool
    default: false
  live:
    description:
      - Export a running VM from a copy of its disks taken at one instant (see above), instead of
        refusing it. Needs room next to the destination for a copy of the VM's disks (their data,
        as qcow2) while the export runs. A shut-off VM is exported as it is either way.
    type: bool
    default: false
  timeout:
    description: Seconds (1 to 604800) the copy of a running VM's disks (O(live)) may take before it is aborted.
    type: float
    default: 86400
notes:
  - Writing streamOptimized VMDK is single-threaded deflate in qemu-img; expect about 10 s per GiB of
    data on a small machine.
  - Firmware reaches VMware as C(vmw:Config firmware=efi); VirtualBox reads EFI only from its own
    machine section and imports such an OVA with BIOS.
seealso:
  - module: hotiron.virt.vm_import
"""

EXAMPLES = r"""
- name: Stop the VM, then export it as an OVA on its host
  hotiron.virt.vm:
    name: web1
    state: stopped
  delegate_to: hv1

- name: Export web1 to /srv/export/web1.ova
  hotiron.virt.vm_export:
    name: web1
    dest: /srv/export/
  delegate_to: hv1

- name: Export web1 while it runs, from a copy of its disks taken at one instant
  hotiron.virt.vm_export:
    name: web1
    dest: /srv/export/
    live: true
  delegate_to: hv1

- name: The disks of db1 as fixed VHDs for Hyper-V
  hotiron.virt.vm_export:
    name: db1
    dest: /srv/export/db1
    format: vhd
    vhd_subformat: fixed
"""

RETURN = r"""
files:
  description: The files written (or found already there), with C(path) and C(size).
  returned: always
  type: list
  elements: dict
conversions:
  description:
    - Each disk's C(source), C(source_format), C(target) device, output C(file) and the C(command);
      C(from_copy) when it was converted from the copy of a running VM's disk (O(live)).
  returned: always
  type: list
  elements: dict
live_copy:
  description: The disks copied from the running VM at one instant (O(live)); empty for a shut-off VM.
  returned: always
  type: list
  elements: str
descriptor:
  description: The OVF descriptor written.
  returned: when an OVA was written
  type: str
manifest:
  description: The manifest written.
  returned: when an OVA was written
  type: str
members:
  description: The OVA's members in order, with C(name), C(offset) and C(size).
  returned: when an OVA was written
  type: list
  elements: dict
plan:
  description: The steps taken (or, in check mode, that would be taken).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import export_ops


def argument_spec():
    spec = module_base.connection_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        dest=dict(type="path", required=True),
        format=dict(type="str", default="ova", choices=["ova", "vmdk", "vhd", "qcow2", "raw"]),
        vmdk_subformat=dict(type="str", default="streamOptimized",
                            choices=["streamOptimized", "monolithicSparse"]),
        vhd_subformat=dict(type="str", default="dynamic", choices=["dynamic", "fixed"]),
        force=dict(type="bool", default=False),
        live=dict(type="bool", default=False),
        timeout=dict(type="float", default=86400.0, min=1, max=604800),
    )
    return spec


def run(module):
    return module_base.conclude(module, export_ops.run_vm_export(module.params, module.check_mode))


def main():
    module_base.main(argument_spec(), run)


if __name__ == "__main__":
    main()
