# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a recovery pass does to hosts and VMs once it has decided: fence a failed host (and
remember a fence that failed, so that queued passes do not each wait out a dead BMC), restart a
crashed VM, start a failed host's VMs elsewhere, and clean up a fenced host that is back.  Every
start looks for the VM on every reachable host first; the domain layer does the starting.

:class:`Acting` is the half of :class:`recover_ops.Pass` that acts: its methods use the pass's
parameters, its observation and its bookkeeping (``done``, ``started``, ``removed``, ``errors``).
"""

from __future__ import annotations

import functools

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.domain import guest as domain
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import Guest
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import fanout_ops as fanout
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import fencing_ops as fencing
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import plan as rp
from ansible_collections.hotiron.virt.plugins.module_utils.vm import policy as vm_policy

# Failovers started at once (each a different VM; libvirtd runs a client's calls in parallel).
FAILOVER_AT_ONCE = 4
# Seconds each reachable host has to say whether a VM runs there, just before it is started.
LOOK_TIMEOUT = 5.0
# Words in libvirt's error when a disk is still held by another host (QEMU image locks, virtlockd).
LOCK_WORDS = ("write\" lock", "write lock", "Failed to get", "resource busy", "lockspace", "Failed to acquire lock")


class Acting:
    """Fencing, restarts, failovers and returns of a :class:`recover_ops.Pass`."""

    def _failed(self, entry, err):
        """A decision that could not be carried out: its entry says why, and so does the pass."""
        entry.update(ok=False, outcome=err.message)
        self.errors.append(err.message)

    def _fence(self, state, records, now):
        """Carry out the fencing decisions; the hosts now known to be off."""
        down = []
        for decision in rp.fencing_due(records, self.p["host_timeout"], now):
            entry = dict(decision.as_dict(), done=False)
            mark = state["hosts"].setdefault(decision.host, {})
            config = self.fencing.get(decision.host)
            held = self._held_back(mark, decision)
            if held:
                entry.update(ok=False, outcome=held)
                self.held.append(decision.host)
                self.done.append(entry)
                continue
            if decision.action == "fenced" and config and config.get("agent") != "manual":
                # Fenced by an earlier pass: still off?  Somebody may have powered it on since -
                # most often to bring it back after a repair, and it is booting.  It is not fenced
                # again (that would keep a repaired host from ever returning), but while it is on
                # and does not answer, nothing more of its VMs starts elsewhere.
                status = fencing.power_status(decision.host, config, self.p["fence_timeout"])
                if status.power == "off":
                    entry.update(outcome="still off (status read back: OFF)")
                    down.append(decision.host)
                elif status.power == "on":
                    why = ("%s was fenced by an earlier pass, but its power reads on now (booting after a repair,"
                           " or powered on by hand): none of its VMs starts elsewhere until it answers or reads"
                           " OFF again" % decision.host)
                    entry.update(ok=False, outcome=why)
                    self.warnings.append(why)
                    self.done.append(entry)
                    continue
                else:   # the agent cannot tell: as a failed fencing, the task fails and says why
                    why = ("%s was fenced by an earlier pass, but its power cannot be read now (%s): none of its"
                           " VMs starts elsewhere" % (decision.host, status.message))
                    entry.update(ok=False, outcome=why)
                    self._fence_failed(mark, why)
                    self.done.append(entry)
                    continue
            if decision.action == "fence":
                result = fencing.fence_off(decision.host, config, self.p["fence_timeout"])
                self.fenced.append(result.as_dict())
                entry.update(done=True, ok=result.ok, outcome=result.message)
                self.changed = True
                if result.ok:
                    mark["fenced_at"] = self.clock()
                    mark.pop("fence_failed_at", None)
                    mark.pop("fence_failed", None)
                    down.append(decision.host)
                else:
                    self._fence_failed(mark, result.message + "; nothing of %s was started elsewhere" % decision.host)
            elif decision.action == "confirmed":
                mark["fenced_at"] = self.clock()
                entry.update(done=True, ok=True, outcome="recorded as off on an operator's confirmation")
                self.warnings.append("%s is taken as off on an operator's confirmation (confirmed_off): give it for"
                                     " this outage only, never from an inventory" % decision.host)
                self.changed = True
                down.append(decision.host)
            elif decision.action == "fenced" and decision.host not in down:
                down.append(decision.host)  # confirmed off by an operator earlier: nothing to ask
            self.done.append(entry)
        return down

    def _fence_failed(self, mark, why):
        """A fence agent that failed: the pass fails saying why, once, with a warning; the passes
        after it within fence_retry_interval do not call the agent again (a dead BMC costs
        power_timeout per call, and passes would queue on the lock each retrying it)."""
        mark["fence_failed_at"] = self.clock()
        mark["fence_failed"] = why
        self.errors.append(why)
        self.warnings.append("%s; the agent is called again in %gs (fence_retry_interval), passes before that report"
                             " this failure without calling it" % (why, self.p.get("fence_retry_interval", 60)))

    def _held_back(self, mark, decision):
        """Why the agent is not called for this host in this pass (its last call failed less than
        fence_retry_interval ago), or None."""
        failed_at = mark.get("fence_failed_at")
        retry = self.p.get("fence_retry_interval", 60)
        if decision.action not in ("fence", "fenced") or failed_at is None:
            return None
        ago = self.clock() - failed_at
        if not 0 <= ago < retry:
            return None
        return ("fencing of %s failed %.0fs ago, not tried again before %gs (fence_retry_interval): nothing of %s"
                " starts elsewhere; the failure: %s" % (decision.host, ago, retry, decision.host, mark.get("fence_failed")))

    def _restart(self, obs, decision):
        entry = dict(decision.as_dict(), done=True)
        try:
            dom = lc.lookup_domain(obs.conn, decision.vm)
            if dom is None:
                raise lc.VirtError("%s is no longer defined on %s" % (decision.vm, obs.name))
            guest = Guest(obs.conn, dom)
            root = dx.parse(guest.inactive_xml())
            meta = dx.read_metadata(root)
            count, window = vm_policy.restart_limit(meta)
            now = self.clock()
            recent = [t for t in vm_policy.restarts(meta) if now - t < window]
            meta["restarts"] = vm_policy.format_restarts(recent + [now])
            dx.write_metadata(root, meta)
            guest.set_metadata(root, live=False)    # stopped: the definition keeps the count
            guest.start()
            self.started.append((obs.name, decision.vm, tuple(recent + [now])))
            entry.update(ok=True, outcome="running again (restart %d of %d in %ds)" % (len(recent) + 1, count, window))
            self.changed = True
        except lc.VirtError as err:
            self._failed(entry, err)
        self.done.append(entry)

    @staticmethod
    def _running_somewhere(observed, name, timeout=LOOK_TIMEOUT):
        """The last look before a start: the reachable host where ``name`` runs now, or None.
        Every host is asked at once, each in a thread of its own: a host that hung since it was
        read does not hold the pass, and as it cannot say, nothing is started (the next pass
        finds it unreachable)."""
        def look(obs):
            dom = lc.lookup_domain(obs.conn, name)
            if dom is None:
                return False
            with lc.attempt("read the state of vm %s on %s" % (name, obs.uri)):
                return bool(dom.isActive())

        asked = {obs.name: functools.partial(look, obs) for obs in observed.values() if obs.reachable}
        calls, silent = fanout.ask_all(asked, timeout, prefix="look")
        if silent:
            raise lc.VirtError("%s: %s did not answer within %gs whether it runs it now (hung since it was read?):"
                               " not started, the next pass decides" % (name, ", ".join(silent), timeout))
        for host, call in sorted(calls.items()):
            if call.error is not None:
                raise call.error
            if call.value:
                return host
        return None

    def _failovers(self, observed, state, decisions, check=None):
        """Carry out ``decisions`` (failovers, each a different VM), up to ``FAILOVER_AT_ONCE`` at
        a time: a VM's start (QEMU's launch) takes seconds, one after another they add up.  Each
        start still looks for its VM on every reachable host first, so none runs twice; the
        entries are recorded in the decisions' order (priority first), whatever order the starts
        end in.  ``check`` (the pass's abandon check) is called before each batch."""
        for first in range(0, len(decisions), FAILOVER_AT_ONCE):
            batch = decisions[first:first + FAILOVER_AT_ONCE]
            if check is not None:
                check("starting %s" % ", ".join("%s on %s" % (d.vm, d.target) for d in batch))
            calls = fanout.start({"%04d" % index: functools.partial(self._failover_one, observed, state, decision)
                                  for index, decision in enumerate(batch)}, prefix="failover")
            unexpected = None
            for key in sorted(calls):
                calls[key].done.wait()
                if calls[key].error is not None:
                    # the others of the batch are recorded first: a VM another thread started
                    # is in the result and the state file, whatever this one raised
                    unexpected = unexpected or calls[key].error
                    continue
                entry, started, error = calls[key].value
                if error is not None:
                    self._failed(entry, error)
                if started is not None:
                    self.started.append(started)
                    self.changed = True
                self.done.append(entry)
            if unexpected is not None:
                raise unexpected

    def _failover(self, observed, state, decision):
        self._failovers(observed, state, [decision])

    @staticmethod
    def _failover_one(observed, state, decision):
        """``(entry, started, error)`` of one failover (run in a thread of its own: it records
        nothing on the pass itself)."""
        entry = dict(decision.as_dict(), done=True)
        target = observed[decision.target]
        xml = state["definitions"].get(decision.vm)
        try:
            if xml is None:
                raise lc.VirtError("no definition of %s is known (it was never seen while %s was up)"
                                   % (decision.vm, decision.host))
            where = Acting._running_somewhere(observed, decision.vm)
            if where is not None:
                raise lc.VirtError("%s is running on %s now: not started again" % (decision.vm, where))
            existed = lc.lookup_domain(target.conn, decision.vm) is not None
            guest = domain.define(target.conn, xml, "define vm %s on %s" % (decision.vm, target.uri))
            try:
                guest.start()
            except lc.VirtError as err:
                if any(word in (err.libvirt_message or err.message) for word in LOCK_WORDS):
                    err.extend("; its disks are still locked by another host, so it may still be running there:"
                               " not started")
                if not existed:
                    try:
                        # the UEFI variables stay: they are the VM's, wherever it runs next
                        guest.delete_definition(keep_nvram=True)
                        err.extend(" (the definition made for it on %s was removed)" % decision.target)
                    except lc.VirtError as undo:
                        err.extend("; removing the definition made for it failed too: %s" % undo.message)
                raise
            entry.update(ok=True, outcome="running on %s" % decision.target)
            return entry, (decision.target, decision.vm, None), None
        except lc.VirtError as err:
            return entry, None, err

    def _returns(self, observed, state, decisions):
        """A fenced host that is back: its stale definitions go, its leftover HA VMs start, and
        only when all of that succeeded is it taken as back (else the next pass tries again)."""
        for decision in decisions:
            if decision.action in ("clean_stale", "start_returned"):
                self._returned(observed[decision.host], decision)
        for decision in [d for d in decisions if d.action == "returned"]:
            failed = [d for d in self.done if d["host"] == decision.host and d["action"] in ("clean_stale", "start_returned")
                      and d.get("ok") is False]
            entry = dict(decision.as_dict(), done=not failed)
            if failed:
                entry.update(ok=False, outcome="kept as fenced: %d of its clean-ups failed; the next pass tries again"
                             % len(failed))
            else:
                state["hosts"].setdefault(decision.host, {}).pop("fenced_at", None)
                entry.update(ok=True, outcome="handled: %s takes VMs again" % decision.host)
                self.changed = True
            self.done.append(entry)

    def _returned(self, obs, decision):
        entry = dict(decision.as_dict(), done=True)
        try:
            dom = lc.lookup_domain(obs.conn, decision.vm)
            if decision.action == "clean_stale":
                if dom is not None:
                    stale = Guest(obs.conn, dom)
                    if stale.is_active():
                        stale.force_off()
                    # the UEFI variables file may be the one the VM now running elsewhere uses
                    stale.delete_definition(keep_nvram=True)
                self.removed.append((obs.name, decision.vm))
                entry.update(ok=True, outcome="stale definition removed (disks kept)")
            else:
                if dom is None:
                    raise lc.VirtError("%s is no longer defined on %s" % (decision.vm, obs.name))
                Guest(obs.conn, dom).start()
                self.started.append((obs.name, decision.vm, None))
                entry.update(ok=True, outcome="running again on %s" % obs.name)
            self.changed = True
        except lc.VirtError as err:
            self._failed(entry, err)
        self.done.append(entry)
