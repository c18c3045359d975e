# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One recovery pass over a resource group: observe, decide, fence, act, remember.

The decisions are :mod:`recovery.plan`'s (pure); this file reads the group
(:mod:`recovery.observe`), waits while an unreachable host is not yet due, fences with
:mod:`recovery.fencing`, carries the decisions out through libvirt and keeps the group's memory in
the state file (:mod:`recovery.state`), under its lock.  In check mode it reads and decides only:
no wait, no fence, no start, no write (not even of the lock file).

Order of safety: a failed host's VMs start elsewhere only after its fence agent powered it off and
a status read back said OFF (or an operator confirmed it off) - and a host fenced by an earlier
pass is asked again: unless it still says OFF, none of its VMs starts elsewhere (it is not fenced
again: it is most likely booting after a repair); just before each start the VM is
looked for again on every reachable host; and the disk locks (QEMU's image locks, virtlockd's
leases) refuse a start while another host still holds the disks, which the pass reports as such
and undoes (the definition it made goes again).  Once fencing has begun, the state file is saved
whatever happens next, so that no pass forgets a fenced host.
"""

from __future__ import annotations

import time
from dataclasses import replace

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import fanout_ops as fanout
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import act_ops
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import fencing_ops as fencing
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import owner_ops as owner
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import events
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import plan as rp
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import state_ops as rs
from ansible_collections.hotiron.virt.plugins.module_utils.recovery.observe_ops import observe

libvirt = lc.libvirt

# While waiting for a host to be due: re-read it about once a second, each read given at least
# MIN_REREAD seconds to connect (libvirtd restarts in 0.2-0.8 s; a loaded host answers slower).
REREAD_INTERVAL = 1.0
MIN_REREAD = 1.0
CLOSE_TIMEOUT = 2.0  # seconds the pass waits for its connections to close at its end
FUTURE_SLACK = 5.0   # seconds a VM event may be ahead of this pass's clock (the event source's runs on the same machine)
ACTING = ("restart", "fence", "confirmed", "failover", "clean_stale", "start_returned", "returned")


class Abandoned(Exception):
    """The rulebook that started this pass is gone: the pass ends without acting further."""


class Pass(act_ops.Acting):
    """The work of one pass; ``run()`` returns the module's result (what it does to hosts and VMs
    is :class:`act_ops.Acting`'s)."""

    def __init__(self, params, check_mode, clock=time.time, sleep=time.sleep):
        self.p = params
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep
        self.hosts = dict(params["hosts"])
        # host -> the agent's configuration (options left out are not handed to the agent)
        self.fencing = {entry["host"]: {k: v for k, v in entry.items() if k != "host" and v is not None}
                        for entry in params.get("fencing") or []}
        self.done = []          # decisions with their outcome
        self.fenced = []        # fence results
        self.warnings = []
        self.changed = False
        self.errors = []
        self.first_seen = {}    # host -> when this pass first found it unreachable
        self.answered = {}      # host -> when this pass last had an answer from it, for one that stopped answering
        self.started = []       # (host, vm, restarts written or None): what this pass started
        self.removed = []       # (host, vm): the stale definitions this pass removed
        self.held = []          # hosts whose fencing failed lately, not tried again in this pass
        self.stop_with = params.get("stop_with") or None
        self.vm_events = []     # rp.VmEvent: the starts and stops the event source saw
        self.applied = []       # those that made a record newer

    # --- the process this pass works for -----------------------------------------------------
    def _abandoned(self):
        """Why this pass must end now (its rulebook is gone), or None."""
        if not self.stop_with:
            return None
        why = owner.gone(self.stop_with["pid"], self.stop_with.get("start_ticks"))
        if why is None:
            return None
        return "the rulebook that started this pass (stop_with: %s) is gone: this pass ended" % why

    def _check_abandoned(self, before):
        why = self._abandoned()
        if why:
            raise Abandoned("%s before %s" % (why, before))

    # --- observing -----------------------------------------------------------------------------
    def _observe(self, names=None, timeout=None, timeouts=None):
        hosts = {n: self.hosts[n] for n in (names or self.hosts)}
        asked = self.clock()    # what is read is at least this fresh: a VM event after it is newer
        out = observe(hosts, timeout or self.p["connect_timeout"], self.p.get("shared_paths") or (),
                      self.p["cpu_allocation_ratio"], self.p["reserved_host_memory"], timeouts=timeouts or {})
        read = self.clock()
        for name, obs in out.items():
            obs.vms = tuple(replace(vm, seen=asked, seen_by="pass") for vm in obs.vms)
            if not obs.reachable and obs.conn is not None:
                # It answered, then stopped answering while its VMs were read: its unreachable
                # time counts from now at the earliest (never from before an answer), whatever
                # an event's hint says.
                self.answered[name] = read
                self.first_seen[name] = read
            elif not obs.reachable:
                # It has not answered since the read was asked (not since the read gave up, a
                # connect timeout later): its unreachable time counts from then.
                self.first_seen.setdefault(name, asked)
        return out

    def _first_read_timeouts(self, state):
        """The connect timeouts of the pass's first read for the hosts already known to be
        unreachable (an event's hint, the state file), name -> seconds: at most the time left
        until the host is due, so that a hung host's read does not outlast its host_timeout, and
        ``MIN_REREAD`` seconds for a host due already (what a re-read gets: a host that answers
        is not held back by this).  The other hosts get the full connect timeout."""
        timeout, now = self.p["connect_timeout"], self.clock()
        known = {}
        for name, since in (self.p.get("unreachable_since") or {}).items():
            if since is not None and name in self.hosts:
                known[name] = min(since, known.get(name, since))
        for name, mark in state["hosts"].items():
            if mark.get("unreachable_since") and name in self.hosts:
                known[name] = min(mark["unreachable_since"], known.get(name, mark["unreachable_since"]))
        return {name: min(timeout, max(MIN_REREAD, since + self.p["host_timeout"] - now)) for name, since in known.items()}

    def _since(self, name, mark, now):
        """When the host became unreachable: the earliest of what the state file, an event's hint
        and this pass saw, but never before it was last seen reachable, nor in the future."""
        first = self.first_seen.setdefault(name, now)
        floor = max(mark.get("last_reachable") or float("-inf"), self.answered.get(name, float("-inf")))
        hint = (self.p.get("unreachable_since") or {}).get(name)
        candidates = [t for t in (mark.get("unreachable_since"), hint, first) if t is not None and floor <= t <= now]
        return min(candidates) if candidates else first

    def _records(self, observed, state, now):
        records = []
        confirmed = set(self.p.get("confirmed_off") or ())
        for name, obs in sorted(observed.items()):
            mark = state["hosts"].get(name, {})
            agent = (self.fencing.get(name) or {}).get("agent")
            kind = "manual" if agent == "manual" else ("agent" if agent else "none")
            if obs.reachable:
                self.first_seen.pop(name, None)
                records.append(rp.HostRecord(name, True, degraded=obs.degraded, in_maintenance=obs.in_maintenance,
                                             fencing=kind, fenced=bool(mark.get("fenced_at")),
                                             capacity=None if obs.degraded else obs.capacity,
                                             vms=() if obs.degraded else obs.vms))
            else:
                records.append(rp.HostRecord(name, False, unreachable_since=self._since(name, mark, now), why=obs.why,
                                             in_maintenance=bool(mark.get("in_maintenance")),
                                             fencing=kind, confirmed_off=name in confirmed,
                                             fenced=bool(mark.get("fenced_at"))))
        return records

    def _wait_until_due(self, observed, state):
        """Re-read the unreachable hosts until each is reachable again or due for fencing; then
        read again every host the wait's last round did not read (what they said is stale: a
        host that answered before the wait, and a host that was already due then, which may
        answer again by now and must not be fenced on an old read), not those it has just read.

        A host that does not answer holds a read for its whole connect timeout, so each re-read
        is given at most the time left until the first host is due (at least ``MIN_REREAD``
        seconds: a slow host still has that long to answer): the decision comes at host_timeout,
        not a connect timeout after it."""
        timeout = self.p["host_timeout"]
        last_read = set()
        waited = False
        while True:
            now = self.clock()
            records = self._records(observed, state, now)
            # the plan's own rule says which hosts are not yet due for fencing
            wait = {d.host for d in rp.fencing_due(records, timeout, now) if d.action == "wait"}
            waiting = [h for h in records if h.name in wait]
            if not waiting or self.check_mode or not self.p["wait"]:
                break
            self._check_abandoned("waiting for %s" % ", ".join(h.name for h in waiting))
            due = min(h.unreachable_since + timeout for h in waiting)
            read_timeout = min(self.p["connect_timeout"], max(MIN_REREAD, due - now))
            observed.update(self._observe([h.name for h in waiting], read_timeout))
            last_read = {h.name for h in waiting}
            waited = True
            spent = self.clock() - now
            if spent < REREAD_INTERVAL:     # refused at once (no libvirtd there): pace the re-reads
                self.sleep(max(0.0, min(REREAD_INTERVAL - spent, due - self.clock())))
        stale = [name for name in observed if name not in last_read]
        if waited and stale:
            observed.update(self._observe(stale))
            now = self.clock()
            records = self._records(observed, state, now)
        return observed, records, now

    # --- the pass ------------------------------------------------------------------------------
    def preflight(self):
        """Refuse, before anything is read or written, what this pass could not act on when it
        is needed: an empty group, a fencing entry that would fail at fence time (unknown host,
        agent not installed, an option the agent cannot read, an unreadable password file),
        a state file that cannot be read or belongs to another group."""
        if not self.hosts:
            raise lc.VirtError("hosts: the group has no host: a recovery pass needs the hosts of its group"
                               " (an empty inventory group?)")
        for name in sorted(self.fencing):
            config = self.fencing[name]
            if name not in self.hosts:
                raise lc.VirtError("fencing.%s: no such host in hosts (%s)" % (name, ", ".join(sorted(self.hosts))))
            try:
                fencing.check_config(name, config)
                if config.get("agent") != "manual":
                    fencing.agent_path(config["agent"])
                    config = fencing.read_password_file(name, config)
                    fencing.agent_input(config, "status")
            except fencing.FenceError as err:
                raise lc.VirtError("%s (fencing.%s)" % (err, name) if "fencing." not in str(err) else str(err)) from None
            self.fencing[name] = config
        unknown = sorted(set(self.p.get("confirmed_off") or ()) - set(self.hosts))
        if unknown:
            raise lc.VirtError("confirmed_off: no such host in hosts: %s" % ", ".join(unknown))
        self.vm_events = self._vm_events()
        # Read before the lock is taken: an unreadable file refuses the pass with no .lock left.
        state = rs.load(self.p["state_file"])
        rs.check_group(self.p["state_file"], state, self.hosts)
        return state

    def _vm_events(self):
        """The VM events given (vm_events), those a pass cannot use left out with a warning: of a
        host outside the group (the rulebook watches other hosts than the inventory group holds?),
        or from the future (a clock set back: it would outweigh every later reading)."""
        out, now = [], self.clock()
        for index, entry in enumerate(self.p.get("vm_events") or []):
            event = events.VmEvent(entry["vm"], entry["host"], entry["event"], float(entry["time"]),
                                   entry.get("reason") or "", entry.get("uuid") or "")
            if event.host not in self.hosts:
                self.warnings.append("vm_events[%d]: %s is not a host of this group (%s): the %s of %s there is ignored;"
                                     " does the rulebook watch other hosts than the group holds?" % (
                                         index, event.host, ", ".join(sorted(self.hosts)), event.event, event.vm))
            elif event.time > now + FUTURE_SLACK:
                self.warnings.append("vm_events[%d]: %s %s on %s at %s, %.0fs from now: ignored (a clock set back?)" % (
                    index, event.vm, event.event, event.host, rp.utc_text(event.time), event.time - now))
            else:
                out.append(event)
        return out

    def _remembered(self, state):
        """The records of the state file, brought up to date by the VM events given."""
        remembered, self.applied = events.apply_vm_events(rs.remembered(state), self.vm_events)
        return remembered

    def run(self):
        try:
            state = self.preflight()
            if self.check_mode:
                return self._decide_only(state)
            with rs.Lock(self.p["state_file"], self.p["lock_timeout"], give_up=self._abandoned):
                return self._run_locked()
        except rs.StateError as err:
            raise lc.VirtError(str(err)) from None

    def _decide_only(self, state):
        remembered = self._remembered(state)
        observed, records, now = self._wait_until_due(self._observe(timeouts=self._first_read_timeouts(state)), state)
        due = rp.fencing_due(records, self.p["host_timeout"], now)
        decided = rp.decide(records, remembered, self.p["host_timeout"], now,
                            anti_affinity=self.p.get("anti_affinity") or (),
                            fenced_ok=[d.host for d in due if d.action == "fence"])
        self.done = [dict(d.as_dict(), done=False) for d in decided.decisions]
        self.changed = any(d.action in ACTING for d in decided.decisions)
        self._close(observed)
        return self._result(records, now)

    def _run_locked(self):
        state = rs.load(self.p["state_file"])
        rs.check_group(self.p["state_file"], state, self.hosts)
        remembered = self._remembered(state)
        observed, records = {}, []
        now = self.clock()
        try:
            self._check_abandoned("reading the group")
            observed, records, now = self._wait_until_due(self._observe(timeouts=self._first_read_timeouts(state)), state)
            for decision in rp.plan_restarts(records, now, remembered):
                if decision.action == "restart":
                    self._check_abandoned("restarting %s" % decision.vm)
                    self._restart(observed[decision.host], decision)
                else:
                    self.done.append(dict(decision.as_dict(), done=False))
            self._check_abandoned("fencing")
            down = self._fence(state, records, now)
            if down:
                decisions = rp.plan_failover(down, records, remembered, self.p.get("anti_affinity") or (), now)
                self._failovers(observed, state, [d for d in decisions if d.action == "failover"], self._check_abandoned)
                self.done.extend(dict(d.as_dict(), done=False) for d in decisions if d.action != "failover")
            self._check_abandoned("handling the hosts back")
            self._returns(observed, state, rp.plan_returns(records, remembered))
        except Abandoned as why:
            self.errors.append(str(why))
            self.warnings.append(str(why))
        finally:
            if records:
                # What this pass started runs, what it removed is gone: the state it keeps is
                # never older than its own work (else a VM it restarted would be remembered as
                # crashed, and left down should its host fail before the next pass).
                acted = rp.after_acting(records, remembered, self.started, self.removed, at=now)
                self._remember(state, acted, remembered, observed, now)
                rs.save(self.p["state_file"], state)
            self._close(observed)
        return self._result(records, now)

    # --- remembering ---------------------------------------------------------------------------
    def _remember(self, state, records, remembered, observed, now):
        state["group"] = dict(self.hosts)
        for host in records:
            mark = state["hosts"].setdefault(host.name, {})
            if host.reachable:
                mark.pop("unreachable_since", None)
                mark.pop("fence_failed_at", None)
                mark.pop("fence_failed", None)
                mark["last_reachable"] = now
                # kept for when it stops answering: a host emptied for maintenance is not fenced
                mark["in_maintenance"] = bool(host.in_maintenance)
            else:
                mark["unreachable_since"] = host.unreachable_since
        definitions = {}
        for obs in observed.values():
            if obs.reachable and not obs.degraded:
                definitions.update(obs.definitions)
        rs.set_remembered(state, rp.remember(remembered, records), definitions)

    @staticmethod
    def _close(observed, timeout=CLOSE_TIMEOUT):
        """Close the connections of the reachable hosts, each in a thread of its own: closing
        asks the host (a call that never returns from a libvirtd hung since it was read), so a
        close still waiting after ``timeout`` seconds is left to end with the process."""
        fanout.ask_all({obs.name: obs.conn.close for obs in observed.values() if obs.reachable}, timeout, prefix="close")

    def _result(self, records, now):
        hosts = {}
        for host in records:
            if host.reachable:
                hosts[host.name] = {"state": "up" if not host.degraded else "up, not read", "vms": len(host.vms),
                                    "in_maintenance": host.in_maintenance}
                if host.degraded:
                    hosts[host.name]["why"] = host.degraded
            else:
                hosts[host.name] = {"state": "unreachable", "why": host.why,
                                    "unreachable_for_s": round(now - host.unreachable_since, 1),
                                    "fencing": host.fencing}
        for result in self.fenced:
            hosts[result["host"]]["state"] = "fenced" if result["ok"] else "fence failed"
        for name in self.held:
            hosts[name]["state"] = "fence failed"
        attention = [d for d in self.done if d["action"] in ("unplaced", "local_storage", "limit", "no_fencing")
                     or d.get("ok") is False]
        waiting = [d for d in self.done if d["action"] == "wait"]
        result = {"changed": self.changed, "hosts": hosts, "decisions": self.done, "fenced": self.fenced,
                  "restarted": [d["vm"] for d in self.done if d["action"] == "restart" and d.get("ok")],
                  "recovered": [{"vm": d["vm"], "from": d["host"], "to": d["target"]} for d in self.done
                                if d["action"] == "failover" and d.get("ok")],
                  "attention": attention, "check_mode": self.check_mode, "warnings": list(self.warnings),
                  "vm_events": [{"vm": e.vm, "host": e.host, "event": e.event, "reason": e.reason, "time": e.time}
                                for e in self.applied]}
        if self.errors:
            result["failed"] = True
            result["msg"] = "; ".join(self.errors)
            return result
        acted = [d for d in self.done if d.get("done") or (self.check_mode and d["action"] in ACTING)]
        parts = []
        if acted:
            parts.append("%d decision(s)%s" % (len(acted), " (check mode: nothing done)" if self.check_mode else ""))
        if waiting:
            parts.append("%d host(s) unreachable, not yet for host_timeout: %s" % (
                len(waiting), ", ".join(d["host"] for d in waiting)))
        if attention:
            parts.append("%d needing attention" % len(attention))
        result["msg"] = "; ".join(parts) or "every host up, no HA vm down"
        return result


def run_recover(params, check_mode):
    return Pass(params, check_mode).run()
