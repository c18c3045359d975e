# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A VM spec written into domain XML: profiles, device names, and the definition itself.

:func:`apply` edits a parsed definition in place, touching only what the spec manages, so XML
the collection does not model survives a read-modify-write.  Pure: :mod:`vm_ops` parses and
defines.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils.vm import boot as vm_boot
from ansible_collections.hotiron.virt.plugins.module_utils.vm import policy as vm_policy
from ansible_collections.hotiron.virt.plugins.module_utils.vm import tuning_xml
from ansible_collections.hotiron.virt.plugins.module_utils.vm.host_fit import expand_machine, windows_enlightenments
from ansible_collections.hotiron.virt.plugins.module_utils.vm.values import KIB, MIB, SpecError

CREATE_DEFAULTS = {"vcpus": 1, "memory": 512 * MIB}
_BUS_PREFIX = {"virtio": "vd", "sata": "sd", "scsi": "sd", "usb": "sd", "ide": "hd"}


def profile_defaults(os_profile, virtio):
    """Disk bus and NIC model a profile uses when the spec does not say."""
    if os_profile == "windows" and not virtio:
        return {"bus": "sata", "model": "e1000e"}
    return {"bus": "virtio", "model": "virtio"}


def assign_targets(disks, default_bus):
    """Give every disk a bus and a target dev (vda, vdb, sda, hdc, ...), in order."""
    taken = {d["target"] for d in disks if d["target"]}
    out = []
    for disk in disks:
        disk = dict(disk)
        disk["bus"] = disk["bus"] or ("sata" if disk["device"] == "cdrom" and default_bus == "virtio" else default_bus)
        if not disk["target"]:
            prefix = _BUS_PREFIX[disk["bus"]]
            for letter in "abcdefghijklmnopqrstuvwxyz":
                if prefix + letter not in taken:
                    disk["target"] = prefix + letter
                    break
            else:
                raise SpecError("disks", "too many disks on bus %s" % disk["bus"])
            taken.add(disk["target"])
        out.append(disk)
    return out


def has_boot_source(xml):
    """Whether the domain XML text ``xml`` gives the VM something to boot: a disk, a kernel, a
    boot device (``<os><boot dev='network'/>``) or a device with a boot order."""
    if not xml:
        return False
    root = dx.parse(xml)
    return any(root.find(path) is not None for path in ("devices/disk", "os/kernel", "os/boot", "devices/*/boot"))


# --- spec -> XML ---------------------------------------------------------------------------

def skeleton(name, domain_type):
    root = dx.parse("<domain/>")
    root.set("type", domain_type)
    dx.set_text(root, "name", name)
    return root


def apply(root, spec, resolved, creating):
    """Write ``spec`` into the domain element ``root`` (edited in place).

    ``resolved`` carries what vm_ops looked up: ``arch``, ``domain_type``,
    ``machine`` (from :func:`check_host`), ``disks`` (spec disks with
    ``path``/``format`` filled in and targets assigned) and ``os`` (the
    effective profile).  Parts the spec leaves out are not touched unless
    ``creating``.
    """
    os_profile = resolved["os"]
    if creating or spec["domain_type"]:
        root.set("type", resolved["domain_type"])
    dx.set_text(root, "name", spec["name"])
    if spec["description"] is not None:
        if spec["description"]:
            dx.set_text(root, "description", spec["description"])
        else:
            dx.remove_path(root, "description")
    _apply_memory(root, spec, creating)
    _apply_vcpus(root, spec, creating)
    if spec["cpu"]:
        _apply_cpu(root, spec["cpu"])
    _apply_os(root, spec, resolved, creating)
    if creating or spec["os"]:
        _apply_profile(root, os_profile, resolved.get("hyperv"))
    devices = dx.find_or_create(root, "devices")
    if resolved.get("disks") is not None:
        _apply_disks(root, devices, resolved["disks"], creating)
    if resolved.get("interfaces") is not None:
        _apply_interfaces(devices, resolved["interfaces"])
    console = spec["console"] if spec["console"] is not None else (True if creating else None)
    if console is not None:
        _apply_console(devices, console)
    if spec["graphics"] is not None:
        _apply_graphics(devices, spec["graphics"])
    vm_policy.apply(root, spec["policy_xml"])
    meta = dx.read_metadata(root)
    meta.update(spec["metadata"])
    if creating and "os" not in meta:
        meta["os"] = os_profile
    if resolved.get("volumes") is not None:
        meta["volumes"] = resolved["volumes"]
    if resolved.get("clone_of"):
        meta["clone_of"] = resolved["clone_of"]
    dx.write_metadata(root, meta)
    tuning_xml.apply(root, spec.get("tuning"), resolved.get("host_cpus"))
    vm_boot.apply(root, spec.get("boot"), spec.get("interfaces"))
    if spec["xml"]:
        dx.merge(root, dx.parse(spec["xml"]))
        expand_machine(root, resolved.get("machines"))     # <type machine='pc'> as libvirt stores it
    _address_pvscsi_disks(devices)
    return root


def _address_pvscsi_disks(devices):
    """Each disk on a VMware PVSCSI controller on a SCSI target of its own, LUN 0.

    libvirt puts the second disk of a SCSI controller on target 0, unit 1; QEMU's pvscsi serves
    LUN 0 only ("bad scsi device lun: 1") and the guest would not start.  Only a definition whose
    one SCSI controller is ``vmpvscsi`` is touched, only disks without an address, and the targets
    already taken are kept (a second run changes nothing)."""
    controllers = [c for c in devices.findall("controller") if c.get("type") == "scsi"]
    if len(controllers) != 1 or controllers[0].get("model") != "vmpvscsi":
        return
    index = controllers[0].get("index", "0")
    disks = [d for d in devices.findall("disk")
             if d.find("target") is not None and d.find("target").get("bus") == "scsi"]
    taken = {int(a.get("target", "0")) for a in (d.find("address") for d in disks)
             if a is not None and a.get("type") == "drive" and a.get("target", "0").isdigit()}
    free = (n for n in range(65536) if n not in taken)
    for disk in disks:
        if disk.find("address") is None:
            address = dx.find_or_create(disk, "address")
            for key, value in (("type", "drive"), ("controller", index), ("bus", "0"), ("target", str(next(free))),
                               ("unit", "0")):
                address.set(key, value)


def _apply_memory(root, spec, creating):
    current_max = dx.memory_kib(root, "memory")
    memory = spec["memory"] // KIB if spec["memory"] else None
    if memory is None and creating:
        memory = CREATE_DEFAULTS["memory"] // KIB
    if spec["max_memory"]:
        max_kib = spec["max_memory"] // KIB
    elif memory is not None:
        max_kib = max(memory, current_max or 0)
    else:
        max_kib = None
    if max_kib is not None:
        dx.set_memory_kib(root, "memory", max_kib)
        if memory is None:
            memory = min(dx.memory_kib(root, "currentMemory") or max_kib, max_kib)
    if memory is not None:
        dx.set_memory_kib(root, "currentMemory", memory)


def _apply_vcpus(root, spec, creating):
    node = root.find("vcpu")
    current_max = int(node.text) if node is not None and node.text else None
    current = int(node.get("current", current_max)) if node is not None and current_max else None
    vcpus = spec["vcpus"] or (None if not creating else CREATE_DEFAULTS["vcpus"])
    if spec["max_vcpus"]:
        max_v = spec["max_vcpus"]
    elif vcpus is not None:
        max_v = max(vcpus, current_max or 0)
    else:
        return
    vcpus = vcpus or min(current or max_v, max_v)
    node = dx.set_text(root, "vcpu", max_v)
    dx.set_attrs(node, current=vcpus if vcpus != max_v else None)


def _apply_cpu(root, cpu):
    node = dx.find_or_create(root, "cpu")
    node.set("mode", cpu["mode"])
    if cpu["mode"] == "custom":
        node.set("match", node.get("match", "exact"))
        model = dx.set_text(node, "model", cpu["model"])
        model.set("fallback", model.get("fallback", "allow"))
    else:
        dx.remove_path(node, "model")
        node.attrib.pop("match", None)


def _apply_os(root, spec, resolved, creating):
    os_node = dx.find_or_create(root, "os")
    type_node = os_node.find("type")
    if type_node is None:
        type_node = dx.set_text(os_node, "type", "hvm")
        os_node.remove(type_node)
        os_node.insert(0, type_node)
    if creating or spec["arch"]:
        type_node.set("arch", resolved["arch"])
    if resolved.get("machine"):
        type_node.set("machine", resolved["machine"])
    if spec["firmware"] == "uefi":
        os_node.set("firmware", "efi")
    elif spec["firmware"] == "bios":
        os_node.attrib.pop("firmware", None)
        for tag in ("loader", "nvram"):
            dx.remove_path(os_node, tag)


def _apply_profile(root, os_profile, hyperv_offered=None):
    """OS profile features; ``hyperv_offered`` is what :func:`hyperv_supported` found."""
    features = dx.find_or_create(root, "features")
    for tag in ("acpi", "apic"):
        dx.find_or_create(features, tag)
    clock = dx.find_or_create(root, "clock")
    if os_profile == "windows":
        wanted, hypervclock = windows_enlightenments(hyperv_offered)
        if features.find("hyperv") is None and wanted:
            hyperv = dx.find_or_create(features, "hyperv")
            hyperv.set("mode", "custom")
            for tag in wanted:
                dx.find_or_create(hyperv, tag).set("state", "on")
            if "spinlocks" in wanted:
                hyperv.find("spinlocks").set("retries", "8191")
        if clock.get("offset") != "localtime":
            clock.attrib.clear()
            for child in list(clock):
                clock.remove(child)
            clock.set("offset", "localtime")
            timers = [("rtc", {"tickpolicy": "catchup"}), ("pit", {"tickpolicy": "delay"}), ("hpet", {"present": "no"})]
            if hypervclock:
                timers.append(("hypervclock", {"present": "yes"}))
            for name, attrs in timers:
                timer = dx.parse("<timer/>")
                timer.set("name", name)
                timer.attrib.update(attrs)
                clock.append(timer)
    else:
        dx.remove_path(features, "hyperv")
        if clock.get("offset") != "utc":
            clock.attrib.clear()
            for child in list(clock):
                clock.remove(child)
            clock.set("offset", "utc")


def _disk_target(node):
    target = node.find("target")
    return target.get("dev") if target is not None else None


def _apply_disks(root, devices, disks, creating):
    wanted = {d["target"]: d for d in disks}
    existing = {}
    for node in devices.findall("disk"):
        dev = _disk_target(node)
        if dev not in wanted:
            devices.remove(node)
        else:
            existing[dev] = node
    any_order = any(d["boot_order"] for d in disks)
    for index, disk in enumerate(disks):
        node = existing.get(disk["target"])
        if node is None:
            node = dx.parse("<disk/>")
            devices.insert(_insert_index(devices, "disk"), node)
        boot = disk["boot_order"]
        if boot is None and creating and not any_order and index == 0:
            boot = 1
        _write_disk(node, disk, boot, creating or node not in existing.values())
    if any(node.find("boot") is not None for node in devices.iter("disk")):
        dx.remove_path(root, "os/boot")


def _insert_index(devices, tag):
    children = list(devices)
    same = [i for i, c in enumerate(children) if c.tag == tag]
    return same[-1] + 1 if same else len(children)


def _write_disk(node, disk, boot, new):
    node.set("type", "file")
    node.set("device", disk["device"])
    driver = dx.find_or_create(node, "driver")
    driver.set("name", driver.get("name", "qemu"))
    if disk.get("format"):
        driver.set("type", disk["format"])
    if disk["cache"]:
        driver.set("cache", disk["cache"])
    elif new:
        driver.attrib.pop("cache", None)
    source = dx.find_or_create(node, "source")
    if source.get("file") != disk["path"]:
        source.attrib.clear()
        for child in list(source):
            source.remove(child)
        dx.remove_path(node, "backingStore")
        if disk["path"]:
            source.set("file", disk["path"])
    target = dx.find_or_create(node, "target")
    if target.get("bus") != disk["bus"]:
        dx.remove_path(node, "address")
    target.set("dev", disk["target"])
    target.set("bus", disk["bus"])
    if disk["readonly"]:
        dx.find_or_create(node, "readonly")
    else:
        dx.remove_path(node, "readonly")
    if boot:
        dx.find_or_create(node, "boot").set("order", str(boot))
    elif disk["boot_order"] is None and not new:
        pass  # not managed: keep whatever boot order the disk has
    else:
        dx.remove_path(node, "boot")


def _mac_of(node):
    mac = node.find("mac")
    return mac.get("address", "").lower() if mac is not None else None


def _apply_interfaces(devices, nics):
    """Match spec NICs to existing ones by MAC, else by position; drop the rest."""
    free = list(devices.findall("interface"))
    matched = {}
    for i, nic in enumerate(nics):
        for node in free:
            if nic["mac"] and _mac_of(node) == nic["mac"]:
                matched[i] = node
                free.remove(node)
                break
    for i, nic in enumerate(nics):
        if i not in matched and not nic["mac"] and free:
            matched[i] = free.pop(0)
    for node in free:
        devices.remove(node)
    for i, nic in enumerate(nics):
        node = matched.get(i)
        if node is None:
            node = dx.parse("<interface/>")
            devices.insert(_insert_index(devices, "interface"), node)
        _write_interface(node, nic)


def _write_interface(node, nic):
    kind = "network" if nic["network"] else "bridge"
    source = node.find("source")
    if node.get("type") != kind or source is None or source.get(kind) != (nic["network"] or nic["bridge"]):
        node.set("type", kind)
        if source is not None:
            node.remove(source)
        source = dx.parse("<source/>")
        source.set(kind, nic["network"] or nic["bridge"])
        node.insert(1 if node.find("mac") is not None else 0, source)
    if nic["mac"]:
        mac = node.find("mac")
        if mac is None:
            mac = dx.parse("<mac/>")
            node.insert(0, mac)
        mac.set("address", nic["mac"])
    model = dx.find_or_create(node, "model")
    if model.get("type") != nic["model"]:
        model.set("type", nic["model"])
        dx.remove_path(node, "address")


def _apply_console(devices, wanted):
    has = devices.find("console") is not None
    if wanted and not has:
        if devices.find("serial") is None:
            devices.append(dx.parse("<serial type='pty'><target port='0'/></serial>"))
        devices.append(dx.parse("<console type='pty'><target type='serial' port='0'/></console>"))
    elif not wanted and has:
        for tag in ("console", "serial"):
            for node in devices.findall(tag):
                if node.get("type") == "pty":
                    devices.remove(node)


def _apply_graphics(devices, kind):
    for node in devices.findall("graphics"):
        if node.get("type") != kind:
            devices.remove(node)
    if kind != "none" and devices.find("graphics") is None:
        node = dx.parse("<graphics autoport='yes' listen='127.0.0.1'/>")
        node.set("type", kind)
        devices.append(node)
