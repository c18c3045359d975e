# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Options of M(hotiron.virt.vm) that other modules defining a VM take as they are (vm_import,
    whose spec takes them from vm.args.vm_options(), the one spec of them)."""

    DOCUMENTATION = r"""
options:
  interfaces:
    description: The complete list of network interfaces, matched to existing ones by MAC, else in order.
    type: list
    elements: dict
    suboptions:
      network:
        description: libvirt network.
        type: str
      bridge:
        description: Host bridge.
        type: str
      model:
        description: NIC model (by default the O(os) profile's).
        type: str
        choices: [virtio, e1000e, e1000, rtl8139, vmxnet3, pcnet]
      mac:
        description: MAC address; generated when left out.
        type: str
  graphics:
    description: Graphical console, listening on 127.0.0.1 (none by default).
    type: str
    choices: [none, vnc, spice]
  tags:
    description: Tags stored in the collection metadata (the complete list).
    type: list
    elements: str
  owner:
    description: Owner stored in the collection metadata.
    type: str
  resource_group:
    description: Resource group stored in the collection metadata.
    type: str
  xml:
    description:
      - A partial C(<domain>) document merged into the definition after the spec, for what the
        spec does not cover. Devices are added unless an equal one exists.
      - M(hotiron.virt.vm) also takes a whole domain XML here, as the VM itself (its C(xml_mode) option).
    type: str
  overcommit:
    description: Allow more vCPUs or memory than the host has.
    type: bool
    default: false
"""
