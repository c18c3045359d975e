# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""boot: firmware boot order, PXE per NIC and direct kernel boot, checked and written; and through
vm_ops against libvirt's test driver (what libvirt keeps of it, idempotency, check mode)."""

from __future__ import annotations

import pytest

import vm_driver  # tests/unit/vm_driver.py
from vm_driver import inactive, params

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.vm import boot as vm_boot
from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_ops
from ansible_collections.hotiron.virt.plugins.module_utils.vm.values import SpecError

HOST = vm_driver.HOST  # what the conn fixture (tests/unit/conftest.py) opens
DOMAIN = """<domain><os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><devices>
  <disk type='file' device='disk'><source file='/a.qcow2'/><target dev='vda' bus='virtio'/><boot order='1'/></disk>
  <interface type='network'><mac address='52:54:00:00:00:01'/><source network='lan'/></interface>
  <interface type='network'><mac address='52:54:00:00:00:02'/><source network='lan'/></interface>
</devices></domain>"""


def apply(params):
    root = dx.parse(DOMAIN)
    return vm_boot.apply(root, vm_boot.validate(params), params.get("interfaces"))


def test_nothing_given_is_not_managed():
    assert vm_boot.validate({}) is None
    assert dx.normalise(apply({})) == dx.normalise(DOMAIN)


def test_firmware_order_replaces_per_device_orders():
    root = apply({"boot": {"order": ["network", "hd"]}})
    assert [b.get("dev") for b in root.findall("os/boot")] == ["network", "hd"]
    assert root.find("devices/disk/boot") is None


def test_nic_boot_order_moves_an_unrequested_disk_order_out_of_the_way():
    root = apply({"interfaces": [{"mac": "52:54:00:00:00:02", "boot_order": 1}]})
    nics = root.findall("devices/interface")
    assert nics[0].find("boot") is None and nics[1].find("boot").get("order") == "1"
    assert root.find("devices/disk/boot").get("order") == "2"
    assert root.find("os/boot") is None


def test_nic_boot_order_by_position_and_explicit_disk_order_kept():
    root = apply({"interfaces": [{"boot_order": 2}], "disks": [{"boot_order": 1}]})
    assert root.find("devices/interface/boot").get("order") == "2"
    assert root.find("devices/disk/boot").get("order") == "1"


def test_direct_kernel_boot_and_back():
    root = apply({"boot": {"kernel": "/srv/vmlinux", "initrd": "/srv/initrd.img", "cmdline": "root=/dev/vda rw"}})
    assert [c.tag for c in root.find("os")] == ["type", "kernel", "initrd", "cmdline", "boot"]
    assert dx.get_text(root, "os/cmdline") == "root=/dev/vda rw"
    vm_boot.apply(root, vm_boot.validate({"boot": {"kernel": ""}}))
    assert [c.tag for c in root.find("os")] == ["type", "boot"]


@pytest.mark.parametrize("params,param", [
    ({"boot": {"order": []}}, "boot.order"),
    ({"boot": {"order": ["hd", "hd"]}}, "boot.order"),
    ({"boot": {"order": ["usb"]}}, "boot.order"),
    ({"boot": {"order": ["hd"]}, "disks": [{"boot_order": 1}]}, "boot.order"),
    ({"boot": {"order": ["hd"]}, "interfaces": [{"boot_order": 1}]}, "boot.order"),
    ({"interfaces": [{"boot_order": 1}], "disks": [{"boot_order": 1}]}, "interfaces"),
    ({"interfaces": [{"boot_order": 65}]}, "interfaces[0].boot_order"),
    ({"boot": {"kernel": "vmlinux"}}, "boot.kernel"),
    ({"boot": {"kernel": "/k", "initrd": "initrd"}}, "boot.initrd"),
    ({"boot": {"cmdline": "quiet"}}, "boot.kernel"),
    ({"boot": {"kernel": "/k", "cmdline": "a\nb"}}, "boot.cmdline"),
])
def test_refused(params, param):
    with pytest.raises(SpecError) as err:
        vm_boot.validate(params)
    assert str(err.value).startswith(param + ":")


# --- through vm_ops on the test driver ----------------------------------------------------------
def test_kernel_boot_and_pxe_through_vm_ops_idempotent(conn):
    spec = params(name="k1", memory="64MiB", disks=[dict(pool="local", volume="k1.qcow2", size="1GiB")],
                  interfaces=[dict(network="lan", mac="52:54:00:12:00:01", boot_order=1)],
                  boot=dict(kernel="/srv/vmlinux", initrd="/srv/initrd.img", cmdline="root=/dev/vda rw console=ttyS0"))
    changed, _result, _diff = vm_ops.ensure(conn, spec)
    assert changed
    root = inactive(conn, "k1")
    assert dx.get_text(root, "os/kernel") == "/srv/vmlinux" and dx.get_text(root, "os/cmdline") == "root=/dev/vda rw console=ttyS0"
    assert root.find("devices/interface/boot").get("order") == "1"
    assert root.find("devices/disk/boot").get("order") == "2"
    changed, result, _diff = vm_ops.ensure(conn, spec)
    assert not changed and result["plan"] == []
    before = dx.normalise(inactive(conn, "k1"))
    changed, result, diff = vm_ops.ensure(conn, dict(spec, interfaces=[dict(network="lan", mac="52:54:00:12:00:01")],
                                                     boot=dict(order=["cdrom", "hd"], kernel="")), check_mode=True)
    assert changed and result["plan"] == ["redefine vm k1"]
    assert "<kernel>" not in diff["after"] and "<boot dev=\"cdrom\" />" in diff["after"]
    assert dx.normalise(inactive(conn, "k1")) == before


def test_a_missing_pool_or_bad_option_fails_before_anything_changes(conn):
    with pytest.raises(lc.VirtError) as err:
        vm_ops.ensure(conn, params(name="k2", boot=dict(order=["hd"]), disks=[dict(pool="local", volume="k2.qcow2",
                                                                                   size="1GiB", boot_order=1)]))
    assert "boot.order" in str(err.value)
    assert "k2" not in [d.name() for d in conn.listAllDomains()]
