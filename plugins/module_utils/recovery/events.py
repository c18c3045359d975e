# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What happened since a host was last read: the VM starts and stops the event source saw
(libvirt's lifecycle events), brought into the records of earlier passes before a pass decides
anything.  Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class VmEvent:
    """A VM start or stop the event source saw on a host (libvirt's lifecycle event), at ``time``
    (seconds since the epoch): ``event`` is ``started`` or ``stopped``, ``reason`` libvirt's detail
    (``booted``, ``migrated``, ``restored``; ``shutdown``, ``destroyed``, ``crashed``, ``failed``,
    ``migrated``, ``saved``), ``uuid`` the domain's when known."""

    vm: str
    host: str
    event: str
    time: float
    reason: str = ""
    uuid: str = ""


def apply_vm_events(remembered, events):
    """The records of earlier passes brought up to date by the starts and stops seen since (pure);
    ``(records, applied events)``.

    A record is as fresh as the pass that read its host; a VM started or stopped after that read
    (by an operator, by anything) is known only from its event, and a host that fails before the
    next pass reads it takes that knowledge with it.  So, in time order, every event newer than
    the record as read (``seen``) wins: a start on a host records the VM running there (and so recovered
    should that host fail), a stop on the host the record places it records it stopped with the
    event's reason (a VM shut down on purpose after its start stays down; a crash still counts as
    meant to run, :func:`meant_to_run`).  Ignored: an event no newer than the record (what was read
    after it already shows its effect), a stop on another host than the record's (a copy left
    there: a migration's source, a stale definition), an event of a VM no pass has seen (there is
    no definition to recover it with) or of another VM of the same name (``uuid`` differs).
    The records of hosts a pass reads are replaced by that reading anyway (:func:`remember`).
    """
    out = dict(remembered)
    applied = []
    for event in sorted(events, key=lambda e: (e.time, e.event == "started", e.host, e.vm)):
        record, read = out.get(event.vm), remembered.get(event.vm)
        if record is None or (read.seen is not None and event.time <= read.seen):
            continue
        if event.uuid and record.uuid and event.uuid != record.uuid:
            continue
        if event.event == "started":
            out[event.vm] = replace(record, host=event.host, state="running", reason=event.reason or "booted",
                                    seen=event.time, seen_by="event")
        elif event.event == "stopped" and event.host == record.host:
            out[event.vm] = replace(record, state="shutoff", reason=event.reason or "unknown",
                                    seen=event.time, seen_by="event")
        else:
            continue
        applied.append(event)
    return out, applied
