# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Storage pools on a libvirt connection: plan, then apply.

:func:`ensure_pool` takes the module's parameters, works out the list of
actions (define, build, start, ...) once, returns it untouched in check
mode, and otherwise carries it out. Every libvirt call is wrapped so that a
failure names the pool, the host and what was being done.
"""

from __future__ import annotations

import uuid as uuidlib
from html import escape

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.storage import pool_xml as px
from ansible_collections.hotiron.virt.plugins.module_utils.storage.pool_info import POOL_STATES

libvirt = lc.libvirt


def xml_desc(obj, inactive_flag):
    """The persistent definition; the test driver does not know the flag."""
    try:
        return obj.XMLDesc(inactive_flag)
    except libvirt.libvirtError as err:
        if err.get_error_code() in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT):
            return obj.XMLDesc(0)
        raise


def pool_info(conn, pool):
    """What the module returns about a pool."""
    uri = lc.safe_uri(conn)
    with lc.attempt("read storage pool %s on %s" % (pool.name(), uri)):
        state, capacity, allocation, available = pool.info()
        info = px.parse_pool(xml_desc(pool, libvirt.VIR_STORAGE_XML_INACTIVE))
        info.update(
            state=POOL_STATES.get(state, str(state)),
            active=bool(pool.isActive()),
            persistent=bool(pool.isPersistent()),
            autostart=bool(pool.autostart()),
            capacity=capacity,
            allocation=allocation,
            available=available,
            volumes=sorted(pool.listVolumes()) if pool.isActive() else [],
        )
    return info


def _secret_usage_type(auth_type):
    return {"chap": libvirt.VIR_SECRET_USAGE_TYPE_ISCSI, "ceph": libvirt.VIR_SECRET_USAGE_TYPE_CEPH}[auth_type]


def plan_secret(conn, name, auth, update_password):
    """Actions for the libvirt secret holding the pool's password (may be empty)."""
    if "password" not in auth:
        return []
    usage = _secret_usage_type(auth["type"])
    secret = lc.lookup(
        "look up secret %s on %s" % (auth["secret_usage"], lc.safe_uri(conn)), conn.secretLookupByUsage, usage, auth["secret_usage"]
    )
    if secret is None:
        return ["define secret", "set secret value"]
    if update_password == "always":
        return ["set secret value"]
    return []


def apply_secret(conn, name, auth, actions):
    uri = lc.safe_uri(conn)
    with lc.attempt("store the %s secret %s of storage pool %s on %s" % (auth["type"], auth["secret_usage"], name, uri)):
        if "define secret" in actions:
            secret = conn.secretDefineXML(px.secret_xml(name, auth))
        else:
            secret = conn.secretLookupByUsage(_secret_usage_type(auth["type"]), auth["secret_usage"])
        if "set secret value" in actions:
            secret.setValue(px.secret_value(auth))


def plan_present(conn, pool, spec, params):
    """``(actions, new_xml)`` to bring an existing or missing pool to ``params``."""
    actions = []
    current_xml = xml_desc(pool, libvirt.VIR_STORAGE_XML_INACTIVE) if pool is not None else ""
    new_xml, changed = px.plan_pool_xml(current_xml, spec)
    auth = spec.get("source", {}).get("auth")
    if auth:
        actions += plan_secret(conn, spec["name"], auth, params.get("update_password") or "on_create")
    if changed:
        actions.append("define")
        if pool is not None and pool.isActive():
            actions.append("restart" if params.get("restart") else "pending restart")
    if pool is None:
        build = params.get("build")
        if spec["type"] in px.SAFE_BUILD_TYPES and build is not False:
            actions.append("build")
        elif spec["type"] in px.DESTRUCTIVE_BUILD_TYPES and build:
            actions.append("build without overwriting")
    active = bool(pool is not None and pool.isActive())
    if params["state"] == "active" and not active:
        actions.append("start")
    if params["state"] == "inactive" and active:
        actions.append("stop")
    autostart = params.get("autostart")
    if autostart is not None and (pool is None or bool(pool.autostart()) != autostart):
        actions.append("autostart on" if autostart else "autostart off")
    if params.get("refresh") and params["state"] == "active" and active and "restart" not in actions:
        actions.append("refresh")
    return actions, new_xml


def plan_removal(pool, params):
    if pool is None:
        return []
    actions = []
    if params["state"] == "deleted":
        volumes = sorted(pool.listVolumes()) if pool.isActive() else []
        if volumes:
            if not params.get("delete_volumes"):
                raise lc.VirtError(
                    "storage pool %s still holds volumes (%s): set delete_volumes=true to delete them with the pool"
                    % (pool.name(), ", ".join(volumes))
                )
            actions += ["delete volume %s" % v for v in volumes]
    if pool.isActive():
        actions.append("stop")
    if params["state"] == "deleted":
        actions.append("delete")
    if pool.isPersistent():
        actions.append("undefine")
    return actions


def apply_actions(conn, pool, name, actions, new_xml, spec):
    uri = lc.safe_uri(conn)
    what = "storage pool %s on %s" % (name, uri)
    if spec and spec.get("source", {}).get("auth"):
        secret_actions = [a for a in actions if "secret" in a]
        if secret_actions:
            apply_secret(conn, name, spec["source"]["auth"], secret_actions)
    for action in actions:
        if "secret" in action or action == "pending restart":
            continue
        with lc.attempt("%s %s" % (action, what)):
            if action == "define":
                pool = conn.storagePoolDefineXML(new_xml, 0)
            elif action == "build":
                pool.build(0)
            elif action == "build without overwriting":
                pool.build(libvirt.VIR_STORAGE_POOL_BUILD_NO_OVERWRITE)
            elif action == "start":
                pool.create(0)
            elif action in ("stop",):
                pool.destroy()
            elif action == "restart":
                pool.destroy()
                pool.create(0)
            elif action == "refresh":
                lc.refresh_pool(pool)
            elif action.startswith("autostart"):
                pool.setAutostart(1 if action == "autostart on" else 0)
            elif action.startswith("delete volume "):
                pool.storageVolLookupByName(action[len("delete volume "):]).delete(0)
            elif action == "delete":
                pool.delete(0)
            elif action == "undefine":
                pool.undefine()
            else:  # pragma: no cover - plan and apply are written together
                raise lc.VirtError("internal error: unknown action %r" % action)
    return pool


def ensure_pool(conn, params, check_mode=False, want_diff=False):
    """Bring storage pool ``params['name']`` to ``params['state']``; the module's result."""
    name = params["name"]
    state = params["state"]
    pool = lc.lookup_pool(conn, name)
    spec = None
    before_xml = px.strip_computed(xml_desc(pool, libvirt.VIR_STORAGE_XML_INACTIVE)) if pool is not None else ""
    before_volumes = sorted(pool.listVolumes()) if pool is not None and pool.isActive() else None
    if state in ("absent", "deleted"):
        actions = plan_removal(pool, params)
        new_xml = ""
    else:
        pool_type = params.get("type")
        if pool_type is None and pool is not None:
            pool_type = px.parse_pool(before_xml)["type"]
        if pool_type is None:
            raise lc.VirtError("type is required to define storage pool %s, which does not exist yet" % name)
        try:
            spec = px.validate_pool(name, pool_type, params.get("target"), params.get("source"), existing=pool is not None)
            actions, new_xml = plan_present(conn, pool, spec, params)
        except px.PoolSpecError as err:
            raise lc.VirtError(str(err)) from None

    result = {"changed": bool([a for a in actions if a not in ("refresh", "pending restart")]), "actions": actions}
    if "pending restart" in actions:
        result["warnings"] = [
            "storage pool %s is running with its previous definition until it is restarted (set restart=true to do it now)" % name
        ]
    if want_diff:
        result["diff"] = {"before": before_xml, "after": px.strip_computed(new_xml) if state not in ("absent", "deleted") else ""}
    if check_mode:
        result["pool"] = pool_info(conn, pool) if pool is not None else {}
        return result

    if state in ("absent", "deleted"):
        if pool is not None:
            secret_usage = _our_secret(conn, pool)
            apply_actions(conn, pool, name, actions, new_xml, spec)
            if secret_usage:
                _undefine_secret(conn, secret_usage)
        result["pool"] = {}
        return result
    pool = _apply_or_roll_back(conn, pool, name, actions, new_xml, spec)
    result["pool"] = pool_info(conn, pool)
    if "refresh" in actions and before_volumes is not None:
        # A refresh that finds new or vanished volumes is a change worth reporting.
        result["changed"] = result["changed"] or result["pool"]["volumes"] != before_volumes
    return result


BUILD_MAKES_DIRECTORY = ("dir", "fs", "netfs")


def _apply_or_roll_back(conn, pool, name, actions, new_xml, spec):
    """Carry out ``actions``; a pool this run defined but could not build or start goes again,
    with the directory its build made (nothing half-made).  The pool."""
    created = pool is None
    made_dir = None
    if created and any(a.startswith("build") for a in actions) and spec["type"] in BUILD_MAKES_DIRECTORY:
        # A build makes the target directory; whether it is there already decides whether a
        # failed create removes it again.
        made_dir = directory_exists(conn, spec["target"]["path"]) is False
    try:
        return apply_actions(conn, pool, name, actions, new_xml, spec)
    except lc.VirtError as err:
        if created:
            removed = _rollback(conn, name, spec if "define secret" in actions else None, remove_directory=made_dir)
            if removed:
                err.extend("; %s this run made %s removed again" % (
                    " and ".join(removed), "was" if len(removed) == 1 else "were"))
        raise


def directory_exists(conn, path):
    """Whether directory ``path`` exists on the host of ``conn``: True, False, or None (unknown).

    Asked through libvirt, so it holds for a remote host too: a transient ``dir`` pool on the
    path is started (which only lists the directory) and destroyed at once; nothing is written.
    """
    xml = ("<pool type='dir'><name>.hotiron-probe-%s</name><target><path>%s</path></target></pool>"
           % (uuidlib.uuid4().hex, escape(path, quote=True)))
    try:
        probe = conn.storagePoolCreateXML(xml, 0)
    except libvirt.libvirtError as err:
        message = err.get_error_message() or ""
        if err.get_error_code() == libvirt.VIR_ERR_SYSTEM_ERROR and "No such file or directory" in message:
            return False
        return None  # another pool owns the path, or the driver cannot tell: do not guess
    try:
        probe.destroy()
    except libvirt.libvirtError:
        pass  # a transient pool that cannot be stopped goes with the connection
    return True


def _rollback(conn, name, spec_with_new_secret, remove_directory=False):
    """Remove what a failed run made; the list of what was removed (for the message)."""
    removed = []
    pool = lc.lookup_pool(conn, name)
    with lc.attempt("remove storage pool %s again after the failure" % name):
        if pool is not None:
            if pool.isActive():
                pool.destroy()
            if remove_directory:
                try:
                    pool.delete(0)  # rmdir of the target directory: refuses one that holds files
                    removed.append("the target directory")
                except libvirt.libvirtError:
                    pass  # the build failed before making it
            pool.undefine()
            removed.insert(0, "the storage pool definition")
    if spec_with_new_secret is not None:
        auth = spec_with_new_secret["source"]["auth"]
        usage = (_secret_usage_type(auth["type"]), auth["secret_usage"])
        if lc.lookup("look up secret %s" % auth["secret_usage"], conn.secretLookupByUsage, *usage) is not None:
            _undefine_secret(conn, usage)
            removed.append("the secret")
    return removed


def _our_secret(conn, pool):
    """``(usage type, usage)`` of the pool's secret when this collection made it."""
    auth = px.parse_pool(xml_desc(pool, libvirt.VIR_STORAGE_XML_INACTIVE))["source"].get("auth")
    if not auth or not auth.get("secret_usage"):
        return None
    usage_type = _secret_usage_type(auth["type"])
    secret = lc.lookup("look up secret %s" % auth["secret_usage"], conn.secretLookupByUsage, usage_type, auth["secret_usage"])
    if secret is None or "(hotiron.virt)" not in secret.XMLDesc(0):
        return None
    return usage_type, auth["secret_usage"]


def _undefine_secret(conn, secret_usage):
    usage_type, usage = secret_usage
    with lc.attempt("remove secret %s on %s" % (usage, lc.safe_uri(conn))):
        conn.secretLookupByUsage(usage_type, usage).undefine()
