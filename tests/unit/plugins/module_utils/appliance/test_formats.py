# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a file is, from its bytes: disk images, raw disks with evidence, and files that are
no disk image at all (an HTML page saved as ``x.ova`` or ``x.img``), refused saying what they
look like.  Files are made by the real tools where this machine has them (qemu-img, mkfs.ext4,
mkswap, gzip, xz, zstd, zip), else written byte by byte from the formats' specifications."""

from __future__ import annotations

import gzip
import os
import subprocess
import tarfile

import pytest

import appliances  # tests/lab/appliances.py
import guests      # tests/lab/guests.py

from ansible_collections.hotiron.virt.plugins.module_utils.appliance import archive_ops as archive
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import formats
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import images_ops as images

MIB = 1024 * 1024
HTML = (b"<!DOCTYPE html>\n<html lang=\"en\"><head><title>404 Not Found</title></head>\n"
        b"<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>\n")


def seen_of(path):
    return images.identify(archive.Member(os.path.basename(path), path, 0, os.path.getsize(path)))


def blank(size=MIB):
    return bytearray(size)


def gpt_disk():
    data = blank()
    data[446 + 4] = 0xEE                       # protective MBR partition of type EE
    data[510:512] = b"\x55\xaa"
    data[512:520] = b"EFI PART"
    return bytes(data)


def gpt_without_mbr_signature():
    data = blank()
    data[512:520] = b"EFI PART"
    return bytes(data)


def iso9660():
    data = blank()
    data[0x8000:0x8006] = b"\x01CD001"
    return bytes(data)


def udf():
    data = blank()
    data[0x8000:0x8006] = b"\x00BEA01"
    return bytes(data)


@pytest.mark.parametrize("data, kind, fmt, what", [
    (HTML, "other", None, "HTML text"),
    (b"\xef\xbb\xbf  \n<html><body>oops</body></html>", "other", None, "HTML text"),
    (b"<?xml version='1.0'?><Envelope xmlns='http://schemas.dmtf.org/ovf/envelope/1'/>", "other", None,
     "an OVF descriptor (XML text)"),
    (b"<?xml version='1.0'?><rss/>", "other", None, "XML text"),
    (b'{"error": "not found"}', "other", None, "JSON text"),
    (b"#!/bin/sh\necho hi\n", "other", None, "a script"),
    (b"Access denied\n", "other", None, "text (starting 'access denied')"),
    (b"", "other", None, "an empty file"),
    (b"PK\x03\x04" + bytes(600), "other", None, "a zip archive"),
    (b"%PDF-1.7\n" + bytes(600), "other", None, "a PDF document"),
    (b"\x7fELF\x02\x01\x01" + bytes(600), "other", None, "an executable (ELF)"),
    (b"LibvirtQemudSave" + bytes(600), "other", None, "a libvirt saved state"),
    (b"QED\x00" + bytes(600), "other", None, "a QED image"),
    (bytes(blank(4096)), "unknown", None, "only zeroes"),
    (bytes(range(256)) * 4, "unknown", None, "binary data of no known format (it starts with 00 01 02"),
    (gpt_disk(), "raw", "raw", "a GPT partition table"),
    (gpt_without_mbr_signature(), "raw", "raw", "a GPT partition table"),
    (iso9660(), "raw", "raw", "an ISO 9660 image"),
    (udf(), "raw", "raw", "a UDF image"),
    (guests.boot_sector("idle") + bytes(4096), "raw", "raw", "a boot sector (MBR)"),
    (b"QFI\xfb\x00\x00\x00\x01" + bytes(600), "image", "qcow", "qcow (version 1)"),
    (b"QFI\xfb\x00\x00\x00\x03" + bytes(600), "image", "qcow2", "a qcow2 image"),
    (b"# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\n", "image", "vmdk", "a VMDK descriptor"),
    (b"COWD" + bytes(600), "image", "vmdk", "ESX sparse VMDK"),
    (b"<<< Oracle VM VirtualBox Disk Image >>>\n".ljust(64, b"\0") + b"\x7f\x10\xda\xbe" + bytes(600), "image",
     "vdi", "a VDI image"),
])
def test_identify_by_contents(data, kind, fmt, what):
    seen = formats.identify(data[:formats.HEAD], data[-formats.TAIL:])
    assert (seen.kind, seen.fmt) == (kind, fmt) and what in seen.what, seen


def test_a_utf16_descriptor_is_xml_text():
    text = "\ufeff<?xml version='1.0' encoding='UTF-16'?><Envelope xmlns='http://schemas.dmtf.org/ovf/envelope/1'/>"
    assert formats.is_xml(formats.identify(text.encode("utf-16-le")))


@pytest.mark.parametrize("command, what", [
    (["gzip", "-c"], "a gzip-compressed file"), (["xz", "-c"], "an xz-compressed file"),
    (["zstd", "-q", "-c"], "a zstd-compressed file"),
])
def test_compressed_images_made_by_the_real_tools(tmp_path, command, what):
    raw = appliances.raw_disk(str(tmp_path / "d.raw"), guests.boot_sector("idle"), MIB)
    out = tmp_path / "d.out"
    with open(raw, "rb") as src, open(out, "wb") as dest:
        subprocess.run(command, stdin=src, stdout=dest, check=True)
    seen = seen_of(str(out))
    assert seen.kind == "other" and what in seen.what


def test_a_tar_and_a_zip_made_by_the_real_tools(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with tarfile.open(tmp_path / "a.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
        tar.add(str(tmp_path / "a.txt"), arcname="a.txt")
    assert seen_of(str(tmp_path / "a.tar")).what == "a tar archive (an OVA?)"
    subprocess.run(["zip", "-q", str(tmp_path / "a.zip"), str(tmp_path / "a.txt")], check=True)
    assert seen_of(str(tmp_path / "a.zip")).what == "a zip archive"


def test_filesystems_without_a_partition_table_are_raw_disks(tmp_path):
    ext4 = tmp_path / "fs.img"
    with open(ext4, "wb") as handle:
        handle.truncate(8 * MIB)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(ext4)], check=True)
    assert (seen_of(str(ext4)).fmt, seen_of(str(ext4)).what) == ("raw", "a raw disk holding an ext2/3/4 filesystem")
    swap = tmp_path / "swap.img"
    with open(swap, "wb") as handle:
        handle.truncate(MIB)
    subprocess.run(["mkswap", "-q", str(swap)], check=True, capture_output=True)
    assert seen_of(str(swap)).what == "a raw disk holding a swap area"


DECIDE = [
    # declared, said, data, result or message
    (None, "its name", iso9660(), "raw"),
    ("raw", "its name", guests.boot_sector("idle"), "raw"),
    ("vmdk", "the descriptor", b"KDMV" + bytes(600), "vmdk"),
    ("vmdk", "the descriptor", b"QFI\xfb\x00\x00\x00\x03" + bytes(600), "x is VMDK by the descriptor, but its contents are a qcow2 image"),
    ("raw", "src_format", b"conectix" + bytes(600), "x is raw by src_format, but its contents are a VHD image"),
    (None, "its name", HTML, "x is no disk image format qemu-img reads: it looks like HTML text"),
    ("raw", "src_format", HTML, "x is raw by src_format, but it is no disk image: it looks like HTML text"),
    ("vmdk", "its name", gzip.compress(b"x" * 1000), "x is VMDK by its name, but it is no disk image: it looks like a gzip"),
    ("raw", "src_format", bytes(4096), "raw"),                # a blank disk, declared raw by the user
    ("raw", "the descriptor", bytes(4096), "raw"),            # ... or by the appliance
    ("raw", "its name", bytes(4096), "x is no known disk image format, and it shows no partition table"),
    (None, "its name", bytes(range(256)) * 4, "If it is a raw disk, declare it (src_format: raw"),
    ("vpc", "its name", bytes(4096), "x is VHD by its name, but its contents are only zeroes"),
    ("floppy", "src_format", bytes(4096), "x: format floppy cannot be read"),
]


@pytest.mark.parametrize("declared, said, data, expected", DECIDE)
def test_decide(declared, said, data, expected):
    seen = formats.identify(data[:formats.HEAD], data[-formats.TAIL:])
    if expected in formats.READABLE:
        assert formats.decide(declared, said, seen, "x") == expected
    else:
        with pytest.raises(formats.FormatError) as err:
            formats.decide(declared, said, seen, "x")
        assert expected in str(err.value)
