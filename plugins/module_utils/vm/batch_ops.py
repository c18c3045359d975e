# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Many VMs of one host in one task: the engine of hotiron.virt.vms.

Every entry is ``defaults`` overlaid with the entry's own options, validated
with exactly the argument spec of hotiron.virt.vm (types, choices, ranges), and
then brought to its state by :func:`vm_ops.ensure` over one connection, up to
``concurrency`` VMs at a time (threads: libvirt-python releases the GIL while libvirt
works, and a libvirt connection may be used by several threads at once; libvirtd runs
up to 5 calls of one client at a time, ``max_client_requests``).  Results come in the
order of the entries whatever order the VMs finish in.  An entry that others depend on
(a template, a VM another entry clones) or that removes a template runs alone, after
the entries before it and before those after it, as it would in a loop.

Nothing is touched before every entry has passed every check that does not
change the host: :func:`ensure_all` first plans each VM in check mode (sizes,
names, limits, the host's capabilities, the pools, volumes, networks and
templates it refers to) and refuses the whole task, naming each bad entry, when
one fails.  A VM that fails later (libvirt refusing a start, say) is undone by
``ensure`` itself (nothing half-made) and the others still run, as the items of
a loop do.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.hotiron.virt.plugins.module_utils import arg_ranges
from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import Guest
from ansible_collections.hotiron.virt.plugins.module_utils.vm import args as vm_args
from ansible_collections.hotiron.virt.plugins.module_utils.vm import power_ops, resolve_ops, vm_ops
from ansible_collections.hotiron.virt.plugins.module_utils.vm import spec as vs


def entries(vms, names, defaults):
    """``[(label, raw options)]`` for the VMs asked for, defaults applied.

    ``vms`` is a list of option dicts, ``names`` a list of bare names (each
    gets the defaults only).  Raises VirtError for defaults naming a VM or
    an option ``vm`` does not have, entries that are not dicts or have no
    name, and a name given twice.
    """
    defaults = dict(defaults or {})
    known = vm_args.vm_options()
    unknown = sorted(k for k in defaults if k not in known)
    if unknown:
        raise lc.VirtError("defaults: unsupported option(s) %s (the options of hotiron.virt.vm are: %s)"
                           % (", ".join(unknown), ", ".join(sorted(known))))
    if "name" in defaults:
        raise lc.VirtError("defaults: name cannot have a default: give each VM its name in vms or names")
    out = []
    for index, item in enumerate(vms or []):
        if not isinstance(item, dict):
            raise lc.VirtError("vms[%d]: must be a dict of hotiron.virt.vm options, not %r" % (index, item))
        if not item.get("name"):
            raise lc.VirtError("vms[%d]: name is required" % index)
        out.append(("vms[%d] %s" % (index, item["name"]), dict(defaults, **item)))
    for index, name in enumerate(names or []):
        if not name:
            raise lc.VirtError("names[%d]: must be a VM name, not empty" % index)
        out.append(("names[%d] %s" % (index, name), dict(defaults, name=name)))
    seen = {}
    for label, raw in out:
        if raw["name"] in seen:
            raise lc.VirtError("%s: VM %r is also given as %s: every VM once"
                               % (label, raw["name"], seen[raw["name"]]))
        seen[raw["name"]] = label
    if not out:
        raise lc.VirtError("vms: no VMs given (vms and names are both empty)")
    return out


def _validator():
    spec, ranges = arg_ranges.split(vm_args.vm_options())
    return ArgumentSpecValidator(spec, mutually_exclusive=vm_args.MUTUALLY_EXCLUSIVE), ranges


def _checked(label, raw, validator, ranges):
    """``raw`` validated and converted by the argument spec (types, choices, ranges)."""
    checked = validator.validate(raw)
    if checked.error_messages:
        messages = []
        for err in checked.errors:
            prefix = "unsupported option " if isinstance(err, UnsupportedError) else ""
            messages.append(prefix + err.msg)
        raise lc.VirtError("%s: %s" % (label, "; ".join(messages)))
    params = checked.validated_parameters
    problems = arg_ranges.check(params, ranges)
    if problems:
        raise lc.VirtError("%s: %s" % (label, "; ".join(problems)))
    return params


def validate_defaults(defaults):
    """The types, choices and ranges of ``defaults`` alone, so that a bad default is named as
    such rather than as a fault of the first entry."""
    validator, ranges = _validator()
    _checked("defaults", dict(defaults or {}, name="defaults"), validator, ranges)


def validate(raw_entries):
    """``[(label, params)]``: each entry checked as hotiron.virt.vm checks its parameters.

    The message of the first bad entry names it and the option, for example
    ``vms[3] web4: memory: must be greater than zero``.
    """
    validator, ranges = _validator()
    out = []
    for label, raw in raw_entries:
        params = _checked(label, raw, validator, ranges)
        try:
            vs.validate(params)
        except vs.SpecError as err:
            raise lc.VirtError("%s: %s" % (label, err)) from None
        out.append((label, params))
    return out


# At most this many VMs at a time by default: libvirtd serves 5 calls of one client at once
# (max_client_requests), and the work of a start is mostly libvirtd's and QEMU's.
DEFAULT_CONCURRENCY = 4


def ensure_all(conn, checked, check_mode=False, concurrency=1, **ensure_kwargs):
    """Bring every VM of ``checked`` (from :func:`validate`) to its state, up to ``concurrency``
    at a time (:func:`waves` says which may run together).

    Returns ``(changed, results, diffs, warnings)``, in the order of the entries: one result per
    VM (its ``name``, ``changed``, ``plan``, ``changes``, ``restart_required`` and, when it
    failed, ``failed`` and ``msg``), the diffs of the VMs that changed (headed with their names)
    and the warnings, each naming its VM.  A VM that fails is undone by ``ensure`` itself and
    the others still run.
    """
    host = None
    if any(params["state"] != "absent" for _label, params in checked):
        host = resolve_ops.host_facts(conn)
    creates = {}
    if not check_mode:
        creates = preflight(conn, checked, host, concurrency=concurrency, **ensure_kwargs)

    def one(entry):
        label, params = entry
        try:
            return vm_ops.ensure(conn, params, check_mode=check_mode, host=host, **ensure_kwargs)
        except lc.VirtError as err:
            return err

    outcomes = _run(one, checked, waves(conn, checked, creates) if concurrency > 1 else [checked], concurrency)
    changed, results, diffs, warnings = False, [], [], []
    for (label, params), outcome in zip(checked, outcomes):
        name = params["name"]
        if isinstance(outcome, lc.VirtError):
            results.append({"name": name, "changed": False, "failed": True, "msg": "%s: %s" % (label, outcome)})
            continue
        vm_changed, result, diff = outcome
        warnings.extend("%s: %s" % (name, warning) for warning in result.pop("warnings", None) or [])
        result["name"] = name
        result["changed"] = vm_changed
        results.append(result)
        if vm_changed:
            changed = True
            diffs.append(dict(power_ops.masked(diff), before_header="vm %s (before)" % name, after_header="vm %s (after)" % name))
    return changed, results, diffs, warnings


def _run(func, checked, groups, concurrency):
    """``func`` of every entry, group after group, up to ``concurrency`` of a group at a time;
    the outcomes in the order of ``checked``."""
    outcomes = {}
    if concurrency <= 1:
        for entry in checked:
            outcomes[id(entry)] = func(entry)
    else:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for group in groups:
                for entry, outcome in zip(group, pool.map(func, group)):
                    outcomes[id(entry)] = outcome
    return [outcomes[id(entry)] for entry in checked]


# A step of a VM's plan that makes a volume (resolve_ops, clone_ops): the pool/volume it names.
NEW_VOLUME = re.compile(r"^(?:create volume |copy volume \S+ to )(\S+/\S+) \(")


def waves(conn, checked, creates=None):
    """The entries in groups that may run concurrently, in order: an entry that another entry
    clones, that makes a template, or that removes a template (its clones may be removed by the
    entries before it) is a group of its own, so it runs after every entry before it and before
    every entry after it, as in a loop; the entries between such entries form one group.  An
    entry that would create a volume an entry of the current group creates too (``creates``:
    label -> the ``pool/volume`` names its plan creates) starts a new group, so that the first
    in the task's order makes it and the later one fails, as in a loop, whatever the timing."""
    creates = creates or {}
    sources = {params["clone_from"] for _label, params in checked
               if params.get("clone_from") and "/" not in params["clone_from"]}
    groups, group = [], []
    for entry in checked:
        _label, params = entry
        alone = params["name"] in sources or params.get("template")
        if not alone and params["state"] == "absent":
            dom = lc.lookup_domain(conn, params["name"])
            if dom is not None:
                alone = dx.read_metadata(dx.parse(Guest(conn, dom).inactive_xml())).get("template") == "true"
        if alone:
            groups += [g for g in (group, [entry]) if g]
            group = []
            continue
        mine = creates.get(_label, set())
        if any(mine & creates.get(other, set()) for other, _params in group):
            groups.append(group)
            group = []
        group.append(entry)
    return groups + ([group] if group else [])


def preflight(conn, checked, host, concurrency=1, **ensure_kwargs):
    """Plan every entry in check mode (up to ``concurrency`` at a time: planning changes
    nothing); raise one VirtError naming every entry that fails.  Returns, per entry label, the
    ``pool/volume`` names its plan creates (for :func:`waves`).

    This is the whole validation of an entry short of changing the host, so a task with one bad
    entry among good ones changes nothing.  An entry that refers to a VM made earlier in the same
    task (a template defined by entry 1 and cloned by entry 2) cannot be planned before it
    exists: make the template in a task of its own.
    """
    creates = {}

    def plan(entry):
        label, params = entry
        try:
            _changed, result, _diff = vm_ops.ensure(conn, params, check_mode=True, host=host, **ensure_kwargs)
        except lc.VirtError as err:
            return "%s: %s" % (label, err)
        creates[label] = {m.group(1) for m in map(NEW_VOLUME.match, result.get("plan") or []) if m}
        return None

    problems = [p for p in _run(plan, checked, [checked], concurrency) if p]
    if problems:
        raise lc.VirtError("%d of %d VMs cannot be made as given, so none was touched: %s"
                           % (len(problems), len(checked), "; ".join(problems)))
    return creates


def failures(results):
    """One message for the VMs that failed, or None when none did."""
    failed = [r for r in results if r.get("failed")]
    if not failed:
        return None
    return "%d of %d VMs failed: %s" % (len(failed), len(results), "; ".join(r["msg"] for r in failed))


def run_vms(params, check_mode):
    """hotiron.virt.vms's result, in the one shape of the module ``_ops``: every entry validated,
    planned and then brought to its state (:func:`ensure_all`); a failed entry fails the task."""
    validate_defaults(params["defaults"])
    checked = validate(entries(params["vms"], params["names"], params["defaults"]))
    with lc.connected(params["uri"]) as conn:
        changed, results, diffs, warnings = ensure_all(conn, checked, check_mode=check_mode,
                                                       concurrency=params.get("concurrency") or 1)
    result = {"changed": changed, "vms": results, "diff": diffs, "warnings": warnings}
    message = failures(results)
    if message:
        result.update(failed=True, msg=message)
    return result
