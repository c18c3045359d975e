# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: libvirt
short_description: The VMs of libvirt hypervisors as inventory hosts
version_added: 0.1.0
description:
  - Lists the VMs of every hypervisor given by URI (O(uris)), or of every host of an inventory
    group that has a C(libvirt_uri) variable (O(hypervisor_group)), and adds each VM as a host.
  - Groups VMs by hypervisor (C(hypervisor_<name>)), state (C(state_running), C(state_shutoff), ...),
    resource group (C(resource_group_<name>)), tag (C(tag_<tag>)) and SLA class (C(sla_<class>)),
    read from this collection's metadata in each domain; all of them are in C(libvirt_vms), templates
    also in C(templates).
  - Each VM gets C(hotiron_vm) (name, UUID, state, hypervisor and its URI, vCPUs, memory, description,
    tags, resource group, SLA class, owner, OS profile, the free-form C(extra) metadata, NICs with their
    addresses) and, where libvirt knows
    an address of the running VM (DHCP lease, guest agent or ARP, see O(address_sources)),
    C(ansible_host).
  - Hypervisors are queried concurrently (O(max_workers)); one that cannot be reached is reported
    as a warning and in the C(hotiron_unreachable_hypervisors) variable of C(all), and skipped.
  - A VM name found on two hypervisors stays plain for the running one; the others are named
    C(name@hypervisor).
  - The inventory file's name must end in C(libvirt.yml) or C(libvirt.yaml).
author:
  - hotiron.virt contributors (@hotiron-virt)
requirements:
  - libvirt-python (PyPI) or python3-libvirt on the controller.
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: The name of this plugin.
    type: str
    required: true
    choices: [hotiron.virt.libvirt]
  uris:
    description:
      - Hypervisors to list, each a libvirt URI, or a dictionary with C(uri) and the C(name) the
        hypervisor has in group names (by default the URI's host part).
    type: list
    elements: raw
    default: []
  hypervisor_group:
    description:
      - An inventory group (from an inventory source given before this one) whose hosts are
        hypervisors; each host's O(uri_variable) is its URI, its inventory name its name.
    type: str
  uri_variable:
    description: The host variable holding a hypervisor's URI, with O(hypervisor_group).
    type: str
    default: libvirt_uri
  max_workers:
    description: Hypervisors queried at the same time (1 to 256).
    type: int
    default: 16
  address_sources:
    description:
      - Where to look up the addresses of running VMs, in order. V(lease) reads libvirt's DHCP
        leases, V(arp) the host's ARP table, V(agent) asks the QEMU guest agent (and needs a
        read-write connection). An empty list looks up none.
    type: list
    elements: str
    choices: [lease, arp, agent]
    default: [lease]
  group_prefix:
    description: A prefix for every group this plugin makes (the Constructable options' groups excepted).
    type: str
    default: ""
  templates:
    description: Include VMs marked as templates (they never run).
    type: bool
    default: false
  agent_connection:
    description:
      - Reach every VM through its QEMU guest agent, without a network. Sets C(ansible_connection) to
        C(hotiron.virt.qemu_ga), and C(hotiron_qemu_ga_uri) and C(hotiron_qemu_ga_domain) to the VM's
        hypervisor URI and libvirt name (see P(hotiron.virt.qemu_ga#connection)).
    type: bool
    default: false
    version_added: 0.2.0
  include_guest_info:
    description:
      - Ask the guest agent of every running VM whose agent is connected what it knows (hostname, OS,
        time zone, users, file systems, disks, interfaces with addresses) and set it as C(hotiron_guest);
        VMs without a connected agent get none, an agent that fails gets C(hotiron_guest.error). Opens read-write connections (libvirt refuses agent
        commands on read-only ones); about 0.2 s per VM.
    type: bool
    default: false
    version_added: 0.2.0
"""

EXAMPLES = r"""
# hypervisors.libvirt.yml: the VMs of two hypervisors
plugin: hotiron.virt.libvirt
uris:
  - qemu+tls://hv1.example.com/system
  - {name: hv2, uri: "qemu+ssh://root@hv2.example.com/system"}
keyed_groups:
  - key: hotiron_vm.owner
    prefix: owner
compose:
  ansible_user: "'admin'"
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: /var/cache/ansible-inventory
cache_timeout: 300

---
# vms.libvirt.yml: every VM of the hosts of group "hypervisors" of the inventory before it
# ansible-inventory -i hosts.yml -i vms.libvirt.yml --graph
plugin: hotiron.virt.libvirt
hypervisor_group: hypervisors

---
# agent.libvirt.yml: VMs reached through their guest agent (no network needed), grouped by guest OS
plugin: hotiron.virt.libvirt
uris: [qemu+ssh://root@hv1.example.com/system]
agent_connection: true
include_guest_info: true
keyed_groups:
  - key: hotiron_guest.os.id | default('unknown')
    prefix: os
"""

import concurrent.futures

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.agent import agent_ops
from ansible_collections.hotiron.virt.plugins.module_utils.backup.backup_xml import guest_agent_connected
from ansible_collections.hotiron.virt.plugins.module_utils.vm import inventory as vm_inventory

SOURCES = {"lease": 0, "agent": 1, "arp": 2}     # VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_*


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "hotiron.virt.libvirt"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("libvirt.yml", "libvirt.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        workers = self.get_option("max_workers")
        if not 1 <= workers <= 256:
            raise AnsibleError("max_workers: must be from 1 to 256, got %d" % workers)
        key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        data = None
        if use_cache:
            try:
                data = self._cache[key]
            except KeyError:
                update_cache = True
        if data is None:
            data = self._query(self._hypervisors(), workers)
        if update_cache:
            self._cache[key] = data
        self._populate(data)

    # --- which hypervisors ------------------------------------------------------------------
    def _hypervisors(self):
        # str() drops the tags ansible-core puts on what it read from the configuration
        # (trusted as a template, origin): VM variables are data reported by libvirt, and
        # untagged strings are what a cache can store and read back cheaply.
        found = []
        for entry in self.get_option("uris"):
            if isinstance(entry, str):
                found.append({"name": vm_inventory.hypervisor_name(str(entry)), "uri": str(entry)})
            elif isinstance(entry, dict) and isinstance(entry.get("uri"), str):
                found.append({"name": str(entry.get("name") or vm_inventory.hypervisor_name(str(entry["uri"]))),
                              "uri": str(entry["uri"])})
            else:
                raise AnsibleError("uris: each entry is a URI or a dictionary with uri (and name), got %r" % (entry,))
        group = self.get_option("hypervisor_group")
        if group:
            if group not in self.inventory.groups:
                raise AnsibleError("hypervisor_group: no group %r in the inventory sources before this one" % group)
            variable = self.get_option("uri_variable")
            for host in self.inventory.groups[group].get_hosts():
                uri = host.get_vars().get(variable)
                if not uri:
                    self.display.warning("hotiron.virt.libvirt: host %s of group %s has no %s: skipped"
                                         % (host.name, group, variable))
                    continue
                found.append({"name": str(host.name), "uri": str(uri)})
        if not found:
            raise AnsibleError("no hypervisor to list: give uris or hypervisor_group")
        return found

    # --- asking libvirt ---------------------------------------------------------------------
    def _query(self, hypervisors, workers):
        if lc.libvirt is None:
            raise AnsibleError("hotiron.virt.libvirt needs the libvirt Python bindings on the controller"
                               " (libvirt-python from PyPI or python3-libvirt)")
        sources = [SOURCES[s] for s in self.get_option("address_sources")]
        guest = self.get_option("include_guest_info")
        data = {"hypervisors": [], "unreachable": []}
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(workers, len(hypervisors))) as pool:
            futures = [pool.submit(list_hypervisor, hv, sources, guest) for hv in hypervisors]
            for hv, future in zip(hypervisors, futures):
                try:
                    data["hypervisors"].append(dict(hv, vms=future.result()))
                except lc.VirtError as err:
                    data["unreachable"].append(dict(hv, error=str(err)))
        return data

    # --- the inventory ----------------------------------------------------------------------
    def _populate(self, data):
        prefix = self.get_option("group_prefix")
        strict = self.get_option("strict")
        compose, conditional, keyed = (self.get_option(k) for k in ("compose", "groups", "keyed_groups"))
        for hv in data["unreachable"]:
            self.display.warning("hotiron.virt.libvirt: skipped hypervisor %s (%s): %s" % (hv["name"], hv["uri"], hv["error"]))
        self.inventory.set_variable("all", "hotiron_unreachable_hypervisors",
                                    [{"name": hv["name"], "uri": hv["uri"], "error": hv["error"]} for hv in data["unreachable"]])
        records = [vm for hv in data["hypervisors"] for vm in hv["vms"]
                   if self.get_option("templates") or not vm["template"]]
        named, warnings = vm_inventory.inventory_names(records)
        for warning in warnings:
            self.display.warning("hotiron.virt.libvirt: " + warning)
        made = set()
        for name, rec in named:
            self.inventory.add_host(name)
            for group in vm_inventory.groups(rec, prefix):
                if group not in made:
                    self.inventory.add_group(group)
                    made.add(group)
                self.inventory.add_child(group, name)
            values = vm_inventory.host_vars(rec, self.get_option("agent_connection"))
            for key, value in values.items():
                self.inventory.set_variable(name, key, value)
            if compose or conditional or keyed:
                hostvars = self.inventory.get_host(name).get_vars()
                self._set_composite_vars(compose, hostvars, name, strict=strict)
                self._add_host_to_composed_groups(conditional, hostvars, name, strict=strict)
                self._add_host_to_keyed_groups(keyed, hostvars, name, strict=strict)


def list_hypervisor(hv, sources, guest=False):
    """The records of every VM of one hypervisor (run in a worker thread, one connection each);
    ``guest``: with the agent's facts of running VMs whose agent is connected."""
    agent = SOURCES["agent"] in sources or guest
    conn = lc.connect(hv["uri"], readonly=not agent)
    try:
        with lc.attempt("list the vms of %s" % hv["uri"]):
            stats = conn.getAllDomainStats(lc.libvirt.VIR_DOMAIN_STATS_STATE)
        records = []
        for dom, values in stats:
            try:
                xml = dom.XMLDesc(0)
            except lc.libvirt.libvirtError as err:
                if lc.is_not_found(err):
                    continue            # undefined since the listing
                raise lc.wrap_libvirt_error("read vm %s on %s" % (dom.name(), hv["uri"]), err) from err
            state = values.get("state.state", 0)
            addresses = _addresses(dom, sources) if state == 1 else None
            rec = vm_inventory.record(xml, state, hv["name"], hv["uri"], addresses)
            if guest:
                rec["guest"] = _guest_facts(dom, xml) if state == 1 else None
            records.append(rec)
        return records
    finally:
        conn.close()


def _addresses(dom, sources):
    """The first source that knows addresses of this running VM; sources it lacks are skipped."""
    for source in sources:
        try:
            found = dom.interfaceAddresses(source)
        except lc.libvirt.libvirtError:
            continue    # no guest agent, no lease file, a driver without the call: try the next
        if found:
            return found
    return None


def _guest_facts(dom, xml):
    """The agent's facts, asked only when its channel is connected (a VM whose agent is down
    would hold the listing for libvirt's agent timeout)."""
    if not guest_agent_connected(xml):
        return None
    try:
        return agent_ops.facts(dom)
    except lc.libvirt.libvirtError as err:     # this VM's agent only: the hypervisor's other VMs are listed
        return {"error": lc.describe_libvirt_error("ask the guest agent of vm %s" % dom.name(), err)}
