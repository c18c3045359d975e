# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Storage volumes on a libvirt connection: create (plain, clone, overlay,
upload), resize, delete, wipe, download; plan first, then apply.
"""

from __future__ import annotations

import hashlib
import os

from ansible_collections.hotiron.virt.plugins.module_utils import files
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.storage import volume_xml as vx

libvirt = lc.libvirt

WIPE_ALGORITHMS = ("zero", "nnsa", "dod", "bsi", "gutmann", "schneier", "pfitzner7", "pfitzner33", "random", "trim")
MAX_CHAIN = 16
CHUNK = 1024 * 1024


def _pool(conn, name):
    pool = lc.lookup_pool(conn, name)
    if pool is None:
        raise lc.VirtError("storage pool %s does not exist on %s" % (name, lc.safe_uri(conn)))
    if not pool.isActive():
        raise lc.VirtError("storage pool %s on %s is not active: start it first (hotiron.virt.storage_pool state=active)" % (name, lc.safe_uri(conn)))
    return pool


def _volume(conn, pool_name, name, param):
    vol = lc.lookup_volume(_pool(conn, pool_name), name)
    if vol is None:
        raise lc.VirtError("%s: volume %s does not exist in storage pool %s" % (param, name, pool_name))
    return vol


def backing_chain(conn, info):
    """``[{path, format, volume, pool}]`` from the volume's backing file down."""
    chain = []
    backing = info.get("backing")
    while backing and len(chain) < MAX_CHAIN:
        entry = dict(backing, volume=None, pool=None)
        vol = lc.lookup("look up volume %s" % backing["path"], conn.storageVolLookupByPath, backing["path"])
        backing = None
        if vol is not None:
            with lc.attempt("read volume %s" % entry["path"]):
                entry["volume"] = vol.name()
                entry["pool"] = vol.storagePoolLookupByVolume().name()
                parsed = vx.parse_volume(vol.XMLDesc(0))
            entry["format"] = entry["format"] or parsed["format"]
            backing = parsed["backing"]
        chain.append(entry)
    return chain


def volume_info(conn, pool, vol):
    with lc.attempt("read volume %s in storage pool %s" % (vol.name(), pool.name())):
        info = vx.parse_volume(vol.XMLDesc(0))
        _kind, capacity, allocation = vol.info()
    info.update(pool=pool.name(), capacity=capacity, allocation=allocation)
    info["backing_chain"] = backing_chain(conn, info)
    info.pop("backing")
    return info


def _diff_view(info):
    if not info:
        return {}
    return {k: info.get(k) for k in ("name", "pool", "path", "format", "capacity", "backing_chain")}


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def upload(conn, vol, path):
    size = os.path.getsize(path)
    stream = conn.newStream(0)
    with lc.attempt("upload %s into volume %s" % (path, vol.name())):
        try:
            vol.upload(stream, 0, size, 0)
            with open(path, "rb") as handle:
                stream.sendAll(lambda _stream, nbytes, fh: fh.read(nbytes), handle)
            stream.finish()
        except Exception:
            _abort(stream)
            raise


def download(conn, vol, sink):
    """Stream the volume's bytes to ``sink(data)``."""
    stream = conn.newStream(0)
    with lc.attempt("download volume %s" % vol.name()):
        try:
            vol.download(stream, 0, 0, 0)

            def handler(_stream, data, _opaque):
                sink(data)
                return len(data)

            stream.recvAll(handler, None)
            stream.finish()
        except Exception:
            _abort(stream)
            raise


def _abort(stream):
    try:
        stream.abort()
    except libvirt.libvirtError:
        pass  # the stream is already broken; the first error is what matters


def volume_sha256(conn, vol):
    digest = hashlib.sha256()
    download(conn, vol, digest.update)
    return digest.hexdigest()


def plan(conn, pool, vol, spec, params):
    """``(actions, context)``: what to do and what the actions need."""
    ctx = {}
    actions = []
    if params["state"] == "absent":
        if vol is not None:
            if params.get("wipe"):
                actions.append("wipe")
            actions.append("delete")
        return actions, ctx

    if params.get("backing_volume"):
        backing = _volume(conn, params.get("backing_pool") or spec["pool"], params["backing_volume"], "backing_volume")
        with lc.attempt("read backing volume %s" % params["backing_volume"]):
            binfo = vx.parse_volume(backing.XMLDesc(0))
            ctx["backing"] = {"path": binfo["path"], "format": binfo["format"], "capacity": backing.info()[1]}
    upload_from = params.get("upload_from")
    if upload_from and not os.path.isfile(upload_from):
        raise lc.VirtError("upload_from: %s is not a readable file on the machine running the module" % upload_from)

    if vol is None:
        if params.get("clone_from"):
            source = _volume(conn, params.get("clone_from_pool") or spec["pool"], params["clone_from"], "clone_from")
            ctx["clone_source"] = source
            actions.append("clone")
        elif "backing" in ctx:
            actions.append("create overlay")
        elif upload_from:
            actions += ["create", "upload"]
        else:
            if spec["capacity"] is None:
                raise lc.VirtError("capacity is required to create volume %s" % spec["name"])
            actions.append("create")
    else:
        with lc.attempt("read volume %s" % spec["name"]):
            current = vx.parse_volume(vol.XMLDesc(0))
            current["capacity"] = vol.info()[1]
        ctx["current"] = current
        try:
            actions += vx.plan_existing(current, spec, shrink=params.get("shrink"), backing_path=ctx.get("backing", {}).get("path"))
        except vx.VolumeSpecError as err:
            raise lc.VirtError(str(err)) from None
        when = params.get("upload_when") or "created"
        if upload_from and (when == "always" or (when == "changed" and volume_sha256(conn, vol) != file_sha256(upload_from))):
            actions = ["delete", "create", "upload"]
    if params.get("download_to"):
        dest = params["download_to"]
        try:
            files.check_target(dest)
        except OSError as err:
            raise lc.VirtError("download_to: cannot write %s: %s" % (dest, err.strerror)) from None
        created = any(a in actions for a in ("create", "clone", "create overlay"))
        if created or not os.path.exists(dest) or vol is None or volume_sha256(conn, vol) != file_sha256(dest):
            actions.append("download")
    return actions, ctx


def _create_xml(spec, ctx, params):
    source = ctx.get("clone_source")
    if source is not None:
        src = vx.parse_volume(source.XMLDesc(0))
        capacity = spec["capacity"] if spec["capacity"] is not None else source.info()[1]
        fmt = spec["format"] or src["format"]
        return vx.volume_xml(spec["name"], capacity, fmt, vx.create_allocation(spec, capacity)), fmt
    if "backing" in ctx:
        capacity = spec["capacity"] if spec["capacity"] is not None else ctx["backing"]["capacity"]
        backing = {"path": ctx["backing"]["path"], "format": ctx["backing"]["format"]}
        return vx.volume_xml(spec["name"], capacity, spec["format"], None, backing), spec["format"]
    fmt = spec["format"] or "raw"
    if params.get("upload_from"):
        # Created to be filled: as large as the file when raw, else as small as the format allows;
        # the upload then overwrites every byte qemu-img wrote.
        capacity = os.path.getsize(params["upload_from"]) if fmt == "raw" else 0
        return vx.volume_xml(spec["name"], capacity, fmt, 0), fmt
    return vx.volume_xml(spec["name"], spec["capacity"], fmt, vx.create_allocation(spec, spec["capacity"])), fmt


def _create_flags(spec, fmt):
    if fmt in ("qcow2", "qed") and spec["preallocation"] in ("metadata", "full"):
        return libvirt.VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA
    return 0


def apply(conn, pool, vol, spec, ctx, actions, params):
    made = []
    try:
        return _apply(conn, pool, vol, spec, ctx, actions, params, made)
    except lc.VirtError as err:
        if made:
            # Nothing half-made: a volume this run created but could not fill goes again.
            with lc.attempt("delete volume %s again after the failure" % spec["name"]):
                pool.storageVolLookupByName(spec["name"]).delete(0)
            err.extend("; the volume this run created was deleted again")
        raise


def _apply(conn, pool, vol, spec, ctx, actions, params, made):
    what = "volume %s in storage pool %s on %s" % (spec["name"], spec["pool"], lc.safe_uri(conn))
    for action in actions:
        if action == "download":
            continue
        with lc.attempt("%s %s" % (action, what)):
            if action == "wipe":
                alg = getattr(libvirt, "VIR_STORAGE_VOL_WIPE_ALG_" + (params.get("wipe_algorithm") or "zero").upper())
                vol.wipePattern(alg, 0)
            elif action == "delete":
                vol.delete(0)
                vol = None
            elif action == "clone":
                xml, fmt = _create_xml(spec, ctx, params)
                vol = pool.createXMLFrom(xml, ctx["clone_source"], _create_flags(spec, fmt))
                made.append(vol)
            elif action in ("create", "create overlay"):
                xml, fmt = _create_xml(spec, ctx, params)
                vol = pool.createXML(xml, _create_flags(spec, fmt))
                made.append(vol)
            elif action == "upload":
                upload(conn, vol, params["upload_from"])
                # Capacity and format of an uploaded image are read from the image itself.
                lc.refresh_pool(pool)
                vol = pool.storageVolLookupByName(spec["name"])
            elif action == "resize":
                vol.resize(spec["capacity"], 0)
            elif action == "shrink":
                vol.resize(spec["capacity"], libvirt.VIR_STORAGE_VOL_RESIZE_SHRINK)
    made.clear()  # complete: a failed download below leaves the volume in place
    if "download" in actions:
        _download_to(conn, vol, params["download_to"])
    return vol


def _download_to(conn, vol, dest):
    # A new file is private (0600: a disk image holds whatever the guest wrote), as before.
    try:
        with files.atomic_file(dest, mode=0o600, binary=True, makedirs=False) as handle:
            download(conn, vol, handle.write)
    except OSError as err:
        raise lc.VirtError("download_to: cannot write %s: %s" % (dest, err.strerror)) from None


def ensure_volume(conn, params, check_mode=False, want_diff=False):
    """Bring volume ``params['name']`` in pool ``params['pool']`` to the options; the module's result."""
    try:
        spec = vx.validate_volume(params)
    except vx.VolumeSpecError as err:
        raise lc.VirtError(str(err)) from None
    if params.get("wipe") and params["state"] != "absent":
        raise lc.VirtError("wipe applies with state=absent (the volume is overwritten, then deleted)")
    pool = _pool(conn, spec["pool"])
    vol = lc.lookup_volume(pool, spec["name"])
    before = volume_info(conn, pool, vol) if vol is not None else {}
    actions, ctx = plan(conn, pool, vol, spec, params)
    result = {"changed": bool(actions), "actions": actions}
    if check_mode:
        result["volume"] = before
        if want_diff:
            result["diff"] = {"before": _diff_view(before), "after": _predicted(before, spec, actions)}
        return result
    vol = apply(conn, pool, vol, spec, ctx, actions, params)
    after = volume_info(conn, pool, vol) if vol is not None and params["state"] != "absent" else {}
    result["volume"] = after
    if want_diff:
        result["diff"] = {"before": _diff_view(before), "after": _diff_view(after)}
    return result


def _predicted(before, spec, actions):
    if "delete" in actions and "create" not in actions:
        return {}
    after = dict(_diff_view(before)) if before else {"name": spec["name"], "pool": spec["pool"]}
    if spec["format"]:
        after["format"] = spec["format"]
    if spec["capacity"] is not None:
        after["capacity"] = spec["capacity"]
    return after
