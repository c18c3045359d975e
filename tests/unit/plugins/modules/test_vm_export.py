# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vm_export module (main()) against libvirt's test driver: check mode and bad input that must
never reach the catch-all.  What the export writes is tested on appliance.export_ops in
tests/unit/plugins/module_utils/appliance/test_export_ops.py."""

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args


from ansible_collections.hotiron.virt.plugins.modules import vm_export

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "vm", "host.xml"))


def test_module_check_mode(capsys, tmp_path):
    with patch_module_args({"uri": HOST, "name": "nosuch", "dest": str(tmp_path), "_ansible_check_mode": True}):
        with pytest.raises(SystemExit):
            vm_export.main()
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] and "no vm called 'nosuch'" in out["msg"]


def refused_by_syslog(args, msg):
    """On Python 3.12+ ``syslog.syslog`` refuses a NUL: AnsibleModule then fails on logging its
    invocation, before the module's own checks (a clean failure all the same)."""
    return "\\u0000" in json.dumps(args) and "Failed to log to syslog (embedded null character)" in msg


@pytest.mark.parametrize("args, message", [
    ({"name": "nosuch"}, "no vm called 'nosuch'"), ({"name": ""}, ""), ({"name": "a\x00b"}, "name: holds a character XML and libvirt cannot carry"),
    ({"dest": "relative/x.ova"}, "not an absolute path"), ({"dest": "/nonexistent/dir/x.ova"}, "does not exist"),
    ({"dest": "/tmp/\x00/x.ova"}, ""), ({"format": "vhd", "dest": "/nonexistent"}, "dest is the directory"),
    ({"timeout": 0}, "timeout: must be from 1"), ({"live": True, "timeout": 0.5}, "timeout"),
    ({"format": "floppy"}, "format must be one of"),
])
def test_bad_input_never_reaches_the_catch_all(capsys, tmp_path, args, message):
    base = {"uri": HOST, "name": "web1", "dest": str(tmp_path / "x.ova")}      # the module's own test:/// host
    with patch_module_args(dict(base, **args)):
        with pytest.raises(SystemExit):
            vm_export.main()
    out = json.loads(capsys.readouterr().out)
    assert out.get("failed") and "Unexpected error" not in out["msg"], out["msg"]
    assert message in out["msg"] or refused_by_syslog(args, out["msg"]), out["msg"]
