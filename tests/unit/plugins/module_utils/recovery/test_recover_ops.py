# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""recovery.recover_ops: one pass (Pass) called directly - refusals before anything is read, the
VM events it can use, when a host counts as unreachable since, the end of a pass whose rulebook is
gone, and whole passes over a group of libvirt test-driver hosts with a state file in tmp_path.
The recover module's main() is tested in tests/unit/plugins/modules/test_recover.py."""

from __future__ import annotations

import os

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import observe_ops
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import owner_ops
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import plan as rp
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import recover_ops
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import state_ops as rs

TWO_GUESTS = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "hosts",
                                                      "two-guests.xml"))
DEAD = "qemu+tcp://127.77.250.250:1/system"
NOW = 1_800_000_000.0


def params(tmp_path, **kwargs):
    """The pass's parameters with the recover module's defaults."""
    base = dict(hosts={"hv1": TWO_GUESTS}, fencing=[], confirmed_off=[], host_timeout=10.0, wait=True, unreachable_since={},
                vm_events=[], connect_timeout=1.0, fence_timeout=60.0, fence_retry_interval=60.0, stop_with=None,
                state_file=str(tmp_path / "recover.json"), lock_timeout=5.0, shared_paths=[], cpu_allocation_ratio=4.0,
                reserved_host_memory=256, anti_affinity=[])
    base.update(kwargs)
    return base


def a_pass(tmp_path, check_mode=False, now=NOW, **kwargs):
    return recover_ops.Pass(params(tmp_path, **kwargs), check_mode, clock=lambda: now, sleep=lambda _s: None)


@pytest.mark.parametrize("kwargs, message", [
    (dict(hosts={}), "^hosts: the group has no host"),
    (dict(fencing=[{"host": "hv9", "agent": "manual"}]), r"^fencing\.hv9: no such host in hosts \(hv1\)"),
    (dict(confirmed_off=["hv1", "hv7"]), "^confirmed_off: no such host in hosts: hv7$"),
])
def test_preflight_refuses_what_the_pass_could_not_act_on(tmp_path, kwargs, message):
    with pytest.raises(lc.VirtError, match=message):
        a_pass(tmp_path, **kwargs).preflight()
    assert os.listdir(str(tmp_path)) == [], "nothing written, not even a lock"


def test_a_state_file_of_another_group_is_refused_as_the_pass_s_error(tmp_path):
    a_pass(tmp_path, hosts={"hv1": TWO_GUESTS}).run()
    other = {"hv1": TWO_GUESTS.replace("two-guests", "group-member")}
    with pytest.raises(rs.StateError):
        a_pass(tmp_path, hosts=other).preflight()
    with pytest.raises(lc.VirtError, match="recover.json is the recovery state of another group"):
        a_pass(tmp_path, hosts=other).run()


def test_vm_events_of_other_hosts_or_from_the_future_are_left_out_with_a_warning(tmp_path):
    events = [{"vm": "db1", "host": "hv1", "event": "started", "time": NOW - 10, "reason": None, "uuid": None},
              {"vm": "db1", "host": "hv9", "event": "stopped", "time": NOW - 5},
              {"vm": "web1", "host": "hv1", "event": "stopped", "time": NOW + recover_ops.FUTURE_SLACK + 1, "reason": "crashed"},
              {"vm": "web1", "host": "hv1", "event": "stopped", "time": NOW + recover_ops.FUTURE_SLACK}]
    act = a_pass(tmp_path, vm_events=events)
    kept = act._vm_events()
    assert [(e.vm, e.host, e.event, e.time, e.reason) for e in kept] == [
        ("db1", "hv1", "started", NOW - 10, ""), ("web1", "hv1", "stopped", NOW + 5, "")]
    assert len(act.warnings) == 2
    assert act.warnings[0].startswith("vm_events[1]: hv9 is not a host of this group (hv1)")
    assert act.warnings[1].startswith("vm_events[2]: web1 stopped on hv1 at") and "6s from now: ignored" in act.warnings[1]


@pytest.mark.parametrize("mark, hint, first, expected", [
    ({}, None, NOW, NOW),                                                   # first seen by this pass
    ({"unreachable_since": NOW - 50}, None, NOW, NOW - 50),                 # the state file's
    ({"unreachable_since": NOW - 50}, NOW - 80, NOW, NOW - 80),             # an event's hint, earlier
    ({"unreachable_since": NOW - 50, "last_reachable": NOW - 60}, NOW - 80, NOW, NOW - 50),   # never before last seen up
    ({}, NOW + 30, NOW, NOW),                                               # never in the future
    ({"last_reachable": NOW - 10}, NOW - 80, NOW - 5, NOW - 5),             # this pass's first look counts
])
def test_unreachable_since(tmp_path, mark, hint, first, expected):
    act = a_pass(tmp_path, unreachable_since={"hv2": hint} if hint is not None else {})
    act.first_seen["hv2"] = first
    assert act._since("hv2", mark, NOW) == expected


def test_a_pass_whose_rulebook_is_gone_says_so(tmp_path):
    assert a_pass(tmp_path)._abandoned() is None
    ticks = owner_ops.start_ticks(os.getpid())
    assert a_pass(tmp_path, stop_with={"pid": os.getpid(), "start_ticks": ticks})._abandoned() is None
    why = a_pass(tmp_path, stop_with={"pid": os.getpid(), "start_ticks": ticks + 1})._abandoned()
    assert why == ("the rulebook that started this pass (stop_with: process %d has ended (its pid now belongs to another"
                   " process)) is gone: this pass ended" % os.getpid())
    with pytest.raises(recover_ops.Abandoned, match="is gone: this pass ended before fencing$"):
        a_pass(tmp_path, stop_with={"pid": os.getpid(), "start_ticks": ticks + 1})._check_abandoned("fencing")


def test_a_pass_over_a_healthy_group_remembers_it_and_changes_nothing(tmp_path):
    out = a_pass(tmp_path).run()
    assert not out.get("failed") and not out["changed"]
    assert out["msg"] == "every host up, no HA vm down"
    assert out["hosts"] == {"hv1": {"state": "up", "vms": 2, "in_maintenance": False}}
    state = rs.load(str(tmp_path / "recover.json"))
    assert state["group"] == {"hv1": TWO_GUESTS} and state["hosts"]["hv1"]["last_reachable"] == NOW
    assert sorted(state["vms"]) == ["db1", "web1"]


def test_check_mode_reads_and_decides_but_writes_nothing(tmp_path):
    out = a_pass(tmp_path, check_mode=True, hosts={"hv1": TWO_GUESTS, "hv2": DEAD}, host_timeout=1,
                 unreachable_since={"hv2": NOW - 100}).run()
    assert out["check_mode"] and out["hosts"]["hv2"]["state"] == "unreachable"
    assert out["hosts"]["hv2"]["unreachable_for_s"] == 100.0 and out["hosts"]["hv2"]["fencing"] == "none"
    assert os.listdir(str(tmp_path)) == []


def test_an_unreachable_host_without_fencing_is_waited_for_then_needs_attention(tmp_path):
    clock = [NOW]

    def sleep(seconds):
        clock[0] += max(seconds, 0.5)

    act = recover_ops.Pass(params(tmp_path, hosts={"hv1": TWO_GUESTS, "hv2": DEAD}, host_timeout=1),
                           False, clock=lambda: clock[0], sleep=sleep)
    out = act.run()
    assert clock[0] >= NOW + 1, "waited until hv2 was due"
    assert [d["action"] for d in out["decisions"] if d["host"] == "hv2"] == ["no_fencing"]
    assert out["attention"] and "needing attention" in out["msg"]
    assert rs.load(str(tmp_path / "recover.json"))["hosts"]["hv2"]["unreachable_since"] == NOW


class HungHost:
    """recover_ops.observe with host hv2 hung (a SIGSTOPped libvirtd: a read of it lasts its
    whole timeout, on the pass's clock) until ``answers_from``; the other hosts are the test
    driver's.  Records each read of hv2 (when asked, timeout)."""

    def __init__(self, clock, answers_from=None):
        self.clock, self.answers_from, self.reads = clock, answers_from, []
        self.real = recover_ops.observe

    def __call__(self, hosts, timeout, *args, **kwargs):
        out = self.real({n: u for n, u in hosts.items() if n != "hv2"}, timeout, *args, **kwargs)
        timeout = (kwargs.get("timeouts") or {}).get("hv2", timeout)
        if "hv2" in hosts:
            self.reads.append((self.clock[0], timeout))
            if self.answers_from is not None and self.answers_from < self.clock[0] + timeout:
                self.clock[0] = max(self.clock[0], self.answers_from) + 0.3
                out["hv2"] = self.real({"hv2": TWO_GUESTS}, timeout, *args, **kwargs)["hv2"]
            else:
                self.clock[0] += timeout
                obs = observe_ops.Observation("hv2", DEAD)
                obs.why = "no answer within %gs (libvirtd hung, or the host unreachable)" % timeout
                out["hv2"] = obs
        return out


def hung_pass(tmp_path, monkeypatch, answers_from=None, **kwargs):
    clock = [NOW]
    hung = HungHost(clock, answers_from)
    monkeypatch.setattr(recover_ops, "observe", hung)

    def sleep(seconds):
        clock[0] += seconds

    act = recover_ops.Pass(params(tmp_path, hosts={"hv1": TWO_GUESTS, "hv2": DEAD}, connect_timeout=5.0, **kwargs),
                           True, clock=lambda: clock[0], sleep=sleep)
    act.check_mode = False      # decide only (no fencing agent here), but wait as a real pass does
    return act, clock, hung


def test_a_hung_host_is_decided_at_host_timeout_counted_from_the_last_answer(tmp_path, monkeypatch):
    # The event source lost hv2 by keepalive; its last answer (the hint) was 3 s before this pass.
    act, clock, hung = hung_pass(tmp_path, monkeypatch, host_timeout=10.0, unreachable_since={"hv2": NOW - 3})
    out = act._decide_only(act.preflight())
    decisions = [d["action"] for d in out["decisions"] if d["host"] == "hv2"]
    assert decisions == ["no_fencing"], "due, and declared failed (no fencing configured here)"
    # Decided at host_timeout after the last answer, not a connect timeout (5 s) later: the
    # first read (5 s), one re-read given the 2 s left, and none after the wait.
    assert clock[0] == pytest.approx(NOW - 3 + 10.0)
    assert hung.reads == [(NOW, 5.0), (pytest.approx(NOW + 5.0), pytest.approx(2.0))]


def test_unreachable_time_counts_from_when_the_read_was_asked(tmp_path, monkeypatch):
    act, clock, hung = hung_pass(tmp_path, monkeypatch, host_timeout=8.0)
    out = act._decide_only(act.preflight())
    assert hung.reads[0] == (NOW, 5.0)
    assert out["hosts"]["hv2"]["unreachable_for_s"] == pytest.approx(8.0)
    assert clock[0] == pytest.approx(NOW + 8.0)


def test_a_slow_host_that_answers_before_host_timeout_is_not_declared_failed(tmp_path, monkeypatch):
    # Degraded under load: lost by keepalive 3 s after its last answer, it answers the re-read
    # 2 s before it would have been due.
    act, clock, hung = hung_pass(tmp_path, monkeypatch, answers_from=NOW + 7.0, host_timeout=12.0,
                                 unreachable_since={"hv2": NOW - 3})
    out = act._decide_only(act.preflight())
    assert [d for d in out["decisions"] if d["host"] == "hv2"] == []
    assert out["hosts"]["hv2"]["state"] == "up"
    assert not out["changed"]


def test_the_first_read_of_a_host_lost_earlier_ends_when_it_is_due(tmp_path, monkeypatch):
    # Lost 8 s ago by the event source's account: the pass's first read waits 2 s, not 5.
    act, clock, hung = hung_pass(tmp_path, monkeypatch, host_timeout=10.0, unreachable_since={"hv2": NOW - 8})
    out = act._decide_only(act.preflight())
    assert hung.reads == [(NOW, pytest.approx(2.0))]
    assert clock[0] == pytest.approx(NOW + 2.0)
    assert [d["action"] for d in out["decisions"] if d["host"] == "hv2"] == ["no_fencing"]


@pytest.mark.parametrize("hint, expected", [(None, {}), (NOW - 100, {"hv2": 1.0}), (NOW - 8, {"hv2": 2.0}),
                                            (NOW - 9.8, {"hv2": 1.0}), (NOW, {"hv2": 5.0})])
def test_first_read_timeouts(tmp_path, hint, expected):
    # only the host known to be lost gets less than the connect timeout; one due already, what a re-read gets
    act = a_pass(tmp_path, hosts={"hv1": TWO_GUESTS, "hv2": DEAD}, connect_timeout=5.0,
                 unreachable_since={"hv2": hint} if hint else {})
    assert act._first_read_timeouts(rs.load(str(tmp_path / "none.json"))) == pytest.approx(expected)


def test_the_first_read_of_a_host_due_already_does_not_wait_the_connect_timeout(tmp_path, monkeypatch):
    act, clock, hung = hung_pass(tmp_path, monkeypatch, host_timeout=6.0, unreachable_since={"hv2": NOW - 7})
    out = act._decide_only(act.preflight())
    assert hung.reads == [(NOW, pytest.approx(1.0))]
    assert [d["action"] for d in out["decisions"] if d["host"] == "hv2"] == ["no_fencing"]


class HungHosts:
    """recover_ops.observe with several hung hosts, each answering (as the test driver's default
    host) from its time in ``answers_from`` (None: never); hosts are read at once, so a read
    lasts the longest timeout of the hosts that do not answer.  Records each read's host names."""

    def __init__(self, clock, answers_from):
        self.clock, self.answers_from, self.reads = clock, answers_from, []
        self.real = recover_ops.observe

    def __call__(self, hosts, timeout, *args, **kwargs):
        hung = [n for n in hosts if n in self.answers_from]
        out = self.real({n: u for n, u in hosts.items() if n not in hung}, timeout, *args, **kwargs)
        self.reads.append(sorted(hosts))
        start, spent = self.clock[0], 0.3
        whole = timeout
        for name in hung:
            timeout = (kwargs.get("timeouts") or {}).get(name, whole)
            since = self.answers_from[name]
            if since is not None and since < start + timeout:
                out[name] = self.real({name: "test:///default"}, timeout, *args, **kwargs)[name]
                spent = max(spent, since - start + 0.3)
            else:
                obs = observe_ops.Observation(name, DEAD)
                obs.why = "no answer within %gs" % timeout
                out[name] = obs
                spent = max(spent, timeout)
        self.clock[0] = start + spent
        return out


def test_a_host_due_at_the_first_read_that_answers_during_the_wait_is_read_again_not_fenced(tmp_path, monkeypatch):
    # hv2 was lost 12 s ago (due at once), hv3 has just stopped answering (not yet due); while
    # the pass waits for hv3, hv2 comes back: after the wait it is read again and left alone.
    clock = [NOW]
    hung = HungHosts(clock, {"hv2": NOW + 6.0, "hv3": None})
    monkeypatch.setattr(recover_ops, "observe", hung)

    def sleep(seconds):
        clock[0] += seconds

    act = recover_ops.Pass(params(tmp_path, hosts={"hv1": TWO_GUESTS, "hv2": DEAD, "hv3": DEAD}, connect_timeout=5.0,
                                  host_timeout=10.0, unreachable_since={"hv2": NOW - 12}),
                           True, clock=lambda: clock[0], sleep=sleep)
    act.check_mode = False
    out = act._decide_only(act.preflight())
    assert hung.reads[0] == ["hv1", "hv2", "hv3"] and "hv2" not in hung.reads[1], "the wait reads hv3 only"
    assert "hv2" in hung.reads[-1], "hv2's read from before the wait is stale: read again"
    assert [d for d in out["decisions"] if d["host"] == "hv2"] == []
    assert out["hosts"]["hv2"]["state"] == "up"
    assert [d["action"] for d in out["decisions"] if d["host"] == "hv3"] == ["no_fencing"]


def test_a_host_that_stops_answering_while_read_counts_from_its_answer_not_an_older_hint(tmp_path, monkeypatch):
    # The event source's hint says hv2 fell silent 8 s ago, but this pass's own read had an answer
    # from it (then it stopped answering while its VMs were read): its host_timeout counts from
    # that answer, so it is not due 2 s from now but 10.
    clock = [NOW]
    real = recover_ops.observe
    reads = []

    def observe(hosts, timeout, *args, **kwargs):
        out = real({n: u for n, u in hosts.items() if n != "hv2"}, timeout, *args, **kwargs)
        if "hv2" in hosts:
            obs = observe_ops.Observation("hv2", DEAD)
            if not reads:
                obs.conn = object()     # answered, then stopped answering while its VMs were read
                obs.why = "stopped answering while its vms were read (a new connection: no answer within 5s)"
            else:
                obs.why = "no answer within %gs (libvirtd hung, or the host unreachable)" % timeout
            reads.append(clock[0])
            clock[0] += timeout
            out["hv2"] = obs
        return out

    monkeypatch.setattr(recover_ops, "observe", observe)

    def sleep(seconds):
        clock[0] += seconds

    act = recover_ops.Pass(params(tmp_path, hosts={"hv1": TWO_GUESTS, "hv2": DEAD}, connect_timeout=5.0, host_timeout=10.0,
                                  unreachable_since={"hv2": NOW - 8}), True, clock=lambda: clock[0], sleep=sleep)
    act.check_mode = False
    out = act._decide_only(act.preflight())
    assert [d["action"] for d in out["decisions"] if d["host"] == "hv2"] == ["no_fencing"]
    # the first read (asked with the 2 s left by the hint's account) answered, then went silent at
    # NOW + 2: due at NOW + 12, not NOW + 2
    assert reads[0] == NOW and clock[0] == pytest.approx(NOW + 2.0 + 10.0)


def test_a_host_emptied_for_maintenance_then_silent_is_neither_fenced_nor_waited_for(tmp_path, monkeypatch):
    # A rolling upgrade restarts the libvirtd of a host in maintenance (or reboots it): the
    # recovery rulebook, running meanwhile, must not power it off.
    fencing = [{"host": "hv2", "agent": "fence_ipmilan", "options": {"ip": "127.0.0.1"}}]
    first = a_pass(tmp_path, hosts={"hv1": TWO_GUESTS, "hv2": DEAD}, fencing=fencing)
    records = [rp.HostRecord("hv1", True), rp.HostRecord("hv2", True, in_maintenance=True)]
    state = rs.load(first.p["state_file"])
    first._remember(state, records, {}, {}, NOW - 1)
    assert state["hosts"]["hv2"]["in_maintenance"] is True and state["hosts"]["hv1"]["in_maintenance"] is False
    rs.save(first.p["state_file"], state)

    act, clock, _hung = hung_pass(tmp_path, monkeypatch, host_timeout=10.0, fencing=fencing)
    out = act._decide_only(act.preflight())
    (decision,) = [d for d in out["decisions"] if d["host"] == "hv2"]
    assert decision["action"] == "no_fencing" and "in maintenance when last seen: not fenced" in decision["reason"]
    assert clock[0] == pytest.approx(NOW + 5.0), "one read, no wait until host_timeout"
    # the same host, last seen out of maintenance, is fenced at host_timeout
    state["hosts"]["hv2"]["in_maintenance"] = False
    rs.save(act.p["state_file"], state)
    act, clock, _hung = hung_pass(tmp_path, monkeypatch, host_timeout=10.0, fencing=fencing)
    out = act._decide_only(act.preflight())
    assert [d["action"] for d in out["decisions"] if d["host"] == "hv2"] == ["fence"]
