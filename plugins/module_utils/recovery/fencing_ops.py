# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fencing a failed host with a ClusterLabs fence agent (Debian/RHEL ``fence-agents``).

A host is fenced when its agent powered it off *and* a status read back says OFF; anything else
(agent missing, wrong password, BMC unreachable, status ON or unknown) is a failed fence, and a
failed fence starts nothing elsewhere.

Options go to the agent on its standard input (``key=value`` lines, as Pacemaker's stonithd hands
them), never on its command line, so the password is not in the process list of the agent itself
(``fence_ipmilan`` passes it on to ``ipmitool -P``, which overwrites its copy once running: a
window the agent gives no way around).  Nothing the agent prints is reported without the
password replaced.  The agent's ``power_timeout`` bounds how long a dead BMC costs (20 s by
default in the agents), the caller's timeout each agent call.  The agent runs through the
module's ``run_command`` (:mod:`commands`); no libvirt.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import time
from dataclasses import dataclass

from ansible_collections.hotiron.virt.plugins.module_utils import commands

AGENT_RE = re.compile(r"^fence_[a-z0-9_]+$")
KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
AGENT_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/usr/local/sbin")
# Keys of a host's fencing configuration that are the collection's, not the agent's.
OWN_KEYS = ("agent", "options", "password_file")
# A value the agent reads from a ``key=value`` line: no line break, no other control character.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# Exit status of an agent's "status" action: 0 on, 2 off (the agents' documented convention).
STATUS_ON, STATUS_OFF = 0, 2


class FenceError(Exception):
    """A fencing configuration that cannot work."""


@dataclass
class FenceResult:
    host: str
    agent: str
    ok: bool
    power: str
    took_s: float
    message: str

    def as_dict(self):
        return {"host": self.host, "agent": self.agent, "ok": self.ok, "power": self.power,
                "time_s": round(self.took_s, 2), "message": self.message}


def check_config(host, config):
    """Refuse a configuration that cannot fence (FenceError naming the host and key)."""
    agent = config.get("agent")
    if agent == "manual":
        return
    if not agent or not AGENT_RE.match(agent):
        raise FenceError("fencing.%s.agent: %r is neither manual nor a fence agent name such as fence_ipmilan"
                         % (host, agent))
    options = config.get("options") or {}
    if not isinstance(options, dict):
        raise FenceError("fencing.%s.options: a dict of agent option name to value, not %r" % (host, options))
    for key in list(options):
        if not KEY_RE.match(str(key)):
            raise FenceError("fencing.%s.options: %r is not an agent option name" % (host, key))
    if config.get("password") is not None and config.get("password_file") is not None:
        raise FenceError("fencing.%s: password and password_file are mutually exclusive" % host)
    values = [(k, v) for k, v in config.items() if k not in OWN_KEYS] + [("options." + str(k), v) for k, v in options.items()]
    for key, value in values:
        check_value(host, key, value)


def check_value(host, key, value):
    """Refuse what the agent could not read as one ``key=value`` line (FenceError naming it)."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise FenceError("fencing.%s.%s: %r is not a finite number" % (host, key, value))
    if not isinstance(value, (str, int, float)):
        raise FenceError("fencing.%s.%s: a string, number or boolean, not a %s" % (host, key, type(value).__name__))
    if CONTROL_RE.search(str(value)):
        what = "a line break" if re.search(r"[\r\n]", str(value)) else "a control character"
        raise FenceError("fencing.%s.%s holds %s, which the agent would read as another option"
                         % (host, key, what))


def read_password_file(host, config):
    """``config`` with ``password`` read from its ``password_file`` (first line, its line break
    dropped), so that no password need be in an inventory (nor in the copies of it that tools
    make); FenceError when it cannot be read or is no single line."""
    path = config.get("password_file")
    if path is None:
        return config
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as err:
        raise FenceError("fencing.%s.password_file: cannot read %s: %s"
                         % (host, path, getattr(err, "strerror", None) or err)) from None
    password = text[:-1] if text.endswith("\n") else text
    if not password or CONTROL_RE.search(password):
        raise FenceError("fencing.%s.password_file: %s must hold the password on one line" % (host, path))
    out = {k: v for k, v in config.items() if k != "password_file"}
    out["password"] = password
    return out


def agent_path(agent, which=shutil.which):
    path = which(agent) or which(agent, path=os.pathsep.join(AGENT_DIRS))
    if path is None:
        raise FenceError("fence agent %s is not installed on the controller (Debian and RHEL: package fence-agents)"
                         % agent)
    return path


def agent_input(config, action):
    """The agent's standard input: ``key=value`` lines, ``action`` first; booleans as 1."""
    lines = ["action=%s" % action]
    values = {k: v for k, v in config.items() if k not in OWN_KEYS and v is not None}
    values.update({k: v for k, v in (config.get("options") or {}).items() if v is not None})
    for key in sorted(values):
        value = values[key]
        if isinstance(value, bool):
            if not value:
                continue
            value = 1
        text = str(value)
        if "\n" in text:
            raise FenceError("fencing option %s holds a newline" % key)
        lines.append("%s=%s" % (key, text))
    return "\n".join(lines) + "\n"


def scrub(text, config):
    """``text`` with the configuration's password (and any option named like one) masked."""
    secrets = [str(v) for k, v in list(config.items()) + list((config.get("options") or {}).items())
               if v and ("passw" in k or k in ("password", "passwd"))]
    for secret in secrets:
        text = text.replace(secret, "********")
    return text


def run_agent(path, config, action, timeout, run=commands.run):
    """``(exit status, output)`` of one agent call; status ``None`` when it did not finish."""
    try:
        status, out, err = run([path], stdin=agent_input(config, action), timeout=timeout)
    except commands.CommandTimeout:
        return None, "the agent did not finish within %gs" % timeout
    except OSError as error:
        return None, "cannot run %s: %s" % (path, error.strerror)
    lines = [line.strip() for line in (out + "\n" + err).splitlines() if line.strip()]
    # The agents' Python prints warnings about itself; what matters is the status and the errors.
    wanted = [line for line in lines if re.search(r"Status:|ERROR|Failed|fail", line)] or lines
    return status, scrub(" ".join(wanted), config)


def power_state(status, output):
    """``off``, ``on`` or ``unknown`` from a status call: the agent's exit status *and* what it
    printed must agree (exit 2 alone also means "bad arguments" to the agents' library)."""
    if status == STATUS_OFF and re.search(r"Status:\s*OFF", output):
        return "off"
    if status == STATUS_ON and re.search(r"Status:\s*ON", output):
        return "on"
    return "unknown"


def _usable_agent(host, config, which):
    """``(path of the host's agent, None)``, or ``(None, why not)`` when it cannot be run."""
    try:
        check_config(host, config)
        return agent_path(config.get("agent"), which), None
    except FenceError as err:
        return None, str(err)


def _begin(host, config, which, clock):
    """``(start time, agent path, None)``, or a failed :class:`FenceResult` in the third place when
    the host's agent cannot be run."""
    started = clock()
    path, refused = _usable_agent(host, config, which)
    if refused:
        return started, None, FenceResult(host, config.get("agent"), False, "unknown", clock() - started, refused)
    return started, path, None


def power_status(host, config, timeout=60.0, run=commands.run, clock=time.monotonic, which=shutil.which):
    """The host's power as its agent reads it now (a :class:`FenceResult`; ``ok`` when it is off)."""
    started, path, refused = _begin(host, config, which, clock)
    if refused:
        return refused
    agent = config.get("agent")
    status, output = run_agent(path, config, "status", timeout, run)
    power = power_state(status, output)
    return FenceResult(host, agent, power == "off", power, clock() - started,
                       "%s reads %s's power as %s%s" % (agent, host, power, "" if power != "unknown" else ": " + output))


def fence_off(host, config, timeout=60.0, run=commands.run, clock=time.monotonic, which=shutil.which):
    """Power ``host`` off with its agent and read the power state back.

    ``timeout`` bounds each agent call.  The result is ``ok`` only when the status read after
    the ``off`` says OFF.
    """
    started, path, refused = _begin(host, config, which, clock)
    if refused:
        return refused
    agent = config.get("agent")
    # An agent that fails to switch off may still have done it: the status read back decides.
    status, output = run_agent(path, config, "off", timeout, run)
    check, check_output = run_agent(path, config, "status", timeout, run)
    power = power_state(check, check_output)
    took = clock() - started
    if power == "off":
        return FenceResult(host, agent, True, "off", took, "%s powered %s off (status read back: OFF)" % (agent, host))
    what = output if status not in (0,) else check_output
    return FenceResult(host, agent, False, power, took, "%s could not fence %s: power %s after off (exit %s): %s"
                       % (agent, host, power, "timeout" if status is None else status, what or "no output"))
