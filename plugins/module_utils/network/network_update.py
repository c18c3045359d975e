# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which parts of a network definition change live, as virNetworkUpdate calls.

Pure Python: no libvirt, no AnsibleModule. :func:`plan_updates` compares a network's current
definition with the wanted one and returns the updates that carry the DHCP hosts and ranges, the
DNS hosts and the port groups over without a restart, and the reasons a restart is still needed
for the rest (bridge, forward mode, addresses, MTU, ...).

The updates follow libvirt's own matching rules (``src/conf/network_conf.c``), which
:func:`apply_update` reproduces so the plans can be checked without a host:

- a DHCP host is added only if no host shares its MAC, name or address, modified in place by the
  first host sharing any of them, deleted by the host matching every attribute given;
- a DHCP range is added or deleted by its start and end;
- a DNS host matches another by its address or by any of its names; it is added only when
  nothing matches, deleted only when exactly one does, never modified;
- a port group matches by name; at most one is the default.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

from ansible_collections.hotiron.virt.plugins.module_utils.network.network_xml import UNORDERED, _netmask_as_prefix, same
from ansible_collections.hotiron.virt.plugins.module_utils.xml_tools import canonical, canonical_tree

DHCP_HOST = "ip-dhcp-host"
DHCP_RANGE = "ip-dhcp-range"
DNS_HOST = "dns-host"
PORTGROUP = "portgroup"
SECTIONS = (DHCP_HOST, DHCP_RANGE, DNS_HOST, PORTGROUP)
ADD, DELETE, MODIFY = "add-last", "delete", "modify"

# What a difference in each top-level element means, for a restart reason.
WHAT = {
    "forward": "the forward mode or device changes",
    "bridge": "the bridge changes",
    "mac": "the bridge's MAC address changes",
    "mtu": "the MTU changes",
    "domain": "the DNS domain changes",
    "ip": "the addresses change",
    "dns": "DNS settings other than hosts change",
    "name": "the name changes",
    "uuid": "the UUID changes",
}


SECTIONS_DRIFT = "the running network's DHCP hosts or ranges, DNS hosts or port groups differ from its definition"


class UpdateConflict(Exception):
    """An update libvirt would refuse (the same rule libvirt applies)."""


def _text(elem):
    return canonical(elem)


def _strip(root):
    """``root`` without what updates carry (empty ``<dhcp>``/``<dns>`` dropped too)."""
    tree = canonical_tree(root)
    _netmask_as_prefix(tree)
    for path in UNORDERED:
        parent_path, _sep, tag = path.rpartition("/")
        for parent in tree.findall(parent_path) if parent_path else [tree]:
            for child in parent.findall(tag):
                parent.remove(child)
    for ip in tree.findall("ip"):
        for dhcp in ip.findall("dhcp"):
            if not len(dhcp) and not dhcp.attrib:
                ip.remove(dhcp)
    for dns in tree.findall("dns"):
        if not len(dns) and not dns.attrib:
            tree.remove(dns)
    return tree


def restart_reasons(current, wanted):
    """What differs outside the sections updates carry, as phrases (empty: nothing)."""
    left, right = _strip(current), _strip(wanted)
    reasons = []
    for tag in sorted({c.tag for c in left} | {c.tag for c in right}):
        if [_text(c) for c in left.findall(tag)] != [_text(c) for c in right.findall(tag)]:
            reasons.append(WHAT.get(tag, "<%s> changes" % tag))
    return reasons


def _update(section, command, elem, parent_index=-1, key=None):
    elem = copy.deepcopy(elem)
    for node in elem.iter():
        node.tail = None
        if node.text is not None and not node.text.strip():
            node.text = None
    xml = ET.tostring(elem, encoding="unicode")
    return {"section": section, "command": command, "parent_index": parent_index, "xml": xml,
            "summary": "%s %s %s" % (section, "add" if command == ADD else command, key or xml)}


# ---- DHCP hosts --------------------------------------------------------------------------------

def _host_keys(elem):
    return {(k, elem.get(k).lower() if k == "mac" else elem.get(k)) for k in ("mac", "name", "ip") if elem.get(k)}


def _host_label(elem):
    return "%s=%s" % (elem.get("mac") or elem.get("name") or elem.get("id"), elem.get("ip"))


def _plan_hosts(index, current, wanted):
    cur = {_text(h): h for h in current}
    new = {_text(h): h for h in wanted}
    removed = [cur[k] for k in cur if k not in new]
    added = [new[k] for k in new if k not in cur]
    pairs = []
    for old in removed:
        for candidate in added:
            if any(candidate is pair[1] for pair in pairs):
                continue
            same_mac = old.get("mac") and candidate.get("mac") and old.get("mac").lower() == candidate.get("mac").lower()
            same_name = not old.get("mac") and not candidate.get("mac") and old.get("name") and old.get("name") == candidate.get("name")
            if same_mac or same_name:
                pairs.append((old, candidate))
                break
    # A modify is matched by libvirt to the first host sharing the MAC, name or address: keep only
    # pairs where the old host is the one such host left when the modifies run.
    while True:
        paired_old = [old for old, _new in pairs]
        present = [h for h in current if h not in removed or any(h is o for o in paired_old)]
        unsafe = [(old, new_) for old, new_ in pairs
                  if [h for h in present if _host_keys(h) & _host_keys(new_)] not in ([old], [])
                  or not (_host_keys(old) & _host_keys(new_))]
        if not unsafe:
            break
        pairs = [p for p in pairs if p not in unsafe]
    paired_old = [old for old, _new in pairs]
    paired_new = [new_ for _old, new_ in pairs]
    updates = [_update(DHCP_HOST, DELETE, h, index, _host_label(h)) for h in removed if not any(h is o for o in paired_old)]
    updates += [_update(DHCP_HOST, MODIFY, new_, index, _host_label(new_)) for new_ in paired_new]
    updates += [_update(DHCP_HOST, ADD, h, index, _host_label(h)) for h in added if not any(h is n for n in paired_new)]
    return updates


def _plan_ranges(index, current, wanted):
    cur = {_text(r): r for r in current}
    new = {_text(r): r for r in wanted}
    return ([_update(DHCP_RANGE, DELETE, cur[k], index, _range_label(cur[k])) for k in cur if k not in new]
            + [_update(DHCP_RANGE, ADD, new[k], index, _range_label(new[k])) for k in new if k not in cur])


def _range_label(elem):
    return "%s-%s" % (elem.get("start"), elem.get("end"))


# ---- DNS hosts ---------------------------------------------------------------------------------

def _dns_matches(one, other):
    if one.get("ip") == other.get("ip"):
        return True
    return bool({n.text for n in one.findall("hostname")} & {n.text for n in other.findall("hostname")})


def _dns_label(host):
    return "%s=%s" % (host.get("ip"), ",".join(n.text or "" for n in host.findall("hostname")))


def _plan_dns(current, wanted):
    cur = {_text(h): h for h in current}
    new = {_text(h): h for h in wanted}
    removed = [cur[k] for k in cur if k not in new]
    added = [new[k] for k in new if k not in cur]
    present = list(current)
    for host in removed:
        if len([h for h in present if _dns_matches(host, h)]) != 1:
            raise UpdateConflict("DNS host %s matches more than one record" % _dns_label(host))
        present.remove(host)
    for host in added:
        if any(_dns_matches(host, h) for h in present):
            raise UpdateConflict("DNS host %s shares an address or a name with another record" % _dns_label(host))
        present.append(host)
    return ([_update(DNS_HOST, DELETE, h, -1, _dns_label(h)) for h in removed]
            + [_update(DNS_HOST, ADD, h, -1, _dns_label(h)) for h in added])


# ---- port groups -------------------------------------------------------------------------------

def _plan_portgroups(current, wanted):
    cur = {g.get("name"): g for g in current}
    new = {g.get("name"): g for g in wanted}
    deletes = [_update(PORTGROUP, DELETE, cur[n], -1, n) for n in cur if n not in new]
    changes = []
    for name, group in new.items():
        if name not in cur:
            changes.append((group.get("default") == "yes", _update(PORTGROUP, ADD, group, -1, name)))
        elif _text(group) != _text(cur[name]):
            changes.append((group.get("default") == "yes", _update(PORTGROUP, MODIFY, group, -1, name)))
    # The new default last: libvirt refuses a second default while the old one is still set.
    return deletes + [u for default, u in changes if not default] + [u for default, u in changes if default]


# ---- the plan ----------------------------------------------------------------------------------

def plan_updates(current_xml, wanted_xml):
    """``{"updates": [...], "restart_reasons": [...]}`` to go from one definition to the other.

    Each update is a dict: ``section`` (one of :data:`SECTIONS`), ``command`` (:data:`ADD`,
    :data:`DELETE`, :data:`MODIFY`), ``parent_index`` (the ``<ip>`` index for DHCP sections,
    else -1), ``xml`` (the element to send) and ``summary``.  Applied in order, the updates
    turn the current definition's live sections into the wanted ones; whatever else differs is
    named in ``restart_reasons``, and needs the network restarted."""
    current, wanted = ET.fromstring(current_xml), ET.fromstring(wanted_xml)
    reasons = restart_reasons(current, wanted)
    updates = []
    cur_ips, new_ips = current.findall("ip"), wanted.findall("ip")
    if WHAT["ip"] not in reasons:
        for index, (old, new_) in enumerate(zip(cur_ips, new_ips)):
            had_dhcp = old.find("dhcp") is not None and len(old.find("dhcp"))
            wants_dhcp = new_.find("dhcp") is not None and len(new_.find("dhcp"))
            if wants_dhcp and not had_dhcp and new_.get("family") == "ipv6":
                # libvirt starts DHCPv6 (and its router advertisements) only with the network;
                # the first IPv4 range or host starts dnsmasq's DHCP live (measured on libvirt 9.0).
                reasons.append("address %s gets its first DHCP settings" % new_.get("address"))
                continue
            updates += _plan_ranges(index, old.findall("dhcp/range"), new_.findall("dhcp/range"))
            updates += _plan_hosts(index, old.findall("dhcp/host"), new_.findall("dhcp/host"))
    try:
        updates += _plan_dns(current.findall("dns/host"), wanted.findall("dns/host"))
    except UpdateConflict as err:
        reasons.append("the DNS hosts cannot change live (%s)" % err)
    updates += _plan_portgroups(current.findall("portgroup"), wanted.findall("portgroup"))
    return {"updates": updates, "restart_reasons": reasons}


def pending_reasons(live_xml, definition_xml):
    """Why a running network (``live_xml``) still differs from its definition: a change written
    earlier that waits for a restart.  What libvirt fills in at start is not a difference: the
    root's ``connections`` count and the interfaces it lists under ``<forward>`` (the devices of a
    ``<pf>``, each with its own count)."""
    live, definition = ET.fromstring(live_xml), ET.fromstring(definition_xml)
    for root in (live, definition):
        for forward in root.findall("forward"):
            for child in forward.findall("interface") + forward.findall("pf"):
                forward.remove(child)
    reasons = restart_reasons(live, definition)
    if sections_differ(live_xml, definition_xml):
        reasons.append(SECTIONS_DRIFT)
    return reasons


def sections_differ(left_xml, right_xml):
    """Whether two definitions differ in what updates carry (a running network whose live
    definition drifted from its persistent one cannot take the same update on both)."""
    left, right = ET.fromstring(left_xml), ET.fromstring(right_xml)

    def only_sections(root):
        tree = ET.Element("network")
        for index, ip in enumerate(root.findall("ip")):
            holder = ET.SubElement(ET.SubElement(tree, "ip", {"index": str(index)}), "dhcp")
            holder.extend(copy.deepcopy(ip.findall("dhcp/host")) + copy.deepcopy(ip.findall("dhcp/range")))
        dns = ET.SubElement(tree, "dns")
        dns.extend(copy.deepcopy(root.findall("dns/host")))
        tree.extend(copy.deepcopy(root.findall("portgroup")))
        return tree

    return not same(only_sections(left), only_sections(right))


# ---- libvirt's rules, to check plans without a host --------------------------------------------

def apply_update(xml_text, update):
    """The definition after ``update``, by libvirt's matching rules; :class:`UpdateConflict`
    where libvirt would refuse it.  For tests and for the diff of a check run."""
    root = ET.fromstring(xml_text)
    elem = ET.fromstring(update["xml"])
    section, command = update["section"], update["command"]
    if section in (DHCP_HOST, DHCP_RANGE):
        ips = root.findall("ip")
        if not 0 <= update["parent_index"] < len(ips):
            raise UpdateConflict("no <ip> at index %s" % update["parent_index"])
        ip = ips[update["parent_index"]]
        parent = ip.find("dhcp")
        if parent is None:
            parent = ET.SubElement(ip, "dhcp")
        tag = "host" if section == DHCP_HOST else "range"
    elif section == DNS_HOST:
        parent = root.find("dns")
        if parent is None:
            parent = ET.SubElement(root, "dns")
        tag = "host"
    else:
        parent, tag = root, "portgroup"
    members = parent.findall(tag)
    if section == DHCP_HOST:
        _apply_host(parent, members, elem, command)
    elif section == DHCP_RANGE:
        found = [r for r in members if r.get("start") == elem.get("start") and r.get("end") == elem.get("end")]
        _add_or_delete(parent, found, elem, command, "DHCP range")
    elif section == DNS_HOST:
        found = [h for h in members if _dns_matches(elem, h)]
        if command == MODIFY:
            raise UpdateConflict("DNS HOST records cannot be modified, only added or deleted")
        if command == DELETE and len(found) > 1:
            raise UpdateConflict("multiple matching DNS HOST records were found")
        _add_or_delete(parent, found, elem, command, "DNS host")
    else:
        found = [g for g in members if g.get("name") == elem.get("name")]
        if command in (ADD, MODIFY) and elem.get("default") == "yes":
            if [g for g in members if g.get("default") == "yes" and g.get("name") != elem.get("name")]:
                raise UpdateConflict("a different portgroup entry is already set as the default")
        if command == MODIFY:
            if not found:
                raise UpdateConflict("couldn't find a portgroup entry %s" % elem.get("name"))
            parent[list(parent).index(found[0])] = elem
        else:
            _add_or_delete(parent, found, elem, command, "portgroup")
    return ET.tostring(root, encoding="unicode")


def _add_or_delete(parent, found, elem, command, what):
    if command == ADD:
        if found:
            raise UpdateConflict("there is already a matching %s" % what)
        parent.append(elem)
    elif command == DELETE:
        if not found:
            raise UpdateConflict("couldn't locate a matching %s" % what)
        parent.remove(found[0])
    else:
        raise UpdateConflict("%s cannot be modified" % what)


def _apply_host(parent, members, elem, command):
    keys = _host_keys(elem)
    if command == ADD:
        if any(_host_keys(h) & keys for h in members):
            raise UpdateConflict("there is an existing dhcp host entry that matches")
        parent.append(elem)
    elif command == MODIFY:
        found = [h for h in members if _host_keys(h) & keys]
        if not found:
            raise UpdateConflict("couldn't locate an existing dhcp host entry to modify")
        parent[list(parent).index(found[0])] = elem
    else:
        found = [h for h in members if all((k, v) in _host_keys(h) for k, v in keys)]
        if not found:
            raise UpdateConflict("couldn't locate a matching dhcp host entry")
        parent.remove(found[0])
