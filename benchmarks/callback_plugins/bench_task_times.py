# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark helper: writes each task's wall time (task start to its host's result) as one JSON
line to the file named by ``BENCH_TASK_TIMES``."""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: bench_task_times
type: aggregate
short_description: Wall time of each task, for hotiron.virt's benchmarks
description: Writes task name, status and seconds as JSON lines to the file named by BENCH_TASK_TIMES.
requirements: [enable in configuration]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_task_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._started = {}

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._started[task._uuid] = time.monotonic()

    def _record(self, result, status):
        task = result._task
        elapsed = time.monotonic() - self._started.get(task._uuid, time.monotonic())
        with open(os.environ["BENCH_TASK_TIMES"], "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"task": task.get_name(), "status": status, "seconds": elapsed,
                                     "result": result._result}, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")
