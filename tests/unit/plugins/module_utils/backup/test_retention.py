# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention (backup.retention): N chains or D days, whole chains only, never the newest."""

from __future__ import annotations

import datetime

from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.hotiron.virt.plugins.module_utils.backup import layout, retention

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 3, 31, 12, 0, 0, tzinfo=UTC)


def chain(day, incrementals=0):
    """A chain started on March ``day`` with daily incrementals."""
    backups = []
    for offset in range(incrementals + 1):
        when = datetime.datetime(2026, 3, day + offset, 2, 0, 0, tzinfo=UTC)
        backup_id = layout.make_id(when)
        backups.append(layout.Backup("web1", layout.make_id(datetime.datetime(2026, 3, day, 2, tzinfo=UTC)), backup_id,
                                     {"mode": "full" if offset == 0 else "incremental", "size": 1,
                                      "finished": layout.format_time(when)}))
    return layout.Chain("web1", backups[0].chain, backups)


def ids(pairs):
    return [c.id[:10] for c, _why in pairs]


def test_no_rule_keeps_everything():
    keep, prune = retention.plan([chain(1), chain(8)], NOW)
    assert ids(keep) == ["2026-03-01", "2026-03-08"] and prune == []


def test_keep_chains():
    chains = [chain(1, 6), chain(8, 6), chain(15, 6), chain(22, 6)]
    keep, prune = retention.plan(chains, NOW, keep_chains=2)
    assert ids(keep) == ["2026-03-15", "2026-03-22"]
    assert ids(prune) == ["2026-03-01", "2026-03-08"]
    assert prune[0][1] == "older than the 2 newest chains"


def test_keep_days_counts_from_the_newest_backup_of_a_chain():
    chains = [chain(1, 6), chain(8, 6), chain(22, 6)]     # the second ends on the 14th
    keep, prune = retention.plan(chains, NOW, keep_days=18)     # 17.4 days since the 14th
    assert ids(keep) == ["2026-03-08", "2026-03-22"] and ids(prune) == ["2026-03-01"]
    assert "is 18 days old or more" in prune[0][1]


def test_with_both_rules_a_chain_goes_only_when_neither_keeps_it():
    chains = [chain(1), chain(10), chain(20), chain(30)]
    keep, prune = retention.plan(chains, NOW, keep_chains=1, keep_days=15)
    assert ids(keep) == ["2026-03-20", "2026-03-30"] and ids(prune) == ["2026-03-01", "2026-03-10"]


def test_the_newest_chain_is_always_kept():
    keep, prune = retention.plan([chain(1)], NOW + datetime.timedelta(days=400), keep_days=1)
    assert ids(keep) == ["2026-03-01"] and prune == []
    assert "the newest chain" in keep[0][1]


@given(st.lists(st.integers(min_value=1, max_value=28), min_size=1, max_size=12, unique=True),
       st.one_of(st.none(), st.integers(min_value=1, max_value=5)),
       st.one_of(st.none(), st.integers(min_value=1, max_value=40)))
def test_partition_whole_chains_newest_kept(days, keep_chains, keep_days):
    chains = [chain(d) for d in days]
    keep, prune = retention.plan(chains, NOW, keep_chains, keep_days)
    assert sorted(c.id for c, _why in keep + prune) == sorted(c.id for c in chains)
    newest = max(chains, key=lambda c: layout.id_key(c.id))
    assert newest.id in [c.id for c, _why in keep]
    if keep_chains is not None:
        assert len(keep) >= min(keep_chains, len(chains))
    if keep_chains is None and keep_days is None:
        assert prune == []
