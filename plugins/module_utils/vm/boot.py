# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a VM boots (the ``boot`` option and ``interfaces[].boot_order``): pure.

- ``boot.order``: the firmware's device order (``<os><boot dev=.../>``), e.g. ``[network, hd]``
  for PXE first, ``[cdrom, hd]`` to install from an ISO.  libvirt refuses it together with
  per-device boot orders, so giving it removes those (``disks[].boot_order``, including the one a
  new VM's first disk gets, and ``interfaces[].boot_order``); the two cannot be given together.
- ``interfaces[].boot_order``: PXE from that NIC at that place among the devices.
- ``boot.kernel``/``initrd``/``cmdline``: direct kernel boot from files on the host; an empty
  ``kernel`` goes back to booting from the devices.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils.vm.values import SpecError

from ansible_collections.hotiron.virt.plugins.module_utils.vm.option_specs import BOOT_DEVICES  # noqa: F401 (re-exported)


def validate(params):
    """``{"order", "kernel", "initrd", "cmdline", "nic_orders"}`` (None: not managed), or None when
    neither ``boot`` nor an interface boot order is given.  Raises SpecError."""
    boot = params.get("boot") or {}
    nic_orders = [nic.get("boot_order") if isinstance(nic, dict) else None for nic in params.get("interfaces") or []]
    if not boot and not any(nic_orders):
        return None
    order = boot.get("order")
    if order is not None:
        if not order:
            raise SpecError("boot.order", "give at least one device (%s)" % ", ".join(BOOT_DEVICES))
        for dev in order:
            if dev not in BOOT_DEVICES:
                raise SpecError("boot.order", "%r is not one of %s" % (dev, ", ".join(BOOT_DEVICES)))
        if len(order) != len(set(order)):
            raise SpecError("boot.order", "a device is named twice: %s" % order)
        explicit = [d.get("boot_order") for d in params.get("disks") or [] if isinstance(d, dict)] + nic_orders
        if any(explicit):
            raise SpecError("boot.order", "cannot be combined with disks[].boot_order or interfaces[].boot_order"
                            " (libvirt takes either the firmware's order or per-device orders)")
    for i, value in enumerate(nic_orders):
        if value is not None and not 1 <= value <= 64:
            raise SpecError("interfaces[%d].boot_order" % i, "must be 1 to 64, got %r" % value)
    disk_orders = [d.get("boot_order") for d in params.get("disks") or [] if isinstance(d, dict) and d.get("boot_order")]
    given = disk_orders + [v for v in nic_orders if v]
    if len(given) != len(set(given)):
        raise SpecError("interfaces", "a boot_order is used twice among the disks and interfaces: %s" % sorted(given))
    kernel, initrd, cmdline = boot.get("kernel"), boot.get("initrd"), boot.get("cmdline")
    for key, value in (("kernel", kernel), ("initrd", initrd)):
        if value and not value.startswith("/"):
            raise SpecError("boot." + key, "must be an absolute path on the host, got %r" % value)
    if (initrd or cmdline) and not kernel:
        raise SpecError("boot.kernel", "initrd and cmdline need a kernel (direct kernel boot)")
    if cmdline is not None and "\n" in cmdline:
        raise SpecError("boot.cmdline", "must be one line")
    return {"order": order, "kernel": kernel, "initrd": initrd, "cmdline": cmdline,
            "nic_orders": nic_orders, "disk_orders": disk_orders}


def apply(root, boot, interfaces=None):
    """Write ``boot`` (from :func:`validate`) into the domain ``root``; ``interfaces`` is the spec's
    NIC list (to find each NIC's node by MAC, else by position)."""
    if not boot:
        return root
    os_node = dx.find_or_create(root, "os")
    if boot["kernel"] is not None:
        if boot["kernel"]:
            _set_child(os_node, "kernel", boot["kernel"])
            for key in ("initrd", "cmdline"):
                if boot[key]:
                    _set_child(os_node, key, boot[key])
                else:
                    dx.remove_path(os_node, key)
        else:
            for key in ("kernel", "initrd", "cmdline"):
                dx.remove_path(os_node, key)
    devices = dx.find_or_create(root, "devices")
    if boot["order"] is not None:
        for node in list(devices):
            dx.remove_path(node, "boot")
        for node in os_node.findall("boot"):
            os_node.remove(node)
        for dev in boot["order"]:
            element = dx.parse("<boot/>")
            element.set("dev", dev)
            os_node.append(element)
        return root
    if any(boot["nic_orders"]):
        nodes = devices.findall("interface")
        taken = set()
        for i, order in enumerate(boot["nic_orders"]):
            if not order:
                continue
            mac = ((interfaces or [])[i] or {}).get("mac") if i < len(interfaces or []) else None
            node = next((n for n in nodes if n.find("mac") is not None and n.find("mac").get("address", "").lower() == mac),
                        None) if mac else (nodes[i] if i < len(nodes) else None)
            if node is None:
                continue
            dx.find_or_create(node, "boot").set("order", str(order))
            taken.add(order)
        # A disk's order nobody asked for (a new VM's first disk gets 1) makes way.
        taken |= set(boot["disk_orders"])
        for node in devices.findall("disk"):
            element = node.find("boot")
            if element is not None and int(element.get("order", "0")) in taken \
                    and int(element.get("order", "0")) not in boot["disk_orders"]:
                element.set("order", str(next(n for n in range(1, 65) if n not in taken)))
                taken.add(int(element.get("order")))
        for node in os_node.findall("boot"):
            os_node.remove(node)
    return root


def _set_child(os_node, tag, text):
    """Set ``<os><tag>``, placed where libvirt writes it (after type, loader and nvram)."""
    node = os_node.find(tag)
    if node is None:
        node = dx.parse("<%s/>" % tag)
        order = ("type", "firmware", "loader", "nvram", "kernel", "initrd", "cmdline")
        before = [i for i, child in enumerate(os_node) if child.tag in order[:order.index(tag)]]
        os_node.insert(before[-1] + 1 if before else 0, node)
    node.text = text
