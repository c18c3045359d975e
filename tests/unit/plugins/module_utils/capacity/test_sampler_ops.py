# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One reading of a host's guests (capacity.sampler_ops) against libvirt's test driver: the flags
of the statistics groups, a Sample of the running guests, and the event source's Sampler (no
load on its first reading, none from a host it cannot reach, the connection kept between)."""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import sampler_ops

libvirt = pytest.importorskip("libvirt")

HOST = """<node><cpu><mhz>2400</mhz><model>x86_64</model><active>4</active><nodes>1</nodes><sockets>1</sockets>
  <cores>4</cores><threads>1</threads></cpu><memory>8388608</memory>%s</node>"""
DOMAIN = """<domain type="test"><name>%s</name><memory unit="MiB">256</memory><vcpu>2</vcpu>
  <os><type arch="x86_64">hvm</type></os></domain>"""


@pytest.fixture
def uri(tmp_path):
    path = tmp_path / "hv1.xml"
    path.write_text(HOST % (DOMAIN % "a" + DOMAIN % "b"))
    return "test://%s" % path


def test_only_the_groups_asked_for_are_read():
    cpu = sampler_ops.stats_flags(("cpu",))
    assert cpu & libvirt.VIR_DOMAIN_STATS_CPU_TOTAL and not cpu & libvirt.VIR_DOMAIN_STATS_BLOCK
    every = sampler_ops.stats_flags(sampler_ops.STAT_GROUPS)
    for flag in (libvirt.VIR_DOMAIN_STATS_BALLOON, libvirt.VIR_DOMAIN_STATS_BLOCK, libvirt.VIR_DOMAIN_STATS_INTERFACE,
                 libvirt.VIR_DOMAIN_STATS_STATE, libvirt.VIR_DOMAIN_STATS_VCPU):
        assert every & flag


def test_a_sample_holds_the_running_guests(uri):
    conn = lc.connect(uri)
    try:
        sample = sampler_ops.read_sample(conn, uri, sampler_ops.stats_flags(("cpu",)), clock=lambda: 42.0)
    finally:
        conn.close()
    assert sample.at == 42.0 and sorted(sample.stats) == ["a", "b"] and set(sample.ids) == {"a", "b"}


def test_the_sampler_gives_a_load_from_its_second_reading_on(uri):
    sampler = sampler_ops.Sampler("hv1", uri)
    assert sampler.read() is None and sampler.size == (4, 8192)
    conn = sampler.conn
    load = sampler.read()
    assert isinstance(load, float) and sampler.conn is conn     # one connection, kept
    conn.close()


def test_an_unreachable_host_gives_no_load_and_is_opened_again_next_time():
    sampler = sampler_ops.Sampler("hv3", "qemu+tcp://127.77.250.250:1/system")
    assert sampler.read() is None and sampler.conn is None and sampler.previous is None
