# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""snapshot_images_ops: backing chains read from real qcow2 headers, and the graph of who uses
which image (overlays made by hand beside them, other VMs)."""

from __future__ import annotations

import subprocess
import types

from ansible_collections.hotiron.virt.plugins.module_utils.backup import snapshot_images_ops as images


def qcow2(path, backing=None, backing_format="qcow2"):
    cmd = ["qemu-img", "create", "-q", "-f", "qcow2"]
    cmd += ["-F", backing_format, "-b", str(backing), str(path)] if backing else [str(path), "1M"]
    subprocess.run(cmd, check=True)
    return str(path)


class Other:
    def __init__(self, name, uuid, source):
        self._name, self._uuid, self.source = name, uuid, source

    def name(self):
        return self._name

    def UUIDString(self):
        return self._uuid

    def XMLDesc(self, flags):
        return ("<domain><devices><disk type='file' device='disk'><source file='%s'/><target dev='vda'/>"
                "</disk></devices></domain>" % self.source)


def test_chains_formats_and_the_users_of_each_image(tmp_path):
    raw = tmp_path / "base.raw"
    raw.write_bytes(b"\0" * 1024)
    base = qcow2(tmp_path / "base.qcow2")
    mid = qcow2(tmp_path / "mid.qcow2", base)
    leaf = qcow2(tmp_path / "leaf.qcow2", mid)
    by_hand = qcow2(tmp_path / "clone.qcow2", base)
    assert images.image_format(leaf) == "qcow2" and images.image_format(str(raw)) == "raw"
    active = images.active_chains([types.SimpleNamespace(target="vda", source=leaf)])
    assert active == {"vda": [leaf, mid, base]}
    me = Other("web1", "u1", leaf)
    conn = types.SimpleNamespace(listAllDomains=lambda flags: [me, Other("web2", "u2", mid)],
                                 getURI=lambda: "test:///x")
    graph = images.build_graph(conn, me, {}, active)
    assert graph.backing == {leaf: mid, mid: base, base: None}
    assert graph.foreign == {base: [by_hand], mid: ["vm web2"]}
