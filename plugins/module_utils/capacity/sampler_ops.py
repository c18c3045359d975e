# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One reading of a host's guests: libvirt's bulk statistics as a :class:`capacity.load.Sample`.

:func:`read_sample` is the one call both readers make: ``group_stats``/``rebalance``
(:mod:`capacity.stats_ops`, every host sampled on one beat) and the ``group_load`` event source
(:class:`Sampler`, one host's connection kept from one reading to the next).  Only the statistics
groups asked for are read (:func:`stats_flags`): CPU alone costs a fifth of every group.
"""

from __future__ import annotations

import time

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import load as cl

libvirt = lc.libvirt

STAT_GROUPS = ("cpu", "memory", "disk", "network")


def stats_flags(groups):
    """libvirt's ``VIR_DOMAIN_STATS_*`` flags for the statistics ``groups`` (state and vCPUs always)."""
    flags = libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_VCPU
    if "cpu" in groups:
        flags |= libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    if "memory" in groups:
        flags |= libvirt.VIR_DOMAIN_STATS_BALLOON
    if "disk" in groups:
        flags |= libvirt.VIR_DOMAIN_STATS_BLOCK
    if "network" in groups:
        flags |= libvirt.VIR_DOMAIN_STATS_INTERFACE
    return flags


def read_sample(conn, uri, flags, clock=time.monotonic):
    """The running guests' statistics now (:class:`capacity.load.Sample`) from ``conn`` (to
    ``uri``, named in the error), or VirtError."""
    with lc.attempt("read the statistics of the vms of %s" % uri):
        at = clock()
        answer = conn.getAllDomainStats(flags, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE)
        stats = {dom.name(): dict(values) for dom, values in answer}
        ids = {dom.name(): dom.ID() for dom, _values in answer}
    return cl.Sample(at, stats, ids)


class Sampler:
    """One host's connection and its last reading, for a source that reads it again and again
    (blocking calls: run it in a thread, :class:`hosts.fanout_ops.InFlight`)."""

    def __init__(self, name, uri, clock=time.monotonic):
        self.name = name
        self.uri = uri
        self.clock = clock
        self.conn = None
        self.size = None
        self.previous = None

    def read(self):
        """The host's load since the previous reading, or None (first reading, or unreachable:
        the connection is opened again next time)."""
        try:
            if self.conn is None:
                self.conn = lc.connect(self.uri)
                with lc.attempt("read the size of %s" % self.uri):
                    info = self.conn.getInfo()
                self.size = (info[2], info[1])
            now = read_sample(self.conn, self.uri, stats_flags(("cpu",)), self.clock)
        except lc.VirtError:
            self.conn, self.previous = None, None
            return None
        before, self.previous = self.previous, now
        if before is None:
            return None
        vms = cl.vm_loads(before, now)
        return cl.host_load(self.name, self.size[0], self.size[1], vms.values()).load
