# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The record of one backup (``backup.json``): what it holds and how to check one read back.

A record names the VM (name and UUID), the backup (id, chain, ``full`` or ``incremental``, the
parent backup and both checkpoints), when and where it was taken, why it is full when it is,
whether the guest's file systems were frozen, the VM's definition (a file and its SHA-256) and,
per disk, the backup file with its size and SHA-256, and the disk's virtual size and source.
Restores trust nothing the record does not vouch for.  Pure: dicts in, dicts and messages out.
"""

from __future__ import annotations

FORMAT = 1
MODES = ("full", "incremental")


def build(vm, uuid, backup_id, chain, mode, parent, checkpoint, parent_checkpoint, host, started, finished,
          reason, quiesced, disks, domain_file, domain_sha256):
    """A record (dict).  ``disks`` are dicts with ``target``, ``file``, ``source``, ``format``,
    ``virtual_size``, ``size`` and ``sha256``; times are ISO 8601 UTC strings."""
    return {
        "format": FORMAT,
        "vm": vm,
        "uuid": uuid,
        "id": backup_id,
        "chain": chain,
        "mode": mode,
        "parent": parent,
        "checkpoint": checkpoint,
        "parent_checkpoint": parent_checkpoint,
        "host": host,
        "started": started,
        "finished": finished,
        "reason": reason,
        "quiesced": bool(quiesced),
        "disks": [dict(d) for d in disks],
        "domain": {"file": domain_file, "sha256": domain_sha256},
        "size": sum(int(d["size"]) for d in disks),
    }


_DISK_KEYS = {"target": str, "file": str, "format": str, "virtual_size": int, "size": int, "sha256": str}


def problems(record, vm=None, chain=None, backup_id=None):
    """Why ``record`` cannot be trusted (empty when it can); ``vm``/``chain``/``backup_id``, when
    given, are where it was found and must match what it says."""
    if not isinstance(record, dict):
        return ["the record is not a JSON object"]
    found = []
    if record.get("format") != FORMAT:
        found.append("unknown record format %r (this collection writes %d)" % (record.get("format"), FORMAT))
        return found
    for key, expected in (("vm", vm), ("chain", chain), ("id", backup_id)):
        if not isinstance(record.get(key), str) or not record.get(key):
            found.append("%s is missing" % key)
        elif expected is not None and record[key] != expected:
            found.append("%s is %r but the record lies under %r" % (key, record[key], expected))
    if record.get("mode") not in MODES:
        found.append("mode %r is neither full nor incremental" % (record.get("mode"),))
    elif record["mode"] == "full" and record.get("parent") is not None:
        found.append("a full backup with a parent")
    elif record["mode"] == "incremental" and not record.get("parent"):
        found.append("an incremental backup without a parent")
    if record.get("mode") == "full" and record.get("id") != record.get("chain"):
        found.append("a full backup must start its own chain")
    disks = record.get("disks")
    if not isinstance(disks, list) or not disks:
        found.append("no disks")
    else:
        targets = set()
        for index, disk in enumerate(disks):
            if not isinstance(disk, dict):
                found.append("disks[%d] is not an object" % index)
                continue
            for key, kind in _DISK_KEYS.items():
                if not isinstance(disk.get(key), kind) or isinstance(disk.get(key), bool):
                    found.append("disks[%d].%s is missing or not a %s" % (index, key, kind.__name__))
            if disk.get("target") in targets:
                found.append("disk %s appears twice" % disk.get("target"))
            targets.add(disk.get("target"))
            name = disk.get("file")
            if isinstance(name, str) and ("/" in name or name.startswith(".")):
                found.append("disks[%d].file %r is not a plain file name" % (index, name))
    domain = record.get("domain")
    if not isinstance(domain, dict) or not isinstance(domain.get("file"), str) or not isinstance(domain.get("sha256"), str):
        found.append("the vm definition (domain.file, domain.sha256) is missing")
    return found


def disk_map(record):
    """``{target: disk dict}`` of a record."""
    return {d["target"]: d for d in record.get("disks", [])}


def summary(record):
    """The short form backup_info and vm_backup report."""
    return {
        "id": record["id"], "chain": record["chain"], "mode": record["mode"], "parent": record.get("parent"),
        "checkpoint": record.get("checkpoint"), "started": record.get("started"), "finished": record.get("finished"),
        "size": record.get("size"), "reason": record.get("reason"), "quiesced": record.get("quiesced"),
        "host": record.get("host"), "uuid": record.get("uuid"),
        "disks": [{"target": d["target"], "file": d["file"], "size": d["size"], "sha256": d["sha256"],
                   "virtual_size": d["virtual_size"]} for d in record.get("disks", [])],
    }
