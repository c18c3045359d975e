# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What single values in an OVF descriptor mean: allocation units (DSP0004 programmatic units or
classic names), whole numbers, the disk format an ``ovf:format`` URI names, file references that
must stay inside the package, and the guest OS family a CIM id or an ``osType`` names.
:mod:`ovf` reads the descriptor's structure with these.  Pure Python: no libvirt, no Ansible.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import errors

import posixpath
import re

# ovf:format URIs of Disk elements -> QEMU block driver.
DISK_FORMAT_URIS = (
    ("vmware.com/interfaces/specifications/vmdk.html", "vmdk"),
    ("vmware.com/specifications/vmdk.html", "vmdk"),
    ("technet.microsoft.com/en-us/virtualserver/bb676673.aspx", "vpc"),
    ("technet.microsoft.com/en-us/library/hh831446.aspx", "vhdx"),
    ("virtualbox.org/manual/ch12.html#vdi", "vdi"),
    ("gnome.org/~markmc/qcow-image-format.html", "qcow2"),
    ("wikipedia.org/wiki/qcow", "qcow2"),
    ("wikipedia.org/wiki/byte", "raw"),
    ("ecma-international.org/publications/standards/ecma-119", "raw"),
)

# CIM_OperatingSystem.OsType values (DSP1033 / CIM schema 2.x) by family.
_CIM_WINDOWS = {18, 19, 58, 63, 67, 69, 70, 71, 72, 73, 74, 75, 76, 77, 103, 105, 111, 112, 113,
                114, 115, 116, 117, 118, 119, 120, 121, 122, 123}
_CIM_LINUX = {36, 79, 80, 82, 83, 84, 85, 87, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100,
              101, 106, 107, 108, 109, 110}
_CIM_64BIT = {70, 71, 74, 77, 80, 81, 83, 85, 90, 92, 94, 96, 98, 100, 101, 103, 107, 109, 110,
              114, 115, 116, 118, 120, 121, 122, 123}
_LINUX_WORDS = ("linux", "ubuntu", "debian", "rhel", "redhat", "centos", "sles", "suse", "fedora",
                "oracle", "mandr", "turbo", "xandros", "gentoo", "asianux", "photon",
                "coreos", "rocky", "alma", "amazon", "opensuse")

_UNIT_NAMES = {
    "byte": 1, "bytes": 1, "kilobytes": 1024, "kb": 1024, "kib": 1024, "megabytes": 1024 ** 2,
    "mb": 1024 ** 2, "mib": 1024 ** 2, "gigabytes": 1024 ** 3, "gb": 1024 ** 3, "gib": 1024 ** 3,
    "terabytes": 1024 ** 4, "tb": 1024 ** 4, "tib": 1024 ** 4,
}
_FACTOR_RE = re.compile(r"^([0-9]+)(?:\^([0-9]+))?$")


class OVFError(errors.InputError):
    """The descriptor cannot be read, or says something the import cannot honour."""


def allocation_units(text, what):
    """Bytes per unit of a DSP0004 programmatic unit (``byte * 2^20``) or a classic name
    (``MegaBytes``, ``KB``); OVFError naming ``what`` otherwise."""
    if text is None or not text.strip():
        return 1
    squeezed = text.strip().lower().replace(" ", "")
    if squeezed in _UNIT_NAMES:
        return _UNIT_NAMES[squeezed]
    parts = squeezed.split("*")
    if parts[0] not in ("byte", "bytes"):
        raise OVFError("%s: unknown allocation units %r" % (what, text))
    factor = 1
    for part in parts[1:]:
        match = _FACTOR_RE.match(part)
        if not match:
            raise OVFError("%s: unknown allocation units %r" % (what, text))
        base, exponent = int(match.group(1)), int(match.group(2) or 1)
        if exponent > 80:
            raise OVFError("%s: allocation units %r are out of range" % (what, text))
        factor *= base ** exponent
    return factor


def whole(text, what, minimum=0):
    """``text`` as an int of at least ``minimum``; OVFError naming ``what`` otherwise."""
    try:
        value = int(str(text).strip())
    except (TypeError, ValueError):
        raise OVFError("%s: expected a whole number, got %r" % (what, text)) from None
    if value < minimum:
        raise OVFError("%s: must be at least %d, got %d" % (what, minimum, value))
    return value


def digits(text):
    """Whether ``text`` is a whole number in ASCII digits (``str.isdigit`` also takes ``²``)."""
    return bool(text) and re.match(r"^[0-9]{1,18}$", text) is not None


def format_of_uri(uri):
    """QEMU's name for the disk format an ``ovf:format`` URI names, or None."""
    lowered = (uri or "").lower()
    for marker, fmt in DISK_FORMAT_URIS:
        if marker in lowered:
            return fmt
    return None


def check_href(href, what):
    """A relative path inside the package: no URL, no absolute path, no ``..``."""
    if not href or "://" in href or href.startswith("/") or "\\" in href:
        raise OVFError("%s: %r is not a file of the package (URLs and absolute paths are refused)"
                       % (what, href))
    normal = posixpath.normpath(href)
    if normal.startswith("..") or normal == ".":
        raise OVFError("%s: %r points outside the package" % (what, href))
    return normal


def os_family(cim_id, os_type, description):
    """``(family, bits)`` of a guest OS an OVF names by CIM id (DSP1033), VMware's ``osType``
    and/or a description: family ``windows``, ``linux`` or ``other``; bits 64, 32, or None when
    nothing is said."""
    words = " ".join(filter(None, (os_type, description))).lower()
    family, bits = "other", None
    if cim_id in _CIM_WINDOWS or words.startswith("win") or "windows" in words:
        family = "windows"
    elif cim_id in _CIM_LINUX or any(w in words for w in _LINUX_WORDS):
        family = "linux"
    if cim_id in _CIM_64BIT or "64" in words:
        bits = 64
    elif cim_id in _CIM_WINDOWS | _CIM_LINUX or words:
        bits = 32
    return family, bits
