# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a host offers VMs, and whether a VM spec fits it: pure decisions on host facts.

:func:`parse_capabilities` reads libvirt's capabilities; :func:`check_host` resolves a spec's
arch, domain type and machine against them, :func:`check_limits` refuses sizes above the
per-guest limits or the host.  :mod:`vm_ops` reads the facts, nothing here talks to libvirt.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils.vm.values import MIB, SpecError, human

ARCHES = ("x86_64", "i686")


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


def expand_machine(root, machines, param="xml"):
    """Write the machine type of the definition ``root`` as libvirt stores it: an alias (V(pc),
    V(q35)) becomes the versioned machine it stands for on this host (``machines`` is
    :func:`parse_capabilities`' map for the VM's arch), so a definition that names an alias
    compares equal to the one libvirt stored.  SpecError naming ``param`` for a machine the host
    cannot emulate; nothing is checked where the host lists no machines (the test driver)."""
    node = root.find("os/type")
    machine = node.get("machine") if node is not None else None
    if not machine or not machines:
        return root
    if machine not in machines:
        raise SpecError(param, "this host cannot emulate machine %r for %s" % (machine, node.get("arch") or "this arch"))
    node.set("machine", machines[machine])
    return root


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
