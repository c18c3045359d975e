# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which libvirt events are worth a recovery pass, and when a host counts as lost or back.

The decisions of the ``libvirt_events`` event source, pure (no libvirt import: libvirt's event
numbers are written here, as its headers give them):

* :func:`lifecycle_event`: a domain lifecycle event (event, detail) as the source's event type and
  reason, or None for what needs no pass (an operator's shutdown or destroy, a migration, a save);
* :func:`close_reason`: why libvirt closed a connection, in words;
* :class:`Reachability`: a host reported lost once (with the time it was first missed) until it
  is back;
* :func:`remembered_event` and :class:`VmEvents`: every start and stop of a VM, the latest of
  each on each host kept for ``vm_event_memory`` seconds and handed to every pass (``vm_events``
  of hotiron.virt.recover), so that what happened after a pass read a host is not lost with it;
* :func:`arguments`: the source's arguments checked, with their defaults.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils.hosts.group_args import group_arguments

SOURCE = "hotiron.virt.libvirt_events"

# Lifecycle event numbers (libvirt's virDomainEventType) and the details that matter.
EVENT_STARTED, EVENT_STOPPED, EVENT_CRASHED = 2, 5, 8
STOPPED_DETAIL = {2: "crashed", 5: "failed"}   # 0 shutdown, 1 destroyed, 3 migrated, 4 saved, 6 from snapshot
STARTED_DETAIL = {0: "booted", 1: "migrated", 2: "restored", 3: "from_snapshot", 4: "wakeup"}
ALL_STOPPED_DETAIL = {0: "shutdown", 1: "destroyed", 2: "crashed", 3: "migrated", 4: "saved", 5: "failed",
                      6: "from_snapshot"}
CLOSE_REASONS = {0: "error", 1: "eof", 2: "keepalive", 3: "client"}

# name, default, lowest, highest
_NUMBERS = (("keepalive_interval", 1, 1, None), ("keepalive_count", 3, 1, None), ("connect_timeout", 5.0, 0.5, None),
            ("reconnect_interval", 2.0, 0.1, None), ("sweep_interval", 30.0, 0, None),
            ("vm_event_memory", 3600.0, 0, None))


def lifecycle_event(event, detail):
    """``(type, reason)`` of a lifecycle event worth a pass, or None."""
    if event == EVENT_STOPPED and detail in STOPPED_DETAIL:
        return "vm_stopped", STOPPED_DETAIL[detail]
    if event == EVENT_CRASHED:
        return "vm_crashed", "panicked"
    if event == EVENT_STARTED:
        return "vm_started", STARTED_DETAIL.get(detail, "started")
    return None


def remembered_event(event, detail):
    """``("started" | "stopped", reason)`` of every start and stop (an operator's too), else None."""
    if event == EVENT_STARTED:
        return "started", STARTED_DETAIL.get(detail, "started")
    if event == EVENT_STOPPED:
        return "stopped", ALL_STOPPED_DETAIL.get(detail, "stopped")
    return None


class VmEvents:
    """The latest start and stop of each VM on each host, for ``vm_events`` (shared by the watchers)."""

    def __init__(self, memory):
        self.memory = memory
        self.latest = {}    # (vm, host) -> the event

    def add(self, vm, host, event, reason, when, uuid=""):
        self.latest[(vm, host)] = {"vm": vm, "host": host, "event": event, "reason": reason, "time": when, "uuid": uuid}

    def recent(self, now):
        """Those within ``memory`` seconds before ``now``, oldest first; older ones are dropped."""
        for key in [k for k, e in self.latest.items() if now - e["time"] > self.memory]:
            del self.latest[key]
        return sorted(self.latest.values(), key=lambda e: (e["time"], e["host"], e["vm"]))


def close_reason(reason):
    """libvirt's ``VIR_CONNECT_CLOSE_REASON_*`` in words (``error`` for one it does not know)."""
    return CLOSE_REASONS.get(reason, "error")


def silent_since(now, reason, keepalive_interval, keepalive_count, connect_timeout):
    """When a host lost at ``now`` for ``reason`` last answered, at the latest: recover's
    ``unreachable_since``, from which its host_timeout counts.

    libvirt closes a connection for ``keepalive`` once ``keepalive_count`` pings sent every
    ``keepalive_interval`` seconds of silence went unanswered: the host had been silent for at
    least interval x count seconds (about one interval more).  A connect with ``no answer`` was
    asked ``connect_timeout`` seconds ago.  Any other loss (``eof``: the peer closed, a refusal)
    is seen as it happens."""
    if reason == "keepalive":
        return now - keepalive_interval * keepalive_count
    if reason == "no answer":
        return now - connect_timeout
    return now


class Reachability:
    """One host's lost/back state: ``lost`` reports the first miss only, ``back`` ends it."""

    def __init__(self):
        self.lost_since = None

    def lost(self, now):
        """The time the host was first missed when this miss is the first (report it), else None."""
        if self.lost_since is not None:
            return None
        self.lost_since = now
        return now

    def back(self):
        """True when the host was lost (report it back)."""
        was_lost, self.lost_since = self.lost_since is not None, None
        return was_lost


def arguments(args):
    """The source's arguments with their defaults; ValueError saying which one is wrong."""
    return group_arguments(args, SOURCE, _NUMBERS)
