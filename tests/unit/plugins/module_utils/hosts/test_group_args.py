# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An event source's arguments (hosts.group_args): hosts a dict, numbers within their ranges."""

from __future__ import annotations

import math

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.hosts.group_args import group_arguments

NUMBERS = (("interval", 10, 0.5, 60), ("count", 3, 1, None))


def test_defaults_and_names_become_strings():
    assert group_arguments({"hosts": {1: "qemu:///system"}}, "src", NUMBERS) == {
        "hosts": {"1": "qemu:///system"}, "interval": 10, "count": 3}
    out = group_arguments({"hosts": {"a": "b"}, "count": 2}, "src", NUMBERS, as_float=True)
    assert out["count"] == 2.0 and isinstance(out["count"], float)


@pytest.mark.parametrize("args, message", [
    ({"hosts": []}, "src: hosts must be a dict of host name to libvirt URI"),
    ({"hosts": {}}, "src: hosts must be a dict"),
    ({"hosts": {"a": "b"}, "interval": 61}, "src: interval must be a number from 0.5 to 60, got 61"),
    ({"hosts": {"a": "b"}, "interval": True}, "interval must be a number from"),
    ({"hosts": {"a": "b"}, "interval": math.nan}, "interval must be a number from"),
    ({"hosts": {"a": "b"}, "count": 0}, "src: count must be a number of at least 1, got 0"),
    ({"hosts": {"a": "b"}, "count": "3"}, "count must be a number of at least 1"),
])
def test_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        group_arguments(args, "src", NUMBERS)
