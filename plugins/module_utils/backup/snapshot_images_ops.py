# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which image files a VM's disks and external snapshots stand on, and what else uses them: the
backing chains read from the qcow2 headers on disk, overlays in the same directories built on
them, and other VMs of the host whose disks are among them.  The result is the
:class:`snapshot_plan.Graph` that the pure plans of deletes and reverts work on.
"""

from __future__ import annotations

import os

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.backup import qcow2_ops as qcow2, snapshot_plan
from ansible_collections.hotiron.virt.plugins.module_utils.backup.backup_ops import checked
from ansible_collections.hotiron.virt.plugins.module_utils.storage import disk_xml


def image_format(path):
    header = checked(qcow2.read_header, path)
    return "qcow2" if header is not None else "raw"


def active_chains(disks):
    """``{target: [leaf, ..., bottom]}`` from the image headers on disk."""
    chains = {}
    for disk in disks:
        chains[disk.target] = [disk.source] + [path for path, _fmt in checked(qcow2.backing_chain, disk.source)]
    return chains


def build_graph(conn, dom, snapshots, active):
    """The :class:`snapshot_plan.Graph` of the VM's images, with what else uses them: overlays in
    the same directories built on them, and other VMs of this host whose disks are among them."""
    paths = set()
    for chain in active.values():
        paths.update(chain)
    for snap, kind, _xml in snapshots.values():
        if kind == "external":
            paths.update(p for p in list(snap.frozen.values()) + list(snap.overlay.values()) if p)
    backing = {}
    todo = [p for p in paths if os.path.exists(p)]
    while todo:
        path = todo.pop()
        if path in backing:
            continue
        header = checked(qcow2.read_header, path)
        parent = qcow2.resolve(path, header.backing) if header else None
        backing[path] = parent
        if parent and parent not in backing and os.path.exists(parent):
            todo.append(parent)
    foreign = {}
    for directory in sorted({os.path.dirname(p) for p in backing}):
        for entry in sorted(os.listdir(directory)):
            path = os.path.join(directory, entry)
            if path in backing or not os.path.isfile(path):
                continue
            try:
                header = qcow2.read_header(path)
            except OSError:
                continue
            parent = qcow2.resolve(path, header.backing) if header else None
            if parent in backing:
                foreign.setdefault(parent, []).append(path)
    with lc.attempt("list the vms of %s" % lc.safe_uri(conn)):
        others = [d for d in conn.listAllDomains(0) if d.UUIDString() != dom.UUIDString()]
        for other in others:
            for disk in disk_xml.disks(other.XMLDesc(0)):
                if disk.source in backing:
                    foreign.setdefault(disk.source, []).append("vm %s" % other.name())
    return snapshot_plan.Graph(backing, foreign)
