# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""xml_tools: text out (to_text), comparison (canonical, canonical_tree) and the overlay.  Pure."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.hotiron.virt.plugins.module_utils import xml_tools

POOL_LIST_TAGS = frozenset(("host", "device"))   # what storage/pool_xml.py passes


def test_to_text_indents_a_copy_and_ends_in_a_newline():
    elem = ET.fromstring("<pool type='dir'><name>p</name><target><path>/srv</path></target></pool>")
    assert xml_tools.to_text(elem) == ('<pool type="dir">\n  <name>p</name>\n  <target>\n    <path>/srv</path>\n'
                                       '  </target>\n</pool>\n')
    assert elem.text is None and elem.find("target").text is None, "to_text must not indent its input"


def test_canonical_ignores_formatting_attribute_order_and_the_order_of_different_tags():
    one = ET.fromstring("<pool type='dir' a='1'>\n  <name>p</name>\n  <target><path> /srv </path></target>\n</pool>")
    two = ET.fromstring("<pool a='1' type='dir'><target><path>/srv</path></target><name>p</name></pool>")
    assert xml_tools.canonical(one) == xml_tools.canonical(two)
    assert xml_tools.canonical(one) == '<pool a="1" type="dir"><name>p</name><target><path>/srv</path></target></pool>'


def test_canonical_keeps_the_order_of_repeated_tags_and_sees_changed_values():
    ab = ET.fromstring("<source><host name='a'/><host name='b'/></source>")
    ba = ET.fromstring("<source><host name='b'/><host name='a'/></source>")
    assert xml_tools.canonical(ab) != xml_tools.canonical(ba)
    assert xml_tools.canonical(ET.fromstring("<a><b>1</b></a>")) != xml_tools.canonical(ET.fromstring("<a><b>2</b></a>"))


def test_canonical_without_sorting_keeps_child_order():
    one = ET.fromstring("<devices><disk/><interface/></devices>")
    two = ET.fromstring("<devices><interface/><disk/></devices>")
    assert xml_tools.canonical(one) == xml_tools.canonical(two)
    assert xml_tools.canonical(one, sort_children=False) != xml_tools.canonical(two, sort_children=False)


def test_canonical_drops_computed_children_of_the_root_only():
    current = ET.fromstring("<pool><name>p</name><capacity>10</capacity><target><capacity>1</capacity></target></pool>")
    wanted = ET.fromstring("<pool><name>p</name><target><capacity>1</capacity></target></pool>")
    assert xml_tools.canonical(current, drop=("capacity",)) == xml_tools.canonical(wanted)
    assert current.find("capacity") is not None, "canonical must not change its input"


def test_canonical_text_hook_rewrites_each_node():
    def in_kib(node):
        if node.get("unit") == "MiB":
            node.text, node.attrib = str(int(node.text) * 1024), {"unit": "KiB"}

    mib = ET.fromstring("<domain><memory unit='MiB'>2</memory></domain>")
    kib = ET.fromstring("<domain><memory unit='KiB'>2048</memory></domain>")
    assert xml_tools.canonical(mib) != xml_tools.canonical(kib)
    assert xml_tools.canonical(mib, text_hook=in_kib) == xml_tools.canonical(kib, text_hook=in_kib)
    assert xml_tools.canonical_tree(mib, text_hook=in_kib).find("memory").text == "2048"


def test_overlay_keeps_what_the_request_does_not_mention_and_replaces_what_it_does():
    current = ET.fromstring("<pool type='dir'><uuid>u</uuid><name>p</name><target><path>/a</path>"
                            "<permissions><mode>0755</mode></permissions></target></pool>")
    desired = ET.fromstring("<pool type='dir'><name>p</name><target><path>/b</path></target><source><dir path='/x'/></source></pool>")
    merged = xml_tools.overlay(current, desired)
    assert merged.findtext("uuid") == "u" and merged.findtext("target/permissions/mode") == "0755"
    assert merged.findtext("target/path") == "/b" and merged.find("source/dir").get("path") == "/x"
    assert current.findtext("target/path") == "/a" and current.find("source") is None, "overlay must not modify its input"


def test_overlay_blank_text_does_not_erase_and_attributes_merge():
    current = ET.fromstring("<network><bridge name='br0' stp='on'/><domain name='x'>keep</domain></network>")
    desired = ET.fromstring("<network><bridge name='br1'/><domain name='x'>  </domain></network>")
    merged = xml_tools.overlay(current, desired)
    assert merged.find("bridge").attrib == {"name": "br1", "stp": "on"}
    assert merged.findtext("domain") == "keep"


@pytest.mark.parametrize("desired, list_tags, hosts", [
    ("<source><host name='c'/></source>", frozenset(), ["c", "b"]),          # merged into the first one
    ("<source><host name='c'/></source>", frozenset({"host"}), ["c"]),       # a list tag: replaced as a group
    ("<source><host name='c'/><host name='d'/></source>", frozenset(), ["c", "d"]),   # repeated in desired: a group
])
def test_overlay_repeated_elements(desired, list_tags, hosts):
    current = ET.fromstring("<source><name>r</name><host name='a'/><host name='b'/><dir/></source>")
    merged = xml_tools.overlay(current, ET.fromstring(desired), list_tags)
    assert [h.get("name") for h in merged.iter("host")] == hosts
    assert [c.tag for c in merged] == ["name"] + ["host"] * len(hosts) + ["dir"], "the group stays where it was"


# --- property: laying the same options over twice changes nothing the second time -------------


TAGS = st.sampled_from(["source", "target", "host", "device", "name", "path", "auth"])


ATTRS = st.dictionaries(st.sampled_from(["name", "path", "port", "type"]), st.sampled_from(["a", "b", "1"]), max_size=2)


def _tree(depth):
    leaf = st.builds(ET.Element, TAGS, ATTRS)
    if depth == 0:
        return leaf

    def build(tag, attrs, children):
        elem = ET.Element(tag, attrs)
        elem.extend(children)
        return elem

    return st.builds(build, TAGS, ATTRS, st.lists(_tree(depth - 1), max_size=3))


def _root(children):
    root = ET.Element("pool", {"type": "dir"})
    root.extend(children)
    return root


ROOTS = st.builds(_root, st.lists(_tree(2), max_size=4))


@settings(max_examples=200, deadline=None)
@given(ROOTS, ROOTS)
def test_overlay_is_idempotent(current, desired):
    once = xml_tools.overlay(current, desired, POOL_LIST_TAGS)
    assert xml_tools.canonical(xml_tools.overlay(once, desired, POOL_LIST_TAGS)) == xml_tools.canonical(once)
