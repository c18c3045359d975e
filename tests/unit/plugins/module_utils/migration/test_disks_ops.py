# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which disks a migration copies (migration.disks_ops), against libvirt's test driver."""

from __future__ import annotations

import libvirt
import pytest

from migration_examples import host_uri  # tests/unit/migration_examples.py

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.migration import disks_ops
from ansible_collections.hotiron.virt.plugins.module_utils.storage import disk_xml


def test_classify_disks_without_pools_asks_for_one(tmp_path):
    conn = libvirt.open(host_uri(tmp_path, "c"))
    disks = disk_xml.disks("""<domain><devices>
      <disk type='file'><source file='/data/x.img'/><target dev='vda'/></disk>
      <disk type='file' device='cdrom'><target dev='sda'/></disk>
      <disk type='network'><source protocol='rbd' name='p/x'/><target dev='vdb'/></disk></devices></domain>""")
    with pytest.raises(lc.VirtError, match="cannot tell whether /data/x.img is shared: define a storage pool for /data"):
        disks_ops.classify_disks(conn, conn, disks)
    assert [d.mode for d in disks] == [None, "skip", "shared"]
    # with copy_storage=never, the file is taken as shared (libvirt then judges its safety)
    disks_ops.classify_disks(conn, conn, disks, "never")
    assert disks[0].mode == "shared"


POOLS = """<pool type="dir"><name>local</name><target><path>/data/vms</path></target>
  <volume><name>a.qcow2</name><capacity unit="MiB">10</capacity><target><format type="qcow2"/></target></volume></pool>
<pool type="netfs"><name>nfs</name><source><host name="nas"/><dir path="/export"/></source>
  <target><path>/mnt/nfs</path></target></pool>"""


@pytest.fixture
def pair(tmp_path):
    """A source and a destination that both have a local pool (with a.qcow2) and an NFS pool."""
    src = libvirt.open(host_uri(tmp_path, "src", POOLS))
    dest = libvirt.open(host_uri(tmp_path, "dest", POOLS))
    yield src, dest
    src.close()
    dest.close()


def disks(*devices):
    return disk_xml.disks("<domain><devices>%s</devices></domain>" % "".join(devices))


def test_volumes_by_path_pools_by_type_and_a_driver_without_lookup_by_directory(pair):
    src, _dest = pair
    assert disks_ops.vol_by_path(src, "/data/vms/a.qcow2").name() == "a.qcow2"
    assert disks_ops.vol_by_path(src, "/data/vms/none.qcow2") is None
    assert disks_ops.pool_type(src.storagePoolLookupByName("local")) == "dir"
    assert disks_ops.pool_type(src.storagePoolLookupByName("nfs")) == "netfs"
    assert disks_ops.pool_by_dir(src, "/data/vms") is None          # the test driver cannot look pools up by path


def test_volume_disks_are_shared_only_on_shared_pools(pair):
    src, dest = pair
    shared = disks("<disk type='volume'><source pool='nfs' volume='x'/><target dev='vda'/></disk>")
    assert disks_ops.classify_disks(src, dest, shared)[0].mode == "shared"
    assert shared[0].why == "pool nfs is shared storage"
    local = disks("<disk type='volume'><source pool='local' volume='a.qcow2'/><target dev='vda'/></disk>",
                  "<disk type='volume'><source pool='gone' volume='b'/><target dev='vdb'/></disk>")
    with pytest.raises(lc.VirtError) as raised:
        disks_ops.classify_disks(src, dest, local)
    assert str(raised.value) == ("Storage of the vm cannot be migrated: disk vda: volumes of local pool local cannot be"
                                 " copied by vm_migrate; disk vdb: the destination has no storage pool gone")


def test_a_block_device_is_shared_when_the_destination_has_it(pair):
    src, dest = pair
    seen = disks("<disk type='block'><source dev='/data/vms/a.qcow2'/><target dev='vda'/></disk>")
    assert disks_ops.classify_disks(src, dest, seen)[0].why == "the destination has the same block device"
    unseen = disks("<disk type='block'><source dev='/dev/sdz'/><target dev='vda'/></disk>")
    with pytest.raises(lc.VirtError, match="disk vda: block device /dev/sdz is not visible on the destination"):
        disks_ops.classify_disks(src, dest, unseen)
    assert disks_ops.classify_disks(src, dest, unseen, "never")[0].mode == "shared"


@pytest.mark.parametrize("device, message", [
    ("<disk type='file'><source file='/data/vms/a.qcow2'/><target dev='vda'/><readonly/></disk>",
     "disk vda: read-only/shareable /data/vms/a.qcow2 is not on storage the destination sees"),
    ("<disk type='file'><source file='/data/vms/a.qcow2'/><target dev='vda'/></disk>",
     "disk vda: no storage pool for /data/vms on the destination to copy it into"),
])
def test_a_file_that_must_be_copied_needs_somewhere_to_go(pair, device, message):
    src, dest = pair
    for probe in (True, False):
        with pytest.raises(lc.VirtError, match=message):
            disks_ops.classify_disks(src, dest, disks(device), "always", probe=probe)


def test_the_source_copies_are_removed_after_a_copy_and_deletion_tolerates_what_is_gone(pair):
    src, dest = pair
    copied = disks("<disk type='file'><source file='/data/vms/a.qcow2'/><target dev='vda'/></disk>",
                   "<disk type='file'><source file='/data/vms/never.qcow2'/><target dev='vdb'/></disk>")
    assert disks_ops.remove_source_copies(src, copied) == ["/data/vms/a.qcow2"]
    assert src.storagePoolLookupByName("local").listVolumes() == []
    vol = dest.storageVolLookupByPath("/data/vms/a.qcow2")
    disks_ops.delete_volumes([vol])
    disks_ops.delete_volumes([vol])                                  # already gone: no error
    assert dest.storagePoolLookupByName("local").listVolumes() == []


def test_precreation_refuses_a_file_that_is_no_volume_on_the_source(pair):
    src, dest = pair
    [disk] = disks("<disk type='file'><source file='/elsewhere/x.qcow2'/><target dev='vda'/></disk>")
    disk.mode = "copy"
    with pytest.raises(lc.VirtError, match="Cannot copy disk vda: /elsewhere/x.qcow2 is not a volume of a storage pool"):
        disks_ops.precreate_volumes(src, dest, [disk])
    disk.mode = "shared"
    assert disks_ops.precreate_volumes(src, dest, [disk]) == []
