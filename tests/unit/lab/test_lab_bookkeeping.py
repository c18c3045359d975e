# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's bookkeeping (tests/lab/lab.py): addresses, ports, inventory, state discovery.
Nothing here starts a host; tests/integration/test_lab.py does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lab"))

import lab as labmod  # noqa: E402


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setattr(labmod, "ROOT_DIR", str(tmp_path))
    return tmp_path


def make_lab(root, lab_id, hosts, virt_type="kvm"):
    lab = labmod.Lab(lab_id)
    os.makedirs(lab.state_dir)
    with open(lab.state_file, "w", encoding="utf-8") as handle:
        json.dump({"hosts": hosts, "virt_type": virt_type, "virt_reason": "test"}, handle)
    return lab


def test_addresses_and_uris(root):
    lab = make_lab(root, 7, 3)
    assert [(h.name, h.address, h.uri) for h in lab.hosts] == [
        ("hv1", "127.77.7.1", "qemu+tcp://127.77.7.1/system"),
        ("hv2", "127.77.7.2", "qemu+tcp://127.77.7.2/system"),
        ("hv3", "127.77.7.3", "qemu+tcp://127.77.7.3/system"),
    ]
    assert lab.state_dir == os.path.join(str(root), "7")
    assert lab.shared_dir == os.path.join(str(root), "7", "shared")
    assert lab.inventory_path == os.path.join(str(root), "7", "inventory.yml")
    assert lab.virt_type == "kvm"


def test_lab_id_comes_from_the_environment(root, monkeypatch):
    monkeypatch.setenv("LAB_ID", "12")
    assert labmod.Lab().lab_id == 12
    monkeypatch.delenv("LAB_ID")
    assert labmod.Lab().lab_id == 0


@pytest.mark.parametrize("bad", [-1, 256])
def test_lab_id_must_fit_an_address_byte(root, bad):
    with pytest.raises(labmod.LabError):
        labmod.Lab(bad)


def test_host_uuids_are_distinct_and_stable(root):
    uuids = {h.host_uuid for lab_id in range(4) for h in make_lab(root, lab_id, 5).hosts}
    assert len(uuids) == 20
    # a revived host (a new Host object) keeps its UUID, as a real machine does
    assert labmod.Host(labmod.Lab(9), 3).host_uuid == make_lab(root, 9, 3).hosts[2].host_uuid


def test_migration_port_ranges_do_not_overlap(root):
    taken = {}
    for lab_id in range(31):
        for host in make_lab(root, lab_id, labmod.MAX_HOSTS).hosts:
            low, high = host.migration_ports
            assert high - low == 15 and 49152 <= low and high <= 65535
            for port in range(low, high + 1):
                assert port not in taken, (host, taken.get(port))
                taken[port] = host


def test_hosts_are_found_from_their_directories_without_lab_json(root):
    lab = make_lab(root, 3, 2)
    os.makedirs(os.path.join(lab.state_dir, "hosts", "hv4"))
    os.unlink(lab.state_file)
    assert [h.name for h in lab.hosts] == ["hv1", "hv2", "hv3", "hv4"]


def test_a_host_with_no_keeper_is_down(root):
    lab = make_lab(root, 3, 1)
    host = lab.hosts[0]
    assert host.keeper_pid() is None
    os.makedirs(host.state_dir)
    # a runtime file naming a live process that is not our keeper (this test) is ignored
    with open(host.runtime_file, "w", encoding="utf-8") as handle:
        json.dump({"pid": os.getpid(), "mnt": labmod.ns_id("self", "mnt"),
                   "uts": labmod.ns_id("self", "uts")}, handle)
    assert host.keeper_pid() is None
    assert not host.is_up()
    with pytest.raises(labmod.LabError):
        host.run(["true"])


def test_unknown_host_is_an_error(root):
    with pytest.raises(labmod.LabError, match="hv9"):
        make_lab(root, 3, 2).host("hv9")


def test_inventory(root):
    lab = make_lab(root, 5, 2, virt_type="qemu")
    inventory = yaml.safe_load(open(lab.write_inventory(), encoding="utf-8"))
    hosts = inventory["all"]["children"]["lab"]["hosts"]
    assert list(hosts) == ["hv1", "hv2"]
    hv2 = hosts["hv2"]
    assert hv2["ansible_host"] == hv2["lab_address"] == "127.77.5.2"
    assert hv2["ansible_user"] == "root"
    assert hv2["ansible_ssh_private_key_file"] == lab.key_file
    assert "StrictHostKeyChecking=no" in hv2["ansible_ssh_common_args"]
    assert "UserKnownHostsFile=/dev/null" in hv2["ansible_ssh_common_args"]
    assert hv2["ansible_python_interpreter"] == "/usr/bin/python3"
    assert hv2["libvirt_uri"] == "qemu+tcp://127.77.5.2/system"
    assert hv2["lab_virt_type"] == "qemu"
    assert hv2["lab_shared_path"] == "/srv/hotiron/shared"


@pytest.mark.parametrize("value,expected", [("qemu", "qemu"), ("xen", labmod.LabError)])
def test_virt_type_override(monkeypatch, value, expected):
    monkeypatch.setenv("LAB_VIRT_TYPE", value)
    if expected is labmod.LabError:
        with pytest.raises(labmod.LabError):
            labmod.choose_virt_type()
    else:
        assert labmod.choose_virt_type()[0] == expected


def test_kvm_probe_without_device(monkeypatch):
    monkeypatch.setattr(labmod.os.path, "exists", lambda path: False)
    assert labmod.probe_kvm()[0] == "qemu"


def test_wait_for_times_out():
    clock = iter(range(0, 1000, 10))
    with pytest.raises(labmod.LabError, match="the moon"):
        labmod.wait_for("the moon", lambda: next(clock) > 10 ** 6, timeout=0.05, interval=0.01)


def test_wait_for_returns_the_value():
    values = iter([None, 0, "ready"])
    assert labmod.wait_for("x", lambda: next(values), timeout=5, interval=0) == "ready"


def test_a_process_has_exited_only_when_every_thread_has():
    # A two-threaded process of this test's own, killed by its pid and reaped only at the end.
    proc = subprocess.Popen([sys.executable, "-c", (
        "import sys, threading\n"
        "threading.Thread(target=threading.Event().wait).start()\n"
        "print(len(threading.enumerate()), flush=True)\n"
        "sys.stdin.read()\n")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "2\n"
        started = labmod.start_time(proc.pid)
        assert started is not None and len(os.listdir(f"/proc/{proc.pid}/task")) == 2
        assert not labmod.has_exited(proc.pid, started)
        assert labmod.has_exited(proc.pid, str(int(started) + 1))    # the pid is not that one's
        os.kill(proc.pid, signal.SIGKILL)
        labmod.wait_for("every thread to exit", lambda: labmod.has_exited(proc.pid, started), 10)
        assert labmod.stat_fields(f"/proc/{proc.pid}/stat")[0] == "Z"   # a zombie: exited
    finally:
        proc.kill()
        proc.wait()
    assert labmod.start_time(proc.pid) is None and labmod.has_exited(proc.pid, started)
