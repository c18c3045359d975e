# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restoring a VM from its backups: the libvirt-facing half of hotiron.virt.vm_restore.

Each disk is rebuilt from the chain, full backup first: the incrementals are copied aside and
checked against their recorded SHA-256, then the full backup is copied into place and checked
the same way in the same pass, then each incremental is applied onto it in order (its copy is
pointed at the rebuilt image and merged into it with ``qemu-img commit``, which writes exactly
the clusters the incremental holds, zeroes included).  The backup files are never changed.  Only
when every disk is rebuilt, checked (``qemu-img check``, virtual size) and renamed into place is
the VM defined; any failure before removes everything this run made.
"""

from __future__ import annotations

import contextlib
import hashlib
import os

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils.files import produced_file
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.backup import (
    backup_xml,
    chain,
    layout,
    qcow2_ops as qcow2,
    records,
    store_ops as store,
)
from ansible_collections.hotiron.virt.plugins.module_utils.domain import guest as domain
from ansible_collections.hotiron.virt.plugins.module_utils.storage import qemu_img_ops as qemu_img
from ansible_collections.hotiron.virt.plugins.module_utils.backup.backup_ops import checked, require_local, resolve_target, virt_error

libvirt = lc.libvirt


def run_vm_restore(params, check_mode):
    conn = lc.connect(params["uri"])
    try:
        return _run(conn, params, check_mode)
    finally:
        conn.close()


def _disk_dir(conn, params):
    if params.get("disk_pool"):
        return resolve_target(conn, {"target_pool": params["disk_pool"]})
    return os.path.normpath(params["disk_dir"])


def _files(target, backup):
    bdir = layout.backup_dir(target, backup.vm, backup.chain, backup.id)
    return {d["target"]: os.path.join(bdir, d["file"]) for d in backup.record["disks"]}


def _run(conn, params, check_mode):
    source_vm = params["vm"]
    name = params["name"] or source_vm
    checked(layout.check_vm_name, source_vm)
    checked(layout.check_vm_name, name)
    uri = lc.safe_uri(conn)
    target = resolve_target(conn, params)
    require_local(conn, "restore vm %s" % name)
    sequence = _sequence(target, source_vm, params["backup"])
    last = sequence[-1]
    renamed = name != last.record["vm"]
    _refuse_clashes(conn, name, last.record["uuid"], renamed)
    disk_dir = _disk_dir(conn, params)
    checked(store.check_target, disk_dir, writable=True)
    targets = [d["target"] for d in last.record["disks"]]
    dest = _destinations(disk_dir, name, targets)
    _require_files(target, sequence)
    domain_path = os.path.join(layout.backup_dir(target, source_vm, last.chain, last.id), last.record["domain"]["file"])
    definition = backup_xml.restored_domain(_verified_text(domain_path, last.record["domain"]["sha256"]), name, dest,
                                            renamed)
    plan = {"vm": name, "from": {"vm": source_vm, "target": target, "backup": last.id, "chain": last.chain,
                                 "sequence": [b.id for b in sequence]},
            "disks": [{"target": t, "path": dest[t], "virtual_size": records.disk_map(last.record)[t]["virtual_size"]}
                      for t in targets],
            "renamed": renamed, "start": params["start"]}
    diff = {"before": {"vm": None}, "after": {"vm": name, "host": uri, "disks": sorted(dest.values()),
                                              "backup": last.id}}
    if check_mode:
        plan["verified"] = [_verify(path, disk["sha256"]) for backup in sequence
                            for path, disk in _paths_and_disks(target, backup)]
        return {"changed": True, "msg": "vm %s would be restored from backup %s of %s" % (name, last.id, source_vm),
                "plan": plan, "diff": diff, **plan}
    verified, uuid, started = _restore(conn, target, sequence, dest, disk_dir, name, definition, params["start"])
    if params.get("disk_pool"):
        pool = lc.lookup_pool(conn, params["disk_pool"])
        with lc.attempt("refresh storage pool %s" % params["disk_pool"]):
            lc.refresh_pool(pool)
    plan["verified"] = verified
    return {"changed": True, "uuid": uuid, "started": started, "diff": diff,
            "msg": "vm %s restored from backup %s of %s (%d file(s) verified)" % (name, last.id, source_vm, len(verified)),
            **plan}


def _sequence(target, source_vm, backup_id):
    """The backups to apply, full first, ending with ``backup_id`` (None: the latest)."""
    checked(store.check_target, target, writable=False)
    chains, _incomplete = checked(store.chains, target, source_vm)
    if not chains:
        raise lc.VirtError("There is no complete backup of vm %s on %s; nothing was restored" % (source_vm, target))
    try:
        return chain.restore_sequence(chains, backup_id)
    except chain.ChainError as err:
        raise lc.VirtError("Cannot restore vm %s from %s: %s; nothing was restored" % (source_vm, target, err)) from err


def _refuse_clashes(conn, name, uuid, renamed):
    """Refuse a name that is taken, and (not renamed) a uuid that is."""
    uri = lc.safe_uri(conn)
    if lc.lookup_domain(conn, name) is not None:
        raise lc.VirtError("A vm named %s already exists on %s: restore under another name (name) or remove it"
                           " first; nothing was restored" % (name, uri))
    if not renamed:
        clash = lc.lookup("look up uuid %s on %s" % (uuid, uri), conn.lookupByUUIDString, uuid)
        if clash is not None:
            raise lc.VirtError("vm %s on %s has the uuid of the backed-up vm: restore under a new name (which"
                               " gets a new uuid); nothing was restored" % (clash.name(), uri))


def _destinations(disk_dir, name, targets):
    """``{target: path of the restored disk}``; refused when any of them exists."""
    dest = {t: os.path.join(disk_dir, "%s-%s.qcow2" % (name, t)) for t in targets}
    existing = [p for p in dest.values() if os.path.lexists(p)]
    if existing:
        raise lc.VirtError("Disk file(s) %s already exist: refusing to overwrite them; nothing was restored"
                           % ", ".join(existing))
    return dest


def _require_files(target, sequence):
    """Refuse a sequence with a backup file missing or not at its recorded size."""
    missing = []
    for backup in sequence:
        for disk in backup.record["disks"]:
            path = _files(target, backup)[disk["target"]]
            if not os.path.isfile(path) or os.path.getsize(path) != disk["size"]:
                missing.append(path)
    if missing:
        raise lc.VirtError("Backup file(s) missing or not at their recorded size: %s; nothing was restored"
                           % ", ".join(missing))


def _restore(conn, target, sequence, dest, disk_dir, name, definition, start):
    """Rebuild every disk, define the VM (and start it): ``(verified files, uuid, started)``.
    On any failure everything this made is removed again."""
    made = []
    try:
        verified = []
        for disk_target, path in dest.items():
            verified.extend(_rebuild(target, sequence, disk_target, path, disk_dir, name, made))
        guest = domain.define(conn, definition, "define the restored vm %s on %s" % (name, lc.safe_uri(conn)))
        made.append(guest)
        if start:
            guest.start()
        return verified, guest.uuid(), bool(start)
    except BaseException as err:
        _undo(made)
        if isinstance(err, lc.VirtError):
            err.extend("; everything this restore made was removed")
        raise


def _paths_and_disks(target, backup):
    files = _files(target, backup)
    return [(files[d["target"]], d) for d in backup.record["disks"]]


def _verify(path, expected):
    actual = checked(store.sha256_file, path)
    if actual != expected:
        raise lc.VirtError("Backup file %s is damaged: its SHA-256 is %s, the record says %s; nothing was restored"
                           % (path, actual, expected))
    return {"file": path, "sha256": actual}


def _verified_text(path, expected):
    data = checked(_read_bytes, path)
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise lc.VirtError("The recorded definition %s is damaged (SHA-256 %s, the record says %s); nothing was"
                           " restored" % (path, actual, expected))
    text = data.decode("utf-8")
    checked(_parse, text, path)
    return text


def _read_bytes(path):
    with open(path, "rb") as handle:
        return handle.read()


def _parse(text, path):
    try:
        return dx.parse(text)
    except dx.XMLError as err:
        raise store.StoreError("The recorded definition %s is not usable: %s" % (path, err)) from err


def _rebuild(target, sequence, disk_target, dest, disk_dir, name, made):
    """Rebuild one disk at ``dest`` (through a hidden part file, renamed into place once it is
    whole and checked); the files verified (each checked before it is used)."""
    part = os.path.join(disk_dir, ".%s-%s.qcow2.part" % (name, disk_target))
    try:
        with produced_file(dest, part, overwrite=False):
            verified = _assemble(target, sequence, disk_target, part, disk_dir, name, made)
    except FileExistsError as err:
        raise lc.VirtError("Disk file %s appeared while it was being restored: not overwritten" % dest) from err
    except OSError as err:
        raise virt_error(err) from err
    made.append(dest)
    return verified


def _assemble(target, sequence, disk_target, part, disk_dir, name, made):
    """The full backup copied to ``part``, each incremental merged onto it in order, the result
    checked (``qemu-img check``, virtual size); the files verified."""
    verified = []
    temps = []
    for backup in sequence[1:]:
        disk = records.disk_map(backup.record)[disk_target]
        temp = os.path.join(disk_dir, ".%s-%s-%s.incremental" % (name, disk_target, backup.id))
        made.append(temp)
        temps.append(temp)
        verified.append(_copy_verified(_files(target, backup)[disk_target], temp, disk["sha256"]))
    full = records.disk_map(sequence[0].record)[disk_target]
    verified.insert(0, _copy_verified(_files(target, sequence[0])[disk_target], part, full["sha256"]))
    for temp in temps:
        checked(qemu_img.rebase_unsafe, temp, part, "qcow2")
        checked(qemu_img.commit, temp, part)
        os.unlink(temp)
        made.remove(temp)
    checked(qemu_img.check, part)
    header = checked(qcow2.read_header, part)
    expected = records.disk_map(sequence[-1].record)[disk_target]["virtual_size"]
    if header is None or header.virtual_size != expected:
        raise lc.VirtError("The rebuilt disk %s has a virtual size of %s, the backup says %d"
                           % (disk_target, header.virtual_size if header else "?", expected))
    return verified


def _copy_verified(src, dst, expected):
    actual = checked(store.copy_hashing, src, dst)
    if actual != expected:
        raise lc.VirtError("Backup file %s is damaged: its SHA-256 is %s, the record says %s" % (src, actual, expected))
    return {"file": src, "sha256": actual}


def _undo(made):
    for item in reversed(made):
        if isinstance(item, str):
            with contextlib.suppress(OSError):
                os.unlink(item)
        else:
            with contextlib.suppress(lc.VirtError):
                if item.is_active():
                    item.force_off()
            with contextlib.suppress(lc.VirtError):
                item.delete_definition()
