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
      boot_order:
        description:
          - Network (PXE) boot from this NIC at this place among the devices (1 boots first), 1 to 64,
            as O(hotiron.virt.vm#module:disks[].boot_order) for disks. Not together with O(hotiron.virt.vm#module:boot.order).
        type: int
        version_added: 0.2.0
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

    # How a new VM boots and what personalises it: M(hotiron.virt.vm) (and its entries in
    # M(hotiron.virt.vms)) only, not vm_import (an appliance brings its own boot settings).
    INSTALL = r"""
options:
  boot:
    description:
      - How the VM boots. Left out, the boot settings are not managed (a new VM boots from its first disk).
      - See the installs guide (C(docs/docsite/rst/guide_installs.rst)) for an install from an ISO, PXE and
        direct kernel boot end to end.
    type: dict
    version_added: 0.2.0
    suboptions:
      order:
        description:
          - The firmware's boot order (C(<os><boot dev=.../>)), for example V([cdrom, hd]) to install from an
            ISO, V([network, hd]) for PXE first.
          - Removes the per-device boot orders (libvirt takes one or the other), so it cannot be given
            with O(hotiron.virt.vm#module:disks[].boot_order) or O(interfaces[].boot_order).
        type: list
        elements: str
        choices: [hd, cdrom, network, fd]
      kernel:
        description:
          - Direct kernel boot - absolute path of a kernel on the host (a bzImage, or an uncompressed
            ELF vmlinux with a PVH entry, which boots faster). V("") goes back to booting from the
            devices (and drops O(boot.initrd) and O(boot.cmdline)).
        type: str
      initrd:
        description: Absolute path of an initramfs on the host, with O(boot.kernel).
        type: str
      cmdline:
        description: Kernel command line, with O(boot.kernel), for example V(root=/dev/vda rw console=ttyS0).
        type: str
  cloud_init:
    description:
      - Personalise the guest with cloud-init (NoCloud) - the module writes a seed (an ISO9660 volume
        labelled C(cidata) holding C(meta-data), C(user-data) and C(network-config)) to the volume
        C(<name>-cidata.iso) and attaches it as a read-only SATA cdrom.
      - The seed's SHA-256 is kept in the collection metadata (C(cloud_init_seed)); an unchanged seed is
        neither read nor written again; a changed one is written again and shown in diff mode (the
        documents before and after). Check mode only reads.
      - cloud-init applies a seed at the first boot of an instance (O(cloud_init.instance_id)); give a
        new O(cloud_init.instance_id) to make an already booted guest apply a changed seed at its next boot.
      - A clone (O(hotiron.virt.vm#module:clone_from)) gets a seed of its own, the template's seed cdrom is not carried over.
      - Left out, the seed is not managed (an existing seed cdrom stays).
    type: dict
    version_added: 0.2.0
    suboptions:
      hostname:
        description: Host name (C(local-hostname) in the meta-data; a dotted name also sets the FQDN).
        type: str
      instance_id:
        description: cloud-init's instance id; by default the VM's name.
        type: str
      users:
        description: Users to create (cloud-config C(users)). Not together with O(cloud_init.user_data).
        type: list
        elements: dict
        suboptions:
          name:
            description: User name.
            type: str
            required: true
          ssh_authorized_keys:
            description: OpenSSH public keys allowed to log in as the user.
            type: list
            elements: str
          sudo:
            description: A sudoers rule, for example V(ALL=(ALL\) NOPASSWD:ALL).
            type: str
          groups:
            description: Supplementary groups.
            type: list
            elements: str
          shell:
            description: Login shell.
            type: str
      ssh_authorized_keys:
        description: OpenSSH public keys for the image's default user (C(debian), C(ubuntu), ...).
        type: list
        elements: str
      network:
        description:
          - The guest's network configuration (written as cloud-init network config version 2), one
            entry per NIC, matched by O(cloud_init.network[].mac) (the NIC is then named C(eth<index>))
            or by O(cloud_init.network[].name). Not together with O(cloud_init.network_config).
          - Left out, the image's default applies (usually DHCP on the first NIC).
        type: list
        elements: dict
        suboptions:
          mac:
            description: MAC address of the NIC (see O(interfaces[].mac)).
            type: str
          name:
            description: Interface name in the guest, for example V(eth0).
            type: str
          dhcp:
            description: DHCP for IPv4; by default when no O(cloud_init.network[].addresses) are given.
            type: bool
          addresses:
            description: Static addresses with prefix length, for example V(192.0.2.10/24).
            type: list
            elements: str
          gateway:
            description: Default gateway.
            type: str
          nameservers:
            description: DNS servers.
            type: list
            elements: str
      user_data:
        description: The raw C(user-data) document (C(#cloud-config), a script or MIME multi-part), used as given.
        type: str
      meta_data:
        description: Further C(meta-data) keys (over C(instance-id) and C(local-hostname)).
        type: dict
      network_config:
        description: The raw network config (version 1 or 2) as a dictionary.
        type: dict
      pool:
        description: Pool of the seed volume; by default O(pool), else the pool of the VM's first disk, else V(default).
        type: str
"""
