# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The libvirt_conf module on real files in a temporary directory: one file or several."""

from __future__ import annotations

import json
import os
import stat

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hotiron.virt.plugins.modules import libvirt_conf

LIBVIRTD = "# libvirtd.conf\n#listen_tcp = 1\nlog_level = 3\n"


def run(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            libvirt_conf.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "libvirtd.conf"
    path.write_text(LIBVIRTD)
    os.chmod(path, 0o640)
    return tmp_path


def test_one_file_set_then_unchanged(conf, capsys):
    path = str(conf / "libvirtd.conf")
    out = run({"path": path, "settings": {"listen_tcp": True, "auth_tcp": "none"}}, capsys)
    assert out["changed"] and out["keys_changed"] == ["auth_tcp", "listen_tcp"] and "files" not in out
    assert open(path).read() == LIBVIRTD + "auth_tcp = \"none\"\nlisten_tcp = 1\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640          # an existing file keeps its mode
    again = run({"path": path, "settings": {"listen_tcp": True, "auth_tcp": "none"}}, capsys)
    assert not again["changed"] and again["keys_changed"] == []


def test_several_files_in_one_task(conf, capsys):
    libvirtd, qemu = str(conf / "libvirtd.conf"), str(conf / "qemu.conf")
    files = [{"path": libvirtd, "settings": {"log_level": 3}},
             {"path": qemu, "settings": {"migration_port_min": 49152}, "mode": "0600"}]
    out = run({"files": files, "_ansible_diff": True}, capsys)
    assert out["changed"] and out["keys_changed"] == ["migration_port_min"]
    assert out["files"] == [{"path": libvirtd, "changed": False, "keys_changed": []},
                            {"path": qemu, "changed": True, "keys_changed": ["migration_port_min"]}]
    assert [d["after_header"] for d in out["diff"]] == [qemu]
    assert open(qemu).read() == "migration_port_min = 49152\n"
    assert stat.S_IMODE(os.stat(qemu).st_mode) == 0o600           # a new file gets its mode
    assert open(libvirtd).read() == LIBVIRTD
    assert not run({"files": files}, capsys)["changed"]


def test_a_bad_setting_in_one_file_writes_no_file(conf, capsys):
    libvirtd, qemu = str(conf / "libvirtd.conf"), str(conf / "qemu.conf")
    out = run({"files": [{"path": libvirtd, "settings": {"listen_tcp": True}},
                         {"path": qemu, "settings": {"bad key": 1}}]}, capsys)
    assert out["failed"] and out["msg"].startswith("files[1].settings: ")
    assert open(libvirtd).read() == LIBVIRTD and not os.path.exists(qemu)


def test_check_mode_writes_nothing(conf, capsys):
    libvirtd, qemu = str(conf / "libvirtd.conf"), str(conf / "qemu.conf")
    out = run({"files": [{"path": libvirtd, "settings": {"listen_tcp": True}},
                         {"path": qemu, "settings": {"user": "qemu"}}], "_ansible_check_mode": True}, capsys)
    assert out["changed"] and out["keys_changed"] == ["listen_tcp", "user"]
    assert open(libvirtd).read() == LIBVIRTD and not os.path.exists(qemu)


@pytest.mark.parametrize("args,message", [
    ({"files": [{"path": "/x", "settings": {}, "mode": "rw"}]}, "files[0].mode: 'rw' is not an octal file mode"),
    ({"path": "/x", "settings": {}, "mode": "9"}, "mode: '9' is not an octal file mode"),
    ({"path": "/x"}, "parameters are required together: path, settings"),
    ({}, "one of the following is required: files, path"),
    ({"settings": {"a": 1}}, "parameters are required together: path, settings"),
    ({"path": "/x", "settings": {}, "files": []}, "parameters are mutually exclusive: files|path"),
    ({"files": [{"path": "/x"}]}, "missing required arguments: settings found in files"),
])
def test_bad_input_names_the_option(args, message, capsys):
    out = run(args, capsys)
    assert out["failed"] and message in out["msg"], out["msg"]


@pytest.mark.parametrize("value, message", [
    ({"a": 1}, "settings: max_clients: dict {'a': 1} is not a libvirt configuration value"),
    ([{"a": 1}], "settings: max_clients[0]: {'a': 1} is not a string"),
    ([1, 2], "settings: max_clients[0]: 1 is not a string"),
    (1.5, "settings: max_clients: float 1.5 is not a libvirt configuration value"),
    ('say "hi"', "settings: max_clients: 'say \"hi\"' cannot be written as a libvirt string"),
])
def test_values_libvirt_cannot_hold_are_refused_and_nothing_is_written(conf, capsys, value, message):
    libvirtd, qemu = str(conf / "libvirtd.conf"), str(conf / "qemu.conf")
    out = run({"files": [{"path": qemu, "settings": {"user": "qemu"}},
                         {"path": libvirtd, "settings": {"listen_tcp": True, "max_clients": value}}]}, capsys)
    assert out["failed"] and out["msg"].startswith("files[1]." + message), out["msg"]
    assert open(libvirtd).read() == LIBVIRTD and not os.path.exists(qemu)


def test_lists_of_strings_and_null_are_accepted(conf, capsys):
    libvirtd = str(conf / "libvirtd.conf")
    out = run({"path": libvirtd, "settings": {"cgroup_controllers": ["cpu", "cpuacct"], "listen_addr": None}}, capsys)
    assert not out.get("failed") and 'cgroup_controllers = [ "cpu", "cpuacct" ]' in open(libvirtd).read()
