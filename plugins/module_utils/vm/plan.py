# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What changes between two definitions of a VM, and how each change applies (pure).

:func:`summarise` reads the values the spec manages from a definition; :func:`plan` compares two
summaries and marks each change ``live`` (libvirt can change the running guest), ``restart`` or
``config`` (the VM is not running); :func:`restart_pending` tells what only a restart settles.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils.vm import tuning as vt
from ansible_collections.hotiron.virt.plugins.module_utils.vm import tuning_xml

HOTPLUG_BUSES = ("virtio", "scsi", "usb")


def _disk_target(node):
    target = node.find("target")
    return target.get("dev") if target is not None else None


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
        "on_crash": dx.get_text(root, "on_crash"),
        "cpu_shares": int(dx.get_text(root, "cputune/shares")) if dx.get_text(root, "cputune/shares") else None,
    }
    summary.update(tuning_xml.summarise(root))  # NUMA, pinning, devices, lifecycle (vm/tuning.py)
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


def tcg_vcpu_change(domain_type, live_vcpus, wanted):
    """Whether ``wanted`` vCPUs would change the vCPU count of a running TCG guest (domain type
    ``qemu``): such a change waits for the restart.  A vCPU plugged into a running TCG guest gets a
    thread that must claim a free region of QEMU's translation cache, and QEMU aborts when none is
    free (``tcg_region_initial_alloc__locked: assertion failed``: 2 of 3 hot-plugs into a booted
    Debian guest with a 4 MiB cache, and once in CI with the lab's 64 MiB); an unplugged vCPU's
    slot is never given back, and the guest takes longer than libvirt's 5 s to release the CPU."""
    return domain_type == "qemu" and live_vcpus is not None and wanted is not None and wanted != live_vcpus


def plan(before, after, running, live=None):
    """The changes from summary ``before`` to ``after``, each marked how it applies.

    ``apply`` is ``config`` for a stopped VM; for a running one ``live`` when
    libvirt can change the running guest (balloon within the live maximum,
    vCPUs within the live maximum on a KVM guest (:func:`tcg_vcpu_change`), hot-plug of disks on a hot-pluggable bus
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
        tcg = tcg_vcpu_change(live.get("type"), live["vcpus"], after["vcpus"])
        add("vcpus", before["vcpus"], after["vcpus"], "live" if ok and not tcg else "restart")
    for key in ("description", "metadata", "on_crash", "cpu_shares"):
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
    changes.extend(vt.plan(before, after, running))
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
        if change["field"] in ("vcpupin", "emulatorpin") and not change["after"]:
            continue  # not pinned in the definition: the running guest's default placement
        if change["field"] in ignore or (change["field"] in ("memory", "vcpus") and change["apply"] == "live"):
            continue
        pending.append(change["field"])
    return pending
