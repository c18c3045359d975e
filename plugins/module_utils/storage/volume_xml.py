# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Storage volumes as data: sizes, formats, the XML of a new volume, and the
decision what to do with an existing one.

Pure Python: no libvirt, no AnsibleModule. Errors are :class:`VolumeSpecError`
with a message naming the parameter.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ansible_collections.hotiron.virt.plugins.module_utils import errors
from ansible_collections.hotiron.virt.plugins.module_utils import units

# Formats qemu-img can create (libvirt creates file volumes with qemu-img).
WRITABLE_FORMATS = ("raw", "qcow2", "qcow", "qed", "vdi", "vpc", "vmdk")
# Formats qemu-img writes but libvirt has no name for (neither volumes nor guest disks).
LIBVIRT_UNKNOWN_FORMATS = ("vhdx",)
# Formats qemu-img (or libvirt) can read but not create.
READ_ONLY_FORMATS = ("bochs", "cloop", "dmg", "iso", "parallels", "vvfat", "cow", "luks")
# Formats whose size qemu-img can change.
RESIZABLE_FORMATS = ("raw", "qcow2", "qed", "vdi")
# Formats that can sit on a backing file (linked overlays).
OVERLAY_FORMATS = ("qcow2", "qed", "vmdk")
# VHD sizes are rounded to a CHS geometry (at most 16 heads x 255 sectors of 512 bytes).
VPC_ROUNDING = 16 * 255 * 512

PREALLOCATION = ("off", "metadata", "full")


class VolumeSpecError(errors.InputError):
    """Options that cannot describe a volume; the message names the parameter."""


def parse_size(value, param):
    """Bytes for ``value``: an int (bytes), or text such as ``10G``, ``512MiB``, ``1GB``
    (:func:`units.parse_size`: ``K``... and ``KiB``... are powers of 1024, ``KB``... of 1000)."""
    if value is None:
        return None
    if isinstance(value, float) and not isinstance(value, bool):
        value = str(value)
    try:
        size = units.parse_size(value, bare="B")
    except units.SizeError:
        raise VolumeSpecError("%s must be a size such as 10G, 512MiB or 1GB, got %r" % (param, value)) from None
    if size < 0:
        raise VolumeSpecError("%s must not be negative, got %r" % (param, value))
    return size


def check_format(fmt, param="format"):
    if fmt is None or fmt in WRITABLE_FORMATS:
        return fmt
    if fmt in LIBVIRT_UNKNOWN_FORMATS:
        raise VolumeSpecError(
            "%s %s: qemu-img can write it, but libvirt has no %s volume or disk format, so no guest could use the volume;"
            " convert such images to qcow2 with qemu-img convert, or use vpc for VHD" % (param, fmt, fmt)
        )
    if fmt in READ_ONLY_FORMATS:
        raise VolumeSpecError(
            "%s %s: qemu-img can read this format but cannot write it; use one of %s" % (param, fmt, ", ".join(WRITABLE_FORMATS))
        )
    raise VolumeSpecError("%s %r is not a disk image format; use one of %s" % (param, fmt, ", ".join(WRITABLE_FORMATS)))


def validate_volume(params):
    """Check the options that do not need libvirt; return the normalised spec."""
    spec = {
        "name": params["name"],
        "pool": params["pool"],
        "capacity": parse_size(params.get("capacity"), "capacity"),
        "allocation": parse_size(params.get("allocation"), "allocation"),
        "format": check_format(params.get("format")),
        "preallocation": params.get("preallocation") or "off",
    }
    if not spec["name"] or "/" in spec["name"]:
        raise VolumeSpecError("name must be a volume name without '/', got %r" % spec["name"])
    if spec["preallocation"] not in PREALLOCATION:
        raise VolumeSpecError("preallocation must be one of %s, got %r" % (", ".join(PREALLOCATION), spec["preallocation"]))
    sources = [k for k in ("clone_from", "backing_volume", "upload_from") if params.get(k)]
    if len(sources) > 1:
        raise VolumeSpecError("give only one of %s" % " and ".join(sources))
    if params.get("backing_volume"):
        if spec["format"] is None:
            spec["format"] = "qcow2"
        if spec["format"] not in OVERLAY_FORMATS:
            raise VolumeSpecError("format %s cannot have a backing volume; an overlay needs one of %s" % (spec["format"], ", ".join(OVERLAY_FORMATS)))
        if spec["preallocation"] != "off" or spec["allocation"]:
            raise VolumeSpecError("preallocation and allocation do not apply to an overlay on backing_volume")
    if spec["preallocation"] == "metadata" and spec["format"] not in ("qcow2", "qed", None):
        raise VolumeSpecError("preallocation=metadata needs format qcow2, got %s" % spec["format"])
    if spec["allocation"] is not None and spec["capacity"] is not None and spec["allocation"] > spec["capacity"]:
        raise VolumeSpecError("allocation (%d bytes) must not exceed capacity (%d bytes)" % (spec["allocation"], spec["capacity"]))
    if spec["allocation"] is not None and spec["preallocation"] != "off":
        raise VolumeSpecError("give allocation or preallocation, not both")
    return spec


def _sub(parent, tag, text=None, **attrs):
    elem = ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items() if v is not None})
    if text is not None:
        elem.text = str(text)
    return elem


def volume_xml(name, capacity, fmt=None, allocation=None, backing=None):
    """XML of a new volume; ``backing`` is ``{path, format}`` for an overlay."""
    vol = ET.Element("volume")
    _sub(vol, "name", name)
    _sub(vol, "capacity", capacity, unit="bytes")
    if allocation is not None:
        _sub(vol, "allocation", allocation, unit="bytes")
    if fmt:
        _sub(_sub(vol, "target"), "format", type=fmt)
    if backing:
        store = _sub(vol, "backingStore")
        _sub(store, "path", backing["path"])
        if backing.get("format"):
            _sub(store, "format", type=backing["format"])
    ET.indent(vol, space="  ")
    return ET.tostring(vol, encoding="unicode") + "\n"


def create_allocation(spec, capacity):
    """Bytes to allocate up front for a new volume."""
    if spec["allocation"] is not None:
        return spec["allocation"]
    if spec["preallocation"] == "full":
        return capacity
    return 0


def parse_volume(xml_text):
    """Name, path, format, capacity, allocation and backing of a volume's XML."""
    root = ET.fromstring(xml_text)

    def size(tag):
        text = root.findtext(tag)
        return int(text) if text else None

    info = {
        "name": root.findtext("name"),
        "key": root.findtext("key"),
        "type": root.get("type"),
        "path": root.findtext("target/path"),
        "format": root.find("target/format").get("type") if root.find("target/format") is not None else None,
        "capacity": size("capacity"),
        "allocation": size("allocation"),
        "backing": None,
    }
    store = root.find("backingStore")
    if store is not None and store.findtext("path"):
        fmt = store.find("format")
        info["backing"] = {"path": store.findtext("path"), "format": fmt.get("type") if fmt is not None else None}
    return info


def same_capacity(current, wanted, fmt):
    if current == wanted:
        return True
    return fmt == "vpc" and abs(current - wanted) < VPC_ROUNDING


def plan_existing(current, spec, shrink=False, backing_path=None):
    """Actions for a volume that exists: ``[]`` or ``["resize"]``/``["shrink"]``.

    ``current`` is :func:`parse_volume` output. Raises VolumeSpecError for
    what cannot be done in place (a format change, a refused shrink, a
    different backing volume).
    """
    name = spec["name"]
    if spec["format"] and current["format"] and spec["format"] != current["format"]:
        raise VolumeSpecError(
            "volume %s exists with format %s; format cannot change to %s in place (clone it into a new volume with clone_from)"
            % (name, current["format"], spec["format"])
        )
    if backing_path is not None:
        have = (current.get("backing") or {}).get("path")
        if have != backing_path:
            raise VolumeSpecError("volume %s exists with backing %s, not %s; delete it first to re-base" % (name, have or "none", backing_path))
    wanted = spec["capacity"]
    if wanted is None or current["capacity"] is None or same_capacity(current["capacity"], wanted, current["format"]):
        return []
    fmt = current["format"] or "raw"
    if fmt not in RESIZABLE_FORMATS and current["type"] in ("file", None):
        raise VolumeSpecError("capacity: qemu-img cannot resize %s volumes (volume %s is %d bytes, asked %d)" % (fmt, name, current["capacity"], wanted))
    if wanted < current["capacity"]:
        if not shrink:
            raise VolumeSpecError(
                "capacity %d bytes is below the current %d bytes of volume %s: set shrink=true to shrink it (data past the new end is lost)"
                % (wanted, current["capacity"], name)
            )
        return ["shrink"]
    return ["resize"]
