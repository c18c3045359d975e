# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A VM's NoCloud seed on the host: the volume ``<vm>-cidata.iso`` in a pool, attached as a cdrom.

:func:`prepare` looks (reads only: check mode may call it) and edits the desired definition:
the seed cdrom and the seed's SHA-256 in the collection metadata (``cloud_init_seed``), which is
how a later run knows the seed is unchanged without reading the volume.  It returns the jobs
that write the volume, run by :mod:`vm_ops` before the definition is written.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.vm import cloud_init, resolve_ops

MIB = 1024 * 1024
SEED_SUFFIX = "-cidata.iso"
_SATA_TARGETS = ["sd" + chr(c) for c in range(ord("a"), ord("z") + 1)]


def _seed_disks(root):
    """The cdroms of ``root`` whose source is a NoCloud seed of this collection (any VM's)."""
    found = []
    for node in root.findall("devices/disk"):
        source = node.find("source")
        if node.get("device") != "cdrom" or source is None:
            continue
        path = source.get("file") or source.get("volume") or ""
        if path.endswith(SEED_SUFFIX):
            found.append((node, path.rsplit("/", 1)[-1]))
    return found


def _seed_pool(conn, spec, config, root):
    """The pool of the seed: cloud_init.pool, the VM's pool option, the pool of its first disk, ``default``."""
    name = config["pool"] or spec["pool"]
    if name:
        return resolve_ops.named_pool(conn, name, "cloud_init.pool" if config["pool"] else "pool")
    for node in root.findall("devices/disk"):
        source = node.find("source")
        if node.get("device", "disk") != "disk" or source is None:
            continue
        if source.get("pool"):
            return resolve_ops.named_pool(conn, source.get("pool"), "cloud_init.pool")
        if source.get("file"):
            vol = lc.lookup("look up volume %s" % source.get("file"), conn.storageVolLookupByPath, source.get("file"))
            if vol is not None:
                with lc.attempt("find the pool of volume %s" % source.get("file")):
                    return vol.storagePoolLookupByVolume()
            # A volume this task is about to make: the pool whose directory holds it.
            with lc.attempt("list the storage pools of %s" % lc.safe_uri(conn)):
                pools = conn.listAllStoragePools(0)
            for pool in pools:
                if pool.isActive() and resolve_ops.pool_path(pool) == source.get("file").rsplit("/", 1)[0]:
                    return pool
        break
    return resolve_ops.named_pool(conn, "default", "cloud_init.pool")


def _attach(root, path):
    """The seed cdrom (SATA, read-only) in ``root``, on the first free ``sd*`` target, after its disks."""
    taken = {t.get("dev") for t in root.findall("devices/disk/target")}
    free = [t for t in _SATA_TARGETS if t not in taken]
    if not free:
        resolve_ops.fail("cloud_init", "no free sd* target for the seed cdrom")
    disk = dx.parse("<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source/>"
                    "<target bus='sata'/><readonly/></disk>")
    disk.find("source").set("file", path)
    disk.find("target").set("dev", free[0])
    _insert_disk(root, disk)
    return disk


def keep_seed(current, desired, vm_name):
    """With ``cloud_init`` left out, the VM keeps its seed cdrom even when ``disks`` rewrote the list."""
    if current is None or desired is None:
        return
    own = [node for node, name in _seed_disks(current) if name == cloud_init.volume_name(vm_name)]
    if own and not [1 for _node, name in _seed_disks(desired) if name == cloud_init.volume_name(vm_name)]:
        _insert_disk(desired, dx.clone(own[0]))


def _insert_disk(root, disk):
    """``disk`` into ``root``'s devices after its last disk (where libvirt lists it)."""
    devices = dx.find_or_create(root, "devices")
    after = [i for i, child in enumerate(list(devices)) if child.tag in ("emulator", "disk")]
    devices.insert(after[-1] + 1 if after else 0, disk)


def prepare(conn, spec, current, desired):
    """Put the seed of ``spec["cloud_init"]`` into the ``desired`` root.

    Returns ``(jobs, diff_before, diff_after)``: ``jobs`` are ``{"what", "run"(undo)}``, empty when
    the seed is unchanged.  Reads only."""
    config = spec.get("cloud_init")
    if config is None:
        keep_seed(current, desired, spec["name"])
        return [], "", ""
    keep_seed(current, desired, spec["name"])    # ``disks`` rewrote the list: the seed as libvirt had it
    data, digest, files = cloud_init.seed(config)
    name = cloud_init.volume_name(spec["name"])
    pool = _seed_pool(conn, spec, config, desired)
    pool_name = pool.name()
    vol = lc.lookup_volume(pool, name)
    path = vol.path() if vol is not None else "%s/%s" % (resolve_ops.pool_path(pool), name)
    for node, other in _seed_disks(desired):     # a template's seed, or ours elsewhere
        if other != name or (node.find("source").get("file") not in (None, path)):
            desired.find("devices").remove(node)
    if not [1 for _node, other in _seed_disks(desired) if other == name]:
        _attach(desired, path)
    meta = dx.read_metadata(desired)
    before_digest = dx.read_metadata(current).get(cloud_init.METADATA_KEY) if current is not None else None
    meta[cloud_init.METADATA_KEY] = digest
    dx.write_metadata(desired, meta)
    if vol is not None and before_digest == digest:
        return [], "", ""
    before_files = {}
    if vol is not None and before_digest:
        before_files = _read_seed(conn, vol)
    capacity = max(MIB, -(-len(data) // MIB) * MIB)
    what = "write the cloud-init seed (%s) to volume %s/%s" % (", ".join(sorted(files)), pool_name, name)

    def run(undo):
        volume = lc.lookup_volume(pool, name)
        if volume is None:
            xml = resolve_ops.volume_xml(name, capacity, "raw")
            with lc.attempt("create volume %s/%s" % (pool_name, name)):
                volume = pool.createXML(xml, 0)
            undo.push("delete volume %s/%s" % (pool_name, name), volume.delete)
        with lc.attempt("resize volume %s/%s" % (pool_name, name)):
            if volume.info()[1] < capacity:
                volume.resize(capacity, 0)
        _upload(conn, volume, data.ljust(volume.info()[1], b"\0"), what)

    return [{"what": what, "run": run}], cloud_init.diff_text(before_files), cloud_init.diff_text(files)


def _read_seed(conn, vol):
    from ansible_collections.hotiron.virt.plugins.module_utils.storage import iso9660, volume_ops
    chunks = []
    try:
        volume_ops.download(conn, vol, chunks.append)
        return {k: v.decode("utf-8", "replace") for k, v in iso9660.read_files(b"".join(chunks)).items()}
    except (lc.VirtError, iso9660.IsoError) as err:     # diff mode only: say why, never fail for it
        return {"(previous seed)": "not readable: %s" % err}


def _upload(conn, volume, data, what):
    stream = conn.newStream(0)
    with lc.attempt(what):
        try:
            volume.upload(stream, 0, len(data), 0)
            for offset in range(0, len(data), MIB):
                stream.send(data[offset:offset + MIB])
            stream.finish()
        except Exception:
            try:
                stream.abort()
            except Exception:   # pylint: disable=broad-except  # the first error is what matters
                pass
            raise
