# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts about a hypervisor host: the live virtualisation probe and the
libvirt-facing gatherers used by ``hotiron.virt.host_info``.

The probe reads the machine the code runs on (/proc, /sys, /dev/kvm); the
decision it feeds is :func:`virt_check.decide`.  The libvirt gatherers take
an open connection and return plain dicts.
"""

from __future__ import annotations

import errno
import fcntl
import grp
import os
import pwd
import stat
import xml.etree.ElementTree as ET

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.domain.guest import STATE_NAMES
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import virt_check

# ioctls on /dev/kvm (linux/kvm.h: _IO(KVMIO=0xAE, n)).
KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01

KVM_MODULES = ("kvm", "kvm_intel", "kvm_amd", "kvm_pvm")


class _System:
    """The few OS calls the probe makes, replaceable in tests."""

    open = staticmethod(os.open)
    close = staticmethod(os.close)
    ioctl = staticmethod(fcntl.ioctl)
    stat = staticmethod(os.stat)


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def _name(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def stat_device(path, system=_System):
    """A :class:`virt_check.Device` for ``path``, or None when it does not exist."""
    try:
        st = system.stat(path)
    except FileNotFoundError:
        return None
    return virt_check.Device(
        path=path,
        exists=True,
        is_char_device=stat.S_ISCHR(st.st_mode),
        mode=stat.S_IMODE(st.st_mode),
        owner=_name(pwd.getpwuid, st.st_uid),
        group=_name(grp.getgrgid, st.st_gid),
    )


def try_kvm(path, system=_System):
    """Open ``path`` and ask KVM for a VM: ``(open_result, api_version, create_vm_result)``.

    Results are ``"ok"`` or an errno name.  The VM file descriptor is closed
    straight away, which destroys the (empty) VM.
    """
    try:
        fd = system.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as err:
        return virt_check.errno_name(err.errno or errno.EIO), None, None
    try:
        try:
            api = system.ioctl(fd, KVM_GET_API_VERSION, 0)
        except OSError:
            api = None
        try:
            vm_fd = system.ioctl(fd, KVM_CREATE_VM, 0)
        except OSError as err:
            return virt_check.OK, api, virt_check.errno_name(err.errno or errno.EIO)
        system.close(vm_fd)
        return virt_check.OK, api, virt_check.OK
    finally:
        system.close(fd)


def probe_virtualisation(root="/", device_path="/dev/kvm", system=_System):
    """Gather a :class:`virt_check.Probe` from the machine the code runs on.

    ``root`` prefixes /proc and /sys (tests point it at a tree of files);
    ``device_path`` is the KVM device to stat, open and try.
    """
    cpuinfo = _read(os.path.join(root, "proc/cpuinfo"))
    modules = frozenset(m for m in KVM_MODULES if os.path.isdir(os.path.join(root, "sys/module", m)))
    nested = None
    for vendor_module in ("kvm_intel", "kvm_amd"):
        text = _read(os.path.join(root, "sys/module", vendor_module, "parameters/nested"))
        if text is not None:
            nested = text.strip()
            break
    device = stat_device(device_path, system)
    open_result = api = create = None
    if device is not None:
        open_result, api, create = try_kvm(device_path, system)
    return virt_check.Probe(
        cpu_flags=virt_check.parse_cpu_flags(cpuinfo),
        device=device,
        open_result=open_result,
        api_version=api,
        create_vm_result=create,
        modules=modules,
        nested_param=nested,
    )


def virtualisation_facts(root="/", device_path="/dev/kvm", qemu_group="kvm", system=_System):
    """The verdict dict for the machine the code runs on."""
    probe = probe_virtualisation(root, device_path, system)
    result = virt_check.decide(probe, qemu_group).as_dict()
    result["modules"] = sorted(probe.modules)
    return result


# --- libvirt ------------------------------------------------------------------------

# States in which a guest holds its vCPUs and memory on the host.
_ACTIVE_STATES = frozenset((1, 2, 3, 4, 7))


def _version(number):
    if not number:
        return None
    return lc.libvirt_version_string(number)


@lc.attempting("read the capabilities of {conn_uri}")
def _capabilities(conn, conn_uri):  # pylint: disable=unused-argument
    return ET.fromstring(conn.getCapabilities())


def host_cpu(caps_root, info):
    """CPU facts from the capabilities XML and ``getInfo()``."""
    cpu = caps_root.find("./host/cpu")
    model = vendor = None
    features = []
    if cpu is not None:
        model = cpu.findtext("model")
        vendor = cpu.findtext("vendor")
        features = sorted(f.get("name") for f in cpu.findall("feature") if f.get("name"))
    # getInfo: [model, memory MiB, cpus, mhz, nodes, sockets per node, cores, threads]
    return {
        "arch": info[0],
        "model": model or info[0],
        "vendor": vendor,
        "mhz": info[3],
        "cpus": info[2],
        "numa_nodes": info[4],
        "sockets": info[5] * info[4],
        "cores_per_socket": info[6],
        "threads_per_core": info[7],
        "features": features,
    }


def guest_virt_types(caps_root):
    """``{"x86_64": ["kvm", "qemu"], ...}``: domain types libvirt offers per guest arch."""
    types = {}
    for guest in caps_root.findall("./guest"):
        arch = guest.find("arch")
        if arch is None:
            continue
        name = arch.get("name")
        found = types.setdefault(name, [])
        for dom in arch.findall("domain"):
            if dom.get("type") not in found:
                found.append(dom.get("type"))
    return types


def guests(conn):
    """Per guest: name, uuid, state, persistent, autostart, vcpus, memory (MiB)."""
    uri = lc.safe_uri(conn)
    with lc.attempt("list the vms of %s" % uri):
        domains = conn.listAllDomains(0)
    found = []
    for dom in domains:
        with lc.attempt("read vm %s on %s" % (dom.name(), uri)):
            state, max_kib, cur_kib, vcpus, _cpu_time = dom.info()
            found.append(
                {
                    "name": dom.name(),
                    "uuid": dom.UUIDString(),
                    "state": STATE_NAMES.get(state, str(state)),
                    "active": state in _ACTIVE_STATES,
                    "persistent": bool(dom.isPersistent()),
                    "autostart": bool(dom.autostart()) if dom.isPersistent() else False,
                    "vcpus": vcpus,
                    "memory_mib": cur_kib // 1024,
                    "max_memory_mib": max_kib // 1024,
                }
            )
    return sorted(found, key=lambda g: g["name"])


def commitments(guest_list, host_cpus, host_memory_mib):
    """vCPUs and memory committed to guests, running and all defined, with ratios."""
    running = [g for g in guest_list if g["active"]]

    def total(items, key):
        return sum(g[key] for g in items)

    def ratio(value, capacity):
        return round(float(value) / capacity, 3) if capacity else None

    run_vcpus, run_mem = total(running, "vcpus"), total(running, "memory_mib")
    all_vcpus, all_mem = total(guest_list, "vcpus"), total(guest_list, "max_memory_mib")
    return {
        "running": {
            "vcpus": run_vcpus,
            "memory_mib": run_mem,
            "vcpu_ratio": ratio(run_vcpus, host_cpus),
            "memory_ratio": ratio(run_mem, host_memory_mib),
        },
        "defined": {
            "vcpus": all_vcpus,
            "memory_mib": all_mem,
            "vcpu_ratio": ratio(all_vcpus, host_cpus),
            "memory_ratio": ratio(all_mem, host_memory_mib),
        },
    }


def host_facts(conn):
    """Everything ``host_info`` reports that comes from libvirt."""
    uri = lc.safe_uri(conn)
    with lc.attempt("read host information from %s" % uri):
        info = conn.getInfo()
        hostname = conn.getHostname()
        driver = conn.getType()
        hv_version = conn.getVersion()
        lib_version = conn.getLibVersion()
        free_bytes = conn.getFreeMemory()
    caps = _capabilities(conn, conn_uri=uri)
    memory_total_mib = int(info[1])
    guest_list = guests(conn)
    running = [g["name"] for g in guest_list if g["active"]]
    return {
        "uri": uri,
        "hostname": hostname,
        "hypervisor": {
            "driver": driver,
            "version": _version(hv_version),
            "libvirt_version": _version(lib_version),
        },
        "host_uuid": caps.findtext("./host/uuid"),
        "cpu": host_cpu(caps, info),
        "memory": {
            "total_mib": memory_total_mib,
            "free_mib": int(free_bytes // (1024 * 1024)),
        },
        "guest_virt_types": guest_virt_types(caps),
        "guests": {
            "defined": len([g for g in guest_list if g["persistent"]]),
            "running": len(running),
            "total": len(guest_list),
            "running_names": running,
            "list": guest_list,
        },
        "committed": commitments(guest_list, info[2], memory_total_mib),
    }


def gather(params, connect, probe=virtualisation_facts):
    """The ``host_info`` result for module ``params``.

    ``connect`` opens the libvirt connection (``None`` when O(libvirt=false));
    ``probe`` gives the virtualisation verdict dict.
    """
    result = {"changed": False}
    if params.get("virtualisation", True):
        result["virtualisation"] = probe(qemu_group=params.get("qemu_group") or "kvm")
    if params.get("libvirt", True) and connect is not None:
        conn = connect()
        try:
            result.update(host_facts(conn))
        finally:
            conn.close()
    return result
