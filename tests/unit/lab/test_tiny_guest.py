# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts of the lab's tiny guest (tests/lab/tiny_guest.py): the cpio writer, the module
order, the domain definition."""

from __future__ import annotations

import os
import stat
import sys
import xml.etree.ElementTree as ET

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lab"))

import tiny_guest  # noqa: E402
from lab import LabError  # noqa: E402


def read_newc(data):
    """[(name, mode, body)] of a newc archive, read as the kernel does (a reader of its own, so
    a writer's mistake is not repeated here)."""
    entries, at = [], 0
    while True:
        header = data[at:at + 110]
        assert header[:6] == b"070701", header[:6]
        fields = [int(header[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name = data[at + 110:at + 110 + namesize]
        assert name.endswith(b"\0")
        at += 110 + namesize
        at += -at % 4
        body = data[at:at + size]
        at += size
        at += -at % 4
        if name[:-1] == b"TRAILER!!!":
            assert at == len(data)
            return entries
        entries.append((name[:-1].decode(), mode, body))


def test_cpio_round_trip():
    data = tiny_guest.cpio_newc([("bin", stat.S_IFDIR | 0o755, b""),
                                 ("bin/busybox", stat.S_IFREG | 0o755, b"\x7fELF" + b"x" * 5),
                                 ("/bin/sh", stat.S_IFLNK | 0o777, "busybox"),
                                 ("etc/rc", stat.S_IFREG | 0o644, "odd\n")])
    assert len(data) % 4 == 0
    entries = read_newc(data)
    assert [e[0] for e in entries] == ["bin", "bin/busybox", "bin/sh", "etc/rc"]
    assert stat.S_ISDIR(entries[0][1]) and stat.S_ISLNK(entries[2][1])
    assert stat.S_IMODE(entries[1][1]) == 0o755
    assert entries[1][2] == b"\x7fELF" + b"x" * 5
    assert entries[2][2] == b"busybox" and entries[3][2] == b"odd\n"


def test_modinfo_depends():
    ko = b"\x7fELF...\0license=GPL\0depends=virtio,virtio_ring,net-failover\0vermagic=6.1\0"
    assert tiny_guest.modinfo_depends(ko) == ["virtio", "virtio_ring", "net_failover"]
    assert tiny_guest.modinfo_depends(b"\0depends=\0name=virtio\0") == []
    assert tiny_guest.modinfo_depends(b"\0name=virtio\0") == []


def test_module_order_puts_dependencies_first():
    depends = {"virtio_net": ["net_failover", "virtio", "virtio_ring"], "net_failover": ["failover"],
               "failover": [], "virtio": [], "virtio_ring": [], "virtio_pci": ["virtio_ring", "virtio"]}
    order = tiny_guest.module_order(depends, ("virtio_pci", "virtio_net"))
    assert sorted(order) == sorted(depends)
    for name, needs in depends.items():
        assert all(order.index(need) < order.index(name) for need in needs)
    with pytest.raises(LabError, match="virtio_blk"):
        tiny_guest.module_order(depends, ("virtio_blk",))


def test_domain_xml():
    root = ET.fromstring(tiny_guest.domain_xml("web1", "/cache/tiny-x", "hvgbr3", mac="52:54:00:00:00:01"))
    assert root.get("type") == "qemu" and root.findtext("name") == "web1"
    assert root.findtext("os/kernel") == "/cache/tiny-x/vmlinux"
    assert root.findtext("os/initrd") == "/cache/tiny-x/initrd.img"
    assert "hotiron.hostname=web1" in root.findtext("os/cmdline").split()
    assert root.find("devices/disk") is None            # nothing to share between hosts
    assert root.find("devices/interface/source").get("bridge") == "hvgbr3"
    assert root.find("devices/interface/mac").get("address") == "52:54:00:00:00:01"
    other = ET.fromstring(tiny_guest.domain_xml("web1", "/c", "b", hostname="front"))
    assert "hotiron.hostname=front" in other.findtext("os/cmdline")
    assert tiny_guest.cmdline("web", "198.18.3.5/24").endswith(" hotiron.hostname=web hotiron.ip=198.18.3.5/24")


def test_recipe_hash_follows_the_files(monkeypatch):
    before = tiny_guest.recipe_hash()
    monkeypatch.setitem(tiny_guest.FILES, "etc/rc", ("#!/bin/sh\n", 0o755))
    assert tiny_guest.recipe_hash() != before
