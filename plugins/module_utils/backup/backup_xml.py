# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt XML for backups: the disks worth backing up, ``<domainbackup>``, ``<domaincheckpoint>``,
and a recorded definition adapted for a restore.  Pure: text in, text out.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx


def backup_xml(targets, files, incremental=None, others=()):
    """``<domainbackup mode='push'>`` writing disk ``t`` of ``targets`` to ``files[t]`` (qcow2);
    ``incremental``: the checkpoint to copy the changes since.  The VM's ``others`` disks are
    named with ``backup='no'``, so that the job says what it leaves out rather than relying on
    what a libvirt version does with a disk the XML does not name."""
    root = ET.Element("domainbackup", mode="push")
    if incremental:
        ET.SubElement(root, "incremental").text = incremental
    disks_node = ET.SubElement(root, "disks")
    for target in targets:
        disk = ET.SubElement(disks_node, "disk", name=target, backup="yes", type="file")
        ET.SubElement(disk, "target", file=files[target])
        ET.SubElement(disk, "driver", type="qcow2")
    for target in others:
        if target and target not in targets:
            ET.SubElement(disks_node, "disk", name=target, backup="no")
    return dx.tostring(root)


def checkpoint_xml(name, targets, all_targets, description=None):
    """A checkpoint named ``name`` with a bitmap for each of ``targets``, none for the others."""
    root = ET.Element("domaincheckpoint")
    ET.SubElement(root, "name").text = name
    if description:
        ET.SubElement(root, "description").text = description
    disks_node = ET.SubElement(root, "disks")
    for target in all_targets:
        ET.SubElement(disks_node, "disk", name=target, checkpoint="bitmap" if target in targets else "no")
    return dx.tostring(root)


def checkpoint_info(xml):
    """``(name, parent or None, {target: "bitmap" | "no"})`` of a checkpoint's XML."""
    root = dx.parse(xml)
    parent = root.find("parent/name")
    return (dx.get_text(root, "name"), parent.text.strip() if parent is not None and parent.text else None,
            {d.get("name"): d.get("checkpoint", "bitmap") for d in root.findall("disks/disk")})


def guest_agent_connected(live_xml):
    """Whether the running VM's QEMU guest agent channel is connected (None: it has none)."""
    for channel in dx.parse(live_xml).findall("devices/channel"):
        target = channel.find("target")
        if target is not None and target.get("name") == "org.qemu.guest_agent.0":
            return target.get("state") == "connected"
    return None


def restored_domain(xml, name, disk_paths, renamed):
    """The recorded definition ``xml`` made fit to define the restored VM.

    ``disk_paths``: ``{target: restored qcow2 file}``.  Those disks become plain qcow2 files (any
    backing chain is flattened in the restored image); the others are left as recorded.  A
    ``renamed`` VM also gets a new UUID and new MAC addresses from libvirt, so that it can run next
    to the original.
    """
    root = dx.parse(xml)
    dx.set_text(root, "name", name)
    if renamed:
        dx.remove_path(root, "uuid")
        for iface in root.findall("devices/interface"):
            dx.remove_path(iface, "mac")
    for node in root.findall("devices/disk"):
        target = node.find("target")
        dev = target.get("dev") if target is not None else None
        if dev not in disk_paths:
            continue
        node.set("type", "file")
        for child in node.findall("source") + node.findall("backingStore"):
            node.remove(child)
        driver = node.find("driver")
        if driver is None:
            driver = ET.Element("driver", name="qemu")
            node.insert(0, driver)
        driver.set("type", "qcow2")
        source = ET.Element("source", file=disk_paths[dev])
        node.insert(list(node).index(driver) + 1, source)
    return dx.tostring(root)
