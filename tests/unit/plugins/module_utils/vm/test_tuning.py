# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm.tuning: validation, CPU sets, the checks against the definition and the host, the plan."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.hotiron.virt.plugins.module_utils.vm import args as vm_args
from ansible_collections.hotiron.virt.plugins.module_utils.vm import option_specs
from ansible_collections.hotiron.virt.plugins.module_utils.vm import tuning as vt
from ansible_collections.hotiron.virt.plugins.module_utils.vm.values import SpecError

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", ".."))


@pytest.mark.parametrize("text, cpus, canonical", [
    ("0", (0,), "0"), ("0-3", (0, 1, 2, 3), "0-3"), ("0-3,^2", (0, 1, 3), "0-1,3"),
    ("5,1, 2", (1, 2, 5), "1-2,5"), ("0-7,^0-7,9", (9,), "9"),
])
def test_cpuset_parses_libvirt_syntax(text, cpus, canonical):
    assert vt.parse_cpuset(text, "x") == cpus
    assert vt.format_cpuset(cpus) == canonical


@pytest.mark.parametrize("text", ["", "a", "3-1", "0-3,^0-3", "1-", "4096", "0,,1"])
def test_bad_cpuset_is_refused(text):
    with pytest.raises(SpecError) as err:
        vt.parse_cpuset(text, "cputune.emulatorpin")
    assert "cputune.emulatorpin" in str(err.value)


def test_nothing_given_manages_nothing():
    t = vt.validate({})
    assert vt.is_empty(t) and set(t) == set(vt.FIELDS) | {"on_crash"}
    assert not vt.is_empty(vt.validate({"on_crash": "preserve"}))


def test_full_spec_is_normalised():
    t = vt.validate(dict(
        numa_cells=[{"cpus": "0-1", "memory": "1GiB"}, {"cpus": "2,3", "memory": "1GiB"}],
        numatune={"nodeset": "0"}, cputune={"vcpupin": [{"vcpu": 1, "cpuset": "3,2"}], "emulatorpin": "0-1,^1"},
        iothreads=2, memory_backing={"hugepages": True, "hugepage_size": "2MiB"},
        hostdevs=[{"type": "pci", "address": "01:00.1"}, {"type": "usb", "vendor": "046D", "product": "0xc077"}],
        tpm={}, watchdog={"action": "pause"}, rng={"enabled": False}, panic={"model": "hyperv"},
        on_crash="coredump-restart", serials=[{"type": "tcp", "port": 4555}], channels=[{"name": "org.qemu.guest_agent.0"}]))
    assert t["numa_cells"] == [{"id": 0, "cpus": "0-1", "memory_kib": 1048576}, {"id": 1, "cpus": "2-3", "memory_kib": 1048576}]
    assert t["numatune"] == {"mode": "strict", "nodeset": "0"}
    assert t["vcpupin"] == {1: "2-3"} and t["emulatorpin"] == "0"
    assert t["memory_backing"] == {"hugepages": True, "hugepage_kib": 2048, "source": None, "access": None, "locked": False}
    assert t["hostdevs"] == [{"type": "pci", "address": "0000:01:00.1", "managed": True},
                             {"type": "usb", "vendor": "0x046d", "product": "0xc077", "managed": True}]
    assert t["tpm"] == {"model": "tpm-crb", "version": "2.0"}        # {}: the defaults
    assert t["rng"] == {}                                              # enabled: false removes it
    assert t["watchdog"] == {"model": "i6300esb", "action": "pause"}
    assert t["serials"] == [{"type": "tcp", "path": None, "host": "127.0.0.1", "port": 4555}]
    assert t["channels"] == [{"name": "org.qemu.guest_agent.0", "type": "unix"}]


@pytest.mark.parametrize("params, param", [
    ({"numa_cells": [{"cpus": "0-1", "memory": "1GiB"}, {"cpus": "1", "memory": "1GiB"}]}, "numa_cells[1].cpus"),
    ({"numa_cells": [{"cpus": "0", "memory": "8MiB"}]}, "numa_cells[0].memory"),
    ({"numatune": {"mode": "strict"}}, "numatune.nodeset"),
    ({"cputune": {"vcpupin": [{"vcpu": 0, "cpuset": "1"}, {"vcpu": 0, "cpuset": "2"}]}}, "cputune.vcpupin[1].vcpu"),
    ({"cputune": {"vcpupin": [{"vcpu": 0, "cpuset": "x"}]}}, "cputune.vcpupin[0].cpuset"),
    ({"iothreads": 65}, "iothreads"),
    ({"memory_backing": {"hugepage_size": "2MiB"}}, "memory_backing.hugepage_size"),
    ({"memory_backing": {"hugepages": True, "hugepage_size": "3MiB"}}, "memory_backing.hugepage_size"),
    ({"hostdevs": [{"type": "pci", "address": "1:0.0"}]}, "hostdevs[0].address"),
    ({"hostdevs": [{"type": "pci", "address": "01:00.0", "vendor": "0x8086"}]}, "hostdevs[0]"),
    ({"hostdevs": [{"type": "usb", "vendor": "0x046d"}]}, "hostdevs[0].product"),
    ({"hostdevs": [{"type": "pci", "address": "01:00.0"}, {"type": "pci", "address": "0000:01:00.0"}]}, "hostdevs[1]"),
    ({"tpm": {"model": "tpm-crb", "version": "1.2"}}, "tpm.version"),
    ({"filesystems": [{"source": "srv", "target": "s"}]}, "filesystems[0].source"),
    ({"filesystems": [{"source": "/srv", "target": "a b"}]}, "filesystems[0].target"),
    ({"filesystems": [{"source": "/srv", "target": "s"}], "memory_backing": {"hugepages": True}}, "memory_backing.access"),
    ({"rng": {"source": "/etc/passwd"}}, "rng.source"),
    ({"rng": {"rate_period": 1000}}, "rng.rate_bytes"),
    ({"on_crash": "restart", "ha": True}, "on_crash"),
    ({"serials": [{"type": "file"}]}, "serials[0].path"),
    ({"serials": [{"type": "pty", "port": 22}]}, "serials[0].port"),
    ({"serials": [], "console": True}, "serials"),
    ({"serials": []}, "serials"),
    ({"serials": [{"type": "pty"}], "console": False}, "serials"),
    ({"channels": [{"name": "a"}, {"name": "a"}]}, "channels"),
    ({"channels": [{"name": "x", "type": "spicevmc"}]}, "channels[0].name"),
])
def test_bad_tuning_is_refused_naming_the_option(params, param):
    with pytest.raises(SpecError) as err:
        vt.validate(params)
    assert str(err.value).startswith(param), str(err.value)


def summary(max_vcpus=4, max_memory=2 * 1048576):
    return {"max_vcpus": max_vcpus, "max_memory": max_memory}


def test_definition_checks_pinning_against_vcpus_and_host_cpus():
    t = vt.validate({"cputune": {"vcpupin": [{"vcpu": 3, "cpuset": "0"}]}})
    vt.check_definition(t, summary(), host_cpus=4)
    with pytest.raises(SpecError, match="vCPU 3 does not exist: the vm has 2 vCPUs"):
        vt.check_definition(t, summary(max_vcpus=2), host_cpus=4)
    beyond = vt.validate({"cputune": {"vcpupin": [{"vcpu": 0, "cpuset": "2-5"}], "emulatorpin": "0"}})
    with pytest.raises(SpecError, match=r"host CPU 4-5 does not exist: the host has 4 CPUs \(0-3\)"):
        vt.check_definition(beyond, summary(), host_cpus=4)
    with pytest.raises(SpecError, match="cputune.emulatorpin: host CPU 9"):
        vt.check_definition(vt.validate({"cputune": {"emulatorpin": "9"}}), summary(), host_cpus=4)
    vt.check_definition(beyond, summary(), host_cpus=None)       # host unknown: nothing to check


def test_definition_checks_numa_cells():
    cells = [{"cpus": "0-1", "memory": "1GiB"}, {"cpus": "2-3", "memory": "1GiB"}]
    vt.check_definition(vt.validate({"numa_cells": cells}), summary(), 4)
    with pytest.raises(SpecError, match="vCPUs 2-3 are in no cell"):
        vt.check_definition(vt.validate({"numa_cells": cells[:1]}), summary(), 4)
    with pytest.raises(SpecError, match="vCPU 3 is in a cell but the vm has 2 vCPUs"):
        vt.check_definition(vt.validate({"numa_cells": cells}), summary(max_vcpus=2), 4)
    with pytest.raises(SpecError, match="adds up to 2048 MiB, the vm's max_memory is 3072 MiB"):
        vt.check_definition(vt.validate({"numa_cells": cells}), summary(max_memory=3 * 1048576), 4)


def test_host_devices_refused_when_missing_or_without_iommu():
    devs = vt.validate({"hostdevs": [{"type": "pci", "address": "01:00.0"},
                                     {"type": "usb", "vendor": "0x046d", "product": "0xc077"}]})["hostdevs"]

    def usb(vendor, product):
        return (vendor, product) == ("0x046d", "0xc077")

    vt.check_hostdevs(devs, True, lambda a: True, usb)
    with pytest.raises(SpecError, match=r"hostdevs\[0\].address: the host has no PCI device 0000:01:00.0"):
        vt.check_hostdevs(devs, True, lambda a: False, usb)
    with pytest.raises(SpecError, match=r"hostdevs\[0\]: the host has no IOMMU"):
        vt.check_hostdevs(devs, False, lambda a: True, usb)
    with pytest.raises(SpecError, match=r"hostdevs\[1\]: the host has no USB device 0x046d:0xc077"):
        vt.check_hostdevs(devs, None, lambda a: True, lambda v, p: False)


def test_tpm_and_virtiofs_checked_against_the_domain_capabilities():
    t = vt.validate({"tpm": {"model": "tpm-crb"}, "filesystems": [{"source": "/srv", "target": "s"}]})
    offered = {"tpm_models": ["tpm-tis", "tpm-crb"], "tpm_backends": ["passthrough", "emulator"],
               "fs_drivers": ["path", "virtiofs"]}
    vt.check_domain_caps(t, offered)
    vt.check_domain_caps(t, None)                       # a driver without domain capabilities
    vt.check_domain_caps(t, {"tpm_models": None, "tpm_backends": None, "fs_drivers": None})  # devices left out
    with pytest.raises(SpecError, match="tpm: the host cannot emulate a TPM .*install swtpm"):
        vt.check_domain_caps(t, dict(offered, tpm_backends=["passthrough"]))
    with pytest.raises(SpecError, match="tpm.model: the host offers tpm-tis, not tpm-crb"):
        vt.check_domain_caps(t, dict(offered, tpm_models=["tpm-tis"]))
    with pytest.raises(SpecError, match="filesystems: .*install virtiofsd"):
        vt.check_domain_caps(t, dict(offered, fs_drivers=["path"]))


def test_hugepage_size_checked_against_the_host():
    mb = vt.validate({"memory_backing": {"hugepages": True, "hugepage_size": "1GiB"}})["memory_backing"]
    vt.check_hugepages(mb, {4, 2048, 1048576})
    with pytest.raises(SpecError, match="offers pages of 4, 2048 KiB, not 1048576 KiB"):
        vt.check_hugepages(mb, {4, 2048})


def test_plan_marks_pinning_and_lifecycle_live_the_rest_restart():
    base = dict.fromkeys(vt.FIELDS)
    before = dict(base, vcpupin={0: "1"}, emulatorpin="", watchdog={}, on_reboot="restart", on_lockfailure=None)
    after = dict(base, vcpupin={0: "2"}, emulatorpin="0", watchdog={"model": "i6300esb", "action": "reset"},
                 on_reboot="destroy", on_lockfailure="pause")
    running = {c["field"]: c["apply"] for c in vt.plan(before, after, True)}
    assert running == {"vcpupin": "live", "emulatorpin": "live", "watchdog": "restart", "on_reboot": "live",
                       "on_lockfailure": "restart"}
    assert {c["apply"] for c in vt.plan(before, after, False)} == {"config"}
    assert vt.plan(after, after, True) == []


def test_argument_spec_is_vms_and_vm_and_matches_the_doc_fragment():
    options = vm_args.vm_options()
    spec = option_specs.tuning_options()
    assert all(options[key] == value for key, value in spec.items())
    with open(os.path.join(ROOT, "plugins", "doc_fragments", "vm_tuning.py"), encoding="utf-8") as handle:
        scope = {}
        exec(handle.read(), scope)  # pylint: disable=exec-used
    docs = yaml.safe_load(scope["ModuleDocFragment"].DOCUMENTATION)["options"]

    def same(arg, doc, path):
        assert set(arg) == set(doc), path
        for key, value in arg.items():
            assert doc[key]["type"] == value["type"], path + key
            assert doc[key].get("choices") == value.get("choices"), path + key
            assert doc[key].get("default") == value.get("default"), path + key
            assert bool(doc[key].get("required")) == bool(value.get("required")), path + key
            if value.get("options"):
                same(value["options"], doc[key]["suboptions"], path + key + ".")
    same(spec, docs, "")
    assert all(doc.get("version_added") == "0.2.0" for doc in docs.values())
