# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers of the fresh Debian hosts (tests/lab/fresh_host.py)."""

from __future__ import annotations

import os
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lab"))

import fresh_host  # noqa: E402
from lab import LabError  # noqa: E402


@pytest.mark.parametrize("value", [230, "239", 235])
def test_fresh_ids_in_range(value):
    assert fresh_host.check_fresh_id(value) == int(value)


@pytest.mark.parametrize("value", [0, 229, 240, "192"])
def test_fresh_ids_outside_range_refused(value):
    with pytest.raises(LabError):
        fresh_host.check_fresh_id(value)


def test_host_address():
    assert fresh_host.host_address(231, 3) == "127.77.231.3"
    with pytest.raises(LabError):
        fresh_host.host_address(231, 0)
    with pytest.raises(LabError):
        fresh_host.host_address(231, fresh_host.MAX_HOSTS + 1)


def test_cache_name_follows_what_the_rootfs_is_made_of():
    base = fresh_host.cache_name()
    assert base.startswith("debian-bookworm-minbase-") and base.endswith(".tar")
    assert fresh_host.cache_name(include=("openssh-server", "python3")) == \
        fresh_host.cache_name(include=("python3", "openssh-server"))
    assert fresh_host.cache_name(include=("python3",)) != base
    assert fresh_host.cache_name(suite="trixie") != base
    assert fresh_host.cache_name(mirror="http://mirror.example/debian") != base


def test_packages_cache_name_follows_the_base_and_the_packages():
    base = fresh_host.cache_name()
    name = fresh_host.packages_cache_name(base, ["qemu-utils", "libvirt-clients"])
    assert name.startswith(base[:-len(".tar")] + "-pkgs-") and name.endswith(".tar")
    assert name == fresh_host.packages_cache_name(base, ("libvirt-clients", "qemu-utils"))
    assert name != fresh_host.packages_cache_name(base, ["qemu-utils"])
    assert name != fresh_host.packages_cache_name(fresh_host.cache_name(suite="trixie"), ["qemu-utils", "libvirt-clients"])


def test_debootstrap_command():
    cmd = fresh_host.debootstrap_command("/t/root", include=("python3", "openssh-server"))
    assert cmd == ["debootstrap", "--variant=minbase", "--include=openssh-server,python3",
                   "bookworm", "/t/root", "http://deb.debian.org/debian"]


def test_inventory_is_the_lab_group_with_the_lab_hostvars():
    text = fresh_host.inventory_text(230, [("fresh1", "127.77.230.1"), ("fresh2", "127.77.230.2")],
                                     "/var/tmp/hotiron-lab/fresh-230/id_ed25519", "kvm")
    data = yaml.safe_load(text)
    hosts = data["all"]["children"]["lab"]["hosts"]
    assert list(hosts) == ["fresh1", "fresh2"]
    assert hosts["fresh2"] == {
        "ansible_host": "127.77.230.2",
        "ansible_user": "root",
        "ansible_ssh_private_key_file": "/var/tmp/hotiron-lab/fresh-230/id_ed25519",
        "ansible_ssh_common_args": fresh_host.SSH_ARGS,
        "ansible_python_interpreter": "/usr/bin/python3",
        "libvirt_uri": "qemu+tcp://127.77.230.2/system",
        "lab_address": "127.77.230.2",
        "lab_virt_type": "kvm",
        "lab_init": "sysv",
    }
    systemd = yaml.safe_load(fresh_host.inventory_text(230, [("fresh1", "127.77.230.1")], "/k", "qemu", "systemd"))
    assert systemd["all"]["children"]["lab"]["hosts"]["fresh1"]["lab_init"] == "systemd"


def test_sshd_listens_only_on_the_host_address():
    text = fresh_host.sshd_config_text("fresh4", "127.77.232.4")
    listens = [line for line in text.splitlines() if line.startswith("ListenAddress")]
    assert listens == ["ListenAddress 127.77.232.4:22"]
    assert "PasswordAuthentication no" in text.splitlines()
    assert "PermitRootLogin prohibit-password" in text.splitlines()


MOUNTINFO = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw
91 22 0:44 / /var/tmp/hotiron-lab/fresh-230/fresh1/root/proc rw - proc proc rw
92 22 0:45 / /var/tmp/hotiron-lab/fresh-2300/x rw - tmpfs tmpfs rw
93 22 0:46 / /var/tmp/hotiron-lab/fresh-230 rw - tmpfs tmpfs rw
94 22 0:47 / /var/tmp/with\\040space rw - tmpfs tmpfs rw
"""


def test_mounts_under_a_path_and_not_beside_it():
    assert fresh_host.mounts_under(MOUNTINFO, "/var/tmp/hotiron-lab/fresh-230/") == [
        "/var/tmp/hotiron-lab/fresh-230/fresh1/root/proc", "/var/tmp/hotiron-lab/fresh-230"]
    assert fresh_host.mounts_under(MOUNTINFO, "/var/tmp/with space") == ["/var/tmp/with space"]
    assert fresh_host.mounts_under(MOUNTINFO, "/srv") == []


def test_host_pids_by_mount_or_uts_namespace():
    namespaces = {
        1: ("mnt:[1]", "uts:[1]"),           # the machine
        100: ("mnt:[9]", "uts:[8]"),         # keeper
        101: ("mnt:[9]", "uts:[8]"),         # sshd, libvirtd
        102: ("mnt:[77]", "uts:[8]"),        # QEMU: a mount namespace of its own
        103: ("mnt:[9]", "uts:[8]"),         # the caller itself (nsenter'd): never listed
        104: (None, None),                   # gone meanwhile
    }
    assert fresh_host.host_pids(namespaces, ("mnt:[9]", "uts:[8]"), 103) == [100, 101, 102]
    assert fresh_host.host_pids(namespaces, ("mnt:[5]", "uts:[5]"), 103) == []
