# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real appliances for the tests and benchmarks, built here from the descriptors in
tests/data/ovf/ (VMware OVF 1.0, VirtualBox OVF 2.0) and disks made with qemu-img.

The disks hold boot sectors (guests.py or a caller's), so an imported appliance can be
booted and seen to run *its* disk.  The OVA is a plain ustar file written in the order
OVF asks for: descriptor, manifest, then the disks.  Nothing here imports the collection:
what the tests check is built independently of the code under test.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DESCRIPTORS = os.path.join(ROOT, "tests", "data", "ovf")
MIB = 1024 * 1024


def descriptor(template, **values):
    """The text of ``tests/data/ovf/<template>`` with each ``@KEY@`` replaced."""
    with open(os.path.join(DESCRIPTORS, template), encoding="utf-8") as handle:
        text = handle.read()
    for key, value in values.items():
        text = text.replace("@%s@" % key, str(value))
    left = re.findall(r"@[A-Z0-9_]+@", text.split("-->", 1)[-1])
    if left:
        raise ValueError("%s: placeholders left unfilled: %s" % (template, ", ".join(sorted(set(left)))))
    return text


def raw_disk(path, sector, size):
    """A raw disk of ``size`` bytes whose first sector is ``sector`` (512 bytes)."""
    assert len(sector) == 512 and size % 512 == 0
    with open(path, "wb") as handle:
        handle.write(sector)
        handle.truncate(size)
    return path


def convert(raw, out, fmt, options=None):
    """qemu-img convert ``raw`` into ``out`` as ``fmt`` (``vmdk``, ``vpc``, ``qcow2``, ...)."""
    cmd = ["qemu-img", "convert", "-q", "-f", "raw", "-O", fmt]
    if options:
        cmd += ["-o", options]
    subprocess.run(cmd + [raw, out], check=True)
    return out


def stream_vmdk(raw, out):
    return convert(raw, out, "vmdk", "subformat=streamOptimized")


def digest(path, algorithm="sha256"):
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(4 * MIB), b""):
            hasher.update(block)
    return hasher.hexdigest()


def manifest_text(files, algorithm="SHA256", style="vmware"):
    """``SHA256(name)= hex`` lines (VMware) or ``SHA256 (name) = hex`` (VirtualBox)."""
    fmt = "%s(%s)= %s\n" if style == "vmware" else "%s (%s) = %s\n"
    return "".join(fmt % (algorithm, name, digest(path, algorithm.lower())) for name, path in files)


def make_ova(dest, name, descriptor_text, disks, algorithm="SHA256", style="vmware", manifest_last=False):
    """Write the OVA ``dest``: ``<name>.ovf``, ``<name>.mf`` (unless ``algorithm`` is None),
    then ``disks`` (``[(member name, path)]``).  VirtualBox puts the manifest last:
    ``manifest_last``.  Returns ``dest``."""
    workdir = os.path.dirname(dest)
    ovf_path = os.path.join(workdir, name + ".ovf")
    with open(ovf_path, "w", encoding="utf-8") as handle:
        handle.write(descriptor_text)
    members = [(name + ".ovf", ovf_path)] + list(disks)
    entries = list(members)
    if algorithm:
        mf_path = os.path.join(workdir, name + ".mf")
        with open(mf_path, "w", encoding="utf-8") as handle:
            handle.write(manifest_text(members, algorithm, style))
        if manifest_last:
            entries.append((name + ".mf", mf_path))
        else:
            entries.insert(1, (name + ".mf", mf_path))
    with tarfile.open(dest, "w", format=tarfile.USTAR_FORMAT) as tar:
        for member, path in entries:
            tar.add(path, arcname=member, recursive=False)
    return dest


def vmware_ova(workdir, name, sectors, disk_mib=(4, 2), vcpus=1, memory_mib=32, firmware="bios",
               scsi="lsilogic", nics=("E1000", "VmxNet3")):
    """A VMware-style OVA: two streamOptimized disks on a SCSI controller of subtype ``scsi``
    (LSI Logic; ``VirtualSCSI`` for PVSCSI), NICs of subtypes ``nics``, booting ``sectors[0]``."""
    disks = []
    sizes = {}
    for index, (sector, mib) in enumerate(zip(sectors, disk_mib), 1):
        raw = raw_disk(os.path.join(workdir, "%s-%d.raw" % (name, index)), sector, mib * MIB)
        vmdk = stream_vmdk(raw, os.path.join(workdir, "%s-disk%d.vmdk" % (name, index)))
        disks.append(("%s-disk%d.vmdk" % (name, index), vmdk))
        sizes["DISK%d_FILE_SIZE" % index] = os.path.getsize(vmdk)
        sizes["DISK%d_MIB" % index] = mib
    text = descriptor("vmware-ovf1.ovf", NAME=name, VCPUS=vcpus, MEMORY_MIB=memory_mib,
                      FIRMWARE="efi" if firmware == "uefi" else "bios", **sizes)
    text = text.replace("<rasd:ResourceSubType>lsilogic<", "<rasd:ResourceSubType>%s<" % scsi)
    text = text.replace("<rasd:ResourceSubType>E1000<", "<rasd:ResourceSubType>%s<" % nics[0])
    text = text.replace("<rasd:ResourceSubType>VmxNet3<", "<rasd:ResourceSubType>%s<" % nics[1])
    return make_ova(os.path.join(workdir, name + ".ova"), name, text, disks)


def virtualbox_ova(workdir, name, sector, disk_mib=4, vcpus=1, memory_mib=32, firmware="bios",
                   controller="AHCI", nic="E1000"):
    """A VirtualBox-style OVA (OVF 2.0): one streamOptimized disk on a storage controller of
    subtype ``controller`` (SATA ``AHCI``; ``VirtioSCSI``, ``LsiLogicSas``), a NIC of subtype
    ``nic``, manifest last."""
    raw = raw_disk(os.path.join(workdir, name + ".raw"), sector, disk_mib * MIB)
    vmdk = stream_vmdk(raw, os.path.join(workdir, name + "-disk001.vmdk"))
    text = descriptor("virtualbox-ovf2.ovf", NAME=name, VCPUS=vcpus, MEMORY_MIB=memory_mib,
                      DISK1_BYTES=disk_mib * MIB, FIRMWARE_VBOX="EFI" if firmware == "uefi" else "BIOS")
    text = text.replace("<rasd:ResourceSubType>AHCI<", "<rasd:ResourceSubType>%s<" % controller)
    text = text.replace("<epasd:ResourceSubType>E1000<", "<epasd:ResourceSubType>%s<" % nic)
    return make_ova(os.path.join(workdir, name + ".ova"), name, text, [(name + "-disk001.vmdk", vmdk)],
                    style="virtualbox", manifest_last=True)


def raw_sha256(path, fmt):
    """sha256 of an image's raw contents (qemu-img convert to raw, then hashed)."""
    out = path + ".check.raw"
    subprocess.run(["qemu-img", "convert", "-U", "-q", "-f", fmt, "-O", "raw", path, out], check=True)
    try:
        return digest(out)
    finally:
        os.unlink(out)
