# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Snapshot XML read, built and moved (backup.snapshot_xml)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ansible_collections.hotiron.virt.plugins.module_utils.backup import snapshot_xml


SNAPSHOT = """<domainsnapshot><name>s2</name><state>running</state><parent><name>s1</name></parent>
  <creationTime>1700000000</creationTime><memory snapshot='external' file='/i/web1-s2.mem'/>
  <disks><disk name='vda' snapshot='external' type='file'><driver type='qcow2'/><source file='/i/web1-vda-s2.qcow2'/></disk>
  <disk name='hdc' snapshot='no'/></disks>
  <domain type='kvm'><name>web1</name><devices><disk type='file' device='disk'><source file='/i/web1-vda-s1.qcow2'/>
  <backingStore type='file'><source file='/i/web1.qcow2'/></backingStore><target dev='vda'/></disk></devices></domain>
</domainsnapshot>"""


def test_snapshot_xml_read_built_and_moved():
    snap, kind = snapshot_xml.parse(SNAPSHOT, current=True)
    assert kind == "external" and snap.parent == "s1" and snap.current and snap.created == 1700000000
    assert snap.frozen == {"vda": "/i/web1-vda-s1.qcow2"} and snap.overlay == {"vda": "/i/web1-vda-s2.qcow2"}
    assert snap.memory == "/i/web1-s2.mem"
    moved = snapshot_xml.parse(snapshot_xml.moved(SNAPSHOT, frozen={"vda": "/i/web1.qcow2"},
                                                  overlay={"vda": "/i/n.qcow2"}))[0]
    assert moved.frozen == {"vda": "/i/web1.qcow2"} and moved.overlay == {"vda": "/i/n.qcow2"}
    assert "backingStore" not in snapshot_xml.moved(SNAPSHOT, frozen={"vda": "/i/web1.qcow2"})
    built = ET.fromstring(snapshot_xml.create_xml("s3", {"vda": "/i/o.qcow2"}, ["hdc"], "before", "/i/m.mem"))
    assert built.find("memory").attrib == {"snapshot": "external", "file": "/i/m.mem"}
    assert [(d.get("name"), d.get("snapshot")) for d in built.findall("disks/disk")] == [
        ("vda", "external"), ("hdc", "no")]
    internal = "<domainsnapshot><name>i</name><disks><disk name='vda' snapshot='internal'/></disks></domainsnapshot>"
    assert snapshot_xml.parse(internal)[1] == "internal"
