# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The domain XML document, read and written in place.

Following virtinst's xmlbuilder, the model never rebuilds a domain from its
own fields: it edits the parsed document, so everything it does not know
(devices added by hand, libvirt's PCI addresses, features of newer libvirt
versions) survives a read-modify-write.  :func:`normalise` gives the form in
which two definitions are compared, so that a second run with the same spec
finds nothing to change.

Pure Python: no libvirt, no Ansible.
"""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET

from ansible_collections.hotiron.virt.plugins.module_utils import errors
from ansible_collections.hotiron.virt.plugins.module_utils import units, xml_tools

NS = "https://hotiron.example/virt/1"
PREFIX = "hotiron"
ET.register_namespace(PREFIX, NS)

_UNIT_FACTORS = units.FACTORS

# Elements whose text is a memory size with a ``unit`` attribute (libvirt's default KiB).
_MEMORY_TAGS = ("memory", "currentMemory", "maxMemory")


class XMLError(errors.InputError):
    """The text is not a domain definition we can work with."""


def qname(tag):
    """``tag`` in the collection's metadata namespace."""
    return "{%s}%s" % (NS, tag)


def parse(text):
    """Parse domain XML into an Element; XMLError when malformed."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise XMLError("not well-formed XML: %s" % err) from err
    return root


def tostring(root):
    return ET.tostring(root, encoding="unicode")


def clone(root):
    return copy.deepcopy(root)


# --- small helpers to read and write the document ------------------------------------------

def find_or_create(parent, path):
    """The element at ``path`` (``a/b/c``) below ``parent``, created if missing."""
    node = parent
    for tag in path.split("/"):
        child = node.find(tag)
        if child is None:
            child = ET.SubElement(node, tag)
        node = child
    return node


def remove_path(parent, path):
    """Remove every element matching ``path`` below ``parent``."""
    if "/" in path:
        head, tail = path.rsplit("/", 1)
        holders = parent.findall(head)
    else:
        holders, tail = [parent], path
    for holder in holders:
        for child in holder.findall(tail):
            holder.remove(child)


def get_text(parent, path, default=None):
    node = parent.find(path)
    if node is None or node.text is None:
        return default
    return node.text.strip()


def set_text(parent, path, value):
    node = find_or_create(parent, path)
    node.text = str(value)
    return node


def set_attrs(node, **attrs):
    """Set attributes; a value of None removes the attribute."""
    for key, value in attrs.items():
        key = key.rstrip("_")
        if value is None:
            node.attrib.pop(key, None)
        else:
            node.set(key, str(value))
    return node


def replace_child(parent, tag, new):
    """Put ``new`` in place of the first child called ``tag`` (or append it)."""
    old = parent.find(tag)
    if old is None:
        parent.append(new)
        return new
    index = list(parent).index(old)
    parent.remove(old)
    parent.insert(index, new)
    return new


def to_bytes(value, unit):
    """libvirt memory/capacity text with its unit attribute, in bytes."""
    factor = _UNIT_FACTORS.get((unit or "KiB").lower())
    if factor is None:
        raise XMLError("unknown unit %r" % unit)
    return int(value) * factor


def memory_kib(root, tag):
    """A domain memory element (``memory``, ``currentMemory``) in KiB, or None."""
    node = root.find(tag)
    if node is None or not (node.text or "").strip():
        return None
    return to_bytes(node.text.strip(), node.get("unit")) // 1024


def set_memory_kib(root, tag, kib):
    node = find_or_create(root, tag)
    node.text = str(int(kib))
    node.set("unit", "KiB")
    return node


# --- metadata under the collection's namespace ---------------------------------------------

def metadata_element(root, create=False):
    """The ``<hotiron:vm>`` element inside ``<metadata>``."""
    meta = root.find("metadata")
    if meta is None:
        if not create:
            return None
        meta = ET.SubElement(root, "metadata")
    node = meta.find(qname("vm"))
    if node is None and create:
        node = ET.SubElement(meta, qname("vm"))
    return node


def read_metadata(root):
    """The collection metadata as a plain dict (empty when there is none).

    ``tags`` is a list, ``volumes`` a list of ``{pool, name}``, ``extra`` a
    dict of free-form keys; other children are strings.
    """
    node = metadata_element(root)
    result = {}
    if node is None:
        return result
    for child in node:
        tag = child.tag.split("}", 1)[-1]
        if tag == "tags":
            result["tags"] = [t.text or "" for t in child.findall(qname("tag"))]
        elif tag == "volumes":
            result["volumes"] = [dict(v.attrib) for v in child.findall(qname("volume"))]
        elif tag == "extra":
            result["extra"] = {e.get("key"): e.text or "" for e in child.findall(qname("item"))}
        else:
            result[tag] = (child.text or "").strip()
    return result


def write_metadata(root, values):
    """Replace the collection metadata with ``values`` (same shape as read_metadata).

    Keys are written in sorted order so the element is stable; an empty dict
    removes the element (and ``<metadata>`` if nothing else lives there).
    """
    meta = root.find("metadata")
    if not values:
        if meta is not None:
            old = meta.find(qname("vm"))
            if old is not None:
                meta.remove(old)
            if len(meta) == 0:
                root.remove(meta)
        return None
    node = metadata_element(root, create=True)
    node.clear()
    for key in sorted(values):
        value = values[key]
        child = ET.SubElement(node, qname(key))
        if key == "tags":
            for tag in value:
                ET.SubElement(child, qname("tag")).text = tag
        elif key == "volumes":
            for vol in sorted(value, key=lambda v: (v.get("pool", ""), v.get("name", ""))):
                ET.SubElement(child, qname("volume"), {k: str(v) for k, v in sorted(vol.items())})
        elif key == "extra":
            for k in sorted(value):
                ET.SubElement(child, qname("item"), {"key": k}).text = str(value[k])
        else:
            child.text = str(value)
    return node


def metadata_xml(root):
    """The ``<hotiron:vm>`` element as text for virDomainSetMetadata, or None.

    libvirt puts the element in the namespace itself (given as ``uri`` and
    ``key``), so the text carries no namespace of its own.
    """
    node = metadata_element(root)
    if node is None:
        return None
    node = copy.deepcopy(node)
    for child in node.iter():
        child.tag = child.tag.split("}", 1)[-1]
    return tostring(node)


# --- the escape hatch ----------------------------------------------------------------------

_KEY_ATTRS = ("name", "dev", "type", "id", "index", "model")


def merge(target, patch):
    """Merge the element ``patch`` into ``target`` (both the same tag).

    Attributes and text of ``patch`` win.  A child of ``patch`` merges into
    the first child of ``target`` with the same tag and the same values for
    its identifying attributes (name, dev, type, ...); under ``<devices>``, a
    device is added unless an equal one is already there.  So the model
    stays in charge of what it knows and the patch adds what it does not.
    """
    target.attrib.update(patch.attrib)
    if patch.text and patch.text.strip():
        target.text = patch.text.strip()
    for pchild in patch:
        if target.tag == "devices":
            if not any(_same_device(pchild, tchild) for tchild in target):
                target.append(copy.deepcopy(pchild))
            continue
        match = _find_match(target, pchild)
        if match is None:
            target.append(copy.deepcopy(pchild))
        else:
            merge(match, pchild)


def _find_match(target, pchild):
    keys = {k: pchild.get(k) for k in _KEY_ATTRS if pchild.get(k) is not None}
    for tchild in target.findall(pchild.tag):
        if all(tchild.get(k) == v for k, v in keys.items()):
            return tchild
    return None


def _same_device(patch, existing):
    """Whether device ``existing`` already is what the ``patch`` device asks for: the patch's
    attributes, text and children are all there.  libvirt fills in what a device leaves out (a
    ``<serial type='pty'/>`` comes back with its target and model), so a device the patch added
    on an earlier run is recognised, not added again.  Addresses and aliases are libvirt's."""
    return _contains(_strip_generated(existing), _strip_generated(patch))


def _contains(node, wanted):
    if node.tag != wanted.tag:
        return False
    if any(node.get(key) != value for key, value in wanted.attrib.items()):
        return False
    if (wanted.text or "").strip() and (wanted.text or "").strip() != (node.text or "").strip():
        return False
    free = list(node)
    for child in wanted:
        match = next((candidate for candidate in free if _contains(candidate, child)), None)
        if match is None:
            return False
        free.remove(match)
    return True


def _strip_generated(node):
    node = copy.deepcopy(node)
    for tag in ("address", "alias"):
        remove_path(node, tag)
    return node


# --- normalisation -------------------------------------------------------------------------

def _memory_in_kib(node):
    if node.tag in _MEMORY_TAGS and node.text:
        node.text = str(to_bytes(node.text, node.get("unit")) // 1024)
        node.set("unit", "KiB")


def canonical(node):
    """A deterministic text form of ``node``: sorted attributes, trimmed text, memory in KiB; the
    order of children kept (it matters in a domain: devices, boot order)."""
    return xml_tools.canonical(node, sort_children=False, text_hook=_memory_in_kib)


# Attributes that hold a secret in domain XML (graphics passwords): never shown in a diff.
SECRET_ATTRIBUTES = ("passwd",)
_SECRET_RE = re.compile(r"""\b(%s)=("[^"]*"|'[^']*')""" % "|".join(SECRET_ATTRIBUTES))


def mask_secrets(text):
    """``text`` (domain XML as shown in a diff) with every secret attribute's value masked."""
    return _SECRET_RE.sub(lambda m: '%s="********"' % m.group(1), text) if text else text


def normalise(text_or_root, keep_uuid=True):
    """Domain XML in the form used for comparison and diffs.

    Memory in KiB, attributes sorted, whitespace trimmed, runtime-only
    elements (``alias``, live ``<target dev>`` of interfaces is kept since it
    may be user-set) dropped, then pretty-printed.  ``keep_uuid=False`` drops
    the UUID, for comparing a planned definition libvirt has not seen yet.
    """
    root = parse(text_or_root) if isinstance(text_or_root, str) else copy.deepcopy(text_or_root)
    if not keep_uuid:
        remove_path(root, "uuid")
    for node in root.iter():
        for alias in node.findall("alias"):
            node.remove(alias)
    root = xml_tools.canonical_tree(root, sort_children=False, text_hook=_memory_in_kib)
    ET.indent(root)
    return tostring(root) + "\n"
