# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The record of one backup (backup.records): built, checked against where it was found, summed up."""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.backup import records

A, B = "2026-03-01T020000Z", "2026-03-02T020000Z"


def disk(target, size=1000):
    return {"target": target, "file": target + ".qcow2", "source": "/x/%s.qcow2" % target, "format": "qcow2",
            "virtual_size": 64 << 20, "size": size, "sha256": "0" * 64}


def build(backup_id=A, chain=A, mode="full", parent=None, disks=None):
    return records.build("web1", "u-1", backup_id, chain, mode, parent, "cp-" + backup_id, None, "hv1",
                         "2026-03-01T02:00:00Z", "2026-03-01T02:00:05Z", "first", True,
                         disks if disks is not None else [disk("vda")], "domain.xml", "1" * 64)


def test_a_record_carries_what_it_was_given_and_sums_the_sizes():
    rec = build(disks=[disk("vda", 1000), disk("vdb", 24)])
    assert (rec["format"], rec["vm"], rec["id"], rec["chain"], rec["mode"], rec["quiesced"]) == (
        records.FORMAT, "web1", A, A, "full", True)
    assert rec["size"] == 1024 and rec["domain"] == {"file": "domain.xml", "sha256": "1" * 64}
    assert records.disk_map(rec) == {"vda": disk("vda", 1000), "vdb": disk("vdb", 24)}


def test_records_check_what_they_vouch_for():
    good = build()
    assert records.problems(good, vm="web1", chain=A, backup_id=A) == []
    assert records.problems(good, vm="web1", chain=A, backup_id=B) == ["id is %r but the record lies under %r" % (A, B)]
    bad = dict(good, mode="incremental")
    assert "an incremental backup without a parent" in records.problems(bad)
    bad = dict(good, disks=[dict(good["disks"][0], file="../etc/passwd")])
    assert any("not a plain file name" in p for p in records.problems(bad))
    bad = dict(good, disks=[dict(good["disks"][0], size="big")])
    assert any("disks[0].size is missing or not a int" in p for p in records.problems(bad))
    assert records.problems(dict(good, format=99)) == ["unknown record format 99 (this collection writes 1)"]
    assert records.problems([]) == ["the record is not a JSON object"]
    assert good["size"] == 1000


def test_an_incremental_with_its_parent_is_trusted():
    assert records.problems(build(B, A, "incremental", parent=A), vm="web1", chain=A, backup_id=B) == []


@pytest.mark.parametrize("change, problem", [
    ({"vm": ""}, "vm is missing"),
    ({"vm": "db1"}, "vm is 'db1' but the record lies under 'web1'"),
    ({"mode": "differential"}, "mode 'differential' is neither full nor incremental"),
    ({"parent": A}, "a full backup with a parent"),
    ({"id": B}, "a full backup must start its own chain"),
    ({"disks": []}, "no disks"),
    ({"disks": ["vda"]}, "disks[0] is not an object"),
    ({"disks": [disk("vda"), disk("vda")]}, "disk vda appears twice"),
    ({"disks": [dict(disk("vda"), size=True)]}, "disks[0].size is missing or not a int"),
    ({"disks": [dict(disk("vda"), file=".hidden")]}, "disks[0].file '.hidden' is not a plain file name"),
    ({"domain": {"file": "domain.xml"}}, "the vm definition (domain.file, domain.sha256) is missing"),
])
def test_each_flaw_is_named(change, problem):
    found = records.problems(dict(build(), **change), vm="web1")
    assert problem in found, found


def test_the_summary_reports_the_backup_and_its_disks_without_sources():
    summary = records.summary(build(B, A, "incremental", parent=A))
    assert (summary["id"], summary["chain"], summary["mode"], summary["parent"], summary["checkpoint"]) == (
        B, A, "incremental", A, "cp-" + B)
    assert (summary["host"], summary["uuid"], summary["quiesced"], summary["reason"]) == ("hv1", "u-1", True, "first")
    assert summary["disks"] == [{"target": "vda", "file": "vda.qcow2", "size": 1000, "sha256": "0" * 64,
                                 "virtual_size": 64 << 20}]
