# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Everything checked before a migration starts, and all that check mode does: the VM and both
hosts read, the disks classified, the destination's CPU and capacity compared.  Read-only.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.storage import disk_xml
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import capacity_ops
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import maintenance_state_ops as maintenance_state
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.placement import HostCapacity, fits, missing_on
from ansible_collections.hotiron.virt.plugins.module_utils.migration import disks_ops

libvirt = lc.libvirt


def guest_cpu_xml(src, dom):
    """The CPU definition the destination must provide, or ``None`` if the guest uses QEMU's default."""
    cpu = ET.fromstring(dom.XMLDesc(0)).find("cpu")
    if cpu is None or (cpu.get("mode") in (None, "custom") and cpu.find("model") is None):
        return None
    if cpu.get("mode") in ("host-passthrough", "maximum"):
        host_cpu = ET.fromstring(src.getCapabilities()).find("./host/cpu")
        return ET.tostring(host_cpu, encoding="unicode")
    return ET.tostring(cpu, encoding="unicode")


def check_cpu(src, dest, dom):
    """``None`` when the destination can run the guest's CPU, else why not."""
    xml = guest_cpu_xml(src, dom)
    if xml is None:
        return None
    virt_type = ET.fromstring(dom.XMLDesc(0)).get("type")
    try:
        result = dest.compareHypervisorCPU(None, None, None, virt_type, xml, 0)
    except libvirt.libvirtError as err:
        return "the destination cannot run the vm's CPU model: %s" % err.get_error_message()
    if result == libvirt.VIR_CPU_COMPARE_INCOMPATIBLE:
        return "the destination's CPU is incompatible with the vm's CPU model"
    return None


class Preflight:
    """Everything checked before a migration (and all that check mode does)."""

    def __init__(self, src, dest, name, live=True, copy_storage="auto", cpu_ratio=4.0, reserved_memory_mib=256,
                 check_mode=False):
        self.check_mode = check_mode  # read only: no storage probe, no pool refresh
        self.src = src
        self.dest = dest
        self.name = name
        self.live = live
        self.copy_storage = copy_storage
        self.cpu_ratio = cpu_ratio
        self.reserved_memory_mib = reserved_memory_mib
        self.dom = None
        self.disks = []
        self.src_name = None
        self.dest_name = None

    def run(self):
        src_uri, dest_uri = lc.safe_uri(self.src), lc.safe_uri(self.dest)
        with lc.attempt("compare hosts %s and %s" % (src_uri, dest_uri)):
            src_host, dest_host = self.src.getHostname(), self.dest.getHostname()
        self.src_name, self.dest_name = src_host, dest_host
        if src_host == dest_host:
            raise lc.VirtError("Source and destination are the same host (%s): choose another destination" % src_host)
        self.dom = lc.lookup_domain(self.src, self.name)
        if self.dom is None:
            raise lc.VirtError("vm %s does not exist on %s" % (self.name, src_uri))
        running = capacity_ops.is_active(self.dom)
        if self.live and not running:
            raise lc.VirtError("vm %s is not running on %s: a live migration needs a running vm"
                               " (set live=false to move its definition)" % (self.name, src_uri))
        if maintenance_state.in_maintenance(self.dest):
            raise lc.VirtError("The destination %s (%s) is in maintenance" % (dest_host, dest_uri))
        clash = lc.lookup_domain(self.dest, self.name)
        if clash is not None:
            with lc.attempt("compare vm %s on both hosts" % self.name):
                same = clash.UUIDString() == self.dom.UUIDString()
            if not same or capacity_ops.is_active(clash):
                raise lc.VirtError("A different vm named %s already exists on %s" % (self.name, dest_uri))
        # A VM defined on a newer QEMU (machine type pc-q35-10.0) or using a CPU model, mode or
        # feature the destination lacks cannot run there: refused before anything starts, live or
        # not, naming what the destination lacks (the pure decision: placement.missing_on).
        demand = capacity_ops.demand_of(self.dom, self.src)
        if running:
            capacity = capacity_ops.host_capacity(self.dest, dest_host, self.cpu_ratio, self.reserved_memory_mib, in_maintenance=False)
        else:
            with lc.attempt("read the machine types of %s" % dest_uri):
                machines = capacity_ops.machine_types(self.dest.getCapabilities())
            capacity = HostCapacity(dest_host, 0, 0, machines=machines, cpu_offers=capacity_ops.host_cpus(self.dest))
        lacks = missing_on(demand, capacity)
        if lacks:
            raise lc.VirtError("Cannot migrate vm %s to %s: %s" % (self.name, dest_uri, lacks))
        if running:
            why = check_cpu(self.src, self.dest, self.dom)
            if why:
                raise lc.VirtError("Cannot migrate vm %s to %s: %s" % (self.name, dest_uri, why))
            why = fits(demand, capacity)
            if why:
                raise lc.VirtError("Cannot migrate vm %s to %s: %s" % (self.name, dest_uri, why))
        with lc.attempt("read the definition of vm %s" % self.name):
            xml = self.dom.XMLDesc(0)
        self.disks = disks_ops.classify_disks(self.src, self.dest, disk_xml.disks(xml), self.copy_storage, probe=not self.check_mode)
        return self
