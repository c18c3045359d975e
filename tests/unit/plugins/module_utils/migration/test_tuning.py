# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Migration tuning policy, driven by a fake clock and made-up job statistics."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakes import Clock  # tests/unit/fakes.py

from ansible_collections.hotiron.virt.plugins.module_utils.migration.tuning import (
    ABORT,
    GIB,
    SET_DOWNTIME,
    START_POSTCOPY,
    SWITCH_WAIT_S,
    JobStats,
    MigrationPolicy,
    Tuning,
    TuningError,
    downtime_for,
    downtime_steps,
)


def run(policy, clock, seconds, remaining, **stats):
    """Advance the clock to ``seconds`` after start and take one policy step, applying actions."""
    clock.now = policy.started + seconds
    actions = policy.step(JobStats(data_remaining=remaining, **stats))
    for kind, value, _reason in actions:
        policy.applied(kind, value)
    return [(k, v) for k, v, _reason in actions]


def test_nova_schedule_for_one_gib():
    # Nova's docstring example: downtime 400, steps 10, delay 30, 1 GiB... scaled: base 40, +36 each
    assert downtime_steps(400, 10, 30, GIB) == [
        (0, 40), (30, 76), (60, 112), (90, 148), (120, 184), (150, 220),
        (180, 256), (210, 292), (240, 328), (270, 364), (300, 400),
    ]


def test_schedule_scales_with_memory_but_not_below_one_gib():
    assert downtime_steps(500, 5, 10, 4 * GIB)[1][0] == 40
    assert downtime_steps(500, 5, 10, 64 * 1024 * 1024)[1][0] == 10


@pytest.mark.parametrize("elapsed, expected", [(0, 40), (29.9, 40), (30, 76), (299, 364), (300, 400), (9999, 400)])
def test_downtime_for(elapsed, expected):
    assert downtime_for(elapsed, downtime_steps(400, 10, 30, GIB)) == expected


@given(st.integers(1, 100000), st.integers(1, 50), st.floats(0, 1000), st.integers(0, 64 * GIB),
       st.lists(st.floats(0, 1e6), min_size=2, max_size=20))
def test_downtime_never_exceeds_max_and_never_goes_down(max_ms, steps, delay, mem, times):
    schedule = downtime_steps(max_ms, steps, delay, mem)
    assert schedule[-1][1] == max_ms
    values = [downtime_for(t, schedule) for t in sorted(times)]
    assert all(0 < v <= max_ms for v in values)
    assert values == sorted(values)


def test_downtime_is_set_once_per_step():
    clock = Clock(1000.0)
    policy = MigrationPolicy(Tuning(max_downtime_ms=300, downtime_steps=3, downtime_delay_s_per_gib=10), GIB, clock)
    assert run(policy, clock, 0, 100) == [(SET_DOWNTIME, 100)]
    assert run(policy, clock, 5, 90) == []
    assert run(policy, clock, 10, 80) == [(SET_DOWNTIME, 167)]
    assert run(policy, clock, 31, 70) == [(SET_DOWNTIME, 300)]
    assert run(policy, clock, 100, 60) == []


def test_completion_timeout_aborts():
    clock = Clock(1000.0)
    policy = MigrationPolicy(Tuning(completion_timeout_s=20), GIB, clock)
    run(policy, clock, 0, 100)
    assert run(policy, clock, 19.9, 100) == []
    assert run(policy, clock, 20, 100) == [(ABORT, None)]
    assert policy.events[-1]["reason"] == "not finished within the completion timeout of 20s"
    # nothing more once aborted
    assert run(policy, clock, 25, 100) == []


def test_completion_timeout_switches_to_postcopy_when_asked():
    clock = Clock(1000.0)
    policy = MigrationPolicy(Tuning(completion_timeout_s=20, postcopy=True, timeout_action="postcopy",
                                    postcopy_on_stall=False), GIB, clock)
    run(policy, clock, 0, 100)
    assert run(policy, clock, 21, 100) == [(START_POSTCOPY, None)]
    assert run(policy, clock, 40, 100) == []  # never abort a post-copy migration


def test_a_switch_that_never_begins_is_aborted_past_the_timeout():
    """libvirt accepted the switch, and the job still runs pre-copy (seen once: QEMU 7.2 with
    xbzrle on a busy machine, the guest paused on the destination for half an hour)."""
    clock = Clock(1000.0)
    policy = MigrationPolicy(Tuning(completion_timeout_s=20, postcopy=True, timeout_action="postcopy",
                                    postcopy_on_stall=False), GIB, clock)
    assert run(policy, clock, 21, 100) == [(START_POSTCOPY, None)]
    assert run(policy, clock, 21 + SWITCH_WAIT_S - 0.1, 100) == []
    assert run(policy, clock, 21 + SWITCH_WAIT_S, 100) == [(ABORT, None)]
    assert policy.events[-1]["reason"] == "post-copy was asked for after 21s and had not started 30s later"
    assert run(policy, clock, 200, 100) == []


def test_a_switch_without_a_completion_timeout_is_waited_for():
    clock = Clock(1000.0)
    policy = MigrationPolicy(Tuning(postcopy=True, postcopy_after_s=5, postcopy_on_stall=False), GIB, clock)
    assert run(policy, clock, 5, 100) == [(START_POSTCOPY, None)]
    assert run(policy, clock, 5000, 100) == []   # the operator set no limit


def test_a_switch_that_began_is_never_aborted():
    clock = Clock(1000.0)
    policy = MigrationPolicy(Tuning(completion_timeout_s=20, postcopy=True, postcopy_after_s=5,
                                    postcopy_on_stall=False), GIB, clock)
    assert run(policy, clock, 5, 100) == [(START_POSTCOPY, None)]
    assert run(policy, clock, 6, 100, postcopy=True) == []
    assert run(policy, clock, 500, 100) == []
    clock.now += 500
    assert policy.step_unread() == []


def test_unread_polls_still_meet_the_completion_timeout():
    """libvirt did not answer for the statistics (its job lock held by a slow monitor call): the
    completion timeout applies all the same, and nothing else is decided without figures."""
    clock = Clock(1000.0)
    policy = MigrationPolicy(Tuning(completion_timeout_s=20, max_downtime_ms=300), GIB, clock)
    clock.now += 19.9
    assert policy.step_unread() == []
    clock.now += 0.1
    assert [kind for kind, _v, _r in policy.step_unread()] == [ABORT]
    policy.applied(ABORT, None)
    assert policy.step_unread() == []


def test_unread_polls_switch_when_the_timeout_asks_for_post_copy():
    clock = Clock(1000.0)
    policy = MigrationPolicy(Tuning(completion_timeout_s=20, postcopy=True, timeout_action="postcopy"), GIB, clock)
    clock.now += 20
    actions = policy.step_unread()
    assert [kind for kind, _v, _r in actions] == [START_POSTCOPY]
    policy.applied(START_POSTCOPY, None)
    clock.now += SWITCH_WAIT_S
    assert [kind for kind, _v, _r in policy.step_unread()] == [ABORT]


def test_unread_polls_without_a_timeout_decide_nothing():
    clock = Clock(1000.0)
    policy = MigrationPolicy(Tuning(), GIB, clock)
    clock.now += 10000
    assert policy.step_unread() == []


def test_postcopy_after_time():
    clock = Clock(1000.0)
    policy = MigrationPolicy(Tuning(postcopy=True, postcopy_after_s=5, postcopy_on_stall=False), GIB, clock)
    run(policy, clock, 0, 100)
    assert run(policy, clock, 4, 50) == []
    assert run(policy, clock, 5, 40) == [(START_POSTCOPY, None)]


def test_stall_switches_to_postcopy():
    clock = Clock(1000.0)
    policy = MigrationPolicy(Tuning(postcopy=True, stall_timeout_s=10), GIB, clock)
    run(policy, clock, 0, 100)
    assert run(policy, clock, 5, 50) == []      # new minimum at 5 s
    assert run(policy, clock, 14, 60) == []     # worse, but only 9 s since the minimum
    assert run(policy, clock, 15, 55) == [(START_POSTCOPY, None)]


def test_progress_resets_stall_timer():
    clock = Clock(1000.0)
    policy = MigrationPolicy(Tuning(abort_on_stall=True, stall_timeout_s=10), GIB, clock)
    for second, remaining in [(0, 100), (8, 90), (16, 80), (24, 70)]:
        assert ABORT not in [k for k, _v in run(policy, clock, second, remaining)]
    assert run(policy, clock, 34, 75) == [(ABORT, None)]


def test_stall_without_postcopy_or_abort_only_steps_downtime():
    clock = Clock(1000.0)
    policy = MigrationPolicy(Tuning(stall_timeout_s=1), GIB, clock)
    run(policy, clock, 0, 100)
    assert [k for k, _v in run(policy, clock, 500, 100)] == [SET_DOWNTIME]


def test_postcopy_phase_reported_by_libvirt_stops_decisions():
    clock = Clock(1000.0)
    policy = MigrationPolicy(Tuning(completion_timeout_s=1), GIB, clock)
    clock.now += 5
    assert policy.step(JobStats(postcopy=True)) == []
    assert policy.step(JobStats()) == []


def test_finished_job_needs_nothing():
    clock = Clock(1000.0)
    policy = MigrationPolicy(Tuning(completion_timeout_s=1), GIB, clock)
    clock.now += 5
    assert policy.step(JobStats(active=False)) == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(timeout_action="pause"), "timeout_action must be one of abort, postcopy"),
        (dict(timeout_action="postcopy"), "timeout_action=postcopy needs postcopy=true"),
        (dict(postcopy_after_s=3), "postcopy_after needs postcopy=true"),
        (dict(bandwidth_mib_s=-1), "bandwidth_mib_s must not be negative"),
        (dict(downtime_steps=0), "downtime_steps must be at least 1"),
        (dict(max_downtime_ms=0), "max_downtime_ms must be at least 1 ms"),
        (dict(compression=True, parallel_connections=4), "cannot be used together"),
    ],
)
def test_bad_tuning(kwargs, match):
    with pytest.raises(TuningError, match=match):
        Tuning(**kwargs).validate()


def test_job_stats_from_libvirt_dict():
    stats = JobStats.from_libvirt({"type": 2, "time_elapsed": 1500, "data_remaining": 7, "memory_iteration": 3,
                                   "downtime": 12, "data_processed": 99})
    assert stats == JobStats(time_elapsed_ms=1500, data_remaining=7, memory_iteration=3, downtime_ms=12,
                             data_processed=99, active=True)
    assert not JobStats.from_libvirt({"type": 0}).active


@settings(max_examples=300, deadline=None)
@given(
    tuning=st.builds(
        Tuning,
        max_downtime_ms=st.integers(1, 5000),
        downtime_steps=st.integers(1, 20),
        downtime_delay_s_per_gib=st.floats(0, 100),
        postcopy=st.booleans(),
        postcopy_on_stall=st.booleans(),
        stall_timeout_s=st.floats(0, 50),
        abort_on_stall=st.booleans(),
        completion_timeout_s=st.floats(0, 200),
    ),
    trace=st.lists(st.tuples(st.floats(0, 10), st.integers(0, 10**9), st.booleans(), st.booleans()), max_size=60),
)
def test_policy_properties(tuning, trace):
    """Whatever happens (polls read or unread, the switch to post-copy beginning or not):
    downtime within max and never after a terminal action; an abort at most once and nothing
    after it; never an abort once libvirt reported post-copy running; no post-copy unless
    allowed; an abort after a switch only past the completion timeout, SWITCH_WAIT_S after it."""
    clock = Clock(1000.0)
    policy = MigrationPolicy(tuning, GIB, clock)
    terminal = []
    running_postcopy = asked_at = None
    for delta, remaining, unread, switched in trace:
        clock.now += delta
        shows_postcopy = switched and START_POSTCOPY in terminal
        if unread:
            actions = policy.step_unread()
        else:
            actions = policy.step(JobStats(data_remaining=remaining, postcopy=shows_postcopy))
            if shows_postcopy and running_postcopy is None:
                running_postcopy = clock.now
        for kind, value, reason in actions:
            assert reason
            assert ABORT not in terminal
            if kind == SET_DOWNTIME:
                assert not terminal
                assert 0 < value <= tuning.max_downtime_ms
            else:
                terminal.append(kind)
            if kind == START_POSTCOPY:
                asked_at = clock.now
            if kind == ABORT and asked_at is not None:
                assert running_postcopy is None
                assert tuning.completion_timeout_s and clock.now - policy.started >= tuning.completion_timeout_s
                assert clock.now - asked_at >= SWITCH_WAIT_S
            policy.applied(kind, value)
    assert terminal in ([], [ABORT], [START_POSTCOPY], [START_POSTCOPY, ABORT])
    if not tuning.postcopy:
        assert START_POSTCOPY not in terminal
    if terminal == [ABORT]:
        assert tuning.completion_timeout_s or tuning.abort_on_stall
