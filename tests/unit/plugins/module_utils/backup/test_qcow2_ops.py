# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""qcow2 headers read from files (backup.qcow2_ops); the images come from qemu-img when it is
installed (it is wherever libvirt runs QEMU)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.backup import qcow2_ops as qcow2


needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")


@needs_qemu_img
def test_qcow2_headers_name_their_backing_image(tmp_path):
    base = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "1M"], check=True)
    over = tmp_path / "over.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", "base.qcow2", str(over)], check=True)
    header = qcow2.read_header(str(over))
    assert (header.backing, header.backing_format, header.virtual_size) == ("base.qcow2", "qcow2", 1 << 20)
    assert qcow2.resolve(str(over), header.backing) == str(base)
    assert qcow2.read_header(str(base)).backing is None
    raw = tmp_path / "raw.img"
    raw.write_bytes(b"\0" * 4096)
    assert qcow2.read_header(str(raw)) is None
    assert qcow2.resolve("/i/x.qcow2", "/abs/y.qcow2") == "/abs/y.qcow2"
    assert qcow2.resolve("/i/x.qcow2", "nbd://host/y") == "nbd://host/y"


def test_backing_chain_reads_the_headers_down_to_the_bottom(tmp_path):
    """The one reading of a backing chain (snapshots, vm_info): paths and formats, a loop ends it,
    an unreadable image raises unless the chain may stop above it."""
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img is not installed")
    base, mid, top = (str(tmp_path / n) for n in ("base.raw", "mid.qcow2", "top.qcow2"))
    subprocess.run(["qemu-img", "create", "-q", "-f", "raw", base, "1M"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", mid], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", top], check=True)
    assert qcow2.backing_chain(top) == [(mid, "qcow2"), (base, "raw")]
    assert qcow2.backing_chain(top, limit=1) == [(mid, "qcow2")]
    os.unlink(mid)
    with pytest.raises(OSError):
        qcow2.backing_chain(top)
    assert qcow2.backing_chain(top, as_far_as_readable=True) == [(mid, "qcow2")]
