# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a host can still take and what a VM asks of it, read from libvirt (allocation-based, as
Nova's scheduler counts; capped by the host's free memory where the driver reports it).  The
placement decisions on these figures are :mod:`placement`'s.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import Guest
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import cpu_xml
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import maintenance_state_ops as maintenance_state
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.placement import HostCapacity, VmDemand

libvirt = lc.libvirt
MIB = 1024 * 1024


def is_active(dom):
    return dom is not None and bool(dom.isActive())


def memory_mib(xml):
    """The VM's memory in MiB, from its definition."""
    return (dx.memory_kib(dx.parse(xml), "memory") or 0) // 1024


def vcpu_count(xml):
    node = dx.parse(xml).find("vcpu")
    return int(node.text) if node is not None else 1


def machine_of(xml):
    """The VM's machine type (``pc-q35-10.0``), "" when its definition names none."""
    node = dx.parse(xml).find("os/type")
    return (node.get("machine") or "") if node is not None else ""


def machine_types(caps_xml):
    """Every machine type the host's QEMU offers (names and their canonical names), from its
    capabilities; ``None`` when it lists none (a driver that does not say: anything goes)."""
    root = dx.parse(caps_xml)
    names = set()
    for node in root.iter("machine"):
        names.update(n for n in ((node.text or "").strip(), node.get("canonical")) if n)
    return frozenset(names) or None


# Answers of a driver or hypervisor that cannot tell (the test driver, a host without KVM asked
# for kvm): the fact is then not known, and nothing is refused on it.
CANNOT_TELL = frozenset(getattr(libvirt, n) for n in ("VIR_ERR_NO_SUPPORT", "VIR_ERR_CONFIG_UNSUPPORTED",
                                                      "VIR_ERR_OPERATION_UNSUPPORTED", "VIR_ERR_INVALID_ARG")
                        if libvirt is not None and hasattr(libvirt, n))


def _or_none(call, *args):
    """``call(*args)``, or None when the driver cannot tell (see CANNOT_TELL)."""
    try:
        return call(*args)
    except libvirt.libvirtError as err:
        if err.get_error_code() in CANNOT_TELL:
            return None
        raise


def domain_types(caps_xml):
    """The domain types (``kvm``, ``qemu``) the host offers x86_64 (or any arch) guests."""
    types = []
    for domain in dx.parse(caps_xml).iter("domain"):
        if domain.get("type") and domain.get("type") not in types:
            types.append(domain.get("type"))
    return types


def host_cpus(conn):
    """What ``conn``'s hypervisor offers guest CPUs, per domain type: ``{type: HostCpu}`` from
    its domain capabilities (models usable, CPU modes), with its ``host-model`` CPU expanded to
    all its features by ``baselineHypervisorCPU``; ``None`` when the driver has no domain
    capabilities (libvirt 9's test driver): then not known, nothing refused on it."""
    where = lc.safe_uri(conn)
    offers = {}
    with lc.attempt("read the CPU models %s offers" % where):
        for virt_type in domain_types(conn.getCapabilities()):
            domcaps = _or_none(conn.getDomainCapabilities, None, "x86_64", None, virt_type, 0)
            if domcaps is None:
                continue
            features = None
            model_xml = cpu_xml.host_model_cpu_xml(domcaps)
            if model_xml is not None:
                expanded = _or_none(conn.baselineHypervisorCPU, None, "x86_64", None, virt_type, [model_xml],
                                    libvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES)
                features = cpu_xml.features_of(expanded) if expanded else None
            offer = cpu_xml.host_cpu(domcaps, features)
            if offer is not None:
                offers[virt_type] = offer
    return offers or None


def host_model_of(conn, virt_type):
    """``(model, features)`` of ``conn``'s ``host-model`` CPU for ``virt_type``, or None."""
    with lc.attempt("read the host CPU of %s" % lc.safe_uri(conn)):
        domcaps = _or_none(conn.getDomainCapabilities, None, "x86_64", None, virt_type or None, 0)
    return cpu_xml.host_model(domcaps) if domcaps else None


def cpu_need(conn, xml, running=True):
    """:class:`cpu_compat.CpuNeed` of a VM of ``conn`` whose (live) definition is ``xml``: a
    running ``host-passthrough`` or ``maximum`` CPU needs what this host's ``host-model`` has;
    a stopped one starts with whatever CPU its next host has (the mode alone is needed)."""
    need = cpu_xml.cpu_need(xml)
    if running and need.mode in ("host-passthrough", "maximum"):
        need = cpu_xml.cpu_need(xml, host_model_of(conn, need.virt_type))
    return need


def demand_of(dom, conn=None):
    """What the VM ``dom`` needs on a destination (its live definition when it runs)."""
    conn = conn or dom.connect()
    xml = Guest(conn, dom).live_xml()
    return VmDemand(dom.name(), memory_mib(xml), vcpu_count(xml), machine=machine_of(xml),
                    cpu=cpu_need(conn, xml, running=is_active(dom)))


def host_capacity(conn, name, cpu_ratio=4.0, reserved_memory_mib=256, in_maintenance=None):
    """What ``conn``'s host can still take, counting allocations of its running VMs.

    Memory is allocation-based (as Nova's scheduler does), capped by the
    host's instantaneous free memory where the driver reports it.
    """
    where = lc.safe_uri(conn)
    with lc.attempt("read the capacity of %s" % where):
        info = conn.getInfo()
        total_mib, cpus = info[1], info[2]
        doms = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
        used_mib = 0
        used_cpus = 0
        names = set()
        for dom in doms:
            dinfo = dom.info()
            used_mib += dinfo[1] // 1024
            used_cpus += dinfo[3]
            names.add(dom.name())
        free_now = conn.getFreeMemory() // MIB
        machines = machine_types(conn.getCapabilities())
    cpu_offers = host_cpus(conn)
    free_mib = total_mib - reserved_memory_mib - used_mib
    if free_now > 0:
        free_mib = min(free_mib, free_now - reserved_memory_mib)
    if in_maintenance is None:
        in_maintenance = maintenance_state.in_maintenance(conn)
    return HostCapacity(
        name=name,
        free_memory_mib=max(free_mib, 0),
        free_vcpus=max(int(cpus * cpu_ratio) - used_cpus, 0),
        in_maintenance=in_maintenance,
        vms=frozenset(names),
        machines=machines,
        cpu_offers=cpu_offers,
    )
