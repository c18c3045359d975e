# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A domain's disks as data: the one reading of ``<devices><disk>`` that migration, recovery,
backups and snapshots share.  Pure: XML in, :class:`Disk` out.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx


class Disk:
    """One ``<disk>`` of a definition.

    ``source`` names the medium the way an operator reads it: the file or block device path, the
    ``protocol:name`` of a network disk, the ``pool/volume`` of a volume disk, ``None`` for an
    empty drive.  ``readonly`` covers shareable disks too (no writer of its own).  ``mode`` and
    ``why`` are left for the migration to say how the disk reaches the destination (``shared``,
    ``copy`` or ``skip``).
    """

    def __init__(self, target, kind, device, source, readonly, fmt):
        self.target = target
        self.kind = kind  # file, block, network, volume
        self.device = device
        self.source = source
        self.readonly = readonly
        self.format = fmt
        self.mode = None
        self.why = ""

    @property
    def backed_up(self):
        """Disks with data of their own: not CD-ROMs or floppies, not read-only or shared ones."""
        return self.device == "disk" and self.source is not None and not self.readonly

    @property
    def pool(self):
        """The pool of a volume disk, else ``None``."""
        return self.source.split("/", 1)[0] if self.kind == "volume" and self.source else None

    def as_dict(self):
        return {"target": self.target, "type": self.kind, "source": self.source, "mode": self.mode, "why": self.why}


def _source(kind, node):
    if node is None:
        return None
    if kind == "file":
        return node.get("file")
    if kind == "block":
        return node.get("dev")
    if kind == "network":
        return "%s:%s" % (node.get("protocol"), node.get("name"))
    if kind == "volume":
        return "%s/%s" % (node.get("pool"), node.get("volume"))
    return node.get("file") or node.get("dev") or node.get("name")


def disks(domain):
    """Every ``<disk>`` of a definition (XML text or a parsed root), in order, as :class:`Disk`."""
    root = dx.parse(domain) if isinstance(domain, (str, bytes)) else domain
    found = []
    for node in root.findall("devices/disk"):
        kind = node.get("type", "file")
        driver = node.find("driver")
        target = node.find("target")
        found.append(Disk(
            target=target.get("dev") if target is not None else None,
            kind=kind,
            device=node.get("device", "disk"),
            source=_source(kind, node.find("source")),
            readonly=node.find("readonly") is not None or node.find("shareable") is not None,
            fmt=driver.get("type", "raw") if driver is not None else "raw",
        ))
    return found
