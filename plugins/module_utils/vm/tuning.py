# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The VM options people tune, as plain data: NUMA, pinning, iothreads, memory backing, host
devices, TPM, virtiofs shares, watchdog, RNG, panic device, lifecycle actions, serial ports and
channels.  Pure: no libvirt, no Ansible.

Their part of ``vm``'s (and so ``vms``') argument spec is :func:`option_specs.tuning_options`, :func:`validate`
checks and normalises them (``None`` = not managed, an empty dict or list = remove),
:func:`check_definition` checks them against the definition they end up in (vCPU count, memory,
host CPUs), :func:`plan` says how a change applies: ``live`` (pinning, the lifecycle actions
libvirt changes on a running guest) or ``restart``.  The XML is :mod:`tuning_xml`'s, the host
look-ups :mod:`tuning_ops`'.
"""

from __future__ import annotations

import re

from ansible_collections.hotiron.virt.plugins.module_utils.vm.values import SpecError, parse_size
from ansible_collections.hotiron.virt.plugins.module_utils.vm.option_specs import (
    NUMATUNE_MODES,
    MEMORY_SOURCES,
    TPM_MODELS,
    TPM_VERSIONS,
    WATCHDOG_MODELS,
    WATCHDOG_ACTIONS,
    PANIC_MODELS,
    RESTART_ACTIONS,
    CRASH_ACTIONS,
    LOCKFAILURE_ACTIONS,
    SERIAL_TYPES,
    CHANNEL_TYPES,
    HOSTDEV_TYPES,
)

# What libvirt changes on a running guest: pinning (virDomainPinVcpuFlags, virDomainPinEmulator)
# and three lifecycle actions (virDomainSetLifecycleAction); the rest needs a restart.
LIVE_FIELDS = ("vcpupin", "emulatorpin", "on_poweroff", "on_reboot", "on_crash")
FIELDS = ("numa_cells", "numatune", "vcpupin", "emulatorpin", "iothreads", "memory_backing", "hostdevs", "tpm",
          "filesystems", "watchdog", "rng", "panic", "on_poweroff", "on_reboot", "on_lockfailure", "serials",
          "channels")

_PCI_RE = re.compile(r"^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")
_USB_ID_RE = re.compile(r"^(?:0x)?([0-9a-fA-F]{4})$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,36}$")
_CHANNEL_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


# --- CPU sets --------------------------------------------------------------------------------

def parse_cpuset(text, param):
    """libvirt's cpuset syntax (``0-3,^2,6``) as a sorted tuple of CPU numbers; SpecError when bad."""
    cpus, excluded = set(), set()
    for part in str(text).replace(" ", "").split(","):
        neg = part.startswith("^")
        match = re.match(r"^(\d+)(?:-(\d+))?$", part[1:] if neg else part)
        if not match:
            raise SpecError(param, "%r is not a CPU set such as 0-3,^2,6" % (text,))
        low, high = int(match.group(1)), int(match.group(2) or match.group(1))
        if high < low or high > 4095:
            raise SpecError(param, "%r: range %s is empty or beyond CPU 4095" % (text, part))
        (excluded if neg else cpus).update(range(low, high + 1))
    result = tuple(sorted(cpus - excluded))
    if not result:
        raise SpecError(param, "%r names no CPU" % (text,))
    return result


def format_cpuset(cpus):
    """The shortest libvirt text of a CPU set (``(0, 1, 2, 5)`` -> ``0-2,5``)."""
    parts, cpus = [], sorted(cpus)
    i = 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[j] + 1:
            j += 1
        parts.append(str(cpus[i]) if i == j else "%d-%d" % (cpus[i], cpus[j]))
        i = j + 1
    return ",".join(parts)


def _cpuset(text, param):
    return format_cpuset(parse_cpuset(text, param))


# --- validation ------------------------------------------------------------------------------

def _given(value):
    """An option dict with at least one value (an empty dict, or all None, removes the element)."""
    return bool(value) and any(v is not None for v in value.values())


def validate(params):
    """The tuning options of module ``params``, checked and normalised (a dict of :data:`FIELDS`).

    ``None`` = not managed; ``{}``/``[]`` (or ``""`` for emulatorpin, ``enabled: false`` for a
    single device) = remove.  Raises
    SpecError naming the option.
    """
    t = dict.fromkeys(FIELDS)
    t["numa_cells"] = _numa_cells(params.get("numa_cells"))
    numatune = params.get("numatune")
    if numatune is not None:
        t["numatune"] = {}
        if _given(numatune):
            if not numatune.get("nodeset"):
                raise SpecError("numatune.nodeset", "required: the host NUMA nodes the memory comes from, such as 0")
            t["numatune"] = {"mode": _choice(numatune.get("mode") or "strict", NUMATUNE_MODES, "numatune.mode"),
                             "nodeset": _cpuset(numatune["nodeset"], "numatune.nodeset")}
    cputune = params.get("cputune") or {}
    if cputune.get("vcpupin") is not None:
        pins = {}
        for i, pin in enumerate(cputune["vcpupin"]):
            vcpu = pin.get("vcpu")
            if isinstance(vcpu, bool) or not isinstance(vcpu, int) or not 0 <= vcpu <= 4095:
                raise SpecError("cputune.vcpupin[%d].vcpu" % i, "expected a vCPU number from 0 to 4095, got %r" % (vcpu,))
            if vcpu in pins:
                raise SpecError("cputune.vcpupin[%d].vcpu" % i, "vCPU %d is pinned twice" % vcpu)
            pins[vcpu] = _cpuset(pin.get("cpuset"), "cputune.vcpupin[%d].cpuset" % i)
        t["vcpupin"] = pins
    if cputune.get("emulatorpin") is not None:
        t["emulatorpin"] = _cpuset(cputune["emulatorpin"], "cputune.emulatorpin") if cputune["emulatorpin"] else ""
    t["iothreads"] = _int_in(params.get("iothreads"), 0, 64, "iothreads")
    t["memory_backing"] = _memory_backing(params.get("memory_backing"))
    t["hostdevs"] = _hostdevs(params.get("hostdevs"))
    t["tpm"] = _device(params.get("tpm"), lambda d: {
        "model": _choice(d.get("model") or "tpm-crb", TPM_MODELS, "tpm.model"),
        "version": _choice(d.get("version") or "2.0", TPM_VERSIONS, "tpm.version")})
    if t["tpm"] and t["tpm"]["version"] == "1.2" and t["tpm"]["model"] == "tpm-crb":
        raise SpecError("tpm.version", "a tpm-crb TPM is version 2.0; use model tpm-tis for 1.2")
    t["filesystems"] = _filesystems(params.get("filesystems"))
    t["watchdog"] = _device(params.get("watchdog"), lambda d: {
        "model": _choice(d.get("model") or "i6300esb", WATCHDOG_MODELS, "watchdog.model"),
        "action": _choice(d.get("action") or "reset", WATCHDOG_ACTIONS, "watchdog.action")})
    t["rng"] = _device(params.get("rng"), _rng)
    t["panic"] = _device(params.get("panic"), lambda d: {"model": _choice(d.get("model") or "isa", PANIC_MODELS,
                                                                          "panic.model")})
    for key, choices in (("on_poweroff", RESTART_ACTIONS), ("on_reboot", RESTART_ACTIONS),
                         ("on_crash", CRASH_ACTIONS), ("on_lockfailure", LOCKFAILURE_ACTIONS)):
        t[key] = _choice(params.get(key), choices, key)
    if params.get("ha") and t["on_crash"] not in (None, "destroy"):
        raise SpecError("on_crash", "an HA vm's crash action is destroy (recover restarts it, within its"
                        " restart_limit); leave on_crash out or set it to destroy")
    t["serials"] = _serials(params.get("serials"))
    if t["serials"] == [] and params.get("console") is not False:
        raise SpecError("serials", "an empty list removes every serial port: set console: false too (the console"
                        " is serial port 0)")
    if t["serials"] and params.get("console") is False:
        raise SpecError("serials", "libvirt gives the first serial port a console: leave console out or set it true")
    t["channels"] = _channels(params.get("channels"))
    if t["filesystems"] and t["memory_backing"] is not None and t["memory_backing"].get("access") != "shared":
        raise SpecError("memory_backing.access", "virtiofs shares (filesystems) need shared memory: set access: shared"
                        " (or leave memory_backing out, and the vm gets shared memfd memory)")
    return t


def is_empty(tuning):
    return tuning is None or all(value is None for value in tuning.values())


def _choice(value, choices, param):
    if value is not None and value not in choices:
        raise SpecError(param, "expected one of %s, got %r" % (", ".join(choices), value))
    return value


def _int_in(value, low, high, param):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SpecError(param, "expected a whole number from %d to %d, got %r" % (low, high, value))
    return value


def _device(value, build):
    """A single device (TPM, watchdog, RNG, panic): ``{}`` is one with the defaults,
    ``enabled: false`` removes it."""
    if value is None:
        return None
    return {} if value.get("enabled") is False else build(value)


def _numa_cells(cells):
    if cells is None:
        return None
    out, seen = [], set()
    for i, cell in enumerate(cells):
        p = "numa_cells[%d]" % i
        if not isinstance(cell, dict) or not cell.get("cpus") or not cell.get("memory"):
            raise SpecError(p, "each cell needs cpus (vCPUs, such as 0-1) and memory")
        cpus = parse_cpuset(cell["cpus"], p + ".cpus")
        if seen & set(cpus):
            raise SpecError(p + ".cpus", "vCPU %s is in two cells" % format_cpuset(sorted(seen & set(cpus))))
        seen.update(cpus)
        memory = parse_size(cell["memory"], p + ".memory")
        if memory < 16 * 1024 * 1024:
            raise SpecError(p + ".memory", "%s is below the 16MiB minimum of a cell" % cell["memory"])
        out.append({"id": i, "cpus": format_cpuset(cpus), "memory_kib": memory // 1024})
    return out


def _memory_backing(mb):
    if mb is None:
        return None
    if not _given(mb):
        return {}
    size = None
    if mb.get("hugepage_size") is not None:
        if not mb.get("hugepages"):
            raise SpecError("memory_backing.hugepage_size", "only used with hugepages: true")
        size = parse_size(mb["hugepage_size"], "memory_backing.hugepage_size") // 1024
        if size < 4 or size & (size - 1):
            raise SpecError("memory_backing.hugepage_size", "%s is not a page size such as 2MiB or 1GiB"
                            % mb["hugepage_size"])
    if mb.get("hugepages") and mb.get("source") == "file":
        raise SpecError("memory_backing.source", "hugepages come from hugetlbfs: leave source out or use memfd")
    return {"hugepages": bool(mb.get("hugepages")), "hugepage_kib": size,
            "source": _choice(mb.get("source"), MEMORY_SOURCES, "memory_backing.source"),
            "access": _choice(mb.get("access"), ("shared", "private"), "memory_backing.access"),
            "locked": bool(mb.get("locked"))}


def parse_pci_address(text, param):
    """``0000:01:00.0`` or ``01:00.0`` as ``(domain, bus, slot, function)``."""
    match = _PCI_RE.match(text or "")
    if not match:
        raise SpecError(param, "%r is not a PCI address such as 0000:01:00.0" % (text,))
    return (int(match.group(1) or "0", 16), int(match.group(2), 16), int(match.group(3), 16), int(match.group(4)))


def _hostdevs(devs):
    if devs is None:
        return None
    out = []
    for i, dev in enumerate(devs):
        p = "hostdevs[%d]" % i
        kind = _choice(dev.get("type"), HOSTDEV_TYPES, p + ".type")
        if kind == "pci":
            if dev.get("vendor") or dev.get("product"):
                raise SpecError(p, "a PCI device is given by its address; vendor and product are for USB")
            entry = {"type": "pci", "address": "%04x:%02x:%02x.%x" % parse_pci_address(dev.get("address"),
                                                                                       p + ".address")}
        elif kind == "usb":
            if dev.get("address"):
                raise SpecError(p + ".address", "a USB device is given by vendor and product")
            ids = {}
            for key in ("vendor", "product"):
                match = _USB_ID_RE.match(dev.get(key) or "")
                if not match:
                    raise SpecError(p + "." + key, "%r is not a USB id such as 0x046d" % (dev.get(key),))
                ids[key] = "0x" + match.group(1).lower()
            entry = dict(ids, type="usb")
        else:
            raise SpecError(p + ".type", "required: pci or usb")
        entry["managed"] = dev.get("managed") is not False
        if any(_hostdev_key(entry) == _hostdev_key(o) for o in out):
            raise SpecError(p, "the same host device is listed twice")
        out.append(entry)
    return out


def _hostdev_key(dev):
    return (dev["type"], dev.get("address"), dev.get("vendor"), dev.get("product"))


def _filesystems(shares):
    if shares is None:
        return None
    out = []
    for i, fs in enumerate(shares):
        p = "filesystems[%d]" % i
        if not str(fs.get("source") or "").startswith("/"):
            raise SpecError(p + ".source", "must be an absolute directory of the host, got %r" % (fs.get("source"),))
        if not _TAG_RE.match(fs.get("target") or ""):
            raise SpecError(p + ".target", "%r is not a mount tag (1-36 letters, digits, '_', '.', ':' or '-')"
                            % (fs.get("target"),))
        out.append({"source": fs["source"].rstrip("/") or "/", "target": fs["target"]})
    tags = [f["target"] for f in out]
    if len(tags) != len(set(tags)):
        raise SpecError("filesystems", "two shares have the same target (mount tag)")
    return out


def _rng(d):
    source = d.get("source") or "/dev/urandom"
    if source not in ("/dev/urandom", "/dev/random", "/dev/hwrng"):
        raise SpecError("rng.source", "expected /dev/urandom, /dev/random or /dev/hwrng, got %r" % (source,))
    if d.get("rate_period") is not None and d.get("rate_bytes") is None:
        raise SpecError("rng.rate_bytes", "required with rate_period")
    return {"source": source, "rate_bytes": d.get("rate_bytes"),
            "rate_period": d.get("rate_period") if d.get("rate_bytes") is not None else None}


def _serials(serials):
    if serials is None:
        return None
    out = []
    for i, ser in enumerate(serials):
        p = "serials[%d]" % i
        kind = _choice(ser.get("type") or "pty", SERIAL_TYPES, p + ".type")
        entry = {"type": kind, "path": None, "host": None, "port": None}
        if kind in ("file", "unix"):
            if not str(ser.get("path") or "").startswith("/"):
                raise SpecError(p + ".path", "a %s serial port needs an absolute path" % kind)
            entry["path"] = ser["path"]
        elif kind == "tcp":
            if not ser.get("port"):
                raise SpecError(p + ".port", "a tcp serial port needs a port to listen on")
            entry["host"], entry["port"] = ser.get("host") or "127.0.0.1", _int_in(ser["port"], 1, 65535, p + ".port")
        for key in ("path", "host", "port"):
            if ser.get(key) is not None and entry[key] is None:
                raise SpecError(p + "." + key, "not used by a %s serial port" % kind)
        out.append(entry)
    return out


def _channels(channels):
    if channels is None:
        return None
    out = []
    for i, ch in enumerate(channels):
        p = "channels[%d]" % i
        if not _CHANNEL_RE.match(ch.get("name") or ""):
            raise SpecError(p + ".name", "%r is not a channel name such as org.qemu.guest_agent.0" % (ch.get("name"),))
        kind = _choice(ch.get("type") or "unix", CHANNEL_TYPES, p + ".type")
        if kind == "spicevmc" and ch["name"] != "com.redhat.spice.0":
            raise SpecError(p + ".name", "a spicevmc channel is com.redhat.spice.0")
        out.append({"name": ch["name"], "type": kind})
    names = [c["name"] for c in out]
    if len(names) != len(set(names)):
        raise SpecError("channels", "two channels have the same name")
    return out


# --- against the definition and the host ----------------------------------------------------

def check_definition(tuning, summary, host_cpus):
    """Check the tuning options against the definition they end up in (``summary``: max vCPUs,
    max memory in KiB, from :func:`tuning_xml.summarise` and ``vm.plan.summarise``) and the
    host's CPU count (``None``: unknown).  Raises SpecError."""
    max_vcpus = summary.get("max_vcpus") or 1
    for vcpu, cpus in sorted((tuning.get("vcpupin") or {}).items()):
        if vcpu >= max_vcpus:
            raise SpecError("cputune.vcpupin", "vCPU %d does not exist: the vm has %d vCPU%s (0-%d)"
                            % (vcpu, max_vcpus, "s" if max_vcpus > 1 else "", max_vcpus - 1))
        _check_host_cpus(cpus, host_cpus, "cputune.vcpupin (vCPU %d)" % vcpu)
    if tuning.get("emulatorpin"):
        _check_host_cpus(tuning["emulatorpin"], host_cpus, "cputune.emulatorpin")
    cells = tuning.get("numa_cells")
    if cells:
        cpus = set()
        for cell in cells:
            cpus.update(parse_cpuset(cell["cpus"], "numa_cells"))
        if max(cpus) >= max_vcpus:
            raise SpecError("numa_cells", "vCPU %d is in a cell but the vm has %d vCPUs (max_vcpus)" % (max(cpus), max_vcpus))
        if len(cpus) != max_vcpus:
            missing = sorted(set(range(max_vcpus)) - cpus)
            raise SpecError("numa_cells", "vCPUs %s are in no cell: every vCPU (up to max_vcpus) belongs to one"
                            % format_cpuset(missing))
        total = sum(c["memory_kib"] for c in cells)
        if summary.get("max_memory") and total != summary["max_memory"]:
            raise SpecError("numa_cells", "the cells' memory adds up to %d MiB, the vm's max_memory is %d MiB:"
                            " make them equal" % (total // 1024, summary["max_memory"] // 1024))


def _check_host_cpus(cpuset, host_cpus, param):
    if host_cpus:
        beyond = [c for c in parse_cpuset(cpuset, param) if c >= host_cpus]
        if beyond:
            raise SpecError(param, "host CPU %s does not exist: the host has %d CPUs (0-%d)"
                            % (format_cpuset(beyond), host_cpus, host_cpus - 1))


def check_hostdevs(hostdevs, iommu, pci_present, usb_present):
    """Refusals for host devices, before anything changes: a device the host lacks, PCI
    passthrough on a host without an IOMMU.  ``iommu``: the host capabilities' ``iommu support``
    (True/False/None unknown); ``pci_present(address)`` and ``usb_present(vendor, product)``
    answer from the host's node devices."""
    for i, dev in enumerate(hostdevs or []):
        p = "hostdevs[%d]" % i
        if dev["type"] == "pci":
            if not pci_present(dev["address"]):
                raise SpecError(p + ".address", "the host has no PCI device %s" % dev["address"])
            if iommu is False:
                raise SpecError(p, "the host has no IOMMU (libvirt capabilities: iommu support='no'), which PCI"
                                " passthrough needs: enable VT-d/AMD-Vi and boot with intel_iommu=on or amd_iommu=on")
        elif not usb_present(dev["vendor"], dev["product"]):
            raise SpecError(p, "the host has no USB device %s:%s" % (dev["vendor"], dev["product"]))


def check_domain_caps(tuning, offered):
    """A TPM or virtiofs share the host's hypervisor cannot give (``offered``: the TPM models,
    TPM backends and filesystem drivers its domain capabilities list; ``None``, for all or for
    one of them: unknown).
    libvirt lists the emulator backend only where it finds swtpm."""
    if offered is None:
        return
    tpm = tuning.get("tpm")
    if tpm and offered["tpm_backends"] is not None:
        if "emulator" not in offered["tpm_backends"]:
            raise SpecError("tpm", "the host cannot emulate a TPM (its domain capabilities offer no emulator"
                            " backend): install swtpm and swtpm-tools there")
        if offered["tpm_models"] and tpm["model"] not in offered["tpm_models"]:
            raise SpecError("tpm.model", "the host offers %s, not %s" % (", ".join(offered["tpm_models"]), tpm["model"]))
    if tuning.get("filesystems") and offered["fs_drivers"] is not None and "virtiofs" not in offered["fs_drivers"]:
        raise SpecError("filesystems", "the host's hypervisor offers no virtiofs (domain capabilities): install"
                        " virtiofsd there")


def check_hugepages(memory_backing, page_sizes_kib):
    """A hugepage size the host does not offer (``page_sizes_kib`` from its capabilities)."""
    size = (memory_backing or {}).get("hugepage_kib")
    if size and page_sizes_kib and size not in page_sizes_kib:
        raise SpecError("memory_backing.hugepage_size", "the host offers pages of %s KiB, not %d KiB"
                        % (", ".join(str(s) for s in sorted(page_sizes_kib)), size))


# --- planning --------------------------------------------------------------------------------

def plan(before, after, running):
    """Changes of the tuning fields between two summaries (:func:`tuning_xml.summarise`), each
    marked ``live`` (:data:`LIVE_FIELDS` on a running guest), ``restart`` or ``config``."""
    changes = []
    for field in FIELDS:  # on_crash is not among them: vm.plan compares it (HA sets it too), live
        old, new = before.get(field), after.get(field)
        if old != new:
            how = ("live" if field in LIVE_FIELDS else "restart") if running else "config"
            changes.append({"field": field, "before": old, "after": new, "apply": how})
    return changes
