# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""batch_ops (entries, validate, ensure_all, failures) against libvirt's test driver (tests/data/vm/host.xml).

The host has pool ``local`` (tmpl.qcow2, data.raw), network ``lan``, a running VM
``web1`` and a shut-off template ``tmpl``.  Every test opens a fresh connection,
so the test driver starts from that file each time.
"""

from __future__ import annotations

import os

import libvirt
import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.vm import batch_ops as vm_batch

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "vm", "host.xml"))
CLONES = {"clone_from": "tmpl", "memory": "64MiB", "state": "running"}


def snapshot(conn):
    doms = {d.name(): (dx.normalise(d.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)), d.state()[0])
            for d in conn.listAllDomains()}
    return doms, sorted(conn.storagePoolLookupByName("local").listVolumes())


def batch(conn, vms_=None, names=None, defaults=None, check=False, concurrency=1):
    checked = vm_batch.validate(vm_batch.entries(vms_, names, defaults))
    return vm_batch.ensure_all(conn, checked, check_mode=check, concurrency=concurrency)


# --- entries and validation: pure, nothing touched ----------------------------------------

def test_defaults_apply_to_every_entry_and_an_entry_replaces_them_whole():
    out = vm_batch.entries([{"name": "a", "memory": "1GiB", "tags": ["x"]}], ["b"],
                           {"memory": "512MiB", "tags": ["web", "db"], "state": "running"})
    assert out == [("vms[0] a", {"name": "a", "memory": "1GiB", "tags": ["x"], "state": "running"}),
                   ("names[0] b", {"name": "b", "memory": "512MiB", "tags": ["web", "db"], "state": "running"})]


def test_validation_fills_the_defaults_of_the_vm_module():
    ((label, params),) = vm_batch.validate(vm_batch.entries(None, ["a"], {"clone_from": "tmpl"}))
    assert label == "names[0] a"
    assert params["state"] == "present" and params["clone"] == "linked" and params["remove_volumes"] is False
    assert params["shutdown_timeout"] == 120 and params["memory"] is None


@pytest.mark.parametrize("vms_,names,defaults,message", [
    ([{"name": "a"}], ["a"], {}, r"^names\[0\] a: VM 'a' is also given as vms\[0\] a"),
    ([{"name": "a"}, {"name": "a"}], None, {}, r"^vms\[1\] a: VM 'a' is also given as vms\[0\] a"),
    (None, ["a"], {"name": "x"}, "^defaults: name cannot have a default"),
    (None, ["a"], {"memroy": "1GiB"}, "^defaults: unsupported option.s. memroy"),
    (["a"], None, {}, r"^vms\[0\]: must be a dict"),
    ([{"memory": "1GiB"}], None, {}, r"^vms\[0\]: name is required"),
    (None, [""], {}, r"^names\[0\]: must be a VM name"),
    ([], [], {}, "^vms: no VMs given"),
    ([{"name": "a", "vcpu": 2}], None, {}, r"^vms\[0\] a: unsupported option vcpu"),
    ([{"name": "a", "vcpus": "two"}], None, {}, r"^vms\[0\] a: argument 'vcpus' is of type str"),
    ([{"name": "a", "disks": [{"pool": "local", "volume": "a", "size": "0"}]}], None, {},
     r"^vms\[0\] a: disks\[0\]\.size: must be greater than zero"),
    ([{"name": "a", "disks": []}], None, {"clone_from": "tmpl"}, r"^vms\[0\] a: parameters are mutually exclusive"),
    (None, ["a", "b"], {"memory": "-1MiB"}, r"^names\[0\] a: memory:"),
    (None, ["a"], {"state": "gone"}, r"^names\[0\] a: value of state must be one of"),
])
def test_bad_input_is_refused_naming_the_entry_and_the_option(vms_, names, defaults, message):
    with pytest.raises(lc.VirtError, match=message):
        vm_batch.validate(vm_batch.entries(vms_, names, defaults))


# --- against the test driver --------------------------------------------------------------

@pytest.mark.parametrize("concurrency", [1, 4])
def test_many_clones_running_then_a_second_run_changes_nothing(conn, concurrency):
    changed, results, diffs, warnings = batch(conn, names=["c1", "c2", "c3"], defaults=CLONES, concurrency=concurrency)
    assert changed and not warnings
    assert [r["name"] for r in results] == ["c1", "c2", "c3"] and all(r["changed"] for r in results)
    assert results[0]["plan"][-1] == "start vm c1"
    for name in ("c1", "c2", "c3"):
        dom = conn.lookupByName(name)
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        assert dx.read_metadata(dx.parse(dom.XMLDesc(0)))["clone_of"] == "tmpl"
    assert [d["after_header"] for d in diffs] == ["vm c1 (after)", "vm c2 (after)", "vm c3 (after)"]
    assert "<name>c2</name>" in diffs[1]["after"] and diffs[1]["before"] == ""
    uuids = {conn.lookupByName(n).UUIDString() for n in ("c1", "c2", "c3")}
    assert len(uuids) == 3

    changed, results, diffs = batch(conn, names=["c1", "c2", "c3"], defaults=CLONES, concurrency=concurrency)[:3]
    assert not changed and not diffs and not any(r["changed"] for r in results)


def test_entries_change_only_what_they_say(conn):
    batch(conn, names=["c1", "c2"], defaults=CLONES)
    stop_c2 = {"name": "c2", "memory": "32MiB", "state": "stopped", "force": True, "shutdown_timeout": 0}
    changed, results = batch(conn, vms_=[{"name": "c1"}, stop_c2], defaults={"clone_from": "tmpl"})[:2]
    assert changed and [r["changed"] for r in results] == [False, True]
    assert conn.lookupByName("c1").state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert conn.lookupByName("c2").state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
    assert dx.memory_kib(dx.parse(conn.lookupByName("c2").XMLDesc(0)), "currentMemory") == 32 * 1024


@pytest.mark.parametrize("concurrency", [1, 4])
def test_check_mode_plans_every_vm_and_changes_nothing(conn, concurrency):
    before = snapshot(conn)
    changed, results, diffs = batch(conn, names=["c1", "c2"], defaults=CLONES, check=True, concurrency=concurrency)[:3]
    assert changed and [r["plan"][-1] for r in results] == ["start vm c1", "start vm c2"]
    assert len(diffs) == 2 and "<name>c1</name>" in diffs[0]["after"]
    assert snapshot(conn) == before


def test_absent_removes_every_vm_and_its_volumes(conn):
    batch(conn, names=["c1", "c2"], defaults=CLONES)
    changed, results = batch(conn, names=["c1", "c2", "never-made"],
                             defaults={"state": "absent", "remove_volumes": True})[:2]
    assert changed and [r["changed"] for r in results] == [True, True, False]
    assert {d.name() for d in conn.listAllDomains()} == {"web1", "tmpl"}
    assert not [v for v in conn.storagePoolLookupByName("local").listVolumes() if v.startswith("c")]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_one_bad_entry_among_good_ones_changes_nothing(conn, concurrency):
    before = snapshot(conn)
    vms_ = [{"name": "c1"}, {"name": "c2", "clone_from": "ghost"}, {"name": "c3", "vcpus": 6, "limits": {"max_vcpus": 4}}]
    with pytest.raises(lc.VirtError) as err:
        batch(conn, vms_=vms_, defaults=CLONES, concurrency=concurrency)
    assert str(err.value).startswith("2 of 3 VMs cannot be made as given, so none was touched: ")
    assert "vms[1] c2: clone_from: no VM called 'ghost'" in str(err.value)
    assert "vms[2] c3: vcpus: 6 vCPUs is above the per-guest limit of 4" in str(err.value)
    assert snapshot(conn) == before


def test_one_vm_failing_when_made_leaves_nothing_of_it_and_the_others_are_made(conn):
    # c2's linked clone needs volume c2-vda.qcow2, which the first entry makes: the plan of each
    # entry alone is sound, so the failure comes while the task runs.
    vms_ = [{"name": "c1", "memory": "64MiB", "disks": [{"pool": "local", "volume": "c2-vda.qcow2", "size": "1GiB"}]},
            dict(CLONES, name="c2"), dict(CLONES, name="c3")]
    changed, results = batch(conn, vms_=vms_)[:2]
    assert changed and [r.get("failed", False) for r in results] == [False, True, False]
    assert results[1]["msg"].startswith("vms[1] c2: name: volume 'c2-vda.qcow2' already exists in pool 'local'")
    assert lc.lookup_domain(conn, "c2") is None
    assert conn.lookupByName("c3").state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert vm_batch.failures(results).startswith("1 of 3 VMs failed: vms[1] c2: name: volume")
    assert vm_batch.failures(results[:1]) is None


def test_a_failing_vm_among_concurrent_ones_is_rolled_back_and_reported_in_order(conn, monkeypatch):
    # Another actor makes volume c3-vda.qcow2 after the plan (which found the name free) and
    # before the run: c3's create fails while c1..c6 are made four at a time.
    real_preflight = vm_batch.preflight

    def preflight_then_taken(conn_, *args, **kwargs):
        real_preflight(conn_, *args, **kwargs)
        conn_.storagePoolLookupByName("local").createXML(
            "<volume><name>c3-vda.qcow2</name><capacity>1048576</capacity><target><format type='qcow2'/></target></volume>", 0)

    monkeypatch.setattr(vm_batch, "preflight", preflight_then_taken)
    names = ["c%d" % i for i in range(1, 7)]
    changed, results = batch(conn, names=names, defaults=CLONES, concurrency=4)[:2]
    assert changed and [r["name"] for r in results] == names
    assert [r.get("failed", False) for r in results] == [False, False, True, False, False, False]
    assert results[2]["msg"].startswith("names[2] c3: ")
    assert lc.lookup_domain(conn, "c3") is None
    for name in names[:2] + names[3:]:
        assert conn.lookupByName(name).state()[0] == libvirt.VIR_DOMAIN_RUNNING
    # The other actor's volume is left alone; every clone's overlay is there, none of c3's.
    volumes = conn.storagePoolLookupByName("local").listVolumes()
    assert "c3-vda.qcow2" in volumes and all("%s-vda.qcow2" % n in volumes for n in names)
    assert vm_batch.failures(results).startswith("1 of 6 VMs failed: names[2] c3: ")


def test_waves_put_what_others_depend_on_alone(conn):
    batch(conn, names=["c1"], defaults=CLONES)
    checked = vm_batch.validate(vm_batch.entries(
        [{"name": "a", "clone_from": "web1"}, {"name": "b"}, {"name": "web1"}, {"name": "c"}, {"name": "d", "template": True},
         {"name": "e"}, {"name": "tmpl", "state": "absent"}, {"name": "c1", "state": "absent"}, {"name": "f", "clone_from": "local/x"}],
        None, {}))
    assert [[params["name"] for _label, params in group] for group in vm_batch.waves(conn, checked)] == \
        [["a", "b"], ["web1"], ["c"], ["d"], ["e"], ["tmpl"], ["c1", "f"]]


def test_entries_creating_the_same_volume_never_run_together(conn):
    """Two entries that would create one volume run one after the other, in the task's order:
    the first makes it and the later one fails, as in a loop, however the threads are timed."""
    checked = vm_batch.validate(vm_batch.entries(
        [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}], None, {}))
    labels = [label for label, _params in checked]
    creates = {labels[0]: {"local/x.qcow2"}, labels[1]: {"local/y.qcow2"}, labels[2]: {"local/x.qcow2"}, labels[3]: set()}
    assert [[params["name"] for _label, params in group] for group in vm_batch.waves(conn, checked, creates)] == \
        [["a", "b"], ["c", "d"]]
    assert vm_batch.NEW_VOLUME.match("create volume local/c2-vda.qcow2 (qcow2 overlay on /x)").group(1) == "local/c2-vda.qcow2"
    assert vm_batch.NEW_VOLUME.match("copy volume /t.qcow2 to local/c2-vda.qcow2 (raw)").group(1) == "local/c2-vda.qcow2"


def test_a_bad_default_is_named_as_a_default():
    with pytest.raises(lc.VirtError, match=r"^defaults: .*vcpus"):
        vm_batch.validate_defaults({"vcpus": "many"})
    with pytest.raises(lc.VirtError, match=r"^defaults: vcpus: must be from 1 to 4096, got 0$"):
        vm_batch.validate_defaults({"vcpus": 0})
    vm_batch.validate_defaults({"vcpus": 2, "clone_from": "tmpl"})


@pytest.mark.parametrize("entry, message", [
    ({"name": "a", "vcpus": "many"}, "vms[0] a: argument 'vcpus' is of type"),
    ({"name": "a", "vcpus": -1}, "vms[0] a: vcpus: must be from 1 to 4096, got -1"),
    ({"name": "a", "shutdown_timeout": -5}, "vms[0] a: shutdown_timeout: must be from 0 to 86400, got -5"),
    ({"name": "a", "disks": [{"path": "/x", "boot_order": 0}]}, "vms[0] a: disks[0].boot_order: must be from 1 to 64, got 0"),
    ({"name": "a", "limits": {"max_vcpus": "lots"}}, "vms[0] a: argument 'max_vcpus' is of type"),
    ({"name": "a", "ha_priority": 1001}, "vms[0] a: ha_priority: must be from 0 to 1000, got 1001"),
])
def test_entries_are_checked_by_type_and_range(entry, message):
    with pytest.raises(lc.VirtError) as err:
        vm_batch.validate(vm_batch.entries([entry], None, None))
    assert str(err.value).startswith(message)
