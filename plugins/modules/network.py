#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: network
short_description: Define, start, stop and remove libvirt virtual networks
version_added: 0.1.0
description:
  - Manages a libvirt virtual network in one of the modes V(nat) (guests reach outside through
    the host's address), V(route) (routed, no address translation), V(open) (routed, libvirt adds
    no firewall rules), V(isolated) (guests and host only) or V(bridge) (guests join an existing
    host bridge).
  - Serves DHCP ranges and static DHCP hosts on the network's addresses, DNS host records and
    port groups.
  - On a running network, changes to DHCP hosts and ranges, DNS hosts and port groups are applied
    live and persistently (libvirt's virNetworkUpdate), without a restart, so guests keep their link.
    Other changes (bridge, mode, addresses, MTU, ...) are written to the definition and need a
    restart (O(restart)); RV(restart_reasons) says which.
  - The definition is read, the options are laid over it, and it is written back only when that
    changes it; what the options do not mention (UUID, MAC, DNS settings, ...) is kept.
  - Bad options fail with a message naming the option before anything is changed.
extends_documentation_fragment:
  - hotiron.virt.connection
  - hotiron.virt.attributes
attributes:
  check_mode:
    support: full
    details: The plan is returned in RV(actions); nothing is changed.
  diff_mode:
    support: full
    details: The network definition before and after, as XML.
options:
  name:
    description: Name of the network.
    type: str
    required: true
  state:
    description:
      - V(present) defines the network without changing whether it runs; V(active) also starts it;
        V(inactive) stops it; V(absent) stops and undefines it.
    type: str
    choices: [present, active, inactive, absent]
    default: active
  mode:
    description:
      - How the network reaches outside. Needed to create a network (a name that matches no
        network, given without mode, is refused, so a misspelled name creates nothing); an existing
        network keeps its mode when this is not given.
      - V(nat) and V(route) make libvirt add firewall rules on the host.
    type: str
    choices: [nat, route, open, isolated, bridge]
  bridge:
    description:
      - Name of the bridge libvirt creates (at most 15 characters; libvirt picks C(virbrN) when
        not given), or with O(mode=bridge) the existing host bridge guests join.
    type: str
  forward_dev:
    description: Host interface that V(nat) or V(route) traffic leaves through.
    type: str
  mac:
    description: MAC address of the bridge libvirt creates.
    type: str
  mtu:
    description: MTU of the bridge libvirt creates (68 to 65535).
    type: int
  domain:
    description: DNS domain of the network's guests.
    type: str
  ips:
    description:
      - Addresses of the host on the network, with DHCP. Given, the list replaces the network's
        addresses as a whole; V([]) removes them.
    type: list
    elements: dict
    suboptions:
      address:
        description: The host's address on the bridge, such as V(10.255.3.1) or an IPv6 address.
        type: str
        required: true
      prefix:
        description: Prefix length of the network, such as V(24) (0 to 32 for IPv4, to 128 for IPv6).
        type: int
        required: true
      dhcp_ranges:
        description: Address ranges DHCP hands out.
        type: list
        elements: dict
        suboptions:
          start: {description: First address., type: str, required: true}
          end: {description: Last address., type: str, required: true}
      dhcp_hosts:
        description: Fixed DHCP leases, by guest MAC address or host name.
        type: list
        elements: dict
        suboptions:
          ip: {description: The address the guest gets., type: str, required: true}
          mac: {description: The guest's MAC address., type: str}
          name: {description: The guest's host name., type: str}
  dns_hosts:
    description:
      - DNS host records the network's DNS server answers. Given, the list replaces the network's
        records as a whole; V([]) removes them. Changed live on a running network.
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      ip:
        description: Address the names resolve to.
        type: str
        required: true
      hostnames:
        description: Names of the address (at least one).
        type: list
        elements: str
        required: true
  portgroups:
    description:
      - Port groups guests name in their interface (C(<source portgroup=...>)) to get its
        settings. Given, the list replaces the network's port groups as a whole; V([]) removes
        them. Changed live on a running network (a guest already attached keeps what it got).
    type: list
    elements: dict
    version_added: 0.2.0
    suboptions:
      name:
        description: Name of the port group.
        type: str
        required: true
      default:
        description: The port group of guests that name none (at most one).
        type: bool
        default: false
      vlan:
        description:
          - VLAN tag (0 to 4095), for networks that support VLANs (Open vSwitch bridges,
            hostdev); libvirt refuses it on others.
        type: int
      inbound:
        description: Limits on traffic into the guests, in KiB/s (C(burst) in KiB).
        type: dict
        suboptions:
          average: {description: Average rate., type: int}
          peak: {description: Peak rate., type: int}
          burst: {description: Size of a burst., type: int}
      outbound:
        description: Limits on traffic from the guests, in KiB/s (C(burst) in KiB).
        type: dict
        suboptions:
          average: {description: Average rate., type: int}
          peak: {description: Peak rate., type: int}
          burst: {description: Size of a burst., type: int}
  autostart:
    description: Start the network when libvirtd starts. Left alone when not given.
    type: bool
  restart:
    description:
      - When the definition of a running network changes in a way libvirt cannot apply live
        (see RV(restart_reasons)), stop and start it so the change applies. Guests attached to it
        lose their link until re-attached. Without it the module applies what it can live and
        warns that the network still runs its old definition for the rest.
      - A running network that still differs from its definition (written by an earlier run
        without O(restart)) is restarted too, and reported in RV(restart_required) until it is.
    type: bool
    default: false
notes:
  - V(nat) and V(route) networks add firewall rules and the bridge in the host's network
    namespace, and V(nat) enables IP forwarding.
author:
  - hotiron.virt developers (@hotiron)
"""

EXAMPLES = r"""
- name: A NAT network with DHCP and one fixed lease
  hotiron.virt.network:
    name: lan
    mode: nat
    bridge: virbr10
    ips:
      - address: 192.168.122.1
        prefix: 24
        dhcp_ranges:
          - {start: 192.168.122.100, end: 192.168.122.199}
        dhcp_hosts:
          - {mac: "52:54:00:00:00:10", name: web1, ip: 192.168.122.10}
    autostart: true

- name: Add a DHCP reservation and a DNS name to a running network, live (no restart)
  hotiron.virt.network:
    name: lan
    ips:
      - address: 192.168.122.1
        prefix: 24
        dhcp_ranges:
          - {start: 192.168.122.100, end: 192.168.122.199}
        dhcp_hosts:
          - {mac: "52:54:00:00:00:10", name: web1, ip: 192.168.122.10}
          - {mac: "52:54:00:00:00:11", name: web2, ip: 192.168.122.11}
    dns_hosts:
      - {ip: 192.168.122.11, hostnames: [web2, www]}
  register: lan

- name: Port groups with bandwidth limits
  hotiron.virt.network:
    name: lan
    portgroups:
      - {name: standard, default: true}
      - {name: capped, outbound: {average: 1024, peak: 2048, burst: 512}}

- name: Guests and host only
  hotiron.virt.network:
    name: backend
    mode: isolated
    ips:
      - {address: 10.255.0.1, prefix: 24}

- name: Guests on the host's own bridge
  hotiron.virt.network:
    name: host-bridge
    mode: bridge
    bridge: br0

- name: Remove a network
  hotiron.virt.network:
    name: old
    state: absent
"""

RETURN = r"""
actions:
  description: What the module did, or would do in check mode, in order.
  returned: always
  type: list
  elements: str
  sample: [define, start, autostart on]
updates:
  description:
    - The virNetworkUpdate calls made (or planned in check mode), in order; live and persistent
      on a running network, persistent only on a stopped one.
  returned: always
  type: list
  elements: dict
  version_added: 0.2.0
  contains:
    section: {description: "V(ip-dhcp-host), V(ip-dhcp-range), V(dns-host) or V(portgroup).", type: str, returned: always}
    command: {description: "V(add-last), V(modify) or V(delete).", type: str, returned: always}
    parent_index: {description: "Index of the C(<ip>) element of a DHCP section, V(-1) otherwise.", type: int, returned: always}
    xml: {description: "The element sent.", type: str, returned: always}
  sample: [{section: ip-dhcp-host, command: add-last, parent_index: 0, xml: "<host mac=\"52:54:00:00:00:11\" name=\"web2\" ip=\"192.168.122.11\" />"}]
restart_required:
  description:
    - Whether the running network still runs its previous definition until restarted (also when
      this run changed nothing but an earlier one wrote the definition).
  returned: always
  type: bool
  version_added: 0.2.0
restart_reasons:
  description: What changed that libvirt cannot apply live, when the network was (or must be) restarted for it.
  returned: always
  type: list
  elements: str
  version_added: 0.2.0
  sample: [the bridge changes]
network:
  description: The network after the change; empty when it was removed.
  returned: always
  type: dict
  contains:
    name:
      description: "Network name."
      type: str
      returned: success
    uuid:
      description: "Network UUID."
      type: str
      returned: success
    mode:
      description: "Forward mode (V(isolated) when none)."
      type: str
      returned: success
    bridge:
      description: "Bridge name."
      type: str
      returned: success
    ips:
      description: "Addresses with their DHCP ranges and hosts."
      type: list
      elements: dict
      returned: success
    dns_hosts:
      description: "DNS host records (C(ip), C(hostnames))."
      type: list
      elements: dict
      returned: success
      version_added: 0.2.0
    portgroups:
      description: "Port groups (C(name), C(default), C(vlan), C(inbound), C(outbound))."
      type: list
      elements: dict
      returned: success
      version_added: 0.2.0
    state:
      description: "V(active) or V(inactive)."
      type: str
      returned: success
    active:
      description: "Whether the network runs."
      type: bool
      returned: success
    persistent:
      description: "Whether the network is defined."
      type: bool
      returned: success
    autostart:
      description: "Whether the network starts with libvirtd."
      type: bool
      returned: success
  sample:
    name: backend
    mode: isolated
    bridge: virbr3
    ips: [{address: 10.255.0.1, prefix: "24", family: ipv4, dhcp_ranges: [], dhcp_hosts: []}]
    state: active
    autostart: false
"""

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.network.network_ops import ensure_network


def bandwidth_options():
    rate = dict(type="int", min=1, max=2 ** 32 - 1)
    return dict(average=dict(rate), peak=dict(rate), burst=dict(rate))


def argument_spec():
    spec = module_base.connection_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        state=dict(type="str", default="active", choices=["present", "active", "inactive", "absent"]),
        mode=dict(type="str", choices=["nat", "route", "open", "isolated", "bridge"]),
        bridge=dict(type="str"),
        forward_dev=dict(type="str"),
        mac=dict(type="str"),
        mtu=dict(type="int", min=68, max=65535),
        domain=dict(type="str"),
        ips=dict(
            type="list",
            elements="dict",
            options=dict(
                address=dict(type="str", required=True),
                prefix=dict(type="int", required=True, min=0, max=128),
                dhcp_ranges=dict(
                    type="list", elements="dict", options=dict(start=dict(type="str", required=True), end=dict(type="str", required=True))
                ),
                dhcp_hosts=dict(
                    type="list",
                    elements="dict",
                    options=dict(ip=dict(type="str", required=True), mac=dict(type="str"), name=dict(type="str")),
                ),
            ),
        ),
        dns_hosts=dict(
            type="list",
            elements="dict",
            options=dict(ip=dict(type="str", required=True), hostnames=dict(type="list", elements="str", required=True, min_items=1)),
        ),
        portgroups=dict(
            type="list",
            elements="dict",
            options=dict(
                name=dict(type="str", required=True),
                default=dict(type="bool", default=False),
                vlan=dict(type="int", min=0, max=4095),
                inbound=dict(type="dict", options=bandwidth_options()),
                outbound=dict(type="dict", options=bandwidth_options()),
            ),
        ),
        autostart=dict(type="bool"),
        restart=dict(type="bool", default=False),
    )
    return spec


def run(module):
    with module_base.connection(module) as conn:
        result = ensure_network(conn, module.params, check_mode=module.check_mode, want_diff=module._diff)
    return module_base.conclude(module, result, unchanged_diff=True)


def main():
    module_base.main(argument_spec(), run)


if __name__ == "__main__":
    main()
