# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one domain layer: the only code that starts, stops, defines, undefines, sets metadata on,
waits for or reads the disks of a libvirt domain.

As Nova's ``guest.py`` is for its driver, :class:`Guest` turns intents into libvirt calls with the
flags chosen once, here, each flag's risk said next to it; every module and ``_ops`` file asks it
instead of calling the domain (a unit test fails when a file outside this package does).  Every
call names its action in the error it raises (``Failed to start vm web1 on qemu+tcp://...``).
"""

from __future__ import annotations

import time

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.libvirt_common import libvirt

STATE_NAMES = {
    0: "nostate", 1: "running", 2: "blocked", 3: "paused",
    4: "shutdown", 5: "shutoff", 6: "crashed", 7: "pmsuspended",
}
# State reasons, indexed by state, as virsh names them (domstate --reason).
REASONS = {
    1: ["unknown", "booted", "migrated", "restored", "from snapshot", "unpaused", "migration canceled",
        "save canceled", "event wakeup", "crashed", "post-copy", "post-copy failed"],
    3: ["unknown", "user", "migrating", "saving", "dumping", "I/O error", "watchdog", "from snapshot",
        "shutting down", "snapshot", "crashed", "starting up", "post-copy", "post-copy failed", "api error"],
    4: ["unknown", "user"],
    5: ["unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from snapshot", "daemon"],
    6: ["unknown", "panicked"],
}


def state_reason(state, reason):
    names = REASONS.get(state, [])
    return names[reason] if 0 <= reason < len(names) else "unknown"


def wait_for(predicate, timeout, clock=time.monotonic, sleep=time.sleep, interval=0.2):
    """Poll ``predicate`` until true or ``timeout`` seconds pass; returns its last value."""
    deadline = clock() + timeout
    while True:
        value = predicate()
        if value or clock() >= deadline:
            return value
        sleep(interval)


def lookup(conn, name):
    """The :class:`Guest` called ``name`` on ``conn``, or ``None`` when there is none."""
    dom = lc.lookup_domain(conn, name)
    return Guest(conn, dom) if dom is not None else None


def all_guests(conn):
    with lc.attempt("list the vms of %s" % lc.safe_uri(conn)):
        return [Guest(conn, d) for d in conn.listAllDomains(0)]


def define(conn, xml, what=None):
    """Define (or redefine) a domain from ``xml``; the :class:`Guest` it is now.  ``what`` names
    the action in an error (``redefine vm web1 on ...``)."""
    with lc.attempt(what or "define a vm on %s" % lc.safe_uri(conn)):
        return Guest(conn, conn.defineXML(xml))


class Guest:
    """A libvirt domain with intent-level methods; every call names its action."""

    def __init__(self, conn, dom):
        self.conn = conn
        self.dom = dom
        self.name = dom.name()
        self.uri = lc.safe_uri(conn)

    def _act(self, what):
        return lc.attempt("%s vm %s on %s" % (what, self.name, self.uri))

    # --- reading ---------------------------------------------------------------------------
    def state(self):
        with self._act("read the state of"):
            state, reason = self.dom.state()
        return STATE_NAMES.get(state, "unknown"), state_reason(state, reason)

    def inactive_xml(self):
        with self._act("read the definition of"):
            return self.dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)

    def live_xml(self):
        with self._act("read the running definition of"):
            return self.dom.XMLDesc(0)

    def is_active(self):
        with self._act("read the state of"):
            return bool(self.dom.isActive())

    def is_persistent(self):
        with self._act("read the state of"):
            return bool(self.dom.isPersistent())

    def uuid(self):
        return self.dom.UUIDString()

    def autostart(self):
        with self._act("read autostart of"):
            return bool(self.dom.autostart())

    def set_autostart(self, value):
        with self._act("set autostart of"):
            self.dom.setAutostart(1 if value else 0)

    # --- power -----------------------------------------------------------------------------
    def start(self, paused=False):
        if not paused:
            with self._act("start"):
                self.dom.create()
            return
        try:
            # START_PAUSED: QEMU starts with no vCPU running at all.
            self.dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED)
            return
        except libvirt.libvirtError as err:
            if err.get_error_code() not in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT):
                raise lc.wrap_libvirt_error("start vm %s paused on %s" % (self.name, self.uri), err) from err
        # A driver without the flag: start, then pause at once.
        self.start()
        self.suspend()

    def suspend(self):
        with self._act("pause"):
            self.dom.suspend()

    def resume(self):
        with self._act("resume"):
            self.dom.resume()

    def request_shutdown(self):
        # A request to the guest (ACPI power button); it may ignore it.
        with self._act("shut down"):
            self.dom.shutdown()

    def request_stop(self):
        """Ask the guest to shut down and return at once (a paused guest is resumed first, so it
        can hear the request); whether it does is the guest's business."""
        if self.state()[0] == "paused":
            self.resume()
        self.request_shutdown()

    def force_off(self):
        # Pulls the plug: the guest loses whatever it had not written to disk.
        with self._act("force off"):
            self.dom.destroy()

    def wait_inactive(self, timeout, clock=time.monotonic, sleep=time.sleep):
        """True once the domain stops running, False when ``timeout`` seconds pass first."""
        return bool(wait_for(lambda: not self.is_active(), timeout, clock, sleep))

    def stop(self, timeout, force, clock=time.monotonic, sleep=time.sleep, ignore_refusal=False):
        """Graceful shutdown within ``timeout`` seconds, then force off when ``force``.

        Returns ``"shut down"``, ``"forced off"`` or ``None`` (still running: ``timeout`` passed
        and ``force`` is false).  A paused guest cannot hear the request: it is forced off when
        ``force``, resumed first otherwise.  ``ignore_refusal``: a guest that refuses the request
        outright (no ACPI, no agent) is waited for and forced like one that ignores it.
        """
        if self.state()[0] == "paused":
            if force:
                self.force_off()
                return "forced off"
            self.resume()
        if timeout > 0:
            try:
                self.request_shutdown()
            except lc.VirtError:
                if not ignore_refusal:
                    raise
            if self.wait_inactive(timeout, clock, sleep):
                return "shut down"
        if not force:
            return None
        if self.is_active():
            self.force_off()
        return "forced off"

    # --- definition ------------------------------------------------------------------------
    def checkpoint_names(self):
        """Names of the domain's checkpoints (libvirt's backup bookmarks); none where the driver
        has no checkpoints at all."""
        try:
            return [c.getName() for c in self.dom.listAllCheckpoints(0)]
        except libvirt.libvirtError as err:
            if err.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
                return []
            raise lc.wrap_libvirt_error("list the checkpoints of vm %s on %s" % (self.name, self.uri), err) from err

    def delete_definition(self, keep_nvram=False, keep_checkpoints=False):
        """Remove the definition, with the flags decided here once for the whole collection.

        - snapshot metadata and a managed save image always go (libvirt refuses otherwise; the
          snapshots' disk images stay on disk);
        - checkpoint metadata goes too unless ``keep_checkpoints`` (then libvirt refuses to
          undefine a domain that has checkpoints: the backup chain they anchor stays usable);
        - the UEFI variables file goes unless ``keep_nvram`` (a VM defined again elsewhere from
          this definition then boots with the same variables: recovery and migration keep it).
        Flags are only passed where they mean something (a driver without checkpoints or NVRAM
        support refuses flags it does not know).
        """
        flags = libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
        checkpoints = not keep_checkpoints and self.checkpoint_names()
        if checkpoints:
            flags |= libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
        if dx.parse(self.inactive_xml()).find("os/nvram") is not None:
            flags |= libvirt.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM if keep_nvram else libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
        try:
            self.dom.undefineFlags(flags)
            return
        except libvirt.libvirtError as err:
            # A driver that has checkpoints but not the undefine flag for them (libvirt's test
            # driver): their metadata is deleted first, then the domain is undefined without it.
            unsupported = err.get_error_code() in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT)
            if not (checkpoints and unsupported):
                raise lc.wrap_libvirt_error("undefine vm %s on %s" % (self.name, self.uri), err) from err
        self.delete_checkpoint_metadata()
        with self._act("undefine"):
            self.dom.undefineFlags(flags & ~libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA)

    def delete_checkpoint_metadata(self):
        """Forget every checkpoint of the domain (libvirt's metadata only: the disks' bitmaps stay),
        leaves before their parents."""
        with self._act("delete the checkpoint metadata of"):
            for checkpoint in reversed(self.dom.listAllCheckpoints(libvirt.VIR_DOMAIN_CHECKPOINT_LIST_TOPOLOGICAL)):
                checkpoint.delete(libvirt.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY)

    def set_metadata(self, root, live=True, persistent=True):
        """Write the collection's metadata element as it is in ``root`` (a parsed definition).

        ``live``: the running domain sees it at once (inventory, recovery, the balancer's
        cooldown); ``persistent``: the definition keeps it.  A side the domain does not have (the
        running one of a stopped domain, the persistent one of a transient domain) is skipped."""
        flags = 0
        if live and self.is_active():
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        if persistent and self.is_persistent():
            flags |= libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if not flags:
            return
        meta = dx.metadata_xml(root)
        with self._act("update the metadata of"):
            self.dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, meta, dx.PREFIX if meta else None, dx.NS, flags)

    # --- live changes ----------------------------------------------------------------------
    # AFFECT_LIVE alone changes the running guest only: the persistent definition has been
    # written with defineXML already, and AFFECT_CONFIG as well would make libvirt re-derive it
    # from the live one.
    def set_memory_live(self, kib):
        with self._act("balloon the memory of"):
            self.dom.setMemoryFlags(kib, libvirt.VIR_DOMAIN_AFFECT_LIVE)

    def set_vcpus_live(self, count):
        with self._act("hot-plug vCPUs of"):
            self.dom.setVcpusFlags(count, libvirt.VIR_DOMAIN_AFFECT_LIVE)

    def set_crash_action_live(self, action):
        # What the running guest does when it panics; the persistent definition says the same.
        values = {"destroy": libvirt.VIR_DOMAIN_LIFECYCLE_ACTION_DESTROY,
                  "restart": libvirt.VIR_DOMAIN_LIFECYCLE_ACTION_RESTART,
                  "preserve": libvirt.VIR_DOMAIN_LIFECYCLE_ACTION_PRESERVE}
        with self._act("set the crash action of"):
            self.dom.setLifecycleAction(libvirt.VIR_DOMAIN_LIFECYCLE_CRASH, values[action], libvirt.VIR_DOMAIN_AFFECT_LIVE)

    def _cpumap(self, cpus):
        with self._act("read the host CPUs for"):
            count = self.conn.getInfo()[2]
        return tuple(c in cpus for c in range(count)) if cpus else (True,) * count

    def pin_vcpu_live(self, vcpu, cpus):
        # Moves the running vCPU thread onto host CPUs ``cpus`` (a set of numbers; empty: every
        # host CPU, i.e. unpinned).  Only the affinity of a thread: the guest does not notice.
        with self._act("pin vCPU %d of" % vcpu):
            self.dom.pinVcpuFlags(vcpu, self._cpumap(cpus), libvirt.VIR_DOMAIN_AFFECT_LIVE)

    def pin_emulator_live(self, cpus):
        # QEMU's own threads (I/O, the main loop), as pin_vcpu_live.
        with self._act("pin the emulator threads of"):
            self.dom.pinEmulator(self._cpumap(cpus), libvirt.VIR_DOMAIN_AFFECT_LIVE)

    LIFECYCLE_EVENTS = {"on_poweroff": "VIR_DOMAIN_LIFECYCLE_POWEROFF", "on_reboot": "VIR_DOMAIN_LIFECYCLE_REBOOT",
                        "on_crash": "VIR_DOMAIN_LIFECYCLE_CRASH"}
    LIFECYCLE_ACTIONS = {"destroy": "VIR_DOMAIN_LIFECYCLE_ACTION_DESTROY", "restart": "VIR_DOMAIN_LIFECYCLE_ACTION_RESTART",
                         "rename-restart": "VIR_DOMAIN_LIFECYCLE_ACTION_RESTART_RENAME",
                         "preserve": "VIR_DOMAIN_LIFECYCLE_ACTION_PRESERVE",
                         "coredump-destroy": "VIR_DOMAIN_LIFECYCLE_ACTION_COREDUMP_DESTROY",
                         "coredump-restart": "VIR_DOMAIN_LIFECYCLE_ACTION_COREDUMP_RESTART"}

    def set_lifecycle_action_live(self, event, action):
        """What the running guest does on ``event`` (``on_poweroff``, ``on_reboot``, ``on_crash``):
        ``action`` as the domain XML names it.  libvirt refuses combinations QEMU cannot run (for
        example ``on_reboot`` ``preserve``); the definition then applies from the next start."""
        with self._act("set the %s action of" % event):
            self.dom.setLifecycleAction(getattr(libvirt, self.LIFECYCLE_EVENTS[event]),
                                        getattr(libvirt, self.LIFECYCLE_ACTIONS[action]), libvirt.VIR_DOMAIN_AFFECT_LIVE)

    def set_cpu_shares_live(self, shares):
        # Needs the host's cgroup cpu controller (qemu.conf cgroup_controllers); without it libvirt
        # refuses, and the shares apply from the next start on.
        with self._act("set the CPU shares of"):
            self.dom.setSchedulerParametersFlags({"cpu_shares": shares}, libvirt.VIR_DOMAIN_AFFECT_LIVE)

    def attach_live(self, xml):
        with self._act("hot-plug a device into"):
            self.dom.attachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)

    # How long detach_live waits for the guest to release a device.  libvirt itself waits 5 s and
    # then returns success with the device still there (the unplug goes on: DEVICE_REMOVED later);
    # a TCG guest on a busy host takes longer than that (a NIC: 3 s measured on an idle one).
    DETACH_WAIT_S = 60.0

    def detach_live(self, xml, present=None, timeout=DETACH_WAIT_S, clock=time.monotonic, sleep=time.sleep):
        """Ask the running guest to release the device ``xml``.  With ``present`` (a function of
        the parsed live XML: whether the device is still there), wait until the guest released it
        or ``timeout`` s passed; True when it is gone (or not waited for), False when it is not yet."""
        with self._act("hot-unplug a device from"):
            self.dom.detachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        if present is None:
            return True
        with self._act("wait for the guest to release a device of"):
            return wait_for(lambda: not present(dx.parse(self.live_xml())), timeout, clock, sleep, interval=0.5)

    def set_metadata_live(self, root):
        """The running domain's metadata and description as in ``root`` (the definition has them)."""
        with self._act("update the metadata of"):
            meta = dx.metadata_xml(root)
            self.dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, meta, dx.PREFIX if meta else None,
                                 dx.NS, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            self.dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_DESCRIPTION, dx.get_text(root, "description"),
                                 None, None, libvirt.VIR_DOMAIN_AFFECT_LIVE)
