# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt virtual networks on a connection: plan, then apply."""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.network import network_xml as nx
from ansible_collections.hotiron.virt.plugins.module_utils.storage.pool_ops import xml_desc

libvirt = lc.libvirt


def network_info(net):
    with lc.attempt("read network %s" % net.name()):
        info = nx.parse_network(xml_desc(net, libvirt.VIR_NETWORK_XML_INACTIVE))
        info.update(active=bool(net.isActive()), persistent=bool(net.isPersistent()), autostart=bool(net.autostart()))
        info["state"] = "active" if info["active"] else "inactive"
    return info


def plan(net, spec, params):
    state = params["state"]
    if state == "absent":
        if net is None:
            return [], ""
        return (["stop"] if net.isActive() else []) + (["undefine"] if net.isPersistent() else []), ""
    actions = []
    current_xml = xml_desc(net, libvirt.VIR_NETWORK_XML_INACTIVE) if net is not None else ""
    new_xml, changed = nx.plan_network_xml(current_xml, spec)
    active = bool(net is not None and net.isActive())
    if changed:
        actions.append("define")
        if active:
            actions.append("restart" if params.get("restart") else "pending restart")
    if state == "active" and not active:
        actions.append("start")
    if state == "inactive" and active:
        actions.append("stop")
    autostart = params.get("autostart")
    if autostart is not None and (net is None or bool(net.autostart()) != autostart):
        actions.append("autostart on" if autostart else "autostart off")
    return actions, new_xml


def apply(conn, net, name, actions, new_xml):
    what = "network %s on %s" % (name, lc.safe_uri(conn))
    for action in actions:
        if action == "pending restart":
            continue
        with lc.attempt("%s %s" % (action, what)):
            if action == "define":
                net = conn.networkDefineXML(new_xml)
            elif action == "start":
                net.create()
            elif action == "stop":
                net.destroy()
            elif action == "restart":
                net.destroy()
                net.create()
            elif action.startswith("autostart"):
                net.setAutostart(1 if action == "autostart on" else 0)
            elif action == "undefine":
                net.undefine()
    return net


def ensure_network(conn, params, check_mode=False, want_diff=False):
    name = params["name"]
    net = lc.lookup_network(conn, name)
    spec = None
    if params["state"] != "absent":
        try:
            spec = nx.validate_network(params, existing=net is not None)
        except nx.NetworkSpecError as err:
            raise lc.VirtError(str(err)) from None
    before = xml_desc(net, libvirt.VIR_NETWORK_XML_INACTIVE) if net is not None else ""
    try:
        actions, new_xml = plan(net, spec, params)
    except nx.NetworkSpecError as err:
        raise lc.VirtError(str(err)) from None
    result = {"changed": bool([a for a in actions if a != "pending restart"]), "actions": actions}
    if "pending restart" in actions:
        result["warnings"] = [
            "network %s is running with its previous definition until it is restarted (set restart=true to do it now;"
            " guests attached to it lose their link until they are re-attached)" % name
        ]
    if want_diff:
        result["diff"] = {"before": before, "after": new_xml if params["state"] != "absent" else ""}
    if check_mode:
        result["network"] = network_info(net) if net is not None else {}
        return result
    created = net is None
    try:
        net = apply(conn, net, name, actions, new_xml)
    except lc.VirtError as err:
        if created:
            # Nothing half-made: a network this run defined but could not start goes again.
            gone = lc.lookup_network(conn, name)
            if gone is not None:
                with lc.attempt("remove network %s again after the failure" % name):
                    gone.undefine()
                err.extend("; the network definition this run made was removed again")
        raise
    result["network"] = network_info(net) if params["state"] != "absent" else {}
    return result
