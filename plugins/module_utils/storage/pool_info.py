# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What hotiron.virt.storage_pool_info reports about pools and volumes, from their XML and the
figures libvirt returns.

Pure Python: no libvirt, no AnsibleModule."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ansible_collections.hotiron.virt.plugins.module_utils.storage import pool_xml as px
from ansible_collections.hotiron.virt.plugins.module_utils.storage import volume_xml as vx

# virStoragePoolState
POOL_STATES = {0: "inactive", 1: "building", 2: "running", 3: "degraded", 4: "inaccessible"}
# Every pool type libvirt knows (the collection's storage_pool manages a subset: px.POOL_TYPES).
ALL_POOL_TYPES = ("dir", "fs", "netfs", "logical", "disk", "iscsi", "iscsi-direct", "scsi", "mpath", "rbd",
                  "sheepdog", "gluster", "zfs", "vstorage")


def describe_pool(xml_text, info, active, persistent, autostart):
    """A pool's entry: its parsed XML, ``info`` (virStoragePoolGetInfo's ``[state, capacity,
    allocation, available]``) and its flags."""
    out = px.parse_pool(xml_text)
    state, capacity, allocation, available = info
    out.update(
        state=POOL_STATES.get(state, str(state)),
        active=bool(active),
        persistent=bool(persistent),
        autostart=bool(autostart),
        capacity=capacity,
        allocation=allocation,
        available=available,
    )
    return out


def describe_volume(xml_text):
    """A volume's entry from its XML (name, key, type, path, format, capacity, allocation, backing)."""
    return vx.parse_volume(xml_text)


def pool_type(xml_text):
    return ET.fromstring(xml_text).get("type")
