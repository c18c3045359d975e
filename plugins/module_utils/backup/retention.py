# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which chains of a VM's backups to keep: N chains, or D days, never a chain in part.

An incremental backup is useless without every backup before it in its chain, so retention
removes whole chains or nothing.  Rules:

- ``keep_chains`` N: the N newest chains are kept;
- ``keep_days`` D: a chain whose newest backup finished less than D days ago is kept;
- with both, a chain goes only when *neither* keeps it; with neither, every chain is kept;
- the newest chain is always kept (the next incremental continues it).

Pure: chains and the time in, the decision out.
"""

from __future__ import annotations

import datetime

from ansible_collections.hotiron.virt.plugins.module_utils.backup.layout import format_time, id_key


def plan(chains, now, keep_chains=None, keep_days=None):
    """``(keep, prune)``: lists of ``(chain, reason)``, oldest chain first."""
    ordered = sorted(chains, key=lambda c: id_key(c.id))
    keep, prune = [], []
    if not ordered:
        return keep, prune
    if keep_chains is None and keep_days is None:
        return [(c, "no retention rule") for c in ordered], prune
    newest_first = list(reversed(ordered))
    for index, chain in enumerate(newest_first):
        reasons = []
        if index == 0:
            reasons.append("the newest chain")
        if keep_chains is not None and index < keep_chains:
            reasons.append("one of the %d newest chains" % keep_chains)
        last = chain.last_finished()
        if keep_days is not None and last is not None and now - last < datetime.timedelta(days=keep_days):
            reasons.append("its newest backup (%s) is less than %g days old" % (format_time(last), keep_days))
        if reasons:
            keep.append((chain, "; ".join(reasons)))
        else:
            why = []
            if keep_chains is not None:
                why.append("older than the %d newest chains" % keep_chains)
            if keep_days is not None:
                why.append("its newest backup (%s) is %g days old or more" % (
                    format_time(last) if last else "unknown", keep_days))
            prune.append((chain, "; ".join(why)))
    keep.reverse()
    prune.reverse()
    return keep, prune
