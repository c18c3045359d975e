# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ranges declared in argument specs: split off for AnsibleModule, checked at every depth."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.hotiron.virt.plugins.module_utils import arg_ranges

SPEC = dict(
    count=dict(type="int", default=2, min=1, max=64),
    timeout=dict(type="float", min=0),
    name=dict(type="str"),
    tuning=dict(type="dict", options=dict(bandwidth=dict(type="int", min=0), mode=dict(type="str"))),
    disks=dict(type="list", elements="dict", options=dict(boot=dict(type="int", min=1, max=8), path=dict(type="str"))),
    ports=dict(type="list", elements="int", min=1, max=65535),
    plain=dict(type="dict", options=dict(note=dict(type="str"))),
)


def test_split_gives_a_plain_spec_and_the_table():
    plain, table = arg_ranges.split(SPEC)
    assert plain["count"] == dict(type="int", default=2)
    assert plain["tuning"]["options"]["bandwidth"] == dict(type="int")
    assert plain["disks"]["options"]["boot"] == dict(type="int")
    assert SPEC["count"]["min"] == 1  # the given spec is not changed
    assert set(table) == {"count", "timeout", "tuning", "disks", "ports"}  # name and plain carry no range
    assert table["disks"] == {"options": {"boot": {"min": 1, "max": 8}}, "elements": "dict"}


@pytest.mark.parametrize("params, problems", [
    ({"count": 2, "timeout": 0.0}, []),
    ({"count": None, "timeout": None, "tuning": None, "disks": None}, []),
    ({"count": 0}, ["count: must be from 1 to 64, got 0"]),
    ({"count": 65}, ["count: must be from 1 to 64, got 65"]),
    ({"timeout": -0.5}, ["timeout: must be at least 0, got -0.5"]),
    ({"tuning": {"bandwidth": -1, "mode": "x"}}, ["tuning.bandwidth: must be at least 0, got -1"]),
    ({"disks": [{"boot": 1}, {"boot": 9}, {"boot": None}]}, ["disks[1].boot: must be from 1 to 8, got 9"]),
    ({"ports": [80, 0, 70000]}, ["ports[1]: must be from 1 to 65535, got 0", "ports[2]: must be from 1 to 65535, got 70000"]),
    ({"count": -1, "tuning": {"bandwidth": -2}}, ["count: must be from 1 to 64, got -1", "tuning.bandwidth: must be at least 0, got -2"]),
    ({"count": "many"}, []),  # a type error: Ansible's type check names it
    ({"count": True}, []),
])
def test_check_names_every_value_out_of_range(params, problems):
    assert arg_ranges.check(params, arg_ranges.split(SPEC)[1]) == problems


def test_describe():
    assert arg_ranges.describe(1, 64) == "from 1 to 64"
    assert arg_ranges.describe(0, None) == "at least 0"
    assert arg_ranges.describe(None, 100) == "at most 100"
    assert arg_ranges.describe(0.1, 64) == "from 0.1 to 64"


@given(st.integers(-1000, 1000))
def test_a_value_is_refused_exactly_when_outside_its_range(value):
    table = arg_ranges.split(SPEC)[1]
    problems = arg_ranges.check({"count": value, "disks": [{"boot": value}]}, table)
    assert bool([p for p in problems if p.startswith("count:")]) == (not 1 <= value <= 64)
    assert bool([p for p in problems if p.startswith("disks[0].boot:")]) == (not 1 <= value <= 8)


@pytest.mark.parametrize("params, problems", [
    ({"timeout": float("nan")}, ["timeout: must be a finite number, got nan"]),
    ({"timeout": float("inf")}, ["timeout: must be a finite number, got inf"]),
    ({"count": 2, "timeout": float("-inf")}, ["timeout: must be a finite number, got -inf"]),
    # no range declared: still refused (a float that means a time, a share, a ratio)
    ({"name": float("nan")}, ["name: must be a finite number, got nan"]),
    ({"tuning": {"bandwidth": 1, "rate": float("nan")}}, ["tuning.rate: must be a finite number, got nan"]),
    ({"disks": [{"boot": 1}, {"weight": float("inf")}]}, ["disks[1].weight: must be a finite number, got inf"]),
    ({"ports": [1.5, float("nan")]}, ["ports[1]: must be a finite number, got nan"]),
    ({"metadata": {"a": [{"b": float("nan")}]}}, ["metadata.a[0].b: must be a finite number, got nan"]),
    ({"timeout": 1e308, "name": "nan"}, []),  # big but finite; a string is not a number
])
def test_non_finite_numbers_are_refused_everywhere_once(params, problems):
    assert arg_ranges.check(params, arg_ranges.split(SPEC)[1]) == problems


def test_nan_is_never_taken_as_inside_a_range():
    table = arg_ranges.split(dict(limit=dict(type="float", min=0, max=10)))[1]
    assert arg_ranges.check({"limit": float("nan")}, table) == ["limit: must be a finite number, got nan"]


@pytest.mark.parametrize("value, problems", [
    ({}, ["hosts: must have at least 1 entry, got 0"]),
    ({"hv1": "qemu:///system"}, []),
    (None, []),  # not given: `required` is Ansible's to check
])
def test_min_items_refuses_an_empty_collection(value, problems):
    spec = dict(hosts=dict(type="dict", required=True, min_items=1), names=dict(type="list", min_items=2))
    plain, table = arg_ranges.split(spec)
    assert plain["hosts"] == dict(type="dict", required=True)
    assert arg_ranges.check({"hosts": value}, table) == problems
    assert arg_ranges.check({"names": ["a"]}, table) == ["names: must have at least 2 entries, got 1"]


def test_string_values_refuses_null_and_empty_uris():
    table = arg_ranges.split(dict(hosts=dict(type="dict", string_values=True)))[1]
    assert arg_ranges.check({"hosts": {"hv1": "qemu:///system", "hv2": None, "hv3": " ", "hv4": 5}}, table) == [
        "hosts.hv2: must be a non-empty string, got None", "hosts.hv3: must be a non-empty string, got ' '",
        "hosts.hv4: must be a non-empty string, got 5"]


@pytest.mark.parametrize("params, problems", [
    ({"name": "a\x00b"}, ["name: holds a character XML and libvirt cannot carry (a NUL or another control character)"]),
    ({"tuning": {"mode": "\x1b[31m"}}, ["tuning.mode: holds a character XML and libvirt cannot carry (a NUL or another control character)"]),
    ({"disks": [{"path": "/x\x07"}]}, ["disks[0].path: holds a character XML and libvirt cannot carry (a NUL or another control character)"]),
    ({"name": "two\nlines\tand\r tabs, ünïcödé ✓"}, []),
])
def test_text_libvirt_cannot_carry_is_refused(params, problems):
    assert arg_ranges.check(params, arg_ranges.split(SPEC)[1]) == problems


def test_not_xml_is_the_complement_of_xml_char():
    # NOT_XML lists the few ranges XML 1.0's Char leaves out (cheap to compile at a module's
    # start); every code point must be judged as the complement of Char would judge it.
    def is_xml_char(code):
        return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF
    wrong = [code for code in range(0x110000) if bool(arg_ranges.NOT_XML.match(chr(code))) == is_xml_char(code)]
    assert wrong == []
