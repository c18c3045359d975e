# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The XML of backup jobs, checkpoints and restored VMs (backup.backup_xml)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from domain_examples import DOMAIN  # tests/unit/domain_examples.py

from ansible_collections.hotiron.virt.plugins.module_utils.backup import backup_xml


def test_backup_and_checkpoint_xml():
    root = ET.fromstring(backup_xml.backup_xml(["vda"], {"vda": "/b/vda.qcow2"}, incremental="cp1"))
    assert root.get("mode") == "push" and root.findtext("incremental") == "cp1"
    disk = root.find("disks/disk")
    assert (disk.get("name"), disk.find("target").get("file"), disk.find("driver").get("type")) == (
        "vda", "/b/vda.qcow2", "qcow2")
    others = ET.fromstring(backup_xml.backup_xml(["vda"], {"vda": "/b/vda.qcow2"}, others=["vda", "vdc", None]))
    assert [(d.get("name"), d.get("backup")) for d in others.findall("disks/disk")] == [("vda", "yes"), ("vdc", "no")]
    assert others.find("disks/disk[@name='vdc']/target") is None and others.find("incremental") is None
    cp = backup_xml.checkpoint_xml("cp2", ["vda"], ["vda", "hdc"], "why")
    assert backup_xml.checkpoint_info(cp) == ("cp2", None, {"vda": "bitmap", "hdc": "no"})
    assert backup_xml.guest_agent_connected(DOMAIN) is True
    assert backup_xml.guest_agent_connected("<domain><devices/></domain>") is None


def test_restored_domain_renamed_gets_new_identity_and_flat_disks():
    xml = backup_xml.restored_domain(DOMAIN, "web1-r", {"vda": "/r/web1-r-vda.qcow2", "vdb": "/r/web1-r-vdb.qcow2"},
                                     renamed=True)
    root = ET.fromstring(xml)
    assert root.findtext("name") == "web1-r" and root.find("uuid") is None
    assert root.find("devices/interface/mac") is None
    vda, vdb, cdrom = root.findall("devices/disk")[:3]
    assert vda.find("source").get("file") == "/r/web1-r-vda.qcow2" and vda.find("backingStore") is None
    assert vdb.get("type") == "file" and vdb.find("driver").get("type") == "qcow2"
    assert vdb.find("source").attrib == {"file": "/r/web1-r-vdb.qcow2"}
    assert cdrom.find("source").get("file") == "/iso/x.iso"
    same = ET.fromstring(backup_xml.restored_domain(DOMAIN, "web1", {"vda": "/r/a.qcow2"}, renamed=False))
    assert same.findtext("uuid") == "6695eb01-f6a4-8304-79aa-97f2502e193f"
    assert same.find("devices/interface/mac").get("address") == "52:54:00:00:00:01"
