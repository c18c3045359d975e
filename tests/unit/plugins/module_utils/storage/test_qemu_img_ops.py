# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one qemu-img wrapper: command lines, errors, and the real qemu-img on small images."""

from __future__ import annotations

import os
import socket

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.storage import qemu_img_ops as qemu_img

MIB = 1024 * 1024


def raw_image(path, size=MIB, data=b""):
    with open(path, "wb") as handle:
        handle.write(data)
        handle.truncate(size)
    return str(path)


def test_failures_carry_qemu_img_message_on_one_line(tmp_path):
    with pytest.raises(qemu_img.ImageError, match="^Failed to read it: .*No such file[^\n]*$"):
        qemu_img.info(str(tmp_path / "absent.vmdk"), "read it")


def test_a_missing_qemu_img_is_named_with_its_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(qemu_img, "FALLBACKS", ())
    with pytest.raises(qemu_img.ImageError, match="qemu-img is not installed on this host: install qemu-utils"):
        qemu_img.require()
    with pytest.raises(qemu_img.ImageError, match="not installed"):
        qemu_img.run(qemu_img.command("--version"), "ask its version")


def test_a_minimal_path_still_finds_qemu_img_where_debian_puts_it(tmp_path, monkeypatch):
    if not os.path.exists("/usr/bin/qemu-img"):
        pytest.skip("qemu-img is not in /usr/bin here")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert qemu_img.binary() == "/usr/bin/qemu-img"


def test_only_qemu_img_command_lines_are_run():
    with pytest.raises(ValueError):
        qemu_img.run(["sh", "-c", "true"], "run a shell")


def test_no_json_is_an_image_error(monkeypatch):
    monkeypatch.setattr(qemu_img, "run", lambda cmd, what: "not json")
    with pytest.raises(qemu_img.ImageError, match="Failed to read x: qemu-img printed no JSON"):
        qemu_img.info("x", "read x")


@pytest.mark.parametrize("kwargs, expected", [
    ({}, ["info", "--output=json", "s"]),
    ({"shared": True}, ["info", "-U", "--output=json", "s"]),
    ({"chain": True, "shared": True}, ["info", "-U", "--output=json", "--backing-chain", "s"]),
])
def test_info_command(kwargs, expected):
    assert qemu_img.info_command("s", **kwargs) == ["qemu-img"] + expected


@pytest.mark.parametrize("kwargs, expected", [
    ({"source_format": "raw", "quiet": True}, ["-q", "-f", "raw", "-O", "qcow2"]),
    ({"existing": True, "target_is_zero": True}, ["-n", "--target-is-zero", "-O", "qcow2"]),
    ({"source_format": "qcow2", "options": "subformat=fixed"}, ["-f", "qcow2", "-O", "qcow2", "-o", "subformat=fixed"]),
])
def test_convert_command(kwargs, expected):
    assert qemu_img.convert_command("/s", "/t", "qcow2", **kwargs) == ["qemu-img", "convert"] + expected + ["/s", "/t"]


def test_overlay_commit_rebase_check_and_written(tmp_path):
    base = raw_image(tmp_path / "base.raw")
    top = str(tmp_path / "top.qcow2")
    qemu_img.create_overlay(top, base, "raw")
    with pytest.raises(qemu_img.ImageError, match="the file exists"):
        qemu_img.create_overlay(top, base, "raw")
    assert qemu_img.info(top, shared=True)["backing-filename"] == base
    assert len(qemu_img.info(top, chain=True)) == 2
    assert not qemu_img.written(top)
    qemu_img.check(top)
    copy = str(tmp_path / "copy.qcow2")
    qemu_img.convert(top, "qcow2", copy)
    assert qemu_img.info(copy)["format"] == "qcow2" and "backing-filename" not in qemu_img.info(copy)
    with pytest.raises(qemu_img.ImageError, match="Failed to copy .* exists"):
        qemu_img.convert(top, "qcow2", copy)
    mid = str(tmp_path / "mid.qcow2")
    qemu_img.create_overlay(mid, copy, "qcow2")
    qemu_img.rebase_unsafe(top, mid, "qcow2")
    assert qemu_img.info(top)["backing-filename"] == mid
    qemu_img.commit(top, copy)
    with pytest.raises(qemu_img.ImageError, match="Failed to check image"):
        qemu_img.check(raw_image(tmp_path / "junk.qcow2", data=b"QFI\xfb" + b"\xff" * 100))


def test_remove_bitmaps_drops_only_those_present(tmp_path):
    path = str(tmp_path / "b.qcow2")
    qemu_img.run(qemu_img.command("create", "-q", "-f", "qcow2", path, "1M"), "create")
    qemu_img.run(qemu_img.command("bitmap", "--add", path, "cp1"), "add a bitmap")
    qemu_img.remove_bitmaps(path, ["cp1", "absent"])
    data = qemu_img.info(path).get("format-specific", {}).get("data", {})
    assert not data.get("bitmaps")


@pytest.mark.parametrize("uri, hostname, local", [
    ("qemu:///system", "elsewhere", True),
    ("qemu+tcp://10.0.0.9/system", "elsewhere", False),
    ("qemu+tcp://10.0.0.9/system", socket.gethostname(), True),
    # libvirt may add the domain to the host name, or leave it out, and change its case
    ("qemu+ssh://hv1/system", socket.gethostname().split(".")[0].upper() + ".lab.example", True),
    ("qemu+ssh://hv1/system", "", False),
])
def test_is_local(uri, hostname, local):
    assert qemu_img.is_local(uri, hostname) is local
