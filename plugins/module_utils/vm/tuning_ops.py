# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tuning options against a host: what must exist there before anything changes (host
devices, an IOMMU for PCI passthrough, the hugepage size), and the changes applied to a running
guest through the domain layer (pinning, lifecycle actions).  The decisions are :mod:`tuning`'s.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.libvirt_common import libvirt
from ansible_collections.hotiron.virt.plugins.module_utils.vm import tuning as vt
from ansible_collections.hotiron.virt.plugins.module_utils.vm import tuning_xml as tx

LIVE_FIELDS = vt.LIVE_FIELDS      # the changes apply_live makes


def check_host(conn, tuning, host, resolved):
    """Read-only checks of the tuning options against the host (SpecError naming the option);
    records the host's CPU count in ``resolved`` for :func:`tuning_xml.apply`."""
    resolved["host_cpus"] = host.get("cpus")
    if vt.is_empty(tuning):
        return
    if tuning.get("tpm") or tuning.get("filesystems"):
        vt.check_domain_caps(tuning, _offered(conn, resolved))
    need_caps = tuning.get("hostdevs") or (tuning.get("memory_backing") or {}).get("hugepage_kib")
    if not need_caps:
        return
    with lc.attempt("read the capabilities of %s" % lc.safe_uri(conn)):
        caps = dx.parse(conn.getCapabilities())
    iommu = caps.find("host/iommu")
    vt.check_hugepages(tuning.get("memory_backing"), {int(p.get("size")) for p in caps.findall("host/cpu/pages")
                                                      if p.get("unit", "KiB") == "KiB"})
    if tuning.get("hostdevs"):
        vt.check_hostdevs(tuning["hostdevs"], None if iommu is None else iommu.get("support") == "yes",
                          lambda address: _pci_present(conn, address), _usb_devices(conn))


def _offered(conn, resolved):
    """TPM models and backends and filesystem drivers from the domain capabilities for the VM's
    arch, machine and type; ``None`` where the driver has none (libvirt 9's test driver), each
    of them ``None`` where the capabilities leave its device out."""
    try:
        caps = conn.getDomainCapabilities(None, resolved.get("arch"), resolved.get("machine"),
                                          resolved.get("domain_type"), 0)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
            return None
        raise lc.wrap_libvirt_error("read the domain capabilities of %s" % lc.safe_uri(conn), err) from err
    return tx.offered(dx.parse(caps))


def _pci_present(conn, address):
    name = "pci_" + address.replace(":", "_").replace(".", "_")
    try:
        conn.nodeDeviceLookupByName(name)
        return True
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_NODE_DEVICE:
            return False
        raise lc.wrap_libvirt_error("look up host device %s on %s" % (name, lc.safe_uri(conn)), err) from err


def _usb_devices(conn):
    """``usb_present(vendor, product)`` over the host's USB devices (read once, when asked)."""
    found = []

    def present(vendor, product):
        if not found:
            with lc.attempt("list the USB devices of %s" % lc.safe_uri(conn)):
                devices = conn.listAllDevices(libvirt.VIR_CONNECT_LIST_NODE_DEVICES_CAP_USB_DEV)
                found.append({_usb_ids(dx.parse(d.XMLDesc(0))) for d in devices})
        return (vendor, product) in found[0]
    return present


def _usb_ids(root):
    cap = root.find("capability")
    ids = []
    for tag in ("vendor", "product"):
        node = cap.find(tag) if cap is not None else None
        ids.append(("0x%04x" % int(node.get("id"), 16)) if node is not None and node.get("id") else None)
    return tuple(ids)


def apply_live(guest, change):
    """Apply one live change (:data:`tuning.LIVE_FIELDS`) to the running guest."""
    field, before, after = change["field"], change["before"], change["after"]
    if field == "vcpupin":
        before, after = before or {}, after or {}
        for vcpu in sorted(set(before) | set(after)):
            if before.get(vcpu) != after.get(vcpu):
                cpus = vt.parse_cpuset(after[vcpu], "cputune.vcpupin") if after.get(vcpu) else ()
                guest.pin_vcpu_live(vcpu, set(cpus))
    elif field == "emulatorpin":
        guest.pin_emulator_live(set(vt.parse_cpuset(after, "cputune.emulatorpin")) if after else set())
    else:
        guest.set_lifecycle_action_live(field, after)
