# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hotiron.virt.host_info on the lab's real libvirtd + QEMU hosts."""

from __future__ import annotations

import pytest

from lab import probe_kvm

pytestmark = pytest.mark.lab


def test_host_info_inside_a_lab_host(lab, run_module, lab_guest):
    guest = lab_guest("hv1", kind="idle", memory_mib=32)
    result = run_module("hotiron.virt.host_info", {}, host="hv1")
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["hostname"] == "hv1"
    assert result["hypervisor"]["driver"] == "QEMU"
    assert result["hypervisor"]["version"].split(".")[0].isdigit()
    assert result["hypervisor"]["libvirt_version"].startswith("9.")
    assert result["cpu"]["cpus"] >= 1 and result["cpu"]["sockets"] >= 1
    assert 0 < result["memory"]["free_mib"] <= result["memory"]["total_mib"]
    names = result["guests"]["running_names"]
    assert guest.name in names
    mine = [g for g in result["guests"]["list"] if g["name"] == guest.name][0]
    assert mine["state"] == "running" and mine["vcpus"] == 1 and mine["memory_mib"] == 32
    assert result["committed"]["running"]["memory_mib"] >= 32
    verdict = result["virtualisation"]
    # What the host offers, whatever type the lab's own test guests use (LAB_VIRT_TYPE).
    if probe_kvm()[0] == "kvm":
        # The lab's machines: KVM through kvm_pvm/nested, /dev/kvm given to group kvm.
        assert verdict["usable"] is True and verdict["virt_type"] == "kvm"
        assert verdict["verdict"] in ("hardware", "nested", "pvm")
        assert verdict["device_access"]["ok"] is True
        assert "kvm" in result["guest_virt_types"]["x86_64"]
    else:
        assert verdict["usable"] is False


def test_host_info_remote_uri_from_the_controller(lab, run_module):
    host = lab.host("hv2")
    result = run_module("hotiron.virt.host_info", {"uri": host.uri, "virtualisation": False})
    assert not result.get("failed"), result
    assert result["hostname"] == "hv2" and result["uri"] == host.uri
    assert "virtualisation" not in result


def test_host_info_check_mode_and_unreachable_host(lab, run_module):
    checked = run_module("hotiron.virt.host_info", {"uri": lab.host("hv3").uri}, check=True)
    assert checked["changed"] is False and checked["hostname"] == "hv3"
    failed = run_module("hotiron.virt.host_info", {"uri": "qemu+tcp://127.0.0.1:1/system"})
    # (the result callback keeps the status apart: a failed result has msg and no facts)
    assert "hostname" not in failed and failed["libvirt_error"]["code_name"] == "VIR_ERR_SYSTEM_ERROR"
    assert failed["msg"].startswith("Failed to connect to libvirt at qemu+tcp://127.0.0.1:1/system")
