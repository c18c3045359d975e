# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Carrying out VM specs against libvirt: create, change, power, remove.

The decisions come from :mod:`spec`, :mod:`plan` and :mod:`power` (pure); what they need from the
host is looked up by :mod:`resolve_ops`, clones are made by :mod:`clone_ops`; this file turns the
plan into calls of the domain layer (:class:`Guest`) and undoes a create that fails half-way.
All libvirt errors go through ``libvirt_common`` so messages name the action.
"""

from __future__ import annotations

import time

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils.domain import guest as domain
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import Guest
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.vm import plan as vp
from ansible_collections.hotiron.virt.plugins.module_utils.vm import cloud_init_ops, power, power_ops, resolve_ops
from ansible_collections.hotiron.virt.plugins.module_utils.vm import spec as vs
from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_xml as vx
from ansible_collections.hotiron.virt.plugins.module_utils.vm import tuning_ops


# --- ensure --------------------------------------------------------------------------------

def ensure(conn, params, check_mode=False, clock=time.monotonic, sleep=time.sleep, host=None):
    """Bring the VM described by module ``params`` to its state.

    Returns ``(changed, result, diff)``; ``diff`` has normalised XML before
    and after.  Raises VirtError (message naming the option) on bad input.
    ``host`` is :func:`host_facts` of ``conn`` when the caller already read
    them (they describe the host, not its guests, so one read serves many VMs).
    """
    try:
        spec = vs.validate(params)
    except vs.SpecError as err:
        raise lc.VirtError(str(err)) from None
    state = params.get("state") or "present"
    dom = lc.lookup_domain(conn, spec["name"])
    if state == "absent":
        return ensure_absent(conn, dom, params, check_mode)
    try:
        host = host or resolve_ops.host_facts(conn)
        created, updated = ensure_created, ensure_updated
        if spec["xml_mode"] == "full":     # the XML is the whole definition
            from ansible_collections.hotiron.virt.plugins.module_utils.vm import full_ops
            created, updated = full_ops.ensure_created, full_ops.ensure_updated
        if dom is None:
            changed, result, diff, guest = created(conn, spec, host, state, check_mode)
        else:
            guest = Guest(conn, dom)
            changed, result, diff = updated(conn, guest, spec, host, check_mode)
            is_template = result.pop("_template", False)     # as the task defines it, check mode too
            changed = power_ops.ensure_power(guest, state, params, is_template, check_mode, result, clock, sleep) or changed
    except vs.SpecError as err:
        raise lc.VirtError(str(err)) from None
    if guest is not None and dom is not None and spec["autostart"] is not None and guest.autostart() != spec["autostart"]:
        result["plan"].append("set autostart %s" % ("on" if spec["autostart"] else "off"))
        if not check_mode:
            guest.set_autostart(spec["autostart"])
        changed = True
    if guest is not None:
        power_ops.finish(guest, params, result, check_mode)
    return changed, result, diff


# What only some runs need is imported by the function that needs it (remove_ops, clone_ops,
# full_ops): a module compiles from source, at every start, all that it imports.

def ensure_absent(conn, dom, params, check_mode):
    """``state: absent`` (vm.remove_ops)."""
    from ansible_collections.hotiron.virt.plugins.module_utils.vm import remove_ops
    return remove_ops.ensure_absent(conn, dom, params, check_mode)


def _clone_ops():
    """vm.clone_ops: for a run that clones or makes volumes."""
    from ansible_collections.hotiron.virt.plugins.module_utils.vm import clone_ops
    return clone_ops


def ensure_created(conn, spec, host, state, check_mode):
    template = None
    if spec["clone_from"]:
        clone_ops = _clone_ops()
        base, disks, to_create, template = clone_ops.prepare_clone(conn, spec, check_mode)
        spec_for_resolve = dict(spec, disks=None)
        resolved, _unused = resolve_ops.resolve(conn, spec_for_resolve, host, base)
        if disks is not None:
            defaults = vx.profile_defaults(resolved["os"], spec["virtio"])
            resolved["disks"] = vx.assign_targets(disks, defaults["bus"])
        resolved["volumes"] = [{"pool": j["pool"], "name": j["name"]} for j in to_create]
        resolved["clone_of"] = spec["clone_from"]
        if base is None:
            root = vx.apply(vx.skeleton(spec["name"], resolved["domain_type"]), spec, resolved, creating=True)
        else:
            root = vx.apply(base, spec, resolved, creating=False)
    else:
        resolved, to_create = resolve_ops.resolve(conn, spec, host, None)
        require_definition(conn, spec)
        if spec["disks"] is None:
            resolved["disks"] = []
        root = vx.apply(vx.skeleton(spec["name"], resolved["domain_type"]), spec, resolved, creating=True)
    seed_jobs, _seed_before, seed_after = cloud_init_ops.prepare(conn, spec, None, root)
    is_template = dx.read_metadata(root).get("template") == "true"
    starts = power.steps("shutoff", state, is_template, spec["name"])     # a new VM starts out shut off
    steps = [job["what"] for job in to_create + seed_jobs] + ["define vm %s" % spec["name"]]
    if template is not None and spec["clone"] == "linked":
        steps.append("mark vm %s as a template with read-only disks" % template.name)
    steps += ["%s vm %s" % (step, spec["name"]) for step in starts]
    result = {"plan": steps, "changes": [], "restart_required": False}
    diff = {"before": "", "after": dx.normalise(root, keep_uuid=False) + seed_after}
    if check_mode:
        return True, result, diff, None
    undo = lc.Undo()
    try:
        for job in to_create:
            _clone_ops().create_volume(conn, job, undo)
        for job in seed_jobs:
            job["run"](undo)
        guest = domain.define(conn, dx.tostring(root), "define vm %s on %s" % (spec["name"], lc.safe_uri(conn)))
        undo.push("undefine vm %s" % spec["name"], guest.delete_definition)
        if starts:
            guest.start(paused=starts == ["start paused"])
            undo.push("force off vm %s" % spec["name"], guest.force_off)
        if spec["autostart"]:
            guest.set_autostart(True)
        if template is not None and spec["clone"] == "linked" and to_create:
            _clone_ops().mark_template(template, {job["backing"] for job in to_create if job.get("backing")})
    except lc.VirtError as err:
        failures = undo.rollback()
        if failures:
            err.extend("; cleaning up also failed: " + "; ".join(failures))
        else:
            err.extend(" (everything this task created was removed again)")
        raise
    diff["after"] = dx.normalise(guest.inactive_xml(), keep_uuid=False) + seed_after
    return True, result, diff, guest


def require_definition(conn, spec):
    """A VM is created only from a definition: disks (``disks: []`` for a diskless VM on
    purpose), ``clone_from``, or ``xml`` with a boot source.  A name alone (a misspelled one, most
    often) would otherwise create and start an empty VM."""
    if spec["disks"] is not None or spec["clone_from"] or spec["xml_mode"] == "full" or vx.has_boot_source(spec["xml"]):
        return
    resolve_ops.fail("name", "no vm called %r on %s, and nothing to create it from: give disks (disks: [] for a vm"
                     " without disks), clone_from, or xml with a boot source (a <disk>, <kernel> or <boot>); or"
                     " check the name" % (spec["name"], lc.safe_uri(conn)))


def ensure_updated(conn, guest, spec, host, check_mode):
    current = dx.parse(guest.inactive_xml())
    running = guest.is_active()
    live = dx.parse(guest.live_xml()) if running else current
    resolved, to_create = resolve_ops.resolve(conn, spec, host, current)
    desired = vx.apply(dx.clone(current), spec, resolved, creating=False)
    seed_jobs, seed_before, seed_after = cloud_init_ops.prepare(conn, spec, current, desired)
    before_text, after_text = dx.normalise(current), dx.normalise(desired)
    is_template = dx.read_metadata(desired).get("template") == "true"
    result = {"plan": [], "changes": [], "restart_required": False, "_template": is_template}
    diff = {"before": before_text + seed_before, "after": after_text + seed_after}
    if before_text == after_text and not seed_jobs:
        return False, result, diff
    changes = vp.plan(vp.summarise(current), vp.summarise(desired), running, vp.summarise(live))
    if not changes:
        changes = [{"field": "xml", "before": None, "after": None, "apply": "restart" if running else "config"}]
    result["changes"] = changes
    result["plan"] = [job["what"] for job in to_create + seed_jobs] + ["redefine vm %s" % spec["name"]]
    result["plan"] += ["apply %s live" % c["field"] for c in changes if c["apply"] == "live"]
    if check_mode:
        result["restart_required"] = any(c["apply"] == "restart" for c in changes)
        return True, result, diff
    undo = lc.Undo()
    try:
        for job in to_create:
            _clone_ops().create_volume(conn, job, undo)
        for job in seed_jobs:
            job["run"](undo)
        domain.define(conn, dx.tostring(desired), "redefine vm %s on %s" % (spec["name"], lc.safe_uri(conn)))
    except lc.VirtError:
        undo.rollback()
        raise
    if running:
        result["warnings"] = apply_live(guest, changes, live)
    diff["after"] = dx.normalise(guest.inactive_xml()) + seed_after
    return True, result, diff


_NOT_RELEASED = ("%s: the guest has not released the device yet (it was asked to; libvirt removes it once the guest"
                 " does): until then the running vm still has it (restart_required)")


def apply_live(guest, changes, live_root):
    """Apply the live-applicable changes to the running guest.

    A change libvirt or the guest refuses stays in the persistent definition
    and shows up as ``restart_required``; it is reported, never dropped.
    """
    new = dx.parse(guest.inactive_xml())
    warnings = []
    metadata_done = False
    plugged = set()
    for change in changes:
        if change["apply"] != "live":
            continue
        field = change["field"]
        try:
            if field in tuning_ops.LIVE_FIELDS:
                tuning_ops.apply_live(guest, change)  # pinning, lifecycle actions (on_crash too)
            elif field == "memory":
                guest.set_memory_live(change["after"])
            elif field == "vcpus":
                guest.set_vcpus_live(change["after"])
            elif field == "on_crash":
                guest.set_crash_action_live(change["after"])
            elif field == "cpu_shares":
                guest.set_cpu_shares_live(change["after"])
            elif field in ("metadata", "description") and not metadata_done:
                metadata_done = True
                guest.set_metadata_live(new)
            elif field.startswith("disks."):
                dev = field.split(".", 1)[1]
                if change["after"] is None:
                    released = guest.detach_live(dx.tostring(_find_disk(live_root, dev)),
                                                 lambda root, dev=dev: _find_disk(root, dev) is not None)
                    warnings.extend([] if released else [_NOT_RELEASED % field])
                else:
                    guest.attach_live(dx.tostring(_find_disk(new, dev)))
            elif field.startswith("interfaces."):
                key = field.split(".", 1)[1]
                if change["after"] is None:
                    released = guest.detach_live(dx.tostring(_find_nic(live_root, key)),
                                                 lambda root, key=key: _find_nic(root, key) is not None)
                    warnings.extend([] if released else [_NOT_RELEASED % field])
                else:
                    # A NIC given without a MAC got one when the definition was written:
                    # plug in each NIC of the new definition the running guest lacks, once.
                    for node in new.findall("devices/interface"):
                        mac = node.find("mac").get("address").lower()
                        if _find_nic(live_root, mac) is None and mac not in plugged:
                            plugged.add(mac)
                            guest.attach_live(dx.tostring(node))
        except lc.VirtError as err:
            warnings.append("%s was written to the persistent definition but not applied live: %s" % (field, err))
    return warnings


def _find_disk(root, dev):
    for node in root.findall("devices/disk"):
        if node.find("target") is not None and node.find("target").get("dev") == dev:
            return node
    return None


def _find_nic(root, mac):
    for node in root.findall("devices/interface"):
        if node.find("mac") is not None and node.find("mac").get("address").lower() == mac:
            return node
    return None


def run_vm(params, check_mode):
    """hotiron.virt.vm's result (the one shape every module's ``_ops`` returns: ``changed``, ``plan``,
    ``diff``, ``warnings`` and the module's own fields) for the VM ``params`` describe."""
    with lc.connected(params["uri"]) as conn:
        changed, result, diff = ensure(conn, params, check_mode=check_mode)
    return dict(result, changed=changed, diff=power_ops.masked(diff))
