# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Volume sizes, formats, XML and the plan for an existing volume."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.hotiron.virt.plugins.module_utils.storage import volume_xml as vx

GIB = 1024 ** 3


@pytest.mark.parametrize(
    "text,size",
    [(1048576, 1048576), ("1048576", 1048576), ("10G", 10 * GIB), ("10GiB", 10 * GIB), ("1GB", 10 ** 9), ("512M", 512 * 1024 ** 2),
     ("1.5G", int(1.5 * GIB)), ("2T", 2 * 1024 ** 4), ("64k", 65536), ("0", 0)],
)
def test_parse_size(text, size):
    assert vx.parse_size(text, "capacity") == size


@pytest.mark.parametrize("text", ["ten", "10X", "-1G", "", True, "1.2.3G"])
def test_parse_size_refuses_naming_param(text):
    with pytest.raises(vx.VolumeSpecError, match="^capacity must"):
        vx.parse_size(text, "capacity")


@given(st.integers(min_value=0, max_value=2 ** 50), st.sampled_from(["K", "M", "G", "KiB", "MiB", "GiB"]))
def test_parse_size_units_are_powers_of_1024(number, unit):
    factor = {"K": 1, "M": 2, "G": 3}[unit[0]]
    assert vx.parse_size("%d%s" % (number, unit), "c") == number * 1024 ** factor


def params(**kwargs):
    base = dict(name="v", pool="p", capacity=None, allocation=None, format=None, preallocation="off")
    base.update(kwargs)
    return base


@pytest.mark.parametrize("fmt", ["raw", "qcow2", "vpc", "vmdk"])
def test_issue_formats_accepted(fmt):
    assert vx.validate_volume(params(format=fmt, capacity="1G"))["format"] == fmt


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(format="dmg"), "format dmg: qemu-img can read this format but cannot write it"),
        (dict(format="iso"), "format iso: qemu-img can read"),
        (dict(format="vhdx"), "format vhdx: qemu-img can write it, but libvirt has no vhdx volume or disk format"),
        (dict(format="vhd"), "format 'vhd' is not a disk image format; use one of raw, qcow2"),
        (dict(name="a/b"), "name must be a volume name"),
        (dict(capacity="1G", allocation="2G"), "allocation (2147483648 bytes) must not exceed capacity"),
        (dict(format="raw", preallocation="metadata"), "preallocation=metadata needs format qcow2"),
        (dict(backing_volume="b", format="raw"), "format raw cannot have a backing volume"),
        (dict(backing_volume="b", preallocation="full"), "do not apply to an overlay"),
        (dict(clone_from="a", upload_from="/f"), "give only one of clone_from and upload_from"),
        (dict(capacity="1G", allocation="1G", preallocation="full"), "give allocation or preallocation, not both"),
    ],
)
def test_validation_messages(kwargs, message):
    with pytest.raises(vx.VolumeSpecError) as err:
        vx.validate_volume(params(**kwargs))
    assert message in str(err.value)


def test_overlay_defaults_to_qcow2():
    assert vx.validate_volume(params(backing_volume="base"))["format"] == "qcow2"


def test_volume_xml_exact():
    assert vx.volume_xml("web1.qcow2", 1073741824, "qcow2", 0) == (
        "<volume>\n"
        "  <name>web1.qcow2</name>\n"
        '  <capacity unit="bytes">1073741824</capacity>\n'
        '  <allocation unit="bytes">0</allocation>\n'
        "  <target>\n"
        '    <format type="qcow2" />\n'
        "  </target>\n"
        "</volume>\n"
    )


def test_overlay_xml_exact():
    assert vx.volume_xml("o.qcow2", 1024, "qcow2", None, {"path": "/i/base.raw", "format": "raw"}) == (
        "<volume>\n"
        "  <name>o.qcow2</name>\n"
        '  <capacity unit="bytes">1024</capacity>\n'
        "  <target>\n"
        '    <format type="qcow2" />\n'
        "  </target>\n"
        "  <backingStore>\n"
        "    <path>/i/base.raw</path>\n"
        '    <format type="raw" />\n'
        "  </backingStore>\n"
        "</volume>\n"
    )


def test_create_allocation():
    spec = vx.validate_volume(params(capacity="1G", preallocation="full"))
    assert vx.create_allocation(spec, GIB) == GIB
    assert vx.create_allocation(vx.validate_volume(params(capacity="1G")), GIB) == 0
    assert vx.create_allocation(vx.validate_volume(params(capacity="1G", allocation="1M")), GIB) == 1024 ** 2


VOL = """<volume type='file'>
  <name>d.qcow2</name>
  <key>/i/d.qcow2</key>
  <capacity unit='bytes'>1073741824</capacity>
  <allocation unit='bytes'>200704</allocation>
  <target><path>/i/d.qcow2</path><format type='qcow2'/></target>
  <backingStore><path>/i/base.raw</path><format type='raw'/></backingStore>
</volume>"""


def test_parse_volume():
    info = vx.parse_volume(VOL)
    assert info == {
        "name": "d.qcow2", "key": "/i/d.qcow2", "type": "file", "path": "/i/d.qcow2", "format": "qcow2",
        "capacity": GIB, "allocation": 200704, "backing": {"path": "/i/base.raw", "format": "raw"},
    }


def current(fmt="qcow2", capacity=GIB):
    return {"name": "d", "type": "file", "format": fmt, "capacity": capacity, "backing": None}


def spec(**kwargs):
    return vx.validate_volume(params(name="d", **kwargs))


def test_plan_existing():
    assert vx.plan_existing(current(), spec(capacity="1G")) == []
    assert vx.plan_existing(current(), spec()) == []
    assert vx.plan_existing(current(), spec(capacity="2G")) == ["resize"]
    assert vx.plan_existing(current(), spec(capacity="512M"), shrink=True) == ["shrink"]


def test_shrink_refused_without_flag():
    with pytest.raises(vx.VolumeSpecError, match="capacity 536870912 bytes is below the current 1073741824 bytes of volume d: set shrink=true"):
        vx.plan_existing(current(), spec(capacity="512M"))


def test_format_change_refused():
    with pytest.raises(vx.VolumeSpecError, match="exists with format qcow2; format cannot change to raw"):
        vx.plan_existing(current(), spec(format="raw"))


@pytest.mark.parametrize("fmt", ["vmdk", "vpc"])
def test_resize_refused_for_formats_qemu_cannot_resize(fmt):
    with pytest.raises(vx.VolumeSpecError, match="qemu-img cannot resize %s" % fmt):
        vx.plan_existing(current(fmt), spec(capacity="4G"))


def test_vpc_geometry_rounding_counts_as_equal():
    assert vx.plan_existing(current("vpc", 64 * 1024 ** 2 - 4096), spec(capacity="64M")) == []


def test_other_backing_refused():
    with pytest.raises(vx.VolumeSpecError, match="exists with backing none, not /i/base"):
        vx.plan_existing(current(), spec(), backing_path="/i/base")
