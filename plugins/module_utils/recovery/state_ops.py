# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What recovery remembers between passes: one JSON file per resource group, and its lock.

The file (``state_file`` of hotiron.virt.recover) holds, per host, since when it is unreachable
and whether it was fenced; per HA VM, where it last ran with its definition (so that its host's
failure does not take the definition with it); and which VMs were recovered where.  Put it where
every controller that runs recover reads the same file (a shared directory when playbooks run from
several machines).

Passes are serialised by an exclusive ``flock`` on ``<state_file>.lock``: two recoveries of one
group (a rulebook's event and its timer, say) never decide at the same time.  Writes go to a
temporary file, synced and renamed into place (:func:`files.write_atomic`), so a crash mid-write
leaves the previous state.  Check mode reads the file without the lock and writes nothing.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import time

from ansible_collections.hotiron.virt.plugins.module_utils import files
from ansible_collections.hotiron.virt.plugins.module_utils.recovery.plan import VmRecord
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.cpu_compat import CpuNeed

VERSION = 1


class StateError(Exception):
    """The state file cannot be read, written or locked."""


def empty():
    return {"version": VERSION, "group": {}, "hosts": {}, "vms": {}, "definitions": {}}


def check_group(path, state, hosts):
    """Refuse a state file kept for another group: one that shares no host URI with ``hosts``
    (name -> URI), as two groups of the same name (two sites, two labs) would, whose passes
    would otherwise take each other's hosts for failed ones.  A group that gains or loses hosts
    keeps its file (the recorded group is replaced when the pass saves)."""
    recorded = state.get("group") or {}
    if recorded and not set(recorded.values()) & set(hosts.values()):
        raise StateError(
            "%s is the recovery state of another group (hosts %s), which shares no host with this one (%s): give"
            " each group a state file of its own (state_file, recover_state_file), or remove this file if that"
            " group no longer exists" % (path, ", ".join("%s=%s" % kv for kv in sorted(recorded.items())),
                                         ", ".join("%s=%s" % kv for kv in sorted(hosts.items()))))


def load(path):
    """The state in ``path`` (an empty state when the file does not exist yet)."""
    try:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
    except FileNotFoundError:
        return empty()
    except (OSError, ValueError) as err:
        raise StateError("cannot read the recovery state %s: %s" % (path, err)) from err
    if not isinstance(state, dict) or state.get("version") != VERSION:
        raise StateError("%s is not a recovery state of this collection (version %s)" % (path, VERSION))
    for key, value in empty().items():
        state.setdefault(key, value)
    return state


def save(path, state):
    try:
        # mode 0600: the file holds VM definitions, not for every local user
        files.write_atomic(path, json.dumps(state, indent=1, sort_keys=True), mode=0o600)
    except OSError as err:
        raise StateError("cannot write the recovery state %s: %s" % (path, err)) from err


class Lock:
    """``with Lock(path, timeout):`` one recovery pass of the group at a time."""

    def __init__(self, path, timeout, clock=time.monotonic, sleep=time.sleep, give_up=None):
        self.path = path + ".lock"
        self.timeout = timeout
        self.give_up = give_up or (lambda: None)   # a reason to stop waiting, or None
        self.clock = clock
        self.sleep = sleep
        self.handle = None

    def __enter__(self):
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), mode=0o700, exist_ok=True)
            self.handle = open(self.path, "a", encoding="utf-8")  # pylint: disable=consider-using-with
        except OSError as err:
            raise StateError("cannot open the lock %s: %s" % (self.path, err)) from err
        deadline = self.clock() + self.timeout
        while True:
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    self.handle.close()
                    raise StateError("cannot lock %s: %s" % (self.path, err.strerror)) from err
                if self.clock() >= deadline:
                    self.handle.close()
                    raise StateError("another recovery pass of this group holds %s (waited %gs)"
                                     % (self.path, self.timeout)) from err
                reason = self.give_up()
                if reason:
                    self.handle.close()
                    raise StateError("stopped waiting for %s: %s" % (self.path, reason)) from err
            self.sleep(0.1)

    def __exit__(self, *exc):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()
        return False


# --- records <-> JSON ------------------------------------------------------------------------------

_VM_FIELDS = ("name", "host", "uuid", "state", "reason", "ha", "priority", "memory_mib", "vcpus", "shared", "storage",
              "seen", "seen_by", "machine")


def vm_to_json(vm):
    data = {key: getattr(vm, key) for key in _VM_FIELDS}
    data["restart_limit"] = list(vm.restart_limit)
    data["restarts"] = list(vm.restarts)
    if vm.cpu is not None:
        data["cpu"] = vm.cpu.as_dict()
    return data


def vm_from_json(data):
    fields = {key: data[key] for key in _VM_FIELDS if key in data}
    seen = fields.get("seen")
    if isinstance(seen, bool) or not isinstance(seen, (int, float)) or not math.isfinite(seen):
        fields["seen"] = None   # an older file, or edited by hand: as old as can be
    cpu = data.get("cpu")
    return VmRecord(restart_limit=tuple(data.get("restart_limit") or (3, 600)),
                    restarts=tuple(data.get("restarts") or ()),
                    cpu=CpuNeed.from_dict(cpu) if isinstance(cpu, dict) else None, **fields)


def remembered(state):
    return {name: vm_from_json(data) for name, data in state["vms"].items()}


def set_remembered(state, records, definitions):
    """Store ``records`` (name -> VmRecord); ``definitions`` (name -> XML) replace the stored
    ones for the VMs seen in this pass, the others keep theirs."""
    state["vms"] = {name: vm_to_json(vm) for name, vm in sorted(records.items())}
    kept = {name: xml for name, xml in state["definitions"].items() if name in records}
    kept.update({name: xml for name, xml in definitions.items() if name in records})
    state["definitions"] = kept
