# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm_backup, vm_restore and backup_info on the lab, run by Ansible on the hosts themselves.

The guests are OS-less, so their disks are written the way an OS would leave them: through
QEMU's monitor (HMP ``qemu-io``) while they run.  The main test follows a VM through a full
backup, writes, an incremental, a live migration (its checkpoints carried by vm_migrate), more
writes and another incremental on the new host, then restores it on a third host under a new
name: the restored disk's guest-visible bytes equal the source's at the time of the chosen backup.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import libvirt
import libvirt_qemu
import pytest
from backup_helpers import (
    chain_of,
    content_sha256,
    define_guest,
    disk_source,
    file_sha256,
    make_disk,
    metadata_of_hosts,
    monitor_write,
    monitor_zero,
    remove_vm_everywhere,
    run_in,
)
from host_snapshot import differences, snapshot
from storage_helpers import write_play

pytestmark = pytest.mark.lab

SHARED = "/srv/hotiron/shared"
IMAGES = "/var/lib/libvirt/images"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def shared_pools(lab):
    """A dir pool over the shared directory on every host (vm_migrate tells shared storage by it)."""
    if not lab.shared_fs_mounted():
        pytest.skip("the lab's shared directory is a plain bind mount (no bindfs): libvirt refuses live migration")
    made = lab.shared_pools("bk-shared", SHARED)
    yield
    lab.remove_shared_pools(made, "bk-shared")


@pytest.fixture
def cleanup(lab):
    """Register VM names and files (paths seen from this machine) to remove after the test."""
    vms, paths = [], []
    yield vms, paths
    for name in vms:
        remove_vm_everywhere(lab, name)
        for directory in [lab.shared_dir] + [h.images_dir for h in lab.hosts]:   # overlays, restored disks
            for entry in os.listdir(directory):
                if entry.startswith(name + "-") or entry.startswith(name + "."):
                    os.unlink(os.path.join(directory, entry))
    for path in paths:
        if os.path.isdir(path):
            subprocess.run(["chattr", "-R", "-i", path], check=False, capture_output=True)
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)


def outside(lab, path_in_host, host=None):
    """Where a path of a lab host is in this machine's namespace."""
    if path_in_host.startswith(SHARED + "/"):
        return os.path.join(lab.shared_dir, path_in_host[len(SHARED) + 1:])
    assert path_in_host.startswith(IMAGES + "/"), path_in_host
    return os.path.join(host.images_dir, path_in_host[len(IMAGES) + 1:])


def shared_vm(lab, cleanup, name, host="hv1", tags=None):
    vms, paths = cleanup
    vms.append(name)
    disk = "%s/%s.qcow2" % (SHARED, name)
    paths.append(outside(lab, disk))
    make_disk(lab, lab.host(host), disk)
    return define_guest(lab, lab.host(host), name, disk, tags=tags), disk


def local_vm(lab, cleanup, name, host="hv1"):
    vms, paths = cleanup
    vms.append(name)
    disk = "%s/%s.qcow2" % (IMAGES, name)
    paths.append(outside(lab, disk, lab.host(host)))
    make_disk(lab, lab.host(host), disk)
    return define_guest(lab, lab.host(host), name, disk), disk


def target_dir(lab, cleanup, path_in_host, host=None):
    os.makedirs(outside(lab, path_in_host, host), exist_ok=True)
    cleanup[1].append(outside(lab, path_in_host, host))
    return path_in_host


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


def test_backup_migrate_backup_restore_elsewhere_byte_for_byte(lab, shared_pools, cleanup, run_module):
    hv1, hv2, hv3 = lab.host("hv1"), lab.host("hv2"), lab.host("hv3")
    name = "bk-main-%d" % os.getpid()
    dom, disk = shared_vm(lab, cleanup, name)
    target = target_dir(lab, cleanup, "%s/backups-%d" % (SHARED, os.getpid()))
    cleanup[0].extend([name + "-r", name + "-r2"])
    cleanup[1].extend(os.path.join(hv3.images_dir, "%s-%s-vda.qcow2" % (name, s)) for s in ("r", "r2"))

    full = ok(run_module("hotiron.virt.vm_backup", {"name": name, "target": target}, host="hv1"))
    assert full["changed"] and full["mode"] == "full" and full["backup"]["checkpoint"], full
    assert full["reason"] == "first backup of this vm on the target"
    at_full = content_sha256(hv1, disk)

    # Writes at known offsets, among them zeroes over the known data (1..9 MiB holds 0x11).
    monitor_write(dom, 0x5A, 16, 4)
    monitor_zero(dom, 2, 1)
    first = ok(run_module("hotiron.virt.vm_backup", {"name": name, "target": target}, host="hv1"))
    assert first["mode"] == "incremental" and first["backup"]["parent"] == full["backup"]["id"], first
    # 4 MiB of data; the zeroes are flags in the qcow2 file; plus its metadata
    assert 4 * MIB <= first["backup"]["size"] < 5 * MIB, first["backup"]
    assert first["checkpoints_deleted"] == [full["backup"]["checkpoint"]]
    at_first = content_sha256(hv1, disk)
    assert at_first != at_full

    moved = ok(run_module("hotiron.virt.vm_migrate", {
        "uri": hv1.uri, "name": name, "dest_uri": hv2.uri, "migration_address": "tcp://" + hv2.address}))
    assert moved["checkpoints"] == {"redefined": [first["backup"]["checkpoint"]], "failed": {}}, moved
    dom2 = hv2.connect().lookupByName(name)
    assert [c.getName() for c in dom2.listAllCheckpoints(0)] == [first["backup"]["checkpoint"]]

    monitor_write(dom2, 0x77, 40, 2)
    second = ok(run_module("hotiron.virt.vm_backup", {"name": name, "target": target}, host="hv2"))
    assert second["mode"] == "incremental" and second["backup"]["parent"] == first["backup"]["id"], second
    assert second["backup"]["host"] == "hv2" and 2 * MIB <= second["backup"]["size"] < 3 * MIB
    at_second = content_sha256(hv2, disk)

    info = ok(run_module("hotiron.virt.backup_info", {"target": target, "vm": name, "verify": True}, host="hv3"))
    chains = info["vms"][name]["chains"]
    assert [[b["id"] for b in c["backups"]] for c in chains] == [
        [full["backup"]["id"], first["backup"]["id"], second["backup"]["id"]]]
    assert chains[0]["verified"] and chains[0]["complete"] and info["problems"] == []

    restored = ok(run_module("hotiron.virt.vm_restore", {
        "vm": name, "name": name + "-r", "target": target, "start": True}, host="hv3"))
    assert restored["from"]["sequence"] == [full["backup"]["id"], first["backup"]["id"], second["backup"]["id"]]
    assert len(restored["verified"]) == 3
    path = restored["disks"][0]["path"]
    assert content_sha256(hv3, path) == at_second
    assert chain_of(hv3, path) == [os.path.basename(path)]          # standalone, no backing file
    new = hv3.connect().lookupByName(name + "-r")
    assert new.isActive() and new.UUIDString() != dom2.UUIDString()

    older = ok(run_module("hotiron.virt.vm_restore", {
        "vm": name, "name": name + "-r2", "target": target, "backup": first["backup"]["id"]}, host="hv3"))
    assert content_sha256(hv3, older["disks"][0]["path"]) == at_first
    assert not hv3.connect().lookupByName(name + "-r2").isActive()

    # The same name again: refused, and nothing written.
    before = sorted(os.listdir(hv3.images_dir))
    clash = run_module("hotiron.virt.vm_restore", {"vm": name, "name": name + "-r", "target": target}, host="hv3")
    assert clash["failed"] and "already exists" in clash["msg"] and "nothing was restored" in clash["msg"], clash
    assert sorted(os.listdir(hv3.images_dir)) == before


def test_broken_chain_falls_back_to_full_and_retention_prunes_whole_chains(lab, cleanup, run_module):
    hv1 = lab.host("hv1")
    name = "bk-chain-%d" % os.getpid()
    dom, _disk = local_vm(lab, cleanup, name)
    target = target_dir(lab, cleanup, "%s/bk-target-%d" % (IMAGES, os.getpid()), hv1)

    def backup(**extra):
        return ok(run_module("hotiron.virt.vm_backup", dict({"name": name, "target": target}, **extra), host="hv1"))

    a1 = backup()
    monitor_write(dom, 0x31, 10, 1)
    a2 = backup()
    assert a2["mode"] == "incremental"

    # The checkpoint goes (as when a vm is moved by hand): the next backup is full, and says why.
    dom.checkpointLookupByName(a2["backup"]["checkpoint"], 0).delete(0)
    b1 = backup()
    assert b1["mode"] == "full" and b1["backup"]["chain"] == b1["backup"]["id"] != a1["backup"]["chain"]
    assert "checkpoint %s of the latest backup" % a2["backup"]["checkpoint"] in b1["reason"]
    assert "is not on the vm" in b1["reason"]
    assert any("checkpoint chain of vm %s is broken" % name in w for w in b1.get("warnings", [])), b1

    # The bitmap goes behind libvirt's back (the record stays): libvirt refuses the incremental,
    # and the module takes a full backup instead, with a warning.
    blocks = json.loads(libvirt_qemu.qemuMonitorCommand(dom, json.dumps({"execute": "query-named-block-nodes"}), 0))
    node = next(n["node-name"] for n in blocks["return"]
                if n["drv"] == "qcow2" and any(b["name"] == b1["backup"]["checkpoint"] for b in n.get("dirty-bitmaps", [])))
    libvirt_qemu.qemuMonitorCommand(dom, json.dumps({"execute": "block-dirty-bitmap-remove", "arguments": {
        "node": node, "name": b1["backup"]["checkpoint"]}}), 0)
    monitor_write(dom, 0x32, 11, 1)
    c1 = backup()
    assert c1["mode"] == "full" and "libvirt refused the incremental backup" in c1["reason"], c1
    assert any("libvirt refused the incremental" in w for w in c1.get("warnings", [])), c1
    assert [c.getName() for c in dom.listAllCheckpoints(0)] == [c1["backup"]["checkpoint"]]

    # Retention: one chain kept, the older two removed whole, the newest continues.
    monitor_write(dom, 0x33, 12, 1)
    c2 = backup(keep_chains=1)
    assert c2["mode"] == "incremental" and c2["backup"]["chain"] == c1["backup"]["chain"]
    assert [(p["chain"], p["backups"]) for p in c2["pruned"]] == [
        (a1["backup"]["chain"], [a1["backup"]["id"], a2["backup"]["id"]]),
        (b1["backup"]["chain"], [b1["backup"]["id"]])]
    on_disk = os.listdir(os.path.join(outside(lab, target, hv1), name))
    assert sorted(d for d in on_disk if not d.startswith(".")) == [c1["backup"]["chain"]]

    # max_incrementals=1: the chain is full, the next backup starts another one.
    c3 = backup(max_incrementals=1)
    assert c3["mode"] == "full" and "max_incrementals" in c3["reason"]

    # A shut-off vm: copied whole, without a checkpoint, and the next (running) backup is full.
    dom.destroy()
    off = backup()
    assert off["mode"] == "full" and off["backup"]["checkpoint"] is None and "not running" in off["reason"]
    dom.create()
    again = backup()
    assert again["mode"] == "full" and "has no checkpoint" in again["reason"]


def test_backup_playbook_backs_up_the_tagged_vms_of_the_group(lab, shared_pools, cleanup, run_playbook):
    tagged = [shared_vm(lab, cleanup, "bk-pb%d-%d" % (i, os.getpid()), host=h, tags=["nightly"])[0]
              for i, h in ((1, "hv1"), (2, "hv2"))]
    other, _disk = shared_vm(lab, cleanup, "bk-pbx-%d" % os.getpid(), host="hv1")
    target = target_dir(lab, cleanup, "%s/pb-backups-%d" % (SHARED, os.getpid()))
    extra = {"backup_group": "lab", "backup_target": target, "backup_tag": "nightly", "backup_concurrency": 2}
    first = run_playbook("playbooks/backup.yml", extra_vars=extra)
    assert first.rc == 0, first.stdout
    base = outside(lab, target)
    assert sorted(os.listdir(base)) == sorted(d.name() for d in tagged)
    second = run_playbook("playbooks/backup.yml", extra_vars=extra)
    assert second.rc == 0, second.stdout
    modes = [item["mode"] for host in ("hv1", "hv2") for task in second.for_task("Back up each VM", host)
             for item in task["result"]["results"]]
    assert modes == ["incremental", "incremental"], second.stdout
    assert other.name() not in os.listdir(base)


def test_check_mode_changes_nothing(lab, shared_pools, cleanup, run_playbook, tmp_path):
    name = "bk-check-%d" % os.getpid()
    dom, _disk = shared_vm(lab, cleanup, name)
    target = target_dir(lab, cleanup, "%s/ck-backups-%d" % (SHARED, os.getpid()))
    play = [{"hosts": "hv1", "gather_facts": False, "tasks": [
        {"name": "full", "hotiron.virt.vm_backup": {"name": name, "target": target}},
        {"name": "snap", "hotiron.virt.vm_snapshot": {"name": name, "snapshot": "s1"}}]}]
    assert run_playbook(write_play(tmp_path, "setup.yml", play)).rc == 0
    monitor_write(dom, 0x44, 20, 1)
    check = [
        {"hosts": "hv1", "gather_facts": False, "tasks": [
            {"name": "backup", "hotiron.virt.vm_backup": {
                "name": name, "target": target, "keep_chains": 1, "mode": "full"}},
            {"name": "snapshot", "hotiron.virt.vm_snapshot": {"name": name, "snapshot": "s2", "memory": True}},
            {"name": "revert", "hotiron.virt.vm_snapshot": {"name": name, "snapshot": "s1", "state": "reverted"}},
            {"name": "delete", "hotiron.virt.vm_snapshot": {"name": name, "snapshot": "s1", "state": "absent"}}]},
        {"hosts": "hv3", "gather_facts": False, "tasks": [
            {"name": "restore", "hotiron.virt.vm_restore": {"vm": name, "name": name + "-r", "target": target,
                                                            "start": True}}]},
    ]
    for host in lab.hosts:      # files other tests removed must not linger in the pools' lists
        for pool in host.connect().listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
            pool.refresh(0)
    before = (snapshot(lab), metadata_of_hosts(lab))
    run = run_playbook(write_play(tmp_path, "check.yml", check), check=True, diff=True)
    after = (snapshot(lab), metadata_of_hosts(lab))
    assert differences(before, after) == [], run.stdout
    for task in ("backup", "snapshot", "revert", "delete", "restore"):
        found = run.for_task(task)
        assert found and found[0]["status"] == "changed", (task, found and found[0]["result"].get("msg"))
    plan = run.for_task("backup")[0]["result"]["plan"]
    assert plan["mode"] == "full" and [p["chain"] for p in plan["prune"]] != []
    assert run.rc == 0, run.stdout


def test_bad_input_fails_clearly_and_leaves_nothing(lab, cleanup, run_module):
    hv1 = lab.host("hv1")
    name = "bk-bad-%d" % os.getpid()
    dom, _disk = local_vm(lab, cleanup, name)
    target = target_dir(lab, cleanup, "%s/bad-target-%d" % (IMAGES, os.getpid()), hv1)
    target_out = outside(lab, target, hv1)

    unknown = run_module("hotiron.virt.vm_backup", {"name": "no-such-vm", "target": target}, host="hv1")
    assert unknown["failed"] and "vm no-such-vm does not exist" in unknown["msg"], unknown
    assert os.listdir(target_out) == []

    subprocess.run(["chattr", "+i", target_out], check=True)
    try:
        locked = run_module("hotiron.virt.vm_backup", {"name": name, "target": target}, host="hv1")
    finally:
        subprocess.run(["chattr", "-i", target_out], check=True)
    assert locked["failed"] and "is not writable" in locked["msg"], locked
    assert os.listdir(target_out) == [] and dom.listAllCheckpoints(0) == []

    missing = run_module("hotiron.virt.vm_backup", {"name": name, "target": target + "/nope"}, host="hv1")
    assert missing["failed"] and "does not exist or is not a directory" in missing["msg"], missing

    ok(run_module("hotiron.virt.vm_backup", {"name": name, "target": target}, host="hv1"))
    listing = sorted(os.listdir(hv1.images_dir))
    clash = run_module("hotiron.virt.vm_restore", {"vm": name, "target": target}, host="hv1")
    assert clash["failed"] and "A vm named %s already exists" % name in clash["msg"], clash
    wrong = run_module("hotiron.virt.vm_restore", {
        "vm": name, "name": name + "-x", "target": target, "backup": "2001-01-01T000000Z"}, host="hv1")
    assert wrong["failed"] and "no complete backup 2001-01-01T000000Z" in wrong["msg"], wrong
    ranged = run_module("hotiron.virt.vm_backup", {"name": name, "target": target, "keep_chains": 0}, host="hv1")
    assert ranged["failed"] and "keep_chains: must be from 1 to 10000, got 0" in ranged["msg"], ranged
    assert sorted(os.listdir(hv1.images_dir)) == listing
    assert run_in(hv1, "ls", target + "/" + name).split() != []
    assert disk_source(dom).endswith(name + ".qcow2")


def test_host_maintenance_carries_checkpoints(lab, shared_pools, cleanup, run_module):
    """Evacuating a host moves its VMs with their checkpoints: the next backup, on whichever host
    a VM went to, is still incremental."""
    hosts = {h.name: h.uri for h in lab.hosts}
    name = "bk-maint-%d" % os.getpid()
    dom, _disk = shared_vm(lab, cleanup, name, host="hv3")
    target = target_dir(lab, cleanup, "%s/mt-backups-%d" % (SHARED, os.getpid()))
    first = ok(run_module("hotiron.virt.vm_backup", {"name": name, "target": target}, host="hv3"))
    try:
        evacuated = ok(run_module("hotiron.virt.host_maintenance", {
            "uri": lab.host("hv3").uri, "hosts": hosts, "state": "maintenance",
            "migration_addresses": {h.name: h.address for h in lab.hosts}}))
        [move] = [m for m in evacuated["moves"] if m["vm"] == name]
        assert move["ok"], move
        there = lab.host(move["to"])
        moved = there.connect().lookupByName(name)
        assert [c.getName() for c in moved.listAllCheckpoints(0)] == [first["backup"]["checkpoint"]]
        monitor_write(moved, 0x61, 8, 1)
        after = ok(run_module("hotiron.virt.vm_backup", {"name": name, "target": target}, host=move["to"]))
        assert after["mode"] == "incremental" and after["backup"]["parent"] == first["backup"]["id"], after
    finally:
        run_module("hotiron.virt.host_maintenance", {"uri": lab.host("hv3").uri, "hosts": hosts, "state": "active"})


def test_a_running_vm_exported_live_from_a_copy_at_one_instant(lab, cleanup, run_module):
    """vm_export live=true: the running guest's disk, with what it wrote after booting, comes out
    byte for byte from a backup job's copy; the guest runs on, its image chain and checkpoints
    untouched, and the copy's scratch directory is gone."""
    hv1 = lab.host("hv1")
    name = "bk-live-%d" % os.getpid()
    dom, disk = shared_vm(lab, cleanup, name)
    monitor_write(dom, 0x5A, 40, 4)
    out = target_dir(lab, cleanup, "%s/export-%d" % (SHARED, os.getpid()))
    chain, expected = chain_of(hv1, disk), content_sha256(hv1, disk)
    args = {"name": name, "dest": out, "format": "raw"}
    refused = run_module("hotiron.virt.vm_export", args, host="hv1")
    assert refused.get("failed") and "give live=true" in refused["msg"], refused
    planned = ok(run_module("hotiron.virt.vm_export", dict(args, live=True), host="hv1", check=True))
    assert planned["changed"] and planned["live_copy"] == ["vda"] and os.listdir(outside(lab, out)) == []
    done = ok(run_module("hotiron.virt.vm_export", dict(args, live=True), host="hv1"))
    assert done["changed"] and [c["from_copy"] for c in done["conversions"]] == [True]
    assert os.listdir(outside(lab, out)) == ["%s-vda.img" % name]
    assert file_sha256(os.path.join(outside(lab, out), "%s-vda.img" % name)) == expected
    assert dom.isActive() and chain_of(hv1, disk) == chain and dom.listAllCheckpoints() == []
    assert dom.jobStats(0).get("type", libvirt.VIR_DOMAIN_JOB_NONE) == libvirt.VIR_DOMAIN_JOB_NONE
    monitor_write(dom, 0x5B, 44, 1)                 # the guest writes on as before


@pytest.mark.parametrize("running", [True, False])
def test_a_vm_with_checkpoints_is_removed_whole(lab, cleanup, run_module, running):
    """``vm state=absent`` on a VM that vm_backup gave a checkpoint: the plan says the checkpoint
    metadata goes, and the VM is gone (libvirt refused to undefine it, leaving it off and defined)."""
    hv1 = lab.host("hv1")
    name = "bk-absent-%d-%s" % (os.getpid(), "on" if running else "off")
    dom, _disk = local_vm(lab, cleanup, name)
    target = target_dir(lab, cleanup, "%s/bk-absent-%d-%d" % (IMAGES, os.getpid(), running), hv1)
    ok(run_module("hotiron.virt.vm_backup", {"name": name, "target": target}, host="hv1"))
    assert dom.listAllCheckpoints(0), "the backup left no checkpoint to test with"
    if not running:
        dom.destroy()
    planned = ok(run_module("hotiron.virt.vm", {"name": name, "state": "absent"}, host="hv1", check=True))
    assert any("checkpoint" in step for step in planned["plan"]), planned["plan"]
    assert hv1.connect().lookupByName(name) is not None                 # check mode removed nothing
    done = ok(run_module("hotiron.virt.vm", {"name": name, "state": "absent"}, host="hv1"))
    assert done["changed"] and done["plan"] == planned["plan"]
    with pytest.raises(libvirt.libvirtError):
        hv1.connect().lookupByName(name)
