# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rebalancing a resource group: measure, plan (:mod:`capacity.balance`, pure), migrate.

The load comes from the group's own libvirt statistics (two readings ``interval`` seconds apart on
every host at once) or from Prometheus; whether a host stayed hot for the whole window is judged on
its history: Prometheus's range query, the ``history`` a caller hands in (the collection's event
source does), or the ``history_file`` that runs of this module keep (from cron).  The moves are
carried out with vm_migrate's own code and tuning, ``concurrency`` at a time, as host maintenance
does; each VM moved is stamped in its metadata (``moved_at``, which travels with it) so that the
cooldown holds whoever plans next.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import files
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import Guest
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import maintenance_ops
from ansible_collections.hotiron.virt.plugins.module_utils.migration import args, migrate_ops as mo
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import balance
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import inputs
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import prometheus_ops as prometheus
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import stats_ops
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import storage

libvirt = lc.libvirt


def _policy(p, classes):
    weights = dict(balance.DEFAULT_SLA_WEIGHTS)
    weights.update({str(k): float(v) for k, v in (p.get("sla_weights") or {}).items()})
    unknown = sorted(c for c in classes if c not in weights)
    for name in unknown:
        weights[name] = 1.0
    policy = balance.Policy(cpu_high=p["cpu_high"], window_s=float(p["window"]), max_imbalance=p["max_imbalance"],
                            max_moves=p["max_moves"], min_gain=p["min_gain"], cooldown_s=float(p["cooldown"]),
                            cpu_allocation_ratio=p["cpu_allocation_ratio"],
                            reserved_memory_mib=p["reserved_host_memory"], sla_weights=weights,
                            # readings further apart than half the window cannot say the host
                            # stayed hot in between (cron runs a minute apart, a 2-minute window)
                            max_gap_s=max(float(p["window"]) / 2, 3 * float(p.get("interval") or 5)),
                            copy_storage=bool(p.get("copy_storage")))
    try:
        balance.validate_policy(policy)
    except balance.PlanError as err:
        raise lc.VirtError("Invalid rebalance policy: %s" % err) from None
    warnings = ["SLA class %s has no weight in sla_weights: weighted 1 (as bronze)" % n for n in unknown]
    return policy, warnings


def _groups(lists, prefix):
    """VM name -> names of the (anti-)affinity groups it is in, from a list of lists of names."""
    out = {}
    for index, members in enumerate(lists or []):
        for name in members:
            out.setdefault(str(name), []).append("%s%d" % (prefix, index))
    return out


# --- history -----------------------------------------------------------------------------------------

def load_history(path):
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise lc.VirtError("cannot read the load history %s: %s" % (path, err.strerror)) from None
    except ValueError as err:
        raise lc.VirtError("cannot read the load history %s: not JSON (%s)" % (path, err)) from None
    if not isinstance(data, dict) or not all(
            isinstance(points, list) and all(isinstance(pt, list) and len(pt) == 2 and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in pt) for pt in points)
            for points in data.values()):
        raise lc.VirtError("cannot read the load history %s: not host names to [time, load] pairs" % path)
    return {host: [tuple(point) for point in points] for host, points in data.items()}


def save_history(path, history, keep_s, now):
    kept = {host: [[t, v] for t, v in points if now - t <= keep_s] for host, points in history.items()}
    try:
        files.write_atomic(path, json.dumps(kept))
    except OSError as err:
        raise lc.VirtError("cannot write the load history %s: %s" % (path, err.strerror)) from None


def _merge_history(*sources):
    out = {}
    for source in sources:
        for host, points in (source or {}).items():
            out.setdefault(host, []).extend((float(t), float(v)) for t, v in points)
    return {host: sorted(set(points)) for host, points in out.items()}


# --- measuring ----------------------------------------------------------------------------------------

def measure(p, now, samples=2, groups=("cpu",), check_mode=False):
    """``(hosts, vms, history, unreachable)``: balance.Host and balance.Vm of the group as measured,
    the load history measured, and the hosts that could not be read."""
    hosts = p["hosts"]
    readings = stats_ops.read_group(hosts, groups=groups, samples=0 if p["prometheus_url"] else samples,
                                    interval=p["interval"], timeout=p["timeout"], with_policy=True)
    try:
        read_pools(readings, refresh=not check_mode)
    finally:
        for reading in readings.values():
            if reading.conn is not None:
                reading.conn.close()
    return from_readings(p, readings, now)


def _pool_facts(pool, wanted_dirs, with_block, refresh):
    """A :class:`storage.Pool` of an active pool, with the paths of its volumes when the pool is
    over a directory holding a running VM's disk; listed afresh when ``refresh`` (not in check
    mode: a refresh changes the pool's state), else as last refreshed."""
    root = dx.parse(pool.XMLDesc(0))
    kind, path = root.get("type"), storage.norm(dx.get_text(root, "target/path"))
    relevant = path in wanted_dirs
    volumes = frozenset()
    if relevant and kind in storage.FILE_POOL_TYPES:
        if refresh:
            lc.refresh_pool(pool)
        volumes = frozenset(storage.norm(path + "/" + name) for name in pool.listVolumes())
    elif relevant or (with_block and kind not in storage.FILE_POOL_TYPES):
        volumes = frozenset(storage.norm(vol.path()) for vol in pool.listAllVolumes(0))
    return storage.Pool(pool.name(), kind, path, volumes, fresh=refresh)


POOL_READERS = 32     # hosts whose pools are read at once


def read_pools(readings, refresh=True):
    """Give each reading its host's storage pools (``reading.pools``), as far as the running VMs'
    disks need them; a host whose pools cannot be read keeps None (storage does not limit moves
    to or from it, and the migration's own preflight decides)."""
    disks = [d for r in readings.values() for vm_disks in r.disks.values() for d in vm_disks]
    wanted = storage.directories(disks)
    with_block = any(d.kind == "block" for d in disks)

    def read(reading):
        try:
            pools = reading.conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE)
            reading.pools = tuple(_pool_facts(pool, wanted, with_block, refresh) for pool in sorted(pools, key=lambda p: p.name()))
        except libvirt.libvirtError as err:
            reading.pools = None
            reading.pool_error = "cannot read the storage pools of %s: %s" % (reading.name, err.get_error_message())

    # Every host at once (each reading has its own connection; a refresh scans a directory).
    answered = [r for r in readings.values() if not r.error and r.conn is not None]
    if answered:
        with ThreadPoolExecutor(max_workers=min(POOL_READERS, len(answered))) as pool:
            list(pool.map(read, answered))


def from_readings(p, readings, now):
    """:func:`measure` from readings already taken (the capacity report takes more of them)."""
    hosts = p["hosts"]
    unreachable = {n: r.error for n, r in readings.items() if r.error}
    if p["prometheus_url"]:
        answer = stats_ops.prometheus_group(p["prometheus_url"], p["rate_window"], hosts, timeout=p["timeout"],
                                            readings=readings)
        unreachable.update(answer["unreachable"])
        try:
            history = prometheus.cpu_history(p["prometheus_url"], [n for n in hosts if n not in unreachable],
                                             "%ds" % int(p["window"]), max(int(p["window"] / 8), 15), timeout=p["timeout"])
        except prometheus.PrometheusError as err:
            raise lc.VirtError(str(err)) from None
        history = {h: [(t, v / readings[h].cpus) for t, v in points] for h, points in history.items()}
        loads = {name: answer["hosts"][name]["vms"] for name in answer["hosts"]}
    else:
        answer = {"hosts": {}, "unreachable": dict(unreachable)}
        loads, history = {}, {}
        for name, reading in readings.items():
            if reading.error:
                continue
            host_load, vm_loads, series = stats_ops.loads_of(reading)
            loads[name] = {vm: load.as_dict() for vm, load in vm_loads.items()}
            # The load between each two readings, on the wall clock (the last one is now).
            history[name] = [(now - (series[-1][0] - t), v) for t, v in series]
            answer["hosts"][name] = host_load.as_dict()
    affinity, anti = _groups(p.get("affinity"), "affinity"), _groups(p.get("anti_affinity"), "anti-affinity")
    pinned = set(p.get("pinned") or ())
    out_hosts, out_vms = [], []
    for name, reading in sorted(readings.items()):
        if reading.error or name not in loads:
            continue
        out_hosts.append(balance.Host(name, reading.cpus, reading.memory_mib, in_maintenance=reading.in_maintenance,
                                      pools=reading.pools, machines=reading.machines,
                                      cpu_offers=reading.cpu_offers))
        for vm, load in sorted(loads[name].items()):
            meta = reading.policy.get(vm, {})
            moved = meta.get("moved_at")
            out_vms.append(balance.Vm(
                name=vm, host=name, vcpus=int(load["vcpus"] or 0), cpu=planned_cpu(load["cpu_cpus"], meta),
                memory_mib=int(round(load["memory_max_mib"] or load["memory_mib"] or 0)),
                sla=meta.get("sla") or "silver", pinned=vm in pinned,
                last_moved=float(moved) if moved else None, disks=reading.disks.get(vm),
                machine=reading.vm_machines.get(vm, ""), cpu_need=reading.vm_cpus.get(vm),
                affinity=tuple(affinity.get(vm, ())), anti_affinity=tuple(anti.get(vm, ()))))
    return out_hosts, out_vms, history, unreachable


def planned_cpu(measured, meta):
    """The CPUs a VM is planned at: what it uses, but at least its ``cpu_reservation``; None (no
    measure, it stays) only when it has neither."""
    try:
        reserved = float(meta.get("cpu_reservation") or 0)
    except ValueError:
        reserved = 0.0
    if measured is None:
        return reserved or None
    return max(measured, reserved)


def _stamp_moved(dest_uri, name, when):
    """Record ``moved_at`` in the VM's metadata on its new host (config and the running guest)."""
    conn = lc.connect(dest_uri)
    try:
        dom = lc.lookup_domain(conn, name)
        if dom is None:
            raise lc.VirtError("record the move of vm %s on %s: it is not there" % (name, dest_uri))
        guest = Guest(conn, dom)
        root = dx.parse(guest.inactive_xml())
        meta = dx.read_metadata(root)
        meta["moved_at"] = "%d" % when
        dx.write_metadata(root, meta)
        guest.set_metadata(root)    # the definition and the running guest: the cooldown reads either
    finally:
        conn.close()


def _move_unit(p, tuning, moves, now):
    """Migrate the VMs of one unit (one VM, or an affinity group) in turn; when one fails, those
    of the unit already moved go back, so that the group is never left split.  Runs in a worker
    thread; returns the moves' outcomes and warnings."""
    uris, addresses = p["hosts"], p.get("migration_addresses") or {}
    done, warnings, moved = [], [], []

    def migrate(vm, source, dest):
        return move_one(p, uris[source], uris[dest], vm, tuning, args.normalise_address(addresses.get(dest)))

    for move in moves:
        outcome = migrate(move.vm, move.source, move.dest)
        done.append(dict({"vm": move.vm, "from": move.source, "to": move.dest, "reason": move.reason}, **outcome))
        if not outcome["ok"]:
            for back in reversed(moved):
                undone = migrate(back.vm, back.dest, back.source)
                entry = next(d for d in done if d["vm"] == back.vm)
                if undone["ok"]:
                    entry.update(ok=False, error="moved back to %s: %s of its affinity group could not follow"
                                 % (back.source, move.vm))
                else:
                    warnings.append("%s could not go back to %s after %s failed: the affinity group is split (%s)"
                                    % (back.vm, back.source, move.vm, undone["error"]))
            return done, warnings
        moved.append(move)
    for move in moved:
        try:
            _stamp_moved(uris[move.dest], move.vm, now)
        except lc.VirtError as err:
            warnings.append("%s moved, but its move could not be recorded (cooldown): %s" % (move.vm, err))
    return done, warnings


def move_one(p, src_uri, dest_uri, name, tuning, migration_address):
    """One live migration of a plan (:func:`migrate_ops.move`); without ``copy_storage`` a VM whose
    disks would have to be copied does not move: the plan saw its storage as shared, the probe did not."""
    return mo.move(src_uri, dest_uri, name, tuning, migration_address, p["cpu_allocation_ratio"],
                   p["reserved_host_memory"], copy_allowed=bool(p.get("copy_storage")))


def rebalance_diff(plan):
    def view(loads, imbalance):
        return {"loads": {h: round(v, 3) for h, v in sorted(loads.items())}, "imbalance": round(imbalance, 3)}
    return {"before": view(plan.loads_before, plan.imbalance_before),
            "after": view(plan.loads_after, plan.imbalance_after)}


def decide(p, hosts, vms, measured, unreachable, now):
    """``(plan, policy, warnings, stored history)`` for the group as measured (pure but for
    reading the history file)."""
    if not hosts:
        raise lc.VirtError(inputs.unmeasured(p["hosts"], unreachable))
    policy, warnings = _policy(p, {v.sla for v in vms})
    stored = load_history(p.get("history_file")) if not p.get("prometheus_url") else {}
    history = _merge_history(stored, p.get("history"), measured)
    hosts = [balance.Host(h.name, h.cpus, h.memory_mib, history=tuple(history.get(h.name, ())),
                          in_maintenance=h.in_maintenance, pools=h.pools) for h in hosts]
    try:
        return balance.plan_rebalance(hosts, vms, policy, now), policy, warnings, stored
    except balance.PlanError as err:
        raise lc.VirtError("Cannot plan: %s" % err) from None


def run_rebalance(p, check_mode, clock=time.time):
    now = clock()
    hosts, vms, measured, unreachable = measure(p, now, check_mode=check_mode)
    plan, policy, warnings, stored = decide(p, hosts, vms, measured, unreachable, now)
    if p.get("history_file") and not p["prometheus_url"] and not check_mode:
        save_history(p["history_file"], _merge_history(stored, measured), 2 * policy.window_s + 60, now)
    result = {"plan": plan.as_dict(), "unreachable": unreachable, "warnings": warnings,
              "imbalance_before": plan.imbalance_before, "imbalance_after": plan.imbalance_after,
              "diff": rebalance_diff(plan), "moves": []}
    if not plan.moves:
        result.update(changed=False, msg="; ".join(plan.notes) or "nothing to do")
        return result
    if check_mode:
        result.update(changed=True, msg="%d vm(s) would move: %s" % (len(plan.moves), "; ".join(
            "%s %s -> %s" % (m.vm, m.source, m.dest) for m in plan.moves)))
        return result
    tuning = args.tuning_from_params(maintenance_ops.migration_params(p.get("migration")))
    units = {}
    for move in plan.moves:  # an affinity group moves as one unit, its members one after the other
        units.setdefault(move.unit or (move.vm,), []).append(move)
    with ThreadPoolExecutor(max_workers=p["concurrency"]) as pool:
        jobs = [pool.submit(_move_unit, p, tuning, moves, now) for moves in units.values()]
        for job in jobs:
            done, unit_warnings = job.result()
            result["moves"].extend(done)
            warnings.extend(unit_warnings)
    failed = [m for m in result["moves"] if not m["ok"]]
    result["changed"] = len(failed) < len(result["moves"])
    if failed:
        result["failed"] = True
        result["msg"] = "%d of %d migration(s) failed (those VMs stay where they were): %s" % (
            len(failed), len(result["moves"]), "; ".join("%s: %s" % (m["vm"], m["error"]) for m in failed))
    else:
        result["msg"] = "%d vm(s) moved; imbalance %.2f -> %.2f (planned)" % (
            len(result["moves"]), plan.imbalance_before, plan.imbalance_after)
    return result
