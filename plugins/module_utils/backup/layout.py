# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where backups live on the backup target, and how a listing of it becomes chains.

The target is one directory, laid out so that a person finds a VM's backups by name and date::

    <target>/<vm>/<chain>/<backup>/backup.json     the record (written last: no record, no backup)
                                   domain.xml      the VM's definition at that time
                                   vda.qcow2       one file per disk, named by its target

A chain is a full backup and the incrementals taken after it; the chain directory is named by
its full backup's id.  Ids are UTC times, ``2026-03-01T020000Z`` (a ``-2``, ``-3`` suffix when
two backups of a VM fall in one second), so that names sort by date.

Pure: paths and listings in, chains out; nothing here touches the file system.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import errors

import datetime
import os
import re

RECORD = "backup.json"
DOMAIN = "domain.xml"
LOCK = ".lock"
ID_FORMAT = "%Y-%m-%dT%H%M%SZ"
_ID = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{6}Z)(?:-(\d+))?$")


class LayoutError(errors.InputError):
    """A name that cannot be used on the target."""


def check_vm_name(name):
    """VM names become directory names: refuse what would escape the target or hide."""
    if not name or "/" in name or name in (".", "..") or name.startswith(".") or "\0" in name:
        raise LayoutError("vm name %r cannot name a directory of the backup target" % (name,))
    return name


def make_id(when, taken=()):
    """The id of a backup started at ``when`` (a UTC datetime), unique among ``taken`` (the ids
    that VM's backups already use)."""
    base = when.strftime(ID_FORMAT)
    if base not in taken:
        return base
    number = 2
    while "%s-%d" % (base, number) in taken:
        number += 1
    return "%s-%d" % (base, number)


def parse_id(text):
    """``(datetime in UTC, sequence)`` of an id, or None when ``text`` is not one."""
    match = _ID.match(text or "")
    if not match:
        return None
    when = datetime.datetime.strptime(match.group(1), ID_FORMAT).replace(tzinfo=datetime.timezone.utc)
    return when, int(match.group(2) or 1)


def id_key(text):
    """Sort key of an id: by time, then sequence (``-10`` after ``-9``)."""
    parsed = parse_id(text)
    return parsed if parsed else (datetime.datetime.max.replace(tzinfo=datetime.timezone.utc), 0)


def vm_dir(target, vm):
    return os.path.join(target, check_vm_name(vm))


def chain_dir(target, vm, chain):
    return os.path.join(vm_dir(target, vm), chain)


def backup_dir(target, vm, chain, backup):
    return os.path.join(chain_dir(target, vm, chain), backup)


def disk_file(target_dev):
    """File name of a disk's backup image."""
    if not re.match(r"^[A-Za-z0-9_.-]+$", target_dev or "") or target_dev.startswith("."):
        raise LayoutError("disk target %r cannot name a backup file" % (target_dev,))
    return target_dev + ".qcow2"


class Backup:
    """One backup as found on the target: its place and its record (None when incomplete)."""

    def __init__(self, vm, chain, backup_id, record=None, problem=None):
        self.vm = vm
        self.chain = chain
        self.id = backup_id
        self.record = record
        self.problem = problem

    @property
    def complete(self):
        return self.record is not None and self.problem is None

    @property
    def mode(self):
        return (self.record or {}).get("mode")

    @property
    def parent(self):
        return (self.record or {}).get("parent")

    @property
    def checkpoint(self):
        return (self.record or {}).get("checkpoint")

    @property
    def size(self):
        return int((self.record or {}).get("size") or 0)

    def __repr__(self):
        return "Backup(%s/%s/%s%s)" % (self.vm, self.chain, self.id, "" if self.complete else " incomplete")


class Chain:
    """A full backup and the incrementals after it (complete backups only, oldest first)."""

    def __init__(self, vm, chain_id, backups):
        self.vm = vm
        self.id = chain_id
        self.backups = sorted(backups, key=lambda b: id_key(b.id))

    @property
    def first(self):
        return self.backups[0] if self.backups else None

    @property
    def last(self):
        return self.backups[-1] if self.backups else None

    @property
    def size(self):
        return sum(b.size for b in self.backups)

    def last_finished(self):
        """When its newest backup finished (datetime), or the chain id's time."""
        last = self.last
        when = parse_time((last.record or {}).get("finished")) if last is not None else None
        return when or (parse_id(self.id) or (None,))[0]

    def __repr__(self):
        return "Chain(%s/%s: %s)" % (self.vm, self.id, ", ".join(b.id for b in self.backups))


def parse_time(text):
    """An ISO 8601 UTC time as written in records (``2026-03-01T02:00:00Z``), or None."""
    if not text:
        return None
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def format_time(when):
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def group(vm, backups):
    """``(chains, incomplete)``: complete backups grouped by chain (oldest chain first), and the
    backups without a usable record."""
    by_chain = {}
    incomplete = []
    for backup in backups:
        if backup.complete:
            by_chain.setdefault(backup.chain, []).append(backup)
        else:
            incomplete.append(backup)
    chains = [Chain(vm, cid, items) for cid, items in by_chain.items()]
    chains.sort(key=lambda c: id_key(c.id))
    return chains, sorted(incomplete, key=lambda b: (id_key(b.chain), id_key(b.id)))
