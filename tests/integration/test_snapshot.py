# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm_snapshot on the lab, run by Ansible on the VM's host: external snapshots of running and
shut-off guests, reverts (libvirt 9.0 refuses them; the module does them), deletes that merge
images back, and the images nothing may write into (a linked clone's template, a disk someone
built an overlay on).  Data is checked as the guest sees it (``qemu-img convert`` through the
backing chain), written through QEMU's monitor while the guest runs.
"""

from __future__ import annotations

import os
import shutil

import pytest
from backup_helpers import (
    chain_of,
    content_sha256,
    define_guest,
    disk_source,
    file_sha256,
    make_disk,
    monitor_write,
    remove_vm_everywhere,
    run_in,
)

pytestmark = pytest.mark.lab

IMAGES = "/var/lib/libvirt/images"


@pytest.fixture
def vm(lab):
    """Factory: a guest on hv1 with a local qcow2 disk of known data (optionally a linked clone of
    ``backing``); every file the test leaves with the VM's name in the images directory goes."""
    hv1 = lab.host("hv1")
    names = []

    def make(suffix, backing=None, start=True, data=True):
        name = "sn-%s-%d" % (suffix, os.getpid())
        names.append(name)
        disk = "%s/%s.qcow2" % (IMAGES, name)
        make_disk(lab, hv1, disk, backing=backing, **({} if data else {"data": []}))
        return define_guest(lab, hv1, name, disk, start=start), disk

    yield make
    for name in names:
        remove_vm_everywhere(lab, name)
        for entry in os.listdir(hv1.images_dir):
            if entry.startswith(name):
                path = os.path.join(hv1.images_dir, entry)
                shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)


def snap(run_module, name, snapshot, state="present", **extra):
    result = run_module("hotiron.virt.vm_snapshot", dict({"name": name, "snapshot": snapshot, "state": state}, **extra),
                        host="hv1")
    assert not result.get("failed"), result.get("msg")
    return result


def test_snapshot_write_revert_running_and_idempotent(lab, vm, run_module):
    hv1 = lab.host("hv1")
    dom, disk = vm("rev")
    before = content_sha256(hv1, disk)
    first = snap(run_module, dom.name(), "s1")
    assert first["changed"] and first["quiesced"] is False
    assert any("not quiesced" in w for w in first.get("warnings", [])), first
    assert snap(run_module, dom.name(), "s1")["changed"] is False
    overlay = first["plan"]["overlays"]["vda"]
    assert disk_source(dom) == overlay and chain_of(hv1, overlay) == [os.path.basename(overlay), os.path.basename(disk)]

    monitor_write(dom, 0x66, 4, 2)
    assert content_sha256(hv1, disk_source(dom)) != before
    reverted = snap(run_module, dom.name(), "s1", "reverted")
    assert reverted["changed"] and reverted["memory"] is False
    assert dom.isActive() and dom.state()[1] == 1        # running, booted again on the old disk
    leaf = disk_source(dom)
    assert content_sha256(hv1, leaf) == before
    assert not os.path.exists(os.path.join(hv1.images_dir, os.path.basename(overlay)))   # old leaf dropped
    # Nothing written since (the guest is idle): a second revert changes nothing.
    assert snap(run_module, dom.name(), "s1", "reverted")["changed"] is False
    listed = run_module("hotiron.virt.vm_info", {"name": dom.name()}, host="hv1")["vms"][0]
    assert [s["name"] for s in listed["snapshots"]] == ["s1"] and listed["current_snapshot"] == "s1"
    assert [c["path"] for c in listed["disks"][0]["backing_chain"]] == [disk]


def test_delete_a_middle_snapshot_keeps_data_and_shortens_the_chain(lab, vm, run_module):
    hv1 = lab.host("hv1")
    dom, disk = vm("mid")
    states = {}
    for index, name in enumerate(("s1", "s2", "s3")):
        states[name] = content_sha256(hv1, disk_source(dom))
        snap(run_module, dom.name(), name)
        monitor_write(dom, 0x70 + index, 30 + index, 1)
    now = content_sha256(hv1, disk_source(dom))
    long_chain = chain_of(hv1, disk_source(dom))
    assert len(long_chain) == 4

    deleted = snap(run_module, dom.name(), "s2", "absent")
    [plan] = deleted["plan"]
    assert plan["action"] == "commit" and plan["online"] and not plan["active"]
    assert os.path.basename(plan["child"]) == "%s-vda-s2.qcow2" % dom.name()
    assert chain_of(hv1, disk_source(dom)) == [c for c in long_chain if c != os.path.basename(plan["child"])]
    assert content_sha256(hv1, disk_source(dom)) == now
    assert snap(run_module, dom.name(), "s2", "absent")["changed"] is False
    assert [s["name"] for s in deleted["snapshots"]] == ["s1", "s3"]
    assert deleted["snapshots"][1]["parent"] == "s1"

    # The later snapshot still holds its own time, the earlier one its own.
    snap(run_module, dom.name(), "s3", "reverted")
    assert content_sha256(hv1, disk_source(dom)) == states["s3"]
    snap(run_module, dom.name(), "s1", "reverted")
    assert content_sha256(hv1, disk_source(dom)) == states["s1"]

    # Deleting everything merges back into the vm's own disk: one image again.
    snap(run_module, dom.name(), "s3", "absent")
    snap(run_module, dom.name(), "s1", "absent")
    assert disk_source(dom) == disk and chain_of(hv1, disk) == [os.path.basename(disk)]
    assert content_sha256(hv1, disk) == states["s1"]
    assert sorted(e for e in os.listdir(hv1.images_dir) if e.startswith(dom.name())) == [os.path.basename(disk)]


def test_memory_snapshot_revert_brings_the_guest_back_running(lab, vm, run_module):
    hv1 = lab.host("hv1")
    dom, disk = vm("mem")
    before = content_sha256(hv1, disk)
    taken = snap(run_module, dom.name(), "m1", memory=True)
    memory_file = taken["plan"]["memory_file"]
    assert memory_file and os.path.exists(os.path.join(hv1.images_dir, os.path.basename(memory_file)))
    monitor_write(dom, 0x55, 12, 2)
    reverted = snap(run_module, dom.name(), "m1", "reverted")
    assert reverted["memory"] is True
    assert dom.state() == [1, 3]     # running, restored (from the memory file), not booted
    assert content_sha256(hv1, disk_source(dom)) == before
    snap(run_module, dom.name(), "m1", "absent")
    assert not os.path.exists(os.path.join(hv1.images_dir, os.path.basename(memory_file)))
    assert disk_source(dom) == disk


def test_shut_off_vm_snapshot_revert_delete(lab, vm, run_module):
    hv1 = lab.host("hv1")
    dom, disk = vm("off", start=False)
    before = content_sha256(hv1, disk)
    snap(run_module, dom.name(), "o1")
    overlay = disk_source(dom)
    run_in(hv1, "qemu-io", "-f", "qcow2", "-c", "write -P 0x44 8M 1M", overlay)
    snap(run_module, dom.name(), "o1", "reverted")
    assert not dom.isActive() and content_sha256(hv1, disk_source(dom)) == before
    assert snap(run_module, dom.name(), "o1", "reverted")["changed"] is False
    memory = run_module("hotiron.virt.vm_snapshot", {"name": dom.name(), "snapshot": "o2", "memory": True}, host="hv1")
    assert memory["failed"] and "needs a running vm" in memory["msg"]
    deleted = snap(run_module, dom.name(), "o1", "absent")
    assert deleted["plan"][0]["action"] == "commit" and not deleted["plan"][0]["online"]
    assert disk_source(dom) == disk and chain_of(hv1, disk) == [os.path.basename(disk)]
    assert content_sha256(hv1, disk) == before


def test_linked_clone_template_is_never_written(lab, vm, run_module):
    """Two clones of one template: snapshots of one merge into its own overlay, never into the
    template; a clone's disk that another overlay is built on is never written either."""
    hv1 = lab.host("hv1")
    template, template_disk = vm("tmpl", start=False)
    template_file = os.path.join(hv1.images_dir, os.path.basename(template_disk))
    template_sha = file_sha256(template_file)
    a, a_disk = vm("ca", backing=template_disk, data=False)
    b, b_disk = vm("cb", backing=template_disk, data=False)
    b_before = content_sha256(hv1, b_disk)

    snap(run_module, a.name(), "s1")
    monitor_write(a, 0x21, 2, 2)
    deleted = snap(run_module, a.name(), "s1", "absent")
    [plan] = deleted["plan"]
    assert plan["action"] == "commit" and plan["base"] == a_disk and plan["active"]
    assert chain_of(hv1, a_disk) == [os.path.basename(a_disk), os.path.basename(template_disk)]
    assert file_sha256(template_file) == template_sha
    assert content_sha256(hv1, b_disk) == b_before

    # Someone built an overlay on a's own disk by hand: a's snapshot is deleted, but nothing is
    # merged into that disk.
    by_hand = "%s/%s-by-hand.qcow2" % (IMAGES, a.name())
    run_in(hv1, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", a_disk, by_hand)
    snap(run_module, a.name(), "s2")
    monitor_write(a, 0x22, 6, 1)
    a_sha = file_sha256(os.path.join(hv1.images_dir, os.path.basename(a_disk)))
    kept = snap(run_module, a.name(), "s2", "absent")
    assert kept["plan"][0]["action"] == "keep" and by_hand in kept["plan"][0]["why"], kept["plan"]
    assert "images kept" in kept["msg"]
    assert file_sha256(os.path.join(hv1.images_dir, os.path.basename(a_disk))) == a_sha
    assert file_sha256(template_file) == template_sha
    assert [s["name"] for s in kept["snapshots"]] == []


def test_backups_across_snapshots_merges_and_reverts(lab, vm, run_module):
    """Checkpoints follow snapshots and merges (libvirt carries the bitmaps), and a revert breaks
    the chain on purpose: the next backup is full, and says why."""
    hv1 = lab.host("hv1")
    dom, _disk = vm("bk")
    target = "%s/%s-target" % (IMAGES, dom.name())
    os.makedirs(os.path.join(hv1.images_dir, os.path.basename(target)))

    def backup():
        result = run_module("hotiron.virt.vm_backup", {"name": dom.name(), "target": target}, host="hv1")
        assert not result.get("failed"), result.get("msg")
        return result

    assert backup()["mode"] == "full"
    snap(run_module, dom.name(), "s1")
    monitor_write(dom, 0x41, 3, 2)
    after_snapshot = backup()
    assert after_snapshot["mode"] == "incremental" and 2 << 20 <= after_snapshot["backup"]["size"] < 3 << 20
    snap(run_module, dom.name(), "s2")
    monitor_write(dom, 0x42, 5, 1)
    snap(run_module, dom.name(), "s2", "absent")          # active commit of s2's overlay
    after_merge = backup()
    assert after_merge["mode"] == "incremental" and 1 << 20 <= after_merge["backup"]["size"] < 2 << 20
    reverted = snap(run_module, dom.name(), "s1", "reverted")
    assert reverted["checkpoints_deleted"] == [after_merge["backup"]["checkpoint"]]
    assert any("next backup is a full one" in w for w in reverted.get("warnings", [])), reverted
    after_revert = backup()
    assert after_revert["mode"] == "full" and "is not on the vm" in after_revert["reason"]
