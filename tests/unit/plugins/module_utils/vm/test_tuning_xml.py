# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm.tuning_xml: every tuning field written and read back the same, a second apply a no-op,
removal, and the XML the options do not manage kept."""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils.vm import tuning as vt
from ansible_collections.hotiron.virt.plugins.module_utils.vm import tuning_xml as tx
from ansible_collections.hotiron.virt.plugins.module_utils.vm.values import SpecError

BASE = """<domain type='kvm'><name>vm1</name><memory unit='KiB'>1048576</memory><vcpu>2</vcpu>
<cputune><shares>2048</shares></cputune>
<os><type arch='x86_64'>hvm</type></os><on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot>
<on_crash>destroy</on_crash>
<devices><disk type='file' device='disk'><source file='/a'/><target dev='vda' bus='virtio'/></disk>
<serial type='pty'><source path='/dev/pts/4'/><target port='0'/></serial>
<console type='pty'><source path='/dev/pts/4'/><target type='serial' port='0'/></console>
<filesystem type='mount'><driver type='path'/><source dir='/9p'/><target dir='ninep'/></filesystem>
<channel type='spiceport'><target type='virtio' name='org.spice.x'/></channel>
<channel type='unix'><target type='guestfwd' address='10.0.2.1' port='4600'/></channel>
<rng model='virtio'><backend model='random'>/dev/random</backend><address type='pci' slot='0x07'/></rng>
</devices></domain>"""

FULL = dict(
    numa_cells=[{"cpus": "0", "memory": "512MiB"}, {"cpus": "1", "memory": "512MiB"}],
    numatune={"mode": "interleave", "nodeset": "0-1"},
    cputune={"vcpupin": [{"vcpu": 0, "cpuset": "2"}, {"vcpu": 1, "cpuset": "3"}], "emulatorpin": "0-1"},
    iothreads=2, memory_backing={"hugepages": True, "hugepage_size": "2MiB", "locked": True, "access": "shared"},
    hostdevs=[{"type": "pci", "address": "0000:02:00.0"}, {"type": "usb", "vendor": "0x046d", "product": "0xc077",
                                                           "managed": False}],
    tpm={"model": "tpm-tis", "version": "1.2"}, filesystems=[{"source": "/srv/share", "target": "share"}],
    watchdog={"model": "itco", "action": "dump"}, rng={"source": "/dev/urandom", "rate_bytes": 2048},
    panic={"model": "isa"}, on_poweroff="preserve", on_reboot="destroy", on_crash="coredump-destroy",
    on_lockfailure="pause",
    serials=[{"type": "tcp", "port": 4555}, {"type": "unix", "path": "/run/s.sock"}, {"type": "file", "path": "/l"}],
    channels=[{"name": "org.qemu.guest_agent.0"}, {"name": "com.redhat.spice.0", "type": "spicevmc"}])


def applied(base=BASE, **params):
    root = dx.parse(base)
    tx.apply(root, vt.validate(params), host_cpus=4)
    return root


def test_every_field_reads_back_as_written_and_twice_is_once():
    tuning = vt.validate(FULL)
    root = applied(**FULL)
    got = tx.summarise(root)
    for field in vt.FIELDS:
        assert got[field] == tuning[field], field
    assert dx.get_text(root, "on_crash") == "coredump-destroy"
    text = dx.normalise(root)
    again = dx.parse(dx.tostring(root))
    tx.apply(again, tuning, host_cpus=4)
    assert dx.normalise(again) == text


def test_unmanaged_xml_is_kept():
    root = applied(**FULL)
    assert dx.get_text(root, "cputune/shares") == "2048"
    assert root.find("devices/disk/source").get("file") == "/a"
    assert [f.find("target").get("dir") for f in root.findall("devices/filesystem")] == ["ninep", "share"]
    assert {c.find("target").get("name") or c.find("target").get("type") for c in root.findall("devices/channel")} == {
        "guestfwd", "org.qemu.guest_agent.0", "com.redhat.spice.0"}       # non-virtio channel kept
    assert "org.spice.x" not in dx.tostring(root)                            # virtio channels: the complete list


def test_unchanged_fields_are_not_rewritten():
    # The RNG already is what is asked: its address, which libvirt assigned, stays.
    root = applied(rng={"source": "/dev/random"})
    assert root.find("devices/rng/address").get("slot") == "0x07"
    root = applied(serials=[{"type": "pty"}])
    assert root.find("devices/serial/source").get("path") == "/dev/pts/4"


def test_console_follows_the_first_serial_port():
    root = applied(serials=[{"type": "tcp", "port": 4555}])
    console = root.find("devices/console")
    assert console.get("type") == "tcp"
    assert console.find("source").get("service") == "4555" and console.find("target").get("type") == "serial"


@pytest.mark.parametrize("params, gone", [
    ({"numa_cells": [], "cputune": {"vcpupin": [], "emulatorpin": ""}, "numatune": {}, "iothreads": 0,
      "memory_backing": {}}, ["cpu", "cputune/vcpupin", "cputune/emulatorpin", "numatune", "iothreads", "memoryBacking"]),
    ({"hostdevs": [], "tpm": {"enabled": False}, "filesystems": [], "watchdog": {"enabled": False},
      "rng": {"enabled": False}, "panic": {"enabled": False}, "channels": []},
     ["devices/hostdev", "devices/tpm", "devices/watchdog", "devices/rng", "devices/panic"]),
])
def test_empty_values_remove(params, gone):
    root = applied(dx.tostring(applied(**FULL)), **params)
    for path in gone:
        assert root.find(path) is None, path
    assert dx.get_text(root, "cputune/shares") == "2048"


def test_virtiofs_gets_shared_memory_unless_memory_backing_is_managed():
    root = applied(filesystems=[{"source": "/srv", "target": "s"}])
    assert root.find("memoryBacking/source").get("type") == "memfd"
    assert root.find("memoryBacking/access").get("mode") == "shared"


def test_definition_checked_after_writing():
    with pytest.raises(SpecError, match="vCPU 2 does not exist"):
        applied(cputune={"vcpupin": [{"vcpu": 2, "cpuset": "0"}]})
    with pytest.raises(SpecError, match="host CPU 4 does not exist"):
        applied(cputune={"emulatorpin": "4"})
    with pytest.raises(SpecError, match="max_memory is 1024 MiB"):
        applied(numa_cells=[{"cpus": "0-1", "memory": "512MiB"}])


def test_summary_of_a_plain_definition_is_empty():
    got = tx.summarise(dx.parse("<domain><name>x</name></domain>"))
    assert got["numa_cells"] == [] and got["vcpupin"] == {} and got["tpm"] == {} and got["emulatorpin"] == ""
    assert got["on_poweroff"] == "destroy" and got["on_reboot"] == "restart" and got["on_lockfailure"] is None


LIBVIRT11_TEST_DRIVER_CAPS = """<domainCapabilities><domain>kvm</domain><arch>x86_64</arch>
<cpu><mode name='host-passthrough' supported='no'/></cpu><devices>
</devices><features><sev supported='no'/></features></domainCapabilities>"""

QEMU_CAPS = """<domainCapabilities><devices>
<tpm supported='yes'><enum name='model'><value>tpm-tis</value><value>tpm-crb</value></enum>
<enum name='backendModel'><value>passthrough</value><value>emulator</value></enum></tpm>
<filesystem supported='yes'><enum name='driverType'><value>path</value><value>virtiofs</value></enum></filesystem>
</devices></domainCapabilities>"""


def test_offered_reads_the_domain_capabilities_and_a_device_left_out_says_nothing():
    assert tx.offered(dx.parse(QEMU_CAPS)) == {"tpm_models": ["tpm-tis", "tpm-crb"],
                                               "tpm_backends": ["passthrough", "emulator"],
                                               "fs_drivers": ["path", "virtiofs"]}
    # libvirt 11's test driver answers with no devices: unknown, not "none offered"
    assert tx.offered(dx.parse(LIBVIRT11_TEST_DRIVER_CAPS)) == {"tpm_models": None, "tpm_backends": None,
                                                                "fs_drivers": None}
    no_tpm = QEMU_CAPS.replace("<tpm supported='yes'>", "<tpm supported='no'>")
    assert tx.offered(dx.parse(no_tpm))["tpm_backends"] == []
    with pytest.raises(SpecError, match="tpm: the host cannot emulate a TPM"):
        vt.check_domain_caps(vt.validate({"tpm": {"model": "tpm-crb"}}), tx.offered(dx.parse(no_tpm)))
