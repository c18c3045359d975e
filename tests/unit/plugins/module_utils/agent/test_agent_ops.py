# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Talking to a guest agent: commands and files through an agent that runs real processes on
real files (tests/unit/fakes.GuestAgent), and the refusals of libvirt's test driver (a VM
missing, shut off, paused; a driver without agent commands; a host that does not answer)."""

from __future__ import annotations

import io
import os

import libvirt
import pytest
from fakes import GuestAgent, Ticks, agent_failure

from ansible_collections.hotiron.virt.plugins.module_utils.agent import agent_ops

DATA = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "inventory"))
HV_A = "test://" + os.path.join(DATA, "hv-a.xml")


@pytest.fixture
def guest():
    fake = GuestAgent()
    return fake, agent_ops.Agent(fake.send, "vm web1 on test:///", sleep=lambda s: None)


def test_run_captures_rc_output_and_stdin(guest):
    _fake, agent = guest
    assert agent.run(["/bin/sh", "-c", "cat; echo err >&2; exit 4"], stdin=b"in\x00put") == (4, b"in\x00put", b"err\n", [])
    assert agent.run(["/bin/sh", "-c", "kill -9 $$"])[0] == 137


def test_run_polls_until_the_process_exits():
    states = iter([{"exited": False}, {"exited": False}, {"exited": True, "exitcode": 0}])
    waits = []

    def send(text, timeout):
        return '{"return": {"pid": 42}}' if '"guest-exec"' in text else '{"return": %s}' % __import__("json").dumps(next(states))

    agent = agent_ops.Agent(send, "vm x", sleep=waits.append)
    assert agent.run(["true"]) == (0, b"", b"", [])
    assert waits == [0.01, 0.02]


def test_run_gives_up_after_exec_timeout():
    def send(text, timeout):
        return '{"return": {"pid": 42}}' if '"guest-exec"' in text else '{"return": {"exited": false}}'

    agent = agent_ops.Agent(send, "vm x", clock=Ticks(1.0), sleep=lambda s: None)
    with pytest.raises(agent_ops.ExecTimeout, match=r"vm x: command \['sleep', '9'\] still runs \(pid 42 in the guest\) after 5 s"):
        agent.run(["sleep", "9"], timeout=5)


def test_put_and_fetch_in_chunks(guest, tmp_path):
    fake, agent = guest
    data = os.urandom(3 * 4096 + 17)
    target = tmp_path / "in-guest"
    assert agent.put(io.BytesIO(data), str(target), chunk_size=4096) == len(data)
    assert target.read_bytes() == data
    writes = [r for r in fake.sent if r["execute"] == "guest-file-write"]
    assert len(writes) == 4
    back = io.BytesIO()
    assert agent.fetch(str(target), back, chunk_size=4096) == len(data)
    assert back.getvalue() == data
    assert not fake.files       # every handle closed
    empty = tmp_path / "empty"
    agent.put(io.BytesIO(b""), str(empty))
    assert empty.read_bytes() == b""


def test_fetch_of_a_missing_file(guest, tmp_path):
    _fake, agent = guest
    with pytest.raises(agent_ops.GuestFileNotFound, match="vm web1 on test:///: guest-file-open failed: .*No such file"):
        agent.fetch(str(tmp_path / "none"), io.BytesIO())


def test_frozen_guest_refuses_exec_with_the_agents_words(guest):
    fake, agent = guest
    fake.frozen = True
    with pytest.raises(agent_ops.AgentError, match="frozen state") as raised:
        agent.run(["true"])
    assert not isinstance(raised.value, agent_ops.AgentUnreachable)


def test_blocked_commands_are_named():
    agent = agent_ops.Agent(GuestAgent(blocked={"guest-exec"}).send, "vm web1")
    with pytest.raises(agent_ops.AgentUnreachable, match="vm web1: its guest agent does not offer guest-exec"):
        agent.check_commands()


@pytest.mark.parametrize("code, message, words", [
    ("VIR_ERR_AGENT_UNRESPONSIVE", "Guest agent is not responding: QEMU guest agent is not connected",
     "is qemu-guest-agent installed and running in the guest"),
    ("VIR_ERR_ARGUMENT_UNSUPPORTED", "argument unsupported: QEMU guest agent is not configured",
     "the vm has no guest agent channel"),
    ("VIR_ERR_OPERATION_INVALID", "Requested operation is not valid: domain is not running", "domain is not running"),
])
def test_an_agent_out_of_reach(code, message, words):
    def send(text, timeout):
        raise agent_failure(getattr(libvirt, code), message)

    with pytest.raises(agent_ops.AgentUnreachable, match="vm web1: guest-info failed: .*" + words):
        agent_ops.Agent(send, "vm web1").info()


@pytest.mark.parametrize("name, words", [
    ("nope", "no vm nope on test://"), ("db1", "vm db1 on .* is shutoff: the guest agent answers only in a running vm"),
    ("batch1", "is paused"),
])
def test_open_agent_names_why_not(name, words):
    with pytest.raises(agent_ops.AgentUnreachable, match=words):
        agent_ops.open_agent(HV_A, name)


def test_open_agent_on_a_driver_without_agent_commands():
    agent, close = agent_ops.open_agent(HV_A, "web1")
    try:
        with pytest.raises(agent_ops.AgentUnreachable, match="not supported by the connection driver.*only libvirt's QEMU driver"):
            agent.check_commands()
    finally:
        close()


def test_open_agent_on_a_host_that_does_not_answer():
    with pytest.raises(agent_ops.AgentUnreachable, match="Failed to connect to libvirt at qemu\\+tcp://127.0.0.1:1/system"):
        agent_ops.open_agent("qemu+tcp://127.0.0.1:1/system", "web1")


def test_facts_without_an_agent_are_none(open_host):
    conn = open_host(HV_A)
    assert agent_ops.facts(conn.lookupByName("web1")) is None


def test_a_reply_outside_the_protocol_is_an_agent_error_naming_the_vm():
    agent = agent_ops.Agent(lambda text, timeout: '{"return": {"no": "pid"}}', "vm web1")
    with pytest.raises(agent_ops.AgentError, match="vm web1: guest-exec returned no pid"):
        agent.run(["true"])
    with pytest.raises(agent_ops.AgentError, match="vm web1: guest-file-open returned no handle"):
        agent.fetch("/x", io.BytesIO(), chunk_size=1)


def test_requests_carrying_data_get_more_time(tmp_path):
    fake = GuestAgent()
    seen = []

    def send(text, timeout):
        seen.append((len(text), timeout))
        return fake.send(text, timeout)

    agent = agent_ops.Agent(send, "vm web1", timeout=30)
    agent.put(io.BytesIO(b"x" * 300000), str(tmp_path / "f"), chunk_size=300000)
    sizes = dict(seen)
    big = max(sizes)
    assert big > 400000 and sizes[big] == 30 + big // agent_ops.SLACK_BYTES_PER_S
    assert min(sizes.items())[1] == 30


def test_a_large_stdin_goes_through_a_guest_file(guest):
    fake, agent = guest
    data = os.urandom(20000)
    rc, out, _err, _t = agent.run_shell("/bin/sh", "wc -c; echo \"$0 $1\" >&2", stdin=data, chunk_size=4096)
    assert (rc, out) == (0, b"20000\n")
    path = [r for r in fake.sent if r["execute"] == "guest-file-open"][0]["arguments"]["path"]
    assert path.startswith("/tmp/.hotiron-qemu-ga-stdin-") and not os.path.exists(path)      # removed once read
    assert len([r for r in fake.sent if r["execute"] == "guest-file-write"]) == 5
    small = agent.run_shell("/bin/sh", "cat", stdin=b"small", chunk_size=4096)
    assert small[1] == b"small" and "input-data" in [r for r in fake.sent if r["execute"] == "guest-exec"][-1]["arguments"]
