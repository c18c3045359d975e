# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checkpoints (backup.checkpoints_ops) listed, carried from one host to another and pruned, against
libvirt's test driver with the project's own host (the fixtures of ../conftest.py)."""

from __future__ import annotations

import os

import libvirt

from ansible_collections.hotiron.virt.plugins.module_utils.vm import query_ops as vm_query
from ansible_collections.hotiron.virt.plugins.module_utils.backup import checkpoints_ops as checkpoints, snapshot_ops

URI = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "backup", "host.xml"))


def test_listing_and_order_parents_first(checkpointed_db1):
    found = checkpoints.listing(checkpointed_db1)
    assert found["hotiron-x-2"]["parent"] == "hotiron-x-1"
    assert found["hotiron-x-3"]["disks"] == {"vda": "bitmap", "hdc": "no"}
    assert [name for name, _xml in checkpoints.ordered(checkpointed_db1)] == ["hotiron-x-1", "hotiron-x-2", "hotiron-x-3"]


def test_carry_redefines_parents_first_and_is_idempotent(checkpointed_db1, db1_elsewhere):
    items = checkpoints.ordered(checkpointed_db1)
    # The test driver has no bitmaps to validate: carried as for a shut-off vm.
    assert checkpoints.carry(db1_elsewhere, items, running=False) == {
        "redefined": ["hotiron-x-1", "hotiron-x-2", "hotiron-x-3"], "failed": {}}
    assert checkpoints.ordered(db1_elsewhere) == [(n, db1_elsewhere.checkpointLookupByName(n, 0).getXMLDesc(0))
                                                  for n, _x in items]
    assert checkpoints.carry(db1_elsewhere, items, running=False)["failed"] == {}


def test_carry_children_before_parents_fails_and_says_why(checkpointed_db1, db1_elsewhere):
    items = list(reversed(checkpoints.ordered(checkpointed_db1)))
    result = checkpoints.carry(db1_elsewhere, items, running=False)
    assert "hotiron-x-3" in result["failed"] and "parent hotiron-x-2" in result["failed"]["hotiron-x-3"]
    assert "code" in result["failed"]["hotiron-x-3"]     # libvirt's code and domain are named


def test_carry_skips_children_of_a_failed_parent(checkpointed_db1, db1_elsewhere):
    items = checkpoints.ordered(checkpointed_db1)
    broken = [("hotiron-x-1", "<domaincheckpoint><name>hotiron-x-1</name><parent><name>nowhere</name></parent>"
                              "</domaincheckpoint>")] + items[1:]
    result = checkpoints.carry(db1_elsewhere, broken, running=False)
    assert set(result["failed"]) == {"hotiron-x-1", "hotiron-x-2", "hotiron-x-3"}
    assert result["failed"]["hotiron-x-2"] == "its parent hotiron-x-1 could not be redefined"


def test_prune_keeps_the_named_one_and_other_prefixes(checkpointed_db1):
    checkpointed_db1.checkpointCreateXML("<domaincheckpoint><name>other-tool</name></domaincheckpoint>", 0)
    deleted, problems = checkpoints.prune(checkpointed_db1, "hotiron-x-", keep="hotiron-x-3")
    assert sorted(deleted) == ["hotiron-x-1", "hotiron-x-2"] and problems == []
    assert sorted(checkpoints.listing(checkpointed_db1)) == ["hotiron-x-3", "other-tool"]
    assert checkpoints.delete(checkpointed_db1, "gone") is False


def test_vm_info_shows_checkpoints_and_snapshots(checkpointed_db1):
    info = vm_query.info(checkpointed_db1.connect(), name="db1", addresses=False)[0]
    assert [c["name"] for c in info["checkpoints"]] == ["hotiron-x-1", "hotiron-x-2", "hotiron-x-3"]
    assert info["checkpoints"][1] == {"name": "hotiron-x-2", "parent": "hotiron-x-1", "disks": ["vda"]}
    assert info["snapshots"] == [] and info["current_snapshot"] is None


def test_snapshot_tree_from_the_test_driver():
    conn = libvirt.open(URI)
    try:
        dom = conn.lookupByName("web1")
        for name in ("a", "b"):
            dom.snapshotCreateXML("<domainsnapshot><name>%s</name></domainsnapshot>" % name, 0)
        tree = snapshot_ops.tree(snapshot_ops.read_snapshots(dom))
        assert [(s["name"], s["parent"], s["children"], s["current"]) for s in tree] == [
            ("a", None, ["b"], False), ("b", "a", [], True)]
        info = vm_query.info(conn, name="web1", addresses=False)[0]
        assert info["current_snapshot"] == "b" and [s["name"] for s in info["snapshots"]] == ["a", "b"]
    finally:
        conn.close()
