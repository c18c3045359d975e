# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A VM's cloud-init personalisation (the ``cloud_init`` option) as a NoCloud seed: pure.

The seed is an ISO9660 volume labelled ``cidata`` (:mod:`storage.iso9660`) holding
``meta-data`` (``instance-id``, ``local-hostname``), ``user-data`` (``#cloud-config``: users and
SSH keys) and, when a network is given, ``network-config`` (version 2).  The typed options cover
the common cases; ``user_data``, ``meta_data`` and ``network_config`` give the raw documents for
the rest.  Documents are written as JSON (valid YAML, which cloud-init reads) with sorted keys:
the same options give the same bytes, so the seed's SHA-256 (kept in the VM's metadata as
``cloud_init_seed``) says whether anything changed.

cloud-init acts on a seed at the first boot of an instance (``instance-id``, by default the VM's
name): a changed seed reaches a running or already booted guest only through cloud-init's
per-boot modules or with a new ``instance_id``.
"""

from __future__ import annotations

import hashlib
import json
import re

from ansible_collections.hotiron.virt.plugins.module_utils.vm.values import SpecError

SEED_LABEL = "cidata"
METADATA_KEY = "cloud_init_seed"
_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_MAC_RE = re.compile(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")
_KEY_RE = re.compile(r"^(ssh-|ecdsa-|sk-)\S+ \S+")


def secrets(entries):
    """The ``cloud_init.user_data`` strings of ``entries`` (option dicts of VMs, as ``vms`` takes
    them untyped): values Ansible must mask in the result and the diff, as it does for vm's
    ``no_log`` option."""
    found = set()
    for entry in entries:
        data = (entry or {}).get("cloud_init") if isinstance(entry, dict) else None
        if isinstance(data, dict) and isinstance(data.get("user_data"), str) and data["user_data"]:
            found.add(data["user_data"])
    return found


def validate(value, vm_name):
    """The normalised ``cloud_init`` option, or None when it is not given.  Raises SpecError."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SpecError("cloud_init", "expected a dictionary")
    hostname = value.get("hostname")
    if hostname is not None and not _HOSTNAME_RE.match(hostname):
        raise SpecError("cloud_init.hostname", "%r is not a host name (letters, digits, '-', dots between labels)" % hostname)
    if value.get("user_data") is not None and (value.get("users") or value.get("ssh_authorized_keys")):
        raise SpecError("cloud_init.user_data", "give either user_data or users/ssh_authorized_keys (they write the same document)")
    if value.get("network_config") is not None and value.get("network"):
        raise SpecError("cloud_init.network_config", "give either network_config or network")
    instance_id = value.get("instance_id") or vm_name
    if not instance_id.strip() or "\n" in instance_id:
        raise SpecError("cloud_init.instance_id", "must be a non-empty single line")
    users = [_validate_user(u, i) for i, u in enumerate(value.get("users") or [])]
    names = [u["name"] for u in users]
    if len(names) != len(set(names)):
        raise SpecError("cloud_init.users", "two users have the same name")
    keys = [_validate_key(k, "cloud_init.ssh_authorized_keys[%d]" % i) for i, k in enumerate(value.get("ssh_authorized_keys") or [])]
    network = [_validate_nic(n, i) for i, n in enumerate(value.get("network") or [])]
    for key in ("meta_data", "network_config"):
        if value.get(key) is not None and not isinstance(value[key], dict):
            raise SpecError("cloud_init." + key, "expected a dictionary")
    if value.get("network_config") is not None and value["network_config"].get("version") not in (1, 2):
        raise SpecError("cloud_init.network_config", "needs version 1 or 2 (cloud-init's network config formats)")
    return {"hostname": hostname, "instance_id": instance_id, "users": users, "ssh_authorized_keys": keys,
            "network": network, "user_data": value.get("user_data"), "meta_data": value.get("meta_data"),
            "network_config": value.get("network_config"), "pool": value.get("pool")}


def _validate_key(key, param):
    if not isinstance(key, str) or not _KEY_RE.match(key.strip()) or "\n" in key.strip():
        raise SpecError(param, "not an OpenSSH public key (type, base64 key and an optional comment on one line)")
    return key.strip()


def _validate_user(user, i):
    p = "cloud_init.users[%d]" % i
    if not isinstance(user, dict) or not user.get("name"):
        raise SpecError(p, "needs a name")
    if not _USER_RE.match(user["name"]):
        raise SpecError(p + ".name", "%r is not a user name (lower-case letters, digits, '_' and '-')" % user["name"])
    out = {"name": user["name"]}
    keys = [_validate_key(k, "%s.ssh_authorized_keys[%d]" % (p, j)) for j, k in enumerate(user.get("ssh_authorized_keys") or [])]
    if keys:
        out["ssh_authorized_keys"] = keys
    for key in ("sudo", "shell"):
        if user.get(key):
            out[key] = user[key]
    if user.get("groups"):
        out["groups"] = ", ".join(user["groups"])
    return out


def _validate_nic(nic, i):
    import ipaddress    # here: most runs have no cloud_init network
    p = "cloud_init.network[%d]" % i
    if not isinstance(nic, dict):
        raise SpecError(p, "expected a dictionary")
    if bool(nic.get("mac")) == bool(nic.get("name")):
        raise SpecError(p, "give either mac or name of the guest's interface")
    if nic.get("mac") and not _MAC_RE.match(nic["mac"]):
        raise SpecError(p + ".mac", "%r is not a MAC address like 52:54:00:12:34:56" % nic["mac"])
    if nic.get("name") and not _IFNAME_RE.match(nic["name"]):
        raise SpecError(p + ".name", "%r is not an interface name" % nic["name"])
    addresses = []
    for j, text in enumerate(nic.get("addresses") or []):
        try:
            addresses.append(str(ipaddress.ip_interface(text)))
        except ValueError:
            raise SpecError("%s.addresses[%d]" % (p, j), "%r is not an address with a prefix like 192.0.2.10/24" % text) from None
        if "/" not in text:
            raise SpecError("%s.addresses[%d]" % (p, j), "%r needs a prefix length, like 192.0.2.10/24" % text)
    gateway, nameservers = nic.get("gateway"), []
    try:
        if gateway:
            gateway = str(ipaddress.ip_address(gateway))
        nameservers = [str(ipaddress.ip_address(a)) for a in nic.get("nameservers") or []]
    except ValueError as err:
        raise SpecError(p, str(err)) from None
    dhcp = nic.get("dhcp")
    if dhcp is None:
        dhcp = not addresses
    if not dhcp and not addresses:
        raise SpecError(p, "neither dhcp nor addresses: the interface would have no address")
    return {"mac": nic["mac"].lower() if nic.get("mac") else None, "name": nic.get("name"), "dhcp": bool(dhcp),
            "addresses": addresses, "gateway": gateway, "nameservers": nameservers}


def _document(value):
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def network_config(network):
    """cloud-init network config version 2 of the typed ``network`` list."""
    ethernets = {}
    for i, nic in enumerate(network):
        entry = {"match": {"macaddress": nic["mac"]}, "set-name": "eth%d" % i} if nic["mac"] else {"match": {"name": nic["name"]}}
        entry["dhcp4"] = nic["dhcp"]
        if nic["addresses"]:
            entry["addresses"] = nic["addresses"]
        if nic["gateway"]:
            entry["routes"] = [{"to": "default" if ":" not in nic["gateway"] else "::/0", "via": nic["gateway"]}]
        if nic["nameservers"]:
            entry["nameservers"] = {"addresses": nic["nameservers"]}
        ethernets[nic["name"] or "nic%d" % i] = entry
    return {"version": 2, "ethernets": ethernets}


def seed_files(config):
    """{file name: text} of the NoCloud seed of a validated ``cloud_init`` option."""
    meta = {"instance-id": config["instance_id"]}
    if config["hostname"]:
        meta["local-hostname"] = config["hostname"]
    meta.update(config["meta_data"] or {})
    files = {"meta-data": _document(meta)}
    if config["user_data"] is not None:
        files["user-data"] = config["user_data"]
    else:
        cloud = {}
        if config["hostname"]:
            cloud["hostname"] = config["hostname"].split(".")[0]
            if "." in config["hostname"]:
                cloud["fqdn"] = config["hostname"]
        if config["users"]:
            # The image's default user (debian, ubuntu, ...) stays when the top-level keys are for it.
            cloud["users"] = (["default"] if config["ssh_authorized_keys"] else []) + config["users"]
        if config["ssh_authorized_keys"]:
            cloud["ssh_authorized_keys"] = config["ssh_authorized_keys"]
        files["user-data"] = "#cloud-config\n" + _document(cloud)
    if config["network_config"] is not None:
        files["network-config"] = _document(config["network_config"])
    elif config["network"]:
        files["network-config"] = _document(network_config(config["network"]))
    return files


def seed(config):
    """(ISO bytes, SHA-256 hex digest, files) of the seed of a validated ``cloud_init`` option."""
    files = seed_files(config)
    from ansible_collections.hotiron.virt.plugins.module_utils.storage import iso9660  # a seed to write
    data = iso9660.build(files, SEED_LABEL)
    return data, hashlib.sha256(data).hexdigest(), files


def volume_name(vm_name):
    return "%s-cidata.iso" % vm_name


def diff_text(files):
    """The seed's documents as text for diff mode."""
    if not files:
        return ""
    return "".join("# cloud-init seed: %s\n%s%s" % (name, text, "" if text.endswith("\n") else "\n")
                   for name, text in sorted(files.items()))
