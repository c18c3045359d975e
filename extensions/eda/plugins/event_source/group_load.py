# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-rulebook event source: the CPU load of a resource group's hosts, watched.

Every ``interval`` seconds each host's guests' CPU time is read with libvirt's bulk statistics
(CPU only: the cheapest group) and turned into the host's load (its guests' CPU over its CPUs),
with the collection's own code (``plugins/module_utils/capacity/``: ``sampler_ops`` reads,
``load`` turns readings into loads as for ``group_stats`` and ``rebalance``, ``watch`` decides).
The load history of the last two windows is kept in memory and handed to the rulebook with each
event, so that ``rebalance`` judges the window on what was measured:

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

This file is glue, as ansible.eda's sources are: the decisions are ``capacity/watch.py``'s, imported
by the collection's full name.  ansible-rulebook runs a source by its path and adds nothing to
Python's path, so the collection must be importable where ansible-rulebook runs: the directory
that holds ``ansible_collections/`` (the collections path it is installed in) on ``PYTHONPATH``, or
the collection installed into that Python's site-packages (README, "Running the event sources").
"""

from __future__ import annotations

import asyncio
import json
import sys

try:
    from ansible_collections.hotiron.virt.plugins.module_utils.capacity import alerts_ops, sampler_ops, watch
    from ansible_collections.hotiron.virt.plugins.module_utils.hosts import fanout_ops
except ImportError as err:
    raise ImportError("hotiron.virt.group_load needs the collection's Python code, which is not importable (%s): put "
                      "the directory holding ansible_collections/ on PYTHONPATH (see the collection's README)" % err) from None

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


async def _sample(args, out):
    samplers = {name: sampler_ops.Sampler(name, uri) for name, uri in sorted(args["hosts"].items())}
    rounds = fanout_ops.InFlight(prefix="group_load")
    decide = watch.Watch(args)
    timeout = max(args["interval"], 5.0)
    while True:
        started = asyncio.get_running_loop().time()
        # one read per host in flight: a read stuck on a hung host is waited for again, never doubled
        calls = await asyncio.to_thread(rounds.round, {name: s.read for name, s in samplers.items()}, timeout)
        for event in decide.add({name: None if call is None else call.value for name, call in calls.items()}):
            out.put_nowait(event)
        await asyncio.sleep(max(0.0, args["interval"] - (asyncio.get_running_loop().time() - started)))


async def _alerts(args, out):
    decide = watch.AlertWatch(args)
    while True:
        try:
            hosts = watch.firing_hosts(await asyncio.to_thread(alerts_ops.alerts, args["prometheus_url"]))
        except (OSError, ValueError):
            hosts = []
        for event in decide.add(hosts):
            out.put_nowait(event)
        await asyncio.sleep(args["interval"])


async def _schedule(args, out):
    while True:
        out.put_nowait(watch.schedule_event())
        await asyncio.sleep(args["schedule_interval"])


async def _pump(events, queue):
    while True:
        await queue.put(await events.get())


async def main(queue, args):
    args = watch.arguments(args)
    events = asyncio.Queue()  # unbounded: the rulebook's own queue holds one event
    tasks = [asyncio.create_task(_pump(events, queue))]
    if args["prometheus_url"]:
        tasks.append(asyncio.create_task(_alerts(args, events)))
    else:
        tasks.append(asyncio.create_task(_sample(args, events)))
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
