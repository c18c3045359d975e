# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hotiron.virt.storage_pool_info: read every storage pool of a host (or those the filters pick)
with its volumes and, on request, their XML.  Reads only: a pool is refreshed only when the
module's ``refresh`` asks, and never in check mode."""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils import name_filter
from ansible_collections.hotiron.virt.plugins.module_utils.storage import pool_info as pi
from ansible_collections.hotiron.virt.plugins.module_utils.storage.pool_ops import xml_desc

libvirt = lc.libvirt


def _candidates(conn, name):
    if name:
        pool = lc.lookup_pool(conn, name)
        return [pool] if pool is not None else []
    with lc.attempt("list the storage pools of %s" % lc.safe_uri(conn)):
        return conn.listAllStoragePools(0)


def volumes(pool, with_xml=False):
    """The pool's volumes sorted by name (a volume removed while they are read is left out)."""
    with lc.attempt("list the volumes of storage pool %s" % pool.name()):
        listed = pool.listAllVolumes(0)
    out = []
    for vol in listed:
        try:
            xml_text = vol.XMLDesc(0)
        except libvirt.libvirtError as err:
            if lc.is_not_found(err):
                continue
            raise lc.wrap_libvirt_error("read volume %s of storage pool %s" % (vol.name(), pool.name()), err) from err
        entry = pi.describe_volume(xml_text)
        if with_xml:
            entry["xml"] = xml_text
        out.append(entry)
    return sorted(out, key=lambda entry: entry["name"])


def describe(pool, with_volumes=True, with_xml=False):
    """One pool as storage_pool_info reports it; None when it went away meanwhile."""
    name = pool.name()
    try:
        info = pool.info()
        active, persistent, autostart = pool.isActive(), pool.isPersistent(), pool.autostart()
        xml_text = xml_desc(pool, libvirt.VIR_STORAGE_XML_INACTIVE)
    except libvirt.libvirtError as err:
        if lc.is_not_found(err):
            return None
        raise lc.wrap_libvirt_error("read storage pool %s" % name, err) from err
    entry = pi.describe_pool(xml_text, info, active, persistent, autostart)
    listed = volumes(pool, with_xml) if active else []
    entry["volume_count"] = len(listed)
    if with_volumes:
        entry["volumes"] = listed
    if with_xml:
        entry["xml"] = xml_text
    return entry


def pools_info(conn, name=None, pattern=None, states=None, types=None, with_volumes=True, with_xml=False,
               refresh=False, check_mode=False):
    """``(pools, warnings)``: the pools passing the filters, sorted by name.  ``refresh`` first
    rescans each selected running pool (not in check mode)."""
    warnings = []
    found = []
    for pool in _candidates(conn, name):
        with lc.attempt("read storage pool %s" % pool.name()):
            state = pi.POOL_STATES.get(pool.info()[0])
            kind = pi.pool_type(xml_desc(pool, libvirt.VIR_STORAGE_XML_INACTIVE))
        if not name_filter.selected(pool.name(), state, name, pattern, states, kind, types):
            continue
        if refresh and state == "running":
            if check_mode:
                warnings.append("check mode: storage pool %s not refreshed (refresh changes what libvirt knows of it)" % pool.name())
            else:
                with lc.attempt("refresh storage pool %s on %s" % (pool.name(), lc.safe_uri(conn))):
                    lc.refresh_pool(pool)
        entry = describe(pool, with_volumes, with_xml)
        if entry is not None:
            found.append(entry)
    return sorted(found, key=lambda entry: entry["name"]), warnings


def run_storage_pool_info(params, check_mode=False):
    """The module's result (a refresh rescans a pool; it changes no configuration: ``changed`` false)."""
    with lc.connected(params["uri"]) as conn:
        pools, warnings = pools_info(conn, params["name"], params["pattern"], params["states"], params["types"],
                                     params["volumes"], params["xml"], params["refresh"], check_mode)
    return {"changed": False, "pools": pools, "warnings": warnings}
