# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``<domainsnapshot>`` XML: built for a new external snapshot, read into a
:class:`snapshot_plan.Snapshot`, and rewritten when a merge moves a snapshot's frozen image.

A snapshot's XML holds the VM's definition at that time (``<domain>``): the source of each disk
there is the image the snapshot froze.  ``<disks>`` holds the overlays it put on top.  Pure.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils.backup.snapshot_plan import Snapshot


def create_xml(name, overlays, skipped, description=None, memory_file=None):
    """A new external snapshot: ``overlays`` ``{target: new overlay file}``, ``skipped``: targets
    left out (CD-ROMs, read-only disks); with ``memory_file`` the guest's memory is saved there."""
    root = ET.Element("domainsnapshot")
    ET.SubElement(root, "name").text = name
    if description:
        ET.SubElement(root, "description").text = description
    if memory_file:
        ET.SubElement(root, "memory", snapshot="external", file=memory_file)
    disks = ET.SubElement(root, "disks")
    for target in sorted(overlays):
        disk = ET.SubElement(disks, "disk", name=target, snapshot="external", type="file")
        ET.SubElement(disk, "driver", type="qcow2")
        ET.SubElement(disk, "source", file=overlays[target])
    for target in sorted(skipped):
        ET.SubElement(disks, "disk", name=target, snapshot="no")
    return dx.tostring(root)


def _domain_sources(root):
    sources = {}
    for node in root.findall("domain/devices/disk"):
        target = node.find("target")
        source = node.find("source")
        if target is not None and source is not None and source.get("file"):
            sources[target.get("dev")] = source.get("file")
    return sources


def parse(xml, current=False):
    """``(Snapshot, kind)`` of a snapshot's XML; ``kind`` is ``external``, ``internal`` or ``none``
    (no disk or memory state was saved)."""
    root = dx.parse(xml)
    sources = _domain_sources(root)
    frozen, overlay, kinds = {}, {}, set()
    for disk in root.findall("disks/disk"):
        target = disk.get("name")
        how = disk.get("snapshot", "no")
        if how == "no":
            continue
        kinds.add(how)
        if how == "external":
            node = disk.find("source")
            overlay[target] = node.get("file") if node is not None else None
            if target in sources:
                frozen[target] = sources[target]
    memory = root.find("memory")
    memory_file = None
    if memory is not None and memory.get("snapshot") == "external":
        memory_file = memory.get("file")
        kinds.add("external")
    elif memory is not None and memory.get("snapshot") == "internal":
        kinds.add("internal")
    parent = root.find("parent/name")
    created = dx.get_text(root, "creationTime")
    snap = Snapshot(
        name=dx.get_text(root, "name"),
        parent=parent.text.strip() if parent is not None and parent.text else None,
        frozen=frozen, overlay=overlay, memory=memory_file, state=dx.get_text(root, "state"),
        created=int(created) if created and created.isdigit() else None, current=current,
        description=dx.get_text(root, "description"),
    )
    kind = "external" if "external" in kinds else ("internal" if kinds else "none")
    return snap, kind


def moved(xml, frozen=None, overlay=None):
    """The snapshot's XML with new frozen images (``{target: path}``, in its ``<domain>``) and new
    overlays (in its ``<disks>``), for a redefinition."""
    root = dx.parse(xml)
    for node in root.findall("domain/devices/disk"):
        target = node.find("target")
        dev = target.get("dev") if target is not None else None
        if frozen and dev in frozen:
            source = node.find("source")
            source.attrib.clear()
            source.set("file", frozen[dev])
            for child in node.findall("backingStore"):
                node.remove(child)
    for disk in root.findall("disks/disk"):
        if overlay and disk.get("name") in overlay:
            node = disk.find("source")
            if node is None:
                node = ET.SubElement(disk, "source")
            node.attrib.clear()
            node.set("file", overlay[disk.get("name")])
    return dx.tostring(root)
