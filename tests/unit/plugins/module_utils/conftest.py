# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures shared by the tests of several subpackages: db1 of the project's own backup host
(tests/data/backup/host.xml) on libvirt's test driver, where each connection to the file is a
separate host, so the second one starts without the first one's checkpoints, as a migration's
destination does (backup.checkpoints_ops, migration.migrate_ops)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc

HOST_XML = os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "backup", "host.xml")
URI = "test://" + os.path.abspath(HOST_XML)


@pytest.fixture
def checkpointed_db1():
    """db1 of tests/data/backup/host.xml with three checkpoints, hotiron-x-1 to 3 (each its predecessor's child)."""
    conn = lc.connect(URI)
    dom = conn.lookupByName("db1")
    for name in ("hotiron-x-1", "hotiron-x-2", "hotiron-x-3"):
        dom.checkpointCreateXML("<domaincheckpoint><name>%s</name></domaincheckpoint>" % name, 0)
    yield dom
    conn.close()


@pytest.fixture
def db1_elsewhere():
    """db1 on another connection to the same host file: another host, without the checkpoints."""
    conn = lc.connect(URI)
    yield conn.lookupByName("db1")
    conn.close()
