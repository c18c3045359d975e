# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check mode touches nothing: every state-changing module, run in check mode against the lab
with arguments that would change something, leaves every host exactly as it was.

The snapshot (tests/integration/host_snapshot.py) covers each host's domains, pools with their
volume lists as last refreshed, networks, secrets, libvirt configuration files and image files,
and the shared directory.  A file is dropped into hv2's pool directory behind libvirt's back
first: any pool refresh (as vm_migrate's check mode once did) would make it appear in the list.
Each task must also report that it *would* change something, so the test cannot pass by having
the modules do nothing.
"""

from __future__ import annotations

import os

import pytest
from host_snapshot import differences, snapshot
from storage_helpers import write_play

pytestmark = pytest.mark.lab

IMAGES = "/var/lib/libvirt/images"
POOL = "ck-images"


@pytest.fixture
def scene(lab, lab_guest):
    """hv1: a running guest with a local disk, a template, a volume, a network and a spare pool,
    all real; hv1 and hv2: a dir pool over their images directory."""
    made_pools, made_nets = [], []
    for name in ("hv1", "hv2"):
        conn = lab.host(name).connect()
        lab.host(name).dir_pool(conn, POOL, IMAGES)
        made_pools.append((name, POOL))
    guest = lab_guest("hv1", "idle")
    template = lab_guest("hv1", "idle", start=False)
    conn = lab.host("hv1").connect()
    pool = conn.storagePoolLookupByName(POOL)
    pool.createXML("<volume><name>ck-vol.qcow2</name><capacity unit='MiB'>8</capacity>"
                   "<target><format type='qcow2'/></target></volume>", 0)
    os.makedirs(os.path.join(lab.host("hv1").images_dir, "ck-spare"), exist_ok=True)
    os.makedirs(os.path.join(lab.host("hv1").images_dir, "ck-backups"), exist_ok=True)
    spare = lab.host("hv1").dir_pool(conn, "ck-spare", IMAGES + "/ck-spare")
    made_pools.append(("hv1", "ck-spare"))
    net = conn.networkDefineXML("<network><name>ck-net</name><ip address='198.18.77.1' prefix='24'/></network>")
    made_nets.append(net)
    pool.refresh(0)
    spare.refresh(0)
    # Behind libvirt's back: a refresh of hv2's pool would list this file.
    with open(os.path.join(lab.host("hv2").images_dir, "ck-behind-libvirts-back.img"), "wb") as handle:
        handle.truncate(1 << 20)
    yield guest, template
    os.unlink(os.path.join(lab.host("hv2").images_dir, "ck-behind-libvirts-back.img"))
    for net in made_nets:
        net.undefine()
    conn = lab.host("hv1").connect()
    conn.storagePoolLookupByName(POOL).storageVolLookupByName("ck-vol.qcow2").delete(0)
    for host, name in made_pools:
        pool = lab.host(host).connect().storagePoolLookupByName(name)
        if pool.isActive():
            pool.destroy()
        pool.undefine()
    os.rmdir(os.path.join(lab.host("hv1").images_dir, "ck-spare"))
    os.rmdir(os.path.join(lab.host("hv1").images_dir, "ck-backups"))


def tasks(lab, guest, template):
    hv1, hv2 = lab.host("hv1").uri, lab.host("hv2").uri
    hosts = {h.name: h.uri for h in lab.hosts}
    new_disk = {"pool": POOL, "volume": "ck-new.qcow2", "size": "16MiB"}
    return [
        ("vm create", {"hotiron.virt.vm": {"uri": hv1, "name": "ck-new", "memory": "64MiB", "disks": [new_disk],
                                           "state": "running"}}),
        ("vm change", {"hotiron.virt.vm": {"uri": hv1, "name": guest.name, "memory": "48MiB", "tags": ["x"],
                                           "ha_priority": 5}}),
        ("vm stop", {"hotiron.virt.vm": {"uri": hv1, "name": guest.name, "state": "stopped", "force": True}}),
        ("vm remove", {"hotiron.virt.vm": {"uri": hv1, "name": guest.name, "state": "absent", "remove_volumes": True}}),
        ("vms clones", {"hotiron.virt.vms": {"uri": hv1, "names": ["ck-c1", "ck-c2"], "defaults": {
            "clone_from": POOL + "/" + template.name + ".img", "memory": "32MiB", "state": "running"}}}),
        ("pool new", {"hotiron.virt.storage_pool": {"uri": hv1, "name": "ck-new-pool", "type": "dir",
                                                    "target": {"path": IMAGES + "/ck-new-pool"}}}),
        ("pool delete", {"hotiron.virt.storage_pool": {"uri": hv1, "name": "ck-spare", "state": "deleted"}}),
        ("volume new", {"hotiron.virt.volume": {"uri": hv1, "pool": POOL, "name": "ck-nv.raw", "capacity": "8M",
                                                "format": "raw"}}),
        ("volume resize", {"hotiron.virt.volume": {"uri": hv1, "pool": POOL, "name": "ck-vol.qcow2",
                                                   "capacity": "64M"}}),
        ("volume wipe", {"hotiron.virt.volume": {"uri": hv1, "pool": POOL, "name": "ck-vol.qcow2", "wipe": True,
                                                 "state": "absent"}}),
        ("network new", {"hotiron.virt.network": {"uri": hv1, "name": "ck-net2", "mode": "isolated",
                                                  "ips": [{"address": "198.18.78.1", "prefix": 24}]}}),
        ("network change", {"hotiron.virt.network": {"uri": hv1, "name": "ck-net", "mode": "isolated",
                                                     "ips": [{"address": "198.18.77.1", "prefix": 24,
                                                              "dhcp_ranges": [{"start": "198.18.77.10",
                                                                               "end": "198.18.77.20"}]}]}}),
        ("migrate", {"hotiron.virt.vm_migrate": {"uri": hv1, "name": guest.name, "dest_uri": hv2,
                                                 "migration_address": "tcp://" + lab.host("hv2").address}}),
        ("maintenance", {"hotiron.virt.host_maintenance": {"uri": hv1, "hosts": hosts, "state": "maintenance"}}),
        ("schedule", {"hotiron.virt.resource_schedule": {"hosts": hosts, "rules": [
            {"vms": [guest.name], "set": {"cpu_shares": 300, "sla": "gold"}}]}}),
    ]


def host_tasks(guest):
    """Modules that run on the VM's own host (they write image files there)."""
    return [
        ("snapshot", {"hotiron.virt.vm_snapshot": {"name": guest.name, "snapshot": "ck-snap"}}),
        ("backup", {"hotiron.virt.vm_backup": {"name": guest.name, "target": IMAGES + "/ck-backups"}}),
    ]


def test_every_module_in_check_mode_changes_nothing(lab, scene, run_playbook, tmp_path):
    guest, template = scene
    plan = tasks(lab, guest, template)
    play = [
        {"hosts": "localhost", "gather_facts": False,
         "tasks": [dict(task, name=name, ignore_errors=True) for name, task in plan]},
        {"hosts": "hv1", "gather_facts": False, "tasks": [
            {"name": "conf", "ignore_errors": True, "hotiron.virt.libvirt_conf": {
                "files": [{"path": "/etc/libvirt/libvirtd.conf", "settings": {"max_clients": 77}},
                          {"path": "/etc/libvirt/qemu.conf", "settings": {"max_processes": 1000}}]}}]
            + [dict(task, name=name, ignore_errors=True) for name, task in host_tasks(guest)]},
    ]
    before = snapshot(lab)
    run = run_playbook(write_play(tmp_path, "check.yml", play), check=True, diff=True)
    after = snapshot(lab)
    assert differences(before, after) == [], run.stdout
    for name in [name for name, _task in plan + host_tasks(guest)] + ["conf"]:
        results = run.for_task(name)
        assert results, "no result for %s:\n%s" % (name, run.stdout)
        result = results[0]["result"]
        assert results[0]["status"] in ("ok", "changed") and not result.get("failed"), (name, result.get("msg"))
        assert result["changed"], (name, result)
    assert run.rc == 0, run.stdout
