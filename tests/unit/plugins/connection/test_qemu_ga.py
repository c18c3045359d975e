# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hotiron.virt.qemu_ga connection plugin.

As Ansible drives it (exec_command with a shell line and stdin, put_file, fetch_file), over an
agent that runs real processes on real files (tests/unit/fakes.GuestAgent); and run by the
``ansible`` command against libvirt's test driver, whose refusals must reach the user as clear
UNREACHABLE messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.playbook.play_context import PlayContext
from fakes import GuestAgent

from ansible_collections.hotiron.virt.plugins.connection import qemu_ga
from ansible_collections.hotiron.virt.plugins.module_utils.agent import agent_ops

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
HV_A = "test://" + os.path.join(ROOT, "tests", "data", "inventory", "hv-a.xml")
BIN = os.path.dirname(sys.executable)
DOC = yaml.safe_load(qemu_ga.DOCUMENTATION)


def connection(monkeypatch, fake, **options):
    """The plugin with its documented defaults and ``options``, its agent ``fake``."""
    opened = []

    def open_agent(uri, name, timeout):
        opened.append((uri, name, timeout))
        return agent_ops.Agent(fake.send, "vm %s on %s" % (name, uri), timeout, sleep=lambda s: None), lambda: None

    monkeypatch.setattr(agent_ops, "open_agent", open_agent)
    conn = qemu_ga.Connection(PlayContext(), None)
    conn._options = {k: v.get("default") for k, v in DOC["options"].items()}
    conn._options.update(pipelining=False, domain="web1", **options)
    return conn, opened


def test_documented_options():
    assert DOC["name"] == "qemu_ga" and DOC["version_added"] == "0.2.0"
    assert {"uri", "domain", "agent_timeout", "exec_timeout", "chunk_size", "executable"} <= set(DOC["options"])
    # the VM's own name variable wins over the inventory name (listed last: Ansible takes the last set)
    assert [v["name"] for v in DOC["options"]["domain"]["vars"]][-1] == "hotiron_qemu_ga_domain"


def test_a_shell_line_with_stdin_runs_in_the_guest(monkeypatch):
    conn, opened = connection(monkeypatch, GuestAgent(), uri="qemu+tcp://hv1/system", agent_timeout=7)
    rc, out, err = conn.exec_command("read x; echo \"got $x\" | tr a-z A-Z; echo warn >&2; exit 2", in_data=b"ab\n")
    assert (rc, out, err) == (2, b"GOT AB\n", b"warn\n")
    assert opened == [("qemu+tcp://hv1/system", "web1", 7)]
    conn.exec_command("true")
    assert len(opened) == 1          # one connection for the play's tasks
    assert conn.has_pipelining and not conn.allow_executable


def test_put_and_fetch_files(monkeypatch, tmp_path):
    fake = GuestAgent()
    conn, _opened = connection(monkeypatch, fake, chunk_size=4096)
    data = os.urandom(10000)
    (tmp_path / "src").write_bytes(data)
    conn.put_file(str(tmp_path / "src"), str(tmp_path / "guest"))
    conn.fetch_file(str(tmp_path / "guest"), str(tmp_path / "back"))
    assert (tmp_path / "back").read_bytes() == data
    assert sum(r["execute"] == "guest-file-read" for r in fake.sent) == 3
    with pytest.raises(AnsibleFileNotFound, match="file or module does not exist"):
        conn.put_file(str(tmp_path / "none"), str(tmp_path / "x"))
    with pytest.raises(AnsibleFileNotFound, match="guest-file-open failed.*No such file"):
        conn.fetch_file(str(tmp_path / "none"), str(tmp_path / "x"))


def test_a_frozen_guest_fails_the_task_not_the_connection(monkeypatch):
    fake = GuestAgent()
    conn, _opened = connection(monkeypatch, fake)
    conn.exec_command("true")
    fake.frozen = True
    with pytest.raises(AnsibleError, match="hotiron.virt.qemu_ga: run 'true': vm web1 on .*frozen state") as raised:
        conn.exec_command("true")
    assert not isinstance(raised.value, AnsibleConnectionFailure)


def test_a_blocked_guest_exec_is_a_connection_failure(monkeypatch):
    conn, _opened = connection(monkeypatch, GuestAgent(blocked={"guest-exec", "guest-file-write"}))
    with pytest.raises(AnsibleConnectionFailure, match="does not offer guest-exec, guest-file-write"):
        conn.exec_command("true")


@pytest.mark.parametrize("option, value", [("agent_timeout", 0), ("agent_timeout", 601), ("exec_timeout", -1),
                                           ("chunk_size", 100), ("chunk_size", 2 * 1024 * 1024)])
def test_option_ranges(monkeypatch, option, value):
    conn, _opened = connection(monkeypatch, GuestAgent(), **{option: value})
    with pytest.raises(AnsibleError, match="%s must be from" % option):
        conn.exec_command("true")
        conn.put_file(__file__, "/dev/null")


def ansible(tmp_path, host, *extra):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"web1": {}, "db1": {}, "other": {"hotiron_qemu_ga_domain": "batch1"}},
                                             "vars": {"ansible_connection": "hotiron.virt.qemu_ga",
                                                      "ansible_libvirt_uri": HV_A, "ansible_python_interpreter": "/usr/bin/python3"}}}))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "src"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="False", ANSIBLE_LOCAL_TEMP=str(tmp_path))
    proc = subprocess.run([os.path.join(BIN, "ansible"), host, "-i", str(inventory), "-m", "ansible.builtin.ping"] + list(extra),
                          capture_output=True, text=True, env=env, check=False, timeout=120)
    return proc.stdout + proc.stderr


@pytest.mark.parametrize("host, words", [
    ("web1", "UNREACHABLE.*hotiron.virt.qemu_ga: vm web1 on test://.*guest-info failed: this function is not supported"),
    ("db1", "UNREACHABLE.*hotiron.virt.qemu_ga: vm db1 on test://.* is shutoff: the guest agent answers only in a running vm"),
    ("other", "UNREACHABLE.*vm batch1 on test://.* is paused"),
])
def test_ansible_reports_why_a_vm_cannot_be_reached(tmp_path, host, words):
    import re
    output = ansible(tmp_path, host)
    assert re.search(words, output, re.S), output
    assert output.count("guest agent") <= 2, output     # said once (and once in the UNREACHABLE line)
