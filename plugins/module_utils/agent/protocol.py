# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The QEMU guest agent's protocol as data: requests to send and replies to read.

The ``hotiron.virt.qemu_ga`` connection plugin runs commands in a guest with ``guest-exec``
(output captured, stdin given as ``input-data``) and polls ``guest-exec-status`` until the
process exits; it moves files with ``guest-file-open``/``read``/``write``/``close`` in chunks of
base64.  :mod:`agent_ops` sends what is built here.  Pure: no libvirt, no Ansible, no I/O
beyond the file object handed to :func:`chunks`.
"""

from __future__ import annotations

import base64
import json

from ansible_collections.hotiron.virt.plugins.module_utils import errors

# What the connection plugin needs the agent to offer (``guest-info``'s supported_commands).
REQUIRED_COMMANDS = ("guest-exec", "guest-exec-status", "guest-file-open", "guest-file-read",
                     "guest-file-write", "guest-file-close")
# Data per request.  Measured on the lab (QEMU 7.2's agent in Debian 12, through libvirt 9.0): a
# 66 KB guest-exec was answered in 0.04 s, one of 266 KB never was (and the agent stayed stuck
# for the next command): 48 KiB of data, 64 KiB of base64, is the default.
MIN_CHUNK, MAX_CHUNK = 4096, 1024 * 1024
DEFAULT_CHUNK = 48 * 1024


class ProtocolError(errors.InputError):
    """A reply that is not what the agent's protocol promises, or a request that cannot be made
    (a bad argv, a chunk size out of range)."""


def request(command, **arguments):
    """The JSON text of one agent command; Python names (``capture_output``) become the
    protocol's (``capture-output``), None arguments are left out."""
    message = {"execute": command}
    args = {k.replace("_", "-"): v for k, v in arguments.items() if v is not None}
    if args:
        message["arguments"] = args
    return json.dumps(message, sort_keys=True)


def reply(text, command):
    """The ``return`` value of an agent reply (libvirt raises on ``error`` replies itself)."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        raise ProtocolError("the guest agent's reply to %s is not JSON: %.200r" % (command, text)) from None
    if not isinstance(value, dict) or "return" not in value:
        raise ProtocolError("the guest agent's reply to %s has no return value: %.200r" % (command, text))
    return value["return"]


def exec_request(argv, stdin=None, env=None):
    """``guest-exec`` of ``argv`` (a list: program, then its arguments; no shell added here)
    with stdout and stderr captured; ``stdin`` (bytes) is the process's input."""
    if not argv or not all(isinstance(a, str) for a in argv):
        raise ProtocolError("argv must be a non-empty list of strings, got %r" % (argv,))
    return request("guest-exec", path=argv[0], arg=list(argv[1:]), capture_output=True,
                   input_data=encode(stdin) if stdin else None,
                   env=["%s=%s" % kv for kv in sorted(env.items())] if env else None)


# The agent runs commands with its own environment, which has no HOME under systemd: dash then
# leaves ``~`` unexpanded, and Ansible's remote temporary directory became a directory named "~"
# (seen on the lab).  The agent runs as root on Linux.
HOME_DEFAULT = 'HOME="${HOME:-/root}"; export HOME; '


def shell_argv(executable, command):
    """The argv that runs the command line ``command`` with the shell ``executable`` (what
    Ansible hands a connection is a shell command line, quotes and redirections included), with
    HOME set when the agent has none."""
    return [executable or "/bin/sh", "-c", HOME_DEFAULT + command]


def stdin_file_argv(executable, command, path):
    """The argv that runs the command line ``command`` with its standard input read from the
    guest's file ``path``, removed as soon as it is open (stdin too large for one request)."""
    return [executable or "/bin/sh", "-c", HOME_DEFAULT + 'exec <"$0" && rm -f "$0" && eval "$1"', path, command]


def exec_pid(value):
    """The pid ``guest-exec`` returned."""
    if not isinstance(value, dict) or not isinstance(value.get("pid"), int):
        raise ProtocolError("guest-exec returned no pid: %.200r" % (value,))
    return value["pid"]


def exec_status(value):
    """``None`` while the process runs; once it exited, ``(rc, stdout, stderr, truncated)``.

    ``rc`` is the exit code, or 128 + the signal's number for a process killed by a signal (the
    shell's convention); ``truncated`` names the streams the agent cut (it keeps 16 MiB of each)."""
    if not isinstance(value, dict) or "exited" not in value:
        raise ProtocolError("guest-exec-status returned no exited flag: %.200r" % (value,))
    if not value["exited"]:
        return None
    if value.get("exitcode") is not None:
        rc = int(value["exitcode"])
    elif value.get("signal") is not None:
        rc = 128 + int(value["signal"])
    else:
        rc = -1     # exited without a code or a signal: the agent could not tell
    truncated = [name for name in ("out", "err") if value.get(name + "-truncated")]
    return rc, decode(value.get("out-data")), decode(value.get("err-data")), truncated


def poll_intervals(first=0.01, factor=2.0, longest=0.5):
    """Seconds to wait between ``guest-exec-status`` polls: short at first (most commands
    Ansible runs end within a few tens of milliseconds), growing to ``longest``."""
    wait = first
    while True:
        yield wait
        wait = min(longest, wait * factor)


def encode(data):
    return base64.b64encode(data).decode("ascii")


def decode(text):
    if not text:
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise ProtocolError("the guest agent sent data that is not base64: %.80r" % (text,)) from None


def check_chunk_size(size):
    if not MIN_CHUNK <= size <= MAX_CHUNK:
        raise ProtocolError("chunk_size must be from %d to %d bytes, got %d" % (MIN_CHUNK, MAX_CHUNK, size))
    return size


def chunks(handle, size):
    """The contents of the binary file object ``handle`` in pieces of at most ``size`` bytes
    (none for an empty file)."""
    check_chunk_size(size)
    while True:
        data = handle.read(size)
        if not data:
            return
        yield data


def open_request(path, mode):
    return request("guest-file-open", path=path, mode=mode)


def file_handle(value):
    """The handle ``guest-file-open`` returned."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError("guest-file-open returned no handle: %.200r" % (value,))
    return value


def write_request(handle, data):
    return request("guest-file-write", handle=handle, buf_b64=encode(data))


def written(value, expected):
    """The count of bytes ``guest-file-write`` reports; a short write is an error (the agent
    writes with fwrite, which writes everything or fails)."""
    count = value.get("count") if isinstance(value, dict) else None
    if count != expected:
        raise ProtocolError("guest-file-write wrote %r of %d bytes" % (count, expected))
    return count


def read_request(handle, size):
    return request("guest-file-read", handle=handle, count=check_chunk_size(size))


def read_chunk(value):
    """``(data, eof)`` from a ``guest-file-read`` reply."""
    if not isinstance(value, dict) or "eof" not in value:
        raise ProtocolError("guest-file-read returned no eof flag: %.200r" % (value,))
    return decode(value.get("buf-b64")), bool(value["eof"])


def close_request(handle):
    return request("guest-file-close", handle=handle)


def missing_commands(info):
    """The commands of :data:`REQUIRED_COMMANDS` that ``guest-info`` says are absent or
    disabled (an administrator may block guest-exec with qemu-ga's ``--block-rpcs``)."""
    offered = {c.get("name"): c.get("enabled", True) for c in (info or {}).get("supported_commands", [])
               if isinstance(c, dict)}
    return [name for name in REQUIRED_COMMANDS if not offered.get(name)]
