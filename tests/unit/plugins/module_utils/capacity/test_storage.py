# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a VM's storage can follow it (capacity.storage), and the rebalance planner planning only
the moves whose storage can follow, saying why it skips the others (capacity.balance)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.capacity import storage
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.balance import Host, Policy, Vm, plan_rebalance
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.storage import Disk, Pool

NOW = 1000.0
HOT = tuple((NOW - 180 + 60 * k, 0.95) for k in range(4))

SHARED = "/srv/shared"
LOCAL = "/var/lib/libvirt/images"


def pools(*items):
    return tuple(items)


def test_a_file_on_a_pool_both_hosts_list_is_shared():
    disk = Disk("vda", "file", SHARED + "/a.img")
    both = pools(Pool("shared", "dir", SHARED, frozenset([SHARED + "/a.img"])))
    assert storage.route([disk], both, both, "hv2") == (True, "shared storage")


@pytest.mark.parametrize("disk, src, dest, copy, expected", [
    # a directory that is a pool on neither host: nothing can tell, nothing can copy
    (Disk("vda", "file", "/data/vms/a.img"), (), (), True,
     (False, "disk vda: hv2 has no storage pool over /data/vms, so the disk can neither be known to be shared nor copied"
             " (define one on every host of the group)")),
    # a local pool on both hosts, the destination does not list the file: a copy, if allowed
    (Disk("vda", "file", LOCAL + "/a.img"), pools(Pool("default", "dir", LOCAL, frozenset([LOCAL + "/a.img"]))),
     pools(Pool("default", "dir", LOCAL + "/")), False,
     (False, "disk vda: hv2 does not see /var/lib/libvirt/images/a.img (its pool over /var/lib/libvirt/images does not"
             " list it) and copy_storage is false")),
    (Disk("vda", "file", LOCAL + "/a.img"), pools(Pool("default", "dir", LOCAL, frozenset([LOCAL + "/a.img"]))),
     pools(Pool("default", "dir", LOCAL)), True, (True, "copying disk vda")),
    # a file that is no volume on its own host cannot be streamed
    (Disk("vda", "file", LOCAL + "/a.img"), (), pools(Pool("default", "dir", LOCAL)), True,
     (False, "disk vda: /var/lib/libvirt/images/a.img is not a volume of a storage pool on its host, so it cannot be copied")),
    (Disk("hdc", "file", LOCAL + "/cd.iso", readonly=True), pools(Pool("default", "dir", LOCAL, frozenset([LOCAL + "/cd.iso"]))),
     pools(Pool("default", "dir", LOCAL)), True,
     (False, "disk hdc: read-only/shareable /var/lib/libvirt/images/cd.iso is not on storage hv2 sees")),
    (Disk("hdc", "file", None), (), (), False, (True, "shared storage")),
    (Disk("vda", "network", "rbd:pool/a"), (), (), False, (True, "shared storage")),
    (Disk("vda", "volume", "san/lun1"), (), pools(Pool("san", "iscsi-direct", None)), False, (True, "shared storage")),
    (Disk("vda", "volume", "default/a"), (), pools(Pool("default", "dir", LOCAL)), True,
     (False, "disk vda: pool default is local storage (dir), and its volumes cannot be copied")),
    (Disk("vda", "volume", "san/lun1"), (), (), True, (False, "disk vda: hv2 has no storage pool san")),
    (Disk("vdb", "block", "/dev/sdb"), (), pools(Pool("san", "iscsi", "/dev/disk/by-path", frozenset(["/dev/sdb"]))), False,
     (True, "shared storage")),
    (Disk("vdb", "block", "/dev/sdb"), (), (), True, (False, "disk vdb: block device /dev/sdb is not visible on hv2")),
])
def test_what_each_kind_of_disk_needs(disk, src, dest, copy, expected):
    assert storage.route([disk], src, dest, "hv2", copy) == expected


def test_every_disk_that_cannot_follow_is_named():
    disks = [Disk("vda", "file", "/a/x.img"), Disk("vdb", "file", "/b/y.img")]
    ok, why = storage.route(disks, (), (), "hv2", True)
    assert not ok and why.startswith("disk vda: hv2 has no storage pool over /a,") and "; disk vdb: hv2 has no storage pool over /b," in why
    assert storage.directories(disks + [Disk("vdc", "network", "nbd:x")]) == {"/a", "/b"}


# --- the planner -----------------------------------------------------------------------------

def group(copy_storage=False, dest_pool_path="/data/vms"):
    """hv1 hot with two busy VMs: 'onshared' on a pool every host lists, 'onlocal' in a directory
    that is a pool on no host (the case of issue 19: check mode planned it, every move failed)."""
    shared_pool = Pool("shared", "dir", SHARED, frozenset([SHARED + "/onshared.img"]))
    local_src = Pool("local", "dir", "/data/vms", frozenset(["/data/vms/onlocal.img"]))
    hosts = [Host("hv1", 4, 16384, history=HOT, pools=(shared_pool, local_src)),
             Host("hv2", 4, 16384, pools=(shared_pool, Pool("local", "dir", dest_pool_path)))]
    vms = [Vm("onlocal", "hv1", 2, 2.0, 1024, sla="bronze", disks=(Disk("vda", "file", "/data/vms/onlocal.img"),)),
           Vm("onshared", "hv1", 2, 1.8, 1024, sla="gold", disks=(Disk("vda", "file", SHARED + "/onshared.img"),))]
    return hosts, vms, Policy(window_s=120, cpu_high=0.8, copy_storage=copy_storage)


def test_the_planner_moves_only_what_its_storage_allows_and_says_why_it_skips_the_rest():
    hosts, vms, policy = group(dest_pool_path="/elsewhere")
    plan = plan_rebalance(hosts, vms, policy, now=NOW)
    # bronze would move first (it gains as much for a lighter weight), but its disk cannot follow
    assert [(m.vm, m.dest, m.storage) for m in plan.moves] == [("onshared", "hv2", "shared storage")]
    assert plan.as_dict()["moves"][0]["storage"] == "shared storage"


def test_without_copy_storage_a_local_disk_stays_with_the_reason():
    hosts, vms, policy = group()
    vms = [v if v.name == "onlocal" else replace(v, pinned=True) for v in vms]
    plan = plan_rebalance(hosts, vms, policy, now=NOW)
    assert plan.moves == []
    assert plan.skipped["onlocal"] == (
        "no host can take it: its storage cannot follow it to hv2: disk vda: hv2 does not see /data/vms/onlocal.img"
        " (its pool over /data/vms does not list it) and copy_storage is false")


def test_with_copy_storage_the_move_copies_and_says_so():
    hosts, vms, policy = group(copy_storage=True)
    vms = [v if v.name == "onlocal" else replace(v, pinned=True) for v in vms]
    (move,) = plan_rebalance(hosts, vms, policy, now=NOW).moves
    assert (move.vm, move.dest, move.storage) == ("onlocal", "hv2", "copying disk vda")
    assert move.reason.endswith("; copying disk vda")


def test_unknown_disks_or_pools_do_not_limit_a_move():
    hosts, vms, policy = group()
    vms = [replace(v, disks=None) if v.name == "onlocal" else replace(v, pinned=True) for v in vms]
    (move,) = plan_rebalance(hosts, vms, policy, now=NOW).moves
    assert move.vm == "onlocal" and move.storage == ""


def test_check_mode_listings_that_predate_the_disk_leave_the_decision_to_the_run():
    disk = Disk("vda", "file", SHARED + "/new.img")
    stale = pools(Pool("shared", "dir", SHARED, frozenset(), fresh=False))
    ok, why = storage.route([disk], stale, stale, "hv2")
    assert ok and why.startswith("check mode: the pools as last refreshed do not list disk vda yet")
    listed_on_source = pools(Pool("shared", "dir", SHARED, frozenset([SHARED + "/new.img"]), fresh=False))
    assert storage.route([disk], listed_on_source, stale, "hv2")[0] is False
