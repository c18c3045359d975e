# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Chains (backup.chain): full or incremental and why, what a restore applies, checkpoint order.
Ids, listings and records have their own tests (test_layout.py, test_records.py)."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.backup import chain, layout, records

UTC = datetime.timezone.utc
UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"


def record(backup_id, chain_id, mode="full", parent=None, checkpoint=None, disks=None, uuid=UUID, finished=None):
    disks = disks or {"vda": 64 << 20}
    return records.build(
        vm="web1", uuid=uuid, backup_id=backup_id, chain=chain_id, mode=mode, parent=parent,
        checkpoint=checkpoint if checkpoint is not None else "cp-" + backup_id, parent_checkpoint=None, host="hv1",
        started="2026-03-01T02:00:00Z", finished=finished or "2026-03-01T02:00:05Z", reason="", quiesced=False,
        disks=[{"target": t, "file": t + ".qcow2", "source": "/x/%s.qcow2" % t, "format": "qcow2",
                "virtual_size": size, "size": 1000, "sha256": "0" * 64} for t, size in disks.items()],
        domain_file="domain.xml", domain_sha256="1" * 64)


def make_chain(*ids, **kw):
    backups = []
    for index, backup_id in enumerate(ids):
        mode = "full" if index == 0 else "incremental"
        rec = record(backup_id, ids[0], mode, ids[index - 1] if index else None, **kw)
        backups.append(layout.Backup("web1", ids[0], backup_id, rec))
    return layout.Chain("web1", ids[0], backups)


def facts(running=True, fmt="qcow2", disks=None, checkpoints=None, uuid=UUID):
    disks = disks or {"vda": 64 << 20}
    return chain.VmFacts(uuid=uuid, running=running,
                         disks={t: {"format": fmt, "virtual_size": s, "source": "/x"} for t, s in disks.items()},
                         checkpoints=checkpoints if checkpoints is not None else {})


A, B, C = "2026-03-01T020000Z", "2026-03-02T020000Z", "2026-03-03T020000Z"


def test_incremental_follows_the_newest_backup_of_the_chain():
    c = make_chain(A, B)
    decision = chain.choose_mode(facts(checkpoints={"cp-" + B: {"vda": "bitmap"}}), c)
    assert (decision.mode, decision.parent.id, decision.checkpoint) == ("incremental", B, True)
    assert decision.reason == "changes since backup %s (checkpoint cp-%s)" % (B, B)


@pytest.mark.parametrize("kw, vm, expected", [
    ({}, facts(running=False), "the vm is not running"),
    ({}, facts(fmt="raw"), "disk vda is raw: checkpoints (dirty bitmaps) need qcow2 images"),
    ({"chain": None}, facts(), "first backup of this vm on the target"),
    ({"requested": "full"}, facts(checkpoints={"cp-" + B: {"vda": "bitmap"}}), "a full backup was asked for"),
    ({}, facts(uuid="00000000-0000-0000-0000-000000000001", checkpoints={"cp-" + B: {"vda": "bitmap"}}),
     "the vm was recreated"),
    ({}, facts(checkpoints={}), "checkpoint cp-%s of the latest backup (%s) is not on the vm" % (B, B)),
    ({}, facts(checkpoints={"cp-" + B: {"vda": "no"}}), "checkpoint cp-%s has no bitmap for disk vda" % B),
    ({}, facts(disks={"vda": 64 << 20, "vdb": 1 << 30}, checkpoints={"cp-" + B: {"vda": "bitmap", "vdb": "bitmap"}}),
     "the vm's disks changed since the latest backup (added vdb)"),
    ({}, facts(disks={"vda": 128 << 20}, checkpoints={"cp-" + B: {"vda": "bitmap"}}),
     "disk vda was resized since the latest backup (67108864 to 134217728 bytes)"),
    ({"missing": ["x/vda.qcow2"]}, facts(checkpoints={"cp-" + B: {"vda": "bitmap"}}),
     "files of chain %s are missing or damaged on the target: x/vda.qcow2" % A),
    ({"max_incrementals": 1}, facts(checkpoints={"cp-" + B: {"vda": "bitmap"}}),
     "chain %s already holds 1 incremental backups (max_incrementals)" % A),
])
def test_a_broken_chain_means_full_with_the_reason(kw, vm, expected):
    c = kw.get("chain", make_chain(A, B))
    decision = chain.choose_mode(vm, c, kw.get("requested", "auto"), kw.get("max_incrementals"), kw.get("missing", ()))
    assert decision.mode == "full" and decision.parent is None
    assert expected in decision.reason, decision.reason
    # Only a chain that could not be continued is "broken" (and warned about).
    assert decision.broken == (c is not None and "asked for" not in expected and "max_incrementals" not in expected
                               and vm.running and "raw" not in expected)


def test_no_checkpoint_is_taken_where_none_can_be():
    assert chain.choose_mode(facts(running=False), None).checkpoint is False
    assert chain.choose_mode(facts(fmt="raw"), None).checkpoint is False
    assert chain.choose_mode(facts(), None).checkpoint is True


def test_a_latest_backup_without_checkpoint_starts_a_new_chain():
    c = make_chain(A, checkpoint="")
    assert "has no checkpoint to continue from" in chain.choose_mode(facts(), c).reason


def test_restore_sequence_newest_and_chosen():
    old, new = make_chain(A, B), make_chain(C, "2026-03-04T020000Z")
    assert [b.id for b in chain.restore_sequence([old, new])] == [C, "2026-03-04T020000Z"]
    assert [b.id for b in chain.restore_sequence([old, new], B)] == [A, B]
    assert [b.id for b in chain.restore_sequence([old, new], A)] == [A]
    with pytest.raises(chain.ChainError, match="no complete backup 2001"):
        chain.restore_sequence([old], "2001-01-01T000000Z")
    with pytest.raises(chain.ChainError, match="no complete backup to restore"):
        chain.restore_sequence([])


def test_restore_sequence_refuses_a_chain_with_a_hole():
    c = make_chain(A, B, C)
    del c.backups[1]
    with pytest.raises(chain.ChainError, match="backup %s needs %s, which chain %s does not hold" % (C, B, A)):
        chain.restore_sequence([c], C)


def test_restore_sequence_refuses_disks_that_differ_from_the_full():
    c = make_chain(A, B)
    c.backups[1].record["disks"].append(dict(c.backups[1].record["disks"][0], target="vdb"))
    with pytest.raises(chain.ChainError, match="does not cover the same disks"):
        chain.restore_sequence([c], B)


def test_checkpoint_order_parents_first_and_loops_refused():
    assert chain.checkpoint_order({"c": "b", "b": "a", "a": None, "x": "gone"}) == ["a", "b", "c", "x"]
    assert chain.checkpoint_order({"b2": "a", "b1": "a", "a": None}) == ["a", "b1", "b2"]
    assert chain.checkpoint_order({}) == []
    with pytest.raises(chain.ChainError, match="loop"):
        chain.checkpoint_order({"a": "b", "b": "a"})
