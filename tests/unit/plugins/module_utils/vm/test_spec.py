# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of a VM checked and normalised (vm_spec, vm_values)."""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.vm import spec as vs
from ansible_collections.hotiron.virt.plugins.module_utils.vm import values as vv
from vm_examples import params, spec

GIB, MIB = vv.GIB, vv.MIB


@pytest.mark.parametrize("bad,param", [
    (dict(name="has space"), "name"), (dict(name="a/b"), "name"), (dict(name=""), "name"), (dict(name="-x"), "name"),
    (dict(vcpus=0), "vcpus"), (dict(vcpus=-2), "vcpus"), (dict(vcpus="many"), "vcpus"),
    (dict(vcpus=4, max_vcpus=2), "vcpus"),
    (dict(memory="0"), "memory"), (dict(memory="x"), "memory"), (dict(memory="8MiB"), "memory"),
    (dict(memory="2GiB", max_memory="1GiB"), "memory"), (dict(max_memory="-5"), "max_memory"),
    (dict(arch="sparc"), "arch"), (dict(firmware="coreboot"), "firmware"), (dict(os="beos"), "os"),
    (dict(cpu={"mode": "custom"}), "cpu.model"), (dict(cpu={"mode": "host-model", "model": "x"}), "cpu.model"),
    (dict(disks=[{}]), "disks[0]"), (dict(disks=[{"pool": "p"}]), "disks[0].volume"),
    (dict(disks=[{"path": "/a", "pool": "p", "volume": "v"}]), "disks[0]"),
    (dict(disks=[{"path": "rel/a.img"}]), "disks[0].path"),
    (dict(disks=[{"pool": "p", "volume": "v", "size": "0"}]), "disks[0].size"),
    (dict(disks=[{"pool": "p", "volume": "v", "size": "-1G"}]), "disks[0].size"),
    (dict(disks=[{"pool": "p", "volume": "bad/name"}]), "disks[0].volume"),
    (dict(disks=[{"path": "/a", "bus": "pata"}]), "disks[0].bus"),
    (dict(disks=[{"path": "/a", "boot_order": 0}]), "disks[0].boot_order"),
    (dict(disks=[{"path": "/a", "target": "vda"}, {"path": "/b", "target": "vda"}]), "disks"),
    (dict(interfaces=[{}]), "interfaces[0]"), (dict(interfaces=[{"network": "n", "bridge": "b"}]), "interfaces[0]"),
    (dict(interfaces=[{"network": "n", "mac": "zz:00"}]), "interfaces[0].mac"),
    (dict(interfaces=[{"network": "n", "model": "ne2k"}]), "interfaces[0].model"),
    (dict(ha_priority=-1), "ha_priority"), (dict(ha_priority=5000), "ha_priority"),
    (dict(xml="<domain>"), "xml"), (dict(xml="<devices/>"), "xml"), (dict(xml="<domain><name>y</name></domain>"), "xml"),
    (dict(clone_from="t", disks=[]), "disks"), (dict(clone="deep"), "clone"),
    (dict(limits={"max_vcpus": 0}), "limits.max_vcpus"), (dict(limits={"max_memory": "0"}), "limits.max_memory"),
    (dict(shutdown_timeout=-1), "shutdown_timeout"),
])
def test_validate_names_the_parameter(bad, param):
    with pytest.raises(vs.SpecError) as err:
        vs.validate(params(**bad))
    assert err.value.param == param


def test_validate_normalises():
    s = spec(memory="1GiB", vcpus=2, tags=["b", "a", "b"], ha_priority=5, template=False, metadata={"k": 1},
             interfaces=[{"network": "n", "mac": "52:54:00:AA:BB:CC"}],
             disks=[{"path": "/x.iso", "device": "cdrom"}])
    assert s["memory"] == GIB and s["vcpus"] == 2 and s["max_vcpus"] is None
    assert s["metadata"] == {"tags": ["a", "b"], "ha_priority": "5", "template": "false", "extra": {"k": "1"}}
    assert s["interfaces"][0]["mac"] == "52:54:00:aa:bb:cc"
    assert s["disks"][0]["readonly"] is True
    assert s["limits"] == vs.DEFAULT_LIMITS
