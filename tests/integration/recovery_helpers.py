# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the live-recovery tests and benchmark: guests' states across the lab, QEMU killed
by its pid, a watcher for VMs running twice, and the collection's rulebook run for real."""

from __future__ import annotations

import os
import signal
import threading
import time

import eda_helpers
import libvirt


def wait_until(what, predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def state_of(host, name):
    """``(state, reason)`` numbers of a guest on a host, or None when it is not defined there."""
    conn = host.connect()
    try:
        return tuple(conn.lookupByName(name).state())
    except libvirt.libvirtError:
        return None
    finally:
        conn.close()


def active_on(lab, name, skip=()):
    """The lab hosts (up, not in ``skip``) where ``name`` is active (running or paused), in order."""
    found = []
    for host in lab.hosts:
        if host.name in skip or not host.is_up():
            continue
        try:
            if host.connect().lookupByName(name).isActive():
                found.append(host.name)
        except libvirt.libvirtError:
            pass
    return found


def running_on(lab, name, skip=()):
    return sorted(h.name for h in lab.hosts if h.is_up() and h.name not in skip
                  and (state_of(h, name) or (0,))[0] == libvirt.VIR_DOMAIN_RUNNING)


def kill_qemu(host, name):
    """SIGKILL the QEMU of guest ``name`` on ``host``, by the pid libvirt recorded for it."""
    pid = int(host.run(["cat", f"/run/libvirt/qemu/{name}.pid"]).stdout.strip())
    with open(f"/proc/{pid}/comm", encoding="utf-8") as handle:
        assert handle.read().startswith("qemu-system"), "pid %d is not a QEMU" % pid
    os.kill(pid, signal.SIGKILL)
    wait_until(f"{name} shut off", lambda: (state_of(host, name) or (0,))[0] == libvirt.VIR_DOMAIN_SHUTOFF)


class DoubleWatch:
    """Lists every watched host's running VMs 5 times a second; records any VM seen on two."""

    def __init__(self, lab, skip=()):
        self.hosts = [h for h in lab.hosts if h.name not in skip]
        self.seen_twice = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        conns = {}
        while not self._stop.is_set():
            where = {}
            for host in self.hosts:
                try:
                    conn = conns.get(host.name) or host.connect()
                    conns[host.name] = conn
                    for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
                        where.setdefault(dom.name(), []).append(host.name)
                except libvirt.libvirtError:
                    conns.pop(host.name, None)  # the host is down: it runs nothing
            self.seen_twice.extend((name, hosts) for name, hosts in where.items() if len(hosts) > 1)
            self.samples += 1
            self._stop.wait(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)
        return False


def password_files(workdir):
    """An inventory editor: each host's BMC password moved into a file of mode 0600 under
    ``workdir`` (``password_file``), as the README advises for the rulebook."""

    def edit(node):
        if isinstance(node, dict):
            fence = node.get("hotiron_fence")
            if isinstance(fence, dict) and "password" in fence:
                path = os.path.join(str(workdir), "bmc-%d.secret" % len(os.listdir(str(workdir))))
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(fence.pop("password") + "\n")
                fence["password_file"] = path
            for value in node.values():
                edit(value)

    return edit


def rulebook(lab, workdir, state_file, host_timeout, sweep_interval=30):
    """The collection's recovery rulebook for the lab's group ``lab`` (see eda_helpers.rulebook),
    its BMC passwords in files rather than in the inventory it copies for each pass."""
    return eda_helpers.rulebook(
        lab, workdir, "hotiron.virt.recover",
        {"recover_group": "lab", "recover_state_file": str(state_file), "recover_shared_paths": [lab.shared_path],
         "recover_host_timeout": host_timeout},
        {"recover_group": "lab", "recover_sweep_interval": sweep_interval,
         "recover_hosts": {h.name: h.uri for h in lab.hosts}},
        edit_inventory=password_files(workdir))
