# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vm_migrate module (main()): its argument handling against libvirt's test driver.  What it
decides is tested on migration.migrate_ops, args, disks_ops and preflight_ops under
tests/unit/plugins/module_utils/migration/."""

from __future__ import annotations

import json

import pytest

from migration_examples import two_hosts  # tests/unit/migration_examples.py

from ansible_collections.hotiron.virt.plugins.modules import vm_migrate


@pytest.fixture
def hosts(tmp_path):
    """web1 running on the destination only; db1 on the source only; both1 running on both."""
    return two_hosts(tmp_path)


def test_module_arguments(monkeypatch, capsys, hosts):
    src, dest = hosts
    monkeypatch.setattr("sys.argv", ["vm_migrate"])
    args = {"ANSIBLE_MODULE_ARGS": {"uri": src, "name": "web1", "dest_uri": dest, "dest": "hv2",
                                    "hosts": {"hv2": dest}}}
    monkeypatch.setattr("ansible.module_utils.basic._ANSIBLE_ARGS", json.dumps(args).encode())
    monkeypatch.setattr("ansible.module_utils.basic._ANSIBLE_PROFILE", "legacy", raising=False)
    with pytest.raises(SystemExit):
        vm_migrate.main()
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] and "mutually exclusive" in out["msg"]

    args["ANSIBLE_MODULE_ARGS"].pop("dest")
    monkeypatch.setattr("ansible.module_utils.basic._ANSIBLE_ARGS", json.dumps(args).encode())
    with pytest.raises(SystemExit):
        vm_migrate.main()
    out = json.loads(capsys.readouterr().out)
    assert out["changed"] is False and out["msg"] == "vm web1 is already on %s" % dest
