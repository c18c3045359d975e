# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one fan-out (hosts.fanout_ops): every call at once, one deadline, a hung call abandoned
and never doubled.  Hung calls block on an event the test releases at the end; the deadline is
passed with an injected clock, so no test waits for a timeout."""

from __future__ import annotations

import threading

import pytest

from fakes import Jump, Ticks  # tests/unit/fakes.py
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import fanout_ops as fanout


@pytest.fixture
def gate():
    event = threading.Event()
    yield event
    event.set()   # let the abandoned threads end


def test_every_call_answers_with_its_value_or_its_error():
    def boom():
        raise ValueError("odd metadata")

    calls, late = fanout.ask_all({"hv1": lambda: 1, "hv2": boom}, timeout=30)
    assert late == []
    assert calls["hv1"].value == 1 and calls["hv1"].error is None
    assert isinstance(calls["hv2"].error, ValueError) and calls["hv2"].value is None
    assert calls["hv1"].thread.name == "ask-hv1" and calls["hv1"].thread.daemon


def test_a_hung_call_is_late_and_does_not_hold_up_the_others(gate):
    # deadline at 0 + 30; hv1 waited for with time left; by hv2's turn the clock is past it
    calls, late = fanout.ask_all({"hv1": lambda: "ok", "hv2": gate.wait}, timeout=30, clock=Jump(0.0, 0.0, 40.0))
    assert late == ["hv2"] and calls["hv1"].value == "ok" and not calls["hv2"].done.is_set()


def test_wait_all_shares_one_deadline_between_the_events():
    first, second = threading.Event(), threading.Event()
    first.set()
    assert fanout.wait_all({"a": first, "b": second}, timeout=5, clock=Jump(0.0, 1.0, 6.0)) == ["b"]
    assert fanout.wait_all({}, timeout=5) == []


def test_in_flight_waits_again_for_a_hung_call_rather_than_starting_another(gate):
    started = []

    def read():
        started.append(1)
        gate.wait()
        return 0.5

    rounds = fanout.InFlight(prefix="sample", clock=Ticks(10.0))
    assert rounds.round({"hv1": read}, timeout=5) == {"hv1": None}
    assert rounds.round({"hv1": read}, timeout=5) == {"hv1": None}
    assert len(started) == 1                          # the same call, not a second thread
    gate.set()
    rounds.clock = Jump(0.0)                          # time enough now
    (call,) = rounds.round({"hv1": read}, timeout=5).values()
    assert call.value == 0.5 and rounds.pending == {}
    rounds.round({"hv1": read}, timeout=5)
    assert len(started) == 2                          # answered: the next round asks anew
