# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Everything a module could change on a lab host, read without changing it.

``snapshot(lab)`` gives, per host: its domains (inactive definition, state, autostart, the
collection's metadata as written), its storage pools (definition, state, autostart and the volume
list as libvirt last refreshed it: a refresh shows as a change), its networks, its secrets, the
libvirt configuration files and the files of its images directory; and the files of the shared
directory.  Two snapshots compare equal when nothing was changed.  Reading never refreshes a pool.
"""

from __future__ import annotations

import hashlib
import os

import libvirt


def _domains(conn):
    out = {}
    for dom in conn.listAllDomains(0):
        out[dom.name()] = {
            "xml": dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE),
            "state": dom.state()[0],
            "autostart": dom.autostart(),
            "persistent": dom.isPersistent(),
        }
    return out


def _pools(conn):
    out = {}
    for pool in conn.listAllStoragePools(0):
        active = pool.isActive()
        out[pool.name()] = {
            "xml": pool.XMLDesc(libvirt.VIR_STORAGE_XML_INACTIVE),
            "active": active,
            "autostart": pool.autostart(),
            "volumes": sorted(_volume(v) for v in pool.listAllVolumes(0)) if active else None,
        }
    return out


def _volume(vol):
    """``(name, capacity)``; a volume whose file went since the pool's last refresh has None."""
    try:
        return vol.name(), vol.info()[1]
    except libvirt.libvirtError:
        return vol.name(), None


def _networks(conn):
    return {net.name(): {"xml": net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE), "active": net.isActive(),
                         "autostart": net.autostart()}
            for net in conn.listAllNetworks(0)}


def _secrets(conn):
    return sorted(secret.XMLDesc(0) for secret in conn.listAllSecrets(0))


def _files(directory):
    """Name -> (size, sha256 of the first MiB) of every file below ``directory``."""
    out = {}
    for root, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            try:
                with open(path, "rb") as handle:
                    head = hashlib.sha256(handle.read(1 << 20)).hexdigest()
                out[os.path.relpath(path, directory)] = (os.path.getsize(path), head)
            except OSError:
                continue  # a socket or a file that went away while walking
    return out


def host_snapshot(host):
    conn = host.connect()
    try:
        state = {"domains": _domains(conn), "pools": _pools(conn), "networks": _networks(conn),
                 "secrets": _secrets(conn)}
    finally:
        conn.close()
    state["config"] = _files(os.path.join(host.state_dir, "etc-libvirt"))
    state["images"] = _files(host.images_dir)
    return state


def snapshot(lab, skip=()):
    """Every host that is up, but those named in ``skip`` (a hung libvirtd never answers)."""
    state = {host.name: host_snapshot(host) for host in lab.hosts if host.is_up() and host.name not in skip}
    state["shared"] = _files(lab.shared_dir)
    return state


def differences(before, after):
    """Human-readable paths where two snapshots differ (empty when equal)."""
    found = []

    def walk(a, b, path):
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b), key=str):
                walk(a.get(key, "<missing>"), b.get(key, "<missing>"), path + [str(key)])
        elif a != b:
            found.append("/".join(path))

    walk(before, after, [])
    return found
