# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers of the fresh hosts that boot systemd (tests/lab/systemd_host.py)."""

from __future__ import annotations

import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lab"))

import fresh_host  # noqa: E402
import systemd_host  # noqa: E402
from lab import LabError  # noqa: E402


def test_cache_name_is_the_base_name_and_what_was_added():
    base = fresh_host.cache_name()
    name = systemd_host.systemd_cache_name(base)
    assert name.startswith(base[:-len(".tar")] + "-systemd-") and name.endswith(".tar")
    assert systemd_host.systemd_cache_name(base, ("systemd", "dbus", "systemd-sysv")) == name
    assert systemd_host.systemd_cache_name(base, ("systemd", "dbus")) != name
    assert systemd_host.systemd_cache_name(fresh_host.cache_name(suite="trixie")) != name


def test_machine_names_differ_between_instances_host_names_do_not():
    assert systemd_host.machine_name(236, "fresh1") == "hotiron-236-fresh1"
    assert systemd_host.machine_name(236, "fresh1") != systemd_host.machine_name(237, "fresh1")


def test_nspawn_boots_without_machined_and_binds_what_it_is_given():
    cmd = systemd_host.nspawn_command("/s/root", "hotiron-236-fresh1", "fresh1",
                                      [("/s/lockspace", "/s/lockspace"), ("/s/dev-kvm", "/dev/kvm")])
    assert cmd[0] == "systemd-nspawn"
    assert cmd[cmd.index("-D") + 1] == "/s/root"
    assert cmd[cmd.index("-M") + 1] == "hotiron-236-fresh1"
    for flag in ("-b", "--register=no", "--keep-unit", "--console=pipe", "--hostname=fresh1",
                 "--link-journal=no", "--bind=/s/lockspace", "--bind=/s/dev-kvm:/dev/kvm"):
        assert flag in cmd
    # Never a network of its own (it shares the machine's, as every lab host does) nor
    # capabilities beyond nspawn's default set.
    assert not [arg for arg in cmd if arg.startswith(("--network", "--private-network", "--capability"))]


HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
36 31 0:33 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
"""
UNIFIED = """\
25 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
"""


@pytest.mark.parametrize("mountinfo,roots", [
    (HYBRID, ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"]),
    (UNIFIED, ["/sys/fs/cgroup"]),
    ("27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n", []),
])
def test_cgroup_roots_are_the_hierarchies_systemd_writes(mountinfo, roots):
    assert systemd_host.cgroup_roots(mountinfo) == roots


STATUS = "Name:\tsystemd\nState:\tS (sleeping)\nPPid:\t9935\nNSpid:\t9938\t1\nCapBnd:\t00000000fcecafff\n"


def test_status_fields():
    assert systemd_host.status_field(STATUS, "NSpid") == ["9938", "1"]
    assert systemd_host.status_field(STATUS, "PPid") == ["9935"]
    assert systemd_host.status_field(STATUS, "Nope") == []


def test_init_is_the_child_of_nspawn_that_is_pid_1_of_its_own_namespace():
    candidates = {
        9936: (9935, ["9936"]),              # nspawn's outer child: same PID namespace
        9938: (9935, ["9938", "1"]),         # the container's init
        9950: (9938, ["9950", "12"]),        # a process inside
        9999: (1, ["9999", "1"]),            # another container's init, not ours
    }
    assert systemd_host.init_of(candidates, 9935) == 9938
    assert systemd_host.init_of({9936: (9935, ["9936"])}, 9935) is None


def test_poweroff_is_systemds_signal():
    assert systemd_host.POWEROFF == signal.SIGRTMIN + 4


def test_an_instance_is_one_kind_of_host(tmp_path, monkeypatch):
    monkeypatch.setattr(fresh_host, "ROOT_DIR", str(tmp_path))
    instance = fresh_host.FreshInstance(239)
    assert instance.init == "sysv" and instance.host_class() is fresh_host.FreshHost
    with pytest.raises(LabError):
        instance.up(1, init="upstart")
    os.makedirs(instance.state_dir)
    with open(instance.state_file, "w", encoding="utf-8") as handle:
        handle.write('{"hosts": 2, "init": "systemd"}\n')
    hosts = fresh_host.FreshInstance(239).hosts
    assert [type(h) for h in hosts] == [systemd_host.SystemdHost] * 2
    assert [(h.name, h.address, h.machine) for h in hosts] == [
        ("fresh1", "127.77.239.1", "hotiron-239-fresh1"), ("fresh2", "127.77.239.2", "hotiron-239-fresh2")]
    assert hosts[1].cgroup_rel == "hotiron-lab/fresh-239/fresh2"
    assert hosts[0].keeper_pid() is None and not hosts[0].is_up()
