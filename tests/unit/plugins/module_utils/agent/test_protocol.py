# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guest agent's protocol as data: requests, replies, exec status, chunks."""

from __future__ import annotations

import base64
import io
import itertools
import json

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.agent import protocol


def test_request_names_arguments_as_the_agent_does():
    assert json.loads(protocol.request("guest-exec", path="/bin/sh", capture_output=True, input_data=None)) == {
        "execute": "guest-exec", "arguments": {"path": "/bin/sh", "capture-output": True}}
    assert json.loads(protocol.request("guest-info")) == {"execute": "guest-info"}


def test_exec_request_captures_output_and_passes_stdin_as_base64():
    sent = json.loads(protocol.exec_request(["/bin/sh", "-c", "cat"], stdin=b"\x00data", env={"B": "2", "A": "1"}))
    assert sent["arguments"] == {"path": "/bin/sh", "arg": ["-c", "cat"], "capture-output": True,
                                 "input-data": base64.b64encode(b"\x00data").decode(), "env": ["A=1", "B=2"]}
    assert "input-data" not in json.loads(protocol.exec_request(["true"]))["arguments"]


@pytest.mark.parametrize("argv", [[], None, ["/bin/sh", 3]])
def test_exec_request_refuses_what_is_not_an_argv(argv):
    with pytest.raises(ValueError):
        protocol.exec_request(argv)


def test_shell_argv_keeps_the_command_line_whole_and_sets_home(tmp_path):
    import subprocess
    line = "echo 'a b' > %s/x && cat %s/x; echo ~" % (tmp_path, tmp_path)
    argv = protocol.shell_argv("/bin/sh", line)
    assert argv[:2] == ["/bin/sh", "-c"] and argv[2].endswith(line)
    assert subprocess.run(argv, capture_output=True, check=True, env={"PATH": "/usr/bin:/bin"}).stdout == b"a b\n/root\n"
    assert subprocess.run(argv, capture_output=True, check=True, env={"PATH": "/usr/bin:/bin", "HOME": "/home/x"}).stdout \
        == b"a b\n/home/x\n"
    assert protocol.shell_argv(None, "true")[0] == "/bin/sh"


@pytest.mark.parametrize("status, expected", [
    ({"exited": False}, None),
    ({"exited": True, "exitcode": 0, "out-data": base64.b64encode(b"hi\n").decode()}, (0, b"hi\n", b"", [])),
    ({"exited": True, "exitcode": 3, "err-data": base64.b64encode(b"bad").decode()}, (3, b"", b"bad", [])),
    ({"exited": True, "signal": 9}, (137, b"", b"", [])),
    ({"exited": True}, (-1, b"", b"", [])),
    ({"exited": True, "exitcode": 0, "out-truncated": True, "err-truncated": True}, (0, b"", b"", ["out", "err"])),
])
def test_exec_status(status, expected):
    assert protocol.exec_status(status) == expected


@pytest.mark.parametrize("status", [None, {}, {"exitcode": 0}, {"exited": True, "out-data": "not base64!"}])
def test_exec_status_refuses_replies_outside_the_protocol(status):
    with pytest.raises(protocol.ProtocolError):
        protocol.exec_status(status)


@pytest.mark.parametrize("value", [None, {}, {"pid": "12"}])
def test_exec_pid_needs_a_pid(value):
    with pytest.raises(protocol.ProtocolError):
        protocol.exec_pid(value)


def test_reply_reads_return_and_refuses_the_rest():
    assert protocol.reply('{"return": {"pid": 5}}', "guest-exec") == {"pid": 5}
    for text in ("nope", '{"error": {}}', "[]", None):
        with pytest.raises(protocol.ProtocolError, match="guest-exec"):
            protocol.reply(text, "guest-exec")


def test_poll_intervals_grow_to_a_ceiling():
    assert list(itertools.islice(protocol.poll_intervals(0.01, 2, 0.05), 5)) == [0.01, 0.02, 0.04, 0.05, 0.05]


@pytest.mark.parametrize("size, data", [(4096, b""), (4096, b"x" * 4096), (4096, bytes(range(256)) * 40), (8192, b"y" * 20000)])
def test_chunks_cover_the_file_in_order(size, data):
    pieces = list(protocol.chunks(io.BytesIO(data), size))
    assert b"".join(pieces) == data
    assert all(0 < len(p) <= size for p in pieces)
    assert len(pieces) == -(-len(data) // size)


@pytest.mark.parametrize("size", [0, 4095, 1024 * 1024 + 1])
def test_chunk_size_is_bounded(size):
    with pytest.raises(ValueError, match="chunk_size"):
        list(protocol.chunks(io.BytesIO(b"x"), size))
    with pytest.raises(ValueError, match="chunk_size"):
        protocol.read_request(1, size)


def test_file_requests_and_replies():
    assert json.loads(protocol.open_request("/tmp/a", "wb"))["arguments"] == {"path": "/tmp/a", "mode": "wb"}
    assert json.loads(protocol.write_request(7, b"\xff"))["arguments"] == {"handle": 7, "buf-b64": "/w=="}
    assert json.loads(protocol.read_request(7, 4096))["arguments"] == {"handle": 7, "count": 4096}
    assert json.loads(protocol.close_request(7))["arguments"] == {"handle": 7}
    assert protocol.file_handle(1000) == 1000
    assert protocol.read_chunk({"count": 1, "buf-b64": "/w==", "eof": True}) == (b"\xff", True)
    assert protocol.read_chunk({"count": 0, "eof": True}) == (b"", True)
    assert protocol.written({"count": 3}, 3) == 3


@pytest.mark.parametrize("call", [
    lambda: protocol.file_handle(True), lambda: protocol.file_handle({"handle": 1}),
    lambda: protocol.read_chunk({"buf-b64": ""}), lambda: protocol.written({"count": 2}, 3),
    lambda: protocol.written(None, 3),
])
def test_file_replies_outside_the_protocol(call):
    with pytest.raises(protocol.ProtocolError):
        call()


def test_missing_commands():
    offered = {"supported_commands": [{"name": c, "enabled": True} for c in protocol.REQUIRED_COMMANDS]}
    assert protocol.missing_commands(offered) == []
    offered["supported_commands"][0]["enabled"] = False
    del offered["supported_commands"][-1]
    assert protocol.missing_commands(offered) == ["guest-exec", "guest-file-close"]
    assert protocol.missing_commands(None) == list(protocol.REQUIRED_COMMANDS)


def test_stdin_file_argv_runs_the_line_intact(tmp_path):
    import subprocess
    data = tmp_path / "stdin"
    data.write_bytes(b"abc")
    line = "read x; echo \"[$x]\" 'q u o t e d' > /dev/stdout"
    argv = protocol.stdin_file_argv("/bin/sh", line, str(data))
    assert subprocess.run(argv, capture_output=True, check=True).stdout == b"[abc] q u o t e d\n"
    assert not data.exists()
