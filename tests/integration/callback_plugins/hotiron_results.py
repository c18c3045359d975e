# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: every task result as one JSON line, for tests/integration/conftest.py."""

from __future__ import annotations

DOCUMENTATION = """
    name: hotiron_results
    type: aggregate
    short_description: write each task result as a JSON line (hotiron.virt integration tests)
    description:
      - Appends one JSON object per task result (host, task name, action, status, result dict)
        to the file named by the environment variable E(HOTIRON_RESULTS_FILE).
    requirements:
      - enabled in C(callbacks_enabled)
"""

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "hotiron_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("HOTIRON_RESULTS_FILE")

    @staticmethod
    def _data(result):
        # ansible-core 2.19 gives `result.result` (native types); `_result` before it
        data = getattr(result, "result", None)
        return data if isinstance(data, dict) else result._result

    def _write(self, result, status):
        if not self._path:
            return
        task = result.task
        record = {
            "host": result.host.get_name(),
            "task": task.get_name(),
            "action": task.action,
            "status": status,
            "result": self._data(result),
        }
        with open(self._path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=repr, sort_keys=True) + "\n")

    def v2_runner_on_ok(self, result):
        self._write(result, "changed" if self._data(result).get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._write(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._write(result, "unreachable")
