# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a VM spec means, as plain data: validation, limits, spec -> XML, plans.

Nothing here talks to libvirt or Ansible.  :mod:`vm_ops` feeds in the facts
(host capabilities, resolved disk paths, the current definition) and carries
out the plan.

Conventions:
* an option left out (``None``) is not managed: an existing VM keeps what it
  has; a new VM gets the default of its OS profile;
* sizes are bytes internally, KiB in the XML, and accept ``512MiB``, ``2GiB``,
  ``2G`` (binary), ``2GB`` (decimal) or a bare number of MiB.
"""

from __future__ import annotations

import re

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx

KIB = 1024
MIB = 1024 ** 2
GIB = 1024 ** 3

DEFAULT_LIMITS = {"max_vcpus": 8, "max_memory": 96 * GIB}
CREATE_DEFAULTS = {"vcpus": 1, "memory": 512 * MIB}

ARCHES = ("x86_64", "i686")
OS_PROFILES = ("linux", "windows", "other")
CPU_MODES = ("host-passthrough", "host-model", "custom")
DISK_BUSES = ("virtio", "sata", "scsi", "ide", "usb")
DISK_FORMATS = ("raw", "qcow2")
DISK_CACHES = ("default", "none", "writethrough", "writeback", "directsync", "unsafe")
NIC_MODELS = ("virtio", "e1000e", "e1000", "rtl8139")
GRAPHICS = ("none", "vnc", "spice")
HOTPLUG_BUSES = ("virtio", "scsi", "usb")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,62}$")
_VOLUME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,250}$")
_MAC_RE = re.compile(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")
_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")
_BUS_PREFIX = {"virtio": "vd", "sata": "sd", "scsi": "sd", "usb": "sd", "ide": "hd"}


class SpecError(ValueError):
    """Bad input; ``param`` names the option (``disks[1].size``)."""

    def __init__(self, param, message):
        super().__init__("%s: %s" % (param, message))
        self.param = param


# --- sizes ---------------------------------------------------------------------------------

def parse_size(value, param):
    """Bytes from ``512MiB``/``2GiB``/``2G``/``2GB``/a bare number of MiB; > 0."""
    if isinstance(value, bool):
        raise SpecError(param, "expected a size such as 512MiB or 2GiB, got %r" % (value,))
    if isinstance(value, (int, float)):
        number, unit = float(value), "MiB"
    else:
        match = _SIZE_RE.match(str(value))
        if not match:
            raise SpecError(param, "expected a size such as 512MiB or 2GiB, got %r" % (value,))
        number, unit = float(match.group(1)), match.group(2) or "MiB"
    factor = dx._UNIT_FACTORS.get(unit.lower())
    if factor is None:
        raise SpecError(param, "unknown unit %r (use KiB, MiB, GiB or TiB)" % unit)
    size = int(number * factor)
    if size <= 0:
        raise SpecError(param, "must be greater than zero, got %r" % (value,))
    return size


def _positive_int(value, param):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value))
        except ValueError:
            raise SpecError(param, "expected a whole number, got %r" % (value,)) from None
    if value <= 0:
        raise SpecError(param, "must be at least 1, got %r" % (value,))
    return value


def _choice(value, choices, param):
    if value is not None and value not in choices:
        raise SpecError(param, "must be one of %s, got %r" % (", ".join(choices), value))
    return value


# --- validation ----------------------------------------------------------------------------

def validate(params):
    """Check module parameters and return the normalised spec (a dict).

    Raises SpecError naming the parameter.  Argument-spec types are checked
    by Ansible already; this checks meaning (sizes, names, combinations).
    """
    name = params.get("name")
    if not name or not _NAME_RE.match(name):
        raise SpecError("name", "%r is not a usable VM name: 1-63 letters, digits, '.', '_', '+' or '-',"
                        " starting with a letter or digit" % (name,))
    spec = {"name": name}
    spec["vcpus"] = _positive_int(params.get("vcpus"), "vcpus")
    spec["max_vcpus"] = _positive_int(params.get("max_vcpus"), "max_vcpus")
    if spec["vcpus"] and spec["max_vcpus"] and spec["vcpus"] > spec["max_vcpus"]:
        raise SpecError("vcpus", "%d is more than max_vcpus %d" % (spec["vcpus"], spec["max_vcpus"]))
    spec["memory"] = parse_size(params["memory"], "memory") if params.get("memory") is not None else None
    spec["max_memory"] = parse_size(params["max_memory"], "max_memory") if params.get("max_memory") is not None else None
    if spec["memory"] and spec["max_memory"] and spec["memory"] > spec["max_memory"]:
        raise SpecError("memory", "%s is more than max_memory %s" % (params["memory"], params["max_memory"]))
    for key in ("memory", "max_memory"):
        if spec[key] is not None and spec[key] < 16 * MIB:
            raise SpecError(key, "%s is below the 16MiB minimum" % params[key])

    cpu = params.get("cpu")
    if cpu:
        _choice(cpu.get("mode"), CPU_MODES, "cpu.mode")
        if cpu.get("mode") == "custom" and not cpu.get("model"):
            raise SpecError("cpu.model", "required when cpu.mode is custom")
        if cpu.get("model") and cpu.get("mode") not in (None, "custom"):
            raise SpecError("cpu.model", "only used with cpu.mode custom")
        spec["cpu"] = {"mode": cpu.get("mode") or "custom", "model": cpu.get("model")}
    else:
        spec["cpu"] = None
    spec["arch"] = _choice(params.get("arch"), ARCHES, "arch")
    spec["machine"] = params.get("machine")
    spec["firmware"] = _choice(params.get("firmware"), ("bios", "uefi"), "firmware")
    spec["os"] = _choice(params.get("os"), OS_PROFILES, "os")
    spec["virtio"] = params.get("virtio")
    spec["domain_type"] = params.get("domain_type")
    spec["console"] = params.get("console")
    spec["graphics"] = _choice(params.get("graphics"), GRAPHICS, "graphics")
    spec["autostart"] = params.get("autostart")
    spec["description"] = params.get("description")
    spec["disks"] = _validate_disks(params.get("disks"))
    spec["interfaces"] = _validate_interfaces(params.get("interfaces"))
    spec["metadata"] = _validate_metadata(params)
    spec["xml"] = params.get("xml")
    if spec["xml"]:
        try:
            patch = dx.parse(spec["xml"])
        except dx.XMLError as err:
            raise SpecError("xml", str(err)) from None
        if patch.tag != "domain":
            raise SpecError("xml", "the root element must be <domain>, got <%s>" % patch.tag)
        if patch.find("name") is not None or patch.find("uuid") is not None:
            raise SpecError("xml", "must not set <name> or <uuid>; use the name option")
    spec["clone_from"] = params.get("clone_from")
    spec["clone"] = _choice(params.get("clone") or "linked", ("linked", "full"), "clone")
    spec["pool"] = params.get("pool")
    if spec["clone_from"] and spec["disks"] is not None:
        raise SpecError("disks", "cannot be combined with clone_from: the clone's disks come from the template")
    spec["limits"] = _validate_limits(params.get("limits"))
    spec["overcommit"] = bool(params.get("overcommit"))
    if params.get("shutdown_timeout") is not None and params["shutdown_timeout"] < 0:
        raise SpecError("shutdown_timeout", "must be 0 or more seconds, got %r" % params["shutdown_timeout"])
    return spec


def _validate_disks(disks):
    if disks is None:
        return None
    result = []
    for i, disk in enumerate(disks):
        p = "disks[%d]" % i
        if not isinstance(disk, dict):
            raise SpecError(p, "expected a dictionary")
        has_volume = bool(disk.get("pool") or disk.get("volume"))
        if has_volume == bool(disk.get("path")):
            raise SpecError(p, "give either pool and volume, or path")
        if has_volume and not (disk.get("pool") and disk.get("volume")):
            raise SpecError(p + (".volume" if disk.get("pool") else ".pool"), "pool and volume go together")
        if disk.get("volume") and not _VOLUME_RE.match(disk["volume"]):
            raise SpecError(p + ".volume", "%r is not a usable volume name" % disk["volume"])
        if disk.get("path") and not disk["path"].startswith("/"):
            raise SpecError(p + ".path", "must be an absolute path, got %r" % disk["path"])
        out = {
            "pool": disk.get("pool"), "volume": disk.get("volume"), "path": disk.get("path"),
            "size": parse_size(disk["size"], p + ".size") if disk.get("size") is not None else None,
            "format": _choice(disk.get("format"), DISK_FORMATS, p + ".format"),
            "bus": _choice(disk.get("bus"), DISK_BUSES, p + ".bus"),
            "cache": _choice(disk.get("cache"), DISK_CACHES, p + ".cache"),
            "device": _choice(disk.get("device") or "disk", ("disk", "cdrom"), p + ".device"),
            "readonly": bool(disk.get("readonly")),
            "boot_order": _positive_int(disk.get("boot_order"), p + ".boot_order"),
            "target": disk.get("target"),
        }
        if out["device"] == "cdrom":
            out["readonly"] = True
        result.append(out)
    targets = [d["target"] for d in result if d["target"]]
    if len(targets) != len(set(targets)):
        raise SpecError("disks", "two disks have the same target %s" % targets)
    orders = [d["boot_order"] for d in result if d["boot_order"]]
    if len(orders) != len(set(orders)):
        raise SpecError("disks", "two disks have the same boot_order")
    return result


def _validate_interfaces(nics):
    if nics is None:
        return None
    result = []
    for i, nic in enumerate(nics):
        p = "interfaces[%d]" % i
        if not isinstance(nic, dict):
            raise SpecError(p, "expected a dictionary")
        if bool(nic.get("network")) == bool(nic.get("bridge")):
            raise SpecError(p, "give either network or bridge")
        mac = nic.get("mac")
        if mac and not _MAC_RE.match(mac):
            raise SpecError(p + ".mac", "%r is not a MAC address like 52:54:00:12:34:56" % mac)
        result.append({
            "network": nic.get("network"), "bridge": nic.get("bridge"),
            "model": _choice(nic.get("model"), NIC_MODELS, p + ".model"),
            "mac": mac.lower() if mac else None,
        })
    macs = [n["mac"] for n in result if n["mac"]]
    if len(macs) != len(set(macs)):
        raise SpecError("interfaces", "two interfaces have the same mac")
    return result


def _validate_metadata(params):
    meta = {}
    for key in ("owner", "resource_group"):
        if params.get(key) is not None:
            meta[key] = str(params[key])
    if params.get("ha_priority") is not None:
        prio = params["ha_priority"]
        if isinstance(prio, bool) or not isinstance(prio, int) or not 0 <= prio <= 1000:
            raise SpecError("ha_priority", "expected a whole number from 0 to 1000, got %r" % (prio,))
        meta["ha_priority"] = str(prio)
    if params.get("template") is not None:
        meta["template"] = "true" if params["template"] else "false"
    if params.get("tags") is not None:
        meta["tags"] = sorted(set(str(t) for t in params["tags"]))
    if params.get("metadata") is not None:
        meta["extra"] = {str(k): str(v) for k, v in params["metadata"].items()}
    if params.get("os") is not None:
        meta["os"] = params["os"]
    return meta


def _validate_limits(limits):
    result = dict(DEFAULT_LIMITS)
    if limits:
        if limits.get("max_vcpus") is not None:
            result["max_vcpus"] = _positive_int(limits["max_vcpus"], "limits.max_vcpus")
        if limits.get("max_memory") is not None:
            result["max_memory"] = parse_size(limits["max_memory"], "limits.max_memory")
    return result


# --- host facts and limits -----------------------------------------------------------------

def parse_capabilities(caps_xml, node_info=None, accept_any_arch=False):
    """Host facts from ``virConnectGetCapabilities`` (and ``getInfo``).

    Returns ``{"arches": {arch: {"domain_types": [...], "machines": {name: canonical}}},
    "cpus": n, "memory": bytes}``.  ``accept_any_arch`` is for libvirt's test
    driver, which runs x86_64 guests though it lists only i686.
    """
    root = dx.parse(caps_xml)
    arches = {}
    for guest in root.findall("guest"):
        if dx.get_text(guest, "os_type") != "hvm":
            continue
        arch = guest.find("arch")
        entry = arches.setdefault(arch.get("name"), {"domain_types": [], "machines": {}})
        for dom in arch.findall("domain"):
            if dom.get("type") not in entry["domain_types"]:
                entry["domain_types"].append(dom.get("type"))
        for machine in arch.iter("machine"):
            name = (machine.text or "").strip()
            canonical = machine.get("canonical") or name
            entry["machines"][name] = canonical
            entry["machines"].setdefault(canonical, canonical)
    if accept_any_arch and arches:
        template = next(iter(arches.values()))
        for arch in ARCHES:
            arches.setdefault(arch, {"domain_types": list(template["domain_types"]), "machines": {}})
    facts = {"arches": arches, "cpus": None, "memory": None}
    if node_info:
        facts["cpus"] = node_info[2]
        facts["memory"] = node_info[1] * MIB
    return facts


def uefi_available(domcaps_xml):
    """Whether domain capabilities list UEFI firmware (``efi`` or an OVMF loader)."""
    root = dx.parse(domcaps_xml)
    os_node = root.find("os")
    if os_node is None or os_node.get("supported") == "no":
        return False
    firmware = [v.text for v in os_node.findall("enum[@name='firmware']/value")]
    loaders = [v.text or "" for v in os_node.findall("loader/value")]
    return "efi" in firmware or any("OVMF" in path or "edk2" in path for path in loaders)


HYPERV_WANTED = ("relaxed", "vapic", "spinlocks")


def hyperv_supported(domcaps_xml):
    """Hyper-V enlightenments the host's hypervisor offers (domain capabilities), or
    None when it does not say (then all are assumed)."""
    node = dx.parse(domcaps_xml).find("features/hyperv")
    if node is None:
        return None
    if node.get("supported") == "no":
        return []
    return [v.text for v in node.findall("enum[@name='features']/value")]


def windows_enlightenments(supported):
    """(features, hypervclock) for the Windows profile on a host offering ``supported``.

    The Hyper-V clock (``hypervclock``) needs KVM's full Hyper-V support, which
    comes with ``relaxed``; a nested/PVM KVM that offers only a few
    enlightenments refuses to start a guest asking for it.
    """
    if supported is None:
        return list(HYPERV_WANTED), True
    return [f for f in HYPERV_WANTED if f in supported], "relaxed" in supported


def choose_domain_type(types):
    for preferred in ("kvm", "qemu"):
        if preferred in types:
            return preferred
    return types[0] if types else None


def check_host(spec, host, current_arch=None):
    """Resolve arch/domain type/machine against the host; SpecError naming the option.

    Returns ``{"arch", "domain_type", "machine"}`` (machine canonicalised,
    None when not managed).
    """
    arch = spec["arch"] or current_arch or "x86_64"
    entry = host["arches"].get(arch)
    if entry is None:
        raise SpecError("arch", "this host cannot run %s guests (it offers %s)"
                        % (arch, ", ".join(sorted(host["arches"])) or "none"))
    dtype = spec["domain_type"]
    if dtype and dtype not in entry["domain_types"]:
        raise SpecError("domain_type", "this host offers %s for %s, not %s"
                        % (", ".join(entry["domain_types"]), arch, dtype))
    machine = spec["machine"]
    if machine:
        if entry["machines"] and machine not in entry["machines"]:
            raise SpecError("machine", "this host cannot emulate machine %r for %s" % (machine, arch))
        machine = entry["machines"].get(machine, machine)
    return {"arch": arch, "domain_type": dtype or choose_domain_type(entry["domain_types"]), "machine": machine}


def check_limits(spec, host, current=None):
    """Refuse sizes above the per-guest limits or (without overcommit) the host.

    ``current`` is the summary of the existing definition, whose values count
    when the spec leaves them out.
    """
    current = current or {}
    limits = spec["limits"]
    vcpus = max(filter(None, [spec["vcpus"], spec["max_vcpus"]]), default=0)
    memory = max(filter(None, [spec["memory"], spec["max_memory"]]), default=0)
    vparam = "max_vcpus" if spec["max_vcpus"] and spec["max_vcpus"] >= (spec["vcpus"] or 0) else "vcpus"
    mparam = "max_memory" if spec["max_memory"] and spec["max_memory"] >= (spec["memory"] or 0) else "memory"
    if vcpus > limits["max_vcpus"]:
        raise SpecError(vparam, "%d vCPUs is above the per-guest limit of %d (raise limits.max_vcpus)"
                        % (vcpus, limits["max_vcpus"]))
    if memory > limits["max_memory"]:
        raise SpecError(mparam, "%s is above the per-guest limit of %s (raise limits.max_memory)"
                        % (human(memory), human(limits["max_memory"])))
    if spec["overcommit"]:
        return
    if host.get("cpus") and vcpus > host["cpus"]:
        raise SpecError(vparam, "%d vCPUs is more than the %d CPUs of the host (set overcommit to allow it)"
                        % (vcpus, host["cpus"]))
    if host.get("memory") and memory > host["memory"]:
        raise SpecError(mparam, "%s is more than the host's %s of memory (set overcommit to allow it)"
                        % (human(memory), human(host["memory"])))


def human(size):
    for unit, factor in (("TiB", 1024 ** 4), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if size >= factor and size % factor == 0:
            return "%d%s" % (size // factor, unit)
    return "%dB" % size


# --- profiles and device names -------------------------------------------------------------

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
    meta = dx.read_metadata(root)
    meta.update(spec["metadata"])
    if creating and "os" not in meta:
        meta["os"] = os_profile
    if resolved.get("volumes") is not None:
        meta["volumes"] = resolved["volumes"]
    if resolved.get("clone_of"):
        meta["clone_of"] = resolved["clone_of"]
    dx.write_metadata(root, meta)
    if spec["xml"]:
        dx.merge(root, dx.parse(spec["xml"]))
    return root


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


# --- what is managed, and plans -------------------------------------------------------------

def summarise(root):
    """The values the spec manages, read from a definition (live or inactive)."""
    vcpu = root.find("vcpu")
    max_v = int(vcpu.text) if vcpu is not None and vcpu.text else None
    os_type = root.find("os/type")
    cpu = root.find("cpu")
    clock = root.find("clock")
    summary = {
        "type": root.get("type"),
        "name": dx.get_text(root, "name"),
        "description": dx.get_text(root, "description"),
        "memory": dx.memory_kib(root, "currentMemory") or dx.memory_kib(root, "memory"),
        "max_memory": dx.memory_kib(root, "memory"),
        "vcpus": int(vcpu.get("current", max_v)) if max_v else None,
        "max_vcpus": max_v,
        "cpu": {"mode": cpu.get("mode"), "model": dx.get_text(cpu, "model")} if cpu is not None else None,
        "arch": os_type.get("arch") if os_type is not None else None,
        "machine": os_type.get("machine") if os_type is not None else None,
        "firmware": "uefi" if root.find("os") is not None and root.find("os").get("firmware") == "efi" else "bios",
        "hyperv": sorted(c.tag for c in root.findall("features/hyperv/*")),
        "clock": clock.get("offset") if clock is not None else None,
        "disks": {},
        "interfaces": {},
        "console": root.find("devices/console") is not None,
        "graphics": sorted(g.get("type") for g in root.findall("devices/graphics")),
        "metadata": dx.read_metadata(root),
    }
    for node in root.findall("devices/disk"):
        driver = node.find("driver")
        target = node.find("target")
        source = node.find("source")
        boot = node.find("boot")
        summary["disks"][_disk_target(node)] = {
            "device": node.get("device", "disk"),
            "path": (source.get("file") or source.get("dev") or source.get("volume")) if source is not None else None,
            "format": driver.get("type") if driver is not None else None,
            "cache": driver.get("cache") if driver is not None else None,
            "bus": target.get("bus") if target is not None else None,
            "readonly": node.find("readonly") is not None,
            "boot_order": int(boot.get("order")) if boot is not None else None,
        }
    for index, node in enumerate(root.findall("devices/interface")):
        mac = node.find("mac")
        key = mac.get("address").lower() if mac is not None else "new%d" % index
        source = node.find("source")
        model = node.find("model")
        summary["interfaces"][key] = {
            "type": node.get("type"),
            "source": (source.get("network") or source.get("bridge")) if source is not None else None,
            "model": model.get("type") if model is not None else None,
        }
    return summary


def plan(before, after, running, live=None):
    """The changes from summary ``before`` to ``after``, each marked how it applies.

    ``apply`` is ``config`` for a stopped VM; for a running one ``live`` when
    libvirt can change the running guest (balloon within the live maximum,
    vCPUs within the live maximum, hot-plug of disks on a hot-pluggable bus
    and of NICs, metadata and description), ``restart`` otherwise.  ``live``
    is the summary of the running definition (defaults to ``before``).
    """
    live = live or before
    changes = []

    def add(field, old, new, how):
        changes.append({"field": field, "before": old, "after": new,
                        "apply": how if running else "config"})

    for key in ("type", "name", "cpu", "arch", "machine", "firmware", "hyperv", "clock",
                "console", "graphics", "max_memory", "max_vcpus"):
        if before[key] != after[key]:
            add(key, before[key], after[key], "restart")
    if before["memory"] != after["memory"]:
        ok = live["max_memory"] is not None and after["memory"] <= live["max_memory"]
        add("memory", before["memory"], after["memory"], "live" if ok else "restart")
    if before["vcpus"] != after["vcpus"]:
        ok = live["max_vcpus"] is not None and after["vcpus"] <= live["max_vcpus"]
        add("vcpus", before["vcpus"], after["vcpus"], "live" if ok else "restart")
    for key in ("description", "metadata"):
        if before[key] != after[key]:
            add(key, before[key], after[key], "live")
    for kind in ("disks", "interfaces"):
        old, new = before[kind], after[kind]
        for dev in sorted(set(old) | set(new)):
            field = "%s.%s" % (kind, dev)
            if dev in old and dev in new:
                if old[dev] != new[dev]:
                    add(field, old[dev], new[dev], "restart")
                continue
            device = new.get(dev) or old.get(dev)
            hotplug = kind == "interfaces" or (device["bus"] in HOTPLUG_BUSES and device["device"] == "disk")
            add(field, old.get(dev), new.get(dev), "live" if hotplug else "restart")
    return changes


def restart_pending(live, inactive):
    """Fields where the running guest differs from its persistent definition in a
    way only a restart settles.

    Memory and vCPU counts within the live maximum are not counted: the balloon
    target is a request the guest may not follow (no balloon driver), which a
    restart would not change either.  Device differences are counted, since a
    hot-plug that failed leaves the device in the definition only.
    """
    ignore = {"metadata", "description"}
    if inactive["cpu"] and inactive["cpu"]["mode"] == "host-model":
        ignore.add("cpu")  # libvirt expands host-model into a custom model when it starts the guest
    pending = []
    for change in plan(live, inactive, True, live):
        if change["field"] in ignore or (change["field"] in ("memory", "vcpus") and change["apply"] == "live"):
            continue
        pending.append(change["field"])
    return pending
