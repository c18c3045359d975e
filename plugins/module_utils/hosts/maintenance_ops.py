# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host maintenance, the libvirt-facing half: evacuate a host, mark it, bring it back.

The plan (which VM goes where, which are shut down) is :func:`placement.plan_evacuation`; each
move is one :func:`migrate_ops.migrate`, run concurrently up to ``concurrency``; the mark is the
record of :mod:`maintenance_state`.  A failed move leaves that VM running on the host, the others
still move, and the result names it.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import Guest
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import maintenance_state_ops as maintenance_state
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import capacity_ops
from ansible_collections.hotiron.virt.plugins.module_utils.migration import args, migrate_ops as mo
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.placement import PlacementError, plan_evacuation

libvirt = lc.libvirt


def migration_params(extra):
    """vm_migrate's tuning options with their defaults, overridden by ``extra``."""
    params = args.tuning_defaults()
    unknown = sorted(set(extra or {}) - set(params))
    if unknown:
        raise lc.VirtError("Unknown migration settings: %s (known: %s)" % (", ".join(unknown), ", ".join(sorted(params))))
    params.update(extra or {})
    return params


def maintenance_diff(host, state_before, running_before, state_after, running_after):
    """Diff-mode view of entering or leaving maintenance: the host's state and the VMs running on
    it, before and after (pure)."""
    return {
        "before": {"host": host, "state": state_before, "running_vms": sorted(running_before)},
        "after": {"host": host, "state": state_after, "running_vms": sorted(running_after)},
    }


def _running_names(conn, uri):
    with lc.attempt("list the running vms of %s" % uri):
        return [d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)]


def _host_name_of(uri, hosts):
    for name, host_uri in hosts.items():
        if host_uri == uri:
            return name
    return None


def _shutdown(conn, dom, timeout, clock=time.monotonic, sleep=time.sleep):
    """Ask the guest to shut down; force it off after ``timeout`` seconds (a guest with no ACPI
    or agent that refuses the request is waited for and forced the same way)."""
    how = Guest(conn, dom).stop(timeout, True, clock, sleep, ignore_refusal=True)
    return "shut down" if how == "shut down" else "forced off after %gs" % timeout


def move_one(src_uri, dest_uri, name, tuning, migration_address, reserved, cpu_ratio):
    """One migration of an evacuation (:func:`migrate_ops.move`), its disks copied where the
    destination does not see them."""
    outcome = mo.move(src_uri, dest_uri, name, tuning, migration_address, cpu_ratio, reserved)
    outcome.pop("copied", None)
    return outcome


def run_host_maintenance(params, check_mode):
    """The host_maintenance module's work: ``state`` maintenance or active."""
    uri = params["uri"]
    hosts = dict(params.get("hosts") or {})
    conn = lc.connect(uri)
    with lc.attempt("read the hostname of %s" % uri):
        hostname = conn.getHostname()
    name = _host_name_of(uri, hosts) or hostname
    if params["state"] == "maintenance":
        return _enter(conn, uri, name, hosts, params, check_mode)
    return _leave(conn, uri, name, hosts, params, check_mode)


def _enter(conn, uri, name, hosts, params, check_mode):
    tuning = args.tuning_from_params(migration_params(params.get("migration")))
    record = maintenance_state.read(conn)
    with lc.attempt("list the running vms of %s" % uri):
        running = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
    pinned = set(params.get("pinned") or [])
    demands = []
    for dom in running:
        d = capacity_ops.demand_of(dom)
        demands.append(replace(d, pinned=d.name in pinned))
    already = record is not None and record.get("state") == "maintenance"
    if already and not demands:
        return {"changed": False, "host": name, "state": "maintenance", "moves": [], "shutdown": [],
                "record": record, "msg": "%s is already in maintenance and runs no vm" % name}

    plan, unreachable = _plan(uri, name, hosts, params, demands)
    result = {"host": name, "plan": plan.as_dict(), "unreachable_hosts": unreachable}
    if not plan.complete:
        raise lc.VirtError("Cannot put %s in maintenance: %s; nothing was moved" % (
            name, "; ".join("%s: %s" % kv for kv in sorted(plan.unplaced.items()))))
    before = "maintenance" if already else "active"
    if check_mode:
        result.update(changed=True, state="maintenance", msg="%d vm(s) would move, %d would be shut down"
                      % (len(plan.moves), len(plan.shutdown)),
                      diff=maintenance_diff(name, before, [d.name for d in demands], "maintenance", []))
        return result

    started = time.monotonic()
    moves = _evacuate(uri, name, hosts, params, plan, tuning)
    shutdown = []
    for vm in plan.shutdown:
        dom = lc.lookup_domain(conn, vm)
        shutdown.append({"vm": vm, "how": _shutdown(conn, dom, params["shutdown_timeout"])})
    failed = [m for m in moves if not m["ok"]]
    moved = [{"vm": m["vm"], "to": m["to"], "to_uri": m["to_uri"]} for m in moves if m["ok"]]
    if record and record.get("state") == "maintenance":
        moved = list(record.get("moved", [])) + moved
        plan.shutdown = list(record.get("shutdown", [])) + list(plan.shutdown)
    # The host is marked even when some vms could not move: it is being drained, nothing new
    # should be placed there; state=active clears it.
    maintenance_state.mark(conn, reason="hotiron.virt.host_maintenance", moved=moved, shutdown=plan.shutdown)
    result.update(changed=True, state="maintenance", moves=moves, shutdown=shutdown,
                  duration_s=round(time.monotonic() - started, 3),
                  diff=maintenance_diff(name, before, [d.name for d in demands], "maintenance",
                                        [m["vm"] for m in failed]))
    if failed:
        result["failed"] = True
        result["msg"] = ("%d of %d vm(s) could not leave %s and still run there: %s" % (
            len(failed), len(moves), name, "; ".join("%s: %s" % (m["vm"], m["error"]) for m in failed)))
    else:
        result["msg"] = "%s is in maintenance: %d vm(s) moved, %d shut down" % (name, len(moves), len(shutdown))
    return result


def _plan(uri, name, hosts, params, demands):
    """``(plan, unreachable hosts)``: where the running VMs go (:func:`placement.plan_evacuation`)
    on what the other hosts can take; VirtError when not every VM has a place."""
    capacities, unreachable = [], {}
    for other, other_uri in sorted(hosts.items()):
        if other_uri == uri or other == name:
            continue
        try:
            other_conn = lc.connect(other_uri)
        except lc.VirtError as err:
            unreachable[other] = err.message
            continue
        try:
            capacities.append(capacity_ops.host_capacity(other_conn, other, params["cpu_allocation_ratio"],
                                                         params["reserved_host_memory"]))
        except lc.VirtError as err:
            unreachable[other] = err.message
        finally:
            other_conn.close()
    try:
        plan = plan_evacuation(demands, capacities, source=name,
                               anti_affinity=[set(g) for g in params.get("anti_affinity") or []],
                               pinned_action=params["pinned_action"])
    except PlacementError as err:
        raise lc.VirtError("Cannot put %s in maintenance: %s; nothing was moved" % (name, err)) from err
    return plan, unreachable


def _evacuate(uri, name, hosts, params, plan, tuning):
    """The plan's moves, ``concurrency`` at a time; each move's outcome."""
    addresses = params.get("migration_addresses") or {}
    with ThreadPoolExecutor(max_workers=max(1, params["concurrency"])) as pool:
        futures = [(vm, dest, pool.submit(move_one, uri, hosts[dest], vm, tuning,
                                          args.normalise_address(addresses.get(dest)),
                                          params["reserved_host_memory"], params["cpu_allocation_ratio"]))
                   for vm, dest in plan.moves]
        return [dict(vm=vm, to=dest, to_uri=hosts[dest], **{"from": name}, **future.result())
                for vm, dest, future in futures]


def _leave(conn, uri, name, hosts, params, check_mode):
    record = maintenance_state.read(conn)
    if record is None:
        return {"changed": False, "host": name, "state": "active", "msg": "%s is not in maintenance" % name}
    back = []
    if params["bring_back"]:
        back = list(record.get("moved", []))
    result = {"host": name, "state": "active", "record": record,
              "plan": {"bring_back": back, "start": list(record.get("shutdown", []))}}
    running = _running_names(conn, uri)
    if check_mode:
        result.update(changed=True, msg="%s would leave maintenance" % name, diff=maintenance_diff(
            name, "maintenance", running, "active",
            set(running) | {m["vm"] for m in back} | set(record.get("shutdown", []))))
        return result
    maintenance_state.clear(conn)
    started = {}
    for vm in record.get("shutdown", []):
        dom = lc.lookup_domain(conn, vm)
        if dom is not None and not capacity_ops.is_active(dom):
            Guest(conn, dom).start()
            started[vm] = True
    tuning = args.tuning_from_params(migration_params(params.get("migration")))
    addresses = params.get("migration_addresses") or {}
    moves = []
    with ThreadPoolExecutor(max_workers=max(1, params["concurrency"])) as pool:
        futures = []
        for m in back:
            futures.append((m, pool.submit(move_one, m["to_uri"], uri, m["vm"], tuning,
                                           args.normalise_address(addresses.get(name)),
                                           params["reserved_host_memory"], params["cpu_allocation_ratio"])))
        for m, future in futures:
            moves.append(dict({"vm": m["vm"], "from": m["to"], "to": name}, **future.result()))
    failed = [m for m in moves if not m["ok"]]
    result.update(changed=True, moves=moves, started=sorted(started), diff=maintenance_diff(
        name, "maintenance", running, "active",
        set(running) | {m["vm"] for m in moves if m["ok"]} | set(started)))
    if failed:
        result["failed"] = True
        result["msg"] = "%s left maintenance but %d vm(s) could not come back: %s" % (
            name, len(failed), "; ".join("%s: %s" % (m["vm"], m["error"]) for m in failed))
    else:
        result["msg"] = "%s is active: %d vm(s) brought back, %d started" % (name, len(moves), len(started))
    return result
