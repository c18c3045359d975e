# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt's test driver with the project's VM host (tests/data/vm/host.xml) and the vm module's
defaults: what the tests of vm_ops and of the options built on it share (``conn``, the fixture that
opens a test file's ``HOST``, is in tests/unit/conftest.py)."""

from __future__ import annotations

import os

import libvirt

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "data", "vm", "host.xml"))


def params(**kwargs):
    """A vm task on ``HOST`` with the module's defaults; ``kwargs`` add to or override them."""
    base = dict(uri=HOST, state="present", clone="linked", remove_volumes=False, shutdown_timeout=5,
                force=False, overcommit=False)
    base.update(kwargs)
    return base


def inactive(conn, name):
    """The parsed inactive (persistent) XML of domain ``name``."""
    return dx.parse(conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
