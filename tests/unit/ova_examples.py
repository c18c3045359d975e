# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OVAs shared by the tests of vm_import and of appliance.import_ops: real packages built with
tests/lab/appliances.py, and ``repack`` to change one member of a package."""

from __future__ import annotations

import io
import tarfile

import appliances  # tests/lab/appliances.py
import guests      # tests/lab/guests.py

MAP = {"VM Network": "lan", "Backend": None}


def build_ovas(work):
    """A VMware OVA ``app1`` with two disks and a VirtualBox OVA ``vb1`` under ``work``."""
    vmware_dir, vbox_dir = work / "vmware", work / "vbox"
    vmware_dir.mkdir()
    vbox_dir.mkdir()
    return {"vmware": appliances.vmware_ova(str(vmware_dir), "app1", [guests.boot_sector("idle")] * 2),
            "vbox": appliances.virtualbox_ova(str(vbox_dir), "vb1", guests.boot_sector("idle")),
            "dir": str(work)}


def repack(ova, dest, drop=(), replace=None):
    """Copy the members of ``ova`` into ``dest`` except ``drop``, replacing some contents."""
    replace = replace or {}
    with tarfile.open(ova) as src, tarfile.open(dest, "w", format=tarfile.USTAR_FORMAT) as out:
        for info in src.getmembers():
            if info.name in drop:
                continue
            data = replace.get(info.name, src.extractfile(info).read())
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return dest
