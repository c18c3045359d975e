# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live recovery decisions: a pure function of the observed group.  No libvirt, no Ansible.

One reconciliation pass over a resource group observes every host (reachable or not, and since
when), the VMs of the reachable ones, and remembers the HA VMs of every host from earlier passes.
From that, :func:`decide` answers, each decision with its reason:

* ``restart``: an HA VM that stopped with reason *crashed* or *failed* on a reachable host starts
  again there, unless it was restarted ``count`` times within its ``window`` already (a crash loop
  is left off and reported: ``limit``).  A VM an operator (or the collection) shut down or
  destroyed is never restarted.
* ``wait``: a host unreachable for less than ``host_timeout`` is not declared failed yet.
* ``fence``: a host unreachable for ``host_timeout`` is powered off by its fence agent before
  anything of it runs elsewhere; ``no_fencing`` when it has none and no operator confirmed it off.
* ``failover``: the HA VMs of a host that is fenced (or confirmed off) start on the other hosts,
  highest priority first, each placed with maintenance's own rules (:mod:`placement`: free memory
  and vCPUs, anti-affinity, never a host in maintenance or unreachable).  ``unplaced`` when no host
  can take one (priorities honoured: a VM is only left out when it fits nowhere after every VM of
  higher priority was placed), ``local_storage`` when its disks are not on storage the others
  see, ``elsewhere`` when it already runs on a reachable host.
* ``clean_stale``: when a failed host is back, its definitions of VMs that now live elsewhere are
  removed there (never started), and ``start_returned``: its HA VMs that could not go elsewhere
  start on it again.

What is remembered of a host's VMs is as fresh as the last pass that read it; the starts and stops
the event source saw since (:func:`events.apply_vm_events`) bring it up to date before anything is decided.

Safety rules, checked by property tests: a VM is placed at most once; nothing of a host is started
elsewhere unless that host is fenced or confirmed off; a VM found on a reachable host is never
placed again.  :func:`fencing_due` and :func:`plan_failover` are separate because fencing happens
between them (the caller fences, then asks for placements of what was fenced).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from ansible_collections.hotiron.virt.plugins.module_utils.hosts.cpu_compat import CpuNeed
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.placement import VmDemand, fits

CRASH_REASONS = ("crashed", "failed")
STOPPED_STATES = ("shutoff", "crashed")


@dataclass(frozen=True)
class VmRecord:
    """A VM as observed on its host (or remembered from an earlier pass).

    ``restart_limit`` is ``(count, window seconds)``; ``restarts`` the times of the
    collection's restarts; ``shared`` whether every disk is on storage other hosts see
    (``storage`` says why or why not); ``seen`` when this was known (the time the pass began
    reading its host, or of the event that told it; ``None`` for a record of an older version),
    ``seen_by`` how (``pass``: read on the host; ``event``: a start or stop the event source saw).
    """

    name: str
    host: str
    uuid: str = ""
    state: str = "unknown"
    reason: str = "unknown"
    ha: bool = False
    priority: int = 0
    restart_limit: tuple = (3, 600)
    restarts: tuple = ()
    memory_mib: int = 0
    vcpus: int = 1
    shared: bool = False
    storage: str = ""
    seen: float = None
    seen_by: str = "pass"
    machine: str = ""       # machine type (pc-q35-10.0): a host whose QEMU lacks it cannot start it
    cpu: CpuNeed = None     # what its CPU needs (cpu_compat): a host lacking its model cannot start it


@dataclass(frozen=True)
class HostRecord:
    """A host of the group as observed now.

    ``unreachable_since`` is when it was first seen unreachable (``None`` when reachable);
    ``degraded`` says why a reachable host's VMs could not be read (it is never fenced, receives
    nothing, restarts nothing, and what is remembered of its VMs is kept);
    ``fencing`` is ``agent``, ``manual`` or ``none``; ``confirmed_off`` an operator's
    confirmation that it is powered off; ``fenced`` that an earlier pass fenced it and it has
    not been handled since it came back; ``capacity`` a :class:`placement.HostCapacity` for a
    reachable host; ``vms`` the VMs observed on it (defined ones included).
    """

    name: str
    reachable: bool
    unreachable_since: float = None
    why: str = ""
    degraded: str = None
    in_maintenance: bool = False
    fencing: str = "none"
    confirmed_off: bool = False
    fenced: bool = False
    capacity: object = None
    vms: tuple = ()


@dataclass(frozen=True)
class Decision:
    action: str
    host: str
    vm: str = None
    target: str = None
    reason: str = ""

    def as_dict(self):
        return {"action": self.action, "host": self.host, "vm": self.vm, "target": self.target, "reason": self.reason}


@dataclass
class Plan:
    decisions: list = field(default_factory=list)

    def of(self, *actions):
        return [d for d in self.decisions if d.action in actions]


def utc_text(seconds):
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


# --- restarts on reachable hosts ----------------------------------------------------------------

def restarts_in_window(vm, now):
    """The collection's restarts of ``vm`` within its window before ``now``."""
    _count, window = vm.restart_limit
    return [t for t in vm.restarts if now - t < window]


def plan_restarts(hosts, now, remembered=None):
    """``restart`` or ``limit`` for every crashed HA VM of a reachable host; ``elsewhere`` for a
    crashed definition of a VM that runs on another reachable host, or that last ran on a host now
    unreachable (its copy there may still run: the failover decides, after fencing)."""
    remembered = remembered or {}
    reachable = {h.name for h in hosts if h.reachable}
    out = []
    for host in sorted((h for h in hosts if h.reachable and not h.degraded), key=lambda h: h.name):
        running = running_on_reachable(hosts, exclude=host.name)
        for vm in sorted(host.vms, key=lambda v: (-v.priority, v.name)):
            if not vm.ha or vm.state not in STOPPED_STATES:
                continue
            if vm.state == "shutoff" and vm.reason not in CRASH_REASONS:
                continue  # shut down or destroyed on purpose, migrated, saved: not a crash
            last = remembered.get(vm.name)
            if vm.name in running:
                out.append(Decision("elsewhere", host.name, vm.name, running[vm.name],
                                    "%s runs on %s: its crashed definition on %s is not started"
                                    % (vm.name, running[vm.name], host.name)))
                continue
            if last is not None and last.host != host.name and last.host not in reachable \
                    and last.state not in STOPPED_STATES:
                out.append(Decision("elsewhere", host.name, vm.name, last.host, (
                    "%s last ran on %s, which is unreachable: not started on %s (the failover decides,"
                    " after fencing)" % (vm.name, last.host, host.name))))
                continue
            count, window = vm.restart_limit
            recent = restarts_in_window(vm, now)
            if len(recent) >= count:
                out.append(Decision("limit", host.name, vm.name, reason=(
                    "crash loop: restarted %d times in the last %ds (limit %d in %ds); left off until an operator"
                    " starts it" % (len(recent), window, count, window))))
                continue
            what = "stopped (%s)" % vm.reason if vm.state == "shutoff" else "crashed (%s)" % vm.reason
            out.append(Decision("restart", host.name, vm.name, reason="HA vm %s on %s; restart %d of %d allowed in %ds"
                                % (what, host.name, len(recent) + 1, count, window)))
    return out


# --- failed hosts -------------------------------------------------------------------------------

def fencing_due(hosts, host_timeout, now):
    """``wait``, ``fence``, ``confirmed`` or ``no_fencing`` for every unreachable host."""
    out = []
    for host in sorted((h for h in hosts if not h.reachable), key=lambda h: h.name):
        since = host.unreachable_since if host.unreachable_since is not None else now
        gone = now - since
        why = " (%s)" % host.why if host.why else ""
        if host.fenced:
            out.append(Decision("fenced", host.name, reason="%s was fenced by an earlier pass and is still down" % host.name))
        elif host.in_maintenance and not host.confirmed_off:
            # Emptied for maintenance, then silent: an upgrade restarting libvirtd or a reboot
            # (playbooks/rolling_upgrade.yml), not a failure to power off mid-way.
            out.append(Decision("no_fencing", host.name, reason=(
                "%s unreachable for %.1fs%s, in maintenance when last seen: not fenced; nothing of it starts"
                " elsewhere until it answers again or an operator confirms it is off (confirmed_off)"
                % (host.name, gone, why))))
        elif gone < host_timeout:
            out.append(Decision("wait", host.name, reason="%s unreachable for %.1fs%s, declared failed after %gs"
                                % (host.name, gone, why, host_timeout)))
        elif host.confirmed_off:
            out.append(Decision("confirmed", host.name, reason="%s unreachable for %.1fs%s; an operator confirmed it is off"
                                % (host.name, gone, why)))
        elif host.fencing in ("agent",):
            out.append(Decision("fence", host.name, reason="%s unreachable for %.1fs%s (>= %gs): fence it before its"
                                " VMs start elsewhere" % (host.name, gone, why, host_timeout)))
        else:
            out.append(Decision("no_fencing", host.name, reason=(
                "%s unreachable for %.1fs%s but it has no fence agent: nothing of it starts elsewhere until an"
                " operator confirms it is off (confirmed_off)" % (host.name, gone, why))))
    return out


def meant_to_run(vm, now):
    """Whether an HA VM recorded as stopped was meant to be running: it stopped by a crash (not
    by an operator) and its restart limit still allows a restart - the collection would have
    started it again (and may have: a record is only as fresh as the last observation)."""
    if not vm.ha or vm.state not in STOPPED_STATES:
        return False
    if vm.state == "shutoff" and vm.reason not in CRASH_REASONS:
        return False
    return len(restarts_in_window(vm, now)) < vm.restart_limit[0]


def plan_failover(down, hosts, remembered, anti_affinity=(), now=None):
    """Placements of the HA VMs of the hosts in ``down`` (fenced or confirmed off).

    ``hosts`` are every host of the group as observed (the reachable ones, not in maintenance
    and not in ``down``, receive); ``remembered`` the VM records of earlier passes (name ->
    :class:`VmRecord`, ``host`` = where it last ran).  A VM recorded as crashed within its
    restart limit counts as running (:func:`meant_to_run`); ``now`` (default: the latest restart
    recorded) is when the limit's window ends.  Returns decisions
    ``failover`` (with a target), ``elsewhere``, ``was_stopped``, ``local_storage`` and ``unplaced``.
    """
    down = set(down)
    if now is None:
        now = max((t for vm in remembered.values() for t in vm.restarts), default=0.0)
    on_reachable = running_on_reachable(hosts)
    candidates, out = [], []
    for vm in sorted(remembered.values(), key=lambda v: v.name):
        if vm.host not in down or not vm.ha:
            continue
        if vm.name in on_reachable:
            out.append(Decision("elsewhere", vm.host, vm.name, on_reachable[vm.name],
                                "%s runs on %s, which is up: nothing to recover" % (vm.name, on_reachable[vm.name])))
        elif vm.state in STOPPED_STATES and not meant_to_run(vm, now):
            if vm.seen_by == "event":
                why = ("%s was stopped on %s (%s, %s) at %s, as the event source saw, after %s was last read"
                       % (vm.name, vm.host, vm.state, vm.reason, utc_text(vm.seen), vm.host))
            else:
                why = "%s was not running when %s was last seen (%s, %s)" % (vm.name, vm.host, vm.state, vm.reason)
            out.append(Decision("was_stopped", vm.host, vm.name, reason=why))
        elif not vm.shared:
            why = vm.storage or "its disks are local"
            out.append(Decision("local_storage", vm.host, vm.name, reason=(
                "%s cannot start on another host: %s; it starts again when %s is back" % (vm.name, why, vm.host))))
        else:
            candidates.append(vm)
    state = {h.name: h.capacity for h in hosts
             if h.reachable and h.name not in down and h.capacity is not None}
    groups = [frozenset(g) for g in anti_affinity]
    # Highest priority first; among equals the largest first (hardest to fit), then by name.
    for vm in sorted(candidates, key=lambda v: (-v.priority, -v.memory_mib, -v.vcpus, v.name)):
        demand = VmDemand(vm.name, vm.memory_mib, vm.vcpus, machine=vm.machine, cpu=vm.cpu)
        reasons, fitting = {}, []
        for name in sorted(state):
            capacity = state[name]
            why = fits(demand, capacity, groups)
            if why is None:
                fitting.append(capacity)
            else:
                reasons[name] = why
        if not fitting:
            out.append(Decision("unplaced", vm.host, vm.name, reason="priority %d: no host can take it: %s" % (
                vm.priority, "; ".join(reasons[n] for n in sorted(reasons)) or "no other host is up")))
            continue
        best = min(fitting, key=lambda h: (-h.free_memory_mib, -h.free_vcpus, h.name))
        state[best.name] = best.take(demand)
        out.append(Decision("failover", vm.host, vm.name, best.name, "priority %d, %d MiB, %d vCPU(s): %s has the most"
                            " free memory (%d MiB)" % (vm.priority, vm.memory_mib, vm.vcpus, best.name,
                                                       best.free_memory_mib)))
    return out


# --- a fenced host that is back ------------------------------------------------------------------

def running_on_reachable(hosts, exclude=None):
    """VM name -> the reachable host (other than ``exclude``) where it runs (or is paused)."""
    out = {}
    for host in sorted(hosts, key=lambda h: h.name):
        if host.reachable and host.name != exclude:
            for vm in host.vms:
                if vm.state not in STOPPED_STATES:
                    out.setdefault(vm.name, host.name)
    return out


def plan_return(host, remembered, running_elsewhere):
    """For a host fenced earlier and reachable again: which of its definitions are stale.

    ``remembered`` are the VM records from before it failed (name -> :class:`VmRecord`);
    ``running_elsewhere`` maps VM name -> the reachable host (not ``host``) where it runs now.  A
    VM of ``host`` running elsewhere is stale here (``clean_stale``: removed, or stopped and
    removed when it runs here too, which the disk locks should have refused); an HA VM that ran
    here when the host failed and went nowhere starts here again (``start_returned``); the host
    is then handled (``returned``).
    """
    out = []
    for vm in sorted(host.vms, key=lambda v: v.name):
        where = running_elsewhere.get(vm.name)
        before = remembered.get(vm.name)
        if where is not None:
            twice = vm.state not in STOPPED_STATES
            out.append(Decision("clean_stale", host.name, vm.name, where, (
                "%s runs on %s since %s failed: this stale definition%s is removed" % (
                    vm.name, where, host.name, " (running here too: stopped first)" if twice else ""))))
        elif (vm.ha and vm.state in STOPPED_STATES and before is not None and before.host == host.name
              and before.state not in STOPPED_STATES):
            out.append(Decision("start_returned", host.name, vm.name, reason=(
                "HA vm %s could not start elsewhere while %s was down: started again on it" % (vm.name, host.name))))
    out.append(Decision("returned", host.name, reason="%s is reachable again after being fenced" % host.name))
    return out


# --- the whole pass ------------------------------------------------------------------------------

def decide(hosts, remembered, host_timeout, now, anti_affinity=(), fenced_ok=()):
    """Every decision of one pass, as check mode shows it.

    ``fenced_ok`` are hosts whose fencing the caller has done (or, in check mode, would do):
    their VMs are placed as if the fencing succeeded.  Without it, only hosts fenced earlier or
    confirmed off get placements.
    """
    plan = Plan()
    plan.decisions.extend(plan_restarts(hosts, now, remembered))
    due = fencing_due(hosts, host_timeout, now)
    plan.decisions.extend(due)
    down = {d.host for d in due if d.action in ("fenced", "confirmed")} | set(fenced_ok)
    if down:
        plan.decisions.extend(plan_failover(down, hosts, remembered, anti_affinity, now))
    plan.decisions.extend(plan_returns(hosts, remembered))
    return plan


def plan_returns(hosts, remembered):
    """:func:`plan_return` for every host fenced earlier that is reachable (and read) again."""
    out = []
    for host in sorted((h for h in hosts if h.reachable and h.fenced and not h.degraded), key=lambda h: h.name):
        out.extend(plan_return(host, remembered, running_on_reachable(hosts, exclude=host.name)))
    return out


def remember(remembered, hosts):
    """The VM records to keep after this pass (pure).

    What is known of the VMs of hosts that are not reachable stays as it was last seen; every VM
    seen on a reachable host is recorded as seen there (running before stopped when it is on two,
    as a stale definition on a host back from a failure is).  A stopped definition on a reachable
    host does not replace the record of a VM that ran on a host now down: that VM still needs
    recovering.  A VM seen nowhere whose host is reachable is forgotten (it was removed).
    """
    read = {h.name for h in hosts if h.reachable and not h.degraded}
    out = {name: vm for name, vm in remembered.items() if vm.host not in read}
    seen = {}
    for host in sorted((h for h in hosts if h.reachable and not h.degraded), key=lambda h: h.name):
        for vm in host.vms:
            current = seen.get(vm.name)
            if current is None or (current.state in STOPPED_STATES and vm.state not in STOPPED_STATES):
                seen[vm.name] = replace(vm, host=host.name)
    for name, vm in seen.items():
        if name in out and vm.state in STOPPED_STATES and out[name].state not in STOPPED_STATES:
            continue
        out[name] = vm
    return out


def after_acting(hosts, remembered, started=(), removed=(), at=None):
    """The hosts as this pass left them (pure): what it started counts as running where it started
    it, what it removed is gone, so that the state it saves is never older than its own work.

    ``started`` are ``(host, vm name, restarts)`` of every VM this pass started (restarted on its
    host, failed over, started on its returned host); ``restarts`` the restart times the pass
    wrote into its metadata (``None``: unchanged).  A failed-over VM is not in its target's
    observed VMs: its record is the remembered one, moved.  ``removed`` are ``(host, vm name)``
    of the stale definitions it removed; ``at`` (when it acted, or before) becomes the ``seen``
    of what it started, so that a stop seen after it wins over it (:func:`events.apply_vm_events`).
    """
    started_on = {}
    for host, name, restarts in started:
        started_on.setdefault(host, {})[name] = restarts
    gone = {}
    for host, name in removed:
        gone.setdefault(host, set()).add(name)
    out = []
    for host in hosts:
        mine = started_on.get(host.name, {})
        if not host.reachable or (not mine and host.name not in gone):
            out.append(host)
            continue
        vms, have = [], set()
        for vm in host.vms:
            if vm.name in gone.get(host.name, ()):
                continue
            if vm.name in mine:
                vm = _running(vm, mine[vm.name], at)
            vms.append(vm)
            have.add(vm.name)
        for name, restarts in sorted(mine.items()):
            if name not in have and name in remembered:
                vms.append(_running(replace(remembered[name], host=host.name), restarts, at))
        out.append(replace(host, vms=tuple(vms)))
    return out


def _running(vm, restarts, at=None):
    vm = replace(vm, state="running", reason="booted", seen=vm.seen if at is None else at, seen_by="pass")
    return vm if restarts is None else replace(vm, restarts=tuple(restarts))
