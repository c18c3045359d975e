# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capacity event source's decisions (group_load.Watch): when a host counts as hot for the
window, once per cooldown, with the history handed on; and its arguments."""

from __future__ import annotations

import importlib.util
import os

import pytest

from fakes import Clock  # tests/unit/fakes.py

from ansible_collections.hotiron.virt.plugins.module_utils.capacity import load

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 6))
SPEC = importlib.util.spec_from_file_location(
    "group_load", os.path.join(ROOT, "extensions", "eda", "plugins", "event_source", "group_load.py"))
group_load = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(group_load)

ARGS = group_load._arguments({"hosts": {"hv1": "a", "hv2": "b"}, "interval": 10, "cpu_high": 0.8, "window": 60,
                              "cooldown": 100, "max_imbalance": 0.3})


def test_a_host_is_hot_only_after_the_whole_window_then_once_per_cooldown():
    clock = Clock(1000.0)
    watch = group_load.Watch(ARGS, load, clock)
    events = []
    for _step in range(20):
        clock.sleep(10)
        events.append([e["hotiron"]["type"] + ":" + e["hotiron"].get("host", "") for e in watch.add({"hv1": 0.9, "hv2": 0.1})])
    hot = [i for i, e in enumerate(events) if "host_hot:hv1" in e]
    assert hot[0] >= 6                      # 60 s of samples above 0.8, each the mean of the 10 s before it
    assert all(b - a >= 10 for a, b in zip(hot, hot[1:]))   # no more often than the 100 s cooldown
    assert not [e for e in events if "host_hot:hv2" in e]
    assert [i for i, e in enumerate(events) if "imbalance_high:" in e][0] >= 6


def test_the_event_carries_the_history_and_a_dip_restarts_the_count():
    clock = Clock(0.0)
    watch = group_load.Watch(ARGS, load, clock)
    for value in (0.9, 0.9, 0.9, 0.5, 0.9, 0.9, 0.9, 0.9, 0.9):
        clock.sleep(10)
        out = watch.add({"hv1": value, "hv2": None})
    assert out == []                        # 50 s above since the dip: not the whole minute yet
    clock.sleep(10)
    (event,) = [e["hotiron"] for e in watch.add({"hv1": 0.9, "hv2": None}) if e["hotiron"]["type"] == "host_hot"]
    assert event["since"] == 40.0 and len(event["history"]["hv1"]) == 10 and event["history"]["hv2"] == []


@pytest.mark.parametrize("args, message", [
    ({}, "hosts must be a dict"), ({"hosts": {"a": "b"}, "cpu_high": 2}, "cpu_high must be a number from 0.01 to 1"),
    ({"hosts": {"a": "b"}, "interval": "often"}, "interval must be a number"),
])
def test_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        group_load._arguments(args)
