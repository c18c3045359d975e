# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a VM spec means, as plain data: the options of hotiron.virt.vm checked and normalised.

Nothing here talks to libvirt or Ansible.  The spec is then resolved against the host
(:mod:`vm_host`), written into domain XML (:mod:`vm_xml`) and compared with the current
definition (:mod:`vm_plan`) by :mod:`vm_ops`; the options that say how the collection treats the
VM (HA, SLA, lifecycle, tags) are :mod:`vm_policy`'s.

Conventions:
* an option left out (``None``) is not managed: an existing VM keeps what it
  has; a new VM gets the default of its OS profile;
* sizes are bytes internally, KiB in the XML (see :mod:`vm_values`).
"""

from __future__ import annotations

import re

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils.vm import args as vm_args
from ansible_collections.hotiron.virt.plugins.module_utils.vm import boot as vm_boot
from ansible_collections.hotiron.virt.plugins.module_utils.vm import cloud_init
from ansible_collections.hotiron.virt.plugins.module_utils.vm import policy as vm_policy
from ansible_collections.hotiron.virt.plugins.module_utils.vm import power
from ansible_collections.hotiron.virt.plugins.module_utils.vm import tuning as vm_tuning
from ansible_collections.hotiron.virt.plugins.module_utils.vm.host_fit import ARCHES
from ansible_collections.hotiron.virt.plugins.module_utils.vm.values import (  # noqa: F401 (re-exported)
    GIB,
    MIB,
    SpecError,
    choice as _choice,
    parse_size,
    positive_int as _positive_int,
)

DEFAULT_LIMITS = {"max_vcpus": 8, "max_memory": 96 * GIB}

OS_PROFILES = ("linux", "windows", "other")
CPU_MODES = ("host-passthrough", "host-model", "custom")
DISK_BUSES = ("virtio", "sata", "scsi", "ide", "usb")
DISK_FORMATS = ("raw", "qcow2")
DISK_CACHES = ("default", "none", "writethrough", "writeback", "directsync", "unsafe")
NIC_MODELS = ("virtio", "e1000e", "e1000", "rtl8139", "vmxnet3", "pcnet")  # pcnet, vmxnet3: imported VMware guests
GRAPHICS = ("none", "vnc", "spice")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,62}$")
_VOLUME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,250}$")
_MAC_RE = re.compile(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")


def validate(params):
    """Check module parameters and return the normalised spec (a dict).

    Raises SpecError naming the parameter.  Argument-spec types are checked
    by Ansible already; this checks meaning (sizes, names, combinations).
    """
    name = params.get("name")
    if not name or not _NAME_RE.match(name):
        raise SpecError("name", "%r is not a usable VM name: 1-63 letters, digits, '.', '_', '+' or '-',"
                        " starting with a letter or digit" % (name,))
    spec = {"name": name}
    spec["vcpus"] = _positive_int(params.get("vcpus"), "vcpus")
    spec["max_vcpus"] = _positive_int(params.get("max_vcpus"), "max_vcpus")
    if spec["vcpus"] and spec["max_vcpus"] and spec["vcpus"] > spec["max_vcpus"]:
        raise SpecError("vcpus", "%d is more than max_vcpus %d" % (spec["vcpus"], spec["max_vcpus"]))
    spec["memory"] = parse_size(params["memory"], "memory") if params.get("memory") is not None else None
    spec["max_memory"] = parse_size(params["max_memory"], "max_memory") if params.get("max_memory") is not None else None
    if spec["memory"] and spec["max_memory"] and spec["memory"] > spec["max_memory"]:
        raise SpecError("memory", "%s is more than max_memory %s" % (params["memory"], params["max_memory"]))
    for key in ("memory", "max_memory"):
        if spec[key] is not None and spec[key] < 16 * MIB:
            raise SpecError(key, "%s is below the 16MiB minimum" % params[key])

    spec["cpu"] = _validate_cpu(params.get("cpu"))
    spec["arch"] = _choice(params.get("arch"), ARCHES, "arch")
    spec["machine"] = params.get("machine")
    spec["firmware"] = _choice(params.get("firmware"), ("bios", "uefi"), "firmware")
    spec["os"] = _choice(params.get("os"), OS_PROFILES, "os")
    spec["virtio"] = params.get("virtio")
    spec["domain_type"] = params.get("domain_type")
    spec["console"] = params.get("console")
    spec["graphics"] = _choice(params.get("graphics"), GRAPHICS, "graphics")
    spec["autostart"] = params.get("autostart")
    spec["description"] = params.get("description")
    spec["disks"] = _validate_disks(params.get("disks"))
    spec["interfaces"] = _validate_interfaces(params.get("interfaces"))
    spec["metadata"], spec["policy_xml"] = vm_policy.validate(params)
    spec["xml_mode"] = _choice(params.get("xml_mode") or "merge", ("merge", "full"), "xml_mode")
    if spec["xml_mode"] == "full":
        spec["xml"] = _validate_full_xml(params, name, spec["policy_xml"])
    else:
        spec["xml"] = _validate_xml(params.get("xml"))
    spec["tuning"] = vm_tuning.validate(params)
    spec["clone_from"] = params.get("clone_from")
    spec["clone"] = _choice(params.get("clone") or "linked", ("linked", "full"), "clone")
    spec["pool"] = params.get("pool")
    if spec["clone_from"] and spec["disks"] is not None:
        raise SpecError("disks", "cannot be combined with clone_from: the clone's disks come from the template")
    spec["limits"] = _validate_limits(params.get("limits"))
    spec["overcommit"] = bool(params.get("overcommit"))
    spec["wait"] = params.get("wait") is not False
    power.check_wait(params)
    spec["boot"] = vm_boot.validate(params)
    spec["cloud_init"] = cloud_init.validate(params.get("cloud_init"), name)
    if params.get("shutdown_timeout") is not None and params["shutdown_timeout"] < 0:
        raise SpecError("shutdown_timeout", "must be 0 or more seconds, got %r" % params["shutdown_timeout"])
    return spec


def _validate_cpu(cpu):
    if not cpu:
        return None
    _choice(cpu.get("mode"), CPU_MODES, "cpu.mode")
    if cpu.get("mode") == "custom" and not cpu.get("model"):
        raise SpecError("cpu.model", "required when cpu.mode is custom")
    if cpu.get("model") and cpu.get("mode") not in (None, "custom"):
        raise SpecError("cpu.model", "only used with cpu.mode custom")
    return {"mode": cpu.get("mode") or "custom", "model": cpu.get("model")}


def _validate_xml(xml):
    """The ``xml`` patch: a well-formed <domain> that leaves name and uuid to the module."""
    if xml:
        try:
            patch = dx.parse(xml)
        except dx.XMLError as err:
            raise SpecError("xml", str(err)) from None
        if patch.tag != "domain":
            raise SpecError("xml", "the root element must be <domain>, got <%s>" % patch.tag)
        if patch.find("name") is not None or patch.find("uuid") is not None:
            raise SpecError("xml", "must not set <name> or <uuid>; use the name option")
    return xml


def _validate_full_xml(params, name, policy_xml):
    """``xml`` with ``xml_mode=full``: a complete <domain> named as the VM, and no option beside it
    that writes the definition (see vm.args.FULL_XML_OPTIONS)."""
    xml = params.get("xml")
    if not xml:
        raise SpecError("xml", "xml_mode full needs xml: the complete domain XML (as virsh dumpxml gives it)")
    try:
        root = dx.parse(xml)
    except dx.XMLError as err:
        raise SpecError("xml", str(err)) from None
    if root.tag != "domain":
        raise SpecError("xml", "the root element must be <domain>, got <%s>" % root.tag)
    named = dx.get_text(root, "name")
    if named is not None and named != name:
        raise SpecError("xml", "<name> is %r but the name option is %r: they must be the same" % (named, name))
    conflicts = vm_args.full_xml_conflicts(params)
    if conflicts:
        raise SpecError(conflicts[0], "cannot be combined with xml_mode full, where the xml is the whole definition"
                        " (given: %s): write %s into the xml" % (", ".join(conflicts), "them" if len(conflicts) > 1 else "it"))
    on_crash = dx.get_text(root, "on_crash")
    if policy_xml.get("on_crash") and on_crash not in (None, policy_xml["on_crash"]):
        raise SpecError("ha", "true needs <on_crash>destroy</on_crash>, but the xml says %s" % on_crash)
    shares = dx.get_text(root, "cputune/shares")
    if policy_xml.get("cpu_shares") is not None and shares not in (None, str(policy_xml["cpu_shares"])):
        raise SpecError("cpu_shares" if params.get("cpu_shares") is not None else "sla",
                        "sets CPU shares %s, but the xml's <cputune><shares> is %s" % (policy_xml["cpu_shares"], shares))
    return xml


def _validate_disks(disks):
    if disks is None:
        return None
    result = []
    for i, disk in enumerate(disks):
        p = "disks[%d]" % i
        if not isinstance(disk, dict):
            raise SpecError(p, "expected a dictionary")
        has_volume = bool(disk.get("pool") or disk.get("volume"))
        if has_volume == bool(disk.get("path")):
            raise SpecError(p, "give either pool and volume, or path")
        if has_volume and not (disk.get("pool") and disk.get("volume")):
            raise SpecError(p + (".volume" if disk.get("pool") else ".pool"), "pool and volume go together")
        if disk.get("volume") and not _VOLUME_RE.match(disk["volume"]):
            raise SpecError(p + ".volume", "%r is not a usable volume name" % disk["volume"])
        if disk.get("path") and not disk["path"].startswith("/"):
            raise SpecError(p + ".path", "must be an absolute path, got %r" % disk["path"])
        out = {
            "pool": disk.get("pool"), "volume": disk.get("volume"), "path": disk.get("path"),
            "size": parse_size(disk["size"], p + ".size") if disk.get("size") is not None else None,
            "format": _choice(disk.get("format"), DISK_FORMATS, p + ".format"),
            "bus": _choice(disk.get("bus"), DISK_BUSES, p + ".bus"),
            "cache": _choice(disk.get("cache"), DISK_CACHES, p + ".cache"),
            "device": _choice(disk.get("device") or "disk", ("disk", "cdrom"), p + ".device"),
            "readonly": bool(disk.get("readonly")),
            "boot_order": _positive_int(disk.get("boot_order"), p + ".boot_order"),
            "target": disk.get("target"),
        }
        if out["device"] == "cdrom":
            out["readonly"] = True
        result.append(out)
    targets = [d["target"] for d in result if d["target"]]
    if len(targets) != len(set(targets)):
        raise SpecError("disks", "two disks have the same target %s" % targets)
    orders = [d["boot_order"] for d in result if d["boot_order"]]
    if len(orders) != len(set(orders)):
        raise SpecError("disks", "two disks have the same boot_order")
    return result


def _validate_interfaces(nics):
    if nics is None:
        return None
    result = []
    for i, nic in enumerate(nics):
        p = "interfaces[%d]" % i
        if not isinstance(nic, dict):
            raise SpecError(p, "expected a dictionary")
        if bool(nic.get("network")) == bool(nic.get("bridge")):
            raise SpecError(p, "give either network or bridge")
        mac = nic.get("mac")
        if mac and not _MAC_RE.match(mac):
            raise SpecError(p + ".mac", "%r is not a MAC address like 52:54:00:12:34:56" % mac)
        result.append({
            "network": nic.get("network"), "bridge": nic.get("bridge"),
            "model": _choice(nic.get("model"), NIC_MODELS, p + ".model"),
            "mac": mac.lower() if mac else None,
        })
    macs = [n["mac"] for n in result if n["mac"]]
    if len(macs) != len(set(macs)):
        raise SpecError("interfaces", "two interfaces have the same mac")
    return result


def _validate_limits(limits):
    result = dict(DEFAULT_LIMITS)
    if limits:
        if limits.get("max_vcpus") is not None:
            result["max_vcpus"] = _positive_int(limits["max_vcpus"], "limits.max_vcpus")
        if limits.get("max_memory") is not None:
            result["max_memory"] = parse_size(limits["max_memory"], "limits.max_memory")
    return result
