# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hotiron.virt.vm's tuning options on a real libvirt + QEMU host of the lab (TCG).

One OS-less guest (the lab's idle boot sector) is defined with NUMA cells, vCPU and emulator
pinning, an I/O thread, an emulated TPM (swtpm), a virtiofs share (virtiofsd), a watchdog, an
RNG, a panic device, lifecycle actions, two serial ports and the guest agent's channel, and
started: check mode first (nothing defined), then the run, then a re-run that changes nothing.
The pinning is then changed on the running guest and read back from its live XML and from
libvirt's pinning info; a watchdog change is reported as needing a restart; a PCI host device
is refused (no such device, no IOMMU here) with the VM untouched.
"""

from __future__ import annotations

import os
import sys

import libvirt
import pytest

import guests as lab_guests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "build", "src"))

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx  # noqa: E402

pytestmark = pytest.mark.lab

NAME = "tune-%d" % os.getpid()


@pytest.fixture
def host_vm(lab):
    host = lab.host("hv1")
    disk_file = os.path.join(host.images_dir, NAME + ".img")
    lab_guests.make_image(disk_file, "idle")
    share = os.path.join(lab.shared_dir, NAME + "-share")
    os.makedirs(share, exist_ok=True)
    conn = libvirt.open(host.uri)
    yield host, conn, "/var/lib/libvirt/images/%s.img" % NAME, "%s/%s-share" % (lab.shared_path, NAME)
    try:
        dom = conn.lookupByName(NAME)
        if dom.isActive():
            dom.destroy()
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_TPM)
    except libvirt.libvirtError:
        pass
    conn.close()
    os.unlink(disk_file)
    os.rmdir(share)


def spec(host, disk, share, **kwargs):
    args = dict(
        uri=host.uri, name=NAME, domain_type="qemu", machine="pc", vcpus=2, memory="64MiB",
        disks=[{"path": disk, "format": "raw"}],
        numa_cells=[{"cpus": "0", "memory": "32MiB"}, {"cpus": "1", "memory": "32MiB"}],
        numatune={"mode": "preferred", "nodeset": "0"},
        cputune={"vcpupin": [{"vcpu": 0, "cpuset": "0"}, {"vcpu": 1, "cpuset": "1"}], "emulatorpin": "0-1"},
        iothreads=1,
        tpm={"model": "tpm-tis", "version": "2.0"},
        filesystems=[{"source": share, "target": "share"}],
        watchdog={"model": "i6300esb", "action": "poweroff"},
        rng={"source": "/dev/urandom", "rate_bytes": 1024, "rate_period": 1000},
        panic={"model": "isa"},
        on_poweroff="destroy", on_reboot="restart", on_crash="preserve",
        serials=[{"type": "pty"}, {"type": "unix", "path": "/var/lib/libvirt/qemu/%s-serial1.sock" % NAME}],
        channels=[{"name": "org.qemu.guest_agent.0"}],
        state="running")
    args.update(kwargs)
    return args


def test_tuned_vm_runs_idempotent_and_repins_live(host_vm, run_module):
    host, conn, disk, share = host_vm
    args = spec(host, disk, share)

    planned = run_module("hotiron.virt.vm", args, check=True, diff=True)
    assert planned["changed"] and not planned.get("failed"), planned
    assert "<tpm model=\"tpm-tis\">" in planned["diff"]["after"]
    with pytest.raises(libvirt.libvirtError):
        conn.lookupByName(NAME)         # check mode defined nothing

    made = run_module("hotiron.virt.vm", args)
    assert made["changed"] and not made.get("failed"), made
    dom = conn.lookupByName(NAME)
    assert dom.isActive()
    live = dx.parse(dom.XMLDesc(0))
    assert [(c.get("id"), c.get("cpus")) for c in live.findall("cpu/numa/cell")] == [("0", "0"), ("1", "1")]
    assert live.find("devices/tpm/backend").get("type") == "emulator"
    assert live.find("devices/filesystem/driver").get("type") == "virtiofs"
    assert live.find("devices/watchdog").get("action") == "poweroff"
    assert live.find("devices/panic").get("model") == "isa"
    assert dx.get_text(live, "iothreads") == "1"
    assert live.find("numatune/memory").attrib == {"mode": "preferred", "nodeset": "0"}
    assert dx.get_text(live, "on_crash") == "preserve"
    assert [s.get("type") for s in live.findall("devices/serial")] == ["pty", "unix"]
    assert live.find("devices/channel/target").get("name") == "org.qemu.guest_agent.0"
    assert dom.vcpuPinInfo(0)[:2] == [(True, False), (False, True)]

    again = run_module("hotiron.virt.vm", args)
    assert not again["changed"] and not again.get("failed"), again
    assert not again["restart_required"]

    # Pinning changes on the running guest: applied live, no restart needed.
    repin = spec(host, disk, share, cputune={"vcpupin": [{"vcpu": 0, "cpuset": "1"}, {"vcpu": 1, "cpuset": "0"}],
                                             "emulatorpin": "1"}, on_reboot="destroy")
    planned = run_module("hotiron.virt.vm", repin, check=True)
    assert {c["field"]: c["apply"] for c in planned["changes"]} == {
        "vcpupin": "live", "emulatorpin": "live", "on_reboot": "live"}, planned["changes"]
    assert dom.vcpuPinInfo(0)[:2] == [(True, False), (False, True)]      # check mode: not yet
    done = run_module("hotiron.virt.vm", repin)
    assert done["changed"] and not done.get("warnings"), done
    assert not done["restart_required"], done
    live = dx.parse(dom.XMLDesc(0))
    assert {p.get("vcpu"): p.get("cpuset") for p in live.findall("cputune/vcpupin")} == {"0": "1", "1": "0"}
    assert live.find("cputune/emulatorpin").get("cpuset") == "1"
    assert dx.get_text(live, "on_reboot") == "destroy"
    assert dom.vcpuPinInfo(0)[:2] == [(False, True), (True, False)]
    assert not run_module("hotiron.virt.vm", repin)["changed"]

    # Unpinned live: every vCPU may run on every host CPU again.
    unpin = dict(repin, cputune={"vcpupin": [], "emulatorpin": ""})
    done = run_module("hotiron.virt.vm", unpin)
    assert done["changed"] and not done.get("warnings") and not done["restart_required"], done
    assert all(all(cpus) for cpus in dom.vcpuPinInfo(0)) and all(dom.emulatorPinInfo(0))
    assert not run_module("hotiron.virt.vm", unpin)["changed"]

    # A device change waits for a restart, and says so.
    watchdog = dict(unpin, watchdog={"model": "i6300esb", "action": "reset"})
    pending = run_module("hotiron.virt.vm", watchdog)
    assert pending["changed"] and pending["restart_required"], pending
    assert pending["restart_pending"] == ["watchdog"], pending
    assert dx.parse(dom.XMLDesc(0)).find("devices/watchdog").get("action") == "poweroff"

    # PCI passthrough: refused before anything changes (no such device, and no IOMMU here).
    before = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    refused = run_module("hotiron.virt.vm", dict(watchdog, hostdevs=[{"type": "pci", "address": "0000:7f:1f.7"}]))
    assert refused.get("failed") and "hostdevs[0]" in refused["msg"], refused
    assert dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == before
