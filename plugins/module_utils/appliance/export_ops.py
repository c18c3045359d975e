# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hotiron.virt.vm_export: a VM out as an OVA, or its disks as image files.

The OVA is what VMware and VirtualBox import: the OVF 1.0 descriptor first, the SHA256
manifest second, then one streamOptimized VMDK per disk (the order DSP0243 asks for).
Disks are converted with ``qemu-img`` into a hidden directory next to the destination,
hashed, and packed; the OVA is written as ``<dest>.part`` (a disk file as ``.<name>.part``) and
renamed into place (:func:`files.produced_file`), so a failure never leaves a partial file under
the destination's name.  ``qemu-img`` reads the disks where the module runs: run it on the VM's
host.

A running VM is exported (with ``live``) from a copy of its disks at one instant: a libvirt
backup job in push mode, without a checkpoint, writes them into a hidden directory next to the
destination while the VM goes on running (crash-consistent, as after a power cut); the export
reads those copies, and the directory goes when the export ends, whatever the outcome.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.files import produced_file
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import Guest
from ansible_collections.hotiron.virt.plugins.module_utils.vm import plan as vp
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import archive_ops as archive
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import images_ops as images
from ansible_collections.hotiron.virt.plugins.module_utils.storage import qemu_img_ops as qemu_img
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import manifest
from ansible_collections.hotiron.virt.plugins.module_utils.appliance import ovf_build
from ansible_collections.hotiron.virt.plugins.module_utils.backup import backup_ops

EXTENSIONS = {"vmdk": "vmdk", "vhd": "vhd", "qcow2": "qcow2", "raw": "img"}


def _fail(message):
    raise lc.VirtError(message)


def export_spec(name, root, disks):
    """The ovf_build spec of the VM ``root`` (inactive domain XML) with its exported ``disks``."""
    summary = vp.summarise(root)
    meta = summary["metadata"]
    extra = meta.get("extra") or {}
    controller = next((c for c in root.findall("devices/controller") if c.get("type") == "scsi"), None)
    nics = []
    for node in root.findall("devices/interface"):
        source = node.find("source")
        model = node.find("model")
        network = (source.get("network") or source.get("bridge")) if source is not None else None
        nics.append({"network": network or "VM Network", "model": model.get("type") if model is not None else None})
    return {
        "name": name, "description": summary["description"], "vcpus": summary["vcpus"] or 1,
        "memory": (summary["memory"] or 0) * 1024, "firmware": summary["firmware"],
        "os": {"profile": meta.get("os"), "cim_id": extra.get("ovf_os_id"), "type": extra.get("ovf_os_type"),
               "bits": 32 if summary["arch"] == "i686" else 64},
        "scsi_model": controller.get("model") if controller is not None else None,
        "disks": disks, "nics": nics,
        "metadata": {k: meta[k] for k in ("tags", "owner", "resource_group") if meta.get(k)},
    }


def _disks_of(root, name):
    """The VM's disks to export, in definition order: ``[{target, bus, path, format}]``."""
    disks = []
    for node in root.findall("devices/disk"):
        target = node.find("target")
        source = node.find("source")
        if node.get("device", "disk") != "disk":
            continue
        path = (source.get("file") or source.get("dev")) if source is not None else None
        dev = (target.get("dev") if target is not None else None) or "?"
        if not path:
            _fail("vm %s: disk %s is not a file or block device (network disks cannot be exported)" % (name, dev))
        driver = node.find("driver")
        disks.append({"target": dev, "bus": target.get("bus") if target is not None else "virtio",
                      "path": path, "format": (driver.get("type") if driver is not None else None) or "raw",
                      "readonly": node.find("readonly") is not None})
    return disks


def destinations(params, name, disks):
    """Where the files go: ``(ova path or None, [disk file paths])``."""
    dest, kind = params["dest"], params.get("format") or "ova"
    if not os.path.isabs(dest):
        _fail("dest: %r is not an absolute path" % dest)
    if kind == "ova":
        path = os.path.join(dest, name + ".ova") if os.path.isdir(dest) else dest
        if not os.path.isdir(os.path.dirname(path)):
            _fail("dest: directory %s does not exist" % os.path.dirname(path))
        return path, ["%s-disk%d.vmdk" % (name, i) for i in range(1, len(disks) + 1)]
    if not os.path.isdir(dest):
        _fail("dest: with format %s, dest is the directory for the disk files, and %s is none" % (kind, dest))
    return None, [os.path.join(dest, "%s-%s.%s" % (name, d["target"], EXTENSIONS[kind])) for d in disks]


def run(conn, params, check_mode=False):
    """``(changed, result)`` of exporting the VM ``params["name"]``."""
    images.require_qemu_img()
    name, kind = params["name"], params.get("format") or "ova"
    dom = lc.lookup_domain(conn, name)
    if dom is None:
        _fail("name: no vm called %r on %s" % (name, lc.safe_uri(conn)))
    guest = Guest(conn, dom)
    root = dx.parse(guest.inactive_xml())
    disks = _disks_of(root, name)
    ova, files = destinations(params, name, disks)
    targets = [ova] if ova else files
    _refuse_targets(name, disks, targets, ova)
    result = {"format": kind, "files": [], "plan": [], "conversions": [], "descriptor": None, "manifest": None}
    if all(os.path.exists(t) for t in targets) and not params.get("force"):
        result["files"] = [{"path": t, "size": os.path.getsize(t)} for t in targets]
        return False, result
    live = guest.is_active()
    _require_readable(conn, name, disks, live, params)
    copied = [d["target"] for d in disks if live and not d["readonly"]]
    result["live_copy"] = copied
    if copied:
        result["plan"].append("copy disk%s %s of the running vm at one instant (a libvirt backup job) into a"
                              " scratch directory in %s" % ("" if len(copied) == 1 else "s", ", ".join(copied),
                                                            _scratch_parent(ova, params)))
    for disk, out in zip(disks, files):
        disk["command"] = _command(disk, out, kind, params)
        result["conversions"].append({"source": disk["path"], "source_format": disk["format"],
                                      "target": disk["target"], "file": out, "command": disk["command"],
                                      "from_copy": disk["target"] in copied})
        copy = ", its copy" if disk["target"] in copied else ""
        result["plan"].append("convert disk %s (%s%s) to %s" % (disk["target"], disk["path"], copy, out))
    if ova:
        result["plan"].append("write %s (descriptor, SHA256 manifest, %d disk%s)"
                              % (ova, len(disks), "" if len(disks) == 1 else "s"))
    if check_mode:
        return True, result
    _carry_out(dom, name, root, disks, files, ova, copied, result, params)
    return True, result


def _refuse_targets(name, disks, targets, ova):
    """Refuse a destination that is not a file, and (OVA) what OVF cannot carry, before anything
    is converted."""
    for target in targets:
        if os.path.lexists(target) and not os.path.isfile(target):
            _fail("dest: %s exists and is not a regular file: it is never replaced" % target)
    if ova:
        try:
            ovf_build.controller_plan(disks, None)
        except ovf_build.BuildError as err:
            _fail("vm %s cannot be exported as an OVA: %s" % (name, err))


def _require_readable(conn, name, disks, live, params):
    """Refuse a running VM without ``live``, and disks this machine does not see."""
    if live and not params.get("live"):
        _fail("vm %s is running: stop it first (its disks change while it runs), or give live=true to export"
              " a copy of its disks taken at one instant" % name)
    for disk in disks:
        if not os.path.exists(disk["path"]):
            _fail("vm %s: disk %s (%s) is not on this machine: run the module on the VM's host"
                  % (name, disk["target"], disk["path"]))
    if live:
        backup_ops.require_local(conn, "export the running vm %s" % name)


def _carry_out(dom, name, root, disks, files, ova, copied, result, params):
    """Copy the running VM's disks (``copied``), convert and write the files; the scratch copies
    go whatever the outcome, and a failure leaves nothing under the destination."""
    kind = params.get("format") or "ova"
    scratch = None
    try:
        if copied:
            scratch = _copy_running(dom, disks, copied, _scratch_parent(ova, params), params)
            for disk, out, conversion in zip(disks, files, result["conversions"]):
                disk["command"] = conversion["command"] = _command(disk, out, kind, params)
        if ova:
            _write_ova(name, root, disks, files, ova, result)
        else:
            _write_disks(disks, files, result)
    except (qemu_img.ImageError, OSError) as err:
        raise lc.VirtError("%s (nothing was left under %s)" % (err, ova or params["dest"])) from None
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def _command(disk, out, kind, params):
    adapter = "ide" if disk["bus"] == "ide" else "lsilogic"
    subformat = {"vmdk": params.get("vmdk_subformat"), "vhd": params.get("vhd_subformat")}.get(kind)
    return images.export_command(disk["path"], disk["format"], out, "vmdk" if kind == "ova" else kind, subformat,
                                 adapter)


def _scratch_parent(ova, params):
    return os.path.dirname(ova) if ova else params["dest"]


def _copy_running(dom, disks, copied, parent, params):
    """Copy the disks ``copied`` of the running VM into a new hidden directory in ``parent``, and
    point those ``disks`` at their copies; the directory (the caller removes it)."""
    scratch = tempfile.mkdtemp(prefix=".%s-live-" % dom.name(), dir=parent)
    try:
        os.chmod(scratch, 0o711)        # QEMU, which may run as another user, writes the copies here
        files = {target: os.path.join(scratch, "%s.qcow2" % target) for target in copied}
        backup_ops.copy_running(dom, copied, files, [d["target"] for d in disks], params["timeout"])
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    for disk in disks:
        if disk["target"] in files:
            disk.update(path=files[disk["target"]], format="qcow2")
    return scratch


def _write_disks(disks, files, result):
    """Each disk to its file through ``.<name>.part``; on a failure, the files this run wrote are
    removed again (a set of disks is whole or absent)."""
    written = []
    try:
        for disk, out in zip(disks, files):
            part = os.path.join(os.path.dirname(out), ".%s.part" % os.path.basename(out))
            disk["command"][-1] = part
            with produced_file(out, part):
                qemu_img.run(disk["command"], "convert disk %s (%s) to %s" % (disk["target"], disk["path"], out))
            written.append(out)
    except (qemu_img.ImageError, OSError):
        for path in written:
            os.unlink(path)
        raise
    result["files"] = [{"path": out, "size": os.path.getsize(out)} for out in written]


def _write_ova(name, root, disks, files, ova, result):
    work = tempfile.mkdtemp(prefix=".%s-export-" % name, dir=os.path.dirname(ova))
    part = ova + ".part"
    try:
        for number, (disk, member) in enumerate(zip(disks, files), 1):
            local = os.path.join(work, member)
            disk["command"][-1] = local
            qemu_img.run(disk["command"], "convert disk %s (%s) to streamOptimized VMDK" % (disk["target"], disk["path"]))
            info = qemu_img.info(images.source_spec(archive.Member(member, disk["path"], 0, 0), disk["format"], True),
                                 "read disk %s" % disk["path"])
            disk.update(id="vmdisk%d" % number, file=member, local=local, file_size=os.path.getsize(local),
                        capacity=int(info["virtual-size"]))
        spec = export_spec(name, root, [dict(d) for d in disks])
        descriptor = ovf_build.build(spec)
        stem = name
        ovf_path = os.path.join(work, stem + ".ovf")
        with open(ovf_path, "w", encoding="utf-8") as handle:
            handle.write(descriptor)
        members = [(stem + ".ovf", ovf_path)] + [(d["file"], d["local"]) for d in disks]
        digests = [(member, _sha256(path)) for member, path in members]
        mf_path = os.path.join(work, stem + ".mf")
        with open(mf_path, "w", encoding="utf-8") as handle:
            handle.write(manifest.build(digests))
        with produced_file(ova, part):
            layout = archive.write_ova(part, [members[0], (stem + ".mf", mf_path)] + members[1:], time.time())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["descriptor"] = descriptor
    result["manifest"] = manifest.build(digests)
    result["members"] = layout
    result["files"] = [{"path": ova, "size": os.path.getsize(ova)}]


def _sha256(path):
    digest = manifest.hasher("SHA256")
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(archive.CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def run_vm_export(params, check_mode):
    """hotiron.virt.vm_export's result, in the one shape of the module ``_ops`` (see :func:`run`).
    A live export starts a backup job: only then is the connection read-write."""
    with lc.connected(params["uri"], readonly=not params.get("live")) as conn:
        changed, result = run(conn, params, check_mode=check_mode)
    return dict(result, changed=changed)
