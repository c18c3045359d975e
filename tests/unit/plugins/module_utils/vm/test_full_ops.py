# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A VM declared by its complete domain XML (xml_mode=full: full_ops, full_xml) against libvirt's
test driver with our own host (tests/data/vm/host.xml: running VM web1, template tmpl)."""

from __future__ import annotations

# pylint: disable=repeated-keyword

import os

import libvirt
import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.vm import full_xml, vm_ops

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "vm", "host.xml"))

# As a user writes it (or virt-manager): libvirt adds the UUID, a MAC, the clock, lifecycle actions...
F1 = """<domain type='test'><name>f1</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os>
<devices><disk type='file' device='disk'><source file='/var/lib/hotiron-test/local/data.raw'/>
<target dev='vda' bus='virtio'/></disk><interface type='network'><source network='lan'/></interface></devices></domain>"""


def ensure(conn, check=False, **kwargs):
    params = dict(uri=HOST, name="f1", state="present", xml=F1, xml_mode="full", clone="linked", remove_volumes=False,
                  shutdown_timeout=5, force=False, overcommit=False)
    params.update(kwargs)
    return vm_ops.ensure(conn, params, check_mode=check)


def stored(conn, name="f1"):
    return conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)


def test_a_full_xml_defines_the_vm_as_it_is_and_a_rerun_changes_nothing(conn):
    changed, result, diff = ensure(conn, check=True)
    assert changed and result["plan"] == ["define vm f1 from xml"] and lc.lookup_domain(conn, "f1") is None
    assert "<name>f1</name>" in diff["after"]
    changed, result, _diff = ensure(conn, state="running")
    assert changed and result["plan"] == ["define vm f1 from xml", "start vm f1"] and result["vm"]["state"] == "running"
    before = stored(conn)
    for check in (True, False):
        changed, result, diff = ensure(conn, check=check, state="running")
        assert not changed and result["plan"] == [] and diff["before"] == diff["after"]
    assert stored(conn) == before


def test_a_dumped_xml_redefines_keeping_uuid_macs_and_the_collection_metadata(conn):
    ensure(conn, owner="team-a", tags=["db"])
    first = dx.parse(stored(conn))
    uuid, mac = dx.get_text(first, "uuid"), first.find("devices/interface/mac").get("address")
    assert dx.read_metadata(first) == {"owner": "team-a", "tags": ["db"]}
    bigger = F1.replace("<memory unit='MiB'>64</memory>", "<memory unit='MiB'>128</memory>")
    changed, result, diff = ensure(conn, check=True, xml=bigger)
    assert changed and result["plan"] == ["redefine vm f1 from xml"]
    assert [c["field"] for c in result["changes"]] == ["max_memory", "memory"]
    assert "65536" in diff["before"] and "131072" in diff["after"] and "131072" not in diff["before"]
    changed, result, diff = ensure(conn, xml=bigger)
    assert changed and result["plan"] == ["redefine vm f1 from xml"]
    after = dx.parse(stored(conn))
    assert dx.get_text(after, "uuid") == uuid and after.find("devices/interface/mac").get("address") == mac
    assert dx.read_metadata(after) == {"owner": "team-a", "tags": ["db"]} and dx.memory_kib(after, "memory") == 131072
    # virsh dumpxml of the VM fed back as it is (with its uuid, mac and metadata): nothing to change
    assert not ensure(conn, xml=stored(conn))[0]
    assert not ensure(conn, xml=stored(conn), check=True)[0]


def test_a_removed_device_is_a_change(conn):
    ensure(conn)
    no_nic = F1.replace("<interface type='network'><source network='lan'/></interface>", "")
    changed, result, _diff = ensure(conn, check=True, xml=no_nic)
    assert changed and [c["field"] for c in result["changes"]][0].startswith("interfaces.")
    assert ensure(conn, xml=no_nic)[0] and dx.parse(stored(conn)).find("devices/interface") is None


@pytest.mark.parametrize("kwargs,message", [
    (dict(xml=None), "^xml: xml_mode full needs xml"),
    (dict(vcpus=2), "^vcpus: cannot be combined with xml_mode full, .*given: vcpus\\)"),
    (dict(memory="1GiB", disks=[]), "^disks: cannot be combined with xml_mode full, .*given: disks, memory\\)"),
    (dict(name="f2"), "^xml: <name> is 'f1' but the name option is 'f2'"),
    (dict(xml="<network/>"), "^xml: the root element must be <domain>"),
    (dict(ha=True, xml=F1.replace("</devices>", "</devices><on_crash>restart</on_crash>")),
     "^ha: true needs <on_crash>destroy</on_crash>"),
])
def test_full_xml_refusals(conn, kwargs, message):
    with pytest.raises(lc.VirtError, match=message):
        ensure(conn, **kwargs)
    assert lc.lookup_domain(conn, "f1") is None


def test_another_uuid_is_refused(conn):
    ensure(conn)
    other = F1.replace("<name>f1</name>", "<name>f1</name><uuid>6695eb01-f6a4-8304-79aa-97f2502e10ff</uuid>")
    with pytest.raises(lc.VirtError, match="^xml: <uuid> 6695eb01-f6a4-8304-79aa-97f2502e10ff is not the uuid of vm f1"):
        ensure(conn, xml=other)


def test_metadata_options_and_ha_apply_on_top_of_the_xml(conn):
    changed, _result, _diff = ensure(conn, ha=True, sla="gold", owner="ops")
    root = dx.parse(stored(conn))
    assert changed and dx.get_text(root, "on_crash") == "destroy" and dx.get_text(root, "cputune/shares") == "4096"
    assert dx.read_metadata(root)["owner"] == "ops" and dx.read_metadata(root)["ha"] == "true"
    assert not ensure(conn, ha=True, sla="gold", owner="ops")[0]


def test_covers_ignores_what_libvirt_adds_but_not_what_the_user_removed():
    have = dx.parse("<domain><name>a</name><uuid>u</uuid><clock offset='utc'/><on_crash>destroy</on_crash>"
                    "<os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type><boot dev='hd'/></os>"
                    "<devices><disk type='file'><source file='/a'/><target dev='vda' bus='virtio'/><address type='pci'/></disk>"
                    "<controller type='usb'/></devices></domain>")
    want = dx.parse("<domain><name>a</name><os><type machine='pc-i440fx-7.2'>hvm</type></os>"
                    "<devices><disk type='file'><source file='/a'/><target dev='vda'/></disk></devices></domain>")
    assert full_xml.covers(have, want)
    assert not full_xml.covers(have, dx.parse(dx.tostring(want).replace("/a", "/b")))
    have.append(dx.parse("<cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>"))
    assert full_xml.covers(have, want)                                  # libvirt's default CPU
    have.append(dx.parse("<on_reboot>destroy</on_reboot>"))           # not libvirt's default: the user's
    assert not full_xml.covers(have, want)
