# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""External snapshots as images and their backing links: what deleting or reverting one does.

An external snapshot S of a disk freezes the image that was on top (its *frozen* image F) and
puts a new overlay on it (S's *overlay*), which takes the writes from then on.  S's state is F
with F's backing chain.  The images of a VM's disk form a tree: every image is built on its
backing image, the VM runs on one branch (its *active chain*, leaf first), and a revert starts a
new branch.

- Deleting S keeps every other snapshot's state and the VM's current data: when F has one child
  C, C is merged down into F (a block commit with an explicit base: F is written, never anything
  below it) and C goes; when nothing is built on F any more and the VM does not run on it, F
  goes; when F carries two branches, or anything outside this VM is built on F or C (a linked
  clone of a template, an overlay made by hand), nothing is merged and only S's name goes.
- Reverting to S puts a fresh overlay on F and the VM on it; the old leaf goes when it is an
  overlay a snapshot made (nothing is built on a leaf).

Pure: the image graph and the snapshots in, the plan out.  ``snapshot_ops`` carries it out.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import errors

import os
import re

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,99}$")


class PlanError(errors.InputError):
    """What the plan refuses to do, said for the operator."""


class Snapshot:
    """A snapshot as libvirt records it: per disk target, the frozen image and the overlay."""

    def __init__(self, name, parent=None, frozen=None, overlay=None, memory=None, state=None,
                 created=None, current=False, description=None):
        self.name = name
        self.parent = parent
        self.frozen = dict(frozen or {})
        self.overlay = dict(overlay or {})
        self.memory = memory
        self.state = state
        self.created = created
        self.current = current
        self.description = description

    def as_dict(self):
        return {"name": self.name, "parent": self.parent, "state": self.state, "created": self.created,
                "current": self.current, "memory": self.memory is not None, "memory_file": self.memory,
                "description": self.description,
                "disks": {t: {"frozen": self.frozen.get(t), "overlay": self.overlay.get(t)}
                          for t in sorted(set(self.frozen) | set(self.overlay))}}


class Graph:
    """Images and their backing links.

    ``backing``: ``{path: backing path or None}`` for every image of the VM's disks (active chains,
    frozen images, overlays); ``foreign``: ``{path: [what else uses it]}`` for those of its images
    that something outside the VM builds on or runs from (another VM, another overlay).
    """

    def __init__(self, backing, foreign=None):
        self.backing = dict(backing)
        self.foreign = {k: list(v) for k, v in (foreign or {}).items() if v}

    def children(self, path):
        return sorted(p for p, b in self.backing.items() if b == path)


def check_name(name):
    if not isinstance(name, str) or not NAME.match(name):
        raise PlanError("snapshot name %r: use letters, digits and _ . : + - (at most 100, starting with a"
                        " letter or digit)" % (name,))
    return name


def unique_path(directory, stem, taken):
    """``<directory>/<stem>.qcow2``, or with ``-2``, ``-3`` ... when ``taken`` (a set) has it."""
    path = os.path.join(directory, stem + ".qcow2")
    number = 2
    while path in taken:
        path = os.path.join(directory, "%s-%d.qcow2" % (stem, number))
        number += 1
    return path


def overlay_paths(vm, snapshot, leaves, taken):
    """Where the overlays of a new snapshot go: next to each disk's current leaf."""
    paths = {}
    taken = set(taken)
    for target, leaf in sorted(leaves.items()):
        path = unique_path(os.path.dirname(leaf), "%s-%s-%s" % (vm, target, snapshot), taken)
        taken.add(path)
        paths[target] = path
    return paths


# ---- delete ---------------------------------------------------------------------------------

class DiskDelete:
    """What deleting a snapshot does to one disk.

    ``action``: ``commit`` (merge ``child`` into ``base``; ``online`` through the running VM's block
    job, ``active`` when the child is the VM's leaf), ``drop`` (remove ``base``, built on by
    nothing), or ``keep`` (``why``).  ``rebase``: images to point at ``base`` once ``child`` is merged
    (those the running VM's job does not re-point itself); ``remove``: files removed at the end.
    """

    def __init__(self, target, action, base=None, child=None, online=False, active=False, rebase=(), remove=(), why=""):
        self.target = target
        self.action = action
        self.base = base
        self.child = child
        self.online = online
        self.active = active
        self.rebase = list(rebase)
        self.remove = list(remove)
        self.why = why

    def as_dict(self):
        return {"disk": self.target, "action": self.action, "base": self.base, "child": self.child,
                "online": self.online, "active": self.active, "rebase": self.rebase, "remove": self.remove,
                "why": self.why}


def plan_delete(name, snapshots, graph, active, running):
    """``(disk plans, new frozen images of other snapshots)`` for deleting snapshot ``name``.

    ``snapshots``: ``{name: Snapshot}``; ``active``: ``{target: [leaf, ..., bottom]}``; ``running``:
    whether the VM runs (then a merge through its active chain is its block job).  The second
    value maps other snapshots' names to ``{target: image}`` where their frozen image changes.
    """
    snap = snapshots[name]
    plans = []
    moved = {}
    for target in sorted(snap.frozen):
        base = snap.frozen[target]
        chain = active.get(target, [])
        kids = graph.children(base)
        if graph.foreign.get(base):
            plans.append(DiskDelete(target, "keep", base=base, why="%s is also used by %s: it is never written into"
                                    % (base, ", ".join(graph.foreign[base]))))
            continue
        if not kids:
            if base in chain:
                plans.append(DiskDelete(target, "keep", base=base, why="the vm runs on %s" % base))
                continue
            if any(s.frozen.get(target) == base for n, s in snapshots.items() if n != name):
                plans.append(DiskDelete(target, "keep", base=base, why="%s holds another snapshot" % base))
                continue
            plans.append(DiskDelete(target, "drop", base=base, remove=[base],
                                    why="nothing is built on %s any more" % base))
            continue
        if len(kids) > 1:
            plans.append(DiskDelete(target, "keep", base=base, why="%s is the base of %d images (%s): merging one"
                                    " would change the others" % (base, len(kids), ", ".join(kids))))
            continue
        child = kids[0]
        if graph.foreign.get(child):
            plans.append(DiskDelete(target, "keep", base=base, child=child, why="%s is also used by %s"
                                    % (child, ", ".join(graph.foreign[child]))))
            continue
        online = running and child in chain
        grandchildren = graph.children(child)
        if online and chain.index(child) > 0:
            # The running vm's block job re-points the image above the child in its chain.
            grandchildren = [g for g in grandchildren if g != chain[chain.index(child) - 1]]
        plans.append(DiskDelete(target, "commit", base=base, child=child, online=online,
                                active=bool(chain) and chain[0] == child, rebase=grandchildren, remove=[child],
                                why="%s merged into %s" % (child, base)))
        for other, osnap in snapshots.items():
            if other != name and osnap.frozen.get(target) == child:
                moved.setdefault(other, {})[target] = base
    return plans, moved


def active_after_delete(active, plans):
    """The active chains once ``plans`` are carried out."""
    after = {t: list(c) for t, c in active.items()}
    for plan in plans:
        if plan.action == "commit" and plan.child in after.get(plan.target, []):
            after[plan.target].remove(plan.child)
    return after


# ---- revert ---------------------------------------------------------------------------------

class DiskRevert:
    """Reverting one disk: a new overlay ``overlay`` on ``base``; the old ``leaf`` removed or kept."""

    def __init__(self, target, base, overlay, leaf, remove_leaf, why):
        self.target = target
        self.base = base
        self.overlay = overlay
        self.leaf = leaf
        self.remove_leaf = remove_leaf
        self.why = why

    def as_dict(self):
        return {"disk": self.target, "base": self.base, "overlay": self.overlay, "old_leaf": self.leaf,
                "old_leaf_removed": self.remove_leaf, "why": self.why}


def plan_revert(vm, name, snapshots, graph, active, taken):
    """Disk plans to revert to snapshot ``name`` (``taken``: paths that exist already)."""
    snap = snapshots[name]
    missing = sorted(set(active) - set(snap.frozen))
    if missing:
        raise PlanError("snapshot %s does not cover disk(s) %s of the vm: reverting would mix times"
                        % (name, ", ".join(missing)))
    overlays = {t: [s.overlay.get(t) for s in snapshots.values()] for t in snap.frozen}
    plans = []
    taken = set(taken)
    for target in sorted(snap.frozen):
        base = snap.frozen[target]
        if base not in graph.backing:
            raise PlanError("the image %s of snapshot %s (disk %s) is gone" % (base, name, target))
        path = unique_path(os.path.dirname(base), "%s-%s-%s-revert" % (vm, target, name), taken)
        taken.add(path)
        leaf = (active.get(target) or [None])[0]
        if leaf is None or leaf == base:
            remove, why = False, "no leaf to drop"
        elif graph.children(leaf) or graph.foreign.get(leaf):
            remove, why = False, "%s is built on: kept" % leaf
        elif any(s.frozen.get(target) == leaf for s in snapshots.values()):
            remove, why = False, "%s holds a snapshot: kept" % leaf
        elif leaf not in overlays[target]:
            remove, why = False, "%s was not made by a snapshot: kept" % leaf
        else:
            remove, why = True, "the writes since the snapshot are discarded"
        plans.append(DiskRevert(target, base, path, leaf, remove, why))
    return plans


def is_reverted(name, snapshots, graph, active, empty_leaves):
    """Whether the VM already stands at snapshot ``name``: it is the current snapshot and each
    disk runs on an overlay of its frozen image that holds no data (``empty_leaves``: the leaves
    with nothing written in them)."""
    snap = snapshots[name]
    if not snap.current:
        return False
    for target, base in snap.frozen.items():
        chain = active.get(target) or []
        if len(chain) < 2 or chain[1] != base or graph.backing.get(chain[0]) != base:
            return False
        if chain[0] not in empty_leaves:
            return False
    return True
