# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a module imports when it starts: an Ansible module compiles every file it imports from
source at each run (AnsiballZ payloads carry no bytecode), so code a run may not need is
imported where it is used.  Each check runs in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import errors

# The folder holding ansible_collections/hotiron/virt, as this test process found it.
COLLECTIONS = errors.__file__[:errors.__file__.rindex(os.sep + "ansible_collections" + os.sep)]
PREFIX = "ansible_collections.hotiron.virt.plugins."


def imported_by(module):
    code = ("import json, sys; import %s%s; print(json.dumps(sorted(sys.modules)))" % (PREFIX, module))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in [COLLECTIONS, os.environ.get("PYTHONPATH")] if p))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return set(json.loads(proc.stdout))


@pytest.mark.parametrize("module, not_at_start", [
    ("modules.vm", [PREFIX + "module_utils.vm.clone_ops"]),
    ("modules.vms", [PREFIX + "module_utils.vm.clone_ops"]),
    ("modules.rebalance", ["ansible.module_utils.urls", "ssl"]),
    ("modules.group_stats", ["ansible.module_utils.urls", "ssl"]),
])
def test_not_imported_at_start(module, not_at_start):
    loaded = imported_by(module)
    assert PREFIX + module in loaded
    assert sorted(set(not_at_start) & loaded) == []


def test_clone_ops_still_in_the_payload():
    # Ansible finds a module's module_utils by reading its imports, those inside functions too:
    # the lazily imported clone_ops must still be named in vm_ops's source.
    from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_ops
    with open(vm_ops.__file__, encoding="utf-8") as handle:
        assert "from ansible_collections.hotiron.virt.plugins.module_utils.vm import clone_ops" in handle.read()
