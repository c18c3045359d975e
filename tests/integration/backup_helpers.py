# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the snapshot and backup tests: guests on qcow2 disks holding known data, writes into
a running guest's disk through QEMU's monitor, the guest-visible content of an image, and what of
a host the generic host snapshot does not cover (snapshots, checkpoints).

Images are made and read *inside* the lab host (``host.run``), where their paths and the backing
paths written in them resolve as QEMU sees them.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid

import libvirt
import libvirt_qemu

import guests as lab_guests

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx

MIB = 1024 * 1024
KNOWN_DATA = ((0x11, 1, 8), (0x12, 24, 4))   # (byte, offset MiB, length MiB) written before boot


def run_in(host, *cmd):
    """Run a command inside ``host``; its stdout (AssertionError with stderr when it fails)."""
    proc = host.run(list(cmd), check=False)
    assert proc.returncode == 0, "%s on %s failed: %s" % (" ".join(cmd), host.name, proc.stderr)
    return proc.stdout


def make_disk(lab, host, path_in_host, size_mib=64, data=KNOWN_DATA, backing=None):
    """A qcow2 disk at ``path_in_host`` (as the host sees it): the idle boot sector, then ``data``;
    with ``backing`` an overlay on that image instead (a linked clone)."""
    if backing:
        run_in(host, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", backing, path_in_host)
    else:
        raw = "/var/tmp/hotiron-boot-%s.raw" % uuid.uuid4().hex
        lab_guests.make_image(raw, "idle")
        try:
            run_in(host, "qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, path_in_host)
        finally:
            os.unlink(raw)
        run_in(host, "qemu-img", "resize", "-q", path_in_host, "%dM" % size_mib)
    for byte, offset, length in data or []:
        run_in(host, "qemu-io", "-f", "qcow2", "-c", "write -P %d %dM %dM" % (byte, offset, length), path_in_host)
    run_in(host, "chmod", "666", path_in_host)
    return path_in_host


def define_guest(lab, host, name, disk, start=True, tags=None):
    """A headless idle guest on the qcow2 ``disk``, with the collection's ``tags``."""
    xml = lab_guests.domain_xml(name, disk, lab.virt_type, memory_mib=32).replace("type='raw'", "type='qcow2'")
    if tags:
        root = dx.parse(xml)
        dx.write_metadata(root, {"tags": list(tags)})
        xml = dx.tostring(root)
    dom = host.connect().defineXML(xml)
    if start:
        dom.create()
    return dom


def monitor_write(dom, byte, offset_mib, length_mib):
    """Write ``length_mib`` MiB of ``byte`` at ``offset_mib`` into the running guest's disk vda,
    through QEMU (HMP ``qemu-io``), then flush: what a guest OS writing would leave."""
    device = "/machine/peripheral/virtio-disk0/virtio-backend"
    for command in ("write -P %d %dM %dM" % (byte, offset_mib, length_mib), "flush"):
        out = libvirt_qemu.qemuMonitorCommand(dom, 'qemu-io -d %s "%s"' % (device, command),
                                              libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP)
        assert "error" not in out.lower() and "failed" not in out.lower(), out


def monitor_zero(dom, offset_mib, length_mib):
    """Write zeroes (``write -z``) over a range of the running guest's disk."""
    device = "/machine/peripheral/virtio-disk0/virtio-backend"
    for command in ("write -z %dM %dM" % (offset_mib, length_mib), "flush"):
        out = libvirt_qemu.qemuMonitorCommand(dom, 'qemu-io -d %s "%s"' % (device, command),
                                              libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP)
        assert "error" not in out.lower(), out


def content_sha256(host, path_in_host):
    """SHA-256 of the guest-visible bytes of an image (through its backing chain), read even while
    a QEMU holds it."""
    raw = "/var/tmp/hotiron-content-%s.raw" % uuid.uuid4().hex
    try:
        run_in(host, "qemu-img", "convert", "-U", "-O", "raw", path_in_host, raw)
        digest = hashlib.sha256()
        with open(raw, "rb") as handle:
            for chunk in iter(lambda: handle.read(MIB * 8), b""):
                digest.update(chunk)
        return digest.hexdigest()
    finally:
        if os.path.exists(raw):
            os.unlink(raw)


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(MIB * 8), b""):
            digest.update(chunk)
    return digest.hexdigest()


def chain_of(host, path_in_host):
    """File names of an image's backing chain, leaf first."""
    out = run_in(host, "qemu-img", "info", "-U", "--backing-chain", "--output=json", path_in_host)
    return [os.path.basename(i["filename"]) for i in json.loads(out)]


def disk_source(dom):
    from xml.etree import ElementTree as ET

    return ET.fromstring(dom.XMLDesc(0)).find("devices/disk/source").get("file")


def metadata_of_hosts(lab):
    """Per host and VM: snapshot and checkpoint XML (what the generic host snapshot leaves out)."""
    state = {}
    for host in lab.hosts:
        if not host.is_up():
            continue
        conn = host.connect()
        for dom in conn.listAllDomains(0):
            state["%s/%s" % (host.name, dom.name())] = {
                "snapshots": sorted(s.getXMLDesc(0) for s in dom.listAllSnapshots(0)),
                "checkpoints": sorted(c.getXMLDesc(0) for c in dom.listAllCheckpoints(0)),
                "live_xml": dom.XMLDesc(0) if dom.isActive() else None,
            }
    return state


def remove_vm_everywhere(lab, name):
    for host in lab.hosts:
        if not host.is_up():
            continue
        try:
            dom = host.connect().lookupByName(name)
        except libvirt.libvirtError:
            continue
        if dom.isActive():
            dom.destroy()
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                          | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA)
