# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-rulebook run for real against the lab, with one of the collection's rulebooks."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@contextlib.contextmanager
def rulebook(lab, workdir, name, inventory_vars, rulebook_vars, edit_inventory=None):
    """ansible-rulebook running the collection's rulebook ``name`` (its FQCN) with the lab's
    inventory plus ``inventory_vars`` (for the playbooks it runs) and an explicit localhost, and
    ``rulebook_vars`` (``--vars``); stopped by its pid.  Its output goes to ``workdir/rulebook.log``.
    ``edit_inventory``, when given, changes the inventory (a dict) in place before it is written."""
    with open(lab.inventory_path, encoding="utf-8") as handle:
        inventory = yaml.safe_load(handle)
    inventory["all"]["vars"] = dict(inventory_vars)
    inventory["all"].setdefault("hosts", {})["localhost"] = {"ansible_connection": "local",
                                                             "ansible_python_interpreter": sys.executable}
    if edit_inventory is not None:
        edit_inventory(inventory)
    with open(os.path.join(workdir, "inventory.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(inventory, handle)
    with open(os.path.join(workdir, "vars.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(rulebook_vars, handle)
    # unbuffered: what the rulebook prints (its debug actions) reaches the log as it happens
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"], PYTHONUNBUFFERED="1")
    collections = env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, "build", "collections"))
    # The event sources import the collection's code by its full name, as EDA loads a collection's
    # code; ansible-rulebook runs a source by its path and adds nothing to Python's path: the
    # collections path goes on PYTHONPATH, as the README says.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (collections, os.environ.get("PYTHONPATH")) if p)
    with open(os.path.join(workdir, "rulebook.log"), "w", encoding="utf-8") as log:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [os.path.join(os.path.dirname(sys.executable), "ansible-rulebook"), "-i", os.path.join(workdir, "inventory.yml"),
             "--rulebook", name, "--vars", os.path.join(workdir, "vars.yml")],
            cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield proc
        finally:
            stop_group(proc)


def _stat(pid):
    """``(parent pid, start time)`` of a process from /proc, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[19]


def descendants(root):
    """``{pid: start time}`` of every process below ``root`` now."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat:
                parents[int(entry)] = stat
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, started) in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = started
                frontier.append(pid)
    return found


def stop_group(proc):
    """Stop ``proc`` and every process it started: SIGINT to its process group first, as an
    operator's Ctrl-C; then SIGKILL to whatever of its process tree (as listed before the stop,
    each checked by its start time) is left, such as a playbook the rulebook had started in a
    session of its own, which would otherwise run on and act on the lab after the test."""
    tree = descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    tree.update(descendants(proc.pid) if proc.poll() is None else {})
    for pid, started in tree.items():
        stat = _stat(pid)
        if stat and stat[1] == started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
