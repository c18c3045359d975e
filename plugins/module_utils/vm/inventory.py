# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""VMs as Ansible inventory hosts: what the ``hotiron.virt.libvirt`` inventory plugin makes
of each domain it lists, as plain data.

:func:`record` turns one domain (its XML, state and the addresses libvirt reported) into a
JSON-friendly record, which is what the plugin caches; :func:`inventory_names`,
:func:`groups` and :func:`host_vars` decide the host name, groups and variables from
records.  No libvirt, no Ansible.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx

STATES = {0: "nostate", 1: "running", 2: "blocked", 3: "paused", 4: "shutdown", 5: "shutoff",
          6: "crashed", 7: "pmsuspended"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def safe(name):
    """A group-name-safe form: anything but letters, digits and ``_`` becomes ``_``."""
    return _UNSAFE.sub("_", str(name))


def hypervisor_name(uri):
    """A short name for a hypervisor known only by its URI: the host part, else the file
    (``test:///path/hv7.xml`` -> ``hv7``), else the whole URI made safe."""
    match = re.match(r"^[a-z0-9+]+://(?:[^@/]*@)?([^/:?]*)(?::\d+)?(/[^?]*)?", uri or "")
    if match and match.group(1):
        return match.group(1)
    if match and match.group(2) and match.group(2) not in ("/system", "/session"):
        return re.sub(r"\.xml$", "", match.group(2).rstrip("/").rsplit("/", 1)[-1])
    return safe(uri)


def record(xml, state, hypervisor, uri, addresses=None):
    """The inventory record of one domain.

    ``state``: libvirt's number; ``addresses``: ``virDomainInterfaceAddresses``'s
    dict (``{ifname: {"hwaddr", "addrs": [{"addr", "prefix", "type"}]}}``) or None.
    """
    root = dx.parse(xml)
    meta = dx.read_metadata(root)
    vcpu = root.find("vcpu")
    max_vcpus = int(vcpu.text) if vcpu is not None and (vcpu.text or "").strip() else None
    by_mac = {}
    for value in (addresses or {}).values():
        mac = (value.get("hwaddr") or "").lower()
        for addr in value.get("addrs") or []:
            by_mac.setdefault(mac, []).append(addr["addr"])
    interfaces = []
    for node in root.findall("devices/interface"):
        mac = node.find("mac")
        mac = mac.get("address").lower() if mac is not None else None
        source = node.find("source")
        model = node.find("model")
        interfaces.append({"mac": mac,
                           "network": source.get("network") if source is not None else None,
                           "bridge": source.get("bridge") if source is not None else None,
                           "model": model.get("type") if model is not None else None,
                           "addresses": by_mac.get(mac, [])})
    memory = dx.memory_kib(root, "currentMemory") or dx.memory_kib(root, "memory") or 0
    # Kept small: every key of every VM is copied, checked and (with --list) printed by
    # ansible-core, which is most of an inventory's time at 10000 VMs.
    return {
        "name": dx.get_text(root, "name"), "uuid": dx.get_text(root, "uuid"),
        "state": STATES.get(state, "unknown"), "hypervisor": hypervisor, "uri": uri,
        "vcpus": int(vcpu.get("current", max_vcpus)) if max_vcpus else None,
        "memory_mib": memory // 1024, "description": dx.get_text(root, "description"),
        "tags": meta.get("tags", []), "resource_group": meta.get("resource_group"),
        "sla": meta.get("sla"), "owner": meta.get("owner"), "template": meta.get("template") == "true",
        "os": meta.get("os"), "extra": meta.get("extra", {}), "interfaces": interfaces,
    }


def address(rec, family=4):
    """The first address of the VM that a connection could use: IPv``family``, not loopback
    nor link-local, in the order of the VM's NICs."""
    for nic in rec["interfaces"]:
        for text in nic["addresses"]:
            try:
                addr = ipaddress.ip_address(text)
            except ValueError:
                continue
            if addr.version == family and not (addr.is_loopback or addr.is_link_local):
                return text
    return None


def inventory_names(records):
    """``[(inventory name, record)]``, and warnings.

    VM names are unique per hypervisor only.  When two hypervisors report the same name
    (a VM defined on both, or caught mid-migration), the running one keeps the plain name
    and the others become ``name@hypervisor``.
    """
    by_name = {}
    for rec in records:
        by_name.setdefault(rec["name"], []).append(rec)
    named, warnings = [], []
    for name in sorted(by_name):
        found = sorted(by_name[name], key=lambda r: (r["state"] != "running", r["hypervisor"]))
        named.append((name, found[0]))
        for other in found[1:]:
            named.append(("%s@%s" % (name, other["hypervisor"]), other))
        if len(found) > 1:
            warnings.append("vm %s is on %s: the %s one is %s, the others are named name@hypervisor"
                            % (name, ", ".join(r["hypervisor"] for r in found), found[0]["state"], name))
    return named, warnings


def groups(rec, prefix=""):
    """The groups of a VM: all VMs, its hypervisor, state, resource group, tags and SLA class."""
    found = [prefix + "libvirt_vms", prefix + "hypervisor_" + safe(rec["hypervisor"]), prefix + "state_" + safe(rec["state"])]
    if rec["resource_group"]:
        found.append(prefix + "resource_group_" + safe(rec["resource_group"]))
    found.extend(prefix + "tag_" + safe(tag) for tag in rec["tags"] if tag)
    if rec["sla"]:
        found.append(prefix + "sla_" + safe(rec["sla"]))
    if rec["template"]:
        found.append(prefix + "templates")
    return found


AGENT_CONNECTION = "hotiron.virt.qemu_ga"


def host_vars(rec, agent_connection=False):
    """``hotiron_vm`` (the record) and, where an address is known, ``ansible_host``;
    ``hotiron_guest`` when the record has the guest agent's facts; with ``agent_connection``,
    the variables of the guest-agent connection plugin (its URI and the VM's libvirt name, which
    differs from the inventory name for ``name@hypervisor``)."""
    rec = dict(rec)
    values = {}
    if "guest" in rec:
        values["hotiron_guest"] = rec.pop("guest")
    values["hotiron_vm"] = rec
    addr = address(rec) or address(rec, 6)
    if addr:
        values["ansible_host"] = addr
    if agent_connection:
        values.update(ansible_connection=AGENT_CONNECTION, hotiron_qemu_ga_uri=rec["uri"],
                      hotiron_qemu_ga_domain=rec["name"])
    return values
