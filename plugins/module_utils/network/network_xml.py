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
from ansible_collections.hotiron.virt.plugins.module_utils.xml_tools import canonical, overlay, to_text

MODES = ("nat", "route", "open", "isolated", "bridge")
LIST_TAGS = frozenset(("ip", "range", "host"))
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_IFNAME = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")


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
        # A name alone (a misspelled one, most often) must not create and start a network.
        raise NetworkSpecError("no network called %r exists, and a new network needs its mode (nat, route, open,"
                               " isolated or bridge); or check the name" % name)
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
    if mode in ("nat", "route") and not existing and not spec.get("ips"):
        raise NetworkSpecError("mode %s needs ips: the address and prefix of the network on the bridge" % mode)
    return spec


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
    return net


def network_xml(spec):
    return to_text(network_element(spec))


def plan_network_xml(current_xml, spec):
    """``(new_xml, changed)`` for ``spec`` laid over the current definition."""
    desired = network_element(spec)
    if not current_xml:
        return to_text(desired), True
    current = ET.fromstring(current_xml)
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
    return to_text(merged), canonical(merged) != canonical(current)


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
    return info
