# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""recovery.events: the VM starts and stops the event source saw, laid over the records of earlier
passes (apply_vm_events), and what recovery.plan decides from them.  Pure."""

from __future__ import annotations

from dataclasses import replace

from recovery_examples import NOW, actions, down, up, vm  # tests/unit/recovery_examples.py

from ansible_collections.hotiron.virt.plugins.module_utils.recovery import events as rev
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import plan as rp


def started(name, host, at, reason="booted", uuid=""):
    return rev.VmEvent(name, host, "started", at, reason, uuid)


def stopped(name, host, at, reason="destroyed", uuid=""):
    return rev.VmEvent(name, host, "stopped", at, reason, uuid)


def shut_by_operator(seen=NOW - 100):
    """db1 as the last pass read hv1: shut down on purpose."""
    return {"db1": replace(vm("db1", "hv1", state="shutoff", reason="destroyed"), seen=seen)}


def failover_of_hv1(remembered, events):
    records, applied = rev.apply_vm_events(remembered, events)
    decided = rp.decide([down("hv1", since=NOW - 30), up("hv2")], records, 10, NOW, fenced_ok=["hv1"])
    return actions(decided.of("failover", "was_stopped", "local_storage")), records, applied


def test_a_vm_started_by_anyone_then_its_host_dying_is_failed_over():
    """An operator starts db1 (recorded as shut down) with virsh; hv1's libvirtd dies before any
    pass reads it: the start the event source saw makes db1 one to recover."""
    decided, records, applied = failover_of_hv1(shut_by_operator(), [started("db1", "hv1", NOW - 50)])
    assert decided == [("failover", "db1")]
    assert (records["db1"].state, records["db1"].seen, records["db1"].seen_by) == ("running", NOW - 50, "event")
    assert [e.vm for e in applied] == ["db1"]
    assert failover_of_hv1(shut_by_operator(), [])[0] == [("was_stopped", "db1")]   # without it: left down


def test_a_vm_started_then_stopped_on_purpose_then_its_host_dying_stays_down():
    events = [stopped("db1", "hv1", NOW - 40, "shutdown"), started("db1", "hv1", NOW - 50)]   # any order given
    decided, records, _applied = failover_of_hv1(shut_by_operator(), events)
    assert decided == [("was_stopped", "db1")]
    (was,) = rp.plan_failover(["hv1"], [up("hv2")], records, now=NOW)
    assert "stopped on hv1 (shutoff, shutdown) at" in was.reason and "as the event source saw" in was.reason
    # A crash after the start is no stop on purpose: within its restart limit, it is recovered.
    assert failover_of_hv1(shut_by_operator(), [started("db1", "hv1", NOW - 50),
                                                stopped("db1", "hv1", NOW - 40, "crashed")])[0] == [("failover", "db1")]


def test_a_start_on_another_host_is_no_reason_to_recover_it_from_this_one():
    """db1 started on hv3 (migrated there, or an operator started a copy there): hv1 failing does
    not start it again; a stop seen on a host the record does not place it changes nothing."""
    decided, records, _applied = failover_of_hv1(shut_by_operator(), [started("db1", "hv3", NOW - 50, "migrated")])
    assert decided == [] and records["db1"].host == "hv3"
    running = {"db1": replace(vm("db1", "hv1"), seen=NOW - 100)}
    assert failover_of_hv1(running, [stopped("db1", "hv2", NOW - 50)])[0] == [("failover", "db1")]
    # A migration, its two events in either order: it runs where it went.
    for events in ([stopped("db1", "hv1", NOW - 50, "migrated"), started("db1", "hv3", NOW - 50, "migrated")],
                   [started("db1", "hv3", NOW - 51, "migrated"), stopped("db1", "hv1", NOW - 50, "migrated")]):
        records = rev.apply_vm_events(running, events)[0]
        assert (records["db1"].host, records["db1"].state) == ("hv3", "running")


def test_an_event_no_newer_than_the_record_changes_nothing():
    """What the pass read after an event already shows its effect (it was read at seen)."""
    for at in (NOW - 200, NOW - 100):
        decided, records, applied = failover_of_hv1(shut_by_operator(seen=NOW - 100), [started("db1", "hv1", at)])
        assert decided == [("was_stopped", "db1")] and applied == [] and records["db1"].seen_by == "pass"
    # A record of an older state file (no seen) is older than any event.
    assert failover_of_hv1(shut_by_operator(seen=None), [started("db1", "hv1", 1.0)])[0] == [("failover", "db1")]


def test_events_of_vms_no_pass_has_seen_or_of_another_vm_of_the_name_change_nothing():
    remembered = {"db1": replace(shut_by_operator()["db1"], uuid="u-1")}
    records, applied = rev.apply_vm_events(remembered, [started("new", "hv1", NOW - 50),
                                                        started("db1", "hv1", NOW - 50, uuid="u-2")])
    assert records == remembered and applied == []
    assert rev.apply_vm_events(remembered, [started("db1", "hv1", NOW - 50, uuid="u-1")])[0]["db1"].state == "running"


def test_what_a_pass_starts_is_seen_when_it_acted_so_a_later_stop_wins():
    """A pass restarts db1 at NOW; an operator destroys it a second later; then hv1 dies: the stop
    is newer than the pass's record, so db1 stays down."""
    crashed = replace(vm("db1", "hv1", state="shutoff", reason="crashed"), seen=NOW - 1)
    acted = rp.after_acting([up("hv1", [crashed])], {}, started=[("hv1", "db1", (NOW,))], at=NOW)
    kept = rp.remember({}, acted)
    assert (kept["db1"].state, kept["db1"].seen) == ("running", NOW)
    records = rev.apply_vm_events(kept, [started("db1", "hv1", NOW + 0.5), stopped("db1", "hv1", NOW + 1)])[0]
    assert rp.plan_failover(["hv1"], [up("hv2")], records, now=NOW + 20)[0].action == "was_stopped"


def test_a_stop_and_a_start_at_the_same_time_leave_the_vm_running_and_reasons_default():
    """A restart's two events can carry one timestamp: the stop is taken first."""
    running = {"db1": replace(vm("db1", "hv1"), seen=NOW - 100)}
    records, applied = rev.apply_vm_events(running, [rev.VmEvent("db1", "hv1", "started", NOW - 50),
                                                     rev.VmEvent("db1", "hv1", "stopped", NOW - 50)])
    assert (records["db1"].state, records["db1"].reason) == ("running", "booted")
    assert [e.event for e in applied] == ["stopped", "started"]
    records = rev.apply_vm_events(running, [rev.VmEvent("db1", "hv1", "stopped", NOW - 50)])[0]
    assert (records["db1"].state, records["db1"].reason, records["db1"].seen_by) == ("shutoff", "unknown", "event")
    assert running["db1"].state == "running", "apply_vm_events must not change the records it is given"
