# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pool_ops (ensure_pool) against libvirt's test driver with our own host XML (tests/data/storage/host.xml)."""

from __future__ import annotations

import json
import os

import libvirt
import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.storage import pool_ops

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "storage", "host.xml"))


def params(**kwargs):
    base = dict(
        uri=HOST, name="p1", type=None, state="active", target=None, source=None, autostart=None, build=None,
        refresh=False, restart=False, delete_volumes=False, update_password="on_create",
    )
    base.update(kwargs)
    return base


def ensure(conn, check=False, **kwargs):
    return pool_ops.ensure_pool(conn, params(**kwargs), check_mode=check, want_diff=True)


DIR = dict(type="dir", target={"path": "/srv/p1"})


def test_define_build_start_autostart_then_idempotent(conn):
    first = ensure(conn, autostart=True, **DIR)
    assert first["changed"]
    assert first["actions"] == ["define", "build", "start", "autostart on"]
    assert first["pool"]["state"] == "running" and first["pool"]["autostart"]
    assert first["pool"]["target_path"] == "/srv/p1"
    second = ensure(conn, autostart=True, **DIR)
    assert not second["changed"] and second["actions"] == []
    assert second["diff"]["before"] == second["diff"]["after"]


def test_check_mode_changes_nothing(conn):
    result = ensure(conn, check=True, **DIR)
    assert result["changed"] and result["actions"] == ["define", "build", "start"]
    assert "<path>/srv/p1</path>" in result["diff"]["after"]
    assert lc.lookup_pool(conn, "p1") is None


def test_present_does_not_start(conn):
    result = ensure(conn, state="present", **DIR)
    assert result["actions"] == ["define", "build"]
    assert not result["pool"]["active"]


def test_build_false_skips_build(conn):
    assert ensure(conn, state="present", build=False, **DIR)["actions"] == ["define"]


def test_fs_pool_not_built_unless_asked(conn):
    fs = dict(type="fs", source={"devices": ["/dev/vdb"]}, target={"path": "/srv/fs"})
    assert ensure(conn, state="present", check=True, **fs)["actions"] == ["define"]
    assert ensure(conn, state="present", check=True, build=True, **fs)["actions"] == ["define", "build without overwriting"]


def test_inactive_stops_running_pool(conn):
    result = ensure(conn, name="spare", state="inactive")
    assert result["actions"] == ["stop"] and result["pool"]["state"] == "inactive"
    assert ensure(conn, name="spare", state="inactive")["changed"] is False


def test_changed_definition_of_running_pool_warns_or_restarts(conn):
    changed = ensure(conn, name="spare", type="dir", target={"path": "/srv/spare2"})
    assert changed["actions"] == ["define", "pending restart"]
    assert "previous definition" in changed["warnings"][0]
    assert "<path>/var/lib/hotiron-test/spare</path>" in changed["diff"]["before"]
    assert "<path>/srv/spare2</path>" in changed["diff"]["after"]
    restarted = ensure(conn, name="spare", type="dir", target={"path": "/srv/spare3"}, restart=True)
    assert restarted["actions"] == ["define", "restart"]


def test_type_taken_from_existing_pool(conn):
    assert ensure(conn, name="spare", autostart=True)["actions"] == ["autostart on"]


def test_type_change_refused(conn):
    with pytest.raises(lc.VirtError, match="exists with type dir"):
        ensure(conn, name="spare", type="netfs", source={"hosts": [{"name": "h"}], "dir": "/e"}, target={"path": "/x"})


def test_absent(conn):
    result = ensure(conn, name="spare", state="absent")
    assert result["actions"] == ["stop", "undefine"]
    assert lc.lookup_pool(conn, "spare") is None
    assert ensure(conn, name="spare", state="absent") == {"changed": False, "actions": [], "diff": {"before": "", "after": ""}, "pool": {}}


def test_deleted_refuses_pool_with_volumes_unless_asked(conn):
    with pytest.raises(lc.VirtError, match=r"still holds volumes \(base.qcow2, disk.raw\): set delete_volumes=true"):
        ensure(conn, name="local", state="deleted")
    assert lc.lookup_pool(conn, "local") is not None, "nothing half-made"
    result = ensure(conn, name="local", state="deleted", delete_volumes=True)
    assert result["actions"] == ["delete volume base.qcow2", "delete volume disk.raw", "stop", "delete", "undefine"]
    assert lc.lookup_pool(conn, "local") is None


def test_refresh_reports_no_change_when_volumes_same(conn):
    result = ensure(conn, name="local", refresh=True)
    assert result["actions"] == ["refresh"] and result["changed"] is False
    assert result["pool"]["volumes"] == ["base.qcow2", "disk.raw"]


def test_missing_type_for_new_pool(conn):
    with pytest.raises(lc.VirtError, match="type is required"):
        ensure(conn, name="new")


@pytest.mark.parametrize(
    "kind,kwargs",
    [
        ("logical", dict(source={"name": "vg0", "devices": ["/dev/sdb"]})),
        ("netfs", dict(source={"hosts": [{"name": "nfs"}], "dir": "/export"}, target={"path": "/srv/nfs"})),
        ("iscsi", dict(source={"hosts": [{"name": "10.0.0.5"}], "iqn": "iqn.2026-11.x:san"})),
        ("iscsi-direct", dict(source={"hosts": [{"name": "127.0.0.1"}], "iqn": "iqn.2026-11.x:san", "initiator_iqn": "iqn.2026-11.x:hv"})),
        ("scsi", dict(source={"adapter": {"type": "fc_host", "wwnn": "20000000c9831b4b", "wwpn": "10000000c9831b4b", "parent": "scsi_host5"}})),
        ("mpath", dict()),
        ("rbd", dict(source={"name": "rbd", "hosts": [{"name": "mon1"}], "auth": {"username": "u", "secret_usage": "client.u"}})),
    ],
)
def test_other_types_define_start_and_are_idempotent(conn, kind, kwargs):
    first = ensure(conn, name="t-" + kind, type=kind, **kwargs)
    assert first["actions"][0] == "define" and first["actions"][-1] == "start"
    assert first["pool"]["type"] == kind
    assert ensure(conn, name="t-" + kind, type=kind, **kwargs)["changed"] is False


class NoSecret(libvirt.libvirtError):
    def get_error_code(self):
        return libvirt.VIR_ERR_NO_SECRET


class FakeSecret:
    def __init__(self, xml):
        self.xml, self.value, self.undefined = xml, None, False

    def undefine(self):
        self.undefined = True

    def setValue(self, value):  # noqa: N802 - libvirt's name
        self.value = value

    def XMLDesc(self, flags):  # noqa: N802
        return self.xml


class SecretConn:
    """The test driver has no secrets: a stand-in for the three calls used."""

    def __init__(self, conn):
        self.conn, self.secrets = conn, {}

    def __getattr__(self, name):
        return getattr(self.conn, name)

    def secretLookupByUsage(self, usage_type, usage):  # noqa: N802
        if usage not in self.secrets:
            raise NoSecret("no secret")
        return self.secrets[usage]

    def secretDefineXML(self, xml, flags=0):  # noqa: N802
        import xml.etree.ElementTree as ET

        usage = ET.fromstring(xml).find("usage")[0].text
        self.secrets[usage] = FakeSecret(xml)
        return self.secrets[usage]


def test_chap_password_goes_into_a_secret_once(conn):
    fake = SecretConn(conn)
    src = {"hosts": [{"name": "127.0.0.1"}], "iqn": "iqn.2026-11.x:san", "initiator_iqn": "iqn.2026-11.x:hv", "auth": {"username": "hv", "password": "pw1"}}
    first = pool_ops.ensure_pool(fake, params(name="chap", type="iscsi-direct", source=src), want_diff=True)
    assert first["actions"] == ["define secret", "set secret value", "define", "start"]
    assert fake.secrets["hotiron-pool-chap"].value == b"pw1"
    assert "pw1" not in json.dumps(first)
    second = pool_ops.ensure_pool(fake, params(name="chap", type="iscsi-direct", source=src))
    assert second["changed"] is False
    always = pool_ops.ensure_pool(fake, params(name="chap", type="iscsi-direct", source=src, update_password="always"))
    assert always["actions"] == ["set secret value"]


class FailingStart:
    """A pool whose start fails, as when the iSCSI login or the mount is refused."""

    def __init__(self, pool):
        self.pool = pool

    def __getattr__(self, name):
        return getattr(self.pool, name)

    def create(self, flags=0):
        raise NoStart("cannot log in to the target")


class NoStart(libvirt.libvirtError):
    def get_error_code(self):
        return libvirt.VIR_ERR_OPERATION_FAILED

    def get_error_domain(self):
        return libvirt.VIR_FROM_STORAGE

    def get_error_message(self):
        return "cannot log in to the target"


class StartFailsConn(SecretConn):
    def storagePoolDefineXML(self, xml, flags=0):  # noqa: N802
        return FailingStart(self.conn.storagePoolDefineXML(xml, flags))


def test_new_pool_that_cannot_start_is_removed_again_with_its_secret(conn):
    fake = StartFailsConn(conn)
    src = {"hosts": [{"name": "127.0.0.1"}], "iqn": "iqn.2026-11.x:san", "initiator_iqn": "iqn.2026-11.x:hv", "auth": {"username": "hv", "password": "pw"}}
    with pytest.raises(lc.VirtError, match="cannot log in to the target.*; the storage pool definition and the secret this run made were removed again"):
        pool_ops.ensure_pool(fake, params(name="bad", type="iscsi-direct", source=src))
    assert lc.lookup_pool(conn, "bad") is None
    assert fake.secrets["hotiron-pool-bad"].undefined
