#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: network_info
short_description: Describe the virtual networks of a libvirt host, with their DHCP leases
version_added: 0.2.0
description:
  - Reports one network or every network of a host, optionally filtered by a name pattern and
    state.
  - For each network, its mode, bridge, forward device, addresses with their DHCP ranges and
    fixed DHCP hosts, DNS hosts, port groups, whether it runs, is defined and starts with libvirtd,
    and the DHCP leases it handed out (RV(networks[].dhcp_leases)).
  - A running network is described as it runs; the definition it starts with next can differ
    (a change waiting for a restart, see M(hotiron.virt.network)); O(xml) returns both.
  - Reads only. A name that matches no network gives an empty list.
author:
  - hotiron.virt contributors (@hotiron-virt)
extends_documentation_fragment:
  - hotiron.virt.connection
  - hotiron.virt.attributes
  - hotiron.virt.attributes.info
options:
  name:
    description: Only this network. Without it, every network of the host.
    type: str
  pattern:
    description: Only networks whose name matches this shell-style pattern, such as V(lab-*) (case-sensitive).
    type: str
  states:
    description: Only networks in one of these states.
    type: list
    elements: str
    choices: [active, inactive]
  leases:
    description: Report the DHCP leases of each running network.
    type: bool
    default: true
  xml:
    description: Also return each network's XML, as it runs and as it is defined.
    type: bool
    default: false
notes:
  - The DHCP leases come from libvirt (virNetworkGetDHCPLeases), which reads what libvirt's
    dnsmasq handed out; networks of mode V(bridge) have no DHCP server of libvirt's, so no leases.
seealso:
  - module: hotiron.virt.network
  - module: hotiron.virt.vm_info
"""

EXAMPLES = r"""
- name: Every network of the host, with its leases
  hotiron.virt.network_info:
    uri: qemu+ssh://root@hv1/system
  register: nets

- name: The address each guest MAC got on network lan
  ansible.builtin.debug:
    msg: "{{ (nets.networks | selectattr('name', '==', 'lan') | first).dhcp_leases | items2dict(key_name='mac', value_name='ip') }}"

- name: Running lab networks, with their XML
  hotiron.virt.network_info:
    pattern: "lab-*"
    states: [active]
    xml: true
"""

RETURN = r"""
networks:
  description: The networks passing the filters, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: Network name., type: str, returned: always}
    uuid: {description: Network UUID., type: str, returned: always}
    mode:
      description: "Forward mode: V(nat), V(route), V(open), V(bridge), ... or V(isolated) when none."
      type: str
      returned: always
    bridge: {description: Bridge name (null when the mode uses none)., type: str, returned: always}
    forward_dev: {description: Host interface NAT or routed traffic leaves through (null when not set)., type: str, returned: always}
    mac: {description: MAC address of the bridge libvirt creates., type: str, returned: always}
    mtu: {description: MTU of the bridge (null when not set)., type: int, returned: always}
    domain: {description: DNS domain of the guests., type: str, returned: always}
    ips:
      description: Addresses of the host on the network, each with C(address), C(prefix) or C(netmask), C(family), C(dhcp_ranges) and C(dhcp_hosts).
      type: list
      elements: dict
      returned: always
    dns_hosts: {description: DNS host records (C(ip) and C(hostnames))., type: list, elements: dict, returned: always}
    portgroups:
      description: Port groups (C(name), C(default), and C(vlan), C(inbound), C(outbound) when set).
      type: list
      elements: dict
      returned: always
    active: {description: Whether the network runs., type: bool, returned: always}
    state: {description: V(active) or V(inactive)., type: str, returned: always}
    persistent: {description: Whether the network is defined (a transient one goes when stopped)., type: bool, returned: always}
    autostart: {description: Whether the network starts with libvirtd., type: bool, returned: always}
    restart_required:
      description: Whether the running network differs from its definition (a change waiting for a restart).
      type: bool
      returned: always
    restart_reasons:
      description: What differs, as M(hotiron.virt.network) reports it (empty when nothing).
      type: list
      elements: str
      returned: always
    dhcp_leases:
      description:
        - DHCP leases of a running network (empty for a stopped one and with O(leases=false)).
      type: list
      elements: dict
      returned: always
      contains:
        mac: {description: Guest MAC address., type: str}
        ip: {description: Leased address., type: str}
        prefix: {description: Prefix length of the network., type: int}
        family: {description: V(ipv4) or V(ipv6)., type: str}
        hostname: {description: Host name the guest sent (null when none)., type: str}
        client_id: {description: DHCP client identifier (null when none)., type: str}
        iaid: {description: DHCPv6 identity association (null for IPv4)., type: str}
        expiry_time: {description: When the lease expires (seconds since the epoch)., type: int}
        interface: {description: The network's bridge., type: str}
    xml:
      description: The network's XML as it runs (as defined, for a stopped one); with O(xml=true).
      type: str
      returned: when O(xml=true)
    xml_inactive:
      description: The definition the network starts with next (null for a transient network); with O(xml=true).
      type: str
      returned: when O(xml=true)
  sample:
    - name: lan
      uuid: 1f7c3a2e-5e0b-4d0c-9d2a-2b8e2c1f0a01
      mode: nat
      bridge: virbr1
      forward_dev: null
      mac: "52:54:00:4b:10:01"
      mtu: null
      domain: null
      ips:
        - address: 192.168.122.1
          prefix: "24"
          family: ipv4
          dhcp_ranges: [{start: 192.168.122.100, end: 192.168.122.199}]
          dhcp_hosts: [{mac: "52:54:00:00:00:10", name: web1, ip: 192.168.122.10}]
      dns_hosts: []
      portgroups: []
      active: true
      state: active
      persistent: true
      autostart: true
      restart_required: false
      restart_reasons: []
      dhcp_leases:
        - {mac: "52:54:00:00:00:10", ip: 192.168.122.10, prefix: 24, family: ipv4, hostname: web1,
           client_id: "01:52:54:00:00:00:10", iaid: null, expiry_time: 1796640000, interface: virbr1}
"""

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.network import network_info_ops


def argument_spec():
    spec = module_base.connection_argument_spec()
    spec.update(
        name=dict(type="str"),
        pattern=dict(type="str"),
        states=dict(type="list", elements="str", choices=["active", "inactive"]),
        leases=dict(type="bool", default=True),
        xml=dict(type="bool", default=False),
    )
    return spec


def run(module):
    return module_base.conclude(module, network_info_ops.run_network_info(module.params))


def main():
    module_base.main(argument_spec(), run)


if __name__ == "__main__":
    main()
