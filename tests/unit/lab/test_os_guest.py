# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure parts of the lab's real Linux guest (tests/lab/os_guest.py)."""

from __future__ import annotations

import gzip
import lzma
import os
import sys
import xml.etree.ElementTree as ET

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lab"))

import os_guest  # noqa: E402
from lab import LabError  # noqa: E402

MODULES_DEP = """kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/sound/core/snd.ko:
kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko
kernel/fs/jbd2/jbd2.ko:
"""


def test_modules_to_keep_follows_dependencies_and_drops_the_rest():
    keep = os_guest.modules_to_keep(MODULES_DEP, wanted=("virtio_blk", "virtio_net", "ext4"))
    assert keep == {"kernel/drivers/block/virtio_blk.ko", "kernel/drivers/virtio/virtio.ko",
                    "kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/net/virtio_net.ko",
                    "kernel/drivers/net/net_failover.ko", "kernel/net/core/failover.ko",
                    "kernel/fs/ext4/ext4.ko", "kernel/fs/jbd2/jbd2.ko"}


def test_a_wanted_module_missing_is_an_error():
    with pytest.raises(LabError, match="isofs"):
        os_guest.modules_to_keep(MODULES_DEP, wanted=("isofs",))


@pytest.mark.parametrize("compress", [lzma.compress, gzip.compress])
def test_extract_vmlinux_finds_the_elf_inside(compress):
    elf = b"\x7fELF" + os.urandom(2000)
    bzimage = b"MZ" + b"\0" * 600 + b"\xfd7zXZ\x00junk" + b"\0" * 50 + compress(elf) + b"trailer" * 10
    assert os_guest.extract_vmlinux(bzimage) == elf


def test_extract_vmlinux_refuses_what_has_no_kernel():
    with pytest.raises(LabError):
        os_guest.extract_vmlinux(b"MZ" + b"\0" * 1000)


def test_recipe_hash_is_stable_and_follows_the_files(monkeypatch):
    first = os_guest.recipe_hash()
    assert first == os_guest.recipe_hash() and len(first) == 16
    monkeypatch.setitem(os_guest.FILES, "etc/hostname", ("other\n", 0o644))
    assert os_guest.recipe_hash() != first
    assert os_guest.image_dir().endswith("guest-" + os_guest.recipe_hash())


def test_debs_name_follows_the_package_list():
    assert os_guest.debs_name() == os_guest.debs_name(packages=tuple(reversed(os_guest.PACKAGES)))
    assert os_guest.debs_name() != os_guest.debs_name(packages=os_guest.PACKAGES + ("vim",))
    command = os_guest.debootstrap_unpack_command("/c/debs.tgz", "/r")
    assert "--unpack-tarball=/c/debs.tgz" in command and command[-3:] == ["bookworm", "/r", os_guest.MIRROR]


def test_guest_net_stays_on_its_bridge():
    net = os_guest.GuestNet(6)
    assert (net.bridge, net.address, net.mac) == ("hvgbr6", "198.18.6.1", "02:68:69:06:00:01")
    command = net.dnsmasq_command()
    assert "--interface=hvgbr6" in command and "--bind-interfaces" in command and "--port=0" in command
    # no router and no DNS server offered: a guest gets no default route off the bridge
    assert "--dhcp-option=option:router" in command and "--dhcp-option=option:dns-server" in command
    with pytest.raises(LabError):
        os_guest.GuestNet(256)


def test_domain_xml_boots_the_kernel_under_tcg_with_a_seed():
    root = ET.fromstring(os_guest.domain_xml("g1", "/d/g1.qcow2", "/img", "hvgbr6", mac="52:54:00:06:00:01",
                                             seed_path="/d/seed.iso"))
    assert root.get("type") == "qemu"
    assert root.findtext("os/kernel") == "/img/vmlinux" and root.findtext("os/cmdline") == os_guest.KERNEL_CMDLINE
    assert root.find("features/tcg/tb-cache").text == "64"
    assert root.find("devices/disk[@device='cdrom']/source").get("file") == "/d/seed.iso"
    assert root.find("devices/channel/target").get("name") == "org.qemu.guest_agent.0"
    assert os_guest.guest_mac(os_guest.domain_xml("g1", "/d", "/img", "br", mac="52:54:00:06:00:01")) == "52:54:00:06:00:01"


def test_parse_id():
    assert os_guest.parse_id("hostname=a\nboot_id=b-c\nmachine_id=\n") == {"hostname": "a", "boot_id": "b-c", "machine_id": ""}
    assert os_guest.parse_id(None) == {}
