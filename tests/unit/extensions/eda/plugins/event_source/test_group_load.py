# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capacity event source (group_load) as glue: loaded as ansible-rulebook loads it (by its
path, ``runpy.run_path``), it uses the collection's code by its full name, says clearly when that
code is not importable, and puts events on the rulebook's queue.  Its decisions are
capacity.watch's (tests/unit/plugins/module_utils/capacity/test_watch.py)."""

from __future__ import annotations

import asyncio
import os
import runpy
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 6))
SOURCE = os.path.join(ROOT, "extensions", "eda", "plugins", "event_source", "group_load.py")
BUILD_SRC = os.path.join(ROOT, "build", "src")


def run_source(pythonpath):
    """Load the source in a fresh Python as ansible-rulebook does, with ``pythonpath``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run([sys.executable, "-c", "import runpy, sys; runpy.run_path(sys.argv[1]); print('loaded')", SOURCE],
                          cwd="/", env=env, capture_output=True, text=True, timeout=120, check=False)


def test_without_the_collection_on_the_path_it_says_what_to_do():
    done = run_source(None)
    assert done.returncode != 0
    assert "hotiron.virt.group_load needs the collection's Python code, which is not importable" in done.stderr
    assert "put the directory holding ansible_collections/ on PYTHONPATH" in done.stderr


def test_with_the_collections_path_on_pythonpath_it_loads():
    done = run_source(BUILD_SRC)      # tests/conftest.py links the source tree there as ansible_collections/hotiron/virt
    assert done.returncode == 0 and done.stdout.strip() == "loaded", done.stderr


def test_events_reach_the_rulebook_queue():
    pytest.importorskip("libvirt")
    group_load = runpy.run_path(SOURCE)

    async def first_event():
        queue = asyncio.Queue(maxsize=1)   # the rulebook's queue holds one event
        task = asyncio.create_task(group_load["main"](queue, {"hosts": {"hv1": "test:///default"}, "interval": 0.5,
                                                              "schedule_interval": 3600}))
        try:
            return await asyncio.wait_for(queue.get(), 30)
        finally:
            task.cancel()

    event = asyncio.run(first_event())
    assert event["hotiron"]["type"] == "schedule"


@pytest.mark.parametrize("args, message", [
    ({}, "hosts must be a dict"), ({"hosts": {"a": "b"}, "cpu_high": 2}, "cpu_high must be a number from 0.01 to 1"),
])
def test_bad_arguments_stop_the_source(args, message):
    group_load = runpy.run_path(SOURCE)
    with pytest.raises(ValueError, match=message):
        asyncio.run(group_load["main"](asyncio.Queue(), args))
