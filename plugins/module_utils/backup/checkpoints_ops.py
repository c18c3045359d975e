# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A VM's checkpoints (libvirt's records of the dirty bitmaps in its qcow2 images): listed,
deleted, and carried to another host after a migration.

A live migration brings the bitmaps along inside the (shared) images, but libvirt keeps its
checkpoint records on the source, where they vanish with the source's definition: the next
incremental backup on the destination then fails with "checkpoint not found".  :func:`carry`
redefines them on the destination (``checkpointCreateXML`` with ``REDEFINE``), parents first;
for a running VM libvirt also checks that each bitmap is really in the images.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.backup import backup_xml
from ansible_collections.hotiron.virt.plugins.module_utils.backup.chain import ChainError, checkpoint_order

libvirt = lc.libvirt

_UNSUPPORTED = ("VIR_ERR_NO_SUPPORT", "VIR_ERR_OPERATION_UNSUPPORTED")


def _unsupported(err):
    return err.get_error_code() in {getattr(libvirt, n) for n in _UNSUPPORTED if hasattr(libvirt, n)}


def listing(dom):
    """``{name: {"parent": name or None, "disks": {target: "bitmap"|"no"}, "xml": text}}``; empty
    when the driver has no checkpoints at all."""
    try:
        found = dom.listAllCheckpoints(0)
    except libvirt.libvirtError as err:
        if _unsupported(err):
            return {}
        raise lc.wrap_libvirt_error("list the checkpoints of vm %s" % dom.name(), err) from err
    out = {}
    with lc.attempt("read the checkpoints of vm %s" % dom.name()):
        for checkpoint in found:
            xml = checkpoint.getXMLDesc(0)
            name, parent, disks = backup_xml.checkpoint_info(xml)
            out[name] = {"parent": parent, "disks": disks, "xml": xml}
    return out


def ordered(dom):
    """The VM's checkpoints as ``[(name, xml)]``, parents first (what :func:`carry` needs; read it
    before the migration, while the source still has them)."""
    found = listing(dom)
    try:
        names = checkpoint_order({name: item["parent"] for name, item in found.items()})
    except ChainError as err:
        raise lc.VirtError("Cannot order the checkpoints of vm %s: %s" % (dom.name(), err)) from err
    return [(name, found[name]["xml"]) for name in names]


def carry(dom, items, running):
    """Redefine ``items`` (from :func:`ordered`) on ``dom``, the VM on its new host.

    Never raises: a checkpoint that cannot be redefined is reported with libvirt's reason (the
    next backup of the VM is then a full one), and its children are not tried.
    """
    flags = libvirt.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE
    if running:
        flags |= libvirt.VIR_DOMAIN_CHECKPOINT_CREATE_REDEFINE_VALIDATE
    done, failed = [], {}
    try:
        have = set(listing(dom))
    except lc.VirtError as err:
        return {"redefined": [], "failed": {"*": err.message}}
    for name, xml in items:
        parent = backup_xml.checkpoint_info(xml)[1]
        if name in have:
            done.append(name)
            continue
        if parent is not None and parent in failed:
            failed[name] = "its parent %s could not be redefined" % parent
            continue
        try:
            dom.checkpointCreateXML(xml, flags)
            done.append(name)
        except libvirt.libvirtError as err:
            failed[name] = lc.describe_libvirt_error("redefine checkpoint %s of vm %s" % (name, dom.name()), err)
    return {"redefined": done, "failed": failed}


def create_name(prefix, backup_id):
    return "%s%s" % (prefix, backup_id)


def delete(dom, name, metadata_only=False):
    """Delete checkpoint ``name`` (merging its bitmap as libvirt does); no error when it is gone."""
    checkpoint = lc.lookup("look up checkpoint %s of vm %s" % (name, dom.name()), dom.checkpointLookupByName, name, 0)
    if checkpoint is None:
        return False
    flags = libvirt.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY if metadata_only else 0
    with lc.attempt("delete checkpoint %s of vm %s" % (name, dom.name())):
        checkpoint.delete(flags)
    return True


def prune(dom, prefix, keep):
    """Delete the VM's checkpoints named ``prefix...`` other than ``keep``: ``(deleted, problems)``.

    Children go before parents.  One whose bitmap is damaged or gone (libvirt then refuses to
    merge it) loses its record only; a failure is reported, never raised: the backup is done."""
    found = listing(dom)
    mine = [n for n in found if n.startswith(prefix) and n != keep]
    order = checkpoint_order({n: i["parent"] for n, i in found.items()})
    deleted, problems = [], []
    for name in reversed(order):
        if name not in mine:
            continue
        try:
            delete(dom, name)
        except lc.VirtError as err:
            try:
                delete(dom, name, metadata_only=True)
            except lc.VirtError as again:
                problems.append(again.message)
                continue
            problems.append("%s; its record alone was deleted" % err.message)
        deleted.append(name)
    return deleted, problems
