# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the guest agent says about a running guest, as facts: hostname, OS, time zone, users,
file systems, disks and interfaces with addresses.

libvirt's ``virDomainGetGuestInfo`` (``dom.guestInfo()``) asks the agent (guest-get-host-name,
guest-get-osinfo, guest-get-fsinfo, guest-get-users, guest-get-timezone, guest-get-disks,
guest-network-get-interfaces) and flattens the answers into typed parameters
(``fs.0.mountpoint``, ``fs.count``, ``os.pretty-name``); :func:`nest` turns them back into
nested data and :func:`facts` gives them the names this collection reports.  Pure.
"""

from __future__ import annotations

import re

_INDEX = re.compile(r"^\d+$")


def nest(params):
    """Flat dotted keys to nested dicts and lists: ``fs.1.disk.0.alias`` becomes
    ``{"fs": [.., {"disk": [{"alias": ..}]}]}``; ``*.count`` keys are dropped (the lists say
    it); ``-`` in names becomes ``_``.  Lists are ordered by index, gaps left out."""
    tree = {}
    for key in sorted(params or {}):
        parts = key.split(".")
        if parts[-1] == "count":
            continue
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(_name(part), {})
            if not isinstance(node, dict):      # a scalar and a subtree of one name: keep the scalar
                break
        else:
            node[_name(parts[-1])] = params[key]
    return _lists(tree)


def _name(part):
    return int(part) if _INDEX.match(part) else part.replace("-", "_")


def _lists(node):
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(k, int) for k in node):
        return [_lists(node[k]) for k in sorted(node)]
    return {k: _lists(v) for k, v in node.items()}


def facts(params, interfaces=None):
    """The guest facts of one VM from ``dom.guestInfo()``'s dict, and optionally the
    interfaces of ``dom.interfaceAddresses(AGENT)`` (libvirt before 8.10 has no ``if.*`` in
    guest info).  Keys: hostname, os, timezone, users, filesystems, disks, interfaces."""
    tree = nest(params)
    found = {
        "hostname": tree.get("hostname"),
        "os": tree.get("os") or {},
        "timezone": tree.get("timezone") or {},
        "users": [u for u in tree.get("user") or [] if isinstance(u, dict)],
        "filesystems": [_filesystem(f) for f in tree.get("fs") or [] if isinstance(f, dict)],
        "disks": [d for d in tree.get("disk") or [] if isinstance(d, dict)],
        "interfaces": [_interface(i) for i in tree.get("if") or [] if isinstance(i, dict)],
    }
    if interfaces is not None and not found["interfaces"]:
        found["interfaces"] = agent_interfaces(interfaces)
    return found


def _filesystem(node):
    used, total = node.get("used_bytes"), node.get("total_bytes")
    return {"name": node.get("name"), "mountpoint": node.get("mountpoint"), "fstype": node.get("fstype"),
            "total_bytes": total, "used_bytes": used,
            "disks": [d for d in node.get("disk") or [] if isinstance(d, dict)]}


def _interface(node):
    return {"name": node.get("name"), "hwaddr": (node.get("hwaddr") or "").lower() or None,
            "addresses": [{"address": a.get("addr"), "prefix": a.get("prefix"), "type": a.get("type")}
                          for a in node.get("addr") or [] if isinstance(a, dict)]}


def agent_interfaces(addresses):
    """``virDomainInterfaceAddresses``'s dict (``{name: {hwaddr, addrs: [{addr, prefix, type}]}}``,
    type 0 IPv4, 1 IPv6) in the shape of :func:`facts`' interfaces, sorted by name."""
    kinds = {0: "ipv4", 1: "ipv6"}
    return [{"name": name, "hwaddr": (value.get("hwaddr") or "").lower() or None,
             "addresses": [{"address": a.get("addr"), "prefix": a.get("prefix"), "type": kinds.get(a.get("type"), a.get("type"))}
                           for a in value.get("addrs") or []]}
            for name, value in sorted((addresses or {}).items())]


def addresses(found, family="ipv4"):
    """The guest's addresses of ``family`` (not loopback), in interface order: for
    ``ansible_host`` or a report."""
    result = []
    for nic in found.get("interfaces") or []:
        if nic.get("name") == "lo":
            continue
        for addr in nic.get("addresses") or []:
            if addr.get("type") == family and addr.get("address") and not addr["address"].startswith(("127.", "::1", "fe80:")):
                result.append(addr["address"])
    return result
