# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the lab's failures (tests/lab/failures.py) read about processes.  Hanging and killing a
real host's libvirtd is tests/integration/test_lab_fencing.py's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lab"))

import failures  # noqa: E402
import lab as labmod  # noqa: E402


def test_process_state_of_a_stopped_and_a_continued_process():
    # A process of this test's own, signalled by its pid.
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                            stdin=subprocess.PIPE)
    try:
        assert failures.process_state(proc.pid) in ("S", "R")
        os.kill(proc.pid, signal.SIGSTOP)
        labmod.wait_for("the process to stop", lambda: failures.process_state(proc.pid) == "T", 10)
        os.kill(proc.pid, signal.SIGCONT)
        labmod.wait_for("the process to continue",
                        lambda: failures.process_state(proc.pid) in ("S", "R"), 10)
        proc.kill()
        labmod.wait_for("a zombie", lambda: failures.process_state(proc.pid) == "Z", 10)
    finally:
        proc.kill()
        proc.wait()
    assert failures.process_state(proc.pid) is None


def test_process_state_survives_parentheses_in_the_command_name(tmp_path):
    # /proc/<pid>/stat is "pid (comm) state ...", and comm may hold ") " itself.
    odd = tmp_path / "a) R (b"
    os.symlink(sys.executable, odd)
    proc = subprocess.Popen([str(odd), "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        os.kill(proc.pid, signal.SIGSTOP)
        labmod.wait_for("the process to stop", lambda: failures.process_state(proc.pid) == "T", 10)
    finally:
        proc.kill()
        proc.wait()


def test_libvirtd_of_a_host_that_is_down(tmp_path, monkeypatch):
    monkeypatch.setattr(labmod, "ROOT_DIR", str(tmp_path))
    lab = labmod.Lab(3)
    os.makedirs(lab.state_dir)
    with open(lab.state_file, "w", encoding="utf-8") as handle:
        json.dump({"hosts": 1, "virt_type": "qemu"}, handle)
    host = lab.host("hv1")
    assert failures.libvirtd_state(host) is None
    for action in (failures.libvirtd_pid, failures.hang, failures.unhang,
                   failures.kill_libvirtd, failures.restart_libvirtd):
        with pytest.raises(labmod.LabError, match="hv1 is not running"):
            action(host)
