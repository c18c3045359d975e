# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Watching a group's load: when a host (or the group) counts as hot, and how often to say so.

The decisions of the ``group_load`` event source, pure (no libvirt, no I/O; the clock injected):

* :func:`arguments`: the source's arguments checked, with their defaults and ranges;
* :class:`Watch`: the load history of the last two windows, fed one reading of every host at a
  time; a host above ``cpu_high`` for the whole ``window`` gives ``host_hot``, the group's
  imbalance above ``max_imbalance`` for the window ``imbalance_high``, each once per ``cooldown``;
* :class:`AlertWatch`: the same ``host_hot`` events from the hosts Prometheus's
  ``HotironHostCpuHigh`` alert fires for (:func:`firing_hosts` reads them from the alerts API's
  answer; :mod:`capacity.alerts_ops` asks for it);
* :class:`Cooldown`: once per key per cooldown, for both.

Every event is a dict ``{"hotiron": {"type": ..., "time": ...}}`` (ansible.eda's shape: a plain dict
under one key).
"""

from __future__ import annotations

import time

from ansible_collections.hotiron.virt.plugins.module_utils.capacity import load as cl
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.group_args import group_arguments

SOURCE = "hotiron.virt.group_load"
ALERT = "HotironHostCpuHigh"

# name, default, lowest, highest
_NUMBERS = (("interval", 10.0, 0.5, 3600), ("cpu_high", 0.8, 0.01, 1), ("window", 120.0, 0, 86400),
            ("max_imbalance", 0.0, 0, 1), ("cooldown", 300.0, 0, 86400), ("schedule_interval", 0.0, 0, 86400))


def arguments(args):
    """The source's arguments with their defaults, every number a float; ValueError saying which
    one is wrong."""
    out = group_arguments(args, SOURCE, _NUMBERS, as_float=True)
    out["prometheus_url"] = args.get("prometheus_url") or None
    return out


class Cooldown:
    """Whether something (a host, the group) may be reported now: once per ``seconds``."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.reported = {}

    def due(self, key, now):
        """True (and remembered) when ``key`` was not reported within the cooldown before ``now``."""
        last = self.reported.get(key)
        if last is not None and now - last < self.seconds:
            return False
        self.reported[key] = now
        return True


class Watch:
    """History, thresholds and the events they give."""

    def __init__(self, args, clock=time.time):
        self.args = args
        self.clock = clock
        self.history = {name: [] for name in args["hosts"]}
        self.imbalance = []
        self.cooldown = Cooldown(args["cooldown"])

    def add(self, loads):
        """Record one reading of every host (name -> load or None); the events it gives."""
        now = self.clock()
        self._record(loads, now)
        events = []
        gap = 3 * self.args["interval"]  # a host that stopped answering is not hot on old readings
        for name in sorted(self.history):
            held = cl.sustained_above(self.history[name], self.args["cpu_high"], self.args["window"], now, max_gap_s=gap)
            if held.holds and self.cooldown.due(name, now):
                events.append({"type": "host_hot", "host": name, "load": held.latest, "since": held.since,
                               "reason": held.reason, "history": self._history()})
        if self.args["max_imbalance"]:
            held = cl.sustained_above(self.imbalance, self.args["max_imbalance"], self.args["window"], now, max_gap_s=gap)
            if held.holds and self.cooldown.due("", now):
                events.append({"type": "imbalance_high", "imbalance": held.latest, "since": held.since,
                               "reason": held.reason, "history": self._history()})
        return [{"hotiron": dict(event, time=now)} for event in events]

    def _record(self, loads, now):
        """Keep two windows (and two readings) of history: enough to judge one window after a gap."""
        keep = 2 * self.args["window"] + 2 * self.args["interval"]
        for name, value in loads.items():
            if value is not None:
                self.history[name].append((now, value))
            self.history[name] = [(t, v) for t, v in self.history[name] if now - t <= keep]
        current = [v for v in loads.values() if v is not None]
        if len(current) >= 2:
            self.imbalance.append((now, cl.pstdev(current)))
            self.imbalance = [(t, v) for t, v in self.imbalance if now - t <= keep]

    def _history(self):
        return {name: [[round(t, 3), round(v, 4)] for t, v in points] for name, points in self.history.items()}


def firing_hosts(answer, alert=ALERT):
    """The hosts (label ``host``) ``alert`` fires for in an answer of Prometheus's alerts API."""
    alerts = answer.get("data", {}).get("alerts", []) if isinstance(answer, dict) else []
    return sorted({a["labels"].get("host") for a in alerts
                   if a.get("labels", {}).get("alertname") == alert and a.get("state") == "firing"} - {None})


class AlertWatch:
    """``host_hot`` for each host the alert fires for, once per cooldown (the alert's own ``for:``
    holds the window)."""

    def __init__(self, args, clock=time.time):
        self.clock = clock
        self.cooldown = Cooldown(args["cooldown"])

    def add(self, hosts):
        """The events of one poll: ``hosts`` the alert fires for now."""
        now = self.clock()
        return [{"hotiron": {"type": "host_hot", "host": host, "source": "prometheus", "time": now}}
                for host in hosts if self.cooldown.due(host, now)]


def schedule_event(clock=time.time):
    """The periodic ``schedule`` event (the resource schedule's tick)."""
    return {"hotiron": {"type": "schedule", "time": clock()}}
