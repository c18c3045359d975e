# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small ISO9660 writer (ECMA-119 with a Joliet tree): one root directory of small files.

Enough for a cloud-init NoCloud seed (a volume labelled ``cidata`` holding ``user-data``,
``meta-data`` and ``network-config``) or a Windows answer-file disk, without genisoimage or
xorriso on the host.  Pure: bytes in, bytes out; the same files give the same bytes (every time
stamp is fixed), so a seed's hash says whether its content changed.

Layout (2048-byte sectors): 16 empty sectors, the primary volume descriptor, the Joliet
supplementary volume descriptor, the terminator, the four path tables (primary L and M, Joliet L
and M), the two root directories and the files, each starting on a sector of its own.  The
primary tree carries the names upper-cased with ``;1`` (what every reader accepts), the Joliet
tree the names as given (what Linux and Windows show).
"""

from __future__ import annotations

import struct

from ansible_collections.hotiron.virt.plugins.module_utils import errors

SECTOR = 2048
MAX_FILES = 30              # both root directories must fit one sector each
MAX_NAME = 64               # Joliet's limit, in characters
# A fixed time for every record (2000-01-01 00:00:00 UTC): same files, same bytes.
_DIR_TIME = bytes([100, 1, 1, 0, 0, 0, 0])
_VOL_TIME = b"2000010100000000\x00"
_JOLIET_ESCAPE = b"%/E"     # UCS-2 level 3


class IsoError(errors.InputError):
    """Files an ISO9660 volume of this writer cannot hold."""


def _both16(value):
    return struct.pack("<H", value) + struct.pack(">H", value)


def _both32(value):
    return struct.pack("<I", value) + struct.pack(">I", value)


def _pad(data, size, fill=b" "):
    if len(data) > size:
        raise IsoError("%r is longer than %d bytes" % (data, size))
    return data + fill * (size - len(data))


def _ucs2(value, size):
    """``value`` in UCS-2 big-endian, padded with UCS-2 spaces (and a 0 byte for an odd size)."""
    data = value.encode("utf-16-be")
    if len(data) > size:
        raise IsoError("%r is longer than %d bytes" % (value, size))
    return data + b"\0 " * ((size - len(data)) // 2) + b"\0" * (size % 2)


def _sectors(size):
    return max(1, (size + SECTOR - 1) // SECTOR)


def _dir_record(name, extent, size, is_dir):
    length = 33 + len(name)
    length += length % 2
    record = struct.pack("<BB", length, 0) + _both32(extent) + _both32(size) + _DIR_TIME
    record += struct.pack("<BBB", 2 if is_dir else 0, 0, 0) + _both16(1) + struct.pack("<B", len(name)) + name
    return _pad(record, length, b"\0")


def _directory(root_extent, entries):
    """A root directory sector: ``.``, ``..`` and ``entries`` [(encoded name, extent, size)]."""
    data = _dir_record(b"\0", root_extent, SECTOR, True) + _dir_record(b"\1", root_extent, SECTOR, True)
    for name, extent, size in entries:
        data += _dir_record(name, extent, size, False)
    if len(data) > SECTOR:
        raise IsoError("too many or too long file names for one directory sector")
    return _pad(data, SECTOR, b"\0")


def _path_table(root_extent, big_endian):
    fmt = ">IH" if big_endian else "<IH"
    return struct.pack("<BB", 1, 0) + struct.pack(fmt, root_extent, 1) + b"\0\0"


def _descriptor(kind, label, total, path_tables, root_extent, joliet):
    """A primary (``kind`` 1) or Joliet supplementary (2) volume descriptor."""
    text = _ucs2 if joliet else (lambda value, size: _pad(value.encode("ascii"), size))
    ptable_l, ptable_m = path_tables
    data = struct.pack("<B", kind) + b"CD001" + b"\1\0"
    data += text("LINUX", 32) + text(label, 32) + b"\0" * 8 + _both32(total)
    data += _pad(_JOLIET_ESCAPE if joliet else b"", 32, b"\0")
    data += _both16(1) + _both16(1) + _both16(SECTOR) + _both32(10)
    data += struct.pack("<I", ptable_l) + b"\0" * 4 + struct.pack(">I", ptable_m) + b"\0" * 4
    data += _dir_record(b"\0", root_extent, SECTOR, True)
    data += text("", 128) + text("", 128) + text("HOTIRON.VIRT", 128) + text("", 128)
    data += text("", 37) + text("", 37) + text("", 37)
    data += _VOL_TIME * 4 + b"\1\0"
    return _pad(data, SECTOR, b"\0")


def _check(files, label):
    if not label or len(label) > 16 or not all(c.isalnum() or c in "_-" for c in label):
        raise IsoError("label %r: 1 to 16 letters, digits, '_' or '-'" % (label,))
    if len(files) > MAX_FILES:
        raise IsoError("%d files: at most %d" % (len(files), MAX_FILES))
    upper = set()
    for name in files:
        if not name or len(name) > MAX_NAME or "/" in name or ";" in name or name in (".", ".."):
            raise IsoError("file name %r: 1 to %d characters, no '/' or ';'" % (name, MAX_NAME))
        try:
            name.encode("ascii")
        except UnicodeEncodeError:
            raise IsoError("file name %r: ASCII only" % (name,)) from None
        if name.upper() in upper:
            raise IsoError("file names %r differ only in case" % (name,))
        upper.add(name.upper())


def build(files, label="cidata"):
    """The bytes of an ISO9660 volume labelled ``label`` whose root holds ``files``
    ({name: bytes or str}).  Raises IsoError for what it cannot hold."""
    _check(files, label)
    names = sorted(files, key=lambda n: n.upper())
    blobs = {n: files[n].encode("utf-8") if isinstance(files[n], str) else bytes(files[n]) for n in names}
    primary_root, joliet_root, first_file = 23, 24, 25
    extents, next_extent = {}, first_file
    for name in names:
        extents[name] = next_extent
        next_extent += _sectors(len(blobs[name]))
    total = next_extent
    primary = _directory(primary_root, [((n.upper() + ";1").encode("ascii"), extents[n], len(blobs[n])) for n in names])
    joliet = _directory(joliet_root, [(n.encode("utf-16-be"), extents[n], len(blobs[n]))
                                      for n in sorted(names, key=lambda n: n.encode("utf-16-be"))])
    out = bytearray(SECTOR * 16)
    out += _descriptor(1, label, total, (19, 20), primary_root, False)
    out += _descriptor(2, label, total, (21, 22), joliet_root, True)
    out += _pad(b"\xffCD001\1", SECTOR, b"\0")
    for extent, big in ((primary_root, False), (primary_root, True), (joliet_root, False), (joliet_root, True)):
        out += _pad(_path_table(extent, big), SECTOR, b"\0")
    out += primary + joliet
    for name in names:
        out += blobs[name] + b"\0" * (_sectors(len(blobs[name])) * SECTOR - len(blobs[name]))
    if len(out) != total * SECTOR:
        raise AssertionError("ISO layout: %d bytes for %d sectors" % (len(out), total))
    return bytes(out)


def read_files(data):
    """{name: bytes} of the root directory of a volume :func:`build` wrote (its Joliet tree;
    the primary tree's names, without ``;1``, when there is none).  For diff mode: what a seed
    held before.  Raises IsoError for what it cannot read."""
    def record_at(block, offset):
        length = block[offset]
        if length == 0 or offset + length > len(block):
            return None
        extent = struct.unpack_from("<I", block, offset + 2)[0]
        size = struct.unpack_from("<I", block, offset + 10)[0]
        name = block[offset + 33:offset + 33 + block[offset + 32]]
        return length, extent, size, block[offset + 25] & 2, name

    root, joliet = None, False
    for index in range(16, 32):
        vd = data[index * SECTOR:(index + 1) * SECTOR]
        if len(vd) < SECTOR or vd[1:6] != b"CD001":
            raise IsoError("not an ISO9660 volume")
        if vd[0] == 255:
            break
        if vd[0] == 1 and root is None or vd[0] == 2 and vd[88:91] == _JOLIET_ESCAPE:
            root, joliet = record_at(vd, 156), vd[0] == 2
    if root is None:
        raise IsoError("no volume descriptor")
    block = data[root[1] * SECTOR:root[1] * SECTOR + root[2]]
    files, offset = {}, 0
    while offset < len(block):
        record = record_at(block, offset)
        if record is None:
            offset = (offset // SECTOR + 1) * SECTOR
            continue
        length, extent, size, is_dir, raw = record
        offset += length
        if is_dir or raw in (b"\0", b"\1"):
            continue
        name = raw.decode("utf-16-be") if joliet else raw.decode("ascii")
        files[name.split(";")[0]] = data[extent * SECTOR:extent * SECTOR + size]
    return files
