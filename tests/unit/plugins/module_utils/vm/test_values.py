# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm.values: sizes, counts and choices of VM options, and the error that names the option.  Pure."""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import errors
from ansible_collections.hotiron.virt.plugins.module_utils.vm import values as vv

GIB, MIB = vv.GIB, vv.MIB


@pytest.mark.parametrize("value,expected", [
    ("512MiB", 512 * MIB), ("2GiB", 2 * GIB), ("2G", 2 * GIB), ("2GB", 2 * 10 ** 9), ("1.5GiB", 1536 * MIB),
    (" 64 MiB ", 64 * MIB), ("64", 64 * MIB), (64, 64 * MIB), ("1024KiB", MIB), ("1TiB", 1024 * GIB),
    ("4096mib", 4096 * MIB),
])
def test_parse_size(value, expected):
    assert vv.parse_size(value, "memory") == expected


@pytest.mark.parametrize("value,message", [
    ("0", "greater than zero"), ("0GiB", "greater than zero"), (0, "greater than zero"), ("-1GiB", "expected a size"),
    ("lots", "expected a size"), ("12 parsecs", "unknown unit"), ("", "expected a size"), (True, "expected a size"),
])
def test_parse_size_rejects(value, message):
    with pytest.raises(vv.SpecError, match=message) as err:
        vv.parse_size(value, "disks[2].size")
    assert err.value.param == "disks[2].size"
    assert str(err.value).startswith("disks[2].size: ")


def test_human():
    assert [vv.human(x) for x in (GIB, 3 * MIB, 1536 * MIB, 7)] == ["1GiB", "3MiB", "1536MiB", "7B"]


def test_a_spec_error_is_input_error_naming_the_option():
    err = vv.SpecError("interfaces[1].mac", "bad")
    assert isinstance(err, errors.InputError) and err.param == "interfaces[1].mac" and str(err) == "interfaces[1].mac: bad"


@pytest.mark.parametrize("value, expected", [(None, None), (1, 1), (8, 8), ("12", 12)])
def test_positive_int(value, expected):
    assert vv.positive_int(value, "vcpus") == expected


@pytest.mark.parametrize("value, message", [
    (0, "must be at least 1, got 0"), (-3, "must be at least 1"), ("0", "must be at least 1"),
    ("two", "expected a whole number, got 'two'"), (True, "expected a whole number"), (2.5, "expected a whole number"),
])
def test_positive_int_refuses(value, message):
    with pytest.raises(vv.SpecError, match="^vcpus: " + message):
        vv.positive_int(value, "vcpus")


def test_choice():
    assert vv.choice("uefi", ["bios", "uefi"], "firmware") == "uefi"
    assert vv.choice(None, ["bios", "uefi"], "firmware") is None
    with pytest.raises(vv.SpecError, match=r"^firmware: must be one of bios, uefi, got 'coreboot'$"):
        vv.choice("coreboot", ["bios", "uefi"], "firmware")
