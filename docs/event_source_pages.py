# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write a docs-site page per event source of the collection (`make docs`).

antsibull-docs makes pages for modules, plugins and roles, not for ansible-rulebook's event
sources. This reads each ``extensions/eda/plugins/event_source/*.py``'s DOCUMENTATION and EXAMPLES
(with ``ast``: nothing is imported) and writes ``guide_event_source_<name>.rst`` into the site's
``docsite/`` directory, where the guides page's glob lists it. Ansible markup (C(), O(), M(), ...)
is turned into the same RST roles antsibull-docs uses.

    python docs/event_source_pages.py <collection root> <docsite rst directory>
"""

from __future__ import annotations

import ast
import glob
import os
import sys

import yaml
from antsibull_docs_parser.parser import Context, parse
from antsibull_docs_parser.rst import to_rst

LABEL = ".. _ansible_collections.hotiron.virt.docsite.guide_event_source_%s:"


def strings(path):
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    return {node.targets[0].id: node.value.value for node in tree.body
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}


def markup(text):
    paragraphs = text if isinstance(text, list) else [text]
    return to_rst(parse(paragraphs, Context(), strict=True))


def cell(text):
    return markup(text).replace("\n\n", " ").replace("\n", " ")


def page(name, doc, examples):
    fqcn = "hotiron.virt." + name
    title = "%s event source -- %s" % (fqcn, doc["short_description"].rstrip("."))
    out = [LABEL % name, "", title, "=" * len(title), "", markup(doc.get("description", [])), "",
           "Options", "-------", "", ".. list-table::", "   :header-rows: 1", "   :widths: 20 10 10 60", "",
           "   * - option", "     - type", "     - default", "     - what it is"]
    for option, spec in doc.get("options", {}).items():
        out += ["   * - ``%s``%s" % (option, " (required)" if spec.get("required") else ""),
                "     - %s" % spec.get("type", "str"),
                "     - %s" % ("``%s``" % (spec["default"],) if "default" in spec else ""),
                "     - %s" % cell(spec.get("description", ""))]
    out.append("")
    if examples.strip():
        out += ["Example", "-------", "", ".. code-block:: yaml+jinja", ""]
        out += [("   " + line) if line else "" for line in examples.strip("\n").splitlines()]
        out.append("")
    return "\n".join(out)


def main(root, dest):
    written = []
    for path in sorted(glob.glob(os.path.join(root, "extensions", "eda", "plugins", "event_source", "*.py"))):
        name = os.path.basename(path)[:-3]
        if name.startswith("_"):
            continue
        found = strings(path)
        doc = yaml.safe_load(found["DOCUMENTATION"])
        target = os.path.join(dest, "guide_event_source_%s.rst" % name)
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(page(name, doc, found.get("EXAMPLES", "")))
        written.append(target)
    return written


if __name__ == "__main__":
    for written_path in main(sys.argv[1], sys.argv[2]):
        print(written_path)
