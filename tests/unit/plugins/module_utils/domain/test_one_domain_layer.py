# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Only the domain layer (plugins/module_utils/domain/) starts, stops, defines, undefines or sets
metadata on a libvirt domain: every other file of plugins/ and extensions/ asks it.

Read from the source (AST): a call or a reference to one of those methods outside the layer fails
the test, naming file and line.  Pools, networks and secrets have methods of the same names; their
calls are recognised by the receiver's name (``pool.create()``, ``net.undefine()``).
"""

from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", ".."))
LAYER = os.path.join("plugins", "module_utils", "domain")
DOMAIN_METHODS = {
    "create", "createWithFlags", "destroy", "destroyFlags", "undefine", "undefineFlags",
    "shutdown", "shutdownFlags", "setMetadata", "defineXML", "defineXMLFlags",
}
# Receivers that are not domains: storage pools, networks, secrets, volumes.
OTHER_OBJECTS = {"plan", "self", "pool", "probe", "net", "network", "gone", "secret", "vol", "volume", "existing_pool"}


def sources():
    for top in ("plugins", "extensions"):
        for base, _dirs, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(base, name)
                    if not os.path.relpath(path, ROOT).startswith(LAYER):
                        yield path


def receiver(node):
    value = node.value
    if isinstance(value, ast.Name):
        return value.id
    if isinstance(value, ast.Attribute):
        return value.attr
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
        return value.func.attr  # conn.secretLookupByUsage(...).undefine()
    return None


def used(tree):
    """Attributes called (``x.create()``) or handed on as a callable (``_quietly(x.undefine)``);
    data attributes of the same name (``plan.shutdown``, a list) are neither."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute):
                yield node.func
            for arg in list(node.args) + [k.value for k in node.keywords]:
                if isinstance(arg, ast.Attribute):
                    yield arg


def offences(path):
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    found = []
    for node in used(tree):
        if node.attr in DOMAIN_METHODS:
            if isinstance(node.value, ast.Call) and getattr(node.value.func, "id", None) == "Guest":
                continue  # Guest(conn, dom).destroy(): the layer itself
            who = receiver(node)
            if who in OTHER_OBJECTS or (who or "").endswith(("LookupByName", "LookupByUsage", "LookupByUUIDString")):
                continue
            found.append("%s:%d: %s.%s" % (os.path.relpath(path, ROOT), node.lineno, who, node.attr))
    return found


def test_nothing_outside_the_domain_layer_changes_a_domain():
    found = [offence for path in sources() for offence in offences(path)]
    assert not found, "call the domain layer (domain/guest.py) instead:\n" + "\n".join(found)


@pytest.mark.parametrize("code, expected", [
    ("dom.create()", ["x.py:1: dom.create"]),
    ("vm.dom.undefineFlags(0)", ["x.py:1: dom.undefineFlags"]),
    ("_quietly(dest_dom.undefine)", ["x.py:1: dest_dom.undefine"]),
    ("conn.defineXML(xml)", ["x.py:1: conn.defineXML"]),
    ("pool.create(0)", []),
    ("net.undefine()", []),
    ("conn.secretLookupByUsage(1, 'x').undefine()", []),
    ("guest.start()", []),
])
def test_the_check_sees_calls_and_references(tmp_path, code, expected, monkeypatch):
    path = tmp_path / "x.py"
    path.write_text(code + "\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", str(tmp_path), raising=False)
    assert [o.split(": ", 1)[1] for o in offences(str(path))] == [e.split(": ", 1)[1] for e in expected]
