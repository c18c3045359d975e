# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Single values of an OVF descriptor: allocation units, numbers, format URIs, hrefs, OS families."""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.appliance import ovf_values

MIB = 1024 * 1024


@pytest.mark.parametrize("text, factor", [
    ("byte", 1), (None, 1), ("byte * 2^20", MIB), ("byte*2^30", 1024 * MIB), ("byte * 10^6", 10 ** 6),
    ("MegaBytes", MIB), ("KB", 1024), ("GigaBytes", 1024 * MIB), ("byte * 1024", 1024), ("bytes * 2^10", 1024),
])
def test_allocation_units(text, factor):
    assert ovf_values.allocation_units(text, "x") == factor


@pytest.mark.parametrize("text", ["bit * 2^10", "byte * two", "hertz * 10^6", "byte * 2^999"])
def test_allocation_units_refused(text):
    with pytest.raises(ovf_values.OVFError, match="x"):
        ovf_values.allocation_units(text, "x")


@pytest.mark.parametrize("uri, fmt", [
    ("http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized", "vmdk"),
    ("http://www.vmware.com/specifications/vmdk.html#sparse", "vmdk"),
    ("http://technet.microsoft.com/en-us/virtualserver/bb676673.aspx", "vpc"),
    ("http://en.wikipedia.org/wiki/Byte", "raw"), ("urn:unknown", None), (None, None),
])
def test_disk_format_uris(uri, fmt):
    assert ovf_values.format_of_uri(uri) == fmt


@pytest.mark.parametrize("text, minimum, value", [("3", 0, 3), (" 12 ", 1, 12), (7, 1, 7)])
def test_whole(text, minimum, value):
    assert ovf_values.whole(text, "x", minimum) == value


@pytest.mark.parametrize("text, minimum, message", [("two", 0, "expected a whole number"), (None, 0, "expected"),
                                                    ("0", 1, "must be at least 1, got 0")])
def test_whole_refused(text, minimum, message):
    with pytest.raises(ovf_values.OVFError, match="^x: " + message):
        ovf_values.whole(text, "x", minimum)


@pytest.mark.parametrize("text, ok", [("12", True), ("", False), (None, False), ("\u00b2", False), ("1" * 19, False)])
def test_digits_are_ascii_only(text, ok):
    assert ovf_values.digits(text) is ok


@pytest.mark.parametrize("href, normal", [("disk1.vmdk", "disk1.vmdk"), ("sub/./d.vmdk", "sub/d.vmdk")])
def test_hrefs_inside_the_package(href, normal):
    assert ovf_values.check_href(href, "x") == normal


@pytest.mark.parametrize("href, message", [("http://e/d.vmdk", "URLs and absolute paths are refused"),
                                           ("/etc/passwd", "refused"), ("a\\b", "refused"), ("../d", "outside"),
                                           (".", "outside"), ("", "refused")])
def test_hrefs_outside_the_package_are_refused(href, message):
    with pytest.raises(ovf_values.OVFError, match=message):
        ovf_values.check_href(href, "x")


@pytest.mark.parametrize("cim_id, os_type, description, expected", [
    (None, None, None, ("other", None)),
    (96, "debian10_64Guest", None, ("linux", 64)),
    (None, None, "Microsoft Windows Server 2019", ("windows", 32)),
    (103, None, None, ("windows", 64)),
    (36, None, None, ("linux", 32)),
    (1, "freebsd", None, ("other", 32)),
])
def test_os_family(cim_id, os_type, description, expected):
    assert ovf_values.os_family(cim_id, os_type, description) == expected
