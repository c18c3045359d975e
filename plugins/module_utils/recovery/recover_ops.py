# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One recovery pass over a resource group: observe, decide, fence, act, remember.

The decisions are :mod:`recovery.plan`'s (pure); this file reads the group
(:mod:`recovery.observe`), waits while an unreachable host is not yet due, fences with
:mod:`recovery.fencing`, carries the decisions out through libvirt and keeps the group's memory in
the state file (:mod:`recovery.state`), under its lock.  In check mode it reads and decides only:
no wait, no fence, no start, no write of the state file.

Order of safety: a failed host's VMs start elsewhere only after its fence agent powered it off and
a status read back said OFF (or an operator confirmed it off); just before each start the VM is
looked for again on every reachable host; and the disk locks (QEMU's image locks, virtlockd's
leases) refuse a start while another host still holds the disks, which the pass reports as such
and undoes (the definition it made goes again).
"""

from __future__ import annotations

import time

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils import vm_policy
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import fencing
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import plan as rp
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import state as rs
from ansible_collections.hotiron.virt.plugins.module_utils.recovery.observe import observe

libvirt = lc.libvirt

# Words in libvirt's error when a disk is still held by another host (QEMU image locks, virtlockd).
LOCK_WORDS = ("write\" lock", "write lock", "Failed to get", "resource busy", "lockspace", "Failed to acquire lock")


class Pass:
    """The work of one pass; ``run()`` returns the module's result."""

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
        self.changed = False
        self.errors = []
        self.first_seen = {}    # host -> when this pass first found it unreachable

    # --- observing -----------------------------------------------------------------------------
    def _observe(self, names=None):
        hosts = {n: self.hosts[n] for n in (names or self.hosts)}
        return observe(hosts, self.p["connect_timeout"], self.p.get("shared_paths") or (),
                       self.p["cpu_allocation_ratio"], self.p["reserved_host_memory"])

    def _records(self, observed, state, now):
        records = []
        confirmed = set(self.p.get("confirmed_off") or ())
        hints = self.p.get("unreachable_since") or {}
        for name, obs in sorted(observed.items()):
            mark = state["hosts"].get(name, {})
            agent = (self.fencing.get(name) or {}).get("agent")
            kind = "manual" if agent == "manual" else ("agent" if agent else "none")
            if obs.reachable:
                self.first_seen.pop(name, None)
                records.append(rp.HostRecord(name, True, in_maintenance=obs.in_maintenance, fencing=kind,
                                             fenced=bool(mark.get("fenced_at")), capacity=obs.capacity, vms=obs.vms))
            else:
                first = self.first_seen.setdefault(name, now)
                since = min(t for t in (mark.get("unreachable_since"), hints.get(name), first) if t is not None)
                records.append(rp.HostRecord(name, False, unreachable_since=since, why=obs.why, fencing=kind,
                                             confirmed_off=name in confirmed, fenced=bool(mark.get("fenced_at"))))
        return records

    def _wait_until_due(self, observed, state):
        """Re-read the unreachable hosts until each is reachable again or due for fencing."""
        timeout = self.p["host_timeout"]
        while True:
            now = self.clock()
            records = self._records(observed, state, now)
            waiting = [h for h in records if not h.reachable and not h.fenced and now - h.unreachable_since < timeout]
            if not waiting or self.check_mode or not self.p["wait"]:
                return observed, records, now
            due = min(h.unreachable_since + timeout for h in waiting)
            self.sleep(max(0.0, min(1.0, due - now)))
            observed.update(self._observe([h.name for h in waiting]))

    # --- the pass ------------------------------------------------------------------------------
    def run(self):
        for name, config in self.fencing.items():
            if name not in self.hosts:
                raise lc.VirtError("fencing.%s: no such host in hosts (%s)" % (name, ", ".join(sorted(self.hosts))))
            try:
                fencing.check_config(name, config)
            except fencing.FenceError as err:
                raise lc.VirtError(str(err)) from None
        unknown = sorted(set(self.p.get("confirmed_off") or ()) - set(self.hosts))
        if unknown:
            raise lc.VirtError("confirmed_off: no such host in hosts: %s" % ", ".join(unknown))
        try:
            with rs.Lock(self.p["state_file"], self.p["lock_timeout"]):
                return self._run_locked()
        except rs.StateError as err:
            raise lc.VirtError(str(err)) from None

    def _run_locked(self):
        state = rs.load(self.p["state_file"])
        remembered = rs.remembered(state)
        observed = self._observe()
        observed, records, now = self._wait_until_due(observed, state)
        decided = rp.decide(records, remembered, self.p["host_timeout"], now,
                            anti_affinity=self.p.get("anti_affinity") or (),
                            fenced_ok=[d.host for d in rp.fencing_due(records, self.p["host_timeout"], now)
                                       if d.action == "fence"] if self.check_mode else ())
        if self.check_mode:
            self.done = [dict(d.as_dict(), done=False) for d in decided.decisions]
            self.changed = any(d.action in ACTING for d in decided.decisions)
            return self._result(records, now)

        for decision in decided.of("restart"):
            self._restart(observed[decision.host], decision)
        down = []
        for decision in rp.fencing_due(records, self.p["host_timeout"], now):
            entry = dict(decision.as_dict(), done=False)
            mark = state["hosts"].setdefault(decision.host, {})
            if decision.action == "fence":
                result = fencing.fence_off(decision.host, self.fencing[decision.host], self.p["fence_timeout"])
                self.fenced.append(result.as_dict())
                entry.update(done=True, ok=result.ok, outcome=result.message)
                self.changed = True
                if result.ok:
                    mark["fenced_at"] = self.clock()
                    down.append(decision.host)
                else:
                    self.errors.append(result.message + "; nothing of %s was started elsewhere" % decision.host)
            elif decision.action == "confirmed":
                mark["fenced_at"] = self.clock()
                mark["confirmed_by_operator"] = True
                entry.update(done=True, ok=True, outcome="recorded as off on an operator's confirmation")
                self.changed = True
                down.append(decision.host)
            elif decision.action == "fenced":
                down.append(decision.host)
            self.done.append(entry)
        for decision in decided.of("limit"):
            self.done.append(dict(decision.as_dict(), done=False))
        if down:
            for decision in rp.plan_failover(down, records, remembered, self.p.get("anti_affinity") or ()):
                if decision.action == "failover":
                    self._failover(observed, state, decision)
                else:
                    self.done.append(dict(decision.as_dict(), done=False))
        for decision in decided.of("clean_stale", "start_returned", "returned"):
            self._returned(observed[decision.host], state, decision)
        self._remember(state, records, remembered, observed, now)
        rs.save(self.p["state_file"], state)
        return self._result(records, now)

    # --- acting --------------------------------------------------------------------------------
    def _restart(self, obs, decision):
        entry = dict(decision.as_dict(), done=True)
        try:
            dom = lc.lookup_domain(obs.conn, decision.vm)
            with lc.attempt("restart vm %s on %s" % (decision.vm, obs.uri)):
                root = dx.parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
                meta = dx.read_metadata(root)
                count, window = vm_policy.restart_limit(meta)
                now = self.clock()
                recent = [t for t in vm_policy.restarts(meta) if now - t < window]
                meta["restarts"] = vm_policy.format_restarts(recent + [now])
                dx.write_metadata(root, meta)
                dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, dx.metadata_xml(root), dx.PREFIX, dx.NS,
                                libvirt.VIR_DOMAIN_AFFECT_CONFIG)
                dom.create()
            entry.update(ok=True, outcome="running again (restart %d of %d in %ds)" % (len(recent) + 1, count, window))
            self.changed = True
        except lc.VirtError as err:
            entry.update(ok=False, outcome=err.message)
            self.errors.append(err.message)
        self.done.append(entry)

    def _failover(self, observed, state, decision):
        entry = dict(decision.as_dict(), done=True)
        target = observed[decision.target]
        xml = state["definitions"].get(decision.vm)
        try:
            if xml is None:
                raise lc.VirtError("no definition of %s is known (it was never seen while %s was up)"
                                   % (decision.vm, decision.host))
            for obs in observed.values():  # the last look before a start: is it running anywhere now?
                if obs.reachable:
                    dom = lc.lookup_domain(obs.conn, decision.vm)
                    if dom is not None and dom.isActive():
                        raise lc.VirtError("%s is running on %s now: not started again" % (decision.vm, obs.name))
            existed = lc.lookup_domain(target.conn, decision.vm) is not None
            with lc.attempt("define vm %s on %s" % (decision.vm, target.uri)):
                dom = target.conn.defineXML(xml)
            try:
                with lc.attempt("start vm %s on %s" % (decision.vm, target.uri)):
                    dom.create()
            except lc.VirtError as err:
                if not existed:
                    with lc.attempt("remove the definition of vm %s again from %s" % (decision.vm, target.uri)):
                        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM)
                if any(word in (err.libvirt_message or err.message) for word in LOCK_WORDS):
                    err.extend("; its disks are still locked by another host, so it may still be running there:"
                               " not started (the definition made here was removed)")
                raise
            state["recovered"][decision.vm] = {"from": decision.host, "to": decision.target, "at": self.clock()}
            entry.update(ok=True, outcome="running on %s" % decision.target)
            self.changed = True
        except lc.VirtError as err:
            entry.update(ok=False, outcome=err.message)
            self.errors.append(err.message)
        self.done.append(entry)

    def _returned(self, obs, state, decision):
        entry = dict(decision.as_dict(), done=True)
        try:
            if decision.action == "clean_stale":
                dom = lc.lookup_domain(obs.conn, decision.vm)
                if dom is not None:
                    with lc.attempt("remove the stale definition of vm %s from %s" % (decision.vm, obs.uri)):
                        if dom.isActive():
                            dom.destroy()
                        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM
                                          | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                                          | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
                entry.update(ok=True, outcome="stale definition removed (disks kept)")
            elif decision.action == "start_returned":
                dom = lc.lookup_domain(obs.conn, decision.vm)
                with lc.attempt("start vm %s again on %s" % (decision.vm, obs.uri)):
                    dom.create()
                entry.update(ok=True, outcome="running again on %s" % obs.name)
            else:
                mark = state["hosts"].setdefault(decision.host, {})
                mark.pop("fenced_at", None)
                mark.pop("confirmed_by_operator", None)
                entry.update(ok=True, outcome="handled: %s takes VMs again" % decision.host)
            self.changed = True
        except lc.VirtError as err:
            entry.update(ok=False, outcome=err.message)
            self.errors.append(err.message)
        self.done.append(entry)

    def _remember(self, state, records, remembered, observed, now):
        for host in records:
            mark = state["hosts"].setdefault(host.name, {})
            if host.reachable:
                mark.pop("unreachable_since", None)
            else:
                mark["unreachable_since"] = host.unreachable_since
        definitions = {}
        for obs in observed.values():
            if obs.reachable:
                definitions.update(obs.definitions)
        rs.set_remembered(state, rp.remember(remembered, records), definitions)
        for name in list(state["recovered"]):
            if now - state["recovered"][name]["at"] > 7 * 86400:
                del state["recovered"][name]  # kept a week, for the report of a host that stays down

    def _result(self, records, now):
        hosts = {}
        for host in records:
            if host.reachable:
                hosts[host.name] = {"state": "up", "in_maintenance": host.in_maintenance,
                                    "vms": len(host.vms)}
            else:
                hosts[host.name] = {"state": "unreachable", "why": host.why,
                                    "unreachable_for_s": round(now - host.unreachable_since, 1),
                                    "fencing": host.fencing}
        for result in self.fenced:
            hosts[result["host"]]["state"] = "fenced" if result["ok"] else "fence failed"
        attention = [d for d in self.done if d["action"] in ("unplaced", "local_storage", "limit", "no_fencing")
                     or d.get("ok") is False]
        result = {"changed": self.changed, "hosts": hosts, "decisions": self.done, "fenced": self.fenced,
                  "restarted": [d["vm"] for d in self.done if d["action"] == "restart" and d.get("ok")],
                  "recovered": [{"vm": d["vm"], "from": d["host"], "to": d["target"]} for d in self.done
                                if d["action"] == "failover" and d.get("ok")],
                  "attention": attention, "check_mode": self.check_mode}
        if self.errors:
            result["failed"] = True
            result["msg"] = "; ".join(self.errors)
        else:
            acted = [d for d in self.done if d.get("done") or self.check_mode and d["action"] in ACTING]
            result["msg"] = ("%d decision(s)%s, %d needing attention" % (
                len(acted), " (check mode: nothing done)" if self.check_mode else "", len(attention))
                if acted or attention else "every host up, no HA vm down")
        return result


ACTING = ("restart", "fence", "confirmed", "failover", "clean_stale", "start_returned", "returned")


def run_recover(params, check_mode):
    return Pass(params, check_mode).run()
