# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm.resolve_ops: a checked VM spec resolved against one host - pools, volumes to make, networks,
host facts - against libvirt's test driver with our own host (tests/data/vm/host.xml: pool
``local`` with tmpl.qcow2 (2 GiB) and data.raw (100 MiB), network ``lan``)."""

from __future__ import annotations

import os

import pytest

from vm_examples import spec  # tests/unit/vm_examples.py

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.vm import resolve_ops

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "vm", "host.xml"))
GIB, MIB = 1024 ** 3, 1024 ** 2


def test_host_facts_read_the_capabilities(conn):
    facts = resolve_ops.host_facts(conn)
    assert facts["cpus"] == 4 and facts["memory"] == 8 * GIB
    assert facts["arches"]["x86_64"]["domain_types"] == ["test"]


def test_named_pool_and_its_path(conn):
    pool = resolve_ops.named_pool(conn, "local", "disks[0].pool")
    assert pool.name() == "local" and resolve_ops.pool_path(pool) == "/var/lib/hotiron-test/local"
    with pytest.raises(lc.VirtError, match=r"^disks\[0\]\.pool: no storage pool called 'nopool' on test:///"):
        resolve_ops.named_pool(conn, "nopool", "disks[0].pool")
    pool.destroy()
    with pytest.raises(lc.VirtError, match="^pool: storage pool 'local' is not active$"):
        resolve_ops.named_pool(conn, "local", "pool")


def test_volume_info(conn):
    pool = conn.storagePoolLookupByName("local")
    assert resolve_ops.volume_info(pool.storageVolLookupByName("tmpl.qcow2")) == {
        "path": "/var/lib/hotiron-test/local/tmpl.qcow2", "format": "qcow2", "capacity": 2 * GIB}
    assert resolve_ops.volume_info(pool.storageVolLookupByName("data.raw"))["format"] == "raw"


def test_volume_xml_is_accepted_by_libvirt_as_an_overlay(conn):
    pool = conn.storagePoolLookupByName("local")
    backing = resolve_ops.volume_info(pool.storageVolLookupByName("tmpl.qcow2"))
    xml = resolve_ops.volume_xml("o.qcow2", 2 * GIB, "qcow2", backing=backing)
    root = dx.parse(xml)
    assert (dx.get_text(root, "capacity"), root.find("capacity").get("unit")) == (str(2 * GIB), "bytes")
    assert dx.get_text(root, "backingStore/path") == backing["path"]
    assert root.find("backingStore/format").get("type") == "qcow2"
    vol = pool.createXML(xml, 0)
    assert vol.path() == "/var/lib/hotiron-test/local/o.qcow2" and vol.info()[1] == 2 * GIB
    assert dx.parse(resolve_ops.volume_xml("p.raw", MIB, "raw")).find("backingStore") is None


def test_resolve_disks_finds_existing_volumes_and_plans_the_missing_ones(conn):
    s = spec(disks=[{"pool": "local", "volume": "data.raw"}, {"pool": "local", "volume": "new.qcow2", "size": "1GiB"},
                    {"path": "/iso/boot.qcow2"}, {"path": "/iso/x.iso", "device": "cdrom"}])
    disks, to_create = resolve_ops.resolve_disks(conn, s["disks"], "virtio")
    assert [(d["path"], d["format"]) for d in disks] == [
        ("/var/lib/hotiron-test/local/data.raw", "raw"), ("/var/lib/hotiron-test/local/new.qcow2", "qcow2"),
        ("/iso/boot.qcow2", "qcow2"), ("/iso/x.iso", "raw")]
    assert [(j["pool"], j["name"], j["what"]) for j in to_create] == [
        ("local", "new.qcow2", "create volume local/new.qcow2 (1GiB qcow2)")]
    assert conn.storagePoolLookupByName("local").listVolumes().count("new.qcow2") == 0, "resolving makes nothing"


@pytest.mark.parametrize("disks, message", [
    ([{"pool": "local", "volume": "data.raw", "format": "qcow2"}], r"^disks\[0\]\.format: volume local/data.raw is raw, not qcow2"),
    ([{"path": "/a"}, {"pool": "local", "volume": "ghost.qcow2"}], r"^disks\[1\]\.size: volume 'ghost.qcow2' does not exist"),
    ([{"pool": "elsewhere", "volume": "v"}], r"^disks\[0\]\.pool: no storage pool called 'elsewhere'"),
])
def test_resolve_disks_names_the_option(conn, disks, message):
    with pytest.raises(lc.VirtError, match=message):
        resolve_ops.resolve_disks(conn, spec(disks=disks)["disks"], "virtio")


def test_resolve_interfaces(conn):
    nics = spec(interfaces=[{"network": "lan"}, {"bridge": "br0", "model": "e1000e"}])["interfaces"]
    out = resolve_ops.resolve_interfaces(conn, nics, "virtio")
    assert [n["model"] for n in out] == ["virtio", "e1000e"] and nics[0]["model"] is None, "the spec is not changed"
    with pytest.raises(lc.VirtError, match=r"^interfaces\[1\]\.network: no network called 'wan'"):
        resolve_ops.resolve_interfaces(conn, spec(interfaces=[{"network": "lan"}, {"network": "wan"}])["interfaces"], "virtio")


def test_resolve_records_the_volumes_it_makes_with_those_already_owned(conn):
    current = dx.parse("""<domain type='test'><name>vm1</name><metadata>
      <hotiron:vm xmlns:hotiron='https://hotiron.example/virt/1'><hotiron:os>windows</hotiron:os>
      <hotiron:volumes><hotiron:volume pool="local" name="old.qcow2"/></hotiron:volumes></hotiron:vm></metadata>
      <os><type arch='x86_64'>hvm</type></os></domain>""")
    s = spec(disks=[{"pool": "local", "volume": "vm1.qcow2", "size": "1GiB"}], interfaces=[{"network": "lan"}])
    resolved, to_create = resolve_ops.resolve(conn, s, resolve_ops.host_facts(conn), current)
    assert resolved["os"] == "windows", "the profile kept in the metadata"
    assert resolved["disks"][0]["bus"] == "sata" and resolved["interfaces"][0]["model"] == "e1000e"
    assert [j["name"] for j in to_create] == ["vm1.qcow2"]
    assert resolved["volumes"] == [{"pool": "local", "name": "old.qcow2"}, {"pool": "local", "name": "vm1.qcow2"}]
    assert resolved["hyperv"] is None, "the test driver has no domain capabilities"


def test_domain_caps_is_none_where_the_driver_has_none(conn):
    caps = resolve_ops.domain_caps(conn, {"arch": "x86_64", "domain_type": "test"})
    try:
        conn.getDomainCapabilities(None, "x86_64", None, "test", 0)
    except lc.libvirt.libvirtError as err:      # Debian 12's libvirt 9.0: the test driver has none
        assert err.get_error_code() == lc.libvirt.VIR_ERR_NO_SUPPORT and caps is None
    else:                                       # Debian 13's libvirt 11.3 has them
        assert "<domainCapabilities>" in caps
