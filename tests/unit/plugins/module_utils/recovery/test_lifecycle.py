# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The recovery event source's decisions (recovery.lifecycle): which lifecycle events are worth a
pass, close reasons in words, a host lost once until back, and the source's arguments."""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.recovery import lifecycle


@pytest.mark.parametrize("event, detail, expected", [
    (5, 2, ("vm_stopped", "crashed")), (5, 5, ("vm_stopped", "failed")), (8, 0, ("vm_crashed", "panicked")),
    (5, 0, None), (5, 1, None), (5, 3, None), (5, 4, None), (5, 6, None),   # shutdown, destroyed, migrated, saved, snapshot
    (2, 0, ("vm_started", "booted")), (2, 1, ("vm_started", "migrated")), (2, 4, ("vm_started", "wakeup")),
    (2, 99, ("vm_started", "started")), (0, 0, None), (3, 0, None),          # defined, suspended
])
def test_lifecycle_events_worth_a_pass(event, detail, expected):
    assert lifecycle.lifecycle_event(event, detail) == expected


def test_the_numbers_are_libvirts():
    libvirt = pytest.importorskip("libvirt")
    assert (lifecycle.EVENT_STARTED, lifecycle.EVENT_STOPPED, lifecycle.EVENT_CRASHED) == (
        libvirt.VIR_DOMAIN_EVENT_STARTED, libvirt.VIR_DOMAIN_EVENT_STOPPED, libvirt.VIR_DOMAIN_EVENT_CRASHED)
    assert lifecycle.STOPPED_DETAIL == {libvirt.VIR_DOMAIN_EVENT_STOPPED_CRASHED: "crashed",
                                        libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED: "failed"}
    assert lifecycle.close_reason(libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE) == "keepalive"
    assert lifecycle.close_reason(libvirt.VIR_CONNECT_CLOSE_REASON_EOF) == "eof"
    assert lifecycle.close_reason(42) == "error"


def test_a_host_is_lost_once_until_it_is_back():
    host = lifecycle.Reachability()
    assert host.back() is False                 # never lost: nothing to report
    assert host.lost(7.0) == 7.0 and host.lost(9.0) is None and host.lost_since == 7.0
    assert host.back() is True and host.lost_since is None and host.back() is False
    assert host.lost(12.0) == 12.0


@pytest.mark.parametrize("reason, expected", [
    ("keepalive", 100.0 - 2 * 3),     # silent for interval x count before libvirt closed it
    ("no answer", 100.0 - 5.0),       # the connect was asked connect_timeout ago
    ("eof", 100.0), ("error", 100.0), ("connect: Connection refused", 100.0), ("watch: x", 100.0),
])
def test_a_lost_host_is_silent_since_its_last_answer(reason, expected):
    assert lifecycle.silent_since(100.0, reason, 2, 3, 5.0) == expected


def test_defaults():
    assert lifecycle.arguments({"hosts": {"hv1": "qemu:///system"}}) == {
        "hosts": {"hv1": "qemu:///system"}, "keepalive_interval": 1, "keepalive_count": 3, "connect_timeout": 5.0,
        "reconnect_interval": 2.0, "sweep_interval": 30.0, "vm_event_memory": 3600.0}


@pytest.mark.parametrize("args, message", [
    ({}, "hosts must be a dict"), ({"hosts": {"a": "b"}, "keepalive_count": 0}, "keepalive_count must be a number of at least 1"),
    ({"hosts": {"a": "b"}, "sweep_interval": "x"}, "sweep_interval must be a number"),
    ({"hosts": {"a": "b"}, "vm_event_memory": float("nan")}, "vm_event_memory must be a number of at least 0"),
    ({"hosts": {"a": "b"}, "vm_event_memory": -1}, "vm_event_memory must be a number of at least 0"),
])
def test_bad_arguments(args, message):
    with pytest.raises(ValueError, match="hotiron.virt.libvirt_events: " + message):
        lifecycle.arguments(args)


@pytest.mark.parametrize("event, detail, expected", [
    (2, 0, ("started", "booted")), (2, 1, ("started", "migrated")), (5, 0, ("stopped", "shutdown")),
    (5, 1, ("stopped", "destroyed")), (5, 2, ("stopped", "crashed")), (5, 3, ("stopped", "migrated")),
    (8, 0, None), (3, 0, None),
])
def test_every_start_and_stop_is_remembered(event, detail, expected):
    assert lifecycle.remembered_event(event, detail) == expected


def test_vm_events_keep_the_latest_of_each_vm_on_each_host_for_their_memory():
    seen = lifecycle.VmEvents(60)
    seen.add("db1", "hv1", "started", "booted", 10.0)
    seen.add("db1", "hv1", "stopped", "shutdown", 20.0, "u-1")
    seen.add("db1", "hv2", "started", "migrated", 30.0)
    assert [(e["host"], e["event"], e["time"]) for e in seen.recent(40.0)] == [("hv1", "stopped", 20.0), ("hv2", "started", 30.0)]
    assert [e["host"] for e in seen.recent(85.0)] == ["hv2"]      # older than 60 s: dropped
