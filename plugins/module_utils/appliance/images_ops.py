# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Disk image formats and the ``qemu-img`` command lines that read and write them.

Traps measured on QEMU 7.2, and how this file avoids them:

* A fixed VHD is a raw image with a 512-byte footer: ``qemu-img`` probes it as ``raw``
  (and a conversion would carry the footer into the disk).  :mod:`formats` looks for the
  ``conectix`` cookie at both ends, and every command names the format (``vpc``).
* ``qemu-img`` probes anything it does not recognise as ``raw`` (an HTML page too): the
  format is never left to its probe; :mod:`formats` decides it from the contents.
* A disk inside an OVA is read in place through a ``json:`` source whose ``raw`` layer
  has the member's ``offset`` and ``size`` (:func:`source_spec`): nothing is unpacked.
* Writing VHD rounds the size to a CHS geometry unless ``force_size=on``; writing
  streamOptimized VMDK is single-threaded deflate (slow, but what VMware imports).

Command lines are built here (pure); :mod:`storage.qemu_img_ops` runs them.
"""

from __future__ import annotations

import json
import os

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import formats
from ansible_collections.hotiron.virt.plugins.module_utils.storage import qemu_img_ops as qemu_img

EXTENSIONS = {".vmdk": "vmdk", ".vhd": "vpc", ".vpc": "vpc", ".vhdx": "vhdx", ".qcow2": "qcow2",
              ".qcow": None, ".vdi": "vdi", ".raw": "raw", ".img": None, ".iso": "raw"}
READABLE = formats.READABLE
NAMES = formats.NAMES


def require_qemu_img():
    """A missing qemu-img as the module's failure, before any work."""
    try:
        qemu_img.require()
    except qemu_img.ImageError as err:
        raise lc.VirtError(str(err)) from None


def format_by_extension(name):
    """The format a file name implies, or None (``.img`` and unknown extensions)."""
    return EXTENSIONS.get(os.path.splitext(name.lower())[1])


def read_ends(member):
    """First :data:`formats.HEAD` and last :data:`formats.TAIL` bytes of a member (an
    ``archive.Member``), for :func:`formats.identify`."""
    with open(member.path, "rb") as handle:
        handle.seek(member.offset)
        head = handle.read(min(formats.HEAD, member.size))
        handle.seek(member.offset + max(0, member.size - formats.TAIL))
        tail = handle.read(min(formats.TAIL, member.size))
    return head, tail


def identify(member):
    """:class:`formats.Seen` of a member: what its bytes show."""
    return formats.identify(*read_ends(member))


def source_spec(member, fmt, whole_file):
    """The ``json:`` source reading ``member`` as ``fmt``.

    ``whole_file``: the member is the whole file (an OVF's file, a single image), so the
    file is opened directly; otherwise a ``raw`` layer limits reading to the member's
    bytes inside the tar.
    """
    node = {"driver": "file", "filename": member.path}
    if not whole_file:
        node = {"driver": "raw", "offset": member.offset, "size": member.size, "file": node}
    return "json:" + json.dumps({"driver": fmt, "file": node}, sort_keys=True)


def import_command(source, target, target_format, target_is_zero):
    """Convert ``source`` into the existing volume ``target`` (``-n``: not re-created, so it
    stays the volume libvirt made; ``--target-is-zero`` skips writing zeroes into a fresh one)."""
    return qemu_img.convert_command(source, target, target_format, existing=True, target_is_zero=target_is_zero)


EXPORT_FORMATS = ("vmdk", "vhd", "qcow2", "raw")


def export_command(source, source_format, dest, kind, subformat=None, adapter="lsilogic"):
    """Write ``source`` as a new image file ``dest`` of ``kind`` (vmdk, vhd, qcow2, raw)."""
    if kind == "vmdk":
        fmt, options = "vmdk", "subformat=%s,adapter_type=%s" % (subformat or "streamOptimized", adapter)
    elif kind == "vhd":
        fmt, options = "vpc", "subformat=%s,force_size=on" % (subformat or "dynamic")
    elif kind in ("qcow2", "raw"):
        fmt, options = kind, None
    else:
        raise ValueError("unknown export format %r" % kind)
    return qemu_img.convert_command(source, dest, fmt, source_format=source_format, options=options)
