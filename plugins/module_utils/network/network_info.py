# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What hotiron.virt.network_info reports about a network, from what libvirt returns.

Pure Python: no libvirt, no AnsibleModule."""

from __future__ import annotations

import ipaddress

# virIPAddrType
FAMILIES = {0: "ipv4", 1: "ipv6"}


def lease(raw):
    """One entry of virNetworkGetDHCPLeases (a dict of the bindings) as the module returns it."""
    out = {
        "mac": raw.get("mac"),
        "ip": raw.get("ipaddr"),
        "prefix": raw.get("prefix"),
        "family": FAMILIES.get(raw.get("type"), str(raw.get("type"))),
        "hostname": raw.get("hostname") or None,
        "client_id": raw.get("clientid") or None,
        "iaid": raw.get("iaid") or None,
        "expiry_time": raw.get("expirytime"),
        "interface": raw.get("iface"),
    }
    return out


def leases(raw_leases):
    """Leases sorted by family, then address."""
    return sorted((lease(r) for r in raw_leases or ()), key=lambda entry: (entry["family"], _address_key(entry["ip"]), entry["mac"] or ""))


def _address_key(text):
    try:
        return (0, int(ipaddress.ip_address(text or "")))
    except ValueError:
        return (1, text or "")


def describe(parsed, active, persistent, autostart):
    """The module's entry of a network: its parsed XML and its state."""
    out = dict(parsed)
    out.update(active=bool(active), persistent=bool(persistent), autostart=bool(autostart), state="active" if active else "inactive")
    return out
