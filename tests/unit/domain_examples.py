# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Domain definitions the unit tests share (imported by name: tests/conftest.py puts this folder on the path)."""

# A running VM with a disk of every kind a backup tells apart: a qcow2 overlay on its base, a block
# device, a CD-ROM, a shareable disk.
DOMAIN = """<domain type='kvm'><name>web1</name><uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/>
      <source file='/i/web1-vda-s1.qcow2'/><backingStore type='file'><format type='qcow2'/>
      <source file='/i/web1.qcow2'/></backingStore><target dev='vda' bus='virtio'/></disk>
    <disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/sdb'/>
      <target dev='vdb' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><source file='/iso/x.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>
    <disk type='file' device='disk'><source file='/i/shared.img'/><target dev='vdc' bus='virtio'/><shareable/></disk>
    <interface type='network'><mac address='52:54:00:00:00:01'/><source network='lan'/></interface>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0' state='connected'/></channel>
  </devices></domain>"""
