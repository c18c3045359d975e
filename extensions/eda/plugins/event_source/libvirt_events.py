# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-rulebook event source: the libvirt hosts of a resource group, watched.

Emits one event per thing worth a recovery pass, as plain dicts under the key ``hotiron``:

``{"hotiron": {"type": "vm_stopped", "host": "hv1", "vm": "db1", "reason": "crashed", "time": ...}}``
    a VM stopped with reason ``crashed`` or ``failed`` (QEMU died), or panicked (``vm_crashed``).
    An operator's shutdown or destroy, a migration or a save emit nothing.
``{"hotiron": {"type": "host_lost", "host": "hv2", "reason": "keepalive", "since": ..., "time": ...}}``
    the host's connection closed (``eof``, ``keepalive``: a hung libvirtd, ``error``) or cannot be
    opened; ``since`` is when it last answered (a keepalive loss: interval x count before it was
    noticed), for recover's ``unreachable_since``.
``{"hotiron": {"type": "host_back", "host": "hv2", "time": ...}}`` the host answers again.
``{"hotiron": {"type": "vm_started", "host": "hv1", "vm": "db1", "reason": "booted", "time": ...}}``
    a VM started (booted, migrated in, restored, from a snapshot, woken up), by anyone: a pass on
    it records the VM as running, so that its host failing next is recovered.
``{"hotiron": {"type": "watching", "host": "hv1", "time": ...}}`` the host's lifecycle events are
    registered: from now on a crash there is seen at once (also logged, and printed by the
    collection's rulebook, at default verbosity).
``{"hotiron": {"type": "sweep", "time": ...}}`` every ``sweep_interval`` seconds, so that the
    rulebook runs a pass even when an event was missed.

Every event also carries ``"rulebook": {"pid": ..., "start_ticks": ...}``, this process (the
ansible-rulebook the source runs in): recover's ``stop_with``, so that the passes the rulebook
started end when it is stopped (it runs each playbook in a session of its own); and ``vm_events``,
the latest start and stop of each VM on each host seen within ``vm_event_memory`` seconds
(``{"vm", "host", "event": "started"|"stopped", "reason", "time", "uuid"}``, oldest first, stops
on purpose included): recover's ``vm_events``.  A VM started (or stopped) after the last pass read
its host, on a host that fails before the next pass reads it, is known only from its event; the
``host_lost`` event that follows carries it, whichever events the rulebook groups or drops.

Each host is opened in a thread of its own with a timeout (``libvirt.open`` blocks on a hung or
powered-off host) and watched with libvirt keepalive (``keepalive_interval`` x ``keepalive_count``:
a hung libvirtd is noticed after about interval x (count + 1) seconds).  libvirt's events run on
this process's asyncio loop (``libvirtaio``), registered once before any connection.  Events go
through a local unbounded queue to the rulebook's queue (which holds one event) with
``await queue.put()``, so none is lost while the rulebook is busy.  No Ansible imports.  Which
events are worth a pass and when a host counts as lost are ``recovery/lifecycle.py``'s decisions,
imported by the collection's full name (the collection must be importable where ansible-rulebook
runs: README, "Running the event sources"); what to do about them is the ``recover`` module's,
which the rulebook runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time

try:
    from ansible_collections.hotiron.virt.plugins.module_utils.recovery import lifecycle
except ImportError as err:
    raise ImportError("hotiron.virt.libvirt_events needs the collection's Python code, which is not importable (%s): put "
                      "the directory holding ansible_collections/ on PYTHONPATH (see the collection's README)" % err) from None

DOCUMENTATION = r"""
---
short_description: Watch the libvirt hosts of a resource group for crashed VMs and lost hosts.
description:
  - Emits C(vm_stopped) (a VM stopped with reason crashed or failed), C(vm_crashed) (a guest panic),
    C(vm_started) (a VM started, by anyone), C(host_lost) (connection closed, keepalive timeout, or
    cannot connect), C(host_back), C(watching) (a host's events are registered) and periodic
    C(sweep) events, each a dict under the key C(hotiron), with C(rulebook) (this process's pid and
    start time) for recover's O(hotiron.virt.recover#module:stop_with).
options:
  hosts:
    description: The hosts of the group, name to libvirt URI.
    type: dict
    required: true
  keepalive_interval:
    description: Seconds between keepalive messages to each host.
    type: int
    default: 1
  keepalive_count:
    description: Keepalive messages without answer before the connection counts as dead.
    type: int
    default: 3
  connect_timeout:
    description: Seconds a host gets to accept a connection.
    type: float
    default: 5
  reconnect_interval:
    description: Seconds between two attempts to reach a lost host.
    type: float
    default: 2
  sweep_interval:
    description: Seconds between two C(sweep) events; 0 for none.
    type: float
    default: 30
  vm_event_memory:
    description:
      - Seconds a VM's start or stop stays in the C(vm_events) of every event (the latest per VM and host),
        for recover's O(hotiron.virt.recover#module:vm_events). Longer than a pass may wait for the group's
        lock, so that the pass after a lost host still has it.
    type: float
    default: 3600
"""

EXAMPLES = r"""
- name: Live recovery
  hosts: all
  sources:
    - hotiron.virt.libvirt_events:
        hosts:
          hv1: qemu+tls://hv1.example.com/system
          hv2: qemu+tls://hv2.example.com/system
        sweep_interval: 60
  rules:
    - name: Recover
      condition: event.hotiron is defined
      action:
        run_playbook:
          name: hotiron.virt.recover
"""

_REGISTERED = {}
LOG = logging.getLogger("hotiron.virt.libvirt_events")


def _rulebook():
    """This process (the ansible-rulebook the source runs in): pid and start time in clock ticks."""
    pid = os.getpid()
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        ticks = None
    return {"pid": pid, "start_ticks": ticks}


RULEBOOK = _rulebook()


def _utc_ms(seconds):
    return time.strftime("%H:%M:%S", time.gmtime(seconds)) + ".%03d UTC" % (int(seconds * 1000) % 1000)


def _register_event_loop(loop):
    """libvirt's event implementation on ``loop``, once per process and before any connection."""
    if "loop" not in _REGISTERED:
        import libvirtaio  # pylint: disable=import-outside-toplevel

        libvirtaio.virEventRegisterAsyncIOImpl(loop=loop)
        _REGISTERED["loop"] = loop


def _open_in_thread(loop, uri):
    """A future with ``libvirt.open(uri)``, opened in a daemon thread (it blocks on a hung host)."""
    import libvirt  # pylint: disable=import-outside-toplevel

    future = loop.create_future()

    def work():
        try:
            conn = libvirt.open(uri)
        except libvirt.libvirtError as err:
            loop.call_soon_threadsafe(_settle, future, None, err)
            return
        loop.call_soon_threadsafe(_settle, future, conn, None)

    threading.Thread(target=work, name="connect-" + uri, daemon=True).start()
    return future


def _settle(future, value, error):
    if future.done():
        if value is not None:
            value.close()  # answered after the timeout: not wanted any more
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


class Watcher:
    """Watches one host and puts its events on ``events``."""

    def __init__(self, name, uri, events, args, clock=time.time, vm_events=None):
        self.name = name
        self.uri = uri
        self.events = events
        self.args = args
        self.clock = clock
        self.vm_events = vm_events if vm_events is not None else lifecycle.VmEvents(args.get("vm_event_memory", 3600))
        self.conn = None
        self.reachability = lifecycle.Reachability()
        self.closed = None
        self.opening = None     # the one connection attempt in flight (a hung host holds it)

    def emit(self, kind, **fields):
        now = self.clock()
        self.events.put_nowait({"hotiron": dict(type=kind, host=self.name, time=now, rulebook=RULEBOOK,
                                                vm_events=self.vm_events.recent(now), **fields)})

    def _lifecycle(self, _conn, dom, event, detail, _opaque):
        # Every start and stop is remembered (a stop on purpose too: it must outweigh the start
        # before it), before the event that carries it is emitted.
        seen = lifecycle.remembered_event(event, detail)
        if seen is not None:
            self.vm_events.add(dom.name(), self.name, seen[0], seen[1], self.clock(), dom.UUIDString())
        worth = lifecycle.lifecycle_event(event, detail)
        if worth is not None:
            self.emit(worth[0], vm=dom.name(), reason=worth[1])

    def _closed(self, _conn, reason, _opaque):
        if self.closed is not None and not self.closed.done():
            self.closed.set_result(lifecycle.close_reason(reason))

    def _lost(self, reason):
        # since: its last answer, not when the loss was noticed (a keepalive timeout is seen
        # interval x count seconds after the host fell silent)
        since = self.reachability.lost(lifecycle.silent_since(
            self.clock(), reason, self.args["keepalive_interval"], self.args["keepalive_count"],
            self.args["connect_timeout"]))
        if since is not None:
            # a warning: ansible-rulebook prints it at its default verbosity (the operator's
            # timeline of an outage: benchmarks/bench_recover.py --host reads it)
            LOG.warning("%s lost (%s): no answer since %s, %.1f s before this", self.name, reason,
                        _utc_ms(since), self.clock() - since)
            self.emit("host_lost", reason=reason, since=since)

    async def run(self):
        import libvirt  # pylint: disable=import-outside-toplevel

        loop = asyncio.get_running_loop()
        while True:
            if self.opening is None:
                self.opening = _open_in_thread(loop, self.uri)
            try:
                # shield: a timeout leaves the attempt running, and the next round waits for it
                # rather than starting another thread on a hung host
                self.conn = await asyncio.wait_for(asyncio.shield(self.opening), self.args["connect_timeout"])
                self.opening = None
            except (asyncio.TimeoutError, libvirt.libvirtError) as err:
                if not isinstance(err, asyncio.TimeoutError):
                    self.opening = None
                reason = "no answer" if isinstance(err, asyncio.TimeoutError) else "connect: %s" % err.get_error_message()
                self._lost(reason)
                await asyncio.sleep(self.args["reconnect_interval"])
                continue
            self.closed = loop.create_future()
            try:
                self.conn.registerCloseCallback(self._closed, None)
                self.conn.setKeepAlive(self.args["keepalive_interval"], self.args["keepalive_count"])
                self.conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._lifecycle, None)
            except libvirt.libvirtError as err:
                self._lost("watch: %s" % err.get_error_message())
                await asyncio.sleep(self.args["reconnect_interval"])
                continue
            LOG.info("watching %s (%s): lifecycle events and keepalive registered", self.name, self.uri)
            self.emit("watching", uri=self.uri)
            if self.reachability.back():
                self.emit("host_back")
            reason = await self.closed
            try:
                self.conn.unregisterCloseCallback()
                self.conn.close()
            except libvirt.libvirtError:
                pass  # the connection is dead already: closing only frees it
            self.conn = None
            self._lost(reason)


async def _pump(events, queue):
    while True:
        await queue.put(await events.get())


async def _sweep(events, interval, vm_events, clock=time.time):
    while True:
        await asyncio.sleep(interval)
        now = clock()
        events.put_nowait({"hotiron": {"type": "sweep", "time": now, "rulebook": RULEBOOK,
                                       "vm_events": vm_events.recent(now)}})


async def main(queue, args):
    args = lifecycle.arguments(args)
    _register_event_loop(asyncio.get_running_loop())
    events = asyncio.Queue()
    seen = lifecycle.VmEvents(args["vm_event_memory"])
    tasks = [asyncio.create_task(Watcher(name, uri, events, args, vm_events=seen).run())
             for name, uri in sorted(args["hosts"].items())]
    tasks.append(asyncio.create_task(_pump(events, queue)))
    if args["sweep_interval"]:
        tasks.append(asyncio.create_task(_sweep(events, args["sweep_interval"], seen)))
    try:
        await asyncio.gather(*tasks)
    finally:
        LOG.info("stopped watching %s", ", ".join(sorted(args["hosts"])))
        for task in tasks:
            task.cancel()


if __name__ == "__main__":
    # Try it by hand: python libvirt_events.py qemu+tcp://127.77.0.1/system ...
    import sys

    class _Print:
        async def put(self, event):
            print(event, flush=True)

    asyncio.run(main(_Print(), {"hosts": {"hv%d" % (i + 1): uri for i, uri in enumerate(sys.argv[1:])},
                                "sweep_interval": 0}))
