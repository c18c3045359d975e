# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two hosts of libvirt's test driver shared by the tests of vm_migrate, migration.* and
hosts.capacity_ops (imported by name: tests/conftest.py puts this folder on the path)."""

from __future__ import annotations

HOST = """<node>
  <cpu><mhz>2400</mhz><model>x86_64</model><active>4</active><nodes>1</nodes><sockets>1</sockets>
       <cores>4</cores><threads>1</threads></cpu>
  <memory>8388608</memory>
  %s
</node>"""
DOMAIN = """<domain type="test"><name>%s</name><uuid>%s</uuid><memory unit="MiB">256</memory><vcpu>1</vcpu>
  <os><type arch="x86_64">hvm</type></os></domain>"""
UUID_A = "6695eb01-f6a4-8304-79aa-97f2502e1a01"
UUID_B = "6695eb01-f6a4-8304-79aa-97f2502e1b02"
UUID_C = "6695eb01-f6a4-8304-79aa-97f2502e1c03"


def host_uri(tmp_path, name, domains=""):
    path = tmp_path / ("%s.xml" % name)
    path.write_text(HOST % domains)
    return "test://%s" % path


def two_hosts(tmp_path):
    """``(src, dest)`` URIs: web1 running on the destination only; db1 on the source only; both1
    running on both."""
    src = host_uri(tmp_path, "src", DOMAIN % ("db1", UUID_A) + DOMAIN % ("both1", UUID_B))
    dest = host_uri(tmp_path, "dest", DOMAIN % ("web1", UUID_C) + DOMAIN % ("both1", UUID_B))
    return src, dest
