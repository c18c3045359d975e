# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Changes between definitions and how they apply (vm_plan)."""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.vm import plan as vp
from vm_examples import FULL, build, plan_for


@pytest.mark.parametrize("kwargs,expected", [
    (dict(memory="512MiB"), {"memory": "live"}),
    (dict(memory="2GiB"), {"memory": "restart", "max_memory": "restart"}),
    (dict(vcpus=3), {"vcpus": "live"}),
    (dict(vcpus=6, max_vcpus=6), {"vcpus": "restart", "max_vcpus": "restart"}),
    (dict(owner="other"), {"metadata": "live"}),
    (dict(description="new"), {"description": "live"}),
    (dict(machine="pc"), {"machine": "restart"}),
    (dict(cpu={"mode": "host-model"}), {"cpu": "restart"}),
    (dict(os="windows"), {"hyperv": "restart", "clock": "restart", "metadata": "live"}),
    (dict(disks=FULL["disks"] + [{"pool": "p", "volume": "c.qcow2"}]), {"disks.vdc": "live"}),
    (dict(disks=FULL["disks"] + [{"path": "/d.img", "bus": "sata"}]), {"disks.sdb": "restart"}),
    (dict(disks=FULL["disks"][:1] + FULL["disks"][2:]), {"disks.sda": "restart"}),
    (dict(disks=FULL["disks"][:2]), {"disks.vdb": "live"}),
    (dict(disks=[dict(FULL["disks"][0], cache="writeback")] + FULL["disks"][1:]), {"disks.vda": "restart"}),
    (dict(interfaces=FULL["interfaces"] + [{"network": "n2", "mac": "52:54:00:00:00:02"}]),
     {"interfaces.52:54:00:00:00:02": "live"}),
    (dict(interfaces=FULL["interfaces"][1:]), {"interfaces.new0": "live"}),  # unplugged; the other kept by MAC
    (dict(graphics="none"), {"graphics": "restart"}),
    ({}, {}),
])
def test_plan_live_or_restart(kwargs, expected):
    assert plan_for(**kwargs) == expected


def test_plan_on_a_stopped_vm_is_config():
    assert set(plan_for(running=False, memory="2GiB").values()) == {"config"}


def test_plan_uses_the_live_maximum():
    before = vp.summarise(build(**FULL))
    after = dict(before, memory=768 * 1024)
    live = dict(before, max_memory=512 * 1024)
    assert vp.plan(before, after, True, live)[0]["apply"] == "restart"


def test_vcpu_changes_of_a_running_tcg_guest_wait_for_a_restart():
    """Under TCG a hot-plugged vCPU can abort QEMU (no free translation-cache region for its
    thread) and an unplug outlasts libvirt's wait: both wait for the restart; KVM guests change live."""
    kvm = vp.summarise(build(**dict(FULL, vcpus=2)))
    tcg = dict(kvm, type="qemu")
    assert [(c["field"], c["apply"]) for c in vp.plan(tcg, dict(tcg, vcpus=1), True)] == [("vcpus", "restart")]
    assert [(c["field"], c["apply"]) for c in vp.plan(tcg, dict(tcg, vcpus=3), True)] == [("vcpus", "restart")]
    assert [(c["field"], c["apply"]) for c in vp.plan(kvm, dict(kvm, vcpus=1), True)] == [("vcpus", "live")]
    assert [(c["field"], c["apply"]) for c in vp.plan(kvm, dict(kvm, vcpus=3), True)] == [("vcpus", "live")]
    assert [(c["field"], c["apply"]) for c in vp.plan(tcg, dict(tcg, vcpus=1), False)] == [("vcpus", "config")]
    assert vp.restart_pending(tcg, dict(tcg, vcpus=3)) == ["vcpus"]
    assert vp.tcg_vcpu_change("qemu", 2, 1) and vp.tcg_vcpu_change("qemu", 1, 2) and not vp.tcg_vcpu_change("kvm", 2, 1)
    assert not vp.tcg_vcpu_change("qemu", 2, 2) and not vp.tcg_vcpu_change("qemu", None, 1)


def test_restart_pending():
    live = vp.summarise(build(**FULL))
    assert vp.restart_pending(live, live) == []
    assert vp.restart_pending(live, dict(live, machine="pc")) == ["machine"]
    assert vp.restart_pending(live, dict(live, metadata={})) == []
    assert vp.restart_pending(live, dict(live, memory=live["memory"] // 2)) == []   # balloon: a request
    assert vp.restart_pending(live, dict(live, memory=live["max_memory"] * 2)) == ["memory"]
    assert vp.restart_pending(live, dict(live, interfaces={})) != []               # an unplug that did not happen
    host_model = dict(live, cpu={"mode": "host-model", "model": None})
    assert vp.restart_pending(dict(live, cpu={"mode": "custom", "model": "EPYC"}), host_model) == []
