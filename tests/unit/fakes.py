# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-ins the unit tests share (imported by name: tests/conftest.py puts this folder on the path)."""

from __future__ import annotations


class Jump:
    """A clock (inject as ``clock=``) that reads ``times`` in turn, then stays at the last one."""

    def __init__(self, *times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


class Ticks:
    """A clock that moves ``step`` seconds at every reading: every deadline passes at once."""

    def __init__(self, step):
        self.now, self.step = 0.0, step

    def __call__(self):
        self.now += self.step
        return self.now


class Clock:
    """A clock to inject as ``clock=``; its ``sleep`` (inject as ``sleep=``) advances it."""

    def __init__(self, now=0.0):
        self.now = now

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
