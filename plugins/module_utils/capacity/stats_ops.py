# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a group's load: libvirt bulk statistics sampled on every host at once, or Prometheus.

:func:`sample_group` opens one connection per host, takes ``samples`` readings of
``getAllDomainStats`` ``interval`` seconds apart on every host at the same time (one thread per
host, :mod:`hosts.fanout_ops`; each reading :func:`capacity.sampler_ops.read_sample`), and turns
consecutive readings into loads with :mod:`capacity.load` (pure).
:func:`prometheus_group` gives the same shape from a Prometheus that scrapes the group's
libvirt exporters (:mod:`capacity.prometheus`).  Both return :func:`group_answer`'s dict.
"""

from __future__ import annotations

import functools
import time

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import capacity_ops
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import fanout_ops as fanout
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import maintenance_state_ops as maintenance_state
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import load as cl
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import prometheus_ops as prometheus
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import sampler_ops as sampler
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.sampler_ops import STAT_GROUPS
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import storage
from ansible_collections.hotiron.virt.plugins.module_utils.storage import disk_xml

libvirt = lc.libvirt


class HostReading:
    """What one host gave: its size, its maintenance mark, its VMs' policy and the samples."""

    def __init__(self, name, uri):
        self.name = name
        self.uri = uri
        self.error = None
        self.cpus = self.memory_mib = None
        self.in_maintenance = False
        self.samples = []       # capacity.load.Sample, oldest first
        self.policy = {}        # vm name -> {"sla", "pinned", "moved_at", ...} from the metadata
        self.disks = {}         # vm name -> (capacity.storage.Disk, ...) of the running definition
        self.pools = None       # (capacity.storage.Pool, ...) once read (rebalance_ops.read_pools)
        self.machines = None    # machine types its QEMU offers (None: not known)
        self.vm_machines = {}   # vm name -> its machine type
        self.cpu_offers = None  # what its hypervisor offers guest CPUs (None: not known)
        self.vm_cpus = {}       # vm name -> cpu_compat.CpuNeed
        self.pool_error = None
        self.conn = None


def _read(reading, groups, samples, interval, start, with_policy):
    try:
        conn = lc.connect(reading.uri)
        reading.conn = conn
        with lc.attempt("read the size of %s" % reading.uri):
            info = conn.getInfo()
            reading.cpus, reading.memory_mib = info[2], info[1]
        reading.in_maintenance = maintenance_state.in_maintenance(conn)
        flags = sampler.stats_flags(groups)
        for index in range(samples):
            if index:
                # Every host samples on the same beat, so the loads compare.
                time.sleep(max(0.0, start + index * interval - time.monotonic()))
            reading.samples.append(sampler.read_sample(conn, reading.uri, flags))
        if with_policy:
            with lc.attempt("read the machine types of %s" % reading.uri):
                reading.machines = capacity_ops.machine_types(conn.getCapabilities())
            reading.cpu_offers = capacity_ops.host_cpus(conn)
            with lc.attempt("read the vms of %s" % reading.uri):
                for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
                    xml = dom.XMLDesc(0)
                    reading.policy[dom.name()] = dx.read_metadata(dx.parse(xml))
                    reading.disks[dom.name()] = tuple(storage.Disk(d.target, d.kind, d.source, d.readonly)
                                                      for d in disk_xml.disks(xml))
                    reading.vm_machines[dom.name()] = capacity_ops.machine_of(xml)
                    reading.vm_cpus[dom.name()] = capacity_ops.cpu_need(conn, xml)
    except lc.VirtError as err:
        reading.error = err.message


def read_group(hosts, groups=STAT_GROUPS, samples=2, interval=2.0, timeout=30.0, with_policy=False):
    """:class:`HostReading` of every host (name -> URI), read concurrently."""
    readings = {name: HostReading(name, uri) for name, uri in sorted(hosts.items())}
    start = time.monotonic()
    calls = {name: functools.partial(_read, reading, groups, samples, interval, start, with_policy)
             for name, reading in readings.items()}
    _calls, late = fanout.ask_all(calls, start + samples * interval + timeout - time.monotonic(), prefix="sample")
    for name in late:
        readings[name].error = "no answer within %gs" % timeout
    return readings


def loads_of(reading):
    """``(HostLoad, {vm: VmLoad}, [(t, load), ...])`` of a host read with two samples or more:
    the load over the whole span, the VMs over it, and the load between each two samples."""
    first, last = reading.samples[0], reading.samples[-1]
    vms = cl.vm_loads(first, last)
    host = cl.host_load(reading.name, reading.cpus, reading.memory_mib, vms.values(), reading.in_maintenance)
    series = []
    for before, after in zip(reading.samples, reading.samples[1:]):
        step = cl.host_load(reading.name, reading.cpus, reading.memory_mib, cl.vm_loads(before, after).values())
        series.append((after.at, step.load))
    return host, vms, series


def group_answer(hosts, vms, unreachable, series=None, source="libvirt", took_s=None):
    """The module's answer: hosts (with their VMs), the group's summary, what could not be read."""
    out = {"source": source, "hosts": {}, "unreachable": dict(unreachable),
           "group": cl.group_load(list(hosts.values()))}
    for name, host in hosts.items():
        entry = host.as_dict()
        entry["vms"] = {vm: load.as_dict() for vm, load in sorted(vms.get(name, {}).items())}
        if series is not None:
            entry["series"] = [[round(t, 3), round(v, 4)] for t, v in series.get(name, [])]
        out["hosts"][name] = entry
    if took_s is not None:
        out["took_s"] = round(took_s, 3)
    return out


def sample_group(hosts, groups=STAT_GROUPS, samples=2, interval=2.0, timeout=30.0):
    started = time.monotonic()
    readings = read_group(hosts, groups, samples, interval, timeout)
    host_loads, vm_loads, series, unreachable = {}, {}, {}, {}
    for name, reading in readings.items():
        if reading.conn is not None:
            reading.conn.close()
        if reading.error:
            unreachable[name] = reading.error
            continue
        host_loads[name], vm_loads[name], points = loads_of(reading)
        # The load between two samples, stamped with the wall clock (a chart's x axis).
        offset = time.time() - time.monotonic()
        series[name] = [(t + offset, v) for t, v in points]
    return group_answer(host_loads, vm_loads, unreachable, series, "libvirt", time.monotonic() - started)


def prometheus_group(url, window, hosts, timeout=10.0, readings=None):
    """The same answer with the VMs' load from Prometheus (``window``: a PromQL duration such as
    ``2m``) and each host's size and maintenance mark from libvirt (the exporter has neither)."""
    started = time.monotonic()
    if readings is None:
        readings = read_group(hosts, samples=0, timeout=timeout)
    try:
        metrics = prometheus.group_metrics(url, window, list(hosts), timeout=timeout)
    except prometheus.PrometheusError as err:
        raise lc.VirtError(str(err)) from None
    host_loads, vm_loads, unreachable = {}, {}, {}
    for name, host in metrics["hosts"].items():
        reading = readings[name]
        if reading.conn is not None:
            reading.conn.close()
        if reading.error:
            unreachable[name] = reading.error
            continue
        if not host["up"]:
            unreachable[name] = "Prometheus did not scrape its exporter at the last scrape (or libvirt did not answer it)"
            continue
        loads = {}
        for vm, data in host["vms"].items():
            if not data["present"]:
                continue
            cpus = data["cpu_used"]
            loads[vm] = cl.VmLoad(
                name=vm, state="running", vcpus=int(data["vcpus"] or 0),
                memory_mib=(data["memory_bytes"] or 0) / 1048576.0,
                memory_max_mib=(data["memory_max_bytes"] or 0) / 1048576.0, memory_used_mib=None,
                cpu_percent=None if cpus is None else 100.0 * cpus, cpu_cpus=cpus,
                disk_read_bps=data["disk_read_bytes_per_s"], disk_write_bps=data["disk_write_bytes_per_s"],
                net_rx_bps=data["net_rx_bytes_per_s"], net_tx_bps=data["net_tx_bytes_per_s"],
                no_rate=None if cpus is not None else "no rate in Prometheus yet (fewer than two scrapes)")
        host_loads[name] = cl.host_load(name, reading.cpus, reading.memory_mib, loads.values(), reading.in_maintenance)
        vm_loads[name] = loads
    return group_answer(host_loads, vm_loads, unreachable, None, "prometheus", time.monotonic() - started)
