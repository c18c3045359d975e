# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-ins the unit tests share (imported by name: tests/conftest.py puts this folder on the path)."""

from __future__ import annotations


class Jump:
    """A clock (inject as ``clock=``) that reads ``times`` in turn, then stays at the last one."""

    def __init__(self, *times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


class Ticks:
    """A clock that moves ``step`` seconds at every reading: every deadline passes at once."""

    def __init__(self, step):
        self.now, self.step = 0.0, step

    def __call__(self):
        self.now += self.step
        return self.now


class Clock:
    """A clock to inject as ``clock=``; its ``sleep`` (inject as ``sleep=``) advances it."""

    def __init__(self, now=0.0):
        self.now = now

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def agent_failure(code, message):
    """The ``libvirtError`` libvirt raises when the agent answers with an error or cannot be
    reached, with the code ``code`` (a real libvirtError; its error record set by hand)."""
    import libvirt
    err = libvirt.libvirtError(message)
    err.err = (code, libvirt.VIR_FROM_QEMU, message, 2, None, None, None, 0, 0)
    err.args = (message,)
    return err


class GuestAgent:
    """A QEMU guest agent for :class:`agent_ops.Agent`'s ``send``: it runs guest-exec as real
    processes of this machine and guest-file-* on real files, speaking the agent's JSON.
    ``frozen`` refuses guest-exec as the real agent does during a quiesced snapshot;
    ``blocked`` lists commands hidden from guest-info; ``sent`` records every request."""

    COMMANDS = ("guest-info", "guest-exec", "guest-exec-status", "guest-file-open", "guest-file-read",
                "guest-file-write", "guest-file-close")

    def __init__(self, blocked=()):
        self.blocked, self.frozen, self.sent = set(blocked), False, []
        self.procs, self.files, self.next_handle = {}, {}, 1000

    def send(self, text, timeout):
        import base64
        import json
        import subprocess
        import libvirt
        request = json.loads(text)
        self.sent.append(request)
        name, args = request["execute"], request.get("arguments", {})
        internal = libvirt.VIR_ERR_INTERNAL_ERROR
        if name == "guest-info":
            value = {"version": "7.2.0", "supported_commands": [{"name": c, "enabled": c not in self.blocked,
                                                                 "success-response": True} for c in self.COMMANDS]}
        elif name == "guest-exec":
            if self.frozen:
                raise agent_failure(internal, "internal error: unable to execute QEMU agent command 'guest-exec':"
                                    " Command guest-exec has been disabled: the agent is in frozen state")
            proc = subprocess.Popen([args["path"]] + args.get("arg", []), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.procs[proc.pid] = (proc, base64.b64decode(args.get("input-data", "")))
            value = {"pid": proc.pid}
        elif name == "guest-exec-status":
            proc, stdin = self.procs[args["pid"]]
            out, err = proc.communicate(stdin)
            value = {"exited": True, "out-data": base64.b64encode(out).decode(), "err-data": base64.b64encode(err).decode()}
            value.update({"exitcode": proc.returncode} if proc.returncode >= 0 else {"signal": -proc.returncode})
        elif name == "guest-file-open":
            try:
                handle = open(args["path"], args.get("mode", "r"))
            except OSError as err:
                raise agent_failure(internal, "internal error: unable to execute QEMU agent command"
                                    " 'guest-file-open': failed to open file '%s' (mode: '%s'): %s"
                                    % (args["path"], args.get("mode"), err.strerror)) from None
            self.next_handle += 1
            self.files[self.next_handle] = handle
            value = self.next_handle
        elif name == "guest-file-write":
            value = {"count": self.files[args["handle"]].write(base64.b64decode(args["buf-b64"])), "eof": False}
        elif name == "guest-file-read":
            data = self.files[args["handle"]].read(args["count"])
            value = {"count": len(data), "buf-b64": base64.b64encode(data).decode(), "eof": len(data) < args["count"]}
        elif name == "guest-file-close":
            self.files.pop(args["handle"]).close()
            value = {}
        else:
            raise agent_failure(libvirt.VIR_ERR_INTERNAL_ERROR, "unknown command %s" % name)
        return json.dumps({"return": value})
