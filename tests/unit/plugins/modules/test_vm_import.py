# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vm_import module (main()) against libvirt's test driver (tests/data/vm/host.xml): check mode,
argument validation, and bad input that must never reach the catch-all.  What the import does
is tested on appliance.import_ops in tests/unit/plugins/module_utils/appliance/test_import_ops.py."""

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ova_examples import MAP, build_ovas, repack  # tests/unit/ova_examples.py

from ansible_collections.hotiron.virt.plugins.module_utils.appliance import archive_ops as archive
from ansible_collections.hotiron.virt.plugins.modules import vm_import

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "vm", "host.xml"))


@pytest.fixture(scope="module")
def ovas(tmp_path_factory):
    return build_ovas(tmp_path_factory.mktemp("ovas"))


def run_module(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            vm_import.main()
    return json.loads(capsys.readouterr().out)


def test_module_check_mode(capsys, ovas):
    out = run_module({"uri": HOST, "src": ovas["vmware"], "pool": "local", "network_map": MAP,
                      "_ansible_check_mode": True, "_ansible_diff": True}, capsys)
    assert out["changed"] and out["plan"][-1] == "define vm app1" and "diff" in out
    assert out["vm"] is None


@pytest.mark.parametrize("args, message", [
    ({"vcpus": 0}, "vcpus: must be at least 1"), ({"network_map": {"x": ["a"]}}, "network_map: the value for 'x'"),
    ({"memory": "lots"}, "memory: expected a size"), ({"src": "relative.ova"}, "src: 'relative.ova' is not an absolute"),
    ({"disk_bus": "floppy"}, "disk_bus must be one of"),
])
def test_module_bad_input(capsys, ovas, args, message):
    base = {"uri": HOST, "src": ovas["vmware"], "pool": "local", "network_map": MAP}
    out = run_module(dict(base, **args), capsys)
    assert out["failed"] and message in out["msg"], out["msg"]


# --- no message from the catch-all ------------------------------------------------------------


def huge_memory_ova(ovas, tmp_path):
    text = archive.open_package(ovas["vmware"]).read("app1.ovf", 10 ** 6).decode()
    text = text.replace("<rasd:VirtualQuantity>32</rasd:VirtualQuantity>", "<rasd:VirtualQuantity>%d</rasd:VirtualQuantity>"
                        % (2 ** 62))
    return repack(ovas["vmware"], str(tmp_path / "huge.ova"), drop=("app1.mf",), replace={"app1.ovf": text.encode()})


def odd_digits_ova(ovas, tmp_path):
    text = archive.open_package(ovas["vmware"]).read("app1.ovf", 10 ** 6).decode()
    text = text.replace("<rasd:Address>0</rasd:Address>", "<rasd:Address>\u00b2</rasd:Address>")
    text = text.replace('ovf:id="101"', 'ovf:id="\u00b9"')
    return repack(ovas["vmware"], str(tmp_path / "odd.ova"), drop=("app1.mf",), replace={"app1.ovf": text.encode()})


BAD_IMPORTS = [
    ({"vcpus": 0}, "vcpus: must be at least 1"), ({"vcpus": -3}, "vcpus: must be at least 1"),
    ({"memory": "0"}, "memory"), ({"memory": "-1GiB"}, "memory"), ({"memory": "1e400"}, "memory"),
    ({"memory": "9999999999TiB"}, ""), ({"vcpus": 10 ** 12}, ""),
    ({"name": "bad/name"}, "name"), ({"name": ""}, ""), ({"name": "x" * 300}, ""),
    ({"pool": ""}, "pool"), ({"system": "nosuch"}, "no virtual system 'nosuch'"),
    ({"configuration": "nosuch"}, "no deployment configuration 'nosuch'"),
    ({"xml": "<domain><devices>"}, "xml"), ({"xml": "<notdomain/>"}, ""), ({"xml": "plain text"}, ""),
    ({"network_map": {"VM Network": "nosuch", "Backend": None}}, "nosuch"),
    ({"network_map": {"VM Network": 5}}, "network_map"), ({"src": "/nonexistent/x.ova"}, "does not exist"),
    ({"src": "/"}, "not a file"), ({"src": "/dev/null"}, "not a file"),
    ({"description": "\x00"}, ""), ({"tags": ["a\nb"]}, ""), ({"owner": "x" * 5000}, ""),
    ({"interfaces": [{"network": None, "bridge": None}], "network_map": None}, ""),
    ({"interfaces": [{"network": "lan", "mac": "zz:zz"}], "network_map": None}, ""),
    ({"default_network": ""}, ""), ({"name": "a\x00b"}, "name: holds a character XML and libvirt cannot carry"),
    ({"network_map": {"VM Network": "a\x00", "Backend": None}}, "network_map.VM Network: holds a character"),
    ({"description": "\x00"}, "description: holds a character XML and libvirt cannot carry"),
    ({"src": "/tmp/\x00.ova"}, ""), ({"src_format": "vhdx"}, "is VHDX by src_format, but it is no disk image"),
]


def run_import_module(capsys, args):
    base = {"uri": HOST, "pool": "local", "network_map": MAP}
    return run_module(dict(base, **args), capsys)


def refused_by_syslog(args, msg):
    """On Python 3.12+ ``syslog.syslog`` refuses a NUL: AnsibleModule then fails on logging its
    invocation, before the module's own checks (a clean failure all the same)."""
    return "\\u0000" in json.dumps(args) and "Failed to log to syslog (embedded null character)" in msg


@pytest.mark.parametrize("args, message", BAD_IMPORTS)
def test_bad_input_never_reaches_the_catch_all(capsys, ovas, args, message):
    out = run_import_module(capsys, dict({"src": ovas["vmware"]}, **args))
    assert out.get("failed"), out
    assert "Unexpected error" not in out["msg"], (out["msg"], out.get("exception"))
    assert message in out["msg"] or refused_by_syslog(args, out["msg"]), (out["msg"], out.get("exception"))


@pytest.mark.parametrize("make", [huge_memory_ova, odd_digits_ova])
def test_odd_descriptors_never_reach_the_catch_all(capsys, ovas, tmp_path, make):
    out = run_import_module(capsys, {"src": make(ovas, tmp_path), "_ansible_check_mode": True})
    assert "Unexpected error" not in out.get("msg", ""), out["msg"]


@pytest.mark.parametrize("check", [True, False])
def test_a_missing_default_network_is_named_as_the_user_gave_it(capsys, ovas, check):
    out = run_module({"uri": HOST, "src": ovas["vmware"], "pool": "local", "default_network": "nonet",
                      "_ansible_check_mode": check}, capsys)
    assert out["failed"] and out["msg"].startswith("default_network: no network called 'nonet'"), out["msg"]
    assert "interfaces[" not in out["msg"]
