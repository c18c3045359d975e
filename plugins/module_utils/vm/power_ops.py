# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An existing VM moved between power states, and the end of every ``vm`` run (what the result
says about the VM afterwards).

:func:`ensure_power` and :func:`finish` serve every run (:mod:`vm_ops` calls them after it wrote
the definition).  :func:`run` is the whole of the runs that write no definition: the task names an
existing VM and a state, and nothing else the definition holds (:func:`applies`).  Those runs are
most items of a playbook's loops (start, stop, restart, remove), and a module compiles everything
it imports at every start: here only the domain layer and the power rules are imported, not the
spec, XML and tuning model a definition needs.  They give the results ``vm_ops`` gives
(``tests/unit/plugins/module_utils/vm/test_power_ops.py`` holds them to it, VM for VM).
"""

from __future__ import annotations

import time

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import Guest
from ansible_collections.hotiron.virt.plugins.module_utils.vm import power
from ansible_collections.hotiron.virt.plugins.module_utils.vm.values import SpecError

# What a run that writes no definition may give (left at their defaults, the others say nothing).
POWER_OPTIONS = frozenset(("uri", "name", "state", "shutdown_timeout", "force", "wait"))
REMOVAL_OPTIONS = frozenset(("remove_volumes", "remove_disks", "keep_nvram"))


def applies(params, defaults):
    """Whether the run of ``params`` writes no definition: every option given is one of power
    (and, for ``state: absent``, of removal).  ``defaults``: each option's default; an option at
    its default is not counted as given."""
    allowed = POWER_OPTIONS | (REMOVAL_OPTIONS if params.get("state") == "absent" else frozenset())
    return all(key in allowed or value is None or value == defaults.get(key) for key, value in params.items())


def run(params, check_mode):
    """hotiron.virt.vm's result for a run that :func:`applies`, or ``None`` when :func:`ensure`
    leaves the run to the whole model (``vm_ops``: a VM to create, or why it cannot be)."""
    with lc.connected(params["uri"]) as conn:
        done = ensure(conn, params, check_mode)
    if done is None:
        return None
    changed, result, diff = done
    return dict(result, changed=changed, diff=masked(diff))


def ensure(conn, params, check_mode, clock=time.monotonic, sleep=time.sleep):
    """``(changed, result, diff)`` as :func:`vm_ops.ensure` gives them for a run that
    :func:`applies`; ``None`` when the VM does not exist, or when its definition is not as the
    collection writes it (the whole model then writes it so)."""
    try:
        power.check_wait(params)
        dom = lc.lookup_domain(conn, params["name"])
        if dom is None:
            return None
        if params.get("state") == "absent":
            from ansible_collections.hotiron.virt.plugins.module_utils.vm import remove_ops
            return remove_ops.ensure_absent(conn, dom, params, check_mode)
        guest = Guest(conn, dom)
        current = dx.parse(guest.inactive_xml())
        text = dx.normalise(current)
        if text != _with_metadata_rewritten(current):
            return None   # the collection's metadata not as it writes it (hand-edited): vm_ops rewrites it
        result = {"plan": [], "changes": [], "restart_required": False}
        is_template = dx.read_metadata(current).get("template") == "true"
        changed = ensure_power(guest, params.get("state") or "present", params, is_template, check_mode, result,
                               clock, sleep)
    except SpecError as err:
        raise lc.VirtError(str(err)) from None
    finish(guest, params, result, check_mode, inactive=current)   # power steps leave the definition as it was
    return changed, result, {"before": text, "after": text}


def _with_metadata_rewritten(root):
    """``root`` normalised after the collection's metadata was written back as it writes it."""
    copy = dx.clone(root)
    dx.write_metadata(copy, dx.read_metadata(copy))
    return dx.normalise(copy)


def ensure_power(guest, state, params, is_template, check_mode, result, clock, sleep):
    """Move an existing guest to ``state`` (:func:`power.steps`); returns whether anything changed."""
    current, _reason = guest.state()
    actions = {"start": guest.start, "start paused": lambda: guest.start(paused=True), "resume": guest.resume,
               "pause": guest.suspend,
               "stop": (lambda: stop(guest, params, clock, sleep)) if params.get("wait") is not False else guest.request_stop}
    planned = power.steps(current, state, is_template, guest.name)
    result["plan"].extend("%s vm %s" % (step, guest.name) for step in planned)
    if not check_mode:
        for step in planned:
            actions[step]()
    if params.get("wait") is False and planned and "stop vm %s" % guest.name in result["plan"]:
        index = result["plan"].index("stop vm %s" % guest.name)
        result["plan"][index] = "request the shutdown of vm %s (not waiting)" % guest.name
    return bool(planned)


def stop(guest, params, clock=time.monotonic, sleep=time.sleep):
    """Graceful shutdown within ``shutdown_timeout``, then force off if ``force``."""
    timeout = params.get("shutdown_timeout")
    timeout = 120 if timeout is None else timeout
    if guest.stop(timeout, params.get("force"), clock, sleep) is None:
        raise lc.VirtError("shutdown_timeout: vm %s did not shut down within %ss; set force: true to power it off"
                           % (guest.name, timeout))


def finish(guest, params, result, check_mode, inactive=None):
    """What the result says about the VM after the run (not in check mode): its state and uuid,
    and for a running VM what its definition holds that only a restart applies (``inactive``: its
    persistent definition, parsed, when the caller has it as it stands; else it is read)."""
    if check_mode:
        return
    result["vm"] = {"name": guest.name, "state": guest.state()[0]}
    if params.get("wait") is False and result["vm"]["state"] not in power.OFF_STATES and any(
            step.startswith("request the shutdown") for step in result["plan"]):
        result["vm"]["state"] = "shutting down"
    with lc.attempt("read the uuid of vm %s" % guest.name):
        result["vm"]["uuid"] = guest.uuid()
    if guest.is_active():
        from ansible_collections.hotiron.virt.plugins.module_utils.vm import plan as vp   # the definition's model
        pending = vp.restart_pending(vp.summarise(dx.parse(guest.live_xml())),
                                     vp.summarise(inactive if inactive is not None else dx.parse(guest.inactive_xml())))
        result["restart_required"] = bool(pending)
        if pending:
            result["restart_pending"] = pending


def masked(diff):
    """``diff`` with the secrets of its domain XML (graphics passwords) masked."""
    return dict(diff, **{side: dx.mask_secrets(diff[side]) for side in ("before", "after") if isinstance(diff.get(side), str)})
