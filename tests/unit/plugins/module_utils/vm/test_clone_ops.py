# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm.clone_ops: new VMs from a template, called directly against libvirt's test driver with our own
host (tests/data/vm/host.xml: shut-off template ``tmpl`` on local/tmpl.qcow2, running ``web1``,
local/data.raw).  Clones made end to end by vm_ops.ensure are in test_vm_ops.py."""

from __future__ import annotations

import os

import libvirt
import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import Guest
from ansible_collections.hotiron.virt.plugins.module_utils.vm import clone_ops

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "vm", "host.xml"))
TMPL_DISK = "/var/lib/hotiron-test/local/tmpl.qcow2"


def clone_spec(**kwargs):
    return dict(dict(name="c1", clone_from="tmpl", clone="linked", pool=None), **kwargs)


def volumes(conn):
    return sorted(conn.storagePoolLookupByName("local").listVolumes())


def test_a_linked_clone_of_a_template_is_planned_not_made(conn):
    before = volumes(conn)
    base, disks, jobs, template = clone_ops.prepare_clone(conn, clone_spec(), check_mode=True)
    assert disks is None and template.name == "tmpl"
    assert base.find("uuid") is None and base.find("devices/interface/mac") is None
    assert base.find("devices/interface/source").get("network") == "lan", "what is not the template's own stays"
    meta = dx.read_metadata(base)
    assert "template" not in meta and meta["os"] == "linux"
    disk = base.find("devices/disk")
    assert disk.find("source").get("file") == "/var/lib/hotiron-test/local/c1-vda.qcow2"
    assert disk.find("driver").get("type") == "qcow2" and disk.find("readonly") is None
    (job,) = jobs
    assert (job["pool"], job["name"], job["format"], job["backing"]) == ("local", "c1-vda.qcow2", "qcow2", TMPL_DISK)
    assert job["what"] == "create volume local/c1-vda.qcow2 (qcow2 overlay on %s)" % TMPL_DISK
    assert volumes(conn) == before


def test_a_full_clone_copies_in_the_source_format(conn):
    _base, disks, (job,), template = clone_ops.prepare_clone(conn, clone_spec(clone_from="local/data.raw", clone="full"),
                                                             check_mode=True)
    assert template is None and job["format"] == "raw" and "backing" not in job
    assert job["copy_from"].name() == "data.raw"
    assert job["what"] == "copy volume /var/lib/hotiron-test/local/data.raw to local/c1-vda.raw (raw)"
    assert [(d["path"], d["format"], d["device"]) for d in disks] == [("/var/lib/hotiron-test/local/c1-vda.raw", "raw", "disk")]


@pytest.mark.parametrize("kwargs, message", [
    (dict(clone_from="ghost"), "^clone_from: no VM called 'ghost' \\(and not a pool/volume\\)"),
    (dict(clone_from="web1"), "^clone_from: template 'web1' is running: stop it"),
    (dict(clone_from="local/ghost.qcow2"), "^clone_from: no volume 'ghost.qcow2' in pool 'local'"),
    (dict(clone_from="nopool/x"), "^clone_from: no storage pool called 'nopool'"),
    (dict(pool="nopool"), "^pool: no storage pool called 'nopool'"),
    (dict(name="tmpl", clone_from="local/tmpl.qcow2"), "^name: volume 'tmpl-vda.qcow2' already exists"),
])
def test_bad_sources_are_refused_naming_the_option(conn, kwargs, message):
    if kwargs.get("name") == "tmpl":
        conn.storagePoolLookupByName("local").createXML(
            "<volume><name>tmpl-vda.qcow2</name><capacity>1024</capacity><target><format type='qcow2'/></target></volume>", 0)
    with pytest.raises(lc.VirtError, match=message):
        clone_ops.prepare_clone(conn, clone_spec(**kwargs), check_mode=False)


def test_created_volumes_are_deleted_again_by_the_undo_in_reverse_order(conn):
    _base, _disks, (job,), _template = clone_ops.prepare_clone(conn, clone_spec(), check_mode=False)
    undo = lc.Undo()
    order = []
    undo.push("first", lambda: order.append("first"))
    path = clone_ops.create_volume(conn, job, undo)
    assert path == "/var/lib/hotiron-test/local/c1-vda.qcow2" and "c1-vda.qcow2" in volumes(conn)
    vol = conn.storagePoolLookupByName("local").storageVolLookupByName("c1-vda.qcow2")
    assert dx.get_text(dx.parse(vol.XMLDesc()), "backingStore/path") == TMPL_DISK

    def failing():
        order.append("failing")
        raise lc.VirtError("cannot")

    undo.push("last", failing)
    assert undo.rollback() == ["last: cannot"]
    assert order == ["failing", "first"] and "c1-vda.qcow2" not in volumes(conn)
    assert undo.rollback() == [], "a rollback runs once"


def test_mark_template_flags_it_and_makes_its_cloned_disks_read_only_once(conn):
    dom = conn.lookupByName("tmpl")
    root = dx.parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    dx.remove_path(root, "devices/disk/readonly")
    meta = dx.read_metadata(root)
    meta.pop("template")
    dx.write_metadata(root, meta)
    conn.defineXML(dx.tostring(root))
    template = Guest(conn, conn.lookupByName("tmpl"))
    clone_ops.mark_template(template, [TMPL_DISK])
    marked = dx.parse(conn.lookupByName("tmpl").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert dx.read_metadata(marked)["template"] == "true" and marked.find("devices/disk/readonly") is not None
    clone_ops.mark_template(Guest(conn, conn.lookupByName("tmpl")), [TMPL_DISK])
    again = dx.parse(conn.lookupByName("tmpl").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert len(again.findall("devices/disk/readonly")) == 1


def test_clones_of_reads_the_clone_of_metadata(conn):
    assert clone_ops.clones_of(conn, "tmpl") == []
    for name, source in (("b1", "tmpl"), ("a1", "tmpl"), ("z1", "other")):
        root = dx.parse("<domain type='test'><name>%s</name><memory unit='MiB'>64</memory>"
                        "<os><type arch='x86_64'>hvm</type></os></domain>" % name)
        dx.write_metadata(root, {"clone_of": source})
        conn.defineXML(dx.tostring(root))
    assert clone_ops.clones_of(conn, "tmpl") == ["a1", "b1"]
