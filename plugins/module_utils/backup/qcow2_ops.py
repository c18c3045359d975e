# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The few fields of a qcow2 header that say which image another one is built on.

Reading 64 KiB of each file in a directory is enough to find every overlay whose backing image
is one we are about to write into (a linked clone of a template, an overlay someone made by
hand), without starting ``qemu-img`` once per file.  Layout as in QEMU's ``docs/interop/qcow2.txt``:
magic ``QFI\\xfb``, version, backing file offset (8 bytes) and size (4 bytes); from version 3 a
header length at byte 100, then header extensions (type, length, data padded to 8 bytes), among
them the backing format (``0xe2792aca``).  Pure: bytes in, names out.
"""

from __future__ import annotations

import os
import struct

MAGIC = b"QFI\xfb"
HEAD_BYTES = 65536
_EXT_END = 0
_EXT_BACKING_FORMAT = 0xE2792ACA


class Header:
    def __init__(self, version, virtual_size, backing=None, backing_format=None):
        self.version = version
        self.virtual_size = virtual_size
        self.backing = backing
        self.backing_format = backing_format


def parse(head):
    """The :class:`Header` of an image whose first bytes are ``head``, or None when ``head`` is
    not a qcow2 header (a raw image, a text file)."""
    if len(head) < 72 or head[:4] != MAGIC:
        return None
    version, = struct.unpack_from(">I", head, 4)
    if version not in (2, 3):
        return None
    backing_offset, backing_size = struct.unpack_from(">QI", head, 8)
    virtual_size, = struct.unpack_from(">Q", head, 24)
    backing = None
    if backing_offset and backing_size:
        raw = head[backing_offset:backing_offset + backing_size]
        if len(raw) == backing_size:
            backing = raw.decode("utf-8", "replace")
    backing_format = None
    if version >= 3 and len(head) >= 104:
        offset, = struct.unpack_from(">I", head, 100)
    else:
        offset = 72
    while offset + 8 <= len(head):
        ext_type, ext_len = struct.unpack_from(">II", head, offset)
        if ext_type == _EXT_END:
            break
        data = head[offset + 8:offset + 8 + ext_len]
        if ext_type == _EXT_BACKING_FORMAT:
            backing_format = data.decode("ascii", "replace")
        offset += 8 + ((ext_len + 7) & ~7)
    return Header(version, virtual_size, backing, backing_format)


def resolve(image_path, backing):
    """The backing file's path as QEMU resolves it: relative names are relative to the directory
    of the image that names them.  Protocols (``nbd:``, ``json:``) are returned as they are."""
    if backing is None:
        return None
    if os.path.isabs(backing) or ":" in backing.split("/", 1)[0]:
        return os.path.normpath(backing) if os.path.isabs(backing) else backing
    return os.path.normpath(os.path.join(os.path.dirname(image_path), backing))


def read_header(path):
    """The header of the file at ``path`` (None when it is not qcow2); OSError when unreadable."""
    with open(path, "rb") as handle:
        return parse(handle.read(HEAD_BYTES))


def backing_chain(path, limit=64, as_far_as_readable=False):
    """``[(backing path, its format), ...]`` below the image at ``path``, read from the qcow2
    headers down to the bottom (or ``limit`` images; a loop ends it).  OSError when an image of the
    chain cannot be read, unless ``as_far_as_readable``: then the chain ends above it."""
    chain, current = [], path
    while len(chain) < limit:
        try:
            header = read_header(current)
        except OSError:
            if not as_far_as_readable:
                raise
            break
        backing = resolve(current, header.backing) if header else None
        if not backing or backing == path or any(seen == backing for seen, _fmt in chain):
            break
        chain.append((backing, header.backing_format))
        current = backing
    return chain
