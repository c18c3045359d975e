# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of a VM, shared by hotiron.virt.vm (one VM) and hotiron.virt.vms (many).

Plain data: the argument spec AnsibleModule validates ``vm``'s parameters with,
and that ``vms`` validates each of its entries with, so both accept and refuse
exactly the same input.  Numbers carry their ranges (``min``/``max``, see
:mod:`arg_ranges`).
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils.vm import option_specs

MUTUALLY_EXCLUSIVE = [("disks", "clone_from")]
# The NIC models a VM spec can declare (vm_spec.NIC_MODELS says the same; a unit test checks).
NIC_MODEL_CHOICES = ["virtio", "e1000e", "e1000", "rtl8139", "vmxnet3", "pcnet"]


# With xml_mode=full the XML is the whole definition: only these options may be given beside it
# (naming, power, removal, checks, and what lives in the collection's metadata).  Every other
# option writes the definition and is refused, so an option added later is refused too until it is
# listed here (tuning options belong in the XML then).
FULL_XML_OPTIONS = frozenset((
    "name", "state", "autostart", "xml", "xml_mode", "shutdown_timeout", "force", "wait", "remove_volumes",
    "remove_disks", "keep_nvram", "limits", "overcommit",
    "tags", "owner", "resource_group", "ha_priority", "template", "metadata", "ha", "restart_limit", "sla",
    "cpu_shares", "cpu_reservation", "expires", "purpose",
))


def full_xml_conflicts(params):
    """The options given beside ``xml_mode=full`` that would write the definition (sorted);
    an option left at its default is not counted."""
    options = vm_options()
    return sorted(key for key, opt in options.items()
                  if key not in FULL_XML_OPTIONS and params.get(key) is not None and params.get(key) != opt.get("default"))


def vm_options():
    """The options of one VM (hotiron.virt.vm without the connection options)."""
    disk = dict(
        pool=dict(type="str"), volume=dict(type="str"), path=dict(type="str"), size=dict(type="str"),
        format=dict(type="str", choices=["raw", "qcow2"]),
        bus=dict(type="str", choices=["virtio", "sata", "scsi", "ide", "usb"]),
        cache=dict(type="str", choices=["default", "none", "writethrough", "writeback", "directsync", "unsafe"]),
        device=dict(type="str", choices=["disk", "cdrom"], default="disk"),
        readonly=dict(type="bool", default=False), boot_order=dict(type="int", min=1, max=64), target=dict(type="str"),
    )
    nic = dict(network=dict(type="str"), bridge=dict(type="str"), mac=dict(type="str"),
               model=dict(type="str", choices=list(NIC_MODEL_CHOICES)),
               boot_order=dict(type="int", min=1, max=64))
    options = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present",
                   choices=["present", "running", "stopped", "paused", "restarted", "absent"]),
        vcpus=dict(type="int", min=1, max=4096), max_vcpus=dict(type="int", min=1, max=4096),
        memory=dict(type="str"), max_memory=dict(type="str"),
        cpu=dict(type="dict", options=dict(mode=dict(type="str", choices=["host-passthrough", "host-model", "custom"]),
                                           model=dict(type="str"))),
        arch=dict(type="str", choices=["x86_64", "i686"]), machine=dict(type="str"), domain_type=dict(type="str"),
        firmware=dict(type="str", choices=["bios", "uefi"]),
        os=dict(type="str", choices=["linux", "windows", "other"]), virtio=dict(type="bool"),
        disks=dict(type="list", elements="dict", options=disk),
        interfaces=dict(type="list", elements="dict", options=nic),
        console=dict(type="bool"), graphics=dict(type="str", choices=["none", "vnc", "spice"]),
        autostart=dict(type="bool"), description=dict(type="str"),
        tags=dict(type="list", elements="str"), owner=dict(type="str"), resource_group=dict(type="str"),
        ha_priority=dict(type="int", min=0, max=1000), template=dict(type="bool"), metadata=dict(type="dict"),
        ha=dict(type="bool"),
        restart_limit=dict(type="dict", options=dict(count=dict(type="int", min=1, max=100),
                                                     window=dict(type="int", min=1, max=604800))),
        sla=dict(type="str"), cpu_shares=dict(type="int", min=2, max=262144),
        cpu_reservation=dict(type="float", min=0, max=4096),
        expires=dict(type="str"), purpose=dict(type="str"),
        xml=dict(type="str"), xml_mode=dict(type="str", choices=["merge", "full"], default="merge"),
        clone_from=dict(type="str"), clone=dict(type="str", choices=["linked", "full"], default="linked"),
        pool=dict(type="str"),
        remove_volumes=dict(type="bool", default=False), remove_disks=dict(type="bool", default=False),
        keep_nvram=dict(type="bool", default=False),
        shutdown_timeout=dict(type="int", default=120, min=0, max=86400), force=dict(type="bool", default=False),
        wait=dict(type="bool", default=True),
        limits=dict(type="dict", options=dict(max_vcpus=dict(type="int", default=8, min=1, max=4096),
                                              max_memory=dict(type="str", default="96GiB"))),
        overcommit=dict(type="bool", default=False),
        cloud_init=option_specs.cloud_init_options(), boot=option_specs.boot_options(),
    )
    options.update(option_specs.tuning_options())  # NUMA, pinning, devices, lifecycle: vm/option_specs.py
    return options
