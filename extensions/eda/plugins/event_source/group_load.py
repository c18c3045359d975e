# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-rulebook event source: the CPU load of a resource group's hosts, watched.

Every ``interval`` seconds each host's guests' CPU time is read with libvirt's bulk statistics
(CPU only: the cheapest group) and turned into the host's load (its guests' CPU over its CPUs),
with the collection's own pure code (``plugins/module_utils/capacity/load.py``, the same
``group_stats`` and ``rebalance`` use).  The load history of the last two windows is kept here, in
memory, and handed to the rulebook with each event, so that ``rebalance`` judges the window on what
was measured:

``{"hotiron": {"type": "host_hot", "host": "hv1", "load": 0.93, "since": ..., "history": {...}}}``
    a host stayed above ``cpu_high`` for ``window`` seconds (again after ``cooldown`` seconds if it
    still is);
``{"hotiron": {"type": "imbalance_high", "imbalance": 0.31, "history": {...}}}``
    the group's imbalance stayed above ``max_imbalance`` for ``window`` seconds;
``{"hotiron": {"type": "schedule", "time": ...}}`` every ``schedule_interval`` seconds, for the
    resource schedule.

With ``prometheus_url`` nothing is sampled: the Prometheus alert ``HotironHostCpuHigh`` (the
monitoring role's rule, which holds ``for:`` the window) is polled, and each host it fires for
gives one ``host_hot`` event per cooldown (those who run Alertmanager can point its webhook at
ansible.eda's alertmanager source instead).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
import urllib.request

DOCUMENTATION = r"""
---
short_description: Watch the CPU load of a resource group; emit events when a host stays hot.
description:
  - Emits C(host_hot), C(imbalance_high) and periodic C(schedule) events, each a dict under the key C(hotiron).
options:
  hosts:
    description: The hosts of the group, name to libvirt URI.
    type: dict
    required: true
  interval:
    description: Seconds between two readings of every host.
    type: float
    default: 10
  cpu_high:
    description: The load (over a host's CPUs) a host must stay under.
    type: float
    default: 0.8
  window:
    description: Seconds a host must stay above C(cpu_high) (or the group above C(max_imbalance)).
    type: float
    default: 120
  max_imbalance:
    description: Imbalance of the group above which C(imbalance_high) is emitted; 0 for never.
    type: float
    default: 0
  cooldown:
    description: Seconds before the same host (or the group) is reported again while still hot.
    type: float
    default: 300
  schedule_interval:
    description: Seconds between two C(schedule) events; 0 for none.
    type: float
    default: 0
  prometheus_url:
    description: Poll this Prometheus's HotironHostCpuHigh alert instead of sampling libvirt.
    type: str
"""

EXAMPLES = r"""
- name: Live capacity
  hosts: localhost
  sources:
    - hotiron.virt.group_load:
        hosts: {hv1: qemu+tls://hv1.example.com/system, hv2: qemu+tls://hv2.example.com/system}
        cpu_high: 0.8
        window: 120
  rules:
    - name: Rebalance
      condition: event.hotiron.type == "host_hot"
      action:
        run_playbook:
          name: hotiron.virt.rebalance
"""


def _collection_code():
    """The collection's pure load code, from the collection this file is part of."""
    here = os.path.abspath(__file__).split(os.sep)
    if "ansible_collections" in here:
        root = os.sep.join(here[:here.index("ansible_collections")]) or os.sep
        if root not in sys.path:
            sys.path.insert(0, root)
    from ansible_collections.hotiron.virt.plugins.module_utils.capacity import load  # pylint: disable=import-outside-toplevel

    return load


def _arguments(args):
    hosts = args.get("hosts")
    if not isinstance(hosts, dict) or not hosts:
        raise ValueError("hotiron.virt.group_load: hosts must be a dict of host name to libvirt URI")
    out = {"hosts": {str(k): str(v) for k, v in hosts.items()}, "prometheus_url": args.get("prometheus_url") or None}
    for key, default, low, high in (("interval", 10.0, 0.5, 3600), ("cpu_high", 0.8, 0.01, 1), ("window", 120.0, 0, 86400),
                                    ("max_imbalance", 0.0, 0, 1), ("cooldown", 300.0, 0, 86400),
                                    ("schedule_interval", 0.0, 0, 86400)):
        value = args.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise ValueError("hotiron.virt.group_load: %s must be a number from %s to %s, got %r" % (key, low, high, value))
        out[key] = float(value)
    return out


class Sampler:
    """One host's connection and its last reading (blocking calls, run in threads)."""

    def __init__(self, name, uri, load):
        self.name = name
        self.uri = uri
        self.load = load
        self.conn = None
        self.size = None
        self.previous = None
        self.pending = None

    def read(self):
        """The host's load since the previous reading, or None (first reading, or unreachable)."""
        import libvirt  # pylint: disable=import-outside-toplevel

        try:
            if self.conn is None:
                self.conn = libvirt.open(self.uri)
                info = self.conn.getInfo()
                self.size = (info[2], info[1])
            flags = libvirt.VIR_DOMAIN_STATS_CPU_TOTAL | libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_STATE
            answer = self.conn.getAllDomainStats(flags, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE)
        except libvirt.libvirtError:
            self.conn, self.previous = None, None
            return None
        now = self.load.Sample(time.monotonic(), {d.name(): dict(v) for d, v in answer}, {d.name(): d.ID() for d, _v in answer})
        before, self.previous = self.previous, now
        if before is None:
            return None
        vms = self.load.vm_loads(before, now)
        return self.load.host_load(self.name, self.size[0], self.size[1], vms.values()).load


def _in_thread(func):
    """A future with ``func()``, run in a daemon thread (a call to a hung host blocks it)."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def work():
        try:
            value = func()
        except Exception:  # pylint: disable=broad-except  # a reading that fails is no reading; the source goes on
            value = None
        loop.call_soon_threadsafe(lambda: future.done() or future.set_result(value))

    threading.Thread(target=work, daemon=True).start()
    return future


async def _read(sampler, timeout):
    """The sampler's next load, None when it has none within ``timeout``.  One read per host is in
    flight at a time: a read stuck on a hung host is waited for again next time, never doubled."""
    if sampler.pending is None:
        sampler.pending = _in_thread(sampler.read)
    try:
        value = await asyncio.wait_for(asyncio.shield(sampler.pending), timeout)
    except asyncio.TimeoutError:
        return None
    sampler.pending = None
    return value


class Watch:
    """History, thresholds and the events they give (pure but for the clock)."""

    def __init__(self, args, load, clock=time.time):
        self.args = args
        self.load = load
        self.clock = clock
        self.history = {name: [] for name in args["hosts"]}
        self.imbalance = []
        self.reported = {}

    def add(self, loads):
        """Record one reading of every host (name -> load or None); the events it gives."""
        now = self.clock()
        keep = 2 * self.args["window"] + 2 * self.args["interval"]
        for name, value in loads.items():
            if value is not None:
                self.history[name].append((now, value))
            self.history[name] = [(t, v) for t, v in self.history[name] if now - t <= keep]
        current = [v for v in loads.values() if v is not None]
        if len(current) >= 2:
            self.imbalance.append((now, self.load.pstdev(current)))
            self.imbalance = [(t, v) for t, v in self.imbalance if now - t <= keep]
        events = []
        gap = 3 * self.args["interval"]  # a host that stopped answering is not hot on old readings
        for name in sorted(self.history):
            held = self.load.sustained_above(self.history[name], self.args["cpu_high"], self.args["window"], now,
                                             max_gap_s=gap)
            if held.holds and self._due(name, now):
                events.append({"type": "host_hot", "host": name, "load": held.latest, "since": held.since,
                               "reason": held.reason, "history": self._history()})
        if self.args["max_imbalance"]:
            held = self.load.sustained_above(self.imbalance, self.args["max_imbalance"], self.args["window"], now,
                                             max_gap_s=gap)
            if held.holds and self._due("", now):
                events.append({"type": "imbalance_high", "imbalance": held.latest, "since": held.since,
                               "reason": held.reason, "history": self._history()})
        return [{"hotiron": dict(event, time=now)} for event in events]

    def _due(self, key, now):
        last = self.reported.get(key)
        if last is not None and now - last < self.args["cooldown"]:
            return False
        self.reported[key] = now
        return True

    def _history(self):
        return {name: [[round(t, 3), round(v, 4)] for t, v in points] for name, points in self.history.items()}


def firing_hosts(url, timeout=5.0):
    """Hosts the HotironHostCpuHigh alert fires for, from Prometheus's alerts API."""
    with urllib.request.urlopen(url.rstrip("/") + "/api/v1/alerts", timeout=timeout) as answer:  # nosec - the operator's URL
        data = json.load(answer)
    return sorted({a["labels"].get("host") for a in data.get("data", {}).get("alerts", [])
                   if a.get("labels", {}).get("alertname") == "HotironHostCpuHigh" and a.get("state") == "firing"} - {None})


async def _sample(args, out, load):
    samplers = {name: Sampler(name, uri, load) for name, uri in sorted(args["hosts"].items())}
    watch = Watch(args, load)
    while True:
        started = time.monotonic()
        answers = await asyncio.gather(*(_read(s, max(args["interval"], 5.0)) for s in samplers.values()))
        readings = dict(zip(samplers, answers))
        for event in watch.add(readings):
            out.put_nowait(event)
        await asyncio.sleep(max(0.0, args["interval"] - (time.monotonic() - started)))


async def _alerts(args, out, clock=time.time):
    reported = {}
    while True:
        try:
            hosts = await asyncio.to_thread(firing_hosts, args["prometheus_url"])
        except (OSError, ValueError):
            hosts = []
        now = clock()
        for host in hosts:
            if now - reported.get(host, -1e18) >= args["cooldown"]:
                reported[host] = now
                out.put_nowait({"hotiron": {"type": "host_hot", "host": host, "source": "prometheus", "time": now}})
        await asyncio.sleep(args["interval"])


async def _schedule(args, out, clock=time.time):
    while True:
        out.put_nowait({"hotiron": {"type": "schedule", "time": clock()}})
        await asyncio.sleep(args["schedule_interval"])


async def _pump(events, queue):
    while True:
        await queue.put(await events.get())


async def main(queue, args):
    args = _arguments(args)
    events = asyncio.Queue()  # unbounded: the rulebook's own queue holds one event
    tasks = [asyncio.create_task(_pump(events, queue))]
    if args["prometheus_url"]:
        tasks.append(asyncio.create_task(_alerts(args, events)))
    else:
        tasks.append(asyncio.create_task(_sample(args, events, _collection_code())))
    if args["schedule_interval"]:
        tasks.append(asyncio.create_task(_schedule(args, events)))
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()


if __name__ == "__main__":
    class _Print:
        async def put(self, event):
            print(json.dumps(event)[:300], flush=True)

    asyncio.run(main(_Print(), {"hosts": dict(arg.split("=", 1) for arg in sys.argv[1:]), "interval": 2,
                                "window": 6, "cpu_high": 0.2}))
