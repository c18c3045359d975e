# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""VM and host records shared by the tests of the pure recovery code (recovery.plan, recovery.events)."""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils.hosts.placement import HostCapacity
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import plan as rp


NOW = 1_800_000_000.0


def vm(name, host="hv1", state="running", reason="booted", ha=True, priority=0, memory=512, vcpus=1, shared=True,
       limit=(3, 600), restarts=()):
    return rp.VmRecord(name, host, state=state, reason=reason, ha=ha, priority=priority, memory_mib=memory,
                       vcpus=vcpus, shared=shared, storage="" if shared else "local disk vda", restart_limit=limit,
                       restarts=tuple(restarts))


def up(name, vms=(), free_mib=4096, free_vcpus=8, maintenance=False, fenced=False):
    cap = HostCapacity(name, free_mib, free_vcpus, in_maintenance=maintenance,
                       vms=frozenset(v.name for v in vms if v.state not in rp.STOPPED_STATES))
    return rp.HostRecord(name, True, in_maintenance=maintenance, capacity=cap, vms=tuple(vms), fenced=fenced,
                         fencing="agent")


def down(name, since=NOW - 60, fencing="agent", confirmed=False, fenced=False, maintenance=False):
    return rp.HostRecord(name, False, unreachable_since=since, why="connection refused", fencing=fencing,
                         confirmed_off=confirmed, fenced=fenced, in_maintenance=maintenance)


def actions(decisions):
    return [(d.action, d.vm or d.host) for d in decisions]
