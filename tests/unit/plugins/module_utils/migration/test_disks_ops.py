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
