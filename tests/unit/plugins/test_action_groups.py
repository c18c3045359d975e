# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""meta/runtime.yml's action groups, the modules' options and their documented membership agree.

A module in ``libvirt`` must take ``uri``, one in ``resource_group`` must take ``hosts`` (a
``module_defaults`` group setting an option a member does not know would make that member fail),
and every module that takes them is in the group. The documentation is resolved the way
ansible-doc resolves it: the module's own keys first, then its fragments in the order listed,
the first to define an attribute winning.
"""

from __future__ import annotations

import importlib
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MODULES = sorted(name[:-3] for name in os.listdir(os.path.join(ROOT, "plugins", "modules"))
                 if name.endswith(".py") and not name.startswith("_"))
PACKAGE = "ansible_collections.hotiron.virt.plugins"


def runtime_groups():
    with open(os.path.join(ROOT, "meta", "runtime.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["action_groups"]


def resolved_doc(module):
    doc = yaml.safe_load(importlib.import_module(f"{PACKAGE}.modules.{module}").DOCUMENTATION)
    options, attributes = dict(doc.get("options") or {}), dict(doc.get("attributes") or {})
    for name in doc.get("extends_documentation_fragment") or []:
        parts = name.split(".")
        assert parts[:2] == ["hotiron", "virt"], name
        fragment = importlib.import_module(f"{PACKAGE}.doc_fragments.{parts[2]}").ModuleDocFragment
        text = getattr(fragment, parts[3].upper() if len(parts) > 3 else "DOCUMENTATION")
        data = yaml.safe_load(text)
        for key, value in (data.get("options") or {}).items():
            options.setdefault(key, value)
        for key, value in (data.get("attributes") or {}).items():
            attributes[key] = {**value, **attributes.get(key, {})}
    return options, attributes


def test_the_groups_name_existing_modules_once():
    groups = runtime_groups()
    assert set(groups) == {"libvirt", "resource_group"}
    for members in groups.values():
        assert len(members) == len(set(members))
        assert set(members) <= set(MODULES), set(members) - set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_a_module_is_in_the_group_of_each_connection_option_it_takes(module):
    groups = runtime_groups()
    options, attributes = resolved_doc(module)
    expected = sorted(group for group, option in (("libvirt", "uri"), ("resource_group", "hosts"))
                      if option in options)
    assert sorted(g for g, members in groups.items() if module in members) == expected
    if expected:
        documented = attributes["action_group"]
        assert documented["support"] == "full"
        assert documented["membership"] == [f"hotiron.virt.{group}" for group in expected]
    else:
        assert "action_group" not in attributes
