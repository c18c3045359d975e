# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A VM declared by its complete domain XML (``xml_mode: full``): any ``virsh dumpxml`` or
virt-manager domain defines the VM as it is.

What the XML leaves out that an existing VM has is kept (:func:`full_xml.prepare`): its UUID, the
MAC addresses of its interfaces, the collection's metadata.  Whether anything changes is decided
the way libvirt stores a definition: a real run defines the XML only when it differs from the
stored definition as text, then compares the stored definitions before and after (libvirt's own
canonical form: a re-run with the same XML reports no change, as community.libvirt's does); check
mode predicts it with :func:`full_xml.covers` (what libvirt fills in itself, such as controllers,
PCI addresses and default devices, is not a difference).
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.domain import guest as domain
from ansible_collections.hotiron.virt.plugins.module_utils.vm import full_xml, power
from ansible_collections.hotiron.virt.plugins.module_utils.vm import plan as vp


def _machines(host, root):
    node = root.find("os/type")
    arch = (node.get("arch") if node is not None else None) or "x86_64"
    return host["arches"].get(arch, {}).get("machines")


def ensure_created(conn, spec, host, state, check_mode):
    """``(changed, result, diff, guest)`` of defining a new VM from the XML, then its power steps."""
    root = full_xml.prepare(spec, None, _machines(host, dx.parse(spec["xml"])))
    is_template = dx.read_metadata(root).get("template") == "true"
    starts = power.steps("shutoff", state, is_template, spec["name"])
    result = {"plan": ["define vm %s from xml" % spec["name"]] + ["%s vm %s" % (s, spec["name"]) for s in starts],
              "changes": [], "restart_required": False}
    diff = {"before": "", "after": dx.normalise(root, keep_uuid=False)}
    if check_mode:
        return True, result, diff, None
    guest = domain.define(conn, dx.tostring(root), "define vm %s on %s" % (spec["name"], lc.safe_uri(conn)))
    try:
        if starts:
            guest.start(paused=starts == ["start paused"])
    except lc.VirtError as err:
        try:
            guest.delete_definition()
            err.extend(" (the vm this task defined was removed again)")
        except lc.VirtError as again:
            err.extend("; removing the vm this task defined also failed: %s" % again)
        raise
    diff["after"] = dx.normalise(guest.inactive_xml(), keep_uuid=False)
    return True, result, diff, guest


def ensure_updated(conn, guest, spec, host, check_mode):
    """``(changed, result, diff)`` of redefining an existing VM from the XML."""
    from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_ops   # (vm_ops imports this file)
    current_text = guest.inactive_xml()
    current = dx.parse(current_text)
    running = guest.is_active()
    desired = full_xml.prepare(spec, current, _machines(host, current))
    before_text, after_text = dx.normalise(current), dx.normalise(desired)
    is_template = dx.read_metadata(desired).get("template") == "true"
    result = {"plan": [], "changes": [], "restart_required": False, "_template": is_template}
    diff = {"before": before_text, "after": after_text}
    if before_text == after_text or (check_mode and full_xml.covers(current, desired)):
        diff["after"] = before_text
        return False, result, diff
    if not check_mode:
        domain.define(conn, dx.tostring(desired), "redefine vm %s on %s" % (spec["name"], lc.safe_uri(conn)))
        stored = dx.parse(guest.inactive_xml())
        diff["after"] = dx.normalise(stored)
        if diff["after"] == before_text:
            return False, result, diff      # libvirt stored what it had: the XML said the same
        desired = stored
    live = dx.parse(guest.live_xml()) if running else current
    before, after = vp.summarise(current), vp.summarise(desired)
    # check mode: what the XML leaves out, libvirt fills in as the VM has it (clock, lifecycle actions)
    after = {key: before[key] if value is None else value for key, value in after.items()}
    changes = vp.plan(before, after, running, vp.summarise(live))
    if not changes:
        changes = [{"field": "xml", "before": None, "after": None, "apply": "restart" if running else "config"}]
    result["changes"] = changes
    result["plan"] = ["redefine vm %s from xml" % spec["name"]]
    result["plan"] += ["apply %s live" % c["field"] for c in changes if c["apply"] == "live"]
    if check_mode:
        result["restart_required"] = any(c["apply"] == "restart" for c in changes)
        return True, result, diff
    if running:
        result["warnings"] = vm_ops.apply_live(guest, changes, live)
    return True, result, diff
