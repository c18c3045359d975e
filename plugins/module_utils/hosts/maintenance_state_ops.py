# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where "this host is in maintenance" is recorded, so every placement sees it.

Decision: the record is a libvirt **secret object without a value** on the
host itself, with usage ``volume`` / ``hotiron-maintenance`` and a JSON
document in its ``<description>``::

    {"state": "maintenance", "since": 1795000000.0, "reason": "...",
     "moved": [{"vm": "web1", "to": "qemu+tcp://10.0.0.2/system"}], "shutdown": ["pinned1"]}

Why a secret:

* it lives in the host's libvirtd (``/etc/libvirt/secrets``), so it survives
  libvirtd restarts and reboots, and it is read and written through the same
  libvirt connection (local or remote URI) every module already has; no file
  access, no SSH, no Ansible fact needed;
* it is host-level, unlike domain metadata (which would have to be written
  into every VM and is lost with the last VM), and it needs no network or
  storage pool (which have no free-text field in libvirt 9 and would be
  started, autostarted or shown as real resources);
* operators can see it: ``virsh secret-list`` shows
  ``hotiron-maintenance``; ``virsh secret-undefine <uuid>`` ends maintenance
  by hand.

The secret never holds a value (``private='no'``, no ``secretSetValue``).
Drivers without secrets (libvirt's ``test:///`` driver) report "not in
maintenance" when read and a clear error when written.
"""

from __future__ import annotations

import json
import time
from html import escape  # &, <, > as xml.sax.saxutils does, without its import of urllib
import xml.etree.ElementTree as ET

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc

USAGE_ID = "hotiron-maintenance"


def _usage_type():
    return lc.libvirt.VIR_SECRET_USAGE_TYPE_VOLUME


def _no_support(err):
    return err.get_error_code() in (lc.libvirt.VIR_ERR_NO_SUPPORT, lc.libvirt.VIR_ERR_NO_SECRET)


def _lookup(conn):
    try:
        return conn.secretLookupByUsage(_usage_type(), USAGE_ID)
    except lc.libvirt.libvirtError as err:
        if _no_support(err):
            return None
        raise lc.wrap_libvirt_error("read the maintenance record on %s" % lc.safe_uri(conn), err) from err


def read(conn):
    """The maintenance record (a dict) of the host behind ``conn``, or ``None``."""
    secret = _lookup(conn)
    if secret is None:
        return None
    with lc.attempt("read the maintenance record on %s" % lc.safe_uri(conn)):
        xml = secret.XMLDesc(0)
    text = ET.fromstring(xml).findtext("description") or "{}"
    try:
        record = json.loads(text)
    except ValueError:
        record = {"state": "maintenance", "note": text}
    return record


def in_maintenance(conn):
    """True when the host behind ``conn`` is in maintenance."""
    record = read(conn)
    return bool(record) and record.get("state") == "maintenance"


def mark(conn, reason="", moved=(), shutdown=(), clock=time.time):
    """Record the host as in maintenance (replacing any earlier record)."""
    record = {
        "state": "maintenance",
        "since": clock(),
        "reason": reason,
        "moved": list(moved),
        "shutdown": list(shutdown),
    }
    existing = _lookup(conn)
    uuid = "<uuid>%s</uuid>" % existing.UUIDString() if existing is not None else ""
    xml = (
        "<secret ephemeral='no' private='no'>%s"
        "<description>%s</description>"
        "<usage type='volume'><volume>%s</volume></usage>"
        "</secret>" % (uuid, escape(json.dumps(record, sort_keys=True), quote=False), USAGE_ID)
    )
    with lc.attempt("mark %s as in maintenance" % lc.safe_uri(conn)):
        conn.secretDefineXML(xml, 0)
    return record


def clear(conn):
    """Remove the maintenance record; returns the record that was there (or ``None``)."""
    record = read(conn)
    secret = _lookup(conn)
    if secret is not None:
        with lc.attempt("end maintenance of %s" % lc.safe_uri(conn)):
            secret.undefine()
    return record
