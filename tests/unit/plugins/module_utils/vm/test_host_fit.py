# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a host offers and whether a spec fits it (vm_host)."""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.vm import host_fit as vh
from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_xml as vx
from ansible_collections.hotiron.virt.plugins.module_utils.vm.values import MIB, SpecError
from vm_examples import CAPS, HOST, spec


def test_parse_capabilities():
    assert HOST["cpus"] == 4 and HOST["memory"] == 8192 * MIB
    assert HOST["arches"]["x86_64"]["domain_types"] == ["qemu", "kvm"]
    assert HOST["arches"]["x86_64"]["machines"]["q35"] == "pc-q35-7.2"
    assert HOST["arches"]["x86_64"]["machines"]["pc-q35-7.2"] == "pc-q35-7.2"


def test_accept_any_arch_is_for_the_test_driver():
    only_i686 = "<capabilities><guest><os_type>hvm</os_type><arch name='i686'><domain type='test'/></arch></guest></capabilities>"
    assert set(vh.parse_capabilities(only_i686)["arches"]) == {"i686"}
    assert set(vh.parse_capabilities(only_i686, accept_any_arch=True)["arches"]) == {"i686", "x86_64"}


@pytest.mark.parametrize("kwargs,expected", [
    ({}, {"arch": "x86_64", "domain_type": "kvm", "machine": None}),
    ({"arch": "i686"}, {"arch": "i686", "domain_type": "qemu", "machine": None}),
    ({"machine": "q35"}, {"arch": "x86_64", "domain_type": "kvm", "machine": "pc-q35-7.2"}),
    ({"machine": "pc-i440fx-7.2", "domain_type": "qemu"}, {"arch": "x86_64", "domain_type": "qemu", "machine": "pc-i440fx-7.2"}),
])
def test_check_host(kwargs, expected):
    assert vh.check_host(spec(**kwargs), HOST) == expected


@pytest.mark.parametrize("kwargs,param", [
    ({"machine": "virt"}, "machine"), ({"arch": "i686", "domain_type": "kvm"}, "domain_type"),
])
def test_check_host_refuses(kwargs, param):
    with pytest.raises(SpecError) as err:
        vh.check_host(spec(**kwargs), HOST)
    assert err.value.param == param


def test_check_host_refuses_missing_arch():
    host = vh.parse_capabilities(CAPS.replace("name='i686'", "name='aarch64'"))
    with pytest.raises(SpecError, match="cannot run i686") as err:
        vh.check_host(spec(arch="i686"), host)
    assert err.value.param == "arch"


@pytest.mark.parametrize("kwargs,param,message", [
    ({"vcpus": 9, "overcommit": True}, "vcpus", "per-guest limit of 8"),
    ({"vcpus": 2, "max_vcpus": 9, "overcommit": True}, "max_vcpus", "per-guest limit of 8"),
    ({"memory": "97GiB", "overcommit": True}, "memory", "per-guest limit of 96GiB"),
    ({"vcpus": 5}, "vcpus", "4 CPUs of the host"),
    ({"memory": "9GiB"}, "memory", "8GiB of memory"),
    ({"memory": "1GiB", "max_memory": "10GiB"}, "max_memory", "8GiB"),
    ({"vcpus": 3, "limits": {"max_vcpus": 2}}, "vcpus", "limit of 2"),
    ({"memory": "2GiB", "limits": {"max_memory": "1GiB"}}, "memory", "limit of 1GiB"),
])
def test_limits(kwargs, param, message):
    with pytest.raises(SpecError, match=message) as err:
        vh.check_limits(spec(**kwargs), HOST)
    assert err.value.param == param


@pytest.mark.parametrize("kwargs", [
    {"vcpus": 4, "memory": "8GiB"}, {"vcpus": 8, "memory": "96GiB", "overcommit": True},
    {"vcpus": 16, "limits": {"max_vcpus": 16}, "overcommit": True}, {},
])
def test_within_limits(kwargs):
    vh.check_limits(spec(**kwargs), HOST)


@pytest.mark.parametrize("xml,expected", [
    ("<domainCapabilities><os supported='yes'><enum name='firmware'><value>efi</value></enum></os></domainCapabilities>", True),
    ("<domainCapabilities><os supported='yes'><loader supported='yes'><value>/usr/share/OVMF/OVMF_CODE.fd</value>"
     "</loader><enum name='firmware'/></os></domainCapabilities>", True),
    ("<domainCapabilities><os supported='yes'><enum name='firmware'/><loader supported='yes'/></os></domainCapabilities>", False),
    ("<domainCapabilities><os supported='no'/></domainCapabilities>", False),
    ("<domainCapabilities/>", False),
])
def test_uefi_available(xml, expected):
    assert vh.uefi_available(xml) is expected


HYPERV_CAPS = "<domainCapabilities><features><hyperv supported='yes'><enum name='features'>%s</enum></hyperv></features></domainCapabilities>"


@pytest.mark.parametrize("values,features,clock", [
    (None, ["relaxed", "vapic", "spinlocks"], True),
    (["spinlocks", "vendor_id"], ["spinlocks"], False),          # nested/PVM KVM as in the lab
    (["relaxed", "vapic", "spinlocks", "vpindex", "synic"], ["relaxed", "vapic", "spinlocks"], True),
    ([], [], False),
])
def test_windows_enlightenments_follow_the_host(values, features, clock):
    if values is None:
        supported = vh.hyperv_supported("<domainCapabilities/>")
    else:
        supported = vh.hyperv_supported(HYPERV_CAPS % "".join("<value>%s</value>" % v for v in values))
    assert vh.windows_enlightenments(supported) == (features, clock)
    s = spec(os="windows")
    resolved = dict(vh.check_host(s, HOST), os="windows", hyperv=supported)
    root = vx.apply(vx.skeleton("vm1", "kvm"), s, resolved, creating=True)
    assert [c.tag for c in root.findall("features/hyperv/*")] == features
    assert (root.find("clock/timer[@name='hypervclock']") is not None) == clock
    assert root.find("clock").get("offset") == "localtime"


def test_hyperv_not_supported_at_all():
    assert vh.hyperv_supported("<domainCapabilities><features><hyperv supported='no'/></features></domainCapabilities>") == []


@pytest.mark.parametrize("machine,expected", [("pc", "pc-i440fx-7.2"), ("q35", "pc-q35-7.2"), ("pc-q35-7.2", "pc-q35-7.2")])
def test_expand_machine_writes_what_libvirt_stores(machine, expected):
    root = vh.expand_machine(vx.dx.parse("<domain><os><type arch='x86_64' machine='%s'>hvm</type></os></domain>" % machine),
                             HOST["arches"]["x86_64"]["machines"])
    assert root.find("os/type").get("machine") == expected


def test_expand_machine_refuses_what_the_host_cannot_emulate_and_leaves_the_rest():
    with pytest.raises(SpecError, match="^xml: this host cannot emulate machine 'virt' for x86_64"):
        vh.expand_machine(vx.dx.parse("<domain><os><type arch='x86_64' machine='virt'>hvm</type></os></domain>"),
                          HOST["arches"]["x86_64"]["machines"])
    for text, machines in (("<domain><os><type>hvm</type></os></domain>", {"pc": "pc-i440fx-7.2"}),
                           ("<domain><os><type machine='virt'>hvm</type></os></domain>", {})):
        assert vx.dx.tostring(vh.expand_machine(vx.dx.parse(text), machines)) == vx.dx.tostring(vx.dx.parse(text))
