# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sphinx extension for `make docs`: the site builds offline.

The conf.py that ``antsibull-docs sphinx-init`` writes fetches ansible-core's intersphinx
inventory from docs.ansible.com; `make docs` drops intersphinx and loads this extension instead,
which resolves the few ansible-core pages the generated plugin pages link to (listed below) to
their docs.ansible.com addresses. Any other missing reference still fails the build (-W).
"""

from __future__ import annotations

from docutils import nodes

CORE_DOCS = "https://docs.ansible.com/projects/ansible/latest/"
CONFIG = CORE_DOCS + "reference_appendices/config.html"
LABELS = {
    "common_return_values": CORE_DOCS + "reference_appendices/common_return_values.html",
    "ansible_configuration_settings": CONFIG,
}
ENVVAR_PREFIX = "ANSIBLE_"   # ansible-core's settings, documented on its configuration page


def core_reference(app, env, node, contnode):
    target = node.get("reftarget", "")
    if node.get("reftype") == "ref" and target in LABELS:
        uri = LABELS[target]
    elif node.get("reftype") == "envvar" and target.startswith(ENVVAR_PREFIX):
        uri = CONFIG + "#envvar-" + target
    else:
        return None
    return nodes.reference("", "", contnode, refuri=uri, internal=False)


def setup(app):
    app.connect("missing-reference", core_reference)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
