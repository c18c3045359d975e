# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the collection treats a VM: the options kept in its metadata and the few XML settings
they imply.  Pure: validation and XML editing only.

The metadata (``<hotiron:vm>`` in the domain's ``<metadata>``, see :mod:`domain_xml`) travels
with the VM when it migrates, so every host and every module of the group reads the same policy:

* bookkeeping: ``owner``, ``resource_group``, ``tags``, free-form ``extra``, ``template``, ``os``;
* live recovery: ``ha`` (restart it when it crashes or its host fails), ``ha_priority`` (higher
  first when capacity is short) and ``restart_limit`` (at most ``count`` restarts in ``window``
  seconds; a crash loop then stops); ``restarts``, the times of the collection's restarts, is
  written by recovery itself, never by an option;
* live capacity: ``sla``, a class name (``gold``, ``silver``, ``bronze`` or the operator's own),
  which the balancer reads (lower classes move first) and which sets the CPU shares of the
  built-in classes; ``cpu_shares`` sets them explicitly; ``cpu_reservation``, CPUs the balancer
  counts the VM at (at least), so that a host keeps room for them however idle the VM is now;
* lifecycle: ``expires`` (a date) and ``purpose``.

XML implied: an HA VM gets ``<on_crash>destroy</on_crash>``, so that a panicking guest stops and
the collection's restart, with its limit, decides (libvirt's own ``restart`` would restart a
crash loop forever, about every 0.4 s); ``cpu_shares`` is ``<cputune><shares>``.
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import sla as sla_classes
from ansible_collections.hotiron.virt.plugins.module_utils.vm.values import SpecError

# The SLA classes' vocabulary and CPU shares are sla.py's (resource_schedule and the balancer share them).
SLA_SHARES = sla_classes.SHARES
RESTART_LIMIT_DEFAULT = {"count": 3, "window": 600}


def validate(params):
    """``(metadata, xml)`` from the module's options: what goes into the collection's metadata,
    and the XML settings it implies (``on_crash``, ``cpu_shares``; ``None`` = not managed)."""
    meta = {}
    for key in ("owner", "resource_group", "purpose"):
        if params.get(key) is not None:
            meta[key] = str(params[key])
    if params.get("ha_priority") is not None:
        prio = params["ha_priority"]
        if isinstance(prio, bool) or not isinstance(prio, int) or not 0 <= prio <= 1000:
            raise SpecError("ha_priority", "expected a whole number from 0 to 1000, got %r" % (prio,))
        meta["ha_priority"] = str(prio)
    for key in ("template", "ha"):
        if params.get(key) is not None:
            meta[key] = "true" if params[key] else "false"
    if params.get("tags") is not None:
        meta["tags"] = sorted(set(str(t) for t in params["tags"]))
    if params.get("metadata") is not None:
        meta["extra"] = {str(k): str(v) for k, v in params["metadata"].items()}
    if params.get("os") is not None:
        meta["os"] = params["os"]
    if params.get("restart_limit") is not None:
        limit = dict(RESTART_LIMIT_DEFAULT, **{k: v for k, v in params["restart_limit"].items() if v is not None})
        meta["restart_limit"] = format_restart_limit(limit["count"], limit["window"])
    if params.get("cpu_reservation") is not None:
        meta["cpu_reservation"] = "%g" % params["cpu_reservation"]
    if params.get("expires") is not None:
        meta["expires"] = parse_date(params["expires"], "expires").isoformat()
    shares = params.get("cpu_shares")
    if params.get("sla") is not None:
        sla = str(params["sla"])
        why = sla_classes.problem(sla)
        if why:
            raise SpecError("sla", why)
        meta["sla"] = sla
        if shares is None:
            shares = SLA_SHARES.get(sla)
    if params.get("ha") and params.get("autostart"):
        raise SpecError("autostart", "an HA vm must not start by itself when its host boots: a host fenced and"
                        " powered on again would start a copy of a vm that now runs elsewhere; recover starts"
                        " HA vms (leave autostart false)")
    xml = {"on_crash": "destroy" if params.get("ha") else None, "cpu_shares": shares}
    return meta, xml


def parse_date(value, param):
    """A ``datetime.date`` from ``YYYY-MM-DD`` (or a date Ansible already made one)."""
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value).strip())
    except ValueError:
        raise SpecError(param, "expected a date such as 2027-03-31, got %r" % (value,)) from None


def format_restart_limit(count, window):
    return "%d/%d" % (count, window)


def restart_limit(meta):
    """``(count, window seconds)`` of a VM's metadata, the default when it has none."""
    text = meta.get("restart_limit") or ""
    match = re.match(r"^(\d+)/(\d+)$", text)
    if match:
        return int(match.group(1)), int(match.group(2))
    return RESTART_LIMIT_DEFAULT["count"], RESTART_LIMIT_DEFAULT["window"]


def restarts(meta):
    """The times (epoch seconds) of the collection's restarts of a VM, oldest first."""
    return sorted(float(t) for t in (meta.get("restarts") or "").split() if _is_number(t))


def format_restarts(times):
    return " ".join("%d" % t for t in sorted(times))


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def is_ha(meta):
    return meta.get("ha") == "true"


def apply(root, xml):
    """Write the XML settings of :func:`validate` into domain element ``root`` (in place).

    libvirt writes every lifecycle action into a definition it returns, so an existing VM's
    ``<on_crash>`` is edited where it stands; a new VM's goes at the end, where libvirt's define
    puts it in its place.
    """
    if xml.get("on_crash"):
        dx.find_or_create(root, "on_crash").text = xml["on_crash"]
    if xml.get("cpu_shares") is not None:
        dx.set_text(dx.find_or_create(root, "cputune"), "shares", xml["cpu_shares"])
