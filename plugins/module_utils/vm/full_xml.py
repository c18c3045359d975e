# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A complete domain XML as the VM (``xml_mode: full``), as data: what an existing VM keeps, and
whether a stored definition already says everything the XML says.  Pure.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils.vm import policy as vm_policy
from ansible_collections.hotiron.virt.plugins.module_utils.vm.host_fit import expand_machine
from ansible_collections.hotiron.virt.plugins.module_utils.vm.values import SpecError

# What libvirt adds to a definition by itself: a stored element of these tags with no counterpart
# in the XML is not a difference (a controller, a PCI address, the default balloon...).  A tag
# given as (tag, text) counts only with that value (libvirt's default lifecycle actions).
GENERATED = frozenset((
    "uuid", "clock", "resource", "seclabel", "emulator", "controller", "input", "memballoon", "video",
    "console", "address", "alias", "target", "driver", "model", "audio", "currentMemory",
    ("on_poweroff", "destroy"), ("on_reboot", "restart"), ("on_crash", "destroy"),
))
# ... and these elements with these attributes (the boot device libvirt assumes).
GENERATED_WITH = {"boot": {"dev": "hd"}}
DEFAULT_CPU_MODELS = ("qemu64", "qemu32")


def prepare(spec, current, machines):
    """The definition to write, from the XML: named as the VM, the machine as libvirt stores it,
    and, for an existing VM (``current``, its parsed definition), what the XML leaves out kept -
    the UUID (a different one is refused: it would be another VM), the MAC addresses (given in
    order to the XML's interfaces without one), the collection's metadata (the XML's own and the
    task's metadata options win key by key) - then the task's HA and SLA settings."""
    root = dx.parse(spec["xml"])
    if root.find("name") is None:
        root.insert(0, dx.parse("<name/>"))
    root.find("name").text = spec["name"]
    meta = {}
    if current is not None:
        uuid, have = dx.get_text(root, "uuid"), dx.get_text(current, "uuid")
        if uuid and have and uuid.lower() != have.lower():
            raise SpecError("xml", "<uuid> %s is not the uuid of vm %s (%s): drop it to keep the vm's, or"
                            " remove the vm first" % (uuid, spec["name"], have))
        if not uuid and have:
            node = dx.parse("<uuid/>")
            node.text = have
            root.insert(list(root).index(root.find("name")) + 1, node)
        _keep_macs(root, current)
        meta = dx.read_metadata(current)
    meta.update(dx.read_metadata(root))
    meta.update(spec["metadata"])
    dx.write_metadata(root, meta)
    vm_policy.apply(root, spec["policy_xml"])
    expand_machine(root, machines)
    return root


def _keep_macs(root, current):
    old = [n.find("mac").get("address").lower() for n in current.findall("devices/interface") if n.find("mac") is not None]
    taken = {n.find("mac").get("address").lower() for n in root.findall("devices/interface") if n.find("mac") is not None}
    free = [mac for mac in old if mac not in taken]
    for node in root.findall("devices/interface"):
        if node.find("mac") is None and free:
            mac = dx.parse("<mac/>")
            mac.set("address", free.pop(0))
            node.insert(0, mac)


def covers(stored, wanted):
    """Whether the stored definition already is what ``wanted`` says (both parsed): every
    attribute, text and child of ``wanted`` is there, and every stored child has its counterpart
    in ``wanted`` unless libvirt adds it by itself (:data:`GENERATED`).  Attributes libvirt adds
    are not differences.  Both are compared normalised (memory in KiB, aliases dropped)."""
    return _covers(dx.parse(dx.normalise(stored)), dx.parse(dx.normalise(wanted)))


def _covers(have, want):
    if have.tag != want.tag:
        return False
    if any(have.get(key) != value for key, value in want.attrib.items()):
        return False
    if (want.text or "").strip() != (have.text or "").strip() and (want.text or "").strip():
        return False
    free = list(have)
    for child in want:
        match = next((c for c in free if _covers(c, child)), None)
        if match is None:
            return False
        free.remove(match)
    return all(_generated(c) for c in free)


def _generated(node):
    if node.tag in GENERATED or (node.tag, (node.text or "").strip()) in GENERATED:
        return True
    if node.tag == "cpu":       # the CPU model libvirt writes for a domain that names none
        return node.get("check") == "none" and dx.get_text(node, "model") in DEFAULT_CPU_MODELS
    attrs = GENERATED_WITH.get(node.tag)
    return attrs is not None and dict(node.attrib) == attrs
