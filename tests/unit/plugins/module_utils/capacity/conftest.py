# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A group of hosts of libvirt's test driver shared by the capacity tests (stats_ops, rebalance_ops,
report_ops): ``hv1`` with VMs a and b, ``hv2`` with c, and ``host_xml`` to write other hosts."""

from __future__ import annotations

import pytest

HOST = """<node><cpu><mhz>2400</mhz><model>x86_64</model><active>4</active><nodes>1</nodes><sockets>1</sockets>
  <cores>4</cores><threads>1</threads></cpu><memory>8388608</memory>%s</node>"""
DOMAIN = """<domain type="test"><name>%s</name><memory unit="MiB">256</memory><vcpu>2</vcpu>
  <os><type arch="x86_64">hvm</type></os></domain>"""


@pytest.fixture
def host_xml():
    """The node of a test:/// host; ``%s`` takes its domains (and pools)."""
    return HOST


@pytest.fixture
def group(tmp_path):
    hosts = {}
    for name, vms in (("hv1", ["a", "b"]), ("hv2", ["c"])):
        path = tmp_path / ("%s.xml" % name)
        path.write_text(HOST % "".join(DOMAIN % vm for vm in vms))
        hosts[name] = "test://%s" % path
    hosts["hv3"] = "qemu+tcp://127.77.250.250:1/system"          # nothing listens there
    return hosts
