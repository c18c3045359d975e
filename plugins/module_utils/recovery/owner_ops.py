# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The process a recovery pass works for (``stop_with`` of hotiron.virt.recover): the
ansible-rulebook whose event source started it.  ansible-rulebook runs each playbook in a session
of its own, so stopping the rulebook (Ctrl-C, SIGTERM, a crash) does not stop its passes; a pass
given its rulebook asks, at each step, whether that process still runs, and ends when it is gone.

A process is known by its pid *and* its start time (``/proc/<pid>/stat`` field 22, clock ticks
since boot), so that a pid reused by another process after the rulebook ended does not keep a
pass going.
"""

from __future__ import annotations

import os


def start_ticks(pid, proc="/proc"):
    """The start time of process ``pid`` (clock ticks since boot), or None when it does not run."""
    try:
        with open(os.path.join(proc, str(int(pid)), "stat"), encoding="utf-8") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def gone(pid, ticks=None, proc="/proc"):
    """Why the process ``pid`` (started at ``ticks``, when given) is no longer there, or None
    while it runs."""
    now = start_ticks(pid, proc)
    if now is None:
        return "process %s has ended" % pid
    if ticks is not None and now != int(ticks):
        return "process %s has ended (its pid now belongs to another process)" % pid
    return None
