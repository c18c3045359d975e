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
def rulebook(lab, workdir, name, inventory_vars, rulebook_vars):
    """ansible-rulebook running the collection's rulebook ``name`` (its FQCN) with the lab's
    inventory plus ``inventory_vars`` (for the playbooks it runs) and an explicit localhost, and
    ``rulebook_vars`` (``--vars``); stopped by its pid.  Its output goes to ``workdir/rulebook.log``."""
    with open(lab.inventory_path, encoding="utf-8") as handle:
        inventory = yaml.safe_load(handle)
    inventory["all"]["vars"] = dict(inventory_vars)
    inventory["all"].setdefault("hosts", {})["localhost"] = {"ansible_connection": "local",
                                                             "ansible_python_interpreter": sys.executable}
    with open(os.path.join(workdir, "inventory.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(inventory, handle)
    with open(os.path.join(workdir, "vars.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(rulebook_vars, handle)
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, "build", "collections"))
    with open(os.path.join(workdir, "rulebook.log"), "w", encoding="utf-8") as log:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [os.path.join(os.path.dirname(sys.executable), "ansible-rulebook"), "-i", os.path.join(workdir, "inventory.yml"),
             "--rulebook", name, "--vars", os.path.join(workdir, "vars.yml")],
            cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
