# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-ins the unit tests share (imported by name: tests/conftest.py puts this folder on the path)."""

from __future__ import annotations


class Clock:
    """A clock to inject as ``clock=``; its ``sleep`` (inject as ``sleep=``) advances it."""

    def __init__(self, now=0.0):
        self.now = now

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
