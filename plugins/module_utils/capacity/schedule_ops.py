# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Applying time-of-day resource schedules to the VMs of a group.

Which rule is in force, and what it sets, is :mod:`capacity.schedule`'s (pure).  Here: each VM's
declared values are read (its definition, or, while a rule holds it, the values recorded in its
metadata when the rule began: ``schedule_declared``), the differences applied live where libvirt
can and to the persistent definition, and the declared values restored when no rule is in force.

A knob a host cannot apply fails clearly as "not supported on this host": CPU shares and quotas
need libvirt to manage the host's CPU cgroup controller (qemu.conf ``cgroup_controllers``); memory
moves only as far as the guest's balloon driver follows.
"""

from __future__ import annotations

import dataclasses
import datetime

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import Guest
from ansible_collections.hotiron.virt.plugins.module_utils.vm import plan as vp
from ansible_collections.hotiron.virt.plugins.module_utils.vm import policy as vm_policy
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import schedule

libvirt = lc.libvirt

FIELDS = ("vcpus", "memory_mib", "cpu_shares", "vcpu_quota", "sla")
PERIOD_US = 100000  # vcpu_period the quota is a share of
CGROUP_WORDS = ("cgroup", "not mounted", "CPU controller")


# --- reading ------------------------------------------------------------------------------------------

def current_values(root):
    """The five managed values as a definition holds them (None: not set)."""
    vcpu = root.find("vcpu")
    max_v = int(vcpu.text) if vcpu is not None and vcpu.text else 1
    quota = dx.get_text(root, "cputune/quota")
    period = dx.get_text(root, "cputune/period") or PERIOD_US
    shares = dx.get_text(root, "cputune/shares")
    return {
        "vcpus": int(vcpu.get("current", max_v)) if vcpu is not None else 1,
        "memory_mib": (dx.memory_kib(root, "currentMemory") or dx.memory_kib(root, "memory") or 0) // 1024,
        "cpu_shares": int(shares) if shares else None,
        "vcpu_quota": round(100.0 * int(quota) / int(period), 3) if quota and int(quota) > 0 else None,
        "sla": dx.read_metadata(root).get("sla"),
    }


def format_declared(values):
    return " ".join("%s=%s" % (k, "" if values[k] is None else values[k]) for k in FIELDS)


def parse_declared(text):
    out = {}
    for item in (text or "").split():
        key, _sep, value = item.partition("=")
        if key in ("vcpus", "memory_mib", "cpu_shares"):
            out[key] = int(value) if value else None
        elif key == "vcpu_quota":
            out[key] = float(value) if value else None
        elif key == "sla":
            out[key] = value or None
    return out if set(out) == set(FIELDS) else None


class VmState:
    """One VM of the group: where it runs, its definitions, its declared values."""

    def __init__(self, host, uri, dom, conn=None):
        self.host = host
        self.uri = uri
        self.conn = conn
        self.dom = dom
        self.name = dom.name()
        with lc.attempt("read vm %s on %s" % (self.name, uri)):
            self.running = bool(dom.isActive())
            self.root = dx.parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        self.meta = dx.read_metadata(self.root)
        self.current = current_values(self.root)
        recorded = parse_declared(self.meta.get("schedule_declared"))
        self.declared = recorded or dict(self.current)
        self.recorded = recorded is not None
        vcpu = self.root.find("vcpu")
        self.max_vcpus = int(vcpu.text) if vcpu is not None and vcpu.text else None
        self.max_memory_mib = (dx.memory_kib(self.root, "memory") or 0) // 1024 or None

    def declared_for_schedule(self):
        d = self.declared
        return schedule.VmDeclared(
            name=self.name, vcpus=d["vcpus"], memory_mib=d["memory_mib"], cpu_shares=d["cpu_shares"],
            vcpu_quota=d["vcpu_quota"], sla=d["sla"], max_vcpus=self.max_vcpus, max_memory_mib=self.max_memory_mib,
            tags=tuple(self.meta.get("tags") or ()),
            groups=(self.meta["resource_group"],) if self.meta.get("resource_group") else ())


def read_vms(hosts):
    """Every VM of every host (name -> URI); an unreachable host fails the task (a schedule half
    applied across a group is what the operator must hear about)."""
    vms, conns = [], []
    for host, uri in sorted(hosts.items()):
        conn = lc.connect(uri)
        conns.append(conn)
        with lc.attempt("list the vms of %s" % uri):
            domains = conn.listAllDomains(0)
        vms.extend(VmState(host, uri, dom, conn) for dom in sorted(domains, key=lambda d: d.name()))
    return vms, conns


# --- applying -----------------------------------------------------------------------------------------

def _flags(vm):
    return libvirt.VIR_DOMAIN_AFFECT_CONFIG | (libvirt.VIR_DOMAIN_AFFECT_LIVE if vm.running else 0)


def _apply_field(vm, field, value):
    dom, flags = vm.dom, _flags(vm)
    if field == "vcpus":
        dom.setVcpusFlags(value, flags)
    elif field == "memory_mib":
        dom.setMemoryFlags(value * 1024, flags)
    elif field in ("cpu_shares", "vcpu_quota"):
        if field == "cpu_shares":
            # None: back to libvirt's default weight (the definition had none).
            params = {"cpu_shares": value or 1024}
        else:
            params = {"vcpu_period": PERIOD_US, "vcpu_quota": -1 if value is None else int(round(value / 100.0 * PERIOD_US))}
        # The bindings read the parameters' types with the same flags first, and that read takes
        # one of LIVE and CONFIG at a time: the running guest first, then the definition.
        for one in (libvirt.VIR_DOMAIN_AFFECT_LIVE, libvirt.VIR_DOMAIN_AFFECT_CONFIG):
            if flags & one:
                dom.setSchedulerParametersFlags(params, one)


def _write_meta(vm, updates):
    meta = dx.read_metadata(vm.root)
    for key, value in updates.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    dx.write_metadata(vm.root, meta)
    Guest(vm.conn, vm.dom).set_metadata(vm.root)


def _not_supported(err):
    text = err.libvirt_message or err.message
    return any(word in text for word in CGROUP_WORDS)


def changes_for(vm, wanted):
    """``{field: [now, wanted]}`` for the fields that differ."""
    return {f: [vm.current[f], wanted[f]] for f in FIELDS if vm.current[f] != wanted[f]}


def apply_vm(vm, desired):
    """Carry out one VM's changes; ``(applied fields, errors, pending)``: ``pending`` are the
    fields written to the definition that the running guest refused live (a vCPU the guest
    cannot unplug, say), which a restart applies."""
    wanted = desired.values
    changes = changes_for(vm, wanted)
    applied, errors, pending = [], [], []
    ruled = desired.rule is not None
    try:
        if ruled and not vm.recorded and changes:
            # First change by a rule: remember what the VM had, to restore it when the rule ends.
            _write_meta(vm, {"schedule_declared": format_declared(vm.declared)})
    except lc.VirtError as err:
        return applied, ["%s: record its declared values: %s" % (vm.name, err.libvirt_message or err.message)], pending
    for field in ("cpu_shares", "vcpu_quota", "vcpus", "memory_mib"):
        if field not in changes:
            continue
        try:
            if field == "vcpus" and vm.running and _tcg_change(vm, wanted[field]):
                # Never the live path, even when the definition cannot be written.
                if _config_only(vm, field, wanted[field]):
                    applied.append(field)
                    pending.append("vcpus (the vCPUs of a running TCG guest change at its next start: QEMU aborts"
                                   " when a plugged vCPU finds no free translation-cache region)")
                else:
                    errors.append("%s: vcpus: the vCPUs of a running TCG guest are not changed live, and its"
                                  " definition refused %d vCPUs" % (vm.name, wanted[field]))
                continue
            with lc.attempt("set %s of vm %s on %s" % (field, vm.name, vm.uri)):
                _apply_field(vm, field, wanted[field])
            applied.append(field)
        except lc.VirtError as err:
            if field in ("vcpus", "memory_mib") and vm.running and _config_only(vm, field, wanted[field]):
                applied.append(field)
                pending.append("%s (the running guest refused it: %s)" % (field, err.libvirt_message or err.message))
                continue
            if field in ("cpu_shares", "vcpu_quota") and _not_supported(err):
                errors.append("%s: %s is not supported on host %s (libvirt manages no CPU cgroup controller for its"
                              " guests there: qemu.conf cgroup_controllers)" % (vm.name, field, vm.host))
            else:
                errors.append("%s: %s" % (vm.name, err.message))
    meta = {}
    if "sla" in changes:
        meta["sla"] = wanted["sla"]
        applied.append("sla")
    if not ruled and vm.recorded and not errors:
        meta.update(schedule_declared=None, schedule_rule=None)
    elif ruled:
        meta["schedule_rule"] = desired.rule_name or "rule %d" % desired.rule
    if meta and (set(meta) - {"schedule_rule"} or vm.meta.get("schedule_rule") != meta.get("schedule_rule")):
        try:
            _write_meta(vm, meta)
        except lc.VirtError as err:
            errors.append("%s: update its metadata: %s" % (vm.name, err.libvirt_message or err.message))
    return applied, errors, pending


def _tcg_change(vm, value):
    """Whether ``value`` vCPUs would change the vCPU count of the running TCG guest ``vm`` (vm/plan.py)."""
    with lc.attempt("read the vCPUs of vm %s on %s" % (vm.name, vm.uri)):
        live = vm.dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE)
    return vp.tcg_vcpu_change(vm.root.get("type"), live, value)


def _config_only(vm, field, value):
    """Write ``field`` to the definition alone (the running guest refused it); True when done."""
    try:
        if field == "vcpus":
            vm.dom.setVcpusFlags(value, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        else:
            vm.dom.setMemoryFlags(value * 1024, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    except libvirt.libvirtError:
        return False
    return True


def run_schedule(params, check_mode, now=None):
    at = now or datetime.datetime.now(datetime.timezone.utc)
    if params.get("at"):
        try:
            at = datetime.datetime.fromisoformat(params["at"])
        except ValueError:
            raise lc.VirtError("at: %r is not an ISO 8601 time such as 2026-11-30T22:15:00+01:00" % params["at"]) from None
        if at.tzinfo is None:
            raise lc.VirtError("at: %r has no time zone (add +00:00 or Z)" % params["at"])
    try:
        rules = schedule.parse_rules(params["rules"], sla_classes=params.get("sla_classes"))
    except schedule.ScheduleError as err:
        raise lc.VirtError(str(err)) from None
    vms, conns = read_vms(params["hosts"])
    try:
        answers, next_change = schedule.desired_all([vm.declared_for_schedule() for vm in vms], rules, at)
        results, errors, changed = [], [], False
        for vm in vms:
            desired = answers[vm.name]
            wanted = dict(desired.values)
            rule = rules[desired.rule] if desired.rule is not None else None
            if rule and rule.values.get("sla") in vm_policy.SLA_SHARES and "cpu_shares" not in rule.values:
                # A rule that sets a built-in class sets its CPU shares too, as the vm module does.
                wanted["cpu_shares"] = vm_policy.SLA_SHARES[rule.values["sla"]]
                desired = dataclasses.replace(desired, values=wanted)
            changes = changes_for(vm, wanted)
            restore = desired.rule is None and vm.recorded
            entry = dict(desired.as_dict(), host=vm.host, running=vm.running, changes=changes)
            if changes or restore:
                changed = True
                if not check_mode:
                    entry["applied"], vm_errors, pending = apply_vm(vm, desired)
                    errors.extend(vm_errors)
                    if vm_errors:
                        entry["errors"] = vm_errors
                    if pending:
                        entry["restart_pending"] = pending
            results.append(entry)
    finally:
        for conn in conns:
            conn.close()
    result = {"changed": changed, "at": at.isoformat(), "vms": results,
              "next_change": next_change.isoformat() if next_change else None,
              "diff": {"before": {r["vm"]: {k: v[0] for k, v in r["changes"].items()} for r in results if r["changes"]},
                       "after": {r["vm"]: {k: v[1] for k, v in r["changes"].items()} for r in results if r["changes"]}}}
    if errors:
        result["failed"] = True
        result["msg"] = "; ".join(errors)
    else:
        ruled = [r for r in results if r["rule"] is not None]
        result["msg"] = "%d vm(s) under a rule, %d changed%s" % (
            len(ruled), len([r for r in results if r["changes"]]), " (check mode: nothing done)" if check_mode else "")
    return result
