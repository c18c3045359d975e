# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Carrying out VM specs against libvirt: create, clone, change, power, remove.

The decisions come from :mod:`vm_spec` (pure); this file looks up what they
need (host capabilities, pools, volumes, networks), turns them into libvirt
calls through :class:`Guest`, and undoes a create that fails half-way.  All
libvirt errors go through ``libvirt_common`` so messages name the action.
"""

from __future__ import annotations

import time

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils.domain import guest as domain
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import Guest, all_guests
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.vm import host_fit as vh
from ansible_collections.hotiron.virt.plugins.module_utils.vm import plan as vp
from ansible_collections.hotiron.virt.plugins.module_utils.vm import spec as vs
from ansible_collections.hotiron.virt.plugins.module_utils.vm import values as vv
from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_xml as vx
from ansible_collections.hotiron.virt.plugins.module_utils.libvirt_common import libvirt

class Undo:
    """Steps that undo what a create did, run in reverse if it fails."""

    def __init__(self):
        self.steps = []

    def push(self, what, func):
        self.steps.append((what, func))

    def rollback(self):
        failures = []
        for what, func in reversed(self.steps):
            try:
                func()
            except (lc.VirtError, libvirt.libvirtError) as err:
                failures.append("%s: %s" % (what, err))
        self.steps = []
        return failures


# --- facts and lookups ---------------------------------------------------------------------

def host_facts(conn):
    uri = lc.safe_uri(conn)
    with lc.attempt("read the capabilities of %s" % uri):
        caps = conn.getCapabilities()
        info = conn.getInfo()
        test_driver = conn.getType() == "TEST"
    return vh.parse_capabilities(caps, info, accept_any_arch=test_driver)


def _fail(param, message):
    raise lc.VirtError("%s: %s" % (param, message))


def _pool(conn, name, param):
    pool = lc.lookup_pool(conn, name)
    if pool is None:
        _fail(param, "no storage pool called %r on %s" % (name, lc.safe_uri(conn)))
    with lc.attempt("read storage pool %s" % name):
        if not pool.isActive():
            _fail(param, "storage pool %r is not active" % name)
    return pool


def _pool_path(pool):
    with lc.attempt("read storage pool %s" % pool.name()):
        return dx.get_text(dx.parse(pool.XMLDesc(0)), "target/path")


def _volume_info(vol):
    with lc.attempt("read volume %s" % vol.name()):
        root = dx.parse(vol.XMLDesc(0))
        return {"path": vol.path(), "format": (root.find("target/format").get("type")
                                               if root.find("target/format") is not None else "raw"),
                "capacity": int(dx.get_text(root, "capacity"))}


def _volume_xml(name, capacity, fmt, backing=None):
    root = dx.parse("<volume/>")
    dx.set_text(root, "name", name)
    dx.set_text(root, "capacity", capacity).set("unit", "bytes")
    dx.find_or_create(root, "target/format").set("type", fmt)
    if backing:
        dx.set_text(root, "backingStore/path", backing["path"])
        dx.find_or_create(root, "backingStore/format").set("type", backing["format"])
    return dx.tostring(root)


def resolve_disks(conn, disks, default_bus):
    """Spec disks -> disks with ``path``/``format``, plus the volumes to create."""
    resolved, to_create = [], []
    for i, disk in enumerate(vx.assign_targets(disks, default_bus)):
        p = "disks[%d]" % i
        if disk["path"]:
            disk["format"] = disk["format"] or ("qcow2" if disk["path"].endswith(".qcow2") else "raw")
            resolved.append(disk)
            continue
        pool = _pool(conn, disk["pool"], p + ".pool")
        vol = lc.lookup_volume(pool, disk["volume"])
        if vol is not None:
            info = _volume_info(vol)
            disk["path"] = info["path"]
            if disk["format"] and disk["format"] != info["format"]:
                _fail(p + ".format", "volume %s/%s is %s, not %s" % (disk["pool"], disk["volume"], info["format"], disk["format"]))
            disk["format"] = info["format"]
        else:
            if not disk["size"]:
                _fail(p + ".size", "volume %r does not exist in pool %r: give a size to create it"
                      % (disk["volume"], disk["pool"]))
            disk["format"] = disk["format"] or "qcow2"
            disk["path"] = "%s/%s" % (_pool_path(pool), disk["volume"])
            to_create.append({"pool": disk["pool"], "name": disk["volume"],
                              "xml": _volume_xml(disk["volume"], disk["size"], disk["format"]),
                              "what": "create volume %s/%s (%s %s)" % (
                                  disk["pool"], disk["volume"], vv.human(disk["size"]), disk["format"])})
        resolved.append(disk)
    return resolved, to_create


def resolve_interfaces(conn, nics, default_model):
    out = []
    for i, nic in enumerate(nics):
        nic = dict(nic)
        nic["model"] = nic["model"] or default_model
        if nic["network"] and lc.lookup_network(conn, nic["network"]) is None:
            _fail("interfaces[%d].network" % i, "no network called %r on %s" % (nic["network"], lc.safe_uri(conn)))
        out.append(nic)
    return out


def clones_of(conn, name):
    """Names of the VMs whose metadata says they were cloned from ``name``."""
    return sorted(g.name for g in all_guests(conn)
                  if dx.read_metadata(dx.parse(g.inactive_xml())).get("clone_of") == name)


# --- cloning -------------------------------------------------------------------------------

def prepare_clone(conn, spec, check_mode):
    """The base definition and the volumes to make for a clone.

    ``clone_from`` is a VM (its disks are cloned) or ``pool/volume`` (one
    disk).  Linked clones are qcow2 overlays backed by the template's volume;
    full clones copy it in its own format.  Returns ``(base_root or None,
    disks or None, to_create, template_guest or None)``.
    """
    source = spec["clone_from"]
    linked = spec["clone"] == "linked"
    if "/" in source:
        pool_name, vol_name = source.split("/", 1)
        pool = _pool(conn, pool_name, "clone_from")
        vol = lc.lookup_volume(pool, vol_name)
        if vol is None:
            _fail("clone_from", "no volume %r in pool %r" % (vol_name, pool_name))
        job = _clone_job(conn, spec, pool, vol, "vda", linked)
        disk = {"pool": None, "volume": None, "path": job["path"], "size": None, "format": job["format"],
                "bus": None, "cache": None, "device": "disk", "readonly": False, "boot_order": None, "target": None}
        return None, [disk], [job], None
    dom = lc.lookup_domain(conn, source)
    if dom is None:
        _fail("clone_from", "no VM called %r (and not a pool/volume) on %s" % (source, lc.safe_uri(conn)))
    template = Guest(conn, dom)
    if template.is_active():
        _fail("clone_from", "template %r is running: stop it (and mark it template: true) before cloning" % source)
    base = dx.parse(template.inactive_xml())
    dx.remove_path(base, "uuid")
    dx.remove_path(base, "os/nvram")
    dx.remove_path(base, "devices/interface/mac")
    dx.remove_path(base, "devices/interface/target")
    for graphics in base.findall("devices/graphics"):
        graphics.attrib.pop("port", None)
    meta = dx.read_metadata(base)
    for key in ("template", "volumes", "clone_of"):
        meta.pop(key, None)
    dx.write_metadata(base, meta)
    jobs = []
    for node in base.findall("devices/disk"):
        source_node = node.find("source")
        if node.get("device", "disk") != "disk" or source_node is None or not source_node.get("file"):
            continue
        vol = lc.lookup("look up volume %s" % source_node.get("file"), conn.storageVolLookupByPath, source_node.get("file"))
        if vol is None:
            _fail("clone_from", "disk %s of %r is not a volume of a storage pool" % (source_node.get("file"), source))
        with lc.attempt("find the pool of volume %s" % source_node.get("file")):
            pool = vol.storagePoolLookupByVolume()
        job = _clone_job(conn, spec, pool, vol, node.find("target").get("dev"), linked)
        jobs.append(job)
        source_node.set("file", job["path"])
        dx.find_or_create(node, "driver").set("type", job["format"])
        dx.remove_path(node, "readonly")
        dx.remove_path(node, "backingStore")
    return base, None, jobs, template


def _clone_job(conn, spec, pool, vol, target, linked):
    info = _volume_info(vol)
    dest_pool = _pool(conn, spec["pool"], "pool") if spec["pool"] else pool
    fmt = "qcow2" if linked else info["format"]
    name = "%s-%s.%s" % (spec["name"], target, fmt)
    if lc.lookup_volume(dest_pool, name) is not None:
        _fail("name", "volume %r already exists in pool %r: remove it or choose another name" % (name, dest_pool.name()))
    job = {"pool": dest_pool.name(), "name": name, "format": fmt,
           "path": "%s/%s" % (_pool_path(dest_pool), name)}
    if linked:
        job["backing"] = info["path"]
        job["xml"] = _volume_xml(name, info["capacity"], "qcow2", backing=info)
        job["what"] = "create volume %s/%s (qcow2 overlay on %s)" % (job["pool"], name, info["path"])
    else:
        job["xml"] = _volume_xml(name, info["capacity"], fmt)
        job["copy_from"] = vol
        job["what"] = "copy volume %s to %s/%s (%s)" % (info["path"], job["pool"], name, fmt)
    return job


def _create_volume(conn, job, undo):
    pool = _pool(conn, job["pool"], "pool")
    with lc.attempt(job["what"]):
        if job.get("copy_from") is not None:
            vol = pool.createXMLFrom(job["xml"], job["copy_from"], 0)
        else:
            vol = pool.createXML(job["xml"], 0)
    undo.push("delete volume %s/%s" % (job["pool"], job["name"]), vol.delete)
    return vol.path()


def _mark_template(template, disk_paths):
    """Flag the template VM and make its cloned disks read-only in its definition."""
    root = dx.parse(template.inactive_xml())
    before = dx.normalise(root)
    meta = dx.read_metadata(root)
    meta["template"] = "true"
    dx.write_metadata(root, meta)
    for node in root.findall("devices/disk"):
        source = node.find("source")
        if source is not None and source.get("file") in disk_paths:
            dx.find_or_create(node, "readonly")
    if dx.normalise(root) == before:
        return
    domain.define(template.conn, dx.tostring(root), "mark vm %s as a template" % template.name)


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
        return ensure_absent(conn, dom, spec, params, check_mode)
    try:
        host = host or host_facts(conn)
        if dom is None:
            changed, result, diff, guest = ensure_created(conn, spec, host, state, check_mode)
        else:
            guest = Guest(conn, dom)
            changed, result, diff = ensure_updated(conn, guest, spec, host, check_mode)
    except vs.SpecError as err:
        raise lc.VirtError(str(err)) from None
    meta_template = result.pop("_template", False)
    if guest is not None or check_mode:
        power_changed = ensure_power(guest, state, params, meta_template, check_mode, result, clock, sleep)
        changed = changed or power_changed
    if guest is not None and spec["autostart"] is not None and guest.autostart() != spec["autostart"]:
        result["plan"].append("set autostart %s" % ("on" if spec["autostart"] else "off"))
        if not check_mode:
            guest.set_autostart(spec["autostart"])
        changed = True
    if guest is not None and not check_mode:
        result["vm"] = {"name": guest.name, "state": guest.state()[0]}
        with lc.attempt("read the uuid of vm %s" % guest.name):
            result["vm"]["uuid"] = guest.uuid()
        if guest.is_active():
            pending = vp.restart_pending(vp.summarise(dx.parse(guest.live_xml())),
                                         vp.summarise(dx.parse(guest.inactive_xml())))
            result["restart_required"] = bool(pending)
            if pending:
                result["restart_pending"] = pending
    return changed, result, diff


def _resolve(conn, spec, host, current_root):
    meta = dx.read_metadata(current_root) if current_root is not None else {}
    os_profile = spec["os"] or meta.get("os") or "linux"
    defaults = vx.profile_defaults(os_profile, spec["virtio"])
    current_arch = current_root.find("os/type").get("arch") if current_root is not None and current_root.find("os/type") is not None else None
    resolved = vh.check_host(spec, host, current_arch)
    resolved["os"] = os_profile
    vh.check_limits(spec, host)
    if spec["firmware"] == "uefi" or os_profile == "windows":
        caps = _domain_caps(conn, resolved)
        if spec["firmware"] == "uefi" and caps is not None and not vh.uefi_available(caps):
            _fail("firmware", "this host has no UEFI firmware for %s %s guests (install OVMF / edk2)"
                  % (resolved["arch"], resolved["domain_type"]))
        resolved["hyperv"] = vh.hyperv_supported(caps) if caps is not None else None
    to_create = []
    if spec["disks"] is not None:
        resolved["disks"], to_create = resolve_disks(conn, spec["disks"], defaults["bus"])
    if spec["interfaces"] is not None:
        resolved["interfaces"] = resolve_interfaces(conn, spec["interfaces"], defaults["model"])
    if to_create:
        owned = list(meta.get("volumes", []))
        owned.extend({"pool": j["pool"], "name": j["name"]} for j in to_create)
        resolved["volumes"] = owned
    return resolved, to_create


def _domain_caps(conn, resolved):
    """Domain capabilities for the VM's arch/machine/type, or None where the driver has none."""
    try:
        return conn.getDomainCapabilities(None, resolved["arch"], resolved.get("machine"), resolved["domain_type"], 0)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
            return None  # a driver without domain capabilities (the test driver): nothing to check against
        raise lc.wrap_libvirt_error("read the domain capabilities of %s" % lc.safe_uri(conn), err) from err


def ensure_created(conn, spec, host, state, check_mode):
    template = None
    if spec["clone_from"]:
        base, disks, to_create, template = prepare_clone(conn, spec, check_mode)
        spec_for_resolve = dict(spec, disks=None)
        resolved, _unused = _resolve(conn, spec_for_resolve, host, base)
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
        resolved, to_create = _resolve(conn, spec, host, None)
        if spec["disks"] is None:
            resolved["disks"] = []
        root = vx.apply(vx.skeleton(spec["name"], resolved["domain_type"]), spec, resolved, creating=True)
    is_template = dx.read_metadata(root).get("template") == "true"
    if is_template and state in ("running", "paused", "restarted"):
        _fail("state", "vm %r is a template: templates cannot be started" % spec["name"])
    steps = [job["what"] for job in to_create] + ["define vm %s" % spec["name"]]
    if template is not None and spec["clone"] == "linked":
        steps.append("mark vm %s as a template with read-only disks" % template.name)
    result = {"plan": steps, "changes": [], "restart_required": False, "_template": is_template}
    diff = {"before": "", "after": dx.normalise(root, keep_uuid=False)}
    if check_mode:
        return True, result, diff, None
    undo = Undo()
    try:
        for job in to_create:
            _create_volume(conn, job, undo)
        guest = domain.define(conn, dx.tostring(root), "define vm %s on %s" % (spec["name"], lc.safe_uri(conn)))
        undo.push("undefine vm %s" % spec["name"], guest.delete_definition)
        if state in ("running", "paused", "restarted"):
            guest.start(paused=state == "paused")
            undo.push("force off vm %s" % spec["name"], guest.force_off)
            result["plan"].append("start vm %s%s" % (spec["name"], " paused" if state == "paused" else ""))
        if spec["autostart"]:
            guest.set_autostart(True)
        if template is not None and spec["clone"] == "linked" and to_create:
            _mark_template(template, {job["backing"] for job in to_create if job.get("backing")})
    except lc.VirtError as err:
        failures = undo.rollback()
        if failures:
            err.extend("; cleaning up also failed: " + "; ".join(failures))
        else:
            err.extend(" (everything this task created was removed again)")
        raise
    diff["after"] = dx.normalise(guest.inactive_xml(), keep_uuid=False)
    return True, result, diff, guest


def ensure_updated(conn, guest, spec, host, check_mode):
    current = dx.parse(guest.inactive_xml())
    running = guest.is_active()
    live = dx.parse(guest.live_xml()) if running else current
    resolved, to_create = _resolve(conn, spec, host, current)
    desired = vx.apply(dx.clone(current), spec, resolved, creating=False)
    before_text, after_text = dx.normalise(current), dx.normalise(desired)
    is_template = dx.read_metadata(desired).get("template") == "true"
    result = {"plan": [], "changes": [], "restart_required": False, "_template": is_template}
    diff = {"before": before_text, "after": after_text}
    if before_text == after_text:
        return False, result, diff
    changes = vp.plan(vp.summarise(current), vp.summarise(desired), running, vp.summarise(live))
    if not changes:
        changes = [{"field": "xml", "before": None, "after": None, "apply": "restart" if running else "config"}]
    result["changes"] = changes
    result["plan"] = [job["what"] for job in to_create] + ["redefine vm %s" % spec["name"]]
    result["plan"] += ["apply %s live" % c["field"] for c in changes if c["apply"] == "live"]
    if check_mode:
        result["restart_required"] = any(c["apply"] == "restart" for c in changes)
        return True, result, diff
    undo = Undo()
    try:
        for job in to_create:
            _create_volume(conn, job, undo)
        domain.define(conn, dx.tostring(desired), "redefine vm %s on %s" % (spec["name"], lc.safe_uri(conn)))
    except lc.VirtError:
        undo.rollback()
        raise
    if running:
        result["warnings"] = apply_live(guest, changes, live)
    diff["after"] = dx.normalise(guest.inactive_xml())
    return True, result, diff


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
            if field == "memory":
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
                    guest.detach_live(dx.tostring(_find_disk(live_root, dev)))
                else:
                    guest.attach_live(dx.tostring(_find_disk(new, dev)))
            elif field.startswith("interfaces."):
                key = field.split(".", 1)[1]
                if change["after"] is None:
                    guest.detach_live(dx.tostring(_find_nic(live_root, key)))
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


def ensure_power(guest, state, params, is_template, check_mode, result, clock, sleep):
    """Move the guest to ``state``; returns whether anything changed."""
    if state == "present":
        return False
    if guest is None:
        # check mode of a VM that does not exist yet: the create path planned the start
        if state in ("running", "paused", "restarted"):
            result["plan"].append("start vm %s" % params["name"])
        return state != "stopped"
    current, _reason = guest.state()
    if state in ("running", "paused", "restarted") and is_template:
        _fail("state", "vm %r is a template: templates cannot be started" % guest.name)
    steps = []
    if state == "running":
        if current == "shutoff" or current == "crashed":
            steps.append(("start", guest.start))
        elif current == "paused":
            steps.append(("resume", guest.resume))
    elif state == "paused":
        if current in ("shutoff", "crashed"):
            steps.append(("start paused", lambda: guest.start(paused=True)))
        elif current != "paused":
            steps.append(("pause", guest.suspend))
    elif state == "stopped":
        if current not in ("shutoff", "crashed"):
            steps.append(("stop", lambda: stop(guest, params, clock, sleep)))
    elif state == "restarted":
        if current not in ("shutoff", "crashed"):
            steps.append(("stop", lambda: stop(guest, params, clock, sleep)))
        steps.append(("start", guest.start))
    for what, _func in steps:
        result["plan"].append("%s vm %s" % (what, guest.name))
    if not check_mode:
        for _what, func in steps:
            func()
    return bool(steps)


def stop(guest, params, clock=time.monotonic, sleep=time.sleep):
    """Graceful shutdown within ``shutdown_timeout``, then force off if ``force``."""
    timeout = params.get("shutdown_timeout")
    timeout = 120 if timeout is None else timeout
    if guest.stop(timeout, params.get("force"), clock, sleep) is None:
        _fail("shutdown_timeout", "vm %s did not shut down within %ss; set force: true to power it off"
              % (guest.name, timeout))


def ensure_absent(conn, dom, spec, params, check_mode):
    result = {"plan": [], "changes": [], "restart_required": False}
    if dom is None:
        return False, result, {"before": "", "after": ""}
    guest = Guest(conn, dom)
    root = dx.parse(guest.inactive_xml())
    meta = dx.read_metadata(root)
    if meta.get("template") == "true":
        users = clones_of(conn, guest.name)
        if users:
            _fail("state", "vm %r is a template used by %s: remove those clones first"
                  % (guest.name, ", ".join(users)))
    diff = {"before": dx.normalise(root), "after": ""}
    if guest.is_active():
        result["plan"].append("force off vm %s" % guest.name)
    result["plan"].append("undefine vm %s" % guest.name)
    volumes = meta.get("volumes", []) if params.get("remove_volumes") else []
    for vol in volumes:
        result["plan"].append("delete volume %s/%s" % (vol.get("pool"), vol.get("name")))
    if check_mode:
        return True, result, diff
    if guest.is_active():
        guest.force_off()
    guest.delete_definition()
    for vol in volumes:
        pool = lc.lookup_pool(conn, vol.get("pool"))
        volume = lc.lookup_volume(pool, vol.get("name")) if pool is not None else None
        if volume is not None:
            with lc.attempt("delete volume %s/%s" % (vol.get("pool"), vol.get("name"))):
                volume.delete(0)
    return True, result, diff
