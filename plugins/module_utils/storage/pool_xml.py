# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Storage pool XML: validation of the module's options, the XML they stand
for, and the read-modify-write merge used for idempotency.

Pure Python: no libvirt, no AnsibleModule. ``validate_pool`` raises
:class:`PoolSpecError` with a message naming the offending parameter; the
module turns it into ``fail_json`` before anything is touched.

Idempotency rests on :func:`overlay`: the XML built from the options is laid
over the pool's current XML (elements and attributes the options do not
mention survive), and the pool changes only when the result differs from the
current XML after :func:`canonical` normalisation.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import xml.etree.ElementTree as ET

from ansible_collections.hotiron.virt.plugins.module_utils import errors
from ansible_collections.hotiron.virt.plugins.module_utils import xml_tools

POOL_TYPES = ("dir", "fs", "netfs", "logical", "iscsi", "iscsi-direct", "scsi", "mpath", "rbd")

# What each pool type takes under ``source``; anything else is refused by name.
SOURCE_FIELDS = {
    "dir": (),
    "fs": ("devices", "format"),
    "netfs": ("hosts", "dir", "format"),
    "logical": ("name", "devices", "format"),
    "iscsi": ("hosts", "iqn", "initiator_iqn", "auth"),
    "iscsi-direct": ("hosts", "iqn", "initiator_iqn", "auth"),
    "scsi": ("adapter",),
    "mpath": (),
    "rbd": ("name", "hosts", "auth"),
}

# Fields a type cannot do without.
SOURCE_REQUIRED = {
    "fs": ("devices",),
    "netfs": ("hosts", "dir"),
    "iscsi": ("hosts", "iqn"),
    "iscsi-direct": ("hosts", "iqn", "initiator_iqn"),
    "scsi": ("adapter",),
    "rbd": ("name", "hosts"),
}

# Types whose volumes live under a target path, and the path libvirt's docs use.
TARGET_DEFAULTS = {
    "dir": None,
    "fs": None,
    "netfs": None,
    "logical": None,  # libvirt uses /dev/<vg name>
    "iscsi": "/dev/disk/by-path",
    "scsi": "/dev/disk/by-path",
    "mpath": "/dev/mapper",
}
TARGET_REQUIRED = ("dir", "fs", "netfs")

SOURCE_FORMATS = {
    "fs": ("auto", "ext2", "ext3", "ext4", "ufs", "iso9660", "udf", "gfs", "gfs2", "vfat", "hfs+", "xfs", "ocfs2", "vmfs"),
    "netfs": ("auto", "nfs", "glusterfs", "cifs"),
    "logical": ("auto", "lvm2"),
}

AUTH_TYPE = {"iscsi": "chap", "iscsi-direct": "chap", "rbd": "ceph"}
# libvirt secret usage type for each auth type.
SECRET_USAGE_TYPE = {"chap": "iscsi", "ceph": "ceph"}

# Types whose build() only creates a directory: safe to do whenever the pool is defined.
SAFE_BUILD_TYPES = ("dir", "netfs")
# Types whose build() formats devices (mkfs, pvcreate/vgcreate): only when the user asks.
DESTRUCTIVE_BUILD_TYPES = ("fs", "logical")

_WWN = re.compile(r"^(0x)?[0-9a-fA-F]{16}$")
_IQN = re.compile(r"^(iqn\.\d{4}-\d{2}\.[^\s]+|eui\.[0-9a-fA-F]{16}|naa\.[0-9a-fA-F]{16,32})$")
_MODE = re.compile(r"^0?[0-7]{3,4}$")

LIST_TAGS = frozenset(("host", "device"))


class PoolSpecError(errors.InputError):
    """Options that cannot describe a pool; the message names the parameter."""


def _clean(value):
    """Drop None values (and empty dicts/lists left by them) recursively."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = _clean(item)
            if item is None or item == {} or item == []:
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def normalize_wwn(value, param):
    if not isinstance(value, str) or not _WWN.match(value):
        raise PoolSpecError("%s must be 16 hexadecimal digits (a WWN such as 20000000c9831b4b), got %r" % (param, value))
    return value.lower()[-16:]


def validate_pool(name, pool_type, target=None, source=None, existing=False):
    """Check the options and return the normalised pool spec.

    ``target`` is a dict ``{path, mode, owner, group}``; ``source`` a dict
    with the keys listed in :data:`SOURCE_FIELDS`. With ``existing`` the
    spec is laid over a pool that is already defined: what the type needs
    may come from its definition, so it is neither required nor defaulted.
    """
    if not name:
        raise PoolSpecError("name must not be empty")
    if pool_type not in POOL_TYPES:
        raise PoolSpecError("type %r is not a pool type this module manages; use one of: %s" % (pool_type, ", ".join(POOL_TYPES)))
    source = _clean(source or {})
    target = _clean(target or {})

    _check_source_keys(pool_type, source, existing)
    _check_target(pool_type, source, target, existing)
    _check_source_values(name, pool_type, source)

    spec = {"name": name, "type": pool_type}
    if source:
        spec["source"] = source
    if target:
        spec["target"] = target
    return spec


def _check_source_keys(pool_type, source, existing):
    """The source options the type takes, and those it needs (unless laid over a defined pool)."""
    allowed = SOURCE_FIELDS[pool_type]
    for key in sorted(source):
        if key not in allowed:
            raise PoolSpecError(
                "pool type %s does not take source.%s (it takes %s)"
                % (pool_type, key, ", ".join("source." + a for a in allowed) if allowed else "no source")
            )
    for key in () if existing else SOURCE_REQUIRED.get(pool_type, ()):
        if key not in source:
            raise PoolSpecError("pool type %s needs source.%s" % (pool_type, key))
    if pool_type == "logical" and not existing and "name" not in source and "devices" not in source:
        raise PoolSpecError("pool type logical needs source.name (the volume group) or source.devices")


def _check_target(pool_type, source, target, existing):
    """The target: only for types with a local path; the path absolute (defaulted for a new pool),
    the mode octal, owner and group numeric ids (``target`` is normalised in place)."""
    if pool_type not in TARGET_DEFAULTS and target:
        raise PoolSpecError("pool type %s does not take target (its volumes have no local path)" % pool_type)
    if pool_type in TARGET_REQUIRED and not existing and not target.get("path"):
        raise PoolSpecError("pool type %s needs target.path" % pool_type)
    if pool_type in TARGET_DEFAULTS:
        path = target.get("path") or (None if existing else TARGET_DEFAULTS[pool_type])
        if pool_type == "logical" and not path and not existing and source.get("name"):
            path = "/dev/" + source["name"]
        if path:
            if not os.path.isabs(path):
                raise PoolSpecError("target.path must be an absolute path, got %r" % path)
            target["path"] = os.path.normpath(path)
        if "mode" in target:
            mode = str(target["mode"])
            if not _MODE.match(mode):
                raise PoolSpecError("target.mode must be an octal mode such as 0755, got %r" % target["mode"])
            target["mode"] = mode.rjust(4, "0")
        for key in ("owner", "group"):
            if key in target:
                try:
                    target[key] = int(target[key])
                except (TypeError, ValueError):
                    raise PoolSpecError("target.%s must be a numeric id, got %r" % (key, target[key])) from None


def _check_source_values(name, pool_type, source):
    """The source's values: format, devices, hosts, exported dir, iSCSI names, adapter, auth
    (``source`` is normalised in place)."""
    if "format" in source and source["format"] not in SOURCE_FORMATS[pool_type]:
        raise PoolSpecError(
            "source.format %r is not a format of %s pools; use one of: %s"
            % (source["format"], pool_type, ", ".join(SOURCE_FORMATS[pool_type]))
        )
    if "devices" in source:
        devices = source["devices"]
        if pool_type == "fs" and len(devices) != 1:
            raise PoolSpecError("pool type fs takes exactly one entry in source.devices, got %d" % len(devices))
        for dev in devices:
            if not isinstance(dev, str) or not os.path.isabs(dev):
                raise PoolSpecError("source.devices entries must be absolute device paths, got %r" % (dev,))
    if "hosts" in source:
        hosts = []
        for index, host in enumerate(source["hosts"]):
            if isinstance(host, str):
                host = {"name": host}
            host = _clean(dict(host))
            if not host.get("name"):
                raise PoolSpecError("source.hosts[%d].name is required" % index)
            if "port" in host:
                port = host["port"]
                if not isinstance(port, int) or not 0 < port < 65536:
                    raise PoolSpecError("source.hosts[%d].port must be a TCP port number, got %r" % (index, port))
            hosts.append(host)
        if pool_type != "rbd" and len(hosts) != 1:
            raise PoolSpecError("pool type %s takes exactly one entry in source.hosts, got %d" % (pool_type, len(hosts)))
        source["hosts"] = hosts
    if pool_type == "netfs" and "dir" in source and not source["dir"].startswith("/") and source.get("format") != "glusterfs":
        raise PoolSpecError("source.dir must be the absolute path exported by the server, got %r" % source["dir"])
    for key in ("iqn", "initiator_iqn"):
        if key in source and not _IQN.match(source[key]):
            raise PoolSpecError("source.%s must be an iSCSI name such as iqn.2026-11.com.example:san1, got %r" % (key, source[key]))
    if "adapter" in source:
        source["adapter"] = _validate_adapter(source["adapter"])
    if "auth" in source:
        source["auth"] = _validate_auth(name, pool_type, source["auth"])


def _validate_adapter(adapter):
    adapter = _clean(dict(adapter))
    kind = adapter.get("type", "fc_host")
    adapter["type"] = kind
    if kind == "scsi_host":
        extra = sorted(set(adapter) - {"type", "name"})
        if extra:
            raise PoolSpecError("source.adapter.%s applies to fc_host adapters, not scsi_host" % extra[0])
        if not adapter.get("name"):
            raise PoolSpecError("source.adapter.name (for example host0) is required for a scsi_host adapter")
        return adapter
    if kind != "fc_host":
        raise PoolSpecError("source.adapter.type must be fc_host or scsi_host, got %r" % kind)
    if "name" in adapter:
        raise PoolSpecError("source.adapter.name applies to scsi_host adapters; an fc_host adapter is named by wwnn and wwpn")
    for key in ("wwnn", "wwpn"):
        if key not in adapter:
            raise PoolSpecError("source.adapter.%s is required for an fc_host adapter (NPIV vHBA)" % key)
        adapter[key] = normalize_wwn(adapter[key], "source.adapter." + key)
    for key in ("parent_wwnn", "parent_wwpn", "parent_fabric_wwn"):
        if key in adapter:
            adapter[key] = normalize_wwn(adapter[key], "source.adapter." + key)
    if ("parent_wwnn" in adapter) != ("parent_wwpn" in adapter):
        raise PoolSpecError("source.adapter.parent_wwnn and source.adapter.parent_wwpn go together")
    parents = [k for k in ("parent", "parent_wwnn", "parent_fabric_wwn") if k in adapter]
    if len(parents) > 1:
        raise PoolSpecError("give only one of source.adapter.parent, parent_wwnn/parent_wwpn, parent_fabric_wwn")
    return adapter


def _validate_auth(pool_name, pool_type, auth):
    auth = _clean(dict(auth))
    if not auth.get("username"):
        raise PoolSpecError("source.auth.username is required")
    if "password" in auth and "secret_usage" not in auth:
        auth["secret_usage"] = "hotiron-pool-%s" % pool_name
    if "secret_usage" not in auth:
        raise PoolSpecError("source.auth needs a password (stored in a libvirt secret) or secret_usage (an existing secret)")
    auth["type"] = AUTH_TYPE[pool_type]
    if "password" in auth:
        secret_value(auth)  # refuse a bad Ceph key now, before anything is touched
    return auth


def secret_value(auth):
    """The bytes to store in the libvirt secret.

    A CHAP password is stored as given; a Ceph key is given as printed by
    ``ceph auth get-key`` (base64) and libvirt stores the decoded bytes.
    """
    password = auth["password"]
    if auth["type"] == "ceph":
        try:
            return base64.b64decode(password, validate=True)
        except (binascii.Error, ValueError):
            raise PoolSpecError("source.auth.password of an rbd pool must be the base64 key printed by 'ceph auth get-key'") from None
    return password.encode("utf-8")


# --- XML ---------------------------------------------------------------------------------


def _sub(_parent, _tag, _text=None, **attrs):
    elem = ET.SubElement(_parent, _tag, {k: str(v) for k, v in attrs.items() if v is not None})
    if _text is not None:
        elem.text = str(_text)
    return elem


def pool_element(spec):
    """The ``<pool>`` element for a validated spec."""
    pool = ET.Element("pool", {"type": spec["type"]})
    _sub(pool, "name", spec["name"])
    source = spec.get("source")
    if source:
        src = ET.SubElement(pool, "source")
        for host in source.get("hosts", ()):
            _sub(src, "host", name=host["name"], port=host.get("port"))
        for dev in source.get("devices", ()):
            _sub(src, "device", path=dev)
        if "iqn" in source:
            _sub(src, "device", path=source["iqn"])
        if "dir" in source:
            _sub(src, "dir", path=source["dir"])
        if "adapter" in source:
            adapter = source["adapter"]
            attrs = {"type": adapter["type"]}
            if adapter["type"] == "scsi_host":
                attrs["name"] = adapter["name"]
            else:
                for key in ("parent", "parent_wwnn", "parent_wwpn", "parent_fabric_wwn", "wwnn", "wwpn"):
                    if key in adapter:
                        attrs[key] = adapter[key]
                if "managed" in adapter:
                    attrs["managed"] = "yes" if adapter["managed"] else "no"
            _sub(src, "adapter", **attrs)
        if "name" in source:
            _sub(src, "name", source["name"])
        if "format" in source:
            _sub(src, "format", type=source["format"])
        if "initiator_iqn" in source:
            _sub(_sub(src, "initiator"), "iqn", name=source["initiator_iqn"])
        if "auth" in source:
            auth = source["auth"]
            elem = _sub(src, "auth", type=auth["type"], username=auth["username"])
            _sub(elem, "secret", usage=auth["secret_usage"])
    target = spec.get("target")
    if target:
        tgt = ET.SubElement(pool, "target")
        if "path" in target:
            _sub(tgt, "path", target["path"])
        perms = {k: target[k] for k in ("mode", "owner", "group") if k in target}
        if perms:
            pel = ET.SubElement(tgt, "permissions")
            for key in ("mode", "owner", "group"):
                if key in perms:
                    _sub(pel, key, perms[key])
    return pool


def pool_xml(spec):
    """The pool definition for a validated spec, as indented text."""
    return xml_tools.to_text(pool_element(spec))


def secret_xml(pool_name, auth):
    """The libvirt secret holding a pool's CHAP password or Ceph key."""
    secret = ET.Element("secret", {"ephemeral": "no", "private": "yes"})
    _sub(secret, "description", "%s secret of storage pool %s (hotiron.virt)" % (auth["type"], pool_name))
    usage_type = SECRET_USAGE_TYPE[auth["type"]]
    usage = _sub(secret, "usage", type=usage_type)
    _sub(usage, "target" if usage_type == "iscsi" else "name", auth["secret_usage"])
    return xml_tools.to_text(secret)


# --- read-modify-write ---------------------------------------------------------------------


def overlay(current, desired, list_tags=LIST_TAGS):
    """:func:`xml_tools.overlay` with the pool's repeated elements (``<host>``, ``<device>``)."""
    return xml_tools.overlay(current, desired, list_tags)


# Computed by libvirt on every read; never part of what a user asks for.
POOL_COMPUTED = ("capacity", "allocation", "available")


def plan_pool_xml(current_xml, spec):
    """``(new_xml, changed)``: the definition to write for ``spec``.

    With no current definition the built XML is returned; otherwise it is
    overlaid on the current one (keeping the UUID and anything else the
    options do not mention).
    """
    desired = pool_element(spec)
    if not current_xml:
        return xml_tools.to_text(desired), True
    current = ET.fromstring(current_xml)
    for tag in POOL_COMPUTED:
        for child in current.findall(tag):
            current.remove(child)
    if current.get("type") != spec["type"]:
        raise PoolSpecError(
            "storage pool %s exists with type %s; type cannot change to %s (remove the pool first)"
            % (spec["name"], current.get("type"), spec["type"])
        )
    merged = overlay(current, desired)
    changed = xml_tools.canonical(merged) != xml_tools.canonical(current)
    return xml_tools.to_text(merged), changed


def strip_computed(xml_text):
    """A pool's XML without the capacity figures, for diffs."""
    if not xml_text:
        return ""
    elem = ET.fromstring(xml_text)
    for tag in POOL_COMPUTED:
        for child in elem.findall(tag):
            elem.remove(child)
    return xml_tools.to_text(elem)


def parse_pool(xml_text):
    """What a pool's XML says, as plain data for the module's return value."""
    root = ET.fromstring(xml_text)
    info = {"name": root.findtext("name"), "type": root.get("type"), "uuid": root.findtext("uuid")}
    path = root.findtext("target/path")
    info["target_path"] = path
    src = root.find("source")
    source = {}
    if src is not None:
        hosts = [_clean({"name": h.get("name"), "port": int(h.get("port")) if h.get("port") else None}) for h in src.findall("host")]
        if hosts:
            source["hosts"] = hosts
        devices = [d.get("path") for d in src.findall("device")]
        if devices:
            if root.get("type") in ("iscsi", "iscsi-direct"):
                source["iqn"] = devices[0]
            else:
                source["devices"] = devices
        for tag, key in (("name", "name"),):
            if src.findtext(tag):
                source[key] = src.findtext(tag)
        if src.find("dir") is not None:
            source["dir"] = src.find("dir").get("path")
        if src.find("format") is not None:
            source["format"] = src.find("format").get("type")
        if src.find("initiator/iqn") is not None:
            source["initiator_iqn"] = src.find("initiator/iqn").get("name")
        if src.find("adapter") is not None:
            source["adapter"] = dict(src.find("adapter").attrib)
        auth = src.find("auth")
        if auth is not None:
            secret = auth.find("secret")
            source["auth"] = _clean({
                "type": auth.get("type"),
                "username": auth.get("username"),
                "secret_usage": secret.get("usage") if secret is not None else None,
                "secret_uuid": secret.get("uuid") if secret is not None else None,
            })
    info["source"] = source
    return info
