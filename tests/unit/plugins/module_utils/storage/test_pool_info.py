# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pool_info (pools and volumes from their XML) and pool_info_ops against libvirt's test driver
with our own host (tests/data/storage/host.xml)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.storage import pool_info as pi
from ansible_collections.hotiron.virt.plugins.module_utils.storage import pool_info_ops as ops

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "storage")
HOST = "test://" + os.path.abspath(os.path.join(DATA, "host.xml"))

OVERLAY = """<volume type='file'>
  <name>ov.qcow2</name>
  <key>/var/lib/hotiron-test/local/ov.qcow2</key>
  <capacity unit='bytes'>1048576</capacity>
  <allocation unit='bytes'>196608</allocation>
  <target><path>/var/lib/hotiron-test/local/ov.qcow2</path><format type='qcow2'/></target>
  <backingStore><path>/var/lib/hotiron-test/local/base.qcow2</path><format type='qcow2'/></backingStore>
</volume>"""


def test_describe_volume_with_backing_store():
    assert pi.describe_volume(OVERLAY) == {
        "name": "ov.qcow2", "key": "/var/lib/hotiron-test/local/ov.qcow2", "type": "file", "path": "/var/lib/hotiron-test/local/ov.qcow2",
        "format": "qcow2", "capacity": 1048576, "allocation": 196608,
        "backing": {"path": "/var/lib/hotiron-test/local/base.qcow2", "format": "qcow2"},
    }


@pytest.mark.parametrize("kind", ["dir", "netfs", "iscsi", "rbd", "logical"])
def test_describe_pool_of_each_type(kind):
    with open(os.path.join(DATA, "pools", kind + ".xml"), encoding="utf-8") as handle:
        entry = pi.describe_pool(handle.read(), [0, 0, 0, 0], False, True, False)
    assert entry["type"] == kind and entry["state"] == "inactive" and entry["persistent"] and not entry["active"]
    assert "password" not in repr(entry)


@pytest.fixture
def conn(open_host):
    conn = open_host(HOST)
    conn.storagePoolLookupByName("local").createXML(OVERLAY, 0)
    conn.storagePoolLookupByName("spare").destroy()
    return conn


def test_every_pool_with_volumes(conn):
    pools, warnings = ops.pools_info(conn)
    assert [p["name"] for p in pools] == ["local", "spare"] and warnings == []
    local, spare = pools
    assert local["type"] == "dir" and local["state"] == "running" and local["target_path"] == "/var/lib/hotiron-test/local"
    assert local["capacity"] == 107374182400 and local["allocation"] + local["available"] == local["capacity"]
    assert [v["name"] for v in local["volumes"]] == ["base.qcow2", "disk.raw", "ov.qcow2"] and local["volume_count"] == 3
    overlay = local["volumes"][2]
    assert overlay["backing"] == {"path": "/var/lib/hotiron-test/local/base.qcow2", "format": "qcow2"} and overlay["capacity"] == 1048576
    assert local["volumes"][1]["format"] == "raw" and local["volumes"][1]["backing"] is None
    assert spare["state"] == "inactive" and spare["volumes"] == [] and spare["volume_count"] == 0
    assert "xml" not in local and "xml" not in overlay


@pytest.mark.parametrize("kwargs,expected", [
    (dict(name="spare"), ["spare"]),
    (dict(name="nope"), []),
    (dict(pattern="lo*"), ["local"]),
    (dict(states=["running"]), ["local"]),
    (dict(types=["dir"]), ["local", "spare"]),
    (dict(types=["netfs"]), []),
])
def test_filters(conn, kwargs, expected):
    assert [p["name"] for p in ops.pools_info(conn, **kwargs)[0]] == expected


def test_xml_and_no_volumes(conn):
    (local,), _warnings = ops.pools_info(conn, name="local", with_xml=True)
    assert "<name>local</name>" in local["xml"] and all("<volume" in v["xml"] for v in local["volumes"])
    (local,), _warnings = ops.pools_info(conn, name="local", with_volumes=False)
    assert "volumes" not in local and local["volume_count"] == 3


class CountingPool:
    """A real test-driver pool that counts refreshes (the test driver's refresh changes nothing visible)."""

    def __init__(self, pool, calls):
        self.pool, self.calls = pool, calls

    def __getattr__(self, name):
        return getattr(self.pool, name)

    def refresh(self, flags=0):
        self.calls.append(self.pool.name())
        return self.pool.refresh(flags)


class CountingConn:
    def __init__(self, conn, calls):
        self.conn, self.calls = conn, calls

    def __getattr__(self, name):
        return getattr(self.conn, name)

    def listAllStoragePools(self, flags=0):  # noqa: N802  (libvirt's name)
        return [CountingPool(p, self.calls) for p in self.conn.listAllStoragePools(flags)]


def test_refresh_only_when_asked_never_in_check_mode(conn):
    calls = []
    counting = CountingConn(conn, calls)
    ops.pools_info(counting)
    assert calls == []
    _pools, warnings = ops.pools_info(counting, refresh=True, check_mode=True)
    assert calls == [] and warnings == ["check mode: storage pool local not refreshed (refresh changes what libvirt knows of it)"]
    ops.pools_info(counting, refresh=True)
    assert calls == ["local"], "the running pool only"
