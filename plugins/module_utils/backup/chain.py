# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Chains of backups: whether the next backup can be incremental, what a restore needs, and in
which order checkpoints are redefined.

An incremental backup copies what changed since the checkpoint of the previous backup, so it
is only right when that checkpoint still describes the VM's disks: same VM (UUID), checkpoint
still known to libvirt with a bitmap for every disk, the same disks at the same sizes, and the
chain's files all on the target.  Anything else breaks the chain, and :func:`choose_mode` says
*full*, with the reason.  Pure: facts in, decisions out.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import errors
from ansible_collections.hotiron.virt.plugins.module_utils.backup import records
from ansible_collections.hotiron.virt.plugins.module_utils.backup.layout import id_key


class ChainError(errors.InputError):
    """A restore asked for something the backups cannot give."""


class VmFacts:
    """What the decision needs to know about the VM now.

    ``disks``: ``{target: {"format": "qcow2", "virtual_size": bytes, "source": path}}`` of the
    disks to back up; ``checkpoints``: ``{name: {target: "bitmap" | "no"}}`` as libvirt has them.
    """

    def __init__(self, uuid, running, disks, checkpoints):
        self.uuid = uuid
        self.running = running
        self.disks = disks
        self.checkpoints = checkpoints


class Decision:
    """``mode`` full or incremental, the ``parent`` backup an incremental follows, why, and
    whether the backup takes a checkpoint (so that the next one can be incremental)."""

    def __init__(self, mode, parent=None, reason="", checkpoint=True):
        self.mode = mode
        self.parent = parent
        self.reason = reason
        self.checkpoint = checkpoint
        self.broken = False       # full because the chain could not be continued

    def as_dict(self):
        return {"mode": self.mode, "parent": self.parent.id if self.parent else None, "reason": self.reason,
                "checkpoint": self.checkpoint, "chain_broken": self.broken}


def checkpoints_possible(vm):
    """None when the VM's disks can carry checkpoints (dirty bitmaps), else why not."""
    if not vm.running:
        return "the vm is not running: its disks are copied whole and no checkpoint is taken"
    for target, disk in sorted(vm.disks.items()):
        if disk.get("format") != "qcow2":
            return "disk %s is %s: checkpoints (dirty bitmaps) need qcow2 images" % (target, disk.get("format"))
    return None


def choose_mode(vm, chain, requested="auto", max_incrementals=None, missing_files=()):
    """Full or incremental for the next backup of ``vm``, after ``chain`` (its newest chain on the
    target, a :class:`layout.Chain`, or None).

    ``missing_files``: backup files of that chain that are not on the target (or not at their
    recorded size); ``max_incrementals``: how many incrementals a chain may hold (None: no limit).
    """
    no_checkpoint = checkpoints_possible(vm)
    if no_checkpoint:
        return Decision("full", None, no_checkpoint, checkpoint=False)
    if requested == "full":
        return Decision("full", None, "a full backup was asked for")
    if chain is None or chain.last is None:
        return Decision("full", None, "first backup of this vm on the target")
    last = chain.last
    record = last.record
    why = _broken(vm, chain, record, missing_files)
    if why:
        decision = Decision("full", None, why)
        decision.broken = True
        return decision
    if max_incrementals is not None and len(chain.backups) - 1 >= max_incrementals:
        return Decision("full", None, "chain %s already holds %d incremental backups (max_incrementals)"
                        % (chain.id, len(chain.backups) - 1))
    return Decision("incremental", last, "changes since backup %s (checkpoint %s)" % (last.id, last.checkpoint))


def _broken(vm, chain, record, missing_files):
    if not record.get("checkpoint"):
        return "the latest backup (%s) has no checkpoint to continue from" % record["id"]
    if record.get("uuid") != vm.uuid:
        return ("the vm was recreated: its uuid is %s, the latest backup (%s) is of uuid %s"
                % (vm.uuid, record["id"], record.get("uuid")))
    checkpoint = record["checkpoint"]
    if checkpoint not in vm.checkpoints:
        return ("checkpoint %s of the latest backup (%s) is not on the vm: it was deleted, or the vm was"
                " recreated or moved without it" % (checkpoint, record["id"]))
    before = records.disk_map(record)
    added = sorted(set(vm.disks) - set(before))
    removed = sorted(set(before) - set(vm.disks))
    if added or removed:
        parts = (["added %s" % ", ".join(added)] if added else []) + (["removed %s" % ", ".join(removed)] if removed else [])
        return "the vm's disks changed since the latest backup (%s)" % "; ".join(parts)
    for target in sorted(vm.disks):
        if vm.checkpoints[checkpoint].get(target) != "bitmap":
            return "checkpoint %s has no bitmap for disk %s" % (checkpoint, target)
        old, new = before[target]["virtual_size"], vm.disks[target].get("virtual_size")
        if new is not None and old != new:
            return "disk %s was resized since the latest backup (%d to %d bytes)" % (target, old, new)
    if missing_files:
        return "files of chain %s are missing or damaged on the target: %s" % (chain.id, ", ".join(missing_files))
    return None


def restore_sequence(chains, backup_id=None):
    """The backups to apply, full first, to restore ``backup_id`` (default: the newest complete
    backup).  ``chains`` are one VM's :class:`layout.Chain` objects.  ChainError when the backup
    is unknown or its chain does not link up (a parent missing)."""
    if not chains or not any(c.backups for c in chains):
        raise ChainError("there is no complete backup to restore")
    if backup_id is None:
        chain = max((c for c in chains if c.backups), key=lambda c: id_key(c.last.id))
        target = chain.last
    else:
        found = [(c, b) for c in chains for b in c.backups if b.id == backup_id]
        if not found:
            known = ", ".join(b.id for c in chains for b in c.backups)
            raise ChainError("no complete backup %s (known: %s)" % (backup_id, known or "none"))
        chain, target = found[0]
    by_id = {b.id: b for b in chain.backups}
    sequence = [target]
    while sequence[-1].mode == "incremental":
        parent = by_id.get(sequence[-1].parent)
        if parent is None:
            raise ChainError("backup %s needs %s, which chain %s does not hold: the chain is broken"
                             % (sequence[-1].id, sequence[-1].parent, chain.id))
        if parent in sequence:
            raise ChainError("chain %s loops at %s" % (chain.id, parent.id))
        sequence.append(parent)
    sequence.reverse()
    if sequence[0].id != chain.id:
        raise ChainError("chain %s does not start with its full backup" % chain.id)
    targets = set(records.disk_map(sequence[0].record))
    for backup in sequence[1:]:
        if set(records.disk_map(backup.record)) != targets:
            raise ChainError("backup %s does not cover the same disks as the full backup %s" % (backup.id, sequence[0].id))
    return sequence


def checkpoint_order(parents):
    """Checkpoint names ordered parents first, from ``{name: parent name or None}``.

    A parent that is not in the map counts as none (its child becomes a root).  Siblings keep
    their name order, so the result does not depend on dict order."""
    children = {}
    roots = []
    for name in sorted(parents):
        parent = parents[name]
        if parent is None or parent not in parents:
            roots.append(name)
        else:
            children.setdefault(parent, []).append(name)
    ordered = []
    stack = list(reversed(roots))
    while stack:
        name = stack.pop()
        ordered.append(name)
        stack.extend(reversed(children.get(name, [])))
    if len(ordered) != len(parents):
        loop = sorted(set(parents) - set(ordered))
        raise ChainError("checkpoints %s form a loop of parents" % ", ".join(loop))
    return ordered
