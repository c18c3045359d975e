# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt's configuration files written by hosts.libvirt_conf_ops, on real files: planned (all of a
task before the first is written), written atomically with their mode, the result and the diff."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.hosts import libvirt_conf_ops as ops
from ansible_collections.hotiron.virt.plugins.module_utils.libvirt_common import VirtError

OLD = "# libvirtd.conf\nlisten_tls = 0\n"


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "libvirtd.conf"
    path.write_text(OLD)
    os.chmod(path, 0o640)
    return tmp_path


def one(path, settings, mode="0644"):
    return {"files": None, "path": str(path), "settings": settings, "mode": mode}


def test_plan_reads_the_file_and_changes_only_the_keys_set(conf):
    item = ops.plan(str(conf / "libvirtd.conf"), {"listen_tls": 0, "listen_tcp": True}, "0644")
    assert (item["exists"], item["old"], item["keys"], item["mode"]) == (True, OLD, ["listen_tcp"], "0644")
    assert item["new"] == OLD + "listen_tcp = 1\n"
    new = ops.plan(str(conf / "qemu.conf"), {"user": "qemu"}, "0600")
    assert (new["exists"], new["old"], new["new"]) == (False, "", 'user = "qemu"\n')


def test_a_new_file_gets_its_mode_and_an_existing_one_keeps_its_own(conf):
    qemu = conf / "qemu.conf"
    ops.write(ops.plan(str(qemu), {"user": "qemu"}, "0600"))
    assert stat.S_IMODE(os.stat(qemu).st_mode) == 0o600 and qemu.read_text() == 'user = "qemu"\n'
    ops.write(ops.plan(str(conf / "libvirtd.conf"), {"listen_tcp": 1}, "0644"))
    assert stat.S_IMODE(os.stat(conf / "libvirtd.conf").st_mode) == 0o640
    assert sorted(os.listdir(conf)) == ["libvirtd.conf", "qemu.conf"]          # no temporary file left


def test_ensure_one_file_then_unchanged_with_its_diff(conf):
    path = conf / "libvirtd.conf"
    result = ops.ensure(one(path, {"listen_tcp": True, "auth_tcp": "none"}), check_mode=False)
    assert result["changed"] is True and result["keys_changed"] == ["auth_tcp", "listen_tcp"] and "files" not in result
    assert result["diff"] == {"before": OLD, "after": path.read_text(), "before_header": str(path), "after_header": str(path)}
    again = ops.ensure(one(path, {"listen_tcp": True, "auth_tcp": "none"}), check_mode=False)
    assert again == {"changed": False, "keys_changed": []}


def test_check_mode_plans_every_file_and_writes_none(conf):
    libvirtd, qemu = conf / "libvirtd.conf", conf / "qemu.conf"
    params = {"files": [{"path": str(libvirtd), "settings": {"listen_tcp": True}, "mode": "0644"},
                        {"path": str(qemu), "settings": {"user": "qemu"}, "mode": "0600"}]}
    result = ops.ensure(params, check_mode=True)
    assert result["changed"] is True and result["keys_changed"] == ["listen_tcp", "user"]
    assert result["files"] == [{"path": str(libvirtd), "changed": True, "keys_changed": ["listen_tcp"]},
                               {"path": str(qemu), "changed": True, "keys_changed": ["user"]}]
    assert [d["after_header"] for d in result["diff"]] == [str(libvirtd), str(qemu)]
    assert libvirtd.read_text() == OLD and not qemu.exists()


@pytest.mark.parametrize("spec, many, message", [
    ({"mode": "rw"}, True, "files[0].mode: 'rw' is not an octal file mode such as '0644'"),
    ({"mode": "9"}, False, "mode: '9' is not an octal file mode"),
    ({"settings": {"bad key": 1}}, True, "files[0].settings: "),
    ({"path": "{dir}"}, False, "path: cannot write {dir}: it is a directory"),
    ({"path": "{dir}/no/qemu.conf"}, True, "files[0].path: cannot write {dir}/no/qemu.conf: its directory {dir}/no does not exist"),
])
def test_a_bad_entry_is_named_and_nothing_is_planned(conf, spec, many, message):
    spec = dict({"path": str(conf / "qemu.conf"), "settings": {"user": "qemu"}, "mode": "0644"}, **spec)
    spec["path"] = spec["path"].format(dir=conf)
    with pytest.raises(VirtError) as raised:
        ops.plan_all([spec], many)
    assert str(raised.value).startswith(message.format(dir=conf)), str(raised.value)


def test_a_bad_second_file_writes_no_first_file(conf):
    params = {"files": [{"path": str(conf / "libvirtd.conf"), "settings": {"listen_tcp": 1}, "mode": "0644"},
                        {"path": str(conf / "qemu.conf"), "settings": {"user": {"a": 1}}, "mode": "0600"}]}
    with pytest.raises(VirtError, match=r"^files\[1\]\.settings: user: "):
        ops.ensure(params, check_mode=False)
    assert (conf / "libvirtd.conf").read_text() == OLD and not (conf / "qemu.conf").exists()


def test_a_file_that_is_not_text_is_named_as_the_path(conf):
    (conf / "bin.conf").write_bytes(b"\xff\xfe not utf-8\n")
    with pytest.raises(VirtError, match="^path: cannot read %s" % conf):
        ops.plan_all([{"path": str(conf / "bin.conf"), "settings": {"a": 1}, "mode": "0644"}], False)


def test_check_mode_plans_a_file_whose_directory_a_package_makes_later(tmp_path):
    """A fresh host in check mode: /etc/libvirt does not exist yet (the packages are not installed
    by a check run either), so the file is planned as new; the real run refuses it."""
    path = str(tmp_path / "etc-libvirt" / "libvirtd.conf")
    params = {"files": None, "path": path, "settings": {"listen_tls": 0}, "mode": "0644"}
    planned = ops.ensure(params, check_mode=True)
    assert planned["changed"] and planned["diff"]["before"] == "" and "listen_tls = 0" in planned["diff"]["after"]
    with pytest.raises(VirtError, match="^path: cannot write .*: its directory .* does not exist"):
        ops.ensure(params, check_mode=False)
