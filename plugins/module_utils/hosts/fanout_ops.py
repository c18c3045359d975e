# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ask every host at once and give up on the hung ones: the one fan-out.

Each call runs in a daemon thread of its own: a call blocked on a hung host (a libvirtd that
accepts the connection and never answers, a powered-off host whose TCP connect waits) is
abandoned, never waited for past its deadline, never holds up the others, and never keeps the
process from ending.  A thread pool would not do: ``concurrent.futures`` joins its threads when
the interpreter exits, so one hung host would hang the module (or the rulebook) at exit.

* :func:`start` starts the calls, :func:`wait_all` waits for any set of events against one shared
  deadline and names those that missed it (recovery's observation waits twice: for the first
  answer, then for the reading);
* :func:`ask_all` is both at once: every call started, every call given one deadline;
* :class:`InFlight` keeps at most one call per host in flight across rounds (an event source that
  asks every few seconds): a call stuck on a hung host is waited for again next round, never
  doubled.

The clock is injectable (``time.monotonic`` by default) so that tests decide when a deadline has
passed without waiting for it.
"""

from __future__ import annotations

import threading
import time


class Call:
    """One call in a daemon thread: ``done`` is set when it returned (``value``) or raised
    (``error``, the exception it raised, handed to whoever waits, as a future would)."""

    def __init__(self, func, name):
        self.value = None
        self.error = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(func,), name=name, daemon=True)
        self.thread.start()

    def _run(self, func):
        try:
            self.value = func()
        except Exception as err:  # pylint: disable=broad-except  # handed to the waiter, as concurrent.futures does
            self.error = err
        finally:
            self.done.set()


def start(calls, prefix="ask"):
    """``{name: Call}``: each of ``calls`` (name -> function of no arguments) started in its own
    daemon thread (named ``prefix-name``), in the order of the names."""
    return {name: Call(func, "%s-%s" % (prefix, name)) for name, func in sorted(calls.items())}


def wait_all(events, timeout, clock=time.monotonic):
    """Wait for each of ``events`` (name -> ``threading.Event``) until one deadline, ``timeout``
    seconds from now; the names whose event was not set by then, in order."""
    deadline = clock() + timeout
    late = []
    for name, event in events.items():
        if not event.wait(max(0.0, deadline - clock())):
            late.append(name)
    return late


def ask_all(calls, timeout, prefix="ask", clock=time.monotonic):
    """``({name: Call}, late names)``: every call started at once and given ``timeout`` seconds in
    all; a late call's thread is abandoned (it ends with the process if its host never answers)."""
    started = start(calls, prefix)
    return started, wait_all({name: call.done for name, call in started.items()}, timeout, clock)


class InFlight:
    """Rounds of calls with at most one call per name in flight: a call that missed its round's
    deadline is not started again, the next round waits for the same call."""

    def __init__(self, prefix="ask", clock=time.monotonic):
        self.prefix = prefix
        self.clock = clock
        self.pending = {}

    def round(self, calls, timeout):
        """``{name: Call or None}`` for every name of ``calls`` (name -> function): the call that
        ended within ``timeout`` seconds, None for one still running."""
        for name, func in sorted(calls.items()):
            if name not in self.pending:
                self.pending[name] = Call(func, "%s-%s" % (self.prefix, name))
        late = set(wait_all({name: self.pending[name].done for name in sorted(calls)}, timeout, self.clock))
        return {name: None if name in late else self.pending.pop(name) for name in sorted(calls)}
