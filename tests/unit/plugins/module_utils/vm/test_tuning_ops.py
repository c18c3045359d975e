# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tuning options through vm_ops.ensure against libvirt's test driver with our own host
(tests/data/vm/tuning_host.xml: 4 CPUs, PCI device 0000:02:00.0, USB device 0x046d:0xc077, no
IOMMU, running VM ``run1`` with 2 vCPUs): define, re-run, check mode, diff, live vs restart,
and the refusals that come before anything changes."""

from __future__ import annotations

import json
import os

import libvirt
import pytest
from ansible.module_utils.testing import patch_module_args

import vm_driver  # tests/unit/vm_driver.py

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_ops
from ansible_collections.hotiron.virt.plugins.modules import vm as vm_module
from ansible_collections.hotiron.virt.plugins.modules import vms as vms_module

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "vm",
                                                "tuning_host.xml"))

TUNED = dict(
    name="t1", vcpus=2, memory="512MiB", disks=[dict(path="/var/tmp/t1.raw")],
    numa_cells=[dict(cpus="0", memory="256MiB"), dict(cpus="1", memory="256MiB")],
    numatune=dict(nodeset="0"),
    cputune=dict(vcpupin=[dict(vcpu=0, cpuset="1"), dict(vcpu=1, cpuset="2-3")], emulatorpin="0"),
    iothreads=1, hostdevs=[dict(type="usb", vendor="0x046d", product="0xc077")],
    tpm=dict(), watchdog=dict(action="poweroff"), rng=dict(rate_bytes=1024), panic=dict(model="isa"),
    on_poweroff="destroy", on_reboot="restart", on_crash="coredump-destroy", on_lockfailure="poweroff",
    filesystems=[dict(source="/srv/share", target="share")],
    serials=[dict(type="pty"), dict(type="tcp", port=4555)], channels=[dict(name="org.qemu.guest_agent.0")])


def ensure(conn, check=False, **kwargs):
    return vm_ops.ensure(conn, vm_driver.params(uri=HOST, **kwargs), check_mode=check)


def definitions(conn):
    return {d.name(): (dx.normalise(d.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)), d.state()[0])
            for d in conn.listAllDomains()}


def test_define_tuned_vm_then_rerun_changes_nothing(conn):
    before = definitions(conn)
    changed, result, diff = ensure(conn, check=True, **TUNED)
    assert changed and result["plan"] == ["define vm t1"]
    assert "<tpm model=\"tpm-crb\">" in diff["after"] and "<numatune>" in diff["after"]
    assert definitions(conn) == before                       # check mode changed nothing
    changed, _result, diff = ensure(conn, **TUNED)
    root = dx.parse(conn.lookupByName("t1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert {p.get("vcpu"): p.get("cpuset") for p in root.findall("cputune/vcpupin")} == {"0": "1", "1": "2-3"}
    assert root.find("devices/hostdev/source/vendor").get("id") == "0x046d"
    assert dx.get_text(root, "on_lockfailure") == "poweroff"
    changed, result, diff = ensure(conn, **TUNED)
    assert not changed and result["changes"] == [] and diff["before"] == diff["after"]


def test_stopped_vm_changes_are_config(conn):
    ensure(conn, **TUNED)
    changed, result, _diff = ensure(conn, check=True, **{**TUNED, "iothreads": 2, "watchdog": {"enabled": False}})
    assert changed and {c["field"]: c["apply"] for c in result["changes"]} == {"iothreads": "config",
                                                                               "watchdog": "config"}


def test_running_vm_pinning_and_lifecycle_live_devices_restart(conn):
    run = dict(name="run1", cputune={"emulatorpin": "1-2", "vcpupin": [{"vcpu": 1, "cpuset": "3"}]},
               on_reboot="destroy", tpm={"model": "tpm-tis"})
    changed, planned, diff = ensure(conn, check=True, **run)
    assert changed and {c["field"]: c["apply"] for c in planned["changes"]} == {
        "emulatorpin": "live", "vcpupin": "live", "on_reboot": "live", "tpm": "restart"}
    assert planned["restart_required"] and "apply emulatorpin live" in planned["plan"]
    assert "<tpm" not in diff["before"] and "<tpm model=\"tpm-tis\">" in diff["after"]
    changed, result, _diff = ensure(conn, **run)
    live = dx.parse(conn.lookupByName("run1").XMLDesc(0))
    assert live.find("cputune/emulatorpin").get("cpuset") == "1-2"     # applied live
    assert dx.get_text(live, "on_reboot") == "destroy"
    assert live.find("devices/tpm") is None                            # waits for the restart
    # The test driver pins vCPUs only without flags: the refusal is reported, and the pin stays pending.
    assert any(w.startswith("vcpupin was written to the persistent definition") for w in result["warnings"])
    assert result["restart_required"] and set(result["restart_pending"]) == {"tpm", "vcpupin"}


@pytest.mark.parametrize("extra, message", [
    (dict(hostdevs=[dict(type="pci", address="0000:03:00.0")]), "hostdevs[0].address: the host has no PCI device 0000:03:00.0"),
    (dict(hostdevs=[dict(type="pci", address="02:00.0")]), "hostdevs[0]: the host has no IOMMU"),
    (dict(hostdevs=[dict(type="usb", vendor="0x046d", product="0x0001")]), "hostdevs[0]: the host has no USB device"),
    (dict(cputune=dict(vcpupin=[dict(vcpu=0, cpuset="4")])), "cputune.vcpupin (vCPU 0): host CPU 4 does not exist"),
    (dict(cputune=dict(vcpupin=[dict(vcpu=2, cpuset="0")])), "cputune.vcpupin: vCPU 2 does not exist"),
    (dict(memory_backing=dict(hugepages=True, hugepage_size="64KiB")), "memory_backing.hugepage_size: the host offers"),
    (dict(numa_cells=[dict(cpus="0-1", memory="128MiB")]), "numa_cells: the cells' memory adds up to 128 MiB"),
])
def test_refused_before_anything_changes(conn, extra, message):
    before = definitions(conn)
    for name, base in (("t2", dict(vcpus=2, memory="512MiB", disks=[dict(path="/var/tmp/t2.raw")])), ("run1", {})):
        with pytest.raises(lc.VirtError) as err:
            ensure(conn, name=name, **dict(base, **extra))
        assert message in str(err.value)
    assert definitions(conn) == before


def run_vm_module(module, args, capsys):
    with patch_module_args(dict(args, uri=HOST)):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


def test_vm_module_takes_the_options_and_refuses_bad_ones(capsys):
    out = run_vm_module(vm_module, dict(TUNED, _ansible_check_mode=True, _ansible_diff=True), capsys)
    assert not out.get("failed") and out["changed"] and "<watchdog action=\"poweroff\"" in out["diff"]["after"]
    out = run_vm_module(vm_module, dict(name="run1", cputune={"vcpupin": [{"vcpu": 0}]}), capsys)
    assert out["failed"] and "cpuset" in out["msg"]
    out = run_vm_module(vm_module, dict(name="run1", iothreads=65), capsys)
    assert out["failed"] and "iothreads" in out["msg"]


def test_vms_entries_take_the_options_and_a_bad_one_stops_all(capsys):
    good = dict(TUNED, name="v1")
    bad = dict(name="v2", vcpus=2, disks=[dict(path="/var/tmp/v2.raw")], cputune={"emulatorpin": "0-7"})
    out = run_vm_module(vms_module, {"vms": [good, bad]}, capsys)
    assert out["failed"] and "v2" in out["msg"] and "host CPU 4-7 does not exist" in out["msg"], out["msg"]
    out = run_vm_module(vms_module, {"vms": [good], "defaults": {"state": "present"}}, capsys)
    assert not out.get("failed") and out["vms"][0]["changed"]
