# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The recovery event source (libvirt_events) as glue: libvirt's events become the source's events
(the decisions are recovery.lifecycle's, tests/unit/plugins/module_utils/recovery/test_lifecycle.py).
Connections, keepalive and real events are the lab's (tests/integration/test_recover.py)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.recovery import lifecycle

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 6))
SPEC = importlib.util.spec_from_file_location(
    "libvirt_events", os.path.join(ROOT, "extensions", "eda", "plugins", "event_source", "libvirt_events.py"))
libvirt_events = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(libvirt_events)


class Dom:
    def __init__(self, name="db1"):
        self._name = name

    def name(self):
        return self._name

    def UUIDString(self):  # noqa: N802 (libvirt's name)
        return "uuid-" + self._name


@pytest.mark.parametrize("event, detail, expected", [
    (5, 2, ("vm_stopped", "crashed")), (5, 5, ("vm_stopped", "failed")), (8, 0, ("vm_crashed", "panicked")),
    (5, 0, None), (5, 1, None), (5, 3, None), (5, 4, None),   # shutdown, destroyed, migrated, saved
    (2, 0, ("vm_started", "booted")), (2, 1, ("vm_started", "migrated")), (2, 2, ("vm_started", "restored")),
])
def test_lifecycle_events_worth_a_pass(event, detail, expected):
    queue = asyncio.Queue()
    watcher = libvirt_events.Watcher("hv1", "test:///default", queue, {}, clock=lambda: 5.0)
    watcher._lifecycle(None, Dom(), event, detail, None)
    got = [queue.get_nowait()["hotiron"] for _index in range(queue.qsize())]
    if expected is None:
        assert got == []
    else:
        for event in got:
            event.pop("vm_events")
        assert got == [{"type": expected[0], "host": "hv1", "vm": "db1", "reason": expected[1], "time": 5.0,
                        "rulebook": libvirt_events.RULEBOOK}]


def test_a_lost_host_is_reported_once_until_it_is_back():
    queue = asyncio.Queue()
    args = lifecycle.arguments({"hosts": {"hv2": "test:///default"}})       # keepalive 1 s x 3
    watcher = libvirt_events.Watcher("hv2", "test:///default", queue, args, clock=lambda: 7.0)
    watcher._lost("keepalive")
    watcher._lost("connect: refused")
    # since: its last answer, 3 s before libvirt's keepalive gave up on it
    assert [queue.get_nowait()["hotiron"] for _index in range(queue.qsize())] == [
        {"type": "host_lost", "host": "hv2", "reason": "keepalive", "since": 4.0, "time": 7.0,
         "rulebook": libvirt_events.RULEBOOK, "vm_events": []}]


def test_every_event_carries_the_latest_start_and_stop_of_each_vm_on_each_host():
    """Issue #19: an operator starts db1 on hv1 (an event the rulebook may group with others into
    one pass, or drop), then hv1's libvirtd dies: the host_lost event still carries the start, and
    a stop on purpose after it, of every VM and host, oldest first; a panic is no start or stop;
    what is older than vm_event_memory is left out."""
    queue, clock = asyncio.Queue(), [100.0]
    seen = lifecycle.VmEvents(60)
    args = lifecycle.arguments({"hosts": {"hv1": "test:///default", "hv2": "test:///default"}})
    hv1 = libvirt_events.Watcher("hv1", "test:///default", queue, args, clock=lambda: clock[0], vm_events=seen)
    hv2 = libvirt_events.Watcher("hv2", "test:///default", queue, args, clock=lambda: clock[0], vm_events=seen)
    hv1._lifecycle(None, Dom("old"), 2, 0, None)                # booted at 100, forgotten by 170
    clock[0] = 150.0
    hv1._lifecycle(None, Dom("db1"), 2, 0, None)                # an operator starts db1
    clock[0] = 151.0
    hv2._lifecycle(None, Dom("web"), 2, 1, None)                # web migrated in ...
    hv1._lifecycle(None, Dom("web"), 5, 3, None)                # ... and out of hv1
    hv1._lifecycle(None, Dom("db2"), 2, 0, None)
    clock[0] = 152.0
    hv1._lifecycle(None, Dom("db2"), 5, 1, None)                # destroyed on purpose after its start
    hv1._lifecycle(None, Dom("db1"), 8, 0, None)                # a panic: neither
    clock[0] = 170.0
    hv1._lost("eof")
    events = [queue.get_nowait()["hotiron"] for _index in range(queue.qsize())]
    assert [e["type"] for e in events] == ["vm_started", "vm_started", "vm_started", "vm_started", "vm_crashed",
                                           "host_lost"]
    assert events[1]["vm_events"][-1] == {"vm": "db1", "host": "hv1", "event": "started", "reason": "booted",
                                          "time": 150.0, "uuid": "uuid-db1"}
    assert [(e["vm"], e["host"], e["event"], e["reason"], e["time"]) for e in events[-1]["vm_events"]] == [
        ("db1", "hv1", "started", "booted", 150.0),
        ("web", "hv1", "stopped", "migrated", 151.0),
        ("web", "hv2", "started", "migrated", 151.0),
        ("db2", "hv1", "stopped", "destroyed", 152.0),     # the latest of db2 on hv1: its start is replaced
    ]


def test_the_sweep_carries_the_vm_events_too():
    async def one_sweep():
        events, seen = asyncio.Queue(), lifecycle.VmEvents(60)
        seen.add("db1", "hv1", "started", "booted", 10.0)
        task = asyncio.create_task(libvirt_events._sweep(events, 0.01, seen, clock=lambda: 20.0))
        try:
            return await asyncio.wait_for(events.get(), 10)
        finally:
            task.cancel()

    event = asyncio.run(one_sweep())["hotiron"]
    assert event["type"] == "sweep" and [e["vm"] for e in event["vm_events"]] == ["db1"]


def test_every_event_names_the_rulebook_process_for_stop_with():
    with open("/proc/self/stat", encoding="utf-8") as handle:
        ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
    assert libvirt_events.RULEBOOK == {"pid": os.getpid(), "start_ticks": ticks}


def test_watching_is_said_once_the_callbacks_are_registered(monkeypatch, caplog):
    """The event (the rulebook prints it) and an INFO log come after the lifecycle callback is in
    place, not when the connection opens."""
    pytest.importorskip("libvirt")
    calls = []

    class Conn:
        def registerCloseCallback(self, *_args):
            calls.append("close callback")

        def setKeepAlive(self, *_args):
            calls.append("keepalive")

        def domainEventRegisterAny(self, *_args):
            calls.append("lifecycle")

    def opened(loop, _uri):
        future = loop.create_future()
        future.set_result(Conn())
        return future

    monkeypatch.setattr(libvirt_events, "_open_in_thread", opened)

    async def first_event():
        events = asyncio.Queue()
        watcher = libvirt_events.Watcher("hv1", "qemu+tcp://hv1/system", events,
                                         lifecycle.arguments({"hosts": {"a": "b"}}))
        task = asyncio.create_task(watcher.run())
        try:
            event = await asyncio.wait_for(events.get(), 10)
            return event, list(calls)
        finally:
            task.cancel()

    with caplog.at_level("INFO", logger="hotiron.virt.libvirt_events"):
        event, before = asyncio.run(first_event())
    assert event["hotiron"]["type"] == "watching" and event["hotiron"]["host"] == "hv1", event
    assert before == ["close callback", "keepalive", "lifecycle"]
    assert "watching hv1 (qemu+tcp://hv1/system): lifecycle events and keepalive registered" in caplog.text


def test_without_the_collection_on_the_path_it_says_what_to_do():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", "import runpy, sys; runpy.run_path(sys.argv[1])", SPEC.origin],
                          cwd="/", env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "hotiron.virt.libvirt_events needs the collection's Python code, which is not importable" in done.stderr
