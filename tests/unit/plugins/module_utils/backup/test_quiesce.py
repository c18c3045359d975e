# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one quiesce decision of backups and snapshots, every case."""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.backup import quiesce


@pytest.mark.parametrize("wanted, running, agent, frozen", [
    ("never", True, True, False),
    ("auto", True, True, True),
    ("always", True, True, True),
    ("auto", True, False, False),
    ("auto", True, None, False),
    ("always", False, None, False),         # a shut-off vm has nothing to freeze
    ("auto", False, True, False),
])
def test_choose(wanted, running, agent, frozen):
    assert quiesce.choose(wanted, running, agent) is frozen


@pytest.mark.parametrize("agent, why", [(None, "has no QEMU guest agent channel"),
                                        (False, "has its guest agent not connected")])
def test_always_without_an_agent_is_refused_with_the_reason(agent, why):
    with pytest.raises(quiesce.QuiesceError, match="^%s: quiesce=always cannot freeze its file systems$" % why):
        quiesce.choose("always", True, agent)
