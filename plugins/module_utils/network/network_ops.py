# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt virtual networks on a connection: plan, then apply."""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.network import network_update as nu
from ansible_collections.hotiron.virt.plugins.module_utils.network import network_xml as nx
from ansible_collections.hotiron.virt.plugins.module_utils.storage.pool_ops import xml_desc

libvirt = lc.libvirt


def network_info(net):
    with lc.attempt("read network %s" % net.name()):
        info = nx.parse_network(xml_desc(net, libvirt.VIR_NETWORK_XML_INACTIVE))
        info.update(active=bool(net.isActive()), persistent=bool(net.isPersistent()), autostart=bool(net.autostart()))
        info["state"] = "active" if info["active"] else "inactive"
    return info


# virNetworkUpdate's sections and commands by the names network_update plans with.  (libvirt
# before 7.2 swapped the two on the wire; the C client of 7.2 and newer, which these bindings
# call, sends them in the order the daemon expects.)
SECTIONS = {
    nu.DHCP_HOST: "VIR_NETWORK_SECTION_IP_DHCP_HOST",
    nu.DHCP_RANGE: "VIR_NETWORK_SECTION_IP_DHCP_RANGE",
    nu.DNS_HOST: "VIR_NETWORK_SECTION_DNS_HOST",
    nu.PORTGROUP: "VIR_NETWORK_SECTION_PORTGROUP",
}
COMMANDS = {
    nu.ADD: "VIR_NETWORK_UPDATE_COMMAND_ADD_LAST",
    nu.DELETE: "VIR_NETWORK_UPDATE_COMMAND_DELETE",
    nu.MODIFY: "VIR_NETWORK_UPDATE_COMMAND_MODIFY",
}


def plan(net, spec, params):
    """``(actions, new_xml, updates, restart_reasons)``.

    A change libvirt can make on the running network (DHCP hosts and ranges, DNS hosts, port
    groups) becomes virNetworkUpdate calls (``update ...`` actions); the rest is a ``define``
    that a running network takes only when restarted (``restart`` with O(restart), else
    ``pending restart``), for the reasons returned."""
    state = params["state"]
    if state == "absent":
        if net is None:
            return [], "", [], []
        return (["stop"] if net.isActive() else []) + (["undefine"] if net.isPersistent() else []), "", [], []
    actions = []
    current_xml = xml_desc(net, libvirt.VIR_NETWORK_XML_INACTIVE) if net is not None else ""
    new_xml, changed = nx.plan_network_xml(current_xml, spec)
    active = bool(net is not None and net.isActive())
    updates, reasons = [], []
    # An earlier run may have left a definition waiting for a restart: say so, and restart for it.
    pending = nu.pending_reasons(net.XMLDesc(0), current_xml) if active and net.isPersistent() else []
    if changed and net is not None:
        planned = nu.plan_updates(current_xml, new_xml)
        updates, reasons = planned["updates"], planned["restart_reasons"]
        if updates and nu.SECTIONS_DRIFT in pending:
            # The running network's DHCP, DNS hosts or port groups differ from its definition:
            # the same update cannot apply to both, so the definition is written whole.
            updates = []
        reasons += [reason for reason in pending if reason not in reasons]
        if reasons and (not active or params.get("restart")):
            # A define (and a restart) carries everything: no update is sent.
            updates = []
    elif pending:
        reasons = pending
        actions.append("restart" if params.get("restart") else "pending restart")
    if changed:
        actions += ["update %s" % u["summary"] for u in updates]
        if net is None or reasons:
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
    return actions, new_xml, updates, reasons


def update_flags(net):
    """Live and persistent on a running defined network, persistent only on a stopped one (a
    running network without definition: live only)."""
    if not net.isActive():
        return libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG
    if not net.isPersistent():
        return libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE
    return libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE | libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG


def apply(conn, net, name, actions, new_xml, updates=()):
    what = "network %s on %s" % (name, lc.safe_uri(conn))
    pending = list(updates)
    for action in actions:
        if action == "pending restart":
            continue
        if action.startswith("update "):
            update = pending.pop(0)
            with lc.attempt("%s of %s" % (action, what)):
                net.update(getattr(libvirt, COMMANDS[update["command"]]), getattr(libvirt, SECTIONS[update["section"]]),
                           update["parent_index"], update["xml"], update_flags(net))
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
        actions, new_xml, updates, reasons = plan(net, spec, params)
    except nx.NetworkSpecError as err:
        raise lc.VirtError(str(err)) from None
    result = {"changed": bool([a for a in actions if a != "pending restart"]), "actions": actions,
              "updates": [{k: u[k] for k in ("section", "command", "parent_index", "xml")} for u in updates],
              "restart_required": "pending restart" in actions,
              "restart_reasons": reasons if ("restart" in actions or "pending restart" in actions) else []}
    if "pending restart" in actions:
        result["warnings"] = [
            "network %s is running with its previous definition until it is restarted (%s; set restart=true to do it now;"
            " guests attached to it lose their link until they are re-attached)" % (name, "; ".join(reasons))
        ]
    if want_diff:
        result["diff"] = {"before": before, "after": new_xml if params["state"] != "absent" else ""}
    if check_mode:
        result["network"] = network_info(net) if net is not None else {}
        return result
    created = net is None
    try:
        net = apply(conn, net, name, actions, new_xml, updates)
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
