# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pool XML for every type: exact XML, validation messages, idempotent merge."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import libvirt
import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.storage import pool_xml as px

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "storage")
HOST = "test://" + os.path.abspath(os.path.join(DATA, "host.xml"))

CASES = {
    "dir": dict(name="images", pool_type="dir", target={"path": "/var/lib/libvirt/images/", "mode": "755", "owner": 0, "group": "0"}),
    "fs": dict(name="fsimg", pool_type="fs", source={"devices": ["/dev/vdb1"], "format": "ext4"}, target={"path": "/srv/fsimg"}),
    "netfs": dict(
        name="nfs", pool_type="netfs", source={"hosts": [{"name": "nfs.example.com"}], "dir": "/export/vm", "format": "nfs"}, target={"path": "/srv/nfs"}
    ),
    "logical": dict(name="vg", pool_type="logical", source={"name": "vg0", "devices": ["/dev/sdb", "/dev/sdc"], "format": "lvm2"}),
    "iscsi": dict(
        name="san",
        pool_type="iscsi",
        source={
            "hosts": [{"name": "10.0.0.5", "port": 3260}],
            "iqn": "iqn.2026-11.com.example:san1",
            "initiator_iqn": "iqn.2026-11.com.example:hv1",
            "auth": {"username": "hv", "password": "s3cret"},
        },
    ),
    "iscsi-direct": dict(
        name="sand", pool_type="iscsi-direct", source={"hosts": ["127.77.3.250"], "iqn": "iqn.2026-11.test:san1", "initiator_iqn": "iqn.2026-11.test:hv1"}
    ),
    "scsi": dict(
        name="fc",
        pool_type="scsi",
        source={"adapter": {"wwnn": "20000000C9831B4B", "wwpn": "0x10000000c9831b4b", "parent": "scsi_host5", "managed": True}},
    ),
    "mpath": dict(name="mp", pool_type="mpath"),
    "rbd": dict(
        name="ceph",
        pool_type="rbd",
        source={"name": "rbd", "hosts": [{"name": "mon1", "port": 6789}, {"name": "mon2"}], "auth": {"username": "libvirt", "secret_usage": "client.libvirt"}},
    ),
}


def expected(name):
    with open(os.path.join(DATA, "pools", name + ".xml"), encoding="utf-8") as handle:
        return handle.read()


@pytest.mark.parametrize("kind", sorted(CASES))
def test_exact_xml_for_each_type(kind):
    assert px.pool_xml(px.validate_pool(**CASES[kind])) == expected(kind)


def test_every_issue_type_has_a_case():
    assert sorted(CASES) == sorted(px.POOL_TYPES)


def test_chap_secret_xml_and_password_not_in_pool_xml():
    spec = px.validate_pool(**CASES["iscsi"])
    assert px.secret_xml("san", spec["source"]["auth"]) == expected("secret-chap")
    assert "s3cret" not in px.pool_xml(spec)


def test_ceph_secret_uses_name_usage():
    spec = px.validate_pool(**CASES["rbd"])
    secret = ET.fromstring(px.secret_xml("ceph", spec["source"]["auth"]))
    assert secret.find("usage").get("type") == "ceph"
    assert secret.findtext("usage/name") == "client.libvirt"
    assert secret.get("private") == "yes"


@pytest.mark.parametrize("kind", sorted(CASES))
def test_libvirt_accepts_and_redefinition_is_unchanged(kind):
    """The test driver parses our XML; reading it back plans no change."""
    conn = libvirt.open(HOST)
    try:
        spec = px.validate_pool(**CASES[kind])
        pool = conn.storagePoolDefineXML(px.pool_xml(spec))
        current = pool.XMLDesc(0)
        new_xml, changed = px.plan_pool_xml(current, spec)
        assert not changed, new_xml
        assert ET.fromstring(new_xml).findtext("uuid") == pool.UUIDString()
    finally:
        conn.close()


BAD = [
    (dict(name="p", pool_type="zfs2"), "type 'zfs2' is not a pool type"),
    (dict(name="p", pool_type="dir", target={"path": "/x"}, source={"hosts": ["a"]}), "pool type dir does not take source.hosts"),
    (dict(name="p", pool_type="dir"), "pool type dir needs target.path"),
    (dict(name="p", pool_type="dir", target={"path": "rel/x"}), "target.path must be an absolute path"),
    (dict(name="p", pool_type="dir", target={"path": "/x", "mode": "999"}), "target.mode must be an octal mode"),
    (dict(name="p", pool_type="rbd", source={"name": "r", "hosts": ["m"]}, target={"path": "/x"}), "pool type rbd does not take target"),
    (dict(name="p", pool_type="netfs", source={"hosts": ["h"]}, target={"path": "/x"}), "pool type netfs needs source.dir"),
    (dict(name="p", pool_type="netfs", source={"hosts": ["h"], "dir": "/e", "format": "ext4"}, target={"path": "/x"}), "source.format 'ext4'"),
    (dict(name="p", pool_type="fs", source={"devices": ["/a", "/b"]}, target={"path": "/x"}), "exactly one entry in source.devices"),
    (dict(name="p", pool_type="iscsi", source={"hosts": ["h"], "iqn": "san1"}), "source.iqn must be an iSCSI name"),
    (dict(name="p", pool_type="iscsi", source={"hosts": ["a", "b"], "iqn": "iqn.2026-11.x:y"}), "exactly one entry in source.hosts"),
    (dict(name="p", pool_type="iscsi", source={"hosts": [{"name": "a", "port": 70000}], "iqn": "iqn.2026-11.x:y"}), "source.hosts[0].port"),
    (dict(name="p", pool_type="iscsi-direct", source={"hosts": ["h"], "iqn": "iqn.2026-11.x:y"}), "needs source.initiator_iqn"),
    (dict(name="p", pool_type="scsi", source={"adapter": {"wwnn": "20000000c9831b4b", "wwpn": "1000c9831b4b"}}), "source.adapter.wwpn must be 16 hexadecimal"),
    (dict(name="p", pool_type="scsi", source={"adapter": {"wwnn": "2000000gc9831b4b", "wwpn": "10000000c9831b4b"}}), "source.adapter.wwnn must be 16"),
    (dict(name="p", pool_type="scsi", source={"adapter": {"wwpn": "10000000c9831b4b"}}), "source.adapter.wwnn is required"),
    (dict(name="p", pool_type="scsi", source={"adapter": {"type": "scsi_host"}}), "source.adapter.name"),
    (
        dict(name="p", pool_type="scsi", source={"adapter": {"type": "scsi_host", "name": "host0", "wwnn": "20000000c9831b4b"}}),
        "source.adapter.wwnn applies to fc_host",
    ),
    (
        dict(name="p", pool_type="scsi", source={"adapter": {"wwnn": "20000000c9831b4b", "wwpn": "10000000c9831b4b", "parent_wwnn": "20000000c9831b4c"}}),
        "parent_wwnn and source.adapter.parent_wwpn go together",
    ),
    (dict(name="p", pool_type="logical", source={"format": "lvm2"}), "source.name (the volume group) or source.devices"),
    (dict(name="p", pool_type="rbd", source={"name": "r", "hosts": ["m"], "auth": {"username": "u"}}), "source.auth needs a password"),
    (dict(name="p", pool_type="rbd", source={"name": "r", "hosts": ["m"], "auth": {"password": "x"}}), "source.auth.username is required"),
    (dict(name="p", pool_type="mpath", source={"devices": ["/dev/sda"]}), "pool type mpath does not take source.devices (it takes no source)"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[message for _args, message in BAD])
def test_bad_input_names_the_parameter(args, message):
    with pytest.raises(px.PoolSpecError) as err:
        px.validate_pool(**args)
    assert message in str(err.value)


def test_wwn_normalised_to_lower_case_without_prefix():
    assert px.normalize_wwn("0x10000000C9831B4B", "x") == "10000000c9831b4b"


def test_logical_target_defaults_to_dev_vg():
    spec = px.validate_pool(name="vg", pool_type="logical", source={"name": "vg9"})
    assert spec["target"]["path"] == "/dev/vg9"


CURRENT = """<pool type='dir'>
  <name>images</name>
  <uuid>7d2b6a1c-1b4e-4c35-a0d5-5e0f1c9a6b09</uuid>
  <capacity unit='bytes'>1000</capacity>
  <allocation unit='bytes'>10</allocation>
  <available unit='bytes'>990</available>
  <source>
  </source>
  <target>
    <path>/var/lib/libvirt/images</path>
    <permissions>
      <mode>0711</mode>
      <owner>0</owner>
      <group>0</group>
      <label>system_u:object_r:virt_image_t:s0</label>
    </permissions>
  </target>
</pool>
"""


def test_merge_keeps_unknown_xml_and_uuid():
    spec = px.validate_pool(name="images", pool_type="dir", target={"path": "/var/lib/libvirt/images", "mode": "0755"})
    new_xml, changed = px.plan_pool_xml(CURRENT, spec)
    assert changed
    root = ET.fromstring(new_xml)
    assert root.findtext("uuid") == "7d2b6a1c-1b4e-4c35-a0d5-5e0f1c9a6b09"
    assert root.findtext("target/permissions/mode") == "0755"
    assert root.findtext("target/permissions/label") == "system_u:object_r:virt_image_t:s0"
    assert root.find("capacity") is None


def test_merge_unchanged_when_options_match():
    spec = px.validate_pool(name="images", pool_type="dir", target={"path": "/var/lib/libvirt/images/", "mode": "711"})
    assert px.plan_pool_xml(CURRENT, spec)[1] is False


def test_type_change_refused():
    spec = px.validate_pool(name="images", pool_type="netfs", source={"hosts": ["h"], "dir": "/e"}, target={"path": "/x"})
    with pytest.raises(px.PoolSpecError, match="exists with type dir"):
        px.plan_pool_xml(CURRENT, spec)


def test_overlay_replaces_repeated_hosts_as_a_group():
    current = ET.fromstring("<pool type='rbd'><source><host name='a'/><host name='b'/><name>r</name></source></pool>")
    desired = ET.fromstring("<pool type='rbd'><source><host name='c'/></source></pool>")
    merged = px.overlay(current, desired)
    assert [h.get("name") for h in merged.iter("host")] == ["c"]
    assert merged.findtext("source/name") == "r"
    assert [h.get("name") for h in current.iter("host")] == ["a", "b"], "overlay must not modify its input"


def test_parse_pool_reports_source():
    spec = px.validate_pool(**CASES["iscsi"])
    info = px.parse_pool(px.pool_xml(spec))
    assert info["source"]["iqn"] == "iqn.2026-11.com.example:san1"
    assert info["source"]["auth"] == {"type": "chap", "username": "hv", "secret_usage": "hotiron-pool-san"}
    assert info["target_path"] == "/dev/disk/by-path"
