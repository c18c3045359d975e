# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is checked before a migration (migration.preflight_ops), against two hosts of libvirt's test
driver: the vm, both hosts, the destination's capacity and CPU, and the disks.

The test driver names every host after the machine the tests run on, so two test:/// hosts look
like one; ``Named`` gives a real test:/// connection another host name and passes every other
call to libvirt unchanged."""

from __future__ import annotations

import libvirt
import pytest

from migration_examples import DOMAIN, UUID_B, host_uri, two_hosts  # tests/unit/migration_examples.py

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.migration import preflight_ops

WITH_CPU = """<domain type="test"><name>%s</name><memory unit="MiB">%d</memory><vcpu>1</vcpu>
  <os><type arch="x86_64">hvm</type></os>%s<devices><disk type='network' device='disk'>
  <source protocol='rbd' name='pool/%s'/><target dev='vda' bus='virtio'/></disk></devices></domain>"""


class Named:
    """A real connection with its own host name."""

    def __init__(self, conn, hostname):
        self._conn, self._hostname = conn, hostname

    def getHostname(self):
        return self._hostname

    def __getattr__(self, name):
        return getattr(self._conn, name)


@pytest.fixture
def pair(tmp_path):
    src_uri, dest_uri = two_hosts(tmp_path)
    src, dest = libvirt.open(src_uri), libvirt.open(dest_uri)
    yield Named(src, "hv1"), Named(dest, "hv2")
    src.close()
    dest.close()


def preflight(pair, name, **kw):
    return preflight_ops.Preflight(pair[0], pair[1], name, **kw).run()


def test_two_test_hosts_are_one_host_to_libvirt(tmp_path):
    src_uri, dest_uri = two_hosts(tmp_path)
    src, dest = libvirt.open(src_uri), libvirt.open(dest_uri)
    try:
        with pytest.raises(lc.VirtError, match="^Source and destination are the same host \\(.+\\): choose another"):
            preflight_ops.Preflight(src, dest, "db1").run()
    finally:
        src.close()
        dest.close()


def test_a_running_vm_that_fits_passes_with_its_disks_classified(pair):
    pre = preflight(pair, "db1", copy_storage="never")
    assert (pre.src_name, pre.dest_name, pre.dom.name(), pre.disks) == ("hv1", "hv2", "db1", [])


def test_the_vm_must_exist_and_run_for_a_live_migration(pair):
    with pytest.raises(lc.VirtError, match="^vm nope does not exist on test://"):
        preflight(pair, "nope")
    pair[0].lookupByName("db1").destroy()
    with pytest.raises(lc.VirtError, match="^vm db1 is not running on test://.*: a live migration needs a running vm"):
        preflight(pair, "db1")
    assert preflight(pair, "db1", live=False).dom.name() == "db1"      # its definition can move


def test_a_vm_of_the_same_name_on_the_destination(pair):
    with pytest.raises(lc.VirtError, match="^A different vm named both1 already exists on test://"):
        preflight(pair, "both1")                                          # same uuid, but running there
    pair[1].lookupByName("both1").destroy()
    assert preflight(pair, "both1").dom.UUIDString() == UUID_B       # its own inactive definition: fine
    pair[1].lookupByName("both1").undefine()
    pair[1].defineXML(DOMAIN % ("db1", "6695eb01-f6a4-8304-79aa-97f2502e1d04"))
    with pytest.raises(lc.VirtError, match="^A different vm named db1 already exists on test://"):
        preflight(pair, "db1")


def test_the_destination_must_have_room(pair):
    with pytest.raises(lc.VirtError, match="^Cannot migrate vm db1 to test://.*/dest.xml: hv2 has 0 MiB free, db1 needs 256 MiB$"):
        preflight(pair, "db1", reserved_memory_mib=8192)
    with pytest.raises(lc.VirtError, match="^Cannot migrate vm db1 to test://.*: .*vCPU"):
        preflight(pair, "db1", cpu_ratio=0.25)


def test_disk_problems_stop_the_migration(pair):
    pair[0].createXML(DOMAIN.replace("</os>", "</os><devices><disk type='file' device='disk'>"
                                     "<source file='/data/x.img'/><target dev='vda'/></disk></devices>")
                      % ("files1", "6695eb01-f6a4-8304-79aa-97f2502e1e05"), 0)
    with pytest.raises(lc.VirtError, match="^Storage of the vm cannot be migrated: disk vda: cannot tell whether"):
        preflight(pair, "files1")
    assert [(d.target, d.mode) for d in preflight(pair, "files1", copy_storage="never").disks] == [("vda", "shared")]


@pytest.mark.parametrize("cpu, expected", [
    ("", None), ("<cpu mode='custom'/>", None),
    ("<cpu mode='custom' match='exact'><model>Haswell</model></cpu>", "Haswell"),
    ("<cpu mode='host-model'/>", "host-model"),
])
def test_the_cpu_a_destination_must_provide(tmp_path, cpu, expected):
    conn = libvirt.open(host_uri(tmp_path, "h", WITH_CPU % ("v", 64, cpu, "v")))
    try:
        xml = preflight_ops.guest_cpu_xml(conn, conn.lookupByName("v"))
    finally:
        conn.close()
    assert xml is None if expected is None else expected in xml


def test_host_passthrough_asks_for_the_source_hosts_cpu(tmp_path):
    conn = libvirt.open(host_uri(tmp_path, "h", WITH_CPU % ("v", 64, "<cpu mode='host-passthrough'/>", "v")))
    try:
        xml = preflight_ops.guest_cpu_xml(conn, conn.lookupByName("v"))
        host_cpu = conn.getCapabilities()
    finally:
        conn.close()
    assert xml.startswith("<cpu") and "<arch>" in xml and "<arch>" in host_cpu


def test_a_cpu_the_destination_cannot_compare_is_refused_with_libvirts_reason(tmp_path):
    conn = libvirt.open(host_uri(tmp_path, "h", WITH_CPU % ("v", 64, "<cpu mode='custom'><model>Haswell</model></cpu>", "v")
                                 + WITH_CPU % ("plain", 64, "", "p")))
    try:
        why = preflight_ops.check_cpu(conn, conn, conn.lookupByName("v"))
        plain = preflight_ops.check_cpu(conn, conn, conn.lookupByName("plain"))
    finally:
        conn.close()
    assert plain is None
    # The test driver compares no CPUs: the refusal names what libvirt said.
    assert why == ("the destination cannot run the vm's CPU model: this function is not supported by the connection"
                   " driver: virConnectCompareHypervisorCPU")
