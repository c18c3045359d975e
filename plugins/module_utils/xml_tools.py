# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one XML toolkit for libvirt's documents (domains, pools, networks, volumes): text out,
comparison, and the read-modify-write overlay.  Pure: ElementTree only.

- :func:`to_text`: an element as indented text with a trailing newline (what libvirt is given
  and what diffs show);
- :func:`canonical`: a deterministic text for comparing two documents - formatting whitespace
  gone, attributes sorted, children sorted by tag where their order does not matter to libvirt,
  computed children dropped, and text put in one form by ``text_hook`` (memory sizes in KiB);
- :func:`overlay`: what the user asked for laid over what libvirt has, keeping everything the
  request does not mention (the pool and network models; the domain model's :func:`domain_xml.merge`
  matches devices by identity instead).
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET


def to_text(elem):
    """``elem`` as indented text ending in a newline (a copy is indented, not ``elem``)."""
    elem = copy.deepcopy(elem)
    ET.indent(elem, space="  ")
    return ET.tostring(elem, encoding="unicode") + "\n"


def canonical(elem, drop=(), sort_children=True, text_hook=None):
    """Text of ``elem`` for comparison (:func:`canonical_tree`)."""
    return ET.tostring(canonical_tree(elem, drop, sort_children, text_hook), encoding="unicode")


def canonical_tree(elem, drop=(), sort_children=True, text_hook=None):
    """A copy of ``elem`` for comparison: without formatting whitespace, attributes sorted, and
    (``sort_children``) children sorted by tag - a stable sort, so the order of repeated elements
    such as ``<host>`` still counts - since libvirt reads its XML by name and writes it back in an
    order of its own.  ``drop`` lists child tags of the root to ignore (values libvirt computes,
    such as a pool's ``capacity``); ``text_hook(node)`` may rewrite a node in place (units)."""
    elem = copy.deepcopy(elem)
    for tag in drop:
        for child in elem.findall(tag):
            elem.remove(child)
    for node in elem.iter():
        if node.text is not None:
            node.text = node.text.strip() or None
        node.tail = None
        if text_hook is not None:
            text_hook(node)
        if node.attrib:
            node.attrib = dict(sorted(node.attrib.items()))
        if sort_children and len(node) > 1:
            node[:] = sorted(node, key=lambda child: child.tag)
    return elem


def overlay(current, desired, list_tags=frozenset()):
    """Lay element ``desired`` over a copy of ``current`` and return the copy.

    Attributes and text given in ``desired`` replace those of ``current``; children are merged by
    tag, recursively.  Tags in ``list_tags`` (repeated elements such as ``<host>``), and any tag
    ``desired`` repeats, are replaced as a group when ``desired`` has any.  Everything ``desired``
    does not mention is kept.
    """
    result = copy.deepcopy(current)
    _overlay_into(result, desired, list_tags)
    return result


def _overlay_into(target, desired, list_tags):
    target.attrib.update(desired.attrib)
    if desired.text is not None and desired.text.strip():
        target.text = desired.text
    seen = set()
    for child in desired:
        tag = child.tag
        if tag in seen:
            continue
        seen.add(tag)
        wanted = [c for c in desired if c.tag == tag]
        existing = [c for c in target if c.tag == tag]
        if tag in list_tags or len(wanted) > 1:
            # Replace the group in place, keeping the position of the first one.
            index = list(target).index(existing[0]) if existing else len(target)
            for old in existing:
                target.remove(old)
            for offset, new in enumerate(wanted):
                target.insert(index + offset, copy.deepcopy(new))
        elif existing:
            _overlay_into(existing[0], child, list_tags)
        else:
            target.append(copy.deepcopy(child))
