# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capacity event source's decisions (capacity.watch): when a host counts as hot for the
window, once per cooldown, with the history handed on; the hosts a Prometheus alert fires for;
and the source's arguments."""

from __future__ import annotations

import pytest

from fakes import Clock  # tests/unit/fakes.py

from ansible_collections.hotiron.virt.plugins.module_utils.capacity import watch

ARGS = watch.arguments({"hosts": {"hv1": "a", "hv2": "b"}, "interval": 10, "cpu_high": 0.8, "window": 60,
                        "cooldown": 100, "max_imbalance": 0.3})


def test_a_host_is_hot_only_after_the_whole_window_then_once_per_cooldown():
    clock = Clock(1000.0)
    decide = watch.Watch(ARGS, clock)
    events = []
    for _step in range(20):
        clock.sleep(10)
        events.append([e["hotiron"]["type"] + ":" + e["hotiron"].get("host", "") for e in decide.add({"hv1": 0.9, "hv2": 0.1})])
    hot = [i for i, e in enumerate(events) if "host_hot:hv1" in e]
    assert hot[0] >= 6                      # 60 s of samples above 0.8, each the mean of the 10 s before it
    assert all(b - a >= 10 for a, b in zip(hot, hot[1:]))   # no more often than the 100 s cooldown
    assert not [e for e in events if "host_hot:hv2" in e]
    assert [i for i, e in enumerate(events) if "imbalance_high:" in e][0] >= 6


def test_the_event_carries_the_history_and_a_dip_restarts_the_count():
    clock = Clock(0.0)
    decide = watch.Watch(ARGS, clock)
    for value in (0.9, 0.9, 0.9, 0.5, 0.9, 0.9, 0.9, 0.9, 0.9):
        clock.sleep(10)
        out = decide.add({"hv1": value, "hv2": None})
    assert out == []                        # 50 s above since the dip: not the whole minute yet
    clock.sleep(10)
    (event,) = [e["hotiron"] for e in decide.add({"hv1": 0.9, "hv2": None}) if e["hotiron"]["type"] == "host_hot"]
    assert event["since"] == 40.0 and len(event["history"]["hv1"]) == 10 and event["history"]["hv2"] == []


@pytest.mark.parametrize("args, message", [
    ({}, "hosts must be a dict"), ({"hosts": {"a": "b"}, "cpu_high": 2}, "cpu_high must be a number from 0.01 to 1"),
    ({"hosts": {"a": "b"}, "interval": "often"}, "interval must be a number"),
])
def test_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        watch.arguments(args)


def test_the_alert_names_the_hosts_it_fires_for():
    answer = {"status": "success", "data": {"alerts": [
        {"labels": {"alertname": "HotironHostCpuHigh", "host": "hv2"}, "state": "firing"},
        {"labels": {"alertname": "HotironHostCpuHigh", "host": "hv1"}, "state": "pending"},
        {"labels": {"alertname": "Other", "host": "hv3"}, "state": "firing"},
        {"labels": {"alertname": "HotironHostCpuHigh"}, "state": "firing"},
        {"labels": {"alertname": "HotironHostCpuHigh", "host": "hv0"}, "state": "firing"}]}}
    assert watch.firing_hosts(answer) == ["hv0", "hv2"]
    assert watch.firing_hosts({"status": "success"}) == [] and watch.firing_hosts([]) == []


def test_a_firing_host_is_reported_once_per_cooldown():
    clock = Clock(0.0)
    alerts = watch.AlertWatch(ARGS, clock)
    seen = []
    for _step in range(30):
        clock.sleep(10)
        seen += [(e["hotiron"]["host"], e["hotiron"]["time"]) for e in alerts.add(["hv1"])]
    assert seen == [("hv1", 10.0), ("hv1", 110.0), ("hv1", 210.0)]
    assert alerts.add(["hv2"])[0]["hotiron"] == {"type": "host_hot", "host": "hv2", "source": "prometheus", "time": 300.0}


def test_the_schedule_tick():
    assert watch.schedule_event(lambda: 5.0) == {"hotiron": {"type": "schedule", "time": 5.0}}


def test_defaults_and_numbers():
    args = watch.arguments({"hosts": {"hv1": "qemu:///system"}, "interval": 2})
    assert args["interval"] == 2.0 and isinstance(args["interval"], float) and args["cooldown"] == 300.0
    assert args["prometheus_url"] is None and args["schedule_interval"] == 0.0
    with pytest.raises(ValueError, match="max_imbalance must be a number"):
        watch.arguments({"hosts": {"hv1": "x"}, "max_imbalance": True})
