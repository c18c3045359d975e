# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SLA class names (capacity.sla): the one vocabulary of vm, resource_schedule and rebalance."""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.capacity import sla


@pytest.mark.parametrize("name", ["gold", "silver", "bronze", "batch", "tier-2", "a_b", "x", "a" + "b" * 31])
def test_class_names_are_accepted(name):
    assert sla.problem(name) is None


@pytest.mark.parametrize("name", ["", "2fast", "-x", "_x", "a b", "a.b", "a" * 33, "über", None, 5, ["gold"]])
def test_what_is_no_class_name_is_refused_and_named(name):
    message = sla.problem(name)
    assert message.startswith("%r is not an SLA class name" % (name,)) and "(did you mean" not in message


@pytest.mark.parametrize("name, meant", [("Gold", "gold"), ("SILVER", "silver"), ("bRonze", "bronze")])
def test_a_built_in_in_other_case_is_refused_with_a_hint(name, meant):
    assert sla.problem(name).endswith("32 at most (did you mean %s?)" % meant)


def test_the_built_ins_have_shares_and_weights_in_order_and_the_default_is_one_of_them():
    assert set(sla.SHARES) == set(sla.DEFAULT_WEIGHTS) == set(sla.BUILTIN) and sla.DEFAULT in sla.BUILTIN
    assert sla.SHARES["gold"] > sla.SHARES["silver"] > 1024 > sla.SHARES["bronze"]
    assert sla.DEFAULT_WEIGHTS["gold"] > sla.DEFAULT_WEIGHTS["silver"] > sla.DEFAULT_WEIGHTS["bronze"] > 0
    assert all(sla.problem(name) is None for name in sla.BUILTIN)


@pytest.mark.parametrize("name", ["gold\n", "batch\n"])
def test_a_trailing_newline_is_no_part_of_a_class_name(name):
    assert sla.problem(name) is not None
