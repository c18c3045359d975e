# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt virtual networks as data: validation, XML, read-modify-write.

Pure Python: no libvirt, no AnsibleModule. Errors are
:class:`NetworkSpecError` naming the parameter.
"""

from __future__ import annotations

import ipaddress
import re
import xml.etree.ElementTree as ET

from ansible_collections.hotiron.virt.plugins.module_utils import errors
from ansible_collections.hotiron.virt.plugins.module_utils.xml_tools import canonical_tree, overlay, to_text

MODES = ("nat", "route", "open", "isolated", "bridge")
LIST_TAGS = frozenset(("ip", "range", "host", "portgroup"))
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_IFNAME = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})$")
_PORTGROUP = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
# Repeated elements whose order means nothing to libvirt (it refuses duplicates): compared as
# sets, so a reservation added live (appended by libvirt) does not read as a change next run.
UNORDERED = ("ip/dhcp/host", "ip/dhcp/range", "dns/host", "portgroup")


class NetworkSpecError(errors.InputError):
    """Options that cannot describe a network; the message names the parameter."""


def _mac(value, param):
    if not _MAC.match(value or ""):
        raise NetworkSpecError("%s must be a MAC address such as 52:54:00:12:34:56, got %r" % (param, value))
    return value.lower()


def _ifname(value, param):
    if not _IFNAME.match(value or ""):
        raise NetworkSpecError("%s must be an interface name of at most 15 characters without spaces or '/', got %r" % (param, value))
    return value


def validate_network(params, existing=False):
    """Check the options; return the normalised spec (only what was given)."""
    name = params["name"]
    if not name:
        raise NetworkSpecError("name must not be empty")
    mode = params.get("mode")
    if mode is None and not existing:
        # A misspelled name must not make a network: creating one needs its mode.
        raise NetworkSpecError(
            "network %s does not exist; to create it give mode (%s)%s" % (name, ", ".join(MODES), _creation_hint(params)))
    if mode is not None and mode not in MODES:
        raise NetworkSpecError("mode %r is not a network mode; use one of %s" % (mode, ", ".join(MODES)))
    spec = {"name": name, "mode": mode}
    if params.get("bridge"):
        spec["bridge"] = _ifname(params["bridge"], "bridge")
    if mode == "bridge" and not spec.get("bridge") and not existing:
        raise NetworkSpecError("mode bridge needs bridge: the name of an existing host bridge such as br0")
    if params.get("forward_dev"):
        if mode not in ("nat", "route"):
            raise NetworkSpecError("forward_dev applies to modes nat and route, not %s" % mode)
        spec["forward_dev"] = _ifname(params["forward_dev"], "forward_dev")
    if params.get("mac"):
        if mode == "bridge":
            raise NetworkSpecError("mac applies to bridges libvirt creates, not to mode bridge")
        spec["mac"] = _mac(params["mac"], "mac")
    if params.get("mtu") is not None:
        if not 68 <= params["mtu"] <= 65535:
            raise NetworkSpecError("mtu must be between 68 and 65535, got %r" % params["mtu"])
        spec["mtu"] = params["mtu"]
    if params.get("domain"):
        spec["domain"] = params["domain"]
    ips = params.get("ips")
    if ips is not None:
        if mode == "bridge" and ips:
            raise NetworkSpecError("ips do not apply to mode bridge: the host bridge's own network serves the guests")
        spec["ips"] = [_validate_ip(index, ip) for index, ip in enumerate(ips)]
        families = [ip["family"] for ip in spec["ips"]]
        if families.count("ipv4") > 1 and any(ip.get("dhcp_ranges") or ip.get("dhcp_hosts") for ip in spec["ips"] if ip["family"] == "ipv4"):
            raise NetworkSpecError("ips: DHCP can serve only one IPv4 address of a network")
    if params.get("dns_hosts") is not None:
        if mode == "bridge":
            raise NetworkSpecError("dns_hosts do not apply to mode bridge: libvirt runs no DNS server on a host bridge")
        spec["dns_hosts"] = [_validate_dns_host(index, host) for index, host in enumerate(params["dns_hosts"])]
        _unique(spec["dns_hosts"], "ip", "dns_hosts")
    if params.get("portgroups") is not None:
        spec["portgroups"] = [_validate_portgroup(index, group) for index, group in enumerate(params["portgroups"])]
        _unique(spec["portgroups"], "name", "portgroups")
        if sum(1 for group in spec["portgroups"] if group.get("default")) > 1:
            raise NetworkSpecError("portgroups: at most one port group can be the default")
    if mode in ("nat", "route") and not existing and not spec.get("ips"):
        raise NetworkSpecError("mode %s needs ips: the address and prefix of the network on the bridge" % mode)
    return spec


def _unique(entries, key, param):
    seen = set()
    for index, entry in enumerate(entries):
        value = entry.get(key)
        if value is None:
            continue
        if value in seen:
            raise NetworkSpecError("%s[%d].%s %s is given twice" % (param, index, key, value))
        seen.add(value)


def _validate_dns_host(index, host):
    param = "dns_hosts[%d]" % index
    try:
        addr = ipaddress.ip_address(host.get("ip") or "")
    except ValueError:
        raise NetworkSpecError("%s.ip must be an IP address, got %r" % (param, host.get("ip"))) from None
    names = host.get("hostnames") or []
    if not names:
        raise NetworkSpecError("%s.hostnames needs at least one host name for %s" % (param, addr))
    for name in names:
        if not _HOSTNAME.match(name or "") or ".." in name:
            raise NetworkSpecError("%s.hostnames: %r is not a host name" % (param, name))
    if len(set(names)) != len(names):
        raise NetworkSpecError("%s.hostnames lists a name twice" % param)
    return {"ip": str(addr), "hostnames": list(names)}


BANDWIDTH_KEYS = ("average", "peak", "burst")


def _validate_portgroup(index, group):
    param = "portgroups[%d]" % index
    name = group.get("name")
    if not _PORTGROUP.match(name or ""):
        raise NetworkSpecError("%s.name must be 1 to 64 letters, digits or '_.:-', got %r" % (param, name))
    out = {"name": name}
    if group.get("default"):
        out["default"] = True
    if group.get("vlan") is not None:
        if not 0 <= group["vlan"] <= 4095:
            raise NetworkSpecError("%s.vlan must be between 0 and 4095, got %r" % (param, group["vlan"]))
        out["vlan"] = group["vlan"]
    for direction in ("inbound", "outbound"):
        limits = group.get(direction)
        if not limits:
            continue
        given = {k: v for k, v in limits.items() if v is not None}
        for key, value in given.items():
            if key not in BANDWIDTH_KEYS or not isinstance(value, int) or not 1 <= value <= 2 ** 32 - 1:
                raise NetworkSpecError("%s.%s.%s must be a number of KiB/s (or KiB for burst) from 1 to 4294967295, got %r"
                                       % (param, direction, key, value))
        if "average" not in given:
            raise NetworkSpecError("%s.%s needs average (KiB/s)" % (param, direction))
        out[direction] = given
    return out


def _creation_hint(params):
    given = [key for key in ("bridge", "ips", "dns_hosts", "portgroups") if params.get(key)]
    return "; mode isolated with the %s given makes a network for guests and host only" % ", ".join(given) if given else ""


def _validate_ip(index, ip):
    where = "ips[%d]" % index
    try:
        iface = ipaddress.ip_interface("%s/%s" % (ip["address"], ip.get("prefix") if ip.get("prefix") is not None else ""))
    except (ValueError, KeyError, TypeError):
        raise NetworkSpecError(
            "%s needs address and prefix of the bridge, such as address 10.255.3.1 and prefix 24; got %r/%r"
            % (where, ip.get("address"), ip.get("prefix"))
        ) from None
    net = iface.network
    if iface.ip in (net.network_address, net.broadcast_address) and net.prefixlen < (31 if iface.version == 4 else 127):
        raise NetworkSpecError("%s.address %s is the network's own or broadcast address, not a host address" % (where, iface.ip))
    out = {"address": str(iface.ip), "prefix": net.prefixlen, "family": "ipv%d" % iface.version}

    def inside(value, param):
        try:
            addr = ipaddress.ip_address(value)
        except ValueError:
            raise NetworkSpecError("%s must be an IP address, got %r" % (param, value)) from None
        if addr not in net:
            raise NetworkSpecError("%s %s is outside %s" % (param, addr, net))
        return str(addr)

    ranges = []
    for rindex, rng in enumerate(ip.get("dhcp_ranges") or []):
        param = "%s.dhcp_ranges[%d]" % (where, rindex)
        start = inside(rng.get("start"), param + ".start")
        end = inside(rng.get("end"), param + ".end")
        if ipaddress.ip_address(start) > ipaddress.ip_address(end):
            raise NetworkSpecError("%s: start %s is after end %s" % (param, start, end))
        ranges.append({"start": start, "end": end})
    hosts = []
    for hindex, host in enumerate(ip.get("dhcp_hosts") or []):
        param = "%s.dhcp_hosts[%d]" % (where, hindex)
        if not host.get("ip"):
            raise NetworkSpecError("%s.ip is required" % param)
        entry = {"ip": inside(host["ip"], param + ".ip")}
        if host.get("mac"):
            entry["mac"] = _mac(host["mac"], param + ".mac")
        if host.get("name"):
            entry["name"] = host["name"]
        if "mac" not in entry and "name" not in entry:
            raise NetworkSpecError("%s needs mac or name to say which guest gets %s" % (param, entry["ip"]))
        hosts.append(entry)
    for key in ("ip", "mac", "name"):
        _unique(hosts, key, where + ".dhcp_hosts")
    if ranges:
        out["dhcp_ranges"] = ranges
    if hosts:
        out["dhcp_hosts"] = hosts
    return out


def _sub(parent, tag, **attrs):
    return ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items() if v is not None})


def network_element(spec):
    net = ET.Element("network")
    ET.SubElement(net, "name").text = spec["name"]
    mode = spec.get("mode")
    if mode and mode != "isolated":
        _sub(net, "forward", mode=mode, dev=spec.get("forward_dev"))
    if spec.get("bridge"):
        _sub(net, "bridge", name=spec["bridge"])
    if spec.get("mac"):
        _sub(net, "mac", address=spec["mac"])
    if spec.get("mtu"):
        _sub(net, "mtu", size=spec["mtu"])
    if spec.get("domain"):
        _sub(net, "domain", name=spec["domain"])
    for ip in spec.get("ips") or []:
        attrs = {"address": ip["address"], "prefix": ip["prefix"]}
        if ip["family"] == "ipv6":
            attrs["family"] = "ipv6"
        elem = _sub(net, "ip", **attrs)
        if ip.get("dhcp_ranges") or ip.get("dhcp_hosts"):
            dhcp = _sub(elem, "dhcp")
            for rng in ip.get("dhcp_ranges", ()):
                _sub(dhcp, "range", start=rng["start"], end=rng["end"])
            for host in ip.get("dhcp_hosts", ()):
                _sub(dhcp, "host", mac=host.get("mac"), name=host.get("name"), ip=host["ip"])
    if spec.get("dns_hosts"):
        dns = _sub(net, "dns")
        for host in spec["dns_hosts"]:
            elem = _sub(dns, "host", ip=host["ip"])
            for name in host["hostnames"]:
                ET.SubElement(elem, "hostname").text = name
    for group in spec.get("portgroups") or []:
        net.append(portgroup_element(group))
    return net


def portgroup_element(group):
    elem = ET.Element("portgroup", {"name": group["name"]})
    if group.get("default"):
        elem.set("default", "yes")
    if group.get("vlan") is not None:
        _sub(_sub(elem, "vlan"), "tag", id=group["vlan"])
    if group.get("inbound") or group.get("outbound"):
        bandwidth = _sub(elem, "bandwidth")
        for direction in ("inbound", "outbound"):
            if group.get(direction):
                _sub(bandwidth, direction, **{k: group[direction][k] for k in BANDWIDTH_KEYS if k in group[direction]})
    return elem


def network_xml(spec):
    return to_text(network_element(spec))


def _netmask_as_prefix(root):
    """An ``<ip netmask=...>`` (libvirt's own ``default`` network is written so) as the ``prefix``
    the module writes, in place: the same address is no change, and no restart."""
    for ip in root.findall("ip"):
        netmask = ip.attrib.pop("netmask", None)
        if netmask is not None and ip.get("prefix") is None:
            try:
                ip.set("prefix", str(ipaddress.ip_network("0.0.0.0/%s" % netmask).prefixlen))
            except ValueError:
                ip.set("netmask", netmask)      # not a netmask libvirt would take: left as it is


def plan_network_xml(current_xml, spec):
    """``(new_xml, changed)`` for ``spec`` laid over the current definition."""
    desired = network_element(spec)
    if not current_xml:
        return to_text(desired), True
    current = ET.fromstring(current_xml)
    _netmask_as_prefix(current)
    merged = overlay(current, desired, LIST_TAGS)
    if spec.get("mode") == "isolated":
        for forward in merged.findall("forward"):
            merged.remove(forward)
    if spec.get("mode") and spec["mode"] != "isolated":
        old = current.find("forward")
        old_mode = old.get("mode", "nat") if old is not None else "isolated"
        if old_mode != spec["mode"]:
            # A new mode: settings of the old one (NAT port ranges, interfaces) do not carry over.
            forward = merged.find("forward")
            for child in list(forward):
                forward.remove(child)
    if spec.get("ips") is not None and not spec["ips"]:
        for ip in merged.findall("ip"):
            merged.remove(ip)
    if spec.get("dns_hosts") is not None:
        dns = merged.find("dns")
        if dns is not None and not spec["dns_hosts"]:
            for host in dns.findall("host"):
                dns.remove(host)
            if not len(dns) and not dns.attrib:
                merged.remove(dns)
    if spec.get("portgroups") is not None and not spec["portgroups"]:
        for group in merged.findall("portgroup"):
            merged.remove(group)
    return to_text(merged), same(merged, current) is False


def unordered_tree(elem):
    """A canonical copy of a network element where the :data:`UNORDERED` lists are sorted."""
    tree = canonical_tree(elem)
    for path in UNORDERED:
        parent_path, _sep, tag = path.rpartition("/")
        for parent in tree.findall(parent_path) if parent_path else [tree]:
            members = [child for child in parent if child.tag == tag]
            if len(members) < 2:
                continue
            others = [child for child in parent if child.tag != tag]
            parent[:] = others + sorted(members, key=lambda child: ET.tostring(child, encoding="unicode"))
    return tree


def same(left, right):
    """Whether two network elements say the same, the :data:`UNORDERED` lists compared as sets."""
    return ET.tostring(unordered_tree(left), encoding="unicode") == ET.tostring(unordered_tree(right), encoding="unicode")


def parse_network(xml_text):
    root = ET.fromstring(xml_text)
    forward = root.find("forward")
    bridge = root.find("bridge")
    info = {
        "name": root.findtext("name"),
        "uuid": root.findtext("uuid"),
        "mode": forward.get("mode", "nat") if forward is not None else "isolated",
        "bridge": bridge.get("name") if bridge is not None else None,
        "ips": [],
    }
    for ip in root.findall("ip"):
        entry = {"address": ip.get("address"), "prefix": ip.get("prefix"), "netmask": ip.get("netmask"), "family": ip.get("family", "ipv4")}
        entry["dhcp_ranges"] = [dict(r.attrib) for r in ip.findall("dhcp/range")]
        entry["dhcp_hosts"] = [dict(h.attrib) for h in ip.findall("dhcp/host")]
        info["ips"].append({k: v for k, v in entry.items() if v is not None})
    info.update(
        forward_dev=forward.get("dev") if forward is not None else None,
        mac=root.find("mac").get("address") if root.find("mac") is not None else None,
        mtu=int(root.find("mtu").get("size")) if root.find("mtu") is not None and root.find("mtu").get("size") else None,
        domain=root.find("domain").get("name") if root.find("domain") is not None else None,
        dns_hosts=[{"ip": h.get("ip"), "hostnames": [n.text for n in h.findall("hostname")]} for h in root.findall("dns/host")],
        portgroups=[parse_portgroup(group) for group in root.findall("portgroup")],
    )
    return info


def parse_portgroup(elem):
    """A ``<portgroup>`` as the O(portgroups) option writes it."""
    out = {"name": elem.get("name"), "default": elem.get("default") == "yes"}
    tag = elem.find("vlan/tag")
    if tag is not None and tag.get("id"):
        out["vlan"] = int(tag.get("id"))
    for direction in ("inbound", "outbound"):
        limits = elem.find("bandwidth/" + direction)
        if limits is not None:
            out[direction] = {k: int(limits.get(k)) for k in BANDWIDTH_KEYS if limits.get(k)}
    return out
