# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a file is, read from its first and last bytes, never from its name.

:func:`identify` tells the disk image formats ``qemu-img`` reads (qcow2, qcow, VMDK sparse,
streamOptimized and descriptor, VHD by its ``conectix`` footer or header, VHDX, VDI), a raw
disk *with evidence* (an MBR or GPT partition table, an ISO 9660/UDF image, a filesystem or
LVM/LUKS header at its start), and what a file that is no disk looks like (HTML, XML, an
archive, a compressed file, an executable, a libvirt saved state, ...).

A raw disk has no header, so "anything else" is not a raw disk: content without evidence is
``unknown``, and :func:`decide` accepts it as raw only when the user (``src_format: raw``) or
the appliance's descriptor declares it raw, and never when it looks like a file that is no
disk at all.  Pure: the caller reads the bytes (``HEAD`` from the start, ``TAIL`` from the end).
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import errors

from dataclasses import dataclass

HEAD = 72 * 1024        # covers ISO 9660 (32 KiB + 6), btrfs (64 KiB + 64 + 8)
TAIL = 512

NAMES = {"vpc": "VHD", "vhdx": "VHDX", "vmdk": "VMDK", "qcow2": "qcow2", "qcow": "qcow (version 1)",
         "vdi": "VDI", "raw": "raw"}
READABLE = ("vmdk", "vpc", "vhdx", "qcow2", "qcow", "vdi", "raw")
XML_TEXT = "XML text"
OVF_TEXT = "an OVF descriptor (XML text)"


class FormatError(errors.InputError):
    """A file is not the disk image it should be."""


@dataclass(frozen=True)
class Seen:
    """What the bytes show: ``kind`` is ``image`` (``fmt`` is a qemu-img driver), ``raw`` (a
    raw disk with evidence, ``fmt`` is ``raw``), ``other`` (a file that is no disk image) or
    ``unknown`` (binary data without a header); ``what`` says it in words."""

    kind: str
    fmt: str | None
    what: str


def _at(data, offset, magic):
    return data[offset:offset + len(magic)] == magic


# (offset, magic, description) of files that are no disk image (checked before raw evidence).
_NOT_DISKS = (
    (0, b"\x1f\x8b", "a gzip-compressed file (decompress it first)"),
    (0, b"BZh", "a bzip2-compressed file (decompress it first)"),
    (0, b"\xfd7zXZ\x00", "an xz-compressed file (decompress it first)"),
    (0, b"\x28\xb5\x2f\xfd", "a zstd-compressed file (decompress it first)"),
    (0, b"PK\x03\x04", "a zip archive"),
    (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (0, b"Rar!\x1a\x07", "a RAR archive"),
    (257, b"ustar", "a tar archive (an OVA?)"),
    (0, b"%PDF-", "a PDF document"),
    (0, b"\x7fELF", "an executable (ELF)"),
    (0, b"LibvirtQemudSave", "a libvirt saved state (virsh save), not a disk"),
    (0, b"LibvirtQemudPart", "a partial libvirt saved state, not a disk"),
    (0, b"QEVM", "a QEMU migration stream or savevm file, not a disk"),
    (0, b"QED\x00", "a QED image, which the import does not read (convert it to qcow2 first)"),
    (0, b"WithoutFreeSpace", "a Parallels image, which the import does not read (convert it to qcow2 first)"),
    (0, b"WithouFreSpacExt", "a Parallels image, which the import does not read (convert it to qcow2 first)"),
    (0, b"koly", "a macOS disk image (DMG)"),
)

_FILESYSTEMS = (
    (1080, b"\x53\xef", "an ext2/3/4 filesystem"),
    (0, b"XFSB", "an XFS filesystem"),
    (65600, b"_BHRfS_M", "a btrfs filesystem"),
    (512, b"LABELONE", "an LVM physical volume"),
    (0, b"LUKS\xba\xbe", "a LUKS encrypted volume"),
    (4086, b"SWAPSPACE2", "a swap area"),
    (4086, b"SWAP-SPACE", "a swap area"),
)


def identify(head, tail=b""):
    """:class:`Seen` of a file whose first bytes are ``head`` (up to :data:`HEAD`) and last
    ``tail`` (up to :data:`TAIL`)."""
    head, tail = bytes(head), bytes(tail or head[-TAIL:])
    image = _image(head, tail)
    if image:
        return image
    if not head:
        return Seen("other", None, "an empty file")
    for offset, magic, what in _NOT_DISKS:
        if _at(head, offset, magic):
            return Seen("other", None, what)
    if head.startswith(b"MZ") and not _at(head, 510, b"\x55\xaa"):
        return Seen("other", None, "a Windows executable")
    raw = _raw(head)
    if raw:
        return Seen("raw", "raw", raw)
    text = _text(head)
    if text:
        return Seen("other", None, text)
    if not head.strip(b"\0"):
        return Seen("unknown", None, "only zeroes in its first %d KiB (a blank disk?)" % max(1, len(head) // 1024))
    return Seen("unknown", None, "binary data of no known format (it starts with %s)"
                % " ".join("%02x" % b for b in head[:16]))


def _image(head, tail):
    if head.startswith(b"conectix") or tail[-512:].startswith(b"conectix") or tail[-511:].startswith(b"conectix"):
        return Seen("image", "vpc", "a VHD image")
    if head.startswith(b"vhdxfile"):
        return Seen("image", "vhdx", "a VHDX image")
    if head.startswith(b"KDMV"):
        return Seen("image", "vmdk", "a sparse VMDK image")
    if head.startswith(b"COWD"):
        return Seen("image", "vmdk", "an ESX sparse VMDK image")
    if head.startswith(b"# Disk DescriptorFile") or (b"createType=" in head[:2048] and b"# Extent description" in head[:4096]):
        return Seen("image", "vmdk", "a VMDK descriptor")
    if head.startswith(b"QFI\xfb"):
        version = int.from_bytes(head[4:8], "big") if len(head) >= 8 else 0
        if version == 1:
            return Seen("image", "qcow", "a qcow (version 1) image")
        return Seen("image", "qcow2", "a qcow2 image")
    if _at(head, 64, b"\x7f\x10\xda\xbe"):
        return Seen("image", "vdi", "a VDI image")
    return None


def _raw(head):
    """Evidence that ``head`` starts a raw disk, in words, or None."""
    if _at(head, 0x8001, b"CD001"):
        return "an ISO 9660 image"
    if any(_at(head, 0x8001, m) for m in (b"BEA01", b"NSR02", b"NSR03")):
        return "a UDF image"
    if _at(head, 512, b"EFI PART") or _at(head, 4096, b"EFI PART"):
        return "a raw disk with a GPT partition table"
    for offset, magic, what in _FILESYSTEMS:
        if _at(head, offset, magic) and (offset != 1080 or len(head) > 1100):
            return "a raw disk holding %s" % what
    if _at(head, 510, b"\x55\xaa"):
        return "a raw disk with a boot sector (MBR)"
    return None


def _text(head):
    """What a text file is (HTML, XML, JSON, a script, text), or None for binary data."""
    sample = head[:4096]
    if sample[:2] in (b"\xff\xfe", b"\xfe\xff"):      # UTF-16 with its byte order mark
        sample = sample[:len(sample) // 2 * 2].decode("utf-16", "replace").encode("utf-8")
    if b"\0" in sample:
        return None
    text = sample.decode("utf-8", "replace")
    if sum(1 for c in text if c != "\ufffd" and (c.isprintable() or c in "\r\n\t")) < 0.95 * len(text):
        return None
    lowered = text.lstrip("\ufeff \r\n\t").lower()
    if lowered.startswith("<!doctype html") or "<html" in lowered[:1024]:
        return "HTML text (a web page, perhaps an error page saved by a browser)"
    if lowered.startswith("<"):
        return OVF_TEXT if "envelope" in lowered and "ovf" in lowered else XML_TEXT
    if lowered.startswith("{") or lowered.startswith("["):
        return "JSON text"
    if lowered.startswith("#!"):
        return "a script (text)"
    first = lowered.splitlines()[0].strip()[:60] if lowered.strip() else ""
    return "text (starting %r)" % first if first else "text"


def is_xml(seen):
    """Whether ``seen`` is XML text (an OVF descriptor or other)."""
    return seen.what in (XML_TEXT, OVF_TEXT)


def decide(declared, said, seen, name):
    """The format to read ``name`` as: what was ``declared`` (a qemu-img driver or None) by
    ``said`` (``src_format``, ``the descriptor``, ``its name``), and what its bytes show
    (:class:`Seen`).  Declared and seen must agree; raw needs evidence or a declaration by
    ``src_format``/the descriptor; a file that is no disk image is refused, saying what it
    looks like.  FormatError otherwise."""
    if declared is not None and declared not in READABLE:
        raise FormatError("%s: format %s cannot be read" % (name, declared))
    if seen.kind in ("image", "raw"):
        if declared in (None, seen.fmt):
            return seen.fmt
        raise FormatError("%s is %s by %s, but its contents are %s" % (name, NAMES[declared], said, seen.what))
    if seen.kind == "other":
        if declared is None:
            raise FormatError("%s is no disk image format qemu-img reads: it looks like %s" % (name, seen.what))
        raise FormatError("%s is %s by %s, but it is no disk image: it looks like %s"
                          % (name, NAMES[declared], said, seen.what))
    # unknown binary data: a raw disk only when declared so, never by a name alone
    if declared == "raw" and said != "its name":
        return "raw"
    if declared in (None, "raw"):
        raise FormatError("%s is no known disk image format, and it shows no partition table, ISO 9660 or"
                          " filesystem header that would mark a raw disk: %s. If it is a raw disk, declare it"
                          " (src_format: raw for a disk image, the raw format in an OVF descriptor)"
                          % (name, seen.what))
    raise FormatError("%s is %s by %s, but its contents are %s" % (name, NAMES[declared], said, seen.what))
