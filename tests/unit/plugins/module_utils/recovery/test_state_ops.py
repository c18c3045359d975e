# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The recovery state file (recovery.state): round trips, atomic writes, the group's lock."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from fakes import Clock  # tests/unit/fakes.py

from ansible_collections.hotiron.virt.plugins.module_utils.recovery import state_ops as rs
from ansible_collections.hotiron.virt.plugins.module_utils.recovery.plan import VmRecord


def test_a_missing_file_is_an_empty_state(tmp_path):
    assert rs.load(str(tmp_path / "none.json")) == rs.empty()


def test_round_trip_keeps_records_and_definitions(tmp_path):
    path = str(tmp_path / "sub" / "recover.json")
    state = rs.empty()
    record = VmRecord("a", "hv1", uuid="u", state="running", reason="booted", ha=True, priority=5,
                      restart_limit=(2, 60), restarts=(1.0, 2.0), memory_mib=64, vcpus=2, shared=True, storage="ok")
    rs.set_remembered(state, {"a": record}, {"a": "<domain/>", "b": "<domain/>"})
    rs.save(path, state)
    loaded = rs.load(path)
    assert rs.remembered(loaded) == {"a": record}
    assert loaded["definitions"] == {"a": "<domain/>"}            # only for remembered VMs
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600            # VM definitions: not for everyone
    rs.set_remembered(loaded, {"a": record}, {})
    assert loaded["definitions"] == {"a": "<domain/>"}             # kept while the VM is remembered


@pytest.mark.parametrize("content, message", [("{not json", "cannot read the recovery state"),
                                              ('{"version": 99}', "is not a recovery state of this collection")])
def test_a_broken_file_is_refused(tmp_path, content, message):
    path = tmp_path / "recover.json"
    path.write_text(content)
    with pytest.raises(rs.StateError, match=message):
        rs.load(str(path))


def test_the_lock_serialises_passes_across_processes(tmp_path):
    path = str(tmp_path / "recover.json")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time\n"
        "h = open(sys.argv[1] + '.lock', 'a'); fcntl.flock(h, fcntl.LOCK_EX); print('held', flush=True)\n"
        "sys.stdin.readline()\n"), path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        clock = Clock()
        with pytest.raises(rs.StateError, match="another recovery pass of this group holds"):
            with rs.Lock(path, 2.0, clock=clock, sleep=clock.sleep):
                pass
        assert clock() >= 2.0
    finally:
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(10)
    with rs.Lock(path, 0):
        with open(path + ".lock", encoding="utf-8"):
            pass


def test_save_is_atomic(tmp_path):
    path = str(tmp_path / "recover.json")
    rs.save(path, rs.empty())
    assert json.loads(open(path, encoding="utf-8").read())["version"] == rs.VERSION
    assert [n for n in os.listdir(tmp_path) if n.startswith(".recover-")] == []
