# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""name_filter: the filters of the info modules."""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.name_filter import selected


@pytest.mark.parametrize("kwargs,expected", [
    (dict(), True),
    (dict(want_name="lab-a"), True),
    (dict(want_name="lab-b"), False),
    (dict(pattern="lab-*"), True),
    (dict(pattern="LAB-*"), False),
    (dict(pattern="lab-?"), True),
    (dict(pattern="*-b"), False),
    (dict(states=["active"]), True),
    (dict(states=["inactive"]), False),
    (dict(states=[]), True),
    (dict(kinds=["dir"]), True),
    (dict(kinds=["netfs", "iscsi"]), False),
    (dict(pattern="lab-*", states=["active"], kinds=["dir"]), True),
])
def test_selected(kwargs, expected):
    assert selected("lab-a", "active", kind="dir", **kwargs) is expected
