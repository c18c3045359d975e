# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""recovery.owner_ops: a process known by its pid and start time, read from /proc (this test's
own process) and from a /proc written by the test (names with spaces and parentheses, a reused pid)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.recovery import owner_ops


def write_stat(proc, pid, comm, ticks):
    """A /proc/<pid>/stat as Linux writes it: field 22 is the start time."""
    fields = ["S", "1", str(pid), str(pid), "0", "-1", "4194560"] + ["0"] * 12 + [str(ticks), "1000", "50"]
    (proc / str(pid)).mkdir(parents=True, exist_ok=True)
    (proc / str(pid) / "stat").write_text("%d (%s) %s\n" % (pid, comm, " ".join(fields)), encoding="utf-8")


def test_this_process_runs_with_its_start_time():
    ticks = owner_ops.start_ticks(os.getpid())
    assert isinstance(ticks, int) and ticks >= 0
    assert owner_ops.start_ticks(str(os.getpid())) == ticks
    assert owner_ops.gone(os.getpid()) is None
    assert owner_ops.gone(os.getpid(), ticks) is None
    assert owner_ops.gone(os.getpid(), str(ticks)) is None   # as a playbook passes it


def test_a_pid_now_of_another_process_counts_as_ended():
    ticks = owner_ops.start_ticks(os.getpid())
    assert owner_ops.gone(os.getpid(), ticks + 1) == "process %d has ended (its pid now belongs to another process)" % os.getpid()


@pytest.mark.parametrize("comm", ["ansible-rulebook", "a b", "x) S 1 2 (y", ")"])
def test_the_start_time_is_read_after_the_process_name_whatever_it_holds(tmp_path, comm):
    write_stat(tmp_path, 4321, comm, 987654)
    assert owner_ops.start_ticks(4321, proc=str(tmp_path)) == 987654
    assert owner_ops.gone(4321, 987654, proc=str(tmp_path)) is None


@pytest.mark.parametrize("pid", [4321, "nope", -1])
def test_a_process_not_there_has_ended(tmp_path, pid):
    write_stat(tmp_path, 1, "init", 5)
    assert owner_ops.start_ticks(pid, proc=str(tmp_path)) is None
    assert owner_ops.gone(pid, proc=str(tmp_path)) == "process %s has ended" % pid


def test_an_unreadable_stat_counts_as_ended(tmp_path):
    (tmp_path / "77").mkdir()
    (tmp_path / "77" / "stat").write_text("77 (short) S 1\n", encoding="utf-8")
    assert owner_ops.start_ticks(77, proc=str(tmp_path)) is None
    (tmp_path / "77" / "stat").write_text("garbage without a parenthesis", encoding="utf-8")
    assert owner_ops.gone(77, proc=str(tmp_path)) == "process 77 has ended"
