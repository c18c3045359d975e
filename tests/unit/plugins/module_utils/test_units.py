# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""units.parse_size: the one size parser of the collection (binary K/M/G/T and KiB..., decimal KB...,
a bare number in the caller's unit).  Pure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.hotiron.virt.plugins.module_utils import errors
from ansible_collections.hotiron.virt.plugins.module_utils import units

KIB, MIB, GIB = units.KIB, units.MIB, units.GIB


@pytest.mark.parametrize("value, bare, expected", [
    ("512MiB", "MiB", 512 * MIB), ("2G", "MiB", 2 * GIB), ("2GB", "MiB", 2 * 10 ** 9), ("1.5GiB", "MiB", 1536 * MIB),
    ("1TiB", "MiB", 1024 * GIB), ("3t", "MiB", 3 * 1024 * GIB), ("4096mib", "MiB", 4096 * MIB), ("1kb", "MiB", 1000),
    ("7B", "MiB", 7), ("7 bytes", "MiB", 7), (" 64 MiB ", "MiB", 64 * MIB),
    ("64", "MiB", 64 * MIB), ("64", "B", 64), (64, "MiB", 64 * MIB), (64, "bytes", 64), (1.5, "KiB", 1536),
    ("0", "MiB", 0),
])
def test_parse_size(value, bare, expected):
    assert units.parse_size(value, bare=bare) == expected


def test_a_bare_number_counts_mib_unless_told():
    assert units.parse_size("2") == 2 * MIB


def test_large_whole_numbers_stay_exact():
    big = 2 ** 60 + 1
    assert units.parse_size(big, bare="B") == big
    assert units.parse_size(big, bare="KiB") == big * KIB


@pytest.mark.parametrize("value, message", [
    ("lots", "expected a size such as 512MiB or 2GiB, got 'lots'"), ("", "expected a size"), ("-1GiB", "expected a size"),
    ("1 2 G", "expected a size"), ("1e3", "expected a size"), ("1e", "unknown unit 'e'"), (True, "expected a size"), (False, "expected a size"),
    ("12 parsecs", "unknown unit 'parsecs' \\(use KiB, MiB, GiB or TiB\\)"), ("5PiB", "unknown unit"),
])
def test_not_a_size(value, message):
    with pytest.raises(units.SizeError, match=message):
        units.parse_size(value)


def test_a_size_error_is_input_error():
    assert issubclass(units.SizeError, errors.InputError)


def test_an_unknown_bare_unit_is_refused():
    with pytest.raises(units.SizeError, match="unknown unit 'furlong'"):
        units.parse_size(3, bare="furlong")


@given(st.integers(min_value=0, max_value=8192), st.sampled_from(sorted(units.FACTORS)))
def test_text_and_number_agree_for_every_unit(number, unit):
    """Up to 8192 TiB (2**53 bytes): beyond that a size given as text goes through a float."""
    assert units.parse_size("%d%s" % (number, unit)) == units.parse_size(number, bare=unit) == number * units.FACTORS[unit]
