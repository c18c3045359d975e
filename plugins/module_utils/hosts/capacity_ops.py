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


def demand_of(dom):
    xml = dom.XMLDesc(0)
    return VmDemand(dom.name(), memory_mib(xml), vcpu_count(xml), machine=machine_of(xml))


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
    )
