# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a VM's disks can follow it to another host, and how (pure).

The rebalance planner asks :func:`route` before it plans a move, so that it plans only moves the
migration can make: every disk must be on storage the destination sees (shared), or be copied
with the VM (a live migration with a non-shared storage copy), which only ``copy_storage``
allows.  The rules are vm_migrate's (:func:`migration.disks_ops.classify_disks`), read from facts
gathered once per host - its active storage pools, each with its type, target directory and the
paths of its volumes, freshly listed - instead of asked disk by disk:

* a network disk is reached by every host; a disk of a pool volume needs a pool of that name of a
  shared type on the destination (local pool volumes cannot be copied);
* a block device must be a volume the destination lists;
* a file needs a storage pool over its directory on the destination - without one nothing can
  tell whether the directory is shared, nor copy into it; the file is shared when that pool lists
  it, else it is copied (only with ``copy_storage``, never a read-only or shareable disk, and only
  a file that is a volume of a pool on the source).

The migration itself checks again (vm_migrate's preflight probes a shared directory with a file):
a stale copy of a file at the same path on the destination is found there, and the move fails
cleanly, leaving the VM where it was.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

# Pool types whose volumes every host of the group sees (the data is not copied).
SHARED_POOL_TYPES = frozenset(["netfs", "iscsi", "iscsi-direct", "rbd", "gluster", "sheepdog", "scsi", "mpath", "vstorage"])
# Pool types whose volumes are files named after the volume in the pool's directory.
FILE_POOL_TYPES = frozenset(["dir", "fs", "netfs"])


@dataclass(frozen=True)
class Pool:
    """An active storage pool of a host: ``volumes`` are the paths of its volumes."""

    name: str
    type: str
    path: str | None
    volumes: frozenset = frozenset()
    fresh: bool = True


@dataclass(frozen=True)
class Disk:
    """A disk of a VM: ``kind`` file, block, network or volume; ``source`` the path (file,
    block), ``pool/volume`` (volume) or ``protocol:name`` (network); None without a medium."""

    target: str
    kind: str
    source: str | None
    readonly: bool = False


def norm(path):
    return posixpath.normpath(path) if path else path


def _pool_at(pools, directory):
    directory = norm(directory)
    return next((p for p in pools if p.path and norm(p.path) == directory), None)


def _lists(pools, path):
    path = norm(path)
    return any(path in p.volumes for p in pools)


def disk_route(disk, source_pools, dest_pools, dest, copy_storage):
    """``("shared" | "copy" | "skip", None)`` or ``(None, why not)`` for one disk going to ``dest``."""
    if disk.source is None:
        return "skip", None
    if disk.kind == "network":
        return "shared", None
    if disk.kind == "volume":
        pool_name = disk.source.split("/", 1)[0]
        pool = next((p for p in dest_pools if p.name == pool_name), None)
        if pool is None:
            return None, "disk %s: %s has no storage pool %s" % (disk.target, dest, pool_name)
        if pool.type not in SHARED_POOL_TYPES:
            return None, "disk %s: pool %s is local storage (%s), and its volumes cannot be copied" % (disk.target, pool_name, pool.type)
        return "shared", None
    if disk.kind == "block":
        if _lists(dest_pools, disk.source):
            return "shared", None
        return None, "disk %s: block device %s is not visible on %s" % (disk.target, disk.source, dest)
    directory = posixpath.dirname(norm(disk.source))
    if _pool_at(dest_pools, directory) is None:
        return None, ("disk %s: %s has no storage pool over %s, so the disk can neither be known to be shared nor"
                      " copied (define one on every host of the group)" % (disk.target, dest, directory))
    if _lists(dest_pools, disk.source):
        return "shared", None
    source_pool = _pool_at(source_pools, directory)
    if source_pool is not None and not source_pool.fresh and not _lists(source_pools, disk.source):
        # Check mode reads the pools as last refreshed (a refresh is a change): the VM's own host
        # does not list the disk yet, so neither listing says anything about it.  The run reads
        # them afresh and decides; check mode plans the move and says so.
        return "unknown", None
    if disk.readonly:
        return None, "disk %s: read-only/shareable %s is not on storage %s sees" % (disk.target, disk.source, dest)
    if not copy_storage:
        return None, ("disk %s: %s does not see %s (its pool over %s does not list it) and copy_storage is false"
                      % (disk.target, dest, disk.source, directory))
    if not _lists(source_pools, disk.source):
        return None, "disk %s: %s is not a volume of a storage pool on its host, so it cannot be copied" % (disk.target, disk.source)
    return "copy", None


def route(disks, source_pools, dest_pools, dest, copy_storage=False):
    """``(ok, words)``: whether a VM with ``disks`` can move to host ``dest`` (its pools
    ``dest_pools``; the VM's host's ``source_pools``), and how (``shared storage``, ``copying
    vda, vdb``) or why not (every disk that cannot follow)."""
    problems, copied, unknown = [], [], []
    for disk in disks:
        mode, why = disk_route(disk, source_pools, dest_pools, dest, copy_storage)
        if mode is None:
            problems.append(why)
        elif mode == "copy":
            copied.append(disk.target)
        elif mode == "unknown":
            unknown.append(disk.target)
    if problems:
        return False, "; ".join(problems)
    if unknown:
        return True, ("check mode: the pools as last refreshed do not list disk%s %s yet, so whether %s sees %s is"
                      " decided by the run, which reads them afresh" % ("s" if len(unknown) > 1 else "", ", ".join(unknown),
                                                                        dest, "them" if len(unknown) > 1 else "it"))
    if copied:
        return True, "copying disk%s %s" % ("s" if len(copied) > 1 else "", ", ".join(copied))
    return True, "shared storage"


def directories(disks):
    """The directories of the file disks among ``disks`` (the pools to read afresh)."""
    return {posixpath.dirname(norm(d.source)) for d in disks if d.kind == "file" and d.source}
