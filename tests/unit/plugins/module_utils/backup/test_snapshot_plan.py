# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deleting and reverting external snapshots as plans on image graphs (backup.snapshot_plan).

Images are named as on a host: ``v`` the vm's disk (on template ``t``), ``o1`` the overlay of
snapshot s1, ``n1`` a revert's overlay on s1's frozen image.
"""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.backup.snapshot_plan import (
    Graph,
    PlanError,
    Snapshot,
    active_after_delete,
    check_name,
    is_reverted,
    overlay_paths,
    plan_delete,
    plan_revert,
)


def snaps(*items):
    """(name, frozen, overlay) -> {name: Snapshot} for disk vda."""
    return {n: Snapshot(n, frozen={"vda": f}, overlay={"vda": o}) for n, f, o in items}


LINEAR = Graph({"/i/o3": "/i/o2", "/i/o2": "/i/o1", "/i/o1": "/i/v", "/i/v": "/i/t", "/i/t": None})
SNAPS = snaps(("s1", "/i/v", "/i/o1"), ("s2", "/i/o1", "/i/o2"), ("s3", "/i/o2", "/i/o3"))
ACTIVE = {"vda": ["/i/o3", "/i/o2", "/i/o1", "/i/v", "/i/t"]}


def test_delete_a_middle_snapshot_of_a_running_vm_merges_its_overlay_down():
    [plan], moved = plan_delete("s2", SNAPS, LINEAR, ACTIVE, running=True)
    assert (plan.action, plan.base, plan.child, plan.online, plan.active) == ("commit", "/i/o1", "/i/o2", True, False)
    assert plan.rebase == []              # the running vm's job re-points o3 itself
    assert plan.remove == ["/i/o2"]
    assert moved == {"s3": {"vda": "/i/o1"}}
    assert active_after_delete(ACTIVE, [plan]) == {"vda": ["/i/o3", "/i/o1", "/i/v", "/i/t"]}


def test_delete_the_newest_snapshot_is_an_active_commit_and_offline_rebases():
    [plan], _moved = plan_delete("s3", SNAPS, LINEAR, ACTIVE, running=True)
    assert (plan.child, plan.base, plan.active, plan.online) == ("/i/o3", "/i/o2", True, True)
    [plan], _moved = plan_delete("s2", SNAPS, LINEAR, ACTIVE, running=False)
    assert plan.online is False and plan.rebase == ["/i/o3"]


def test_delete_the_first_snapshot_writes_into_the_vms_disk_never_the_template():
    [plan], moved = plan_delete("s1", SNAPS, LINEAR, ACTIVE, running=True)
    assert (plan.base, plan.child) == ("/i/v", "/i/o1")
    assert "/i/t" not in (plan.base, plan.child) and moved == {"s2": {"vda": "/i/v"}}


def test_nothing_is_written_into_an_image_something_else_uses():
    graph = Graph(LINEAR.backing, foreign={"/i/v": ["/i/by-hand.qcow2"]})
    [plan], moved = plan_delete("s1", SNAPS, graph, ACTIVE, running=True)
    assert plan.action == "keep" and "/i/by-hand.qcow2" in plan.why and moved == {}
    graph = Graph(LINEAR.backing, foreign={"/i/o1": ["vm other"]})
    [plan], _moved = plan_delete("s1", SNAPS, graph, ACTIVE, running=True)
    assert plan.action == "keep" and "vm other" in plan.why


def test_after_a_revert_two_branches_keep_their_base():
    # s1, s2 taken, then reverted to s1: v carries o1 (s2's frozen image) and n1 (the vm now).
    graph = Graph({"/i/n1": "/i/v", "/i/o1": "/i/v", "/i/v": None})
    snapshots = snaps(("s1", "/i/v", "/i/n1"), ("s2", "/i/o1", "/i/o2"))
    active = {"vda": ["/i/n1", "/i/v"]}
    [plan], _moved = plan_delete("s1", snapshots, graph, active, running=True)
    assert plan.action == "keep" and "base of 2 images" in plan.why
    [plan], _moved = plan_delete("s2", snapshots, graph, active, running=True)
    assert (plan.action, plan.remove) == ("drop", ["/i/o1"])


def test_revert_puts_a_new_overlay_on_the_frozen_image_and_drops_the_old_leaf():
    [plan] = plan_revert("web1", "s2", SNAPS, LINEAR, ACTIVE, taken=set())
    assert (plan.base, plan.overlay) == ("/i/o1", "/i/web1-vda-s2-revert.qcow2")
    assert plan.leaf == "/i/o3" and plan.remove_leaf is True
    [plan] = plan_revert("web1", "s2", SNAPS, LINEAR, ACTIVE, taken={"/i/web1-vda-s2-revert.qcow2"})
    assert plan.overlay == "/i/web1-vda-s2-revert-2.qcow2"


def test_revert_keeps_a_leaf_no_snapshot_made():
    active = {"vda": ["/i/mine.qcow2", "/i/o2", "/i/o1", "/i/v"]}
    graph = Graph(dict(LINEAR.backing, **{"/i/mine.qcow2": "/i/o2"}))
    [plan] = plan_revert("web1", "s1", SNAPS, graph, active, taken=set())
    assert plan.remove_leaf is False and "was not made by a snapshot" in plan.why


def test_revert_refuses_what_it_cannot_do():
    with pytest.raises(PlanError, match="does not cover disk"):
        plan_revert("web1", "s1", SNAPS, LINEAR, {"vda": ["/i/o3"], "vdb": ["/i/b"]}, set())
    graph = Graph({"/i/o3": "/i/o2"})
    with pytest.raises(PlanError, match="is gone"):
        plan_revert("web1", "s1", SNAPS, graph, ACTIVE, set())


def test_is_reverted_only_on_an_empty_overlay_of_the_frozen_image():
    snapshots = snaps(("s1", "/i/v", "/i/n1"))
    snapshots["s1"].current = True
    graph = Graph({"/i/n1": "/i/v", "/i/v": None})
    active = {"vda": ["/i/n1", "/i/v"]}
    assert is_reverted("s1", snapshots, graph, active, empty_leaves={"/i/n1"})
    assert not is_reverted("s1", snapshots, graph, active, empty_leaves=set())
    snapshots["s1"].current = False
    assert not is_reverted("s1", snapshots, graph, active, empty_leaves={"/i/n1"})


def test_names_and_overlay_paths():
    assert check_name("before-upgrade_2.1") == "before-upgrade_2.1"
    for bad in ("", "-x", "a/b", "a b", "x" * 101, None):
        with pytest.raises(PlanError):
            check_name(bad)
    paths = overlay_paths("web1", "s1", {"vda": "/i/v.qcow2", "vdb": "/j/w.qcow2"}, {"/i/web1-vda-s1.qcow2"})
    assert paths == {"vda": "/i/web1-vda-s1-2.qcow2", "vdb": "/j/web1-vdb-s1.qcow2"}
