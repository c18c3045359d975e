# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where backups live on the target and how a listing becomes chains (backup.layout): ids, names
that cannot be used, times, and the grouping of backups into chains."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.backup import layout

UTC = datetime.timezone.utc
A, B, C = "2026-03-01T020000Z", "2026-03-02T020000Z", "2026-03-03T020000Z"


def backup(chain, backup_id, mode="incremental", finished=None, size=10):
    return layout.Backup("web1", chain, backup_id, {"mode": mode, "size": size, "finished": finished})


def test_ids_sort_by_time_and_are_unique_within_a_second():
    when = datetime.datetime(2026, 3, 1, 2, 0, 0, tzinfo=UTC)
    assert layout.make_id(when) == "2026-03-01T020000Z"
    taken = {"2026-03-01T020000Z", "2026-03-01T020000Z-2"}
    assert layout.make_id(when, taken) == "2026-03-01T020000Z-3"
    ids = ["2026-03-01T020000Z-10", "2026-03-01T020000Z-9", "2026-02-28T235959Z", "2026-03-01T020000Z"]
    assert sorted(ids, key=layout.id_key) == ["2026-02-28T235959Z", "2026-03-01T020000Z",
                                              "2026-03-01T020000Z-9", "2026-03-01T020000Z-10"]
    assert layout.parse_id("latest") is None


def test_parse_id_gives_the_time_and_sequence_and_what_is_no_id_sorts_last():
    assert layout.parse_id("2026-03-01T020000Z-4") == (datetime.datetime(2026, 3, 1, 2, tzinfo=UTC), 4)
    assert layout.parse_id(A) == (datetime.datetime(2026, 3, 1, 2, tzinfo=UTC), 1)
    for text in (None, "", "2026-03-01T020000", "2026-03-01T020000Z-", "x2026-03-01T020000Z"):
        assert layout.parse_id(text) is None
    assert sorted(["junk", B, A], key=layout.id_key) == [A, B, "junk"]


@pytest.mark.parametrize("name", ["", ".", "..", ".hidden", "a/b", "x\0y"])
def test_vm_names_that_would_escape_or_hide_are_refused(name):
    with pytest.raises(layout.LayoutError):
        layout.check_vm_name(name)
    with pytest.raises(layout.LayoutError):
        layout.backup_dir("/t", name, A, A)


def test_paths_are_target_vm_chain_backup():
    assert layout.check_vm_name("web1.example") == "web1.example"
    assert layout.vm_dir("/t", "web1") == "/t/web1"
    assert layout.chain_dir("/t", "web1", A) == "/t/web1/" + A
    assert layout.backup_dir("/t", "web1", A, B) == "/t/web1/%s/%s" % (A, B)


@pytest.mark.parametrize("target, expected", [("vda", "vda.qcow2"), ("sd_a-1.x", "sd_a-1.x.qcow2")])
def test_disk_files_are_named_by_their_target(target, expected):
    assert layout.disk_file(target) == expected


@pytest.mark.parametrize("target", ["", None, ".vda", "../vda", "a/b", "vd a"])
def test_disk_targets_that_cannot_name_a_file_are_refused(target):
    with pytest.raises(layout.LayoutError, match="cannot name a backup file"):
        layout.disk_file(target)


def test_times_round_trip_and_bad_times_are_none():
    when = datetime.datetime(2026, 3, 1, 2, 0, 5, tzinfo=UTC)
    assert layout.format_time(when) == "2026-03-01T02:00:05Z"
    assert layout.parse_time("2026-03-01T02:00:05Z") == when
    other_zone = when.astimezone(datetime.timezone(datetime.timedelta(hours=2)))
    assert layout.format_time(other_zone) == "2026-03-01T02:00:05Z"
    assert layout.parse_time(None) is None and layout.parse_time("yesterday") is None


def test_a_backup_is_complete_only_with_a_record_and_no_problem():
    assert backup(A, A, "full").complete
    assert not layout.Backup("web1", A, B).complete
    assert not layout.Backup("web1", A, B, {"mode": "full"}, "record refused").complete
    bare = layout.Backup("web1", A, B)
    assert (bare.mode, bare.parent, bare.checkpoint, bare.size) == (None, None, None, 0)
    assert "incomplete" in repr(bare) and "incomplete" not in repr(backup(A, A))


def test_a_chain_sorts_its_backups_and_knows_when_it_last_finished():
    chain = layout.Chain("web1", A, [backup(A, C, finished="2026-03-03T02:07:00Z", size=5),
                                     backup(A, A, "full", size=100), backup(A, B)])
    assert [b.id for b in chain.backups] == [A, B, C]
    assert (chain.first.id, chain.last.id, chain.size) == (A, C, 115)
    assert chain.last_finished() == datetime.datetime(2026, 3, 3, 2, 7, tzinfo=UTC)
    unfinished = layout.Chain("web1", B, [backup(B, B, "full")])
    assert unfinished.last_finished() == datetime.datetime(2026, 3, 2, 2, tzinfo=UTC)     # the chain id's time
    empty = layout.Chain("web1", "junk", [])
    assert (empty.first, empty.last, empty.size, empty.last_finished()) == (None, None, 0, None)


def test_group_splits_complete_from_incomplete():
    full, incremental = backup(A, A, "full"), backup(A, B)
    broken = layout.Backup("web1", A, C, None, "no record")
    chains, incomplete = layout.group("web1", [incremental, broken, full])
    assert [[b.id for b in x.backups] for x in chains] == [[A, B]] and incomplete == [broken]


def test_group_orders_chains_and_incomplete_backups_by_time():
    chains, incomplete = layout.group("web1", [
        backup(C, C, "full"), backup(A, A, "full"), layout.Backup("web1", C, "2026-03-04T020000Z"),
        layout.Backup("web1", A, B), backup(B, B, "full")])
    assert [c.id for c in chains] == [A, B, C]
    assert [(b.chain, b.id) for b in incomplete] == [(A, B), (C, "2026-03-04T020000Z")]
