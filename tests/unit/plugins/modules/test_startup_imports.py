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


# The model of a VM's definition: what vm_ops needs, and a run that writes no definition does not.
DEFINITION_MODEL = [PREFIX + "module_utils.vm." + name for name in
                    ("vm_ops", "spec", "vm_xml", "tuning", "tuning_xml", "cloud_init", "resolve_ops", "plan")]


@pytest.mark.parametrize("module, not_at_start", [
    ("modules.vm", [PREFIX + "module_utils.vm.clone_ops"] + DEFINITION_MODEL),
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

    from ansible_collections.hotiron.virt.plugins.modules import vm
    with open(vm.__file__, encoding="utf-8") as handle:
        assert "from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_ops" in handle.read()


RUN = """
import json, sys
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes
basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": json.loads(sys.argv[2])}))
basic._ANSIBLE_PROFILE = "legacy"
module = __import__(sys.argv[1], fromlist=["main"])
try:
    module.main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def imported_by_a_run(module, args):
    """The result of one run of ``module`` with ``args`` and what the run imported."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in [COLLECTIONS, os.environ.get("PYTHONPATH")] if p))
    proc = subprocess.run([sys.executable, "-c", RUN, PREFIX + module, json.dumps(args)], capture_output=True, text=True,
                          env=env, check=True)
    return json.loads(proc.stdout), set(json.loads(proc.stderr.strip().splitlines()[-1]))


def test_a_vm_run_that_writes_no_definition_imports_none_of_its_model():
    """Most items of a playbook's loops over vm start, stop or remove a VM: such a run loads the
    domain layer and the power rules only (vm.power_ops); a run that writes the definition loads
    the whole model."""
    host = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "vm", "host.xml"))
    result, loaded = imported_by_a_run("modules.vm", {"uri": host, "name": "web1", "state": "stopped", "force": True})
    assert result["changed"] and result["plan"] == ["stop vm web1"], result
    assert sorted(set(DEFINITION_MODEL) & loaded) == []
    result, loaded = imported_by_a_run("modules.vm", {"uri": host, "name": "web1", "state": "absent"})
    assert result["changed"] and result["plan"] == ["undefine vm web1", "force off vm web1"], result
    assert sorted(set(DEFINITION_MODEL) & loaded) == []
    result, loaded = imported_by_a_run("modules.vm", {"uri": host, "name": "web1", "state": "running", "memory": "640MiB"})
    assert result["changed"] and not result.get("failed"), result
    assert sorted(set(DEFINITION_MODEL) - loaded) == []
