# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bookkeeping of the lab's BMCs (tests/lab/bmc.py): addresses, ports, files, credentials,
fence variables in the inventory, pidfiles.  No BMC listens here;
tests/integration/test_lab_fencing.py drives real ones with fence_ipmilan."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lab"))

import bmc  # noqa: E402
import lab as labmod  # noqa: E402


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setattr(labmod, "ROOT_DIR", str(tmp_path))
    return tmp_path


def make_lab(lab_id, hosts):
    lab = labmod.Lab(lab_id)
    os.makedirs(lab.state_dir)
    with open(lab.state_file, "w", encoding="utf-8") as handle:
        json.dump({"hosts": hosts, "virt_type": "qemu", "virt_reason": "test"}, handle)
    return lab


def test_each_bmc_listens_on_its_hosts_address_at_the_ipmi_port(root):
    seen = set()
    for lab_id in (0, 3, 255):
        for host in make_lab(lab_id, labmod.MAX_HOSTS).hosts:
            board = host.bmc
            assert (board.address, board.port) == (host.address, 623)
            assert (board.address, board.port) not in seen
            seen.add((board.address, board.port))
    assert len(seen) == 3 * labmod.MAX_HOSTS


def test_bmc_files_are_the_labs_not_the_hosts(root):
    lab = make_lab(3, 2)
    board = lab.host("hv2").bmc
    assert board.pid_file == os.path.join(lab.state_dir, "bmc", "hv2.pid")
    assert board.log_file == os.path.join(lab.state_dir, "bmc", "hv2.log")
    assert board.credentials_file == os.path.join(lab.state_dir, "bmc", "hv2.json")
    # A separate board: nothing of it in the host's own directory (a power cut's realm).
    assert not board.pid_file.startswith(lab.host("hv2").state_dir)
    assert board.marker == "3/hv2"
    assert board.env()["HOTIRON_LAB_HOST"] == "3/hv2/bmc"
    # Lab.leftovers() looks for HOTIRON_LAB_HOST=<id>/ in every process's environment.
    assert board.env()["HOTIRON_LAB_HOST"].startswith("3/")


def test_credentials_are_made_once_private_and_fit_ipmi(root):
    lab = make_lab(3, 2)
    first = lab.host("hv1").bmc.credentials()
    assert stat.S_IMODE(os.stat(lab.host("hv1").bmc.credentials_file).st_mode) == 0o600
    assert len(first["username"].encode()) <= 16 and len(first["password"].encode()) <= 20
    assert len(first["password"]) >= 16
    assert labmod.Lab(3).host("hv1").bmc.credentials() == first      # kept, not remade
    assert lab.host("hv2").bmc.credentials()["password"] != first["password"]
    assert bmc.HostBmc(labmod.Host(labmod.Lab(3), 1)).uuid == lab.host("hv1").bmc.uuid
    assert lab.host("hv2").bmc.uuid != lab.host("hv1").bmc.uuid


def test_inventory_has_the_fence_variables_and_is_private(root):
    lab = make_lab(5, 2)
    path = lab.write_inventory()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path, encoding="utf-8") as handle:
        hosts = yaml.safe_load(handle)["all"]["children"]["lab"]["hosts"]
    for name, address in (("hv1", "127.77.5.1"), ("hv2", "127.77.5.2")):
        creds = lab.host(name).bmc.credentials()
        assert hosts[name]["hotiron_fence"] == {
            "agent": "fence_ipmilan", "ip": address, "ipport": 623,
            "username": creds["username"], "password": creds["password"], "lanplus": True}
    assert hosts["hv1"]["libvirt_uri"] == "qemu+tcp://127.77.5.1/system"   # the rest unchanged


def test_a_pidfile_naming_another_process_is_not_a_bmc(root):
    board = make_lab(3, 1).host("hv1").bmc
    assert board.pid() is None                       # no pidfile
    os.makedirs(board.dir)
    for content in ("garbage\n", f"{os.getpid()}\n"):  # this test's process is no BMC
        with open(board.pid_file, "w", encoding="utf-8") as handle:
            handle.write(content)
        assert board.pid() is None and not board.is_running()
    assert board.stop() is False                     # nothing signalled, stale pidfile gone
    assert not os.path.exists(board.pid_file)


def test_stop_ends_the_bmc_process_by_its_pid(root):
    board = make_lab(3, 1).host("hv1").bmc
    os.makedirs(board.dir)
    # A stand-in with a BMC's command line (`... _bmc 3/hv1`), started by this test.
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()", "_bmc", "3/hv1"],
                            stdin=subprocess.PIPE)
    try:
        with open(board.pid_file, "w", encoding="utf-8") as handle:
            handle.write(f"{proc.pid}\n")
        # (until the child has exec'd, its command line is still this process's)
        labmod.wait_for("the stand-in to start", lambda: board.pid() == proc.pid, 10)
        assert board.stop() is True                  # returns once it is a zombie
        assert proc.wait(10) == -signal.SIGTERM
        assert not os.path.exists(board.pid_file)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_channel_auth_request_is_well_formed_ipmi():
    packet = bmc.channel_auth_request()
    assert packet[:4] == b"\x06\x00\xff\x07"          # RMCP v1.0, no ack, class IPMI
    assert packet[4] == 0 and packet[13] == len(packet) - 14    # auth none, message length
    message = packet[14:]
    assert sum(message[:3]) % 256 == 0 and sum(message[3:]) % 256 == 0   # both checksums
    assert message[1] >> 2 == 0x06 and message[5] == 0x38       # netFn App, Get Chan Auth Cap
    assert message[6] == 0x8E                                   # IPMI 2.0 data, this channel
    # What pyghmi's IpmiServer.sessionless_data checks before it answers.
    assert len(packet) >= 22 and packet[19] == 0x38 and packet[20] & 0x80 and packet[20] & 0xF == 0xE


def test_channel_auth_reply_recognised():
    # As pyghmi's send_auth_cap frames it: session header, IPMI header, cmd 0x38, code, data.
    reply = bytearray(b"\x06\x00\xff\x07\x00" + bytes(8) + b"\x10")
    reply += bytes([0x81, 0x1C, 0x63, 0x20, 0x00, 0x38, 0x00, 0x01, 0x80, 0x04, 0x02, 0, 0, 0, 0, 0x00])
    assert bmc.is_channel_auth_reply(bytes(reply))
    reply[20] = 0xC1                                   # a completion code other than 0
    assert not bmc.is_channel_auth_reply(bytes(reply))
    assert not bmc.is_channel_auth_reply(b"\x06\x00\xff\x07")


def test_nothing_answers_where_no_bmc_listens():
    assert bmc.ipmi_ping("127.0.0.1", 9, timeout=0.2) is False      # UDP discard port: refused


def test_the_bmc_python_can_import_pyghmi():
    python = bmc.bmc_python()
    assert subprocess.run([python, "-c", "import pyghmi.ipmi.bmc"], check=False).returncode == 0
