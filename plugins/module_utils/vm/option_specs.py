# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument specs of a VM's tuning, ``boot`` and ``cloud_init`` options, as plain data
(:func:`vm.args.vm_options` puts them together).  Apart from the code that validates those options
and writes their XML (:mod:`tuning`, :mod:`boot`, :mod:`cloud_init`) because a module compiles
everything it imports at every start, and every run of ``vm`` needs its argument spec while only
the runs that write a definition need the rest.
"""

from __future__ import annotations

BOOT_DEVICES = ("hd", "cdrom", "network", "fd")
NUMATUNE_MODES = ("strict", "preferred", "interleave", "restrictive")
MEMORY_SOURCES = ("anonymous", "file", "memfd")
TPM_MODELS = ("tpm-crb", "tpm-tis")
TPM_VERSIONS = ("2.0", "1.2")
WATCHDOG_MODELS = ("i6300esb", "ib700", "itco")
WATCHDOG_ACTIONS = ("reset", "shutdown", "poweroff", "pause", "none", "dump", "inject-nmi")
PANIC_MODELS = ("isa", "pvpanic", "hyperv")
RESTART_ACTIONS = ("destroy", "restart", "preserve")
CRASH_ACTIONS = RESTART_ACTIONS + ("coredump-destroy", "coredump-restart")
LOCKFAILURE_ACTIONS = ("poweroff", "restart", "pause", "ignore")
SERIAL_TYPES = ("pty", "file", "unix", "tcp", "null")
CHANNEL_TYPES = ("unix", "pty", "spicevmc")
HOSTDEV_TYPES = ("pci", "usb")
LIFECYCLE = ("on_poweroff", "on_reboot", "on_crash", "on_lockfailure")


def tuning_options():
    """The tuning options of one VM (added to :func:`vm.args.vm_options`)."""
    s = dict(type="str")
    enabled = dict(type="bool", default=True)
    return dict(
        numa_cells=dict(type="list", elements="dict", options=dict(cpus=dict(type="str", required=True),
                                                                   memory=dict(type="str", required=True))),
        numatune=dict(type="dict", options=dict(mode=dict(type="str", choices=list(NUMATUNE_MODES)), nodeset=s)),
        cputune=dict(type="dict", options=dict(
            vcpupin=dict(type="list", elements="dict", options=dict(vcpu=dict(type="int", required=True, min=0, max=4095),
                                                                    cpuset=dict(type="str", required=True))),
            emulatorpin=s)),
        iothreads=dict(type="int", min=0, max=64),
        memory_backing=dict(type="dict", options=dict(
            hugepages=dict(type="bool"), hugepage_size=s, source=dict(type="str", choices=list(MEMORY_SOURCES)),
            access=dict(type="str", choices=["shared", "private"]), locked=dict(type="bool"))),
        hostdevs=dict(type="list", elements="dict", options=dict(
            type=dict(type="str", choices=list(HOSTDEV_TYPES), required=True), address=s, vendor=s, product=s,
            managed=dict(type="bool", default=True))),
        tpm=dict(type="dict", options=dict(enabled=enabled, model=dict(type="str", choices=list(TPM_MODELS)),
                                           version=dict(type="str", choices=list(TPM_VERSIONS)))),
        filesystems=dict(type="list", elements="dict", options=dict(
            source=dict(type="str", required=True), target=dict(type="str", required=True))),
        watchdog=dict(type="dict", options=dict(enabled=enabled, model=dict(type="str", choices=list(WATCHDOG_MODELS)),
                                                action=dict(type="str", choices=list(WATCHDOG_ACTIONS)))),
        rng=dict(type="dict", options=dict(enabled=enabled, source=s, rate_bytes=dict(type="int", min=1, max=1073741824),
                                           rate_period=dict(type="int", min=1, max=3600000))),
        panic=dict(type="dict", options=dict(enabled=enabled, model=dict(type="str", choices=list(PANIC_MODELS)))),
        on_poweroff=dict(type="str", choices=list(RESTART_ACTIONS)),
        on_reboot=dict(type="str", choices=list(RESTART_ACTIONS)),
        on_crash=dict(type="str", choices=list(CRASH_ACTIONS)),
        on_lockfailure=dict(type="str", choices=list(LOCKFAILURE_ACTIONS)),
        serials=dict(type="list", elements="dict", options=dict(
            type=dict(type="str", choices=list(SERIAL_TYPES), default="pty"), path=s, host=s,
            port=dict(type="int", min=1, max=65535))),
        channels=dict(type="list", elements="dict", options=dict(
            name=dict(type="str", required=True), type=dict(type="str", choices=list(CHANNEL_TYPES), default="unix"))),
    )


def boot_options():
    """The argument spec of the ``boot`` option."""
    return dict(type="dict", options=dict(
        order=dict(type="list", elements="str", choices=list(BOOT_DEVICES)),
        kernel=dict(type="str"), initrd=dict(type="str"), cmdline=dict(type="str"),
    ))


def cloud_init_options():
    """The argument spec of the ``cloud_init`` option (shared by vm and vms)."""
    user = dict(name=dict(type="str", required=True), ssh_authorized_keys=dict(type="list", elements="str", no_log=False),
                sudo=dict(type="str"), groups=dict(type="list", elements="str"), shell=dict(type="str"))
    nic = dict(mac=dict(type="str"), name=dict(type="str"), dhcp=dict(type="bool"),
               addresses=dict(type="list", elements="str"), gateway=dict(type="str"),
               nameservers=dict(type="list", elements="str"))
    return dict(type="dict", options=dict(
        hostname=dict(type="str"), instance_id=dict(type="str"),
        users=dict(type="list", elements="dict", options=user),
        ssh_authorized_keys=dict(type="list", elements="str", no_log=False),
        network=dict(type="list", elements="dict", options=nic),
        user_data=dict(type="str", no_log=True), meta_data=dict(type="dict"), network_config=dict(type="dict"),
        pool=dict(type="str"),
    ))
