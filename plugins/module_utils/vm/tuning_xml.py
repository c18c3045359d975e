# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tuning options (:mod:`tuning`) in domain XML: read (:func:`summarise`) and written
(:func:`apply`).  Pure.

Every field is read back in the form :func:`tuning.validate` gives it, and :func:`apply` rewrites
an element only when what it reads differs from what is wanted: XML the spec does not manage
(addresses libvirt assigned, a console's pty path, CPU shares beside the pinning) is kept, and a
second run finds nothing to change.  An absent element reads as empty (``{}``, ``[]``, ``""``,
``0``), which is also how the options say "remove it".
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils.vm import tuning as vt
from ansible_collections.hotiron.virt.plugins.module_utils.vm.option_specs import LIFECYCLE

LIFECYCLE_DEFAULTS = {"on_poweroff": "destroy", "on_reboot": "restart", "on_crash": "destroy", "on_lockfailure": None}


def _cpuset_or_raw(text):
    try:
        return vt.format_cpuset(vt.parse_cpuset(text, "xml"))
    except vt.SpecError:
        return text


def _int(text, default=None):
    try:
        return int(text, 0)
    except (TypeError, ValueError):
        return default


def summarise(root):
    """The tuning fields of a definition (live or inactive), as :func:`tuning.validate` writes them."""
    s = {}
    s["numa_cells"] = [{"id": _int(c.get("id"), i), "cpus": _cpuset_or_raw(c.get("cpus")),
                        "memory_kib": dx.to_bytes(c.get("memory"), c.get("unit")) // 1024}
                       for i, c in enumerate(root.findall("cpu/numa/cell"))]
    mem = root.find("numatune/memory")
    s["numatune"] = {"mode": mem.get("mode", "strict"), "nodeset": _cpuset_or_raw(mem.get("nodeset"))} if mem is not None else {}
    s["vcpupin"] = {_int(p.get("vcpu")): _cpuset_or_raw(p.get("cpuset")) for p in root.findall("cputune/vcpupin")}
    pin = root.find("cputune/emulatorpin")
    s["emulatorpin"] = _cpuset_or_raw(pin.get("cpuset")) if pin is not None else ""
    s["iothreads"] = _int(dx.get_text(root, "iothreads"), 0)
    s["memory_backing"] = _read_memory_backing(root.find("memoryBacking"))
    s["hostdevs"] = [_read_hostdev(h) for h in root.findall("devices/hostdev") if h.get("type") in vt.HOSTDEV_TYPES]
    tpm = root.find("devices/tpm")
    s["tpm"] = ({"model": tpm.get("model", "tpm-tis"), "version": tpm.find("backend").get("version")
                 if tpm.find("backend") is not None else None} if tpm is not None else {})
    s["filesystems"] = [{"source": fs.find("source").get("dir") if fs.find("source") is not None else None,
                         "target": fs.find("target").get("dir") if fs.find("target") is not None else None}
                        for fs in _virtiofs(root)]
    wd = root.find("devices/watchdog")
    s["watchdog"] = {"model": wd.get("model"), "action": wd.get("action", "reset")} if wd is not None else {}
    s["rng"] = _read_rng(root.find("devices/rng"))
    panic = root.find("devices/panic")
    s["panic"] = {"model": panic.get("model", "isa")} if panic is not None else {}
    for key in ("on_poweroff", "on_reboot", "on_lockfailure"):
        s[key] = dx.get_text(root, key) or LIFECYCLE_DEFAULTS[key]
    s["serials"] = [_read_serial(n) for n in root.findall("devices/serial")]
    s["channels"] = [{"name": n.find("target").get("name"), "type": n.get("type")}
                     for n in root.findall("devices/channel") if _virtio_channel(n)]
    return s


def _read_memory_backing(node):
    if node is None or not len(node):
        return {}
    page = node.find("hugepages/page")
    source = node.find("source")
    access = node.find("access")
    return {"hugepages": node.find("hugepages") is not None,
            "hugepage_kib": dx.to_bytes(page.get("size"), page.get("unit")) // 1024 if page is not None else None,
            "source": source.get("type") if source is not None else None,
            "access": access.get("mode") if access is not None else None,
            "locked": node.find("locked") is not None}


def _read_hostdev(node):
    managed = node.get("managed", "no") == "yes"
    if node.get("type") == "pci":
        a = node.find("source/address")
        addr = tuple(_int(a.get(k), 0) for k in ("domain", "bus", "slot", "function")) if a is not None else (0, 0, 0, 0)
        return {"type": "pci", "address": "%04x:%02x:%02x.%x" % addr, "managed": managed}
    vendor, product = node.find("source/vendor"), node.find("source/product")
    return {"type": "usb", "vendor": vendor.get("id") if vendor is not None else None,
            "product": product.get("id") if product is not None else None, "managed": managed}


def _virtiofs(root):
    return [fs for fs in root.findall("devices/filesystem")
            if fs.find("driver") is not None and fs.find("driver").get("type") == "virtiofs"]


def _read_rng(node):
    if node is None:
        return {}
    rate = node.find("rate")
    return {"source": dx.get_text(node, "backend") or "/dev/urandom",
            "rate_bytes": _int(rate.get("bytes")) if rate is not None else None,
            "rate_period": _int(rate.get("period")) if rate is not None else None}


def _read_serial(node):
    kind = node.get("type")
    source = node.find("source")
    entry = {"type": kind, "path": None, "host": None, "port": None}
    if source is not None and kind in ("file", "unix"):
        entry["path"] = source.get("path")
    elif source is not None and kind == "tcp":
        entry["host"], entry["port"] = source.get("host"), _int(source.get("service"))
    return entry


def _virtio_channel(node):
    target = node.find("target")
    return target is not None and target.get("type") == "virtio"


# --- writing ---------------------------------------------------------------------------------

def offered(caps):
    """What a host's domain capabilities (parsed) offer the tuning options: TPM models and
    backends, filesystem drivers.  A device the capabilities leave out says nothing (libvirt
    11's test driver lists no devices at all): ``None``, unlike ``<tpm supported='no'/>``,
    which says the host has none (``[]``)."""
    def listed(device, enum):
        element = caps.find("devices/" + device)
        if element is None:
            return None
        if element.get("supported", "yes") != "yes":
            return []
        return [v.text for v in caps.findall("devices/%s/enum[@name='%s']/value" % (device, enum))]

    return {"tpm_models": listed("tpm", "model"), "tpm_backends": listed("tpm", "backendModel"),
            "fs_drivers": listed("filesystem", "driverType")}


def apply(root, tuning, host_cpus=None):
    """Write the tuning options into domain element ``root`` (in place) and check them against
    the definition they end up in (:func:`tuning.check_definition`; SpecError)."""
    if vt.is_empty(tuning):
        return root
    have = summarise(root)
    writers = {
        "numa_cells": _write_numa, "numatune": _write_numatune, "vcpupin": _write_vcpupin,
        "emulatorpin": _write_emulatorpin, "iothreads": _write_iothreads, "memory_backing": _write_memory_backing,
        "hostdevs": _write_hostdevs, "tpm": _write_tpm, "filesystems": _write_filesystems,
        "watchdog": _write_watchdog, "rng": _write_rng, "panic": _write_panic, "serials": _write_serials,
        "channels": _write_channels,
    }
    for field, write in writers.items():
        if tuning.get(field) is not None and tuning[field] != have[field]:
            write(root, tuning[field])
    for key in LIFECYCLE:
        if tuning.get(key) is not None and dx.get_text(root, key) != tuning[key]:
            _set_lifecycle(root, key, tuning[key])
    if tuning.get("filesystems") and tuning.get("memory_backing") is None:
        _ensure_shared_memory(root)
    vcpu = root.find("vcpu")
    summary = {"max_vcpus": int(vcpu.text) if vcpu is not None and (vcpu.text or "").strip().isdigit() else 1,
               "max_memory": dx.memory_kib(root, "memory")}
    vt.check_definition(tuning, summary, host_cpus)
    return root


def _element(tag, **attrs):
    node = dx.parse("<%s/>" % tag)
    for key, value in attrs.items():
        if value is not None:
            node.set(key, str(value))
    return node


def _sub(parent, tag, **attrs):
    node = _element(tag, **attrs)
    parent.append(node)
    return node


def _prune(root, path):
    """Remove the element at ``path`` when it has neither children nor attributes left."""
    node = root.find(path)
    if node is not None and not len(node) and not node.attrib and not (node.text or "").strip():
        parent = root.find(path.rsplit("/", 1)[0]) if "/" in path else root
        parent.remove(node)


def _write_numa(root, cells):
    cpu = dx.find_or_create(root, "cpu")
    dx.remove_path(cpu, "numa")
    if cells:
        numa = _sub(cpu, "numa")
        for cell in cells:
            _sub(numa, "cell", id=cell["id"], cpus=cell["cpus"], memory=cell["memory_kib"], unit="KiB")
    _prune(root, "cpu")


def _write_numatune(root, value):
    dx.remove_path(root, "numatune")
    if value:
        _sub(_sub(root, "numatune"), "memory", mode=value["mode"], nodeset=value["nodeset"])


def _write_vcpupin(root, pins):
    cputune = dx.find_or_create(root, "cputune")
    dx.remove_path(cputune, "vcpupin")
    for vcpu, cpus in sorted(pins.items()):
        cputune.append(_element("vcpupin", vcpu=vcpu, cpuset=cpus))
    _prune(root, "cputune")


def _write_emulatorpin(root, cpus):
    cputune = dx.find_or_create(root, "cputune")
    dx.remove_path(cputune, "emulatorpin")
    if cpus:
        cputune.append(_element("emulatorpin", cpuset=cpus))
    _prune(root, "cputune")


def _write_iothreads(root, count):
    dx.remove_path(root, "iothreads")
    if count:
        dx.set_text(root, "iothreads", count)


def _write_memory_backing(root, mb):
    dx.remove_path(root, "memoryBacking")
    if not mb:
        return
    node = _sub(root, "memoryBacking")
    if mb["hugepages"]:
        pages = _sub(node, "hugepages")
        if mb["hugepage_kib"]:
            _sub(pages, "page", size=mb["hugepage_kib"], unit="KiB")
    if mb["locked"]:
        _sub(node, "locked")
    if mb["source"]:
        _sub(node, "source", type=mb["source"])
    if mb["access"]:
        _sub(node, "access", mode=mb["access"])


def _ensure_shared_memory(root):
    """virtiofs needs the guest's memory shared with virtiofsd: memfd, shared (unless set)."""
    node = dx.find_or_create(root, "memoryBacking")
    if node.find("source") is None and node.find("hugepages") is None:
        node.append(_element("source", type="memfd"))
    dx.find_or_create(node, "access").set("mode", "shared")


def _devices(root):
    return dx.find_or_create(root, "devices")


def _replace_devices(root, old, new):
    devices = _devices(root)
    for node in old:
        devices.remove(node)
    for node in new:
        devices.append(node)


def _write_hostdevs(root, devs):
    new = []
    for dev in devs:
        node = _element("hostdev", mode="subsystem", type=dev["type"], managed="yes" if dev["managed"] else "no")
        source = _sub(node, "source")
        if dev["type"] == "pci":
            d, b, s, f = vt.parse_pci_address(dev["address"], "hostdevs")
            _sub(source, "address", domain="0x%04x" % d, bus="0x%02x" % b, slot="0x%02x" % s, function="0x%x" % f)
        else:
            _sub(source, "vendor", id=dev["vendor"])
            _sub(source, "product", id=dev["product"])
        new.append(node)
    old = [h for h in _devices(root).findall("hostdev") if h.get("type") in vt.HOSTDEV_TYPES]
    _replace_devices(root, old, new)


def _write_tpm(root, tpm):
    new = []
    if tpm:
        node = _element("tpm", model=tpm["model"])
        _sub(node, "backend", type="emulator", version=tpm["version"])
        new.append(node)
    _replace_devices(root, _devices(root).findall("tpm"), new)


def _write_filesystems(root, shares):
    new = []
    for fs in shares:
        node = _element("filesystem", type="mount", accessmode="passthrough")
        _sub(node, "driver", type="virtiofs")
        _sub(node, "source", dir=fs["source"])
        _sub(node, "target", dir=fs["target"])
        new.append(node)
    _replace_devices(root, _virtiofs(root), new)


def _write_watchdog(root, wd):
    new = [_element("watchdog", model=wd["model"], action=wd["action"])] if wd else []
    _replace_devices(root, _devices(root).findall("watchdog"), new)


def _write_rng(root, rng):
    new = []
    if rng:
        node = _element("rng", model="virtio")
        if rng["rate_bytes"]:
            _sub(node, "rate", bytes=rng["rate_bytes"], period=rng["rate_period"])
        _sub(node, "backend", model="random").text = rng["source"]
        new.append(node)
    _replace_devices(root, _devices(root).findall("rng"), new)


def _write_panic(root, panic):
    new = [_element("panic", model=panic["model"])] if panic else []
    _replace_devices(root, _devices(root).findall("panic"), new)


def _set_lifecycle(root, key, value):
    node = root.find(key)
    if node is None:
        node = _element(key)
        devices = root.find("devices")
        children = list(root)
        root.insert(children.index(devices) if devices is not None else len(children), node)
    node.text = value


def _write_serials(root, serials):
    new = []
    for port, ser in enumerate(serials):
        node = _element("serial", type=ser["type"])
        if ser["type"] in ("file", "unix"):
            _sub(node, "source", mode="bind" if ser["type"] == "unix" else None, path=ser["path"])
        elif ser["type"] == "tcp":
            _sub(node, "source", mode="bind", host=ser["host"], service=ser["port"])
            _sub(node, "protocol", type="telnet")
        _sub(node, "target", port=port)
        new.append(node)
    _replace_devices(root, _devices(root).findall("serial"), new)
    # A console on the first serial port is that port: libvirt writes it with the port's type
    # and source, so the definition is written the same way (a second run then finds it equal).
    for console in _devices(root).findall("console"):
        target = console.find("target")
        if target is not None and target.get("type", "serial") == "serial" and new:
            console.attrib.clear()
            console.set("type", new[0].get("type"))
            for child in list(console):
                if child.tag != "target":
                    console.remove(child)
            for child in reversed([c for c in new[0] if c.tag in ("source", "protocol")]):
                console.insert(0, dx.clone(child))


def _write_channels(root, channels):
    new = []
    for ch in channels:
        node = _element("channel", type=ch["type"])
        if ch["type"] == "unix":
            _sub(node, "source", mode="bind")
        _sub(node, "target", type="virtio", name=ch["name"])
        new.append(node)
    _replace_devices(root, [n for n in _devices(root).findall("channel") if _virtio_channel(n)], new)
