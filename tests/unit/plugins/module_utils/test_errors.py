# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every pure error of the collection is an errors.InputError (read from the source: a class named
``*Error`` in a file that does no I/O), and one that escapes to a module is its refusal, not a crash."""

from __future__ import annotations

import ast
import json
import os

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.hotiron.virt.plugins.module_utils import errors, module_base

MODULE_UTILS = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "module_utils"))
# Files that talk to hosts, files, BMCs or Prometheus raise errors of I/O, not of input.
IO_FILES = ("_ops.py", "libvirt_common.py", "files.py", "module_base.py", "errors.py")


def pure_error_classes():
    for base, _dirs, names in os.walk(MODULE_UTILS):
        for name in names:
            if not name.endswith(".py") or name.endswith(IO_FILES):
                continue
            path = os.path.join(base, name)
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read())
            for node in tree.body:
                if isinstance(node, ast.ClassDef) and node.name.endswith("Error"):
                    yield os.path.relpath(path, MODULE_UTILS), node.name, [ast.unparse(b) for b in node.bases]


def test_there_are_pure_errors_to_check():
    assert len(list(pure_error_classes())) >= 15


@pytest.mark.parametrize("where, name, bases", list(pure_error_classes()))
def test_every_pure_error_is_an_input_error(where, name, bases):
    assert bases in (["errors.InputError"], ["InputError"]), "%s: %s(%s)" % (where, name, ", ".join(bases))


def test_an_input_error_that_escapes_is_the_task_s_refusal(capsys, monkeypatch):
    args = {"_ansible_remote_tmp": "/tmp", "_ansible_keep_remote_files": False}
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args})))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
    module = basic.AnsibleModule(argument_spec=module_base.connection_argument_spec(), supports_check_mode=True)

    def refuse(_module):
        raise errors.InputError("disks[0].size: must be greater than zero, got '0'")

    with pytest.raises(SystemExit):
        module_base.run_module(module, refuse)
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] and out["msg"] == "disks[0].size: must be greater than zero, got '0'"
    assert "exception" not in out
