# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hotiron.virt.network_info: read every network of a host (or those the filters pick), with its
DHCP leases and, on request, its XML.  Reads only."""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils import name_filter
from ansible_collections.hotiron.virt.plugins.module_utils.network import network_info as ni
from ansible_collections.hotiron.virt.plugins.module_utils.network import network_update as nu
from ansible_collections.hotiron.virt.plugins.module_utils.network import network_xml as nx
from ansible_collections.hotiron.virt.plugins.module_utils.storage.pool_ops import xml_desc

libvirt = lc.libvirt


def _candidates(conn, name):
    if name:
        net = lc.lookup_network(conn, name)
        return [net] if net is not None else []
    with lc.attempt("list the networks of %s" % lc.safe_uri(conn)):
        return conn.listAllNetworks(0)


def dhcp_leases(net):
    """The network's leases; None where the host's driver cannot tell."""
    try:
        return ni.leases(net.DHCPLeases())
    except libvirt.libvirtError as err:
        if err.get_error_code() in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_OPERATION_UNSUPPORTED):
            return None
        raise lc.wrap_libvirt_error("read the DHCP leases of network %s" % net.name(), err) from err


def describe(net, with_leases=True, with_xml=False, no_leases=None):
    """One network as network_info reports it; None when it went away meanwhile.  The name of a
    running network whose leases the driver cannot tell is added to ``no_leases``."""
    name = net.name()
    try:
        active, persistent, autostart = net.isActive(), net.isPersistent(), net.autostart()
        live_xml = net.XMLDesc(0)
        definition = xml_desc(net, libvirt.VIR_NETWORK_XML_INACTIVE) if persistent else None
    except libvirt.libvirtError as err:
        if lc.is_not_found(err):
            return None
        raise lc.wrap_libvirt_error("read network %s" % name, err) from err
    entry = ni.describe(nx.parse_network(live_xml), active, persistent, autostart)
    entry["restart_reasons"] = nu.pending_reasons(live_xml, definition) if active and definition else []
    entry["restart_required"] = bool(entry["restart_reasons"])
    leases = dhcp_leases(net) if with_leases and active else []
    if leases is None and no_leases is not None:
        no_leases.append(name)
    entry["dhcp_leases"] = leases or []
    if with_xml:
        entry["xml"] = live_xml
        entry["xml_inactive"] = definition
    return entry


def networks_info(conn, name=None, pattern=None, states=None, with_leases=True, with_xml=False):
    """``(networks, warnings)``: the networks passing the filters, sorted by name."""
    found, no_leases = [], []
    for net in _candidates(conn, name):
        with lc.attempt("read network %s" % net.name()):
            state = "active" if net.isActive() else "inactive"
        if not name_filter.selected(net.name(), state, name, pattern, states):
            continue
        entry = describe(net, with_leases, with_xml, no_leases)
        if entry is not None:
            found.append(entry)
    warnings = []
    if no_leases:
        warnings.append("the host's network driver does not report DHCP leases: dhcp_leases left empty for %s" % ", ".join(sorted(no_leases)))
    return sorted(found, key=lambda entry: entry["name"]), warnings


def run_network_info(params):
    """The module's result.  Read-write connection: libvirt answers lease queries only there."""
    with lc.connected(params["uri"]) as conn:
        networks, warnings = networks_info(conn, params["name"], params["pattern"], params["states"],
                                           params["leases"], params["xml"])
    return {"changed": False, "networks": networks, "warnings": warnings}
