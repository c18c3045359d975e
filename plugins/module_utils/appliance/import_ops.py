# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hotiron.virt.vm_import: an OVA, an OVF with its files or one disk image becomes a VM.

Order of work, so that a bad package leaves nothing behind:

1. read the package (tar members by offset, or files) and its descriptor, check that every
   file is there and that the manifest's digests match, probe each disk with
   ``qemu-img info`` (all reads);
2. decide the VM and its volumes (:mod:`plan`), then let :mod:`vm_ops` create the volumes
   and define the VM, marked ``import_state: converting`` in the collection's metadata;
3. ``qemu-img convert`` each disk straight from the package into its volume;
4. define the VM again without the mark (and start it when asked).

A failure in 2-4 removes the VM and its volumes again.  A VM still marked (the module was
killed mid-way) is refused until ``force`` replaces it.  ``qemu-img`` runs where the module
runs, so the module must run on the host that owns the pool (``delegate_to`` that host).
"""

from __future__ import annotations

import contextlib
import os
import socket

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import Guest
from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_ops
from ansible_collections.hotiron.virt.plugins.module_utils.vm import spec as vs
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import archive_ops as archive
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import formats
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import images_ops as images
from ansible_collections.hotiron.virt.plugins.module_utils.storage import qemu_img_ops as qemu_img
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import manifest
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import ovf
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import plan as plans

IMPORT_MARK = "import_state"
SRC_FORMATS = {"vmdk": "vmdk", "vhd": "vpc", "vhdx": "vhdx", "qcow2": "qcow2", "raw": "raw", "vdi": "vdi"}
# Pool types whose volumes are paths on the host: qemu-img can write them where it runs.
LOCAL_POOL_TYPES = ("dir", "fs", "netfs", "logical", "disk", "iscsi", "scsi", "mpath")
# ... and of those, the ones where a new volume reads as zeroes (a sparse or fallocated file).
ZEROED_POOL_TYPES = ("dir", "fs", "netfs")


def _fail(message):
    raise lc.VirtError(message)


# --- 1. reading the package -------------------------------------------------------------

def src_kind(params, tar, seen):
    """``ova``, ``ovf`` or ``image`` for the module's ``src``/``src_format``: whether ``src`` is a
    tar (``tar``) and what its bytes show (``seen``, a :class:`formats.Seen`).  An ``.ova`` (or
    ``src_format: ova``) is a tar archive or an error; nothing is taken for a raw disk because
    it is nothing else (:func:`formats.decide` judges a disk image)."""
    src, fmt = params["src"], params.get("src_format") or "auto"
    named = os.path.splitext(src.lower())[1]
    if fmt == "ova" or (fmt == "auto" and named == ".ova"):
        if not tar:
            _fail("src: %s is not an OVA: an OVA is a tar archive, and this file looks like %s" % (src, seen.what))
        return "ova"
    if fmt == "ovf":
        if tar:
            _fail("src: %s is a tar archive (an OVA), not an OVF descriptor: set src_format to ova or auto" % src)
        return "ovf"
    if fmt != "auto":
        return "image"
    if tar:
        return "ova"
    if named == ".ovf":
        return "ovf"
    return "image"


def read(params):
    """The package and its appliance model: the descriptor read, nothing verified yet."""
    src = params["src"]
    if not os.path.isabs(src):
        _fail("src: %r is not an absolute path" % src)
    if not os.path.isfile(src):
        _fail("src: %s does not exist on this host (%s), or is not a file" % (src, socket.gethostname()))
    whole = archive.Member(os.path.basename(src), src, 0, os.path.getsize(src))
    with _reading(src):
        try:
            seen = images.identify(whole)
        except OSError as err:
            raise archive.PackageError("cannot be read: %s" % (err.strerror or err)) from None
        kind = src_kind(params, archive.is_tar(src), seen)
        if kind == "image":
            package, model = _image(params, whole, seen)
        else:
            package = archive.open_package(src) if kind == "ova" else archive.open_ovf(src)
            text = package.read(package.descriptor, ovf.MAX_DESCRIPTOR)
            model = ovf.parse(text, params.get("system"), params.get("configuration"))
    return {"kind": kind, "package": package, "model": model}


def prepare(params, read_=None):
    """Everything decided before anything is written: the manifest checked, each disk probed,
    the VM and its volumes planned."""
    prepared = read_ or read(params)
    package, model = prepared["package"], prepared["model"]
    with _reading(params["src"]):
        prepared["manifest"] = _verify(package, model, params.get("require_manifest")) if package.kind != "image" else None
        prepared["sources"] = _sources(package, model, params)
        try:
            decided = plans.plan(model, prepared["sources"], _plan_options(params))
        except plans.PlanError as err:
            raise lc.VirtError(str(err)) from None
    decided["vm"]["xml"] = _merge_xml(decided["vm"]["xml"], params.get("xml"))
    decided["vm"]["metadata"]["imported_from"] = os.path.basename(params["src"])
    prepared["plan"] = decided
    return prepared


@contextlib.contextmanager
def _reading(src):
    try:
        yield
    except (archive.PackageError, ovf.OVFError, manifest.ManifestError, qemu_img.ImageError,
            formats.FormatError) as err:
        raise lc.VirtError("src %s: %s" % (src, err)) from None


def _image(params, member, seen):
    """A single disk image: its format declared by ``src_format`` or its name, and its
    contents (``seen``), which must agree (:func:`formats.decide`)."""
    wanted = params.get("src_format") or "auto"
    if wanted != "auto":
        declared, said = SRC_FORMATS[wanted], "src_format"
    else:
        declared, said = images.format_by_extension(member.name), "its name"
    fmt = formats.decide(declared, said, seen, member.name)
    package = archive.Package("image", member.path, {member.name: member}, None)
    return package, plans.image_model(member.name, fmt)


def _verify(package, model, required):
    needed = [package.descriptor] + sorted(f["href"] for f in model["files"].values())
    missing = [name for name in needed if package.member(name) is None]
    if missing:
        raise archive.PackageError("%s %s missing from the package"
                                   % (", ".join(missing), "is" if len(missing) == 1 else "are"))
    if package.manifest is None:
        if required:
            raise manifest.ManifestError("the package has no manifest (.mf) and require_manifest is set")
        return None
    entries = manifest.parse(package.read(package.manifest, 1024 * 1024).decode("utf-8", "replace"))
    for entry in entries:
        ovf.check_href(entry["file"], "manifest entry")
    present = {e["file"] for e in entries if package.member(e["file"]) is not None}
    verified = manifest.check(entries, needed, present, package.digest)
    return {"file": package.manifest, "files": verified,
            "certificate": package.certificate}


def _sources(package, model, params):
    sources = []
    for index, disk in enumerate(model["disks"], 1):
        entry = disk["file"]
        if entry is None:
            sources.append(None)
            continue
        member = package.member(entry["href"])
        label = "%s:%s" % (os.path.basename(package.path), entry["href"]) if package.kind == "ova" else member.path
        if entry.get("size") is not None and entry["size"] != member.size:
            raise archive.PackageError("%s is %d bytes, but the descriptor says %d (truncated or replaced?)"
                                       % (entry["href"], member.size, entry["size"]))
        fmt = _decide_format(disk, entry["href"], images.identify(member))
        spec = images.source_spec(member, fmt, whole_file=package.kind != "ova")
        info = qemu_img.info(spec, "read disk %d (%s) with qemu-img" % (index, label))
        sources.append({"label": label, "format": fmt, "virtual_size": int(info["virtual-size"]),
                        "spec": spec, "offset": member.offset, "size": member.size,
                        "subformat": ((info.get("format-specific") or {}).get("data") or {}).get("create-type")})
    return sources


def _decide_format(disk, href, seen):
    """The format to read a disk of a package as: declared (by the descriptor, else by its
    name) and seen (its contents) must agree; a fixed VHD is ``vpc`` although qemu-img
    probes raw; raw needs a partition table or the like, or the descriptor saying raw."""
    if disk["format"]:
        return formats.decide(disk["format"], "the descriptor", seen, href)
    return formats.decide(images.format_by_extension(href), "its name", seen, href)


def _plan_options(params):
    # Text XML cannot carry (a NUL, a control character) never gets here: module_base refuses it.
    options = dict(params)
    if params.get("memory") is not None:
        try:
            options["memory"] = vs.parse_size(params["memory"], "memory")
        except vs.SpecError as err:
            raise plans.PlanError(None, str(err)) from None
    for key in ("vcpus",):
        if params.get(key) is not None and params[key] < 1:
            raise plans.PlanError(key, "must be at least 1, got %d" % params[key])
    return options


def _merge_xml(patch, user):
    if not user:
        return patch
    if not patch:
        return user
    try:
        base, extra = dx.parse(patch), dx.parse(user)
    except dx.XMLError as err:
        raise lc.VirtError("xml: %s" % err) from None
    dx.merge(base, extra)
    return dx.tostring(base)


# --- 2-4. carrying it out -----------------------------------------------------------------

def run(conn, params, check_mode=False):
    """``(changed, result, diff)`` of the import described by the module's ``params``."""
    images.require_qemu_img()
    found = read(params)
    try:
        name = plans.vm_name(found["model"], params)
    except plans.PlanError as err:
        raise lc.VirtError(str(err)) from None
    dom = lc.lookup_domain(conn, name)
    if dom is not None and not params.get("force"):
        # Nothing to do: the package is not read further (an existing VM is not compared with it).
        return False, _existing(conn, dom, name), {"before": "", "after": ""}
    _check_host(conn)
    pool_type, pool_path = _pool_info(conn, params["pool"])
    prepared = prepare(params, found)
    decided = prepared["plan"]
    _check_networks(conn, params, decided["vm"].get("interfaces") or [])
    vm_params = dict(decided["vm"], state=params.get("state") or "present")
    result = _result(prepared)
    for conversion in result["conversions"]:
        conversion["target"] = "%s/%s" % (pool_path, conversion["volume"])
        conversion["command"] = images.import_command(conversion["source_spec"], conversion["target"],
                                                      conversion["format"], pool_type in ZEROED_POOL_TYPES)
    before = ""
    if dom is not None:
        before = dx.normalise(Guest(conn, dom).inactive_xml())
        result["plan"].append("remove vm %s and the volumes it owns (force)" % name)
    # Every check vm_ops makes against the host (pool, networks, limits, firmware) before
    # anything is written; with force, before the VM it replaces is removed.
    planned, diff = _planned(conn, vm_params, dom is not None)
    diff["before"] = before
    if check_mode:
        result["plan"] += _interleave(planned["plan"], result["conversions"])
        return True, result, diff
    if dom is not None:
        vm_ops.ensure(conn, {"name": name, "state": "absent", "remove_volumes": True})
    marked = dict(vm_params, state="present",
                  metadata=dict(vm_params["metadata"], **{IMPORT_MARK: "converting"}))
    created = False
    try:
        _changed, first, _diff = vm_ops.ensure(conn, marked)
        created = True
        for conversion in result["conversions"]:
            _convert(conn, params["pool"], conversion)
        # The xml patch is in the definition already: merged again, devices libvirt expanded
        # (a serial port's target, say) would not compare equal and be added twice.
        _changed, final, diff = vm_ops.ensure(conn, dict(vm_params, xml=None))
    except (lc.VirtError, qemu_img.ImageError) as err:
        failure = err if isinstance(err, lc.VirtError) else lc.VirtError(str(err))
        if created:
            _undo(conn, name, failure)
        raise failure from None
    for warning in (first.get("warnings") or []) + (final.get("warnings") or []):
        result["warnings"].append(warning)
    result["plan"] += _interleave(first["plan"], result["conversions"]) + [
        step for step in final["plan"] if not step.startswith("redefine")]
    result["vm"] = final.get("vm")
    return True, result, {"before": before, "after": diff["after"]}


CHECK_NAME = "hotiron-import-check"


def _planned(conn, vm_params, replacing):
    """vm_ops' check-mode plan and diff of defining the VM.  When it replaces a VM of the same
    name, the check runs under a name no VM has (libvirt would otherwise plan a change of the
    existing VM), and the real name is put back into the plan and the XML."""
    name = vm_params["name"]
    if not replacing:
        _changed, planned, diff = vm_ops.ensure(conn, vm_params, check_mode=True)
        return planned, diff
    _changed, planned, diff = vm_ops.ensure(conn, dict(vm_params, name=CHECK_NAME), check_mode=True)
    planned["plan"] = [step.replace("vm " + CHECK_NAME, "vm " + name) for step in planned["plan"]]
    diff["after"] = diff["after"].replace("<name>%s</name>" % CHECK_NAME, "<name>%s</name>" % name)
    return planned, diff


def _result(prepared):
    model, decided = prepared["model"], prepared["plan"]
    conversions = []
    for volume in decided["volumes"]:
        source = volume["source"]
        if source is None:
            continue
        conversions.append({"source": source["label"], "source_format": source["format"],
                            "source_subformat": source["subformat"], "offset": source["offset"],
                            "size": source["size"], "source_spec": source["spec"],
                            "virtual_size": source["virtual_size"], "pool": volume["pool"],
                            "volume": volume["name"], "format": volume["format"],
                            "capacity": volume["capacity"], "target": None, "command": None})
    appliance = {key: model.get(key) for key in ("dialect", "ovf_version", "name", "system_id", "configuration",
                                                 "os", "firmware", "vcpus", "memory", "networks", "ignored")}
    appliance["kind"] = prepared["kind"]
    appliance["disks"] = [{"device": d["device"], "controller": d["controller"]["type"],
                           "controller_model": d["controller"]["model"], "unit": d["unit"],
                           "capacity": d["capacity"], "format": d["format"],
                           "file": d["file"]["href"] if d["file"] else None} for d in model["disks"]]
    appliance["nics"] = [{"network": n["network"], "model": n["model"]} for n in model["nics"]]
    return {"plan": [], "conversions": conversions, "appliance": appliance, "manifest": prepared["manifest"],
            "spec": decided["vm"], "notes": decided["notes"], "warnings": [], "vm": None}


def _interleave(vm_steps, conversions):
    """vm_ops' steps with each conversion after the creation of its volume."""
    steps = []
    for step in vm_steps:
        steps.append(step)
        for conversion in conversions:
            if step.startswith("create volume %s/%s " % (conversion["pool"], conversion["volume"])):
                steps.append("convert %s (%s) into %s/%s (%s)" % (
                    conversion["source"], images.NAMES[conversion["source_format"]], conversion["pool"],
                    conversion["volume"], conversion["format"]))
    return steps


def _existing(conn, dom, name):
    guest = Guest(conn, dom)
    meta = dx.read_metadata(dx.parse(guest.inactive_xml()))
    if (meta.get("extra") or {}).get(IMPORT_MARK):
        _fail("vm %s exists from an import that did not finish (its disks may be incomplete):"
              " run again with force: true to replace it" % name)
    with lc.attempt("read vm %s" % name):
        vm = {"name": name, "uuid": dom.UUIDString(), "state": guest.state()[0]}
    return {"plan": [], "conversions": [], "appliance": None, "manifest": None, "spec": None,
            "notes": ["vm %s exists: nothing imported (force replaces it)" % name], "warnings": [], "vm": vm}


def _network_option(params, index, network):
    """The option the user named ``network`` with, for the NIC at ``index``."""
    if params.get("interfaces") is not None:
        return "interfaces[%d].network" % index
    for source, mapped in (params.get("network_map") or {}).items():
        if mapped == network:
            return "network_map.%s" % source
    return "default_network"


def _check_networks(conn, params, nics):
    """Every network the NICs join exists on the host, or the option that named it is refused."""
    for index, nic in enumerate(nics):
        network = nic.get("network")
        if network and lc.lookup_network(conn, network) is None:
            _fail("%s: no network called %r on %s" % (_network_option(params, index, network), network, lc.safe_uri(conn)))


def _check_host(conn):
    """qemu-img writes on this machine: the libvirt host must be this one."""
    with lc.attempt("read the host name of %s" % lc.safe_uri(conn)):
        if conn.getType() == "TEST":
            return
        remote = conn.getHostname()
    here = socket.gethostname()
    if not qemu_img.is_local(lc.safe_uri(conn), remote):
        _fail("uri: %s is host %s, but this module runs on %s and converts disks with qemu-img where it"
              " runs: run it on %s (delegate_to) with uri qemu:///system" % (lc.safe_uri(conn), remote, here, remote))


def _pool_info(conn, name):
    """(type, target path) of the active pool ``name``; only pools with local volume paths."""
    pool = lc.lookup_pool(conn, name)
    if pool is None:
        _fail("pool: no storage pool called %r on %s" % (name, lc.safe_uri(conn)))
    with lc.attempt("read storage pool %s" % name):
        active = pool.isActive()
        root = dx.parse(pool.XMLDesc(0))
    if not active:
        _fail("pool: storage pool %r is not active" % name)
    kind = root.get("type")
    if kind not in LOCAL_POOL_TYPES:
        _fail("pool: %r is a %s pool, whose volumes are not files qemu-img can write here (use one of %s)"
              % (name, kind, ", ".join(LOCAL_POOL_TYPES)))
    return kind, dx.get_text(root, "target/path")


def _convert(conn, pool_name, conversion):
    pool = lc.lookup_pool(conn, pool_name)
    volume = lc.lookup_volume(pool, conversion["volume"])
    with lc.attempt("read volume %s/%s" % (pool_name, conversion["volume"])):
        path = volume.path()
    if not os.path.exists(path):
        _fail("volume %s/%s is at %s, which this machine does not see: run the module on the pool's host"
              % (pool_name, conversion["volume"], path))
    conversion["target"] = path
    conversion["command"][-1] = path
    qemu_img.run(conversion["command"], "convert %s into %s/%s" % (conversion["source"], pool_name, conversion["volume"]))


def _undo(conn, name, failure):
    try:
        vm_ops.ensure(conn, {"name": name, "state": "absent", "remove_volumes": True})
    except lc.VirtError as err:
        failure.extend("; removing vm %s and its volumes again also failed: %s" % (name, err))
        return
    failure.extend(" (vm %s and its volumes were removed again)" % name)


def run_vm_import(params, check_mode):
    """hotiron.virt.vm_import's result, in the one shape of the module ``_ops`` (see :func:`run`)."""
    for key, value in (params.get("network_map") or {}).items():
        if value is not None and not isinstance(value, str):
            _fail("network_map: the value for %r must be a libvirt network name or null, got %r" % (key, value))
    with lc.connected(params["uri"]) as conn:
        changed, result, diff = run(conn, params, check_mode=check_mode)
    return dict(result, changed=changed, diff=diff)
