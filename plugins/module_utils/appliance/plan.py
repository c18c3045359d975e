# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an imported appliance becomes on libvirt: the VM (as ``hotiron.virt.vm`` options)
and the volumes to fill, decided from the appliance model and the module's options.

Without a guest conversion (virt-v2v), the guest keeps the drivers it has: disks stay on
the bus of their controller (IDE, SCSI with its model, SATA) and NICs keep their model
where QEMU has it, so the OS finds its boot disk and network as before.  Where libvirt
or this collection's VM spec has no equivalent, the nearest supported device is chosen
and said in ``notes``.  Options given to the module override the descriptor.  Pure.
"""

from __future__ import annotations

import re

from ansible_collections.hotiron.virt.plugins.module_utils import errors
from ansible_collections.hotiron.virt.plugins.module_utils.vm import spec as vs

BUS_OF = {"ide": "ide", "scsi": "scsi", "sata": "sata", "virtio": "virtio", "nvme": "sata"}
# OVF SCSI controller model -> libvirt <controller type='scsi' model=...>.  QEMU has no
# BusLogic; LSI Logic is what guests that had one usually also drive.
SCSI_MODELS = {"lsilogic": "lsilogic", "lsilogicsas": "lsisas1068", "pvscsi": "vmpvscsi",
               "buslogic": "lsilogic", "virtio-scsi": "virtio-scsi"}
# libvirt SCSI controller models an export's hints may name (the model OVF cannot say).
LIBVIRT_SCSI_MODELS = ("lsilogic", "lsisas1068", "lsisas1078", "vmpvscsi", "virtio-scsi",
                       "virtio-transitional", "virtio-non-transitional", "auto")
# OVF NIC ResourceSubType (lower case) -> the QEMU/libvirt model it stands for.
NIC_MODELS = {"e1000": "e1000", "e1000e": "e1000e", "vmxnet3": "vmxnet3", "vmxnet2": "vmxnet3",
              "vmxnet": "vmxnet3", "pcnet32": "pcnet", "pcnet": "pcnet", "am79c970a": "pcnet",
              "am79c973": "pcnet", "virtio": "virtio", "virtio-net": "virtio", "rtl8139": "rtl8139"}
FALLBACK_NIC = "e1000"


class PlanError(errors.InputError):
    """The appliance cannot become a VM with these options; ``param`` names the option."""

    def __init__(self, param, message):
        super().__init__("%s: %s" % (param, message) if param else message)
        self.param = param


def image_model(name, fmt):
    """The appliance model of a single disk image: one disk, nothing else known."""
    return {"ovf_version": None, "dialect": "image", "name": None, "description": None,
            "os": {"cim_id": None, "type": None, "description": None, "family": "other", "bits": None},
            "firmware": "bios", "vcpus": None, "memory": None, "networks": [], "nics": [], "ignored": [],
            "hints": {}, "files": {}, "configuration": None, "system_id": None,
            "disks": [{"item": None, "device": "disk", "unit": 0, "disk_id": None, "capacity": None,
                       "format": fmt, "format_uri": None, "populated_size": None, "name": name,
                       "controller": {"instance": None, "type": "virtio", "model": None, "address": 0, "position": 0},
                       "file": {"id": None, "href": name, "size": None}}]}


def vm_name(model, options):
    """The VM's name: the option, else the appliance's made fit for libvirt and the VM spec
    (``My App 1.0`` -> ``My-App-1.0``)."""
    if options.get("name"):
        return options["name"]
    name = re.sub(r"[^A-Za-z0-9_.+-]+", "-", model.get("name") or "").strip("-._+")[:63]
    if not name:
        raise PlanError("name", "the appliance names no VM%s: give a name"
                        % (" usable as a VM name (%r)" % model["name"] if model.get("name") else ""))
    return name


def plan(model, sources, options):
    """``{"vm": params for vm_ops.ensure, "volumes": [...], "notes": [...]}``.

    ``sources``: one dict per model disk (``format``, ``virtual_size``, ``spec``, ``label``),
    None for a blank disk.  ``options``: the module's parameters (sizes already in bytes).
    """
    notes = list("ignored: %s" % what for what in model["ignored"])
    name = vm_name(model, options)
    if not options.get("name") and name != model.get("name"):
        notes.append("the appliance's name %r is not a VM name: %s used" % (model["name"], name))
    hints = model.get("hints") or {}
    os_profile = options.get("os") or hints.get("os") or model["os"]["family"]
    memory = options.get("memory") or model["memory"]
    if not memory:
        raise PlanError("memory", "the appliance gives no memory size: set memory")
    vcpus = options.get("vcpus") or model["vcpus"] or 1
    disks, volumes, scsi_models = _disks(model, sources, options, name, notes)
    params = {
        "name": name, "state": "present", "vcpus": vcpus, "memory": "%dKiB" % (memory // 1024),
        "firmware": options.get("firmware") or model["firmware"], "os": os_profile,
        "disks": disks, "interfaces": _interfaces(model, options, notes),
        "description": options.get("description") if options.get("description") is not None else model.get("description"),
        "graphics": options.get("graphics"), "overcommit": bool(options.get("overcommit")),
        "xml": _controller_patch(scsi_models, notes),
        "metadata": dict(options.get("metadata") or {}),
    }
    meta = dict(hints.get("metadata") or {})
    for key in ("tags", "owner", "resource_group"):
        if options.get(key) is not None:
            meta[key] = options[key]
    params.update(meta)
    if model["os"]["type"]:
        params["metadata"].setdefault("ovf_os_type", model["os"]["type"])
    if model["os"]["cim_id"] is not None:
        params["metadata"].setdefault("ovf_os_id", str(model["os"]["cim_id"]))
    return {"vm": params, "volumes": volumes, "notes": notes}


def _disks(model, sources, options, name, notes):
    disks, volumes, scsi_models = [], [], []
    taken = set()
    bus_override = options.get("disk_bus")
    for index, (disk, source) in enumerate(zip(model["disks"], sources), 1):
        hint = (model.get("hints") or {}).get("disks", {}).get(disk["disk_id"] or "", {})
        controller = disk["controller"]
        bus = bus_override or hint.get("bus") or BUS_OF[controller["type"]]
        if controller["type"] == "nvme" and not (bus_override or hint.get("bus")):
            notes.append("disk %d was on an NVMe controller: attached to SATA (libvirt 9.0 has no NVMe disk bus)" % index)
        if bus not in vs.DISK_BUSES:
            raise PlanError("disk_bus", "%r is not a disk bus of this collection (%s)" % (bus, ", ".join(vs.DISK_BUSES)))
        if bus == "scsi" and controller["type"] == "scsi":
            # The controller keeps its model whoever chose the bus (an export's hint, disk_bus):
            # a guest with only PVSCSI drivers finds its boot disk on PVSCSI again.
            scsi_models.append(_scsi_model(controller, model, notes))
        target = hint.get("target") if not bus_override else None
        if target is None and bus == "ide":
            target = _ide_target(controller["address"], disk["unit"], taken)
        if target:
            taken.add(target)
        cdrom = disk["device"] == "cdrom"
        fmt = "raw" if cdrom else (options.get("disk_format") or "qcow2")
        volume = "%s-%s%d.%s" % (name, "cdrom" if cdrom else "disk", index, "iso" if cdrom else fmt)
        capacity = max(disk["capacity"] or 0, source["virtual_size"] if source else 0)
        if not capacity:
            raise PlanError(None, "disk %d of the appliance has neither a file nor a capacity" % index)
        volumes.append({"pool": options["pool"], "name": volume, "format": fmt, "capacity": capacity,
                        "device": disk["device"], "source": source})
        disks.append({"pool": options["pool"], "volume": volume, "size": "%dB" % capacity, "format": fmt,
                      "bus": bus, "target": target, "device": disk["device"], "readonly": cdrom,
                      "cache": None, "boot_order": None, "path": None})
    return disks, volumes, scsi_models


def _scsi_model(controller, model, notes):
    """The libvirt model of an OVF SCSI controller: the one this collection's export recorded
    (a model OVF cannot say, such as virtio-scsi), else the descriptor's, else LSI Logic."""
    hinted = ((model.get("hints") or {}).get("controllers") or {}).get(controller["instance"] or "", {})
    if hinted.get("model") in LIBVIRT_SCSI_MODELS:
        return hinted["model"]
    if controller["model"] not in SCSI_MODELS:
        note = "SCSI controller model %r is unknown: LSI Logic used" % controller["model"]
    elif controller["model"] == "buslogic":
        note = "QEMU has no BusLogic SCSI controller: LSI Logic used"
    else:
        return SCSI_MODELS[controller["model"]]
    if note not in notes:
        notes.append(note)
    return "lsilogic"


def _ide_target(address, unit, taken):
    """hda..hdd for IDE controller ``address`` (0/1) and unit (0/1), as the BIOS numbers them;
    the next free letter when that one is taken or out of range."""
    index = 2 * address + unit
    if 0 <= index < 4 and "hd" + "abcd"[index] not in taken:
        return "hd" + "abcd"[index]
    for letter in "abcd":
        if "hd" + letter not in taken:
            return "hd" + letter
    raise PlanError(None, "more than four IDE drives")


def _controller_patch(models, notes):
    if not models:
        return None
    if len(set(models)) > 1:
        notes.append("SCSI controllers of several models (%s): all disks on one %s controller"
                     % (", ".join(sorted(set(models))), models[0]))
    return ("<domain><devices><controller type='scsi' index='0' model='%s'/></devices></domain>" % models[0])


def _interfaces(model, options, notes):
    if options.get("interfaces") is not None:
        return [dict(nic) for nic in options["interfaces"]]
    network_map = options.get("network_map") or {}
    default = options.get("default_network")
    wanted_model = options.get("nic_model")
    hints = (model.get("hints") or {}).get("nics", {})
    out, unmapped = [], []
    for index, nic in enumerate(model["nics"], 1):
        source = nic["network"] or ""
        if source in network_map:
            network = network_map[source]
        elif default:
            network = default
        else:
            unmapped.append(source or "(NIC %d has none)" % index)
            continue
        if not network:
            notes.append("NIC %d (network %r) left out: network_map maps it to nothing" % (index, source))
            continue
        nic_model = wanted_model or (hints.get(nic["item"] or "", {}).get("model"))
        if nic_model not in vs.NIC_MODELS:
            nic_model = None        # a hint this VM spec cannot declare: the descriptor's model decides
        if not nic_model:
            subtype = (nic["model"] or "").lower()
            nic_model = NIC_MODELS.get(subtype)
            if nic_model is None:
                notes.append("NIC %d has model %r, which is unknown: %s used" % (index, nic["model"], FALLBACK_NIC))
                nic_model = FALLBACK_NIC
            elif nic_model not in vs.NIC_MODELS:
                notes.append("NIC %d is %s, which this collection's VM spec cannot declare yet: %s used"
                             % (index, nic_model, FALLBACK_NIC))
                nic_model = FALLBACK_NIC
        out.append({"network": network, "bridge": None, "model": nic_model,
                    "mac": nic["mac"] if options.get("keep_macs") else None})
    if unmapped:
        raise PlanError("network_map", "the appliance's network%s %s %s not mapped to a libvirt network"
                        " (map each, to null to leave its NIC out, or set default_network)"
                        % ("s" if len(unmapped) > 1 else "", ", ".join(repr(u) for u in unmapped),
                           "are" if len(unmapped) > 1 else "is"))
    return out
