# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live-migration tuning decisions: pure functions of the job statistics.

Nothing here imports libvirt. :class:`MigrationPolicy` is fed the job
statistics every poll (a :class:`JobStats`, built from the dict libvirt's
``virDomainGetJobStats`` returns) and answers with the actions to take:
raise the allowed downtime, switch to post-copy, or abort.  Time comes from
an injectable clock so that tests drive it without sleeping.

The rules, after OpenStack Nova (``nova/virt/libvirt/migration.py``) and
oVirt's migration policies:

* **Downtime steps.** The maximum downtime starts small and is raised in
  ``downtime_steps`` equal steps up to ``max_downtime_ms``; step *i* is
  allowed after ``i * downtime_delay_s_per_gib * memory_gib`` seconds (Nova's
  formula: a bigger guest gets more time before its downtime grows).
* **Stall.** Pre-copy has stalled when the remaining data has not reached a
  new minimum for ``stall_timeout_s`` seconds (it keeps being re-dirtied).
* **Post-copy.** When allowed, switch after ``postcopy_after_s`` seconds, or
  on a stall when ``postcopy_on_stall``; once in post-copy nothing else is
  decided (post-copy cannot be aborted without losing the VM).
* **Completion timeout.** After ``completion_timeout_s`` seconds the
  ``timeout_action`` applies: ``abort`` (the VM stays on the source) or
  ``postcopy`` (switch, only when post-copy is allowed, else abort).  It holds
  on polls whose statistics could not be read (:meth:`MigrationPolicy.step_unread`),
  and for a switch libvirt accepted that never began (aborted ``SWITCH_WAIT_S``
  after the request, once past the timeout).
* **Stall abort.** A stall with no post-copy to fall back to aborts when
  ``abort_on_stall`` is set.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import errors

import time
from dataclasses import asdict, dataclass

TIMEOUT_ACTIONS = ("abort", "postcopy")

# Actions returned by MigrationPolicy.step(); each is a (kind, value, reason) tuple.
SET_DOWNTIME = "set_downtime"
START_POSTCOPY = "start_postcopy"
ABORT = "abort"

# After a switch to post-copy was accepted, how long the job may still run pre-copy past the
# completion timeout before it is aborted (QEMU switches at its next iteration, within a second).
SWITCH_WAIT_S = 30.0

MIB = 1024 * 1024
GIB = 1024 * MIB


class TuningError(errors.InputError):
    """Settings that make no sense together."""


@dataclass(frozen=True)
class Tuning:
    """Migration settings; everything an operator can set on ``vm_migrate``."""

    bandwidth_mib_s: int = 0  # 0 = unlimited
    max_downtime_ms: int = 500
    downtime_steps: int = 10
    downtime_delay_s_per_gib: float = 75.0
    auto_converge: bool = False
    postcopy: bool = False
    postcopy_after_s: float = 0.0  # 0 = only on stall / timeout
    postcopy_on_stall: bool = True
    stall_timeout_s: float = 30.0
    abort_on_stall: bool = False
    completion_timeout_s: float = 0.0  # 0 = none
    timeout_action: str = "abort"
    compression: bool = False
    parallel_connections: int = 0  # 0 or 1 = one connection

    def validate(self):
        if self.timeout_action not in TIMEOUT_ACTIONS:
            raise TuningError("timeout_action must be one of %s, got %r" % (", ".join(TIMEOUT_ACTIONS), self.timeout_action))
        for name in ("bandwidth_mib_s", "max_downtime_ms", "downtime_delay_s_per_gib", "postcopy_after_s",
                     "stall_timeout_s", "completion_timeout_s", "parallel_connections"):
            if getattr(self, name) < 0:
                raise TuningError("%s must not be negative, got %r" % (name, getattr(self, name)))
        if self.downtime_steps < 1:
            raise TuningError("downtime_steps must be at least 1, got %r" % self.downtime_steps)
        if self.max_downtime_ms < 1:
            raise TuningError("max_downtime_ms must be at least 1 ms, got %r" % self.max_downtime_ms)
        if self.timeout_action == "postcopy" and not self.postcopy:
            raise TuningError("timeout_action=postcopy needs postcopy=true")
        if self.postcopy_after_s and not self.postcopy:
            raise TuningError("postcopy_after needs postcopy=true")
        if self.compression and self.parallel_connections > 1:
            # QEMU's multifd and the xbzrle/mt compression of libvirt 9 do not combine.
            raise TuningError("compression and parallel_connections cannot be used together")
        return self

    def as_dict(self):
        return asdict(self)


@dataclass(frozen=True)
class JobStats:
    """The fields of ``virDomainGetJobStats`` the policy uses (bytes, ms)."""

    time_elapsed_ms: int = 0
    data_total: int = 0
    data_processed: int = 0
    data_remaining: int = 0
    memory_total: int = 0
    memory_iteration: int = 0
    memory_dirty_rate: int = 0  # pages/s
    downtime_ms: int = 0
    active: bool = True
    postcopy: bool = False

    @classmethod
    def from_libvirt(cls, stats, job_type_none=0, postcopy_phase=False):
        """Build from libvirt's dict (``dom.jobStats()``); missing keys count as 0."""
        return cls(
            time_elapsed_ms=int(stats.get("time_elapsed", 0)),
            data_total=int(stats.get("data_total", 0)),
            data_processed=int(stats.get("data_processed", 0)),
            data_remaining=int(stats.get("data_remaining", 0)),
            memory_total=int(stats.get("memory_total", 0)),
            memory_iteration=int(stats.get("memory_iteration", 0)),
            memory_dirty_rate=int(stats.get("memory_dirty_rate", 0)),
            downtime_ms=int(stats.get("downtime", 0)),
            active=stats.get("type", job_type_none) != job_type_none,
            postcopy=postcopy_phase,
        )


def downtime_steps(max_downtime_ms, steps, delay_s_per_gib, memory_bytes):
    """Nova's schedule: ``[(after seconds, downtime ms), ...]``, ``steps + 1`` entries.

    Starts at ``max/steps`` and rises linearly to ``max``; entry *i* applies
    after ``i * delay`` seconds where ``delay = delay_s_per_gib * GiB of RAM``
    (at least one GiB's worth, so tiny guests still step gradually).
    """
    base = max_downtime_ms / steps
    offset = (max_downtime_ms - base) / steps
    delay = delay_s_per_gib * max(memory_bytes / GIB, 1.0)
    return [(delay * i, max(1, int(round(base + offset * i)))) for i in range(steps + 1)]


def downtime_for(elapsed_s, schedule):
    """The downtime allowed after ``elapsed_s`` seconds by ``schedule``."""
    allowed = schedule[0][1]
    for after, downtime in schedule:
        if elapsed_s >= after:
            allowed = downtime
        else:
            break
    return allowed


class MigrationPolicy:
    """Decides, poll after poll, what to do with one running migration.

    ``clock`` returns seconds (monotonic); the policy starts timing when it is
    created. ``step(stats)`` returns a list of ``(action, value, reason)``.
    """

    def __init__(self, tuning, memory_bytes, clock=time.monotonic):
        self.tuning = tuning.validate()
        self.clock = clock
        self.started = clock()
        self.schedule = downtime_steps(tuning.max_downtime_ms, tuning.downtime_steps,
                                       tuning.downtime_delay_s_per_gib, memory_bytes)
        self.downtime_ms = None  # last value set
        self.min_remaining = None
        self.min_remaining_at = self.started
        self.postcopy_started = False   # asked for (libvirt accepted it) or seen running
        self.postcopy_asked_at = 0.0     # seconds after the start
        self.postcopy_running = False   # seen in the job's state
        self.aborted = False            # libvirt accepted the abort: pre-copy was cancelled
        self.events = []  # (elapsed s, action, value, reason), for the result

    def elapsed(self):
        return self.clock() - self.started

    def initial_downtime(self):
        return self.schedule[0][1]

    def stalled(self, stats, now):
        """True when remaining data has made no new minimum for ``stall_timeout_s``."""
        remaining = stats.data_remaining
        if self.min_remaining is None or remaining < self.min_remaining:
            self.min_remaining = remaining
            self.min_remaining_at = now
            return False
        return self.tuning.stall_timeout_s > 0 and now - self.min_remaining_at >= self.tuning.stall_timeout_s

    def step(self, stats):
        if self.aborted or not stats.active:
            return []
        if stats.postcopy:
            self.entered_postcopy()
            return []
        now = self.clock()
        elapsed = now - self.started
        if self.postcopy_started:
            return self._record(elapsed, [] if self.postcopy_running else self._switch_overdue(elapsed))
        actions = []
        t = self.tuning

        if t.completion_timeout_s and elapsed >= t.completion_timeout_s:
            return self._record(elapsed, self._timed_out())

        stalled = self.stalled(stats, now)
        if t.postcopy:
            if t.postcopy_after_s and elapsed >= t.postcopy_after_s:
                return self._record(elapsed, [(START_POSTCOPY, None, "pre-copy ran for %gs" % t.postcopy_after_s)])
            if stalled and t.postcopy_on_stall:
                return self._record(elapsed, [(START_POSTCOPY, None, "pre-copy stalled for %gs" % t.stall_timeout_s)])
        elif stalled and t.abort_on_stall:
            return self._record(elapsed, [(ABORT, None, "pre-copy made no progress for %gs" % t.stall_timeout_s)])

        wanted = downtime_for(elapsed, self.schedule)
        if wanted != self.downtime_ms:
            actions.append((SET_DOWNTIME, wanted, "step after %.1fs" % elapsed))
        return self._record(elapsed, actions)

    def entered_postcopy(self):
        """The job was seen running post-copy: nothing more is decided."""
        self.postcopy_started = True
        self.postcopy_running = True

    def step_unread(self):
        """A poll whose statistics could not be read (libvirt did not answer in time, or refused):
        only the completion timeout can still be decided, and it is, so that a job nobody can read
        does not run on past it."""
        if self.aborted:
            return []
        elapsed = self.clock() - self.started
        if self.postcopy_started:
            return self._record(elapsed, [] if self.postcopy_running else self._switch_overdue(elapsed))
        if self.tuning.completion_timeout_s and elapsed >= self.tuning.completion_timeout_s:
            return self._record(elapsed, self._timed_out())
        return []

    def _timed_out(self):
        t = self.tuning
        if t.timeout_action == "postcopy" and t.postcopy:
            return [(START_POSTCOPY, None, "completion timeout of %gs reached" % t.completion_timeout_s)]
        return [(ABORT, None, "not finished within the completion timeout of %gs" % t.completion_timeout_s)]

    def _switch_overdue(self, elapsed):
        """The switch to post-copy was asked for and libvirt accepted it, but the job still runs
        pre-copy: QEMU switches at its next iteration, within a second.  Past the completion
        timeout and ``SWITCH_WAIT_S`` after the request it is aborted (libvirt refuses an abort
        once post-copy runs, so this cannot cut a VM in two)."""
        t = self.tuning
        if (t.completion_timeout_s and elapsed >= t.completion_timeout_s
                and elapsed - self.postcopy_asked_at >= SWITCH_WAIT_S):
            return [(ABORT, None, "post-copy was asked for after %gs and had not started %gs later"
                     % (round(self.postcopy_asked_at, 1), SWITCH_WAIT_S))]
        return []

    def applied(self, action, value):
        """Tell the policy an action took effect (so it is not repeated)."""
        if action == SET_DOWNTIME:
            self.downtime_ms = value
        elif action == START_POSTCOPY:
            self.postcopy_started = True
            self.postcopy_asked_at = self.clock() - self.started
        elif action == ABORT:
            self.aborted = True

    def _record(self, elapsed, actions):
        for kind, value, reason in actions:
            self.events.append({"after_s": round(elapsed, 2), "action": kind, "value": value, "reason": reason})
        return actions
