# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A domain's disks, read once for migration, recovery, backups and snapshots."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from domain_examples import DOMAIN as BACKUP_DOMAIN  # tests/unit/domain_examples.py

from ansible_collections.hotiron.virt.plugins.module_utils.storage import disk_xml


def test_every_kind_of_source_is_named():
    xml = """<domain><devices>
      <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/var/lib/libvirt/images/a.qcow2'/><target dev='vda'/></disk>
      <disk type='file' device='cdrom'><target dev='sda'/><readonly/></disk>
      <disk type='network' device='disk'><source protocol='iscsi' name='iqn.x/1'/><target dev='vdb'/></disk>
      <disk type='volume' device='disk'><source pool='san' volume='unit:0:0:1'/><target dev='vdc'/></disk>
      <disk type='block' device='disk'><source dev='/dev/sdz'/><target dev='vdd'/><shareable/></disk>
    </devices></domain>"""
    disks = [(d.target, d.kind, d.source, d.readonly, d.format) for d in disk_xml.disks(xml)]
    assert disks == [
        ("vda", "file", "/var/lib/libvirt/images/a.qcow2", False, "qcow2"),
        ("sda", "file", None, True, "raw"),
        ("vdb", "network", "iscsi:iqn.x/1", False, "raw"),
        ("vdc", "volume", "san/unit:0:0:1", False, "raw"),
        ("vdd", "block", "/dev/sdz", True, "raw"),
    ]


def test_disks_worth_backing_up():
    disks = disk_xml.disks(BACKUP_DOMAIN)
    assert [(d.target, d.kind, d.source, d.format, d.backed_up) for d in disks] == [
        ("vda", "file", "/i/web1-vda-s1.qcow2", "qcow2", True), ("vdb", "block", "/dev/sdb", "raw", True),
        ("hdc", "file", "/iso/x.iso", "raw", False), ("vdc", "file", "/i/shared.img", "raw", False)]


def test_a_parsed_root_reads_the_same_and_a_disk_without_target_is_kept():
    assert [d.target for d in disk_xml.disks(ET.fromstring(BACKUP_DOMAIN))] == ["vda", "vdb", "hdc", "vdc"]
    lone = disk_xml.disks("<domain><devices><disk type='volume'><source pool='p' volume='v'/></disk></devices></domain>")
    assert [(d.target, d.pool, d.as_dict()["source"]) for d in lone] == [(None, "p", "p/v")]
