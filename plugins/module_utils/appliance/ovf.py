# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading OVF descriptors (DMTF DSP0243 1.x and 2.x) into a plain appliance model.

Two dialects matter in practice:

* VMware (OVF 1.x): every device is an ``Item`` of ``rasd:`` elements (CIM
  ResourceAllocationSettingData); SCSI (``lsilogic``, ``VirtualSCSI``, ...) and IDE
  controllers; the firmware in ``<vmw:Config vmw:key="firmware" vmw:value="efi"/>``;
  the guest OS in ``vmw:osType``.
* VirtualBox (OVF 2.0, ``--ovf20``): disks are ``StorageItem`` (``sasd:``) and NICs
  ``EthernetPortItem`` (``epasd:``, namespaces written with a ``.xsd`` suffix), SATA
  (``AHCI``) controllers, ``E1000`` NICs, ``/disk/vmdisk1`` host resources without the
  ``ovf:`` scheme, and the firmware only in ``vbox:Machine`` (``<Firmware type="EFI"/>``).

Elements are matched by local name, so both envelope namespaces (``envelope/1`` and
``envelope/2``) and both spellings of the sasd/epasd namespaces read the same.  The model
(:func:`parse`) says what the descriptor says (what a single value means - units, numbers,
formats, paths, the guest OS - is :mod:`ovf_values`); what the VM becomes on libvirt is
:mod:`plan`'s decision.  Pure Python: no libvirt, no Ansible.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ansible_collections.hotiron.virt.plugins.module_utils.appliance import formats
from ansible_collections.hotiron.virt.plugins.module_utils.appliance.ovf_values import (
    OVFError,
    allocation_units,
    check_href,
    digits,
    format_of_uri,
    os_family,
    whole,
)

ENVELOPE_NS = ("http://schemas.dmtf.org/ovf/envelope/1", "http://schemas.dmtf.org/ovf/envelope/2")
HOTIRON_NS = "https://hotiron.example/virt/1"
MAX_DESCRIPTOR = 16 * 1024 * 1024

# CIM_ResourceAllocationSettingData.ResourceType values the import reads.
RT_PROCESSOR, RT_MEMORY, RT_IDE, RT_SCSI = 3, 4, 5, 6
RT_ETHERNET, RT_OTHER_NETWORK = 10, 11
RT_FLOPPY, RT_CD, RT_DVD, RT_DISK, RT_OTHER_STORAGE = 14, 15, 16, 17, 20
RESOURCE_NAMES = {
    1: "other device", 2: "computer system", 7: "FC HBA", 8: "iSCSI HBA", 9: "InfiniBand HCA",
    12: "I/O slot", 13: "I/O device", 14: "floppy drive", 18: "tape drive", 19: "storage extent",
    21: "serial port", 22: "parallel port", 23: "USB controller", 24: "graphics controller",
    25: "IEEE 1394 controller", 35: "sound card",
}

_HOST_RESOURCE_RE = re.compile(r"^(?:ovf:)?/+(disk|file)/([^/]+)$")
_PROPERTY_RE = re.compile(r"^\$\{([^}]+)\}$")


# --- namespace-agnostic access ---------------------------------------------------------

def local(tag):
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def namespace(tag):
    return tag[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""


def attr(node, name, default=None):
    """The attribute whose local name is ``name`` (``ovf:id``, ``vmw:osType``, ``id``)."""
    for key, value in node.attrib.items():
        if local(key) == name:
            return value
    return default


def kids(node, name):
    return [child for child in node if local(child.tag) == name]


def kid(node, name):
    found = kids(node, name)
    return found[0] if found else None


def kid_text(node, name, default=None):
    child = kid(node, name) if node is not None else None
    if child is None or child.text is None or attr(child, "nil") == "true":
        return default
    return child.text.strip()


# --- the descriptor ----------------------------------------------------------------------

def parse(text, system=None, configuration=None):
    """The appliance model of an OVF descriptor (``str`` or ``bytes``).

    ``system`` picks one VirtualSystem (by ``ovf:id``) out of a VirtualSystemCollection;
    ``configuration`` a DeploymentOptionSection configuration (default: the one marked
    default, else the first).
    """
    if len(text) > MAX_DESCRIPTOR:
        raise OVFError("the descriptor is %d bytes, more than the %d accepted" % (len(text), MAX_DESCRIPTOR))
    raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    seen = formats.identify(raw[:formats.HEAD], raw[-formats.TAIL:])
    if not formats.is_xml(seen):
        raise OVFError("the descriptor is no XML document: it looks like %s" % seen.what)
    try:
        root = ET.fromstring(text)
    except (ET.ParseError, ValueError, LookupError) as err:
        # ValueError/LookupError: an XML declaration naming an encoding expat cannot read
        raise OVFError("the descriptor is not well-formed XML: %s" % err) from None
    if local(root.tag) != "Envelope" or namespace(root.tag) not in ENVELOPE_NS:
        raise OVFError("not an OVF 1.x/2.x descriptor: the root element is <%s> in namespace %r"
                       % (local(root.tag), namespace(root.tag)))
    envelope2 = namespace(root.tag) == ENVELOPE_NS[1]
    properties = _properties(root)
    files = _references(root)
    disks = _disk_section(root, files, properties)
    networks = [attr(n, "name") for section in _iter_local(root, "NetworkSection")
                for n in kids(section, "Network") if attr(n, "name")]
    vsys = _select_system(root, system)
    config = _configuration(root, configuration)
    hardware = kid(vsys, "VirtualHardwareSection")
    if hardware is None:
        raise OVFError("virtual system %r has no VirtualHardwareSection" % attr(vsys, "id"))
    system_type = kid_text(kid(hardware, "System"), "VirtualSystemType", "") or ""
    items = _items(hardware, config)
    model = {
        "ovf_version": attr(root, "version") or ("2.0" if envelope2 else "1.0"),
        "dialect": _dialect(root, system_type, items),
        "system_id": attr(vsys, "id"),
        "system_type": system_type,
        "configuration": config,
        "name": kid_text(vsys, "Name") or attr(vsys, "id"),
        "description": _annotation(vsys),
        "os": _os(vsys),
        "firmware": _firmware(hardware, vsys),
        "networks": networks,
        "files": files,
        "ignored": [],
    }
    model["vcpus"], model["memory"] = _cpu_memory(items)
    controllers = _controllers(items, model["ignored"])
    model["disks"] = _drives(items, controllers, disks, files, model["ignored"])
    model["nics"] = _nics(items)
    for item in items:
        if item["type"] in RESOURCE_NAMES:
            model["ignored"].append("%s %s" % (RESOURCE_NAMES[item["type"]], item["name"] or item["instance"]))
    model["hints"] = _hints(vsys)
    order = {k: v["index"] for k, v in (model["hints"].get("disks") or {}).items() if v["index"]}
    if model["disks"] and all(d["disk_id"] in order for d in model["disks"]):
        model["disks"].sort(key=lambda d: order[d["disk_id"]])   # our own export: the VM's disk order
    return model


def _iter_local(root, name):
    return (node for node in root.iter() if local(node.tag) == name)


def _properties(root):
    """``{key: default value}`` of every ProductSection property (for ``${key}`` capacities)."""
    values = {}
    for prop in _iter_local(root, "Property"):
        if attr(prop, "key"):
            values[attr(prop, "key")] = attr(prop, "value")
    return values


def _references(root):
    files = {}
    refs = kid(root, "References")
    for node in kids(refs, "File") if refs is not None else []:
        file_id = attr(node, "id")
        if not file_id:
            raise OVFError("a File of the References section has no ovf:id")
        what = "file %s" % file_id
        entry = {"id": file_id, "href": check_href(attr(node, "href"), what),
                 "size": whole(attr(node, "size"), what + " size") if attr(node, "size") else None}
        if attr(node, "compression") not in (None, "", "identity"):
            raise OVFError("%s (%s) is %s-compressed: unpack the package with its files uncompressed first"
                           % (what, entry["href"], attr(node, "compression")))
        if attr(node, "chunkSize"):
            raise OVFError("%s (%s) is split into chunks (ovf:chunkSize): join the chunks first"
                           % (what, entry["href"]))
        if file_id in files:
            raise OVFError("two files of the References section have the id %r" % file_id)
        files[file_id] = entry
    return files


def _disk_section(root, files, properties):
    disks = {}
    for section in kids(root, "DiskSection"):
        for node in kids(section, "Disk"):
            disk_id = attr(node, "diskId")
            what = "disk %s" % disk_id
            if not disk_id:
                raise OVFError("a Disk of the DiskSection has no ovf:diskId")
            file_ref = attr(node, "fileRef")
            if file_ref and file_ref not in files:
                raise OVFError("%s refers to file %r, which the References section does not list" % (what, file_ref))
            raw = attr(node, "capacity")
            match = _PROPERTY_RE.match(raw or "")
            if match:
                raw = properties.get(match.group(1))
                if raw is None:
                    raise OVFError("%s: its capacity is property %r, which has no value" % (what, match.group(1)))
            units = allocation_units(attr(node, "capacityAllocationUnits"), what + " capacity")
            populated = attr(node, "populatedSize")
            disks[disk_id] = {
                "capacity": whole(raw, what + " capacity", 1) * units,
                "file_id": file_ref,
                "format_uri": attr(node, "format"),
                "format": format_of_uri(attr(node, "format")),
                "populated_size": whole(populated, what + " populatedSize") if populated else None,
            }
    return disks


def _select_system(root, wanted):
    systems = list(_iter_local(root, "VirtualSystem"))
    if not systems:
        raise OVFError("the descriptor holds no VirtualSystem")
    if wanted:
        for vsys in systems:
            if attr(vsys, "id") == wanted:
                return vsys
        raise OVFError("no virtual system %r in the descriptor (it has %s)"
                       % (wanted, ", ".join(repr(attr(v, "id")) for v in systems)))
    if len(systems) > 1:
        raise OVFError("the descriptor holds %d virtual systems (%s): choose one with system"
                       % (len(systems), ", ".join(repr(attr(v, "id")) for v in systems)))
    return systems[0]


def _configuration(root, wanted):
    section = next(_iter_local(root, "DeploymentOptionSection"), None)
    names = [attr(c, "id") for c in kids(section, "Configuration")] if section is not None else []
    if wanted:
        if wanted not in names:
            raise OVFError("no deployment configuration %r (the descriptor has %s)"
                           % (wanted, ", ".join(names) or "none"))
        return wanted
    for node in kids(section, "Configuration") if section is not None else []:
        if attr(node, "default") in ("true", "1"):
            return attr(node, "id")
    return names[0] if names else None


def _items(hardware, config):
    """Every device item as ``{type, subtype, instance, parent, ...}``, document order kept."""
    items = []
    for node in hardware:
        if local(node.tag) not in ("Item", "StorageItem", "EthernetPortItem"):
            continue
        wanted = attr(node, "configuration")
        if wanted and config and config not in wanted.split():
            continue
        fields = {local(c.tag): (c.text or "").strip() for c in node
                  if attr(c, "nil") != "true" and local(c.tag) != "Config"}
        instance = fields.get("InstanceID") or str(len(items) + 1)
        what = "%s %s" % (local(node.tag), instance)
        if not fields.get("ResourceType"):
            raise OVFError("%s has no ResourceType" % what)
        items.append({
            "element": local(node.tag), "position": len(items),
            "type": whole(fields["ResourceType"], what + " ResourceType"),
            "subtype": fields.get("ResourceSubType") or "",
            "instance": instance, "parent": fields.get("Parent"),
            "name": fields.get("ElementName") or fields.get("Caption"),
            "fields": fields,
        })
    return items


def _dialect(root, system_type, items):
    spaces = {namespace(n.tag) for n in root.iter()} | {namespace(k) for n in root.iter() for k in n.attrib}
    lowered = system_type.lower()
    if lowered.startswith("virtualbox") or "http://www.virtualbox.org/ovf/machine" in spaces \
            or any(i["element"] != "Item" for i in items):
        return "virtualbox"
    if "vmx-" in lowered or "http://www.vmware.com/schema/ovf" in spaces:
        return "vmware"
    return "generic"


def _annotation(vsys):
    section = kid(vsys, "AnnotationSection")
    return kid_text(section, "Annotation") if section is not None else None


def _os(vsys):
    section = kid(vsys, "OperatingSystemSection")
    info = {"cim_id": None, "type": None, "description": None, "family": "other", "bits": None}
    if section is None:
        return info
    raw_id = attr(section, "id")
    info["cim_id"] = int(raw_id) if digits(raw_id) else None
    info["description"] = kid_text(section, "Description")
    info["type"] = attr(section, "osType") or kid_text(section, "OSType")
    info["family"], info["bits"] = os_family(info["cim_id"], info["type"], info["description"])
    return info


def _firmware(hardware, vsys):
    for node in kids(hardware, "Config"):
        if attr(node, "key") == "firmware":
            return "uefi" if (attr(node, "value") or "").lower() == "efi" else "bios"
    machine = kid(vsys, "Machine")
    firmware = next(_iter_local(machine, "Firmware"), None) if machine is not None else None
    if firmware is not None and (attr(firmware, "type") or "").upper().startswith("EFI"):
        return "uefi"
    return "bios"


def _cpu_memory(items):
    vcpus = memory = None
    for item in items:
        fields = item["fields"]
        what = "%s %s" % (item["element"], item["instance"])
        if item["type"] == RT_PROCESSOR:
            vcpus = whole(fields.get("VirtualQuantity"), what + " (vCPUs) VirtualQuantity", 1)
        elif item["type"] == RT_MEMORY:
            quantity = whole(fields.get("VirtualQuantity"), what + " (memory) VirtualQuantity", 1)
            # AllocationUnits is required for memory; tools that leave it out mean MiB.
            units = allocation_units(fields.get("AllocationUnits") or "byte * 2^20", what + " (memory)")
            memory = quantity * units
    return vcpus, memory


_SCSI_MODELS = {"lsilogic": "lsilogic", "lsilogicsas": "lsilogicsas", "virtualscsi": "pvscsi",
                "pvscsi": "pvscsi", "buslogic": "buslogic", "virtio-scsi": "virtio-scsi",
                "virtioscsi": "virtio-scsi"}


def _controllers(items, ignored):
    found = {}
    for item in items:
        subtype = item["subtype"].lower()
        if item["type"] == RT_IDE:
            kind, model = "ide", subtype or "piix4"
        elif item["type"] == RT_SCSI:
            kind, model = "scsi", _SCSI_MODELS.get(subtype, subtype or "lsilogic")
        elif item["type"] == RT_OTHER_STORAGE:
            if "nvme" in subtype:
                kind, model = "nvme", "nvme"
            elif "virtio" in subtype:
                kind, model = "scsi", "virtio-scsi"
            elif "sas" in subtype:
                kind, model = "scsi", "lsilogicsas"
            else:
                kind, model = "sata", "ahci"
        elif item["type"] in (7, 8, 9):
            ignored.append("%s %s" % (RESOURCE_NAMES[item["type"]], item["name"] or item["instance"]))
            continue
        else:
            continue
        address = item["fields"].get("Address")
        found[item["instance"]] = {"instance": item["instance"], "type": kind, "model": model,
                                   "address": int(address) if digits(address) else 0,
                                   "position": item["position"]}
    return found


def _drives(items, controllers, disks, files, ignored):
    drives = []
    for item in items:
        if item["type"] not in (RT_DISK, RT_CD, RT_DVD):
            continue
        what = "%s %s" % (item["element"], item["instance"])
        device = "disk" if item["type"] == RT_DISK else "cdrom"
        controller = controllers.get(item["parent"] or "")
        if controller is None:
            raise OVFError("%s: its Parent %r is not a disk controller of the descriptor" % (what, item["parent"]))
        unit = item["fields"].get("AddressOnParent")
        entry = {"item": item["instance"], "device": device, "controller": dict(controller),
                 "unit": whole(unit, what + " AddressOnParent") if unit else 0,
                 "disk_id": None, "file": None, "capacity": None, "format": None, "format_uri": None,
                 "populated_size": None, "name": item["name"]}
        resource = item["fields"].get("HostResource") or ""
        match = _HOST_RESOURCE_RE.match(resource)
        if resource and not match:
            raise OVFError("%s: host resource %r is neither ovf:/disk/<id> nor ovf:/file/<id>" % (what, resource))
        if match and match.group(1) == "disk":
            disk = disks.get(match.group(2))
            if disk is None:
                raise OVFError("%s refers to disk %r, which the DiskSection does not list" % (what, match.group(2)))
            entry.update(disk_id=match.group(2), capacity=disk["capacity"], format=disk["format"],
                         format_uri=disk["format_uri"], populated_size=disk["populated_size"],
                         file=files[disk["file_id"]] if disk["file_id"] else None)
        elif match:
            if match.group(2) not in files:
                raise OVFError("%s refers to file %r, which the References section does not list" % (what, match.group(2)))
            entry["file"] = files[match.group(2)]
        if device == "cdrom" and entry["file"] is None:
            ignored.append("empty CD/DVD drive %s" % (item["name"] or item["instance"]))
            continue
        drives.append(entry)
    drives.sort(key=lambda d: (d["device"] != "disk", d["controller"]["position"],
                               d["controller"]["address"], d["unit"]))
    return drives


def _nics(items):
    nics = []
    for item in items:
        if item["type"] not in (RT_ETHERNET, RT_OTHER_NETWORK):
            continue
        mac = item["fields"].get("Address") or None
        nics.append({"item": item["instance"], "network": item["fields"].get("Connection") or None,
                     "model": item["subtype"] or None, "name": item["name"],
                     "mac": mac.lower() if mac and re.match(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$", mac) else None})
    return nics


def _hints(vsys):
    """What this collection's own export recorded (``hotiron:Spec``, ovf:required false):
    libvirt buses and NIC models that OVF cannot express, the OS profile and metadata."""
    section = next((n for n in vsys if local(n.tag) == "Spec" and namespace(n.tag) == HOTIRON_NS), None)
    if section is None:
        return {}
    hints = {"os": None, "disks": {}, "nics": {}, "controllers": {}, "metadata": {}}
    for node in section:
        name = local(node.tag)
        if name == "os":
            hints["os"] = (node.text or "").strip() or None
        elif name == "disk" and attr(node, "diskId"):
            index = attr(node, "index")
            hints["disks"][attr(node, "diskId")] = {"bus": attr(node, "bus"), "target": attr(node, "target"),
                                                    "index": int(index) if digits(index) else None}
        elif name == "nic" and attr(node, "item"):
            hints["nics"][attr(node, "item")] = {"model": attr(node, "model")}
        elif name == "controller" and attr(node, "item"):
            hints["controllers"][attr(node, "item")] = {"type": attr(node, "type"), "model": attr(node, "model")}
        elif name == "tag":
            hints["metadata"].setdefault("tags", []).append((node.text or "").strip())
        elif name in ("owner", "resource_group"):
            hints["metadata"][name] = (node.text or "").strip()
    return hints
