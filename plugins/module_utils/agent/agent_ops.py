# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Talking to a VM's QEMU guest agent through libvirt: commands run inside the guest, files
moved in and out (for the ``hotiron.virt.qemu_ga`` connection plugin), and the agent's facts
about the guest (for ``vm_info`` and the inventory plugin).

Requests and replies are built and read by :mod:`protocol` (pure); :class:`Agent` only sends
them, through a ``send(text, timeout)`` function: ``libvirt_qemu.qemuAgentCommand`` on a real
domain (:func:`open_agent`), anything that answers like an agent in tests.
"""

from __future__ import annotations

import functools
import io
import time
import uuid

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.agent import guest_info, protocol
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import STATE_NAMES
from ansible_collections.hotiron.virt.plugins.module_utils.libvirt_common import libvirt

try:
    import libvirt_qemu
except ImportError:     # pragma: no cover - reported by open_agent
    libvirt_qemu = None


def _codes(*names):
    return tuple(getattr(libvirt, n) for n in names if libvirt is not None and hasattr(libvirt, n))


# The agent cannot be reached at all (vs. a command that failed inside the guest).
_UNREACHABLE = _codes("VIR_ERR_AGENT_UNRESPONSIVE", "VIR_ERR_AGENT_UNSYNCED", "VIR_ERR_ARGUMENT_UNSUPPORTED",
                      "VIR_ERR_OPERATION_INVALID", "VIR_ERR_NO_SUPPORT", "VIR_ERR_NO_DOMAIN")
# Facts that are simply not available (no agent, old agent, inactive VM): left empty.
_UNAVAILABLE = _UNREACHABLE + _codes("VIR_ERR_OPERATION_UNSUPPORTED", "VIR_ERR_INVALID_ARG")


SLACK_BYTES_PER_S = 64 * 1024
_LIBVIRT_ERROR = libvirt.libvirtError if libvirt is not None else ()


class AgentError(Exception):
    """A failure talking to the agent, with a message fit for an operator."""


class AgentUnreachable(AgentError):
    """The agent cannot be reached: VM missing or not running, no agent channel, agent not
    connected or not answering, a libvirt driver without agent commands."""


class GuestFileNotFound(AgentError):
    """guest-file-open found no such file in the guest."""


class ExecTimeout(AgentError):
    """A command ran inside the guest longer than allowed."""


def _hint(err):
    code = err.get_error_code()
    text = err.get_error_message() or str(err)
    if code == getattr(libvirt, "VIR_ERR_ARGUMENT_UNSUPPORTED", None) and "not configured" in text:
        return ": the vm has no guest agent channel (a <channel type='unix'> with target org.qemu.guest_agent.0)"
    if code in _codes("VIR_ERR_AGENT_UNRESPONSIVE", "VIR_ERR_AGENT_UNSYNCED"):
        return ": is qemu-guest-agent installed and running in the guest?"
    if code == getattr(libvirt, "VIR_ERR_NO_SUPPORT", None):
        return " (only libvirt's QEMU driver passes commands to a guest agent)"
    return ""


def _checked(method):
    """A ProtocolError (a reply outside the protocol, a bad request) becomes an AgentError
    naming the VM, so that callers handle one kind of failure."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except protocol.ProtocolError as err:
            raise AgentError("%s: %s" % (self.where, err)) from err
    return wrapper


class Agent:
    """One VM's guest agent.  ``send(text, timeout)`` returns the agent's reply text and raises
    ``libvirt.libvirtError`` (or :class:`AgentError`) on failure; ``where`` names the VM in
    messages (``vm web1 on qemu+tcp://hv1/system``)."""

    def __init__(self, send, where, timeout=10, clock=time.monotonic, sleep=time.sleep):
        self._send = send
        self.where = where
        self.timeout = timeout
        self._clock = clock
        self._sleep = sleep

    def call(self, command, text, timeout=None):
        """The ``return`` of one request (:mod:`protocol` builds ``text``).  A request carrying
        data (a chunk, a module as stdin) gets a second more per 64 KiB: a guest under TCG on a
        busy host took over 10 s to take in a 300 KiB guest-exec."""
        try:
            answer = self._send(text, (timeout or self.timeout) + len(text) // SLACK_BYTES_PER_S)
        except _LIBVIRT_ERROR as err:
            message = "%s: %s failed: %s%s" % (self.where, command, err.get_error_message() or err, _hint(err))
            if err.get_error_code() in _UNREACHABLE:
                raise AgentUnreachable(message) from err
            if command == "guest-file-open" and "No such file" in (err.get_error_message() or ""):
                raise GuestFileNotFound(message) from err
            raise AgentError(message) from err
        return protocol.reply(answer, command)

    @_checked
    def info(self):
        """``guest-info``: the agent's version and supported commands."""
        return self.call("guest-info", protocol.request("guest-info"))

    @_checked
    def check_commands(self):
        """AgentUnreachable when the agent lacks a command the connection needs."""
        missing = protocol.missing_commands(self.info())
        if missing:
            raise AgentUnreachable("%s: its guest agent does not offer %s (blocked with qemu-ga's --block-rpcs"
                                   " or too old)" % (self.where, ", ".join(missing)))

    @_checked
    def run(self, argv, stdin=None, timeout=0):
        """``(rc, stdout, stderr, truncated)`` of ``argv`` run in the guest; ``timeout`` seconds
        (0: none) before :class:`ExecTimeout` (the process is left running: the agent of QEMU 7.2
        cannot kill it)."""
        pid = protocol.exec_pid(self.call("guest-exec", protocol.exec_request(argv, stdin)))
        status_request = protocol.request("guest-exec-status", pid=pid)
        deadline = self._clock() + timeout if timeout else None
        for wait in protocol.poll_intervals():
            result = protocol.exec_status(self.call("guest-exec-status", status_request))
            if result is not None:
                return result
            if deadline is not None and self._clock() >= deadline:
                raise ExecTimeout("%s: command %r still runs (pid %d in the guest) after %s s"
                                  % (self.where, argv, pid, timeout))
            self._sleep(wait)

    @_checked
    def run_shell(self, executable, command, stdin=None, timeout=0, chunk_size=protocol.DEFAULT_CHUNK):
        """:meth:`run` of the command line ``command`` with the shell ``executable``; ``stdin``
        larger than ``chunk_size`` goes to a file of the guest's /tmp first (the agent cannot take
        it in one request), read by the command and removed."""
        if stdin and len(stdin) > chunk_size:
            path = "/tmp/.hotiron-qemu-ga-stdin-%s" % uuid.uuid4().hex
            self.put(io.BytesIO(stdin), path, chunk_size)
            return self.run(protocol.stdin_file_argv(executable, command, path), timeout=timeout)
        return self.run(protocol.shell_argv(executable, command), stdin=stdin, timeout=timeout)

    @_checked
    def put(self, source, path, chunk_size=protocol.DEFAULT_CHUNK):
        """Write the binary file object ``source`` to ``path`` in the guest (created or
        truncated); the bytes written."""
        handle = protocol.file_handle(self.call("guest-file-open", protocol.open_request(path, "wb")))
        total = 0
        try:
            for data in protocol.chunks(source, chunk_size):
                total += protocol.written(self.call("guest-file-write", protocol.write_request(handle, data)), len(data))
        finally:
            self.call("guest-file-close", protocol.close_request(handle))
        return total

    @_checked
    def fetch(self, path, target, chunk_size=protocol.DEFAULT_CHUNK):
        """Copy ``path`` of the guest into the binary file object ``target``; the bytes read."""
        handle = protocol.file_handle(self.call("guest-file-open", protocol.open_request(path, "rb")))
        total = 0
        try:
            read = protocol.read_request(handle, chunk_size)
            while True:
                data, eof = protocol.read_chunk(self.call("guest-file-read", read))
                target.write(data)
                total += len(data)
                if eof or not data:
                    break
        finally:
            self.call("guest-file-close", protocol.close_request(handle))
        return total


def open_agent(uri, name, timeout=10):
    """``(agent, close)`` for VM ``name`` on ``uri``; AgentUnreachable naming the cause when the
    host, the VM or its agent cannot be reached."""
    if libvirt_qemu is None:
        raise AgentUnreachable("the guest agent connection needs the libvirt Python bindings (libvirt_qemu) on the controller")
    try:
        conn = lc.connect(uri)
    except lc.VirtError as err:
        raise AgentUnreachable(str(err)) from err
    try:
        where = "vm %s on %s" % (name, uri)
        with lc.attempt("look up vm %s on %s" % (name, uri)):
            dom = lc.lookup_domain(conn, name)
            if dom is None:
                raise AgentUnreachable("no vm %s on %s" % (name, uri))
            state = dom.state()[0]
        if state != libvirt.VIR_DOMAIN_RUNNING:
            raise AgentUnreachable("%s is %s: the guest agent answers only in a running vm"
                                   % (where, STATE_NAMES.get(state, "in state %d" % state)))
    except lc.VirtError as err:
        conn.close()
        raise AgentUnreachable(str(err)) from err
    except AgentError:
        conn.close()
        raise

    def send(text, seconds):
        return libvirt_qemu.qemuAgentCommand(dom, text, int(seconds), 0)

    return Agent(send, where, timeout), conn.close


def facts(dom):
    """The agent's facts about the running VM ``dom`` (:func:`guest_info.facts`), or None
    when it has no connected agent (or libvirt cannot ask it).  Needs a read-write connection."""
    try:
        params = dom.guestInfo(0, 0)
    except libvirt.libvirtError as err:
        if err.get_error_code() in _UNAVAILABLE:
            return None
        raise
    try:
        addresses = dom.interfaceAddresses(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT)
    except libvirt.libvirtError as err:
        if err.get_error_code() not in _UNAVAILABLE:
            raise
        addresses = None
    return guest_info.facts(params, addresses)
