# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""From the state a VM is in to the state the task asks for: the power steps, decided once for a
VM that exists and for one being created (which starts out shut off), in check mode and in a real
run alike.  Templates never start.  Pure.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils.vm.values import SpecError

START_STATES = ("running", "paused", "restarted")
OFF_STATES = ("shutoff", "crashed")


def steps(current, wanted, is_template=False, name=""):
    """The steps (``start``, ``start paused``, ``resume``, ``pause``, ``stop``) that take a VM in
    libvirt state ``current`` to the module's ``wanted`` state, in order.  A new VM is
    ``current="shutoff"``.  Raises SpecError (naming ``state``) for a template asked to start."""
    if wanted in START_STATES and is_template:
        raise SpecError("state", "vm %r is a template: templates cannot be started" % name)
    off = current in OFF_STATES
    if wanted == "running":
        return ["start"] if off else ["resume"] if current == "paused" else []
    if wanted == "paused":
        return ["start paused"] if off else [] if current == "paused" else ["pause"]
    if wanted == "stopped":
        return [] if off else ["stop"]
    if wanted == "restarted":
        return ([] if off else ["stop"]) + ["start"]
    return []


def check_wait(params):
    """``wait: false`` sends the shutdown request and returns: it applies to ``state: stopped``
    alone, and not with ``force`` (which powers off when the wait runs out).  Raises SpecError."""
    if params.get("wait") is not False:
        return
    state = params.get("state") or "present"
    if state != "stopped":
        raise SpecError("wait", "false applies to state stopped (send the shutdown request and return), not to %s" % state)
    if params.get("force"):
        raise SpecError("force", "needs waiting for the shutdown (it powers the VM off when shutdown_timeout passes):"
                        " drop it, or wait: true")
