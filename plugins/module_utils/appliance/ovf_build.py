# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing an OVF 1.0 descriptor that VMware and VirtualBox both import.

Written the way VMware's ovftool writes one (default namespace OVF envelope 1, ``rasd:``
items with their elements in the schema's alphabetical order, ``vmx-`` hardware family,
streamOptimized VMDK disks, firmware in ``vmw:Config``), with the concessions VirtualBox
needs (every item has a ``Caption``, the SATA controller's caption starts with
``sataController``, the OS section always has an ``ovf:id``).

Devices OVF cannot express (virtio disks and NICs) become what both products have: LSI
Logic SCSI and E1000.  The libvirt originals go into a ``hotiron:Spec`` section marked
``ovf:required="false"``, which other importers skip and :mod:`ovf` reads back, so an
export imported again gives the same VM.  Pure.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from ansible_collections.hotiron.virt.plugins.module_utils import errors
from ansible_collections.hotiron.virt.plugins.module_utils.appliance.ovf import HOTIRON_NS

OVF = "http://schemas.dmtf.org/ovf/envelope/1"
RASD = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
VSSD = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
VMW = "http://www.vmware.com/schema/ovf"
CIM = "http://schemas.dmtf.org/wbem/wscim/1/common"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
PREFIXES = ((OVF, "ovf"), (CIM, "cim"), (RASD, "rasd"), (VMW, "vmw"), (VSSD, "vssd"),
            (XSI, "xsi"), (HOTIRON_NS, "hotiron"))
STREAM_OPTIMIZED = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"
HARDWARE_FAMILY = "vmx-10"

# The CIM RASD schema is a sequence: elements must come in this (alphabetical) order.
RASD_ORDER = ("Address", "AddressOnParent", "AllocationUnits", "AutomaticAllocation", "Caption",
              "Connection", "Description", "ElementName", "HostResource", "InstanceID", "Parent",
              "ResourceSubType", "ResourceType", "VirtualQuantity")
SCSI_SUBTYPES = {"lsilogic": "lsilogic", "lsisas1068": "lsilogicsas", "vmpvscsi": "VirtualSCSI"}
NIC_SUBTYPES = {"e1000": "E1000", "e1000e": "E1000e", "vmxnet3": "VmxNet3", "pcnet": "PCNet32"}
# (CIM OsType, vmw:osType) for each OS profile and word size when the VM's own is unknown.
OS_DEFAULTS = {("linux", 64): (101, "otherLinux64Guest"), ("linux", 32): (36, "otherLinuxGuest"),
               ("windows", 64): (120, "windows9_64Guest"), ("windows", 32): (119, "windows9Guest"),
               ("other", 64): (1, "otherGuest64"), ("other", 32): (1, "otherGuest")}


class BuildError(errors.InputError):
    """The VM has something an OVF descriptor cannot carry."""


class Node:
    """An element: (namespace, local name), attributes ``{(ns, name): value}``, text, children."""

    def __init__(self, ns, name, attrs=None, text=None, children=None):
        self.ns, self.name = ns, name
        self.attrs = attrs or {}
        self.text = text
        self.children = children or []

    def add(self, ns, name, attrs=None, text=None):
        child = Node(ns, name, attrs, text)
        self.children.append(child)
        return child


def _ovf(name, value):
    return {(OVF, name): str(value)}


def _qualified(ns, name, element):
    if ns is None:
        return name
    if ns == OVF and element:
        return name       # the envelope namespace is the default one for elements
    return "%s:%s" % (dict(PREFIXES)[ns], name)


def serialise(root):
    """The document as text: OVF elements unprefixed, every other namespace with its prefix."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>']
    declarations = ' xmlns="%s"' % OVF + "".join(' xmlns:%s="%s"' % (p, u) for u, p in PREFIXES)

    def write(node, depth, extra=""):
        pad = "  " * depth
        attrs = "".join(" %s=%s" % (_qualified(ns, name, False), quoteattr(value))
                        for (ns, name), value in node.attrs.items() if value is not None)
        tag = _qualified(node.ns, node.name, True)
        if not node.children and node.text is None:
            lines.append("%s<%s%s%s/>" % (pad, tag, extra, attrs))
        elif not node.children:
            lines.append("%s<%s%s%s>%s</%s>" % (pad, tag, extra, attrs, escape(node.text), tag))
        else:
            lines.append("%s<%s%s%s>" % (pad, tag, extra, attrs))
            for child in node.children:
                write(child, depth + 1)
            lines.append("%s</%s>" % (pad, tag))

    write(root, 0, declarations)
    return "\n".join(lines) + "\n"


def _item(section, fields, element="Item", ns=RASD):
    item = section.add(OVF, element)
    for key in sorted(fields, key=RASD_ORDER.index):
        if fields[key] is not None:
            item.add(ns, key, text=str(fields[key]))
    return item


def os_identity(spec):
    """(CIM OsType, vmw:osType) for the VM: its recorded ones, else a default of its profile."""
    os_info = spec.get("os") or {}
    profile = os_info.get("profile") if os_info.get("profile") in ("linux", "windows") else "other"
    default = OS_DEFAULTS[(profile, 32 if os_info.get("bits") == 32 else 64)]
    return os_info.get("cim_id") or default[0], os_info.get("type") or default[1]


def controller_plan(disks, scsi_model):
    """Controllers the disks need and each disk's (controller key, unit).

    virtio and SCSI disks share one SCSI controller (units 0-6, 8-15; 7 is the HBA's own);
    SATA disks one AHCI controller; IDE disks keep their channel and unit from hda..hdd.
    """
    controllers, placed = {}, []      # dicts keep insertion order: first use first
    scsi_units = [u for u in range(16) if u != 7]
    sata_next = 0
    for disk in disks:
        bus = disk["bus"]
        if bus == "ide":
            index = "abcd".index(disk["target"][-1]) if disk["target"][-1] in "abcd" else 0
            key = ("ide", index // 2)
            controllers[key] = {"type": 5, "subtype": "PIIX4", "address": index // 2,
                                "caption": "ideController%d" % (index // 2), "name": "IDE %d" % (index // 2)}
            placed.append((key, index % 2))
        elif bus == "sata":
            key = ("sata", 0)
            controllers[key] = {"type": 20, "subtype": "vmware.sata.ahci", "address": 0,
                                "caption": "sataController0", "name": "SATA controller 0"}
            placed.append((key, sata_next))
            sata_next += 1
        else:
            key = ("scsi", 0)
            controllers[key] = {"type": 6, "subtype": SCSI_SUBTYPES.get(scsi_model or "", "lsilogic"),
                                "address": 0, "caption": "scsiController0", "name": "SCSI controller 0"}
            if not scsi_units:
                raise BuildError("more than 15 disks on the SCSI controller (virtio and SCSI disks share it in"
                                 " the OVF): an OVF controller holds units 0-6 and 8-15")
            placed.append((key, scsi_units.pop(0)))
    return controllers, placed


def build(spec):
    """The OVF 1.0 descriptor text of an export ``spec`` (see export_ops.export_spec)."""
    root = Node(OVF, "Envelope", {(OVF, "version"): "1.0", (VMW, "buildId"): "hotiron.virt"})
    refs = root.add(OVF, "References")
    disk_section = root.add(OVF, "DiskSection")
    disk_section.add(OVF, "Info", text="Virtual disk information")
    for number, disk in enumerate(spec["disks"], 1):
        refs.add(OVF, "File", {(OVF, "href"): disk["file"], (OVF, "id"): "file%d" % number,
                               (OVF, "size"): str(disk["file_size"])})
        attrs = {(OVF, "capacity"): str(disk["capacity"]), (OVF, "diskId"): disk["id"],
                 (OVF, "fileRef"): "file%d" % number, (OVF, "format"): STREAM_OPTIMIZED}
        if disk.get("populated_size") is not None:
            attrs[(OVF, "populatedSize")] = str(disk["populated_size"])
        disk_section.add(OVF, "Disk", attrs)
    networks = []
    for nic in spec["nics"]:
        if nic["network"] not in networks:
            networks.append(nic["network"])
    if networks:
        net_section = root.add(OVF, "NetworkSection")
        net_section.add(OVF, "Info", text="The list of logical networks")
        for name in networks:
            net_section.add(OVF, "Network", _ovf("name", name)).add(OVF, "Description", text="The %s network" % name)
    vsys = root.add(OVF, "VirtualSystem", _ovf("id", spec["name"]))
    vsys.add(OVF, "Info", text="A virtual machine")
    vsys.add(OVF, "Name", text=spec["name"])
    if spec.get("description"):
        annotation = vsys.add(OVF, "AnnotationSection")
        annotation.add(OVF, "Info", text="A human-readable annotation")
        annotation.add(OVF, "Annotation", text=spec["description"])
    cim_id, os_type = os_identity(spec)
    os_section = vsys.add(OVF, "OperatingSystemSection", {(OVF, "id"): str(cim_id), (VMW, "osType"): os_type})
    os_section.add(OVF, "Info", text="The kind of installed guest operating system")
    _hardware(vsys, spec)
    _hints(vsys, spec)
    return serialise(root)


def _hardware(vsys, spec):
    hardware = vsys.add(OVF, "VirtualHardwareSection")
    hardware.add(OVF, "Info", text="Virtual hardware requirements")
    system = hardware.add(OVF, "System")
    for key, value in (("ElementName", "Virtual Hardware Family"), ("InstanceID", "0"),
                       ("VirtualSystemIdentifier", spec["name"]), ("VirtualSystemType", HARDWARE_FAMILY)):
        system.add(VSSD, key, text=value)
    instance = iter(range(1, 10000))
    vcpus = spec["vcpus"]
    _item(hardware, {"AllocationUnits": "hertz * 10^6", "Caption": "%d virtual CPU(s)" % vcpus,
                     "Description": "Number of Virtual CPUs", "ElementName": "%d virtual CPU(s)" % vcpus,
                     "InstanceID": next(instance), "ResourceType": 3, "VirtualQuantity": vcpus})
    mib = -(-spec["memory"] // (1024 * 1024))
    _item(hardware, {"AllocationUnits": "byte * 2^20", "Caption": "%dMB of memory" % mib,
                     "Description": "Memory Size", "ElementName": "%dMB of memory" % mib,
                     "InstanceID": next(instance), "ResourceType": 4, "VirtualQuantity": mib})
    controllers, placed = controller_plan(spec["disks"], spec.get("scsi_model"))
    ids = {}
    spec["controllers"] = []
    for key in controllers:         # in the order the disks first use them: the boot disk's first
        ctrl = controllers[key]
        ids[key] = next(instance)
        if key[0] == "scsi" and spec.get("scsi_model"):
            spec["controllers"].append({"item": ids[key], "type": "scsi", "model": spec["scsi_model"]})
        _item(hardware, {"Address": ctrl["address"], "Caption": ctrl["caption"], "Description": ctrl["name"],
                         "ElementName": ctrl["name"], "InstanceID": ids[key],
                         "ResourceSubType": ctrl["subtype"], "ResourceType": ctrl["type"]})
    for number, (disk, (key, unit)) in enumerate(zip(spec["disks"], placed), 1):
        disk["item"] = next(instance)
        _item(hardware, {"AddressOnParent": unit, "Caption": "disk%d" % number, "Description": "Hard disk",
                         "ElementName": "Hard disk %d" % number, "HostResource": "ovf:/disk/%s" % disk["id"],
                         "InstanceID": disk["item"], "Parent": ids[key], "ResourceType": 17})
    for number, nic in enumerate(spec["nics"], 1):
        nic["item"] = next(instance)
        _item(hardware, {"AutomaticAllocation": "true", "Caption": "Ethernet adapter on '%s'" % nic["network"],
                         "Connection": nic["network"], "ElementName": "Network adapter %d" % number,
                         "InstanceID": nic["item"], "ResourceSubType": NIC_SUBTYPES.get(nic["model"], "E1000"),
                         "ResourceType": 10})
    if spec["firmware"] == "uefi":
        hardware.add(VMW, "Config", {(OVF, "required"): "false", (VMW, "key"): "firmware", (VMW, "value"): "efi"})


def _hints(vsys, spec):
    section = vsys.add(HOTIRON_NS, "Spec", {(OVF, "required"): "false"})
    section.add(OVF, "Info", text="hotiron.virt: the libvirt devices and metadata of this VM")
    if (spec.get("os") or {}).get("profile"):
        section.add(HOTIRON_NS, "os", text=spec["os"]["profile"])
    for index, disk in enumerate(spec["disks"], 1):
        section.add(HOTIRON_NS, "disk", {(None, "diskId"): disk["id"], (None, "bus"): disk["bus"],
                                         (None, "target"): disk["target"], (None, "index"): str(index)})
    for ctrl in spec.get("controllers") or []:       # the libvirt model, which OVF may not name
        section.add(HOTIRON_NS, "controller", {(None, "item"): str(ctrl["item"]), (None, "type"): ctrl["type"],
                                               (None, "model"): ctrl["model"]})
    for nic in spec["nics"]:
        section.add(HOTIRON_NS, "nic", {(None, "item"): str(nic["item"]), (None, "model"): nic["model"]})
    meta = spec.get("metadata") or {}
    for tag in meta.get("tags") or []:
        section.add(HOTIRON_NS, "tag", text=tag)
    for key in ("owner", "resource_group"):
        if meta.get(key):
            section.add(HOTIRON_NS, key, text=meta[key])
