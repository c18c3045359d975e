# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One verdict on a host's hardware virtualisation, from what a probe saw.

Pure: no file access, no libvirt, no AnsibleModule.  The probe that gathers
the inputs on a live host is :func:`host_facts.probe_virtualisation`; this
file only decides.  The verdict is one of:

``hardware``
    The CPU advertises VT-x/AMD-V (``vmx``/``svm``) and ``/dev/kvm`` really
    creates a VM.  Guests run with ``type='kvm'``.
``nested``
    ``/dev/kvm`` creates VMs and the host is itself a guest of another
    hypervisor (``hypervisor`` CPU flag), or KVM works although the CPU flags
    are hidden.  Usable; performance depends on the outer hypervisor.
``pvm``
    ``/dev/kvm`` creates VMs through the ``kvm_pvm`` module (PVM,
    virtualisation without VT-x/AMD-V, usually inside a cloud VM) while the
    CPU flags show neither ``vmx`` nor ``svm``.  Usable.
``disabled_in_firmware``
    The CPU has ``vmx``/``svm`` but no usable KVM: the kvm module refused to
    load, ``/dev/kvm`` is missing or cannot create a VM.  Usually VT-x/AMD-V
    is switched off in the BIOS/UEFI setup.
``no_permission``
    ``/dev/kvm`` exists but the probe could not open it: run the probe as
    root (``become: true``), or add the user to the device's group.
``emulation_only``
    Neither CPU support nor a usable ``/dev/kvm``: guests can only run under
    QEMU's TCG emulator (``type='qemu'``), many times slower.

Separately from the verdict, :func:`device_access` says whether QEMU (which
libvirt runs as an unprivileged user in group ``kvm``) can open the device:
a verdict of ``pvm`` with a ``/dev/kvm`` of mode 0600 still makes every guest
start fail with "Could not access KVM kernel module: Permission denied".
"""

from __future__ import annotations

import errno as _errno
import stat as _stat
from dataclasses import dataclass, field

HARDWARE = "hardware"
NESTED = "nested"
PVM = "pvm"
DISABLED_IN_FIRMWARE = "disabled_in_firmware"
NO_PERMISSION = "no_permission"
EMULATION_ONLY = "emulation_only"

VERDICTS = (HARDWARE, NESTED, PVM, DISABLED_IN_FIRMWARE, NO_PERMISSION, EMULATION_ONLY)
# Verdicts under which guests can run with libvirt's ``kvm`` domain type.
KVM_VERDICTS = frozenset((HARDWARE, NESTED, PVM))

VENDOR_FLAGS = {"vmx": "intel", "svm": "amd"}
VENDOR_MODULES = {"intel": "kvm_intel", "amd": "kvm_amd"}

# Outcomes of opening /dev/kvm and of the KVM_CREATE_VM ioctl, as the probe
# records them: "ok", an errno name such as "EACCES", or None (not tried).
OK = "ok"
_PERMISSION_ERRNOS = frozenset(("EACCES", "EPERM"))


@dataclass(frozen=True)
class Device:
    """What ``stat`` said of ``/dev/kvm``; ``None`` fields were not known."""

    path: str = "/dev/kvm"
    exists: bool = True
    is_char_device: bool = True
    mode: int | None = None  # permission bits only, e.g. 0o660
    owner: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class Probe:
    """Everything the verdict depends on.

    ``cpu_flags``: the ``flags`` of /proc/cpuinfo (see :func:`parse_cpu_flags`).
    ``device``: :class:`Device` or ``None`` when /dev/kvm does not exist.
    ``open_result`` / ``create_vm_result``: ``"ok"``, an errno name, or ``None``
    when not attempted.  ``api_version``: KVM_GET_API_VERSION (12 on every
    kernel since 2.6.22).  ``modules``: loaded kernel modules among kvm,
    kvm_intel, kvm_amd, kvm_pvm.  ``nested_param``: the text of
    ``/sys/module/kvm_{intel,amd}/parameters/nested`` if present.
    """

    cpu_flags: frozenset = frozenset()
    device: Device | None = None
    open_result: str | None = None
    api_version: int | None = None
    create_vm_result: str | None = None
    modules: frozenset = frozenset()
    nested_param: str | None = None


@dataclass(frozen=True)
class Verdict:
    verdict: str
    usable: bool
    virt_type: str  # the libvirt domain type guests should use: kvm or qemu
    message: str
    vendor: str | None = None
    cpu_flags: tuple = ()
    kvm_creates_vm: bool = False
    nested_for_guests: bool | None = None
    running_under_hypervisor: bool = False
    pvm_loaded: bool = False
    device_access: dict = field(default_factory=dict)
    warnings: tuple = ()

    def as_dict(self):
        return {
            "verdict": self.verdict,
            "usable": self.usable,
            "virt_type": self.virt_type,
            "message": self.message,
            "vendor": self.vendor,
            "cpu_flags": list(self.cpu_flags),
            "kvm_creates_vm": self.kvm_creates_vm,
            "nested_for_guests": self.nested_for_guests,
            "running_under_hypervisor": self.running_under_hypervisor,
            "pvm_loaded": self.pvm_loaded,
            "device_access": dict(self.device_access),
            "warnings": list(self.warnings),
        }


def parse_cpu_flags(cpuinfo_text):
    """The flags of the first CPU in /proc/cpuinfo text, as a frozenset.

    Every CPU of a host lists the same flags; a text with no ``flags`` line
    (not x86, or unreadable) gives an empty set.
    """
    for line in (cpuinfo_text or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def parse_bool_param(text):
    """A kernel module boolean parameter (``Y``/``N``/``1``/``0``) or None."""
    if text is None:
        return None
    value = text.strip().upper()
    if value in ("Y", "1"):
        return True
    if value in ("N", "0"):
        return False
    return None


def errno_name(number):
    """``errno.EACCES`` -> ``"EACCES"``; unknown numbers as ``"E<n>"``."""
    return _errno.errorcode.get(number, "E%d" % number)


def device_access(device, qemu_group="kvm"):
    """Whether QEMU, running as a user in ``qemu_group``, can open the device.

    Returns ``{"ok": bool, "mode": "0660", "owner", "group", "message"}``;
    ``ok`` is None when the mode is unknown.
    """
    if device is None or not device.exists:
        return {"ok": False, "mode": None, "owner": None, "group": None, "message": "/dev/kvm does not exist"}
    result = {"ok": None, "mode": None, "owner": device.owner, "group": device.group, "message": ""}
    if device.mode is None:
        result["message"] = "the permissions of %s are unknown" % device.path
        return result
    mode = _stat.S_IMODE(device.mode)
    result["mode"] = "%04o" % mode
    rw = _stat.S_IRGRP | _stat.S_IWGRP
    world_rw = _stat.S_IROTH | _stat.S_IWOTH
    if (mode & world_rw) == world_rw or (device.group == qemu_group and (mode & rw) == rw):
        result["ok"] = True
        result["message"] = "%s is readable and writable by group %s" % (device.path, qemu_group)
    else:
        result["ok"] = False
        result["message"] = (
            "%s is %s %s:%s, so QEMU (group %s) cannot open it and guests fail to start with"
            " 'Could not access KVM kernel module: Permission denied': run"
            " 'chgrp %s %s; chmod 0660 %s' (the hotiron.virt.hypervisor role does this and"
            " installs a udev rule)" % (
                device.path, result["mode"], device.owner, device.group, qemu_group,
                qemu_group, device.path, device.path,
            )
        )
    return result


def _vendor(flags):
    for flag, vendor in VENDOR_FLAGS.items():
        if flag in flags:
            return vendor
    return None


_ALLOW = "; set hypervisor_allow_emulation: true to run guests under emulation anyway"


def decide(probe, qemu_group="kvm"):
    """The :class:`Verdict` for ``probe`` (a :class:`Probe`)."""
    flags = probe.cpu_flags
    vendor = _vendor(flags)
    under_hv = "hypervisor" in flags
    pvm_loaded = "kvm_pvm" in probe.modules
    creates_vm = probe.open_result == OK and probe.create_vm_result == OK
    access = device_access(probe.device, qemu_group)
    common = dict(
        vendor=vendor,
        cpu_flags=tuple(sorted(f for f in flags if f in VENDOR_FLAGS or f == "hypervisor")),
        kvm_creates_vm=creates_vm,
        nested_for_guests=parse_bool_param(probe.nested_param),
        running_under_hypervisor=under_hv,
        pvm_loaded=pvm_loaded,
        device_access=access,
    )

    if creates_vm:
        return _working(probe, vendor, under_hv, pvm_loaded, access, common)
    if probe.device is not None and probe.device.exists and probe.open_result in _PERMISSION_ERRNOS:
        message = (
            "/dev/kvm exists but this probe may not open it (%s), so whether KVM works is"
            " unknown: run the check as root (become: true) or add the user to group %s"
            % (probe.open_result, probe.device.group or qemu_group)
        )
        return Verdict(NO_PERMISSION, False, "qemu", message, **common)
    if vendor:
        return _disabled(probe, vendor, common)
    return _emulation_only(probe, under_hv, common)


def _working(probe, vendor, under_hv, pvm_loaded, access, common):
    """The verdict of a /dev/kvm that creates VMs: hardware, nested or PVM, with its warnings."""
    warnings = []
    if access["ok"] is False:
        warnings.append(access["message"])
    if probe.api_version is not None and probe.api_version != 12:
        warnings.append("KVM_GET_API_VERSION returned %s, not 12: this QEMU may refuse it" % probe.api_version)
    if vendor and not under_hv:
        verdict = HARDWARE
        message = "Hardware virtualisation: the CPU has %s and /dev/kvm creates VMs" % _flag_of(vendor)
    elif vendor:
        verdict = NESTED
        message = (
            "Nested hardware virtualisation: this host is a guest of another hypervisor that"
            " passes %s through, and /dev/kvm creates VMs; guest speed depends on the outer"
            " hypervisor" % _flag_of(vendor)
        )
    elif pvm_loaded:
        verdict = PVM
        message = (
            "KVM works through PVM (the kvm_pvm module) although /proc/cpuinfo shows neither"
            " vmx nor svm: /dev/kvm creates VMs, guests can use type kvm"
        )
    else:
        verdict = NESTED
        message = (
            "KVM works although /proc/cpuinfo shows neither vmx nor svm (the CPU flags are"
            " hidden by an outer hypervisor): /dev/kvm creates VMs, guests can use type kvm"
        )
    if warnings:
        message += ". " + warnings[0]
    return Verdict(verdict, True, "kvm", message, warnings=tuple(warnings), **common)


def _disabled(probe, vendor, common):
    """The verdict of a CPU with VT-x/AMD-V whose KVM does not work (firmware, module, udev)."""
    module = VENDOR_MODULES[vendor]
    if probe.device is None or not probe.device.exists:
        if module in probe.modules:
            why = "%s is loaded but /dev/kvm does not exist: check udev and the kvm module" % module
        else:
            why = (
                "/dev/kvm does not exist: load the module ('modprobe %s'); if the kernel says"
                " 'disabled by bios', enable %s in the firmware (BIOS/UEFI) setup" % (module, _tech(vendor))
            )
    else:
        why = "%s: enable %s in the firmware (BIOS/UEFI) setup" % (_device_failure(probe), _tech(vendor))
    message = "The CPU has %s but KVM is not usable, %s%s" % (_flag_of(vendor), why, _ALLOW)
    return Verdict(DISABLED_IN_FIRMWARE, False, "qemu", message, **common)


def _emulation_only(probe, under_hv, common):
    """The verdict of a host with neither the CPU flags nor a working /dev/kvm."""
    if probe.device is None or not probe.device.exists:
        detail = "neither vmx nor svm in /proc/cpuinfo and no /dev/kvm"
    else:
        detail = "neither vmx nor svm in /proc/cpuinfo and %s" % _device_failure(probe)
    hint = (
        "enable nested virtualisation on the outer hypervisor, or load kvm_pvm"
        if under_hv
        else "use a CPU with VT-x or AMD-V"
    )
    message = "Emulation only: %s. Guests would run under QEMU TCG, many times slower: %s%s" % (detail, hint, _ALLOW)
    return Verdict(EMULATION_ONLY, False, "qemu", message, **common)


def _flag_of(vendor):
    return "vmx (Intel VT-x)" if vendor == "intel" else "svm (AMD-V)"


def _tech(vendor):
    return "Intel VT-x" if vendor == "intel" else "AMD-V (SVM)"


def _device_failure(probe):
    if probe.open_result is None:
        return "/dev/kvm was not probed"
    if probe.open_result != OK:
        return "/dev/kvm could not be opened (%s)" % probe.open_result
    if probe.create_vm_result is None:
        return "KVM_CREATE_VM was not attempted"
    return "/dev/kvm could not create a VM (KVM_CREATE_VM: %s)" % probe.create_vm_result
