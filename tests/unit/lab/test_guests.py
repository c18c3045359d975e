# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's guest images and domain XML (tests/lab/guests.py)."""

from __future__ import annotations

import os
import struct
import sys
import xml.etree.ElementTree as ET

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lab"))

import guests  # noqa: E402


@pytest.mark.parametrize("kind", guests.KINDS)
def test_image_is_a_bootable_raw_disk(tmp_path, kind):
    path = guests.make_image(str(tmp_path / "disk.img"), kind)
    data = open(path, "rb").read()
    assert len(data) == 1024 * 1024
    assert data[510:512] == b"\x55\xaa"
    assert data[512:] == bytes(len(data) - 512)


def test_idle_and_busy_code():
    assert guests.boot_sector("idle").startswith(bytes.fromhex("fbf4ebfd"))
    assert guests.boot_sector("busy").startswith(bytes.fromhex("ebfe"))
    assert guests.boot_sector("busy")[2:510] == bytes(508)


def test_dirty_end_address_is_patched():
    sector = guests.boot_sector("dirty", dirty_mib=16)
    end = struct.unpack_from("<I", sector, guests.DIRTY_END_OFFSET)[0]
    assert end == 0x100000 + 16 * 1024 * 1024
    # the patched immediate belongs to `cmp edi, imm32` (81 ff) followed by `jb` (72)
    assert sector[guests.DIRTY_END_OFFSET - 2:guests.DIRTY_END_OFFSET] == b"\x81\xff"
    assert sector[guests.DIRTY_END_OFFSET + 4] == 0x72
    assert guests.boot_sector("dirty", dirty_mib=24) != sector


def test_filled_writes_once_then_halts_with_the_gdt_in_place():
    dirty, filled = guests.boot_sector("dirty", dirty_mib=16), guests.boot_sector("filled", dirty_mib=16)
    assert len(filled) == len(dirty) == 512
    # only `jmp outer` (eb e8) and the alignment nop after it differ: hlt; jmp back to the hlt
    jmp = dirty.index(bytes.fromhex("72f0ebe8")) + 2
    assert dirty[jmp:jmp + 2] == bytes.fromhex("ebe8") and filled[jmp:jmp + 3] == bytes.fromhex("f4ebfd")
    assert [i for i in range(512) if dirty[i] != filled[i]] == list(range(jmp, jmp + 6))


@pytest.mark.parametrize("kind", ["dirty", "filled"])
def test_dirty_gdt_descriptor_points_at_its_gdt(kind):
    sector = guests.boot_sector(kind)
    lgdt_operand = struct.unpack_from("<H", sector, 0x16)[0]
    limit, base = struct.unpack_from("<HI", sector, lgdt_operand - 0x7C00)
    assert limit == 3 * 8 - 1
    gdt = sector[base - 0x7C00:base - 0x7C00 + 24]
    assert gdt[:8] == bytes(8)
    assert struct.unpack("<QQ", gdt[8:]) == (0x00CF9A000000FFFF, 0x00CF92000000FFFF)


@pytest.mark.parametrize("bad", ["", "linux", "IDLE"])
def test_unknown_kind_is_refused(bad):
    with pytest.raises(ValueError):
        guests.boot_sector(bad)


def test_bad_size_is_refused(tmp_path):
    with pytest.raises(ValueError):
        guests.make_image(str(tmp_path / "x"), "idle", size=1000)


@pytest.mark.parametrize("bus,target", [("virtio", "vda"), ("ide", "hda")])
def test_domain_xml_is_headless(bus, target):
    root = ET.fromstring(guests.domain_xml("g<1>", "/srv/a b.img", "kvm", memory_mib=32,
                                           vcpus=2, bus=bus))
    assert root.get("type") == "kvm"
    assert root.findtext("name") == "g<1>"
    assert root.find("memory").text == "32" and root.find("memory").get("unit") == "MiB"
    assert root.findtext("vcpu") == "2"
    assert root.find("devices/graphics") is None
    disk = root.find("devices/disk")
    assert disk.find("source").get("file") == "/srv/a b.img"
    assert disk.find("driver").get("type") == "raw"
    assert disk.find("target").attrib == {"dev": target, "bus": bus}


def test_domain_xml_refuses_unknown_virt_type():
    with pytest.raises(ValueError):
        guests.domain_xml("g", "/x.img", "xen")
