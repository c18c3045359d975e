# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""volume_ops against libvirt's test driver (create, clone, overlay, delete, refusals).

The test driver has no resize, upload, download or wipe: those are covered
on real hosts by tests/integration/test_storage_volumes.py.
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.storage import volume_ops

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "storage", "host.xml"))
MIB = 1024 ** 2


def params(**kwargs):
    base = dict(
        uri=HOST, pool="local", name="v1", state="present", capacity=None, allocation=None, preallocation="off", format=None,
        shrink=False, clone_from=None, clone_from_pool=None, backing_volume=None, backing_pool=None, upload_from=None,
        upload_when="created", download_to=None, wipe=False, wipe_algorithm="zero",
    )
    base.update(kwargs)
    return base


def ensure(conn, check=False, **kwargs):
    return volume_ops.ensure_volume(conn, params(**kwargs), check_mode=check, want_diff=True)


def test_create_then_idempotent(conn):
    first = ensure(conn, capacity="16M", format="qcow2")
    assert first["changed"] and first["actions"] == ["create"]
    vol = first["volume"]
    assert (vol["name"], vol["pool"], vol["format"], vol["capacity"]) == ("v1", "local", "qcow2", 16 * MIB)
    assert vol["path"] == "/var/lib/hotiron-test/local/v1"
    assert vol["backing_chain"] == []
    second = ensure(conn, capacity="16M", format="qcow2")
    assert second["changed"] is False and second["diff"]["before"] == second["diff"]["after"]


def test_check_mode_creates_nothing(conn):
    result = ensure(conn, check=True, capacity="16M")
    assert result["actions"] == ["create"] and result["diff"]["after"]["capacity"] == 16 * MIB
    assert lc.lookup_volume(conn.storagePoolLookupByName("local"), "v1") is None


def test_capacity_required_for_new_volume(conn):
    with pytest.raises(lc.VirtError, match="capacity is required to create volume v1"):
        ensure(conn)


def test_shrink_refused_before_anything(conn):
    with pytest.raises(lc.VirtError, match="below the current 33554432 bytes of volume disk.raw: set shrink=true"):
        ensure(conn, name="disk.raw", capacity="16M")


def test_grow_planned(conn):
    assert ensure(conn, name="disk.raw", capacity="64M", check=True)["actions"] == ["resize"]


def test_format_change_refused(conn):
    with pytest.raises(lc.VirtError, match="exists with format raw; format cannot change to qcow2"):
        ensure(conn, name="disk.raw", format="qcow2")


def test_read_only_format_refused(conn):
    with pytest.raises(lc.VirtError, match="format dmg: qemu-img can read this format but cannot write it"):
        ensure(conn, capacity="1M", format="dmg")


def test_clone_takes_source_size_and_format(conn):
    result = ensure(conn, name="copy.qcow2", clone_from="base.qcow2")
    assert result["actions"] == ["clone"]
    assert (result["volume"]["format"], result["volume"]["capacity"]) == ("qcow2", 64 * MIB)
    assert ensure(conn, name="copy.qcow2", clone_from="base.qcow2")["changed"] is False


def test_clone_with_conversion(conn):
    # (the test driver cannot clone across pools; tests/integration does)
    result = ensure(conn, name="base.vmdk", clone_from="base.qcow2", clone_from_pool="local", format="vmdk")
    assert result["volume"]["format"] == "vmdk" and result["volume"]["pool"] == "local"


def test_clone_missing_source_names_parameter(conn):
    with pytest.raises(lc.VirtError, match="clone_from: volume nope does not exist in storage pool local"):
        ensure(conn, name="c", clone_from="nope")


def test_overlay_on_backing_volume(conn):
    result = ensure(conn, name="ov.qcow2", backing_volume="disk.raw")
    assert result["actions"] == ["create overlay"]
    vol = result["volume"]
    assert vol["format"] == "qcow2" and vol["capacity"] == 32 * MIB
    assert vol["backing_chain"] == [{"path": "/var/lib/hotiron-test/local/disk.raw", "format": "raw", "volume": "disk.raw", "pool": "local"}]


def test_overlay_of_overlay_reports_whole_chain(conn):
    ensure(conn, name="ov1.qcow2", backing_volume="base.qcow2")
    chain = ensure(conn, name="ov2.qcow2", backing_volume="ov1.qcow2")["volume"]["backing_chain"]
    assert [c["volume"] for c in chain] == ["ov1.qcow2", "base.qcow2"]


def test_delete_and_absent_idempotent(conn):
    result = ensure(conn, name="disk.raw", state="absent")
    assert result["actions"] == ["delete"] and result["volume"] == {}
    assert ensure(conn, name="disk.raw", state="absent")["changed"] is False


def test_wipe_only_with_absent(conn):
    with pytest.raises(lc.VirtError, match="wipe applies with state=absent"):
        ensure(conn, name="disk.raw", wipe=True)
    assert ensure(conn, name="disk.raw", state="absent", wipe=True, check=True)["actions"] == ["wipe", "delete"]


def test_inactive_pool_named(conn):
    conn.storagePoolLookupByName("spare").destroy()
    with pytest.raises(lc.VirtError, match="storage pool spare on test:.* is not active"):
        ensure(conn, pool="spare", capacity="1M")


def test_upload_needs_existing_file(conn, tmp_path):
    with pytest.raises(lc.VirtError, match="upload_from: .*missing.img is not a readable file"):
        ensure(conn, upload_from=str(tmp_path / "missing.img"))


def test_upload_planned_for_new_volume(conn, tmp_path):
    image = tmp_path / "img.raw"
    image.write_bytes(b"\0" * 512)
    assert ensure(conn, upload_from=str(image), check=True)["actions"] == ["create", "upload"]
    # created once: later runs leave it alone by default
    assert ensure(conn, name="disk.raw", upload_from=str(image), check=True)["actions"] == []


def test_volume_created_but_not_filled_is_deleted_again(conn, tmp_path):
    # The test driver has no upload: the created volume cannot be filled and must go again.
    image = tmp_path / "img.raw"
    image.write_bytes(b"\0" * 4096)
    with pytest.raises(lc.VirtError, match="upload .*not supported.*; the volume this run created was deleted again"):
        ensure(conn, name="up.raw", upload_from=str(image))
    assert lc.lookup_volume(conn.storagePoolLookupByName("local"), "up.raw") is None
