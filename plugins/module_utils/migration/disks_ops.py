# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a migrating VM's disks reach the destination: shared (the destination sees the same
storage, proved by a probe file in check-free runs) or copied with the VM (volumes created on the
destination first, removed again when the migration fails).  Talks to both hosts.
"""

from __future__ import annotations

import os
import uuid as uuidlib
import xml.etree.ElementTree as ET

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import storage as capacity_storage

libvirt = lc.libvirt
# Pool types whose volumes every host of the group sees (the data is not copied): one list, the
# rebalance planner's (capacity.storage), which decides by the same rules.
SHARED_POOL_TYPES = capacity_storage.SHARED_POOL_TYPES


def pool_by_dir(conn, directory):
    try:
        return conn.storagePoolLookupByTargetPath(directory)
    except libvirt.libvirtError as err:
        if lc.is_not_found(err) or err.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
            return None
        raise lc.wrap_libvirt_error("find the storage pool of %s on %s" % (directory, lc.safe_uri(conn)), err) from err


def vol_by_path(conn, path):
    try:
        return conn.storageVolLookupByPath(path)
    except libvirt.libvirtError as err:
        if lc.is_not_found(err) or err.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
            return None
        raise lc.wrap_libvirt_error("look up volume %s on %s" % (path, lc.safe_uri(conn)), err) from err


def pool_type(pool):
    return ET.fromstring(pool.XMLDesc(0)).get("type")


def _same_storage(src, dest, directory):
    """Whether ``directory`` is the same storage on both hosts.

    A probe volume is created in the source's pool for that directory and
    looked for in the destination's pool after a refresh. Files that merely
    have the same path on two hosts (a stale copy) are not mistaken for
    shared storage this way. ``None`` when either host has no pool there.
    """
    src_pool = pool_by_dir(src, directory)
    dest_pool = pool_by_dir(dest, directory)
    if src_pool is None or dest_pool is None:
        return None
    name = ".hotiron-probe-%s" % uuidlib.uuid4().hex
    where = "probe whether %s is shared between %s and %s" % (directory, lc.safe_uri(src), lc.safe_uri(dest))
    with lc.attempt(where):
        probe = src_pool.createXML(
            "<volume><name>%s</name><capacity>0</capacity><target><format type='raw'/></target></volume>" % name, 0)
    try:
        with lc.attempt(where):
            lc.refresh_pool(dest_pool)
            seen = lc.lookup(where, dest_pool.storageVolLookupByName, name) is not None
    finally:
        with lc.attempt(where):
            probe.delete(0)
        try:
            lc.refresh_pool(dest_pool, timeout=5.0)
        except libvirt.libvirtError:
            pass  # the probe is gone; the pool's listing catches up at its next refresh
    return seen


def _listed_on_dest(dest, path):
    """Check mode's read-only stand-in for the probe: whether the destination's pool for the
    directory lists the file, as its last refresh saw it (``None`` without such a pool)."""
    dest_pool = pool_by_dir(dest, os.path.dirname(path))
    if dest_pool is None:
        return None
    where = "look for %s in the pool of %s on %s" % (os.path.basename(path), os.path.dirname(path), lc.safe_uri(dest))
    return lc.lookup(where, dest_pool.storageVolLookupByName, os.path.basename(path)) is not None


CHECK_MODE_NOTE = " (check mode reads the destination's pool as last refreshed and does not probe; the run does)"


def classify_disks(src, dest, disks, copy_storage="auto", probe=True):
    """Decide for each disk whether it is shared or copied; raise VirtError when neither works.

    ``probe=False`` (check mode) changes nothing on either host: whether a directory is shared
    is then read from the destination pool's listing instead of probed with a file.
    """
    problems = []
    for disk in disks:
        if disk.source is None:
            disk.mode, disk.why = "skip", "no medium"
        elif disk.kind == "network":
            disk.mode, disk.why = "shared", "network disk reached by every host"
        elif disk.kind == "volume":
            _classify_volume(dest, disk, problems)
        elif copy_storage == "never":  # file or block device given by path
            disk.mode, disk.why = "shared", "copy_storage=never"
        elif disk.kind == "block":
            if vol_by_path(dest, disk.source) is not None:
                disk.mode, disk.why = "shared", "the destination has the same block device"
            else:
                problems.append("disk %s: block device %s is not visible on the destination" % (disk.target, disk.source))
        else:
            _classify_file(src, dest, disk, copy_storage, probe, problems)
    if problems:
        raise lc.VirtError("Storage of the vm cannot be migrated: " + "; ".join(problems))
    return disks


def _classify_volume(dest, disk, problems):
    pool_name = disk.source.split("/", 1)[0]
    pool = lc.lookup_pool(dest, pool_name)
    if pool is None:
        problems.append("disk %s: the destination has no storage pool %s" % (disk.target, pool_name))
    elif pool_type(pool) in SHARED_POOL_TYPES:
        disk.mode, disk.why = "shared", "pool %s is shared storage" % pool_name
    else:
        problems.append("disk %s: volumes of local pool %s cannot be copied by vm_migrate" % (disk.target, pool_name))


def _classify_file(src, dest, disk, copy_storage, probe, problems):
    directory = os.path.dirname(disk.source)
    if copy_storage != "auto":
        shared = False
    elif probe:
        shared = _same_storage(src, dest, directory)
    else:
        shared = _listed_on_dest(dest, disk.source)
    note = "" if probe else CHECK_MODE_NOTE
    if shared:
        disk.mode, disk.why = "shared", "the destination sees the same directory" + note
    elif disk.readonly:
        problems.append("disk %s: read-only/shareable %s is not on storage the destination sees" % (disk.target, disk.source))
    elif shared is None:
        problems.append("disk %s: cannot tell whether %s is shared: define a storage pool for %s on both hosts"
                        " (or set copy_storage)" % (disk.target, disk.source, directory))
    elif pool_by_dir(dest, directory) is None:
        problems.append("disk %s: no storage pool for %s on the destination to copy it into" % (disk.target, directory))
    elif vol_by_path(dest, disk.source) is not None:
        problems.append("disk %s: the destination already has a different file at %s; refusing to overwrite it"
                        % (disk.target, disk.source))
    else:
        disk.mode, disk.why = "copy", "local storage, copied with the VM" + note


def precreate_volumes(src, dest, disks):
    """Create on ``dest`` an empty volume for each copied disk; returns the volumes created."""
    created = []
    try:
        for disk in disks:
            if disk.mode != "copy":
                continue
            src_vol = vol_by_path(src, disk.source)
            if src_vol is None:
                raise lc.VirtError("Cannot copy disk %s: %s is not a volume of a storage pool on the source"
                                   % (disk.target, disk.source))
            with lc.attempt("read volume %s on the source" % disk.source):
                capacity = src_vol.info()[1]
            pool = pool_by_dir(dest, os.path.dirname(disk.source))
            xml = ("<volume><name>%s</name><capacity unit='bytes'>%d</capacity>"
                   "<target><format type='%s'/></target></volume>") % (os.path.basename(disk.source), capacity, disk.format)
            with lc.attempt("create volume %s on %s" % (disk.source, lc.safe_uri(dest))):
                created.append(pool.createXML(xml, 0))
    except lc.VirtError:
        delete_volumes(created)
        raise
    return created


def delete_volumes(volumes):
    for vol in volumes:
        try:
            vol.delete(0)
        except libvirt.libvirtError:
            pass


def copy_volumes_offline(src, dest, disks):
    """Offline migration of local disks: stream each volume's data to the pre-created copy."""
    for disk in disks:
        if disk.mode != "copy":
            continue
        src_vol = vol_by_path(src, disk.source)
        dest_vol = vol_by_path(dest, disk.source)
        with lc.attempt("copy volume %s to %s" % (disk.source, lc.safe_uri(dest))):
            size = src_vol.info()[1]
            down = src.newStream(0)
            up = dest.newStream(0)
            src_vol.download(down, 0, size, 0)
            dest_vol.upload(up, 0, size, 0)
            while True:
                chunk = down.recv(1024 * 1024)
                if not chunk:
                    break
                up.send(chunk)
            down.finish()
            up.finish()


def remove_source_copies(src, copied):
    """After a migration that copied ``copied``: the source's copies are stale; remove them, so that
    nothing can start from them and the VM can come back later (a file in the way is never
    overwritten).  The paths removed."""
    removed = []
    for disk in copied:
        vol = vol_by_path(src, disk.source)
        if vol is not None:
            with lc.attempt("remove the source copy of disk %s (%s)" % (disk.target, disk.source)):
                vol.delete(0)
            removed.append(disk.source)
    return removed
