# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CPU compatibility in a mixed group: the pure decision (cpu_compat), the XML it reads
(cpu_xml), and placement, recovery and rebalance refusing a host that cannot run a VM's CPU."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.hotiron.virt.plugins.module_utils.hosts import cpu_xml
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.cpu_compat import (
    MODES, CpuNeed, HostCpu, common_models, missing_cpu)
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.placement import (
    HostCapacity, VmDemand, fits, plan_evacuation)
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import state_ops
from ansible_collections.hotiron.virt.plugins.module_utils.recovery.plan import VmRecord

# Domain capabilities as libvirt writes them (trimmed): an older QEMU that does not know
# GraniteRapids, a newer one that knows it but cannot run it on this CPU, and Haswell blocked.
OLD_DOMCAPS = """<domainCapabilities><path>/usr/bin/qemu-system-x86_64</path><domain>qemu</domain>
<machine>pc-i440fx-7.2</machine><arch>x86_64</arch>
<cpu>
  <mode name='host-passthrough' supported='no'/>
  <mode name='maximum' supported='yes'><enum name='maximumMigratable'><value>on</value></enum></mode>
  <mode name='host-model' supported='yes'>
    <model fallback='forbid'>EPYC</model><vendor>AMD</vendor>
    <feature policy='require' name='x2apic'/>
    <feature policy='disable' name='svm'/>
  </mode>
  <mode name='custom' supported='yes'>
    <model usable='yes' vendor='unknown'>qemu64</model>
    <model usable='yes' vendor='Intel' canonical='Nehalem-v1'>Nehalem</model>
    <model usable='no' vendor='Intel' canonical='Haswell-v1'>Haswell</model>
    <blockers model='Haswell'><feature name='hle'/><feature name='rtm'/></blockers>
  </mode>
</cpu></domainCapabilities>"""
NEW_DOMCAPS = OLD_DOMCAPS.replace(
    "<model usable='yes' vendor='unknown'>qemu64</model>",
    "<model usable='yes' vendor='unknown'>qemu64</model>"
    "<model usable='no' vendor='Intel'>GraniteRapids</model>"
    "<model usable='yes' vendor='Intel'>Denverton</model>").replace(
    "<mode name='host-passthrough' supported='no'/>",
    "<mode name='host-passthrough' supported='yes'/>")
OLD = cpu_xml.host_cpu(OLD_DOMCAPS, frozenset({"sse2", "x2apic", "lm"}))
NEW = cpu_xml.host_cpu(NEW_DOMCAPS, frozenset({"sse2", "x2apic", "lm", "avx512f", "amx-tile"}))


def vm_xml(cpu="", virt_type="qemu"):
    return "<domain type='%s'><name>v</name>%s</domain>" % (virt_type, cpu)


# --- cpu_xml: what libvirt's XML says -------------------------------------------------------------
def test_host_cpu_reads_modes_models_usability_and_blockers():
    assert OLD.modes == {"maximum", "host-model", "custom"}
    assert OLD.usable == {"qemu64", "Nehalem", "Nehalem-v1", "EPYC"}  # canonical names, the host-model
    assert OLD.unusable == (("Haswell", ("hle", "rtm")),)
    assert OLD.knows("Haswell") and not OLD.knows("GraniteRapids")
    assert OLD.features == {"sse2", "x2apic", "lm"}
    assert NEW.knows("GraniteRapids") and NEW.blockers("GraniteRapids") == ()


def test_host_cpu_of_capabilities_without_a_cpu_element_knows_nothing():
    facts = cpu_xml.host_cpu("<domainCapabilities/>")
    assert facts.modes == set(MODES) and facts.features is None


def test_capabilities_supporting_no_cpu_mode_say_nothing():
    """libvirt 11's test driver writes every CPU mode unsupported: not a host that refuses all."""
    text = ("<domainCapabilities><cpu><mode name='host-passthrough' supported='no'/><mode name='maximum' supported='no'/>"
            "<mode name='host-model' supported='no'/><mode name='custom' supported='no'/></cpu></domainCapabilities>")
    assert cpu_xml.host_cpu(text) is None


@pytest.mark.parametrize("cpu, expected", [
    ("", CpuNeed("", "", frozenset(), "qemu")),
    ("<cpu><topology sockets='1' cores='2' threads='1'/></cpu>", CpuNeed("", "", frozenset(), "qemu")),
    ("<cpu mode='custom' match='exact'><model fallback='forbid'>Haswell</model>"
     "<feature policy='require' name='x2apic'/><feature policy='disable' name='hle'/>"
     "<feature policy='optional' name='pdpe1gb'/><feature policy='force' name='aes'/><feature name='pcid'/></cpu>",
     CpuNeed("custom", "Haswell", frozenset({"x2apic", "aes", "pcid"}), "qemu", frozenset({"hle"}))),
    ("<cpu><model>Nehalem</model></cpu>", CpuNeed("custom", "Nehalem", frozenset(), "qemu")),
    ("<cpu mode='host-model' check='partial'/>", CpuNeed("host-model", "", frozenset(), "qemu", check="partial")),
    ("<cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>",
     CpuNeed("custom", "qemu64", frozenset(), "qemu", check="none")),
    ("<cpu mode='host-passthrough' migratable='on'/>", CpuNeed("host-passthrough", "", frozenset(), "qemu")),
])
def test_cpu_need_of_a_definition(cpu, expected):
    assert cpu_xml.cpu_need(vm_xml(cpu)) == expected


def test_a_passthrough_cpu_needs_what_its_host_model_has():
    expansion = cpu_xml.host_model(NEW_DOMCAPS)
    assert expansion == ("EPYC", frozenset({"x2apic"}))          # disabled features are not needed
    need = cpu_xml.cpu_need(vm_xml("<cpu mode='host-passthrough'/>", "kvm"), expansion)
    assert need == CpuNeed("host-passthrough", "EPYC", frozenset({"x2apic"}), "kvm")
    assert cpu_xml.host_model("<domainCapabilities><cpu><mode name='host-model' supported='no'/></cpu>"
                              "</domainCapabilities>") is None


def test_host_model_cpu_xml_is_a_custom_cpu_whose_features_read_back():
    text = cpu_xml.host_model_cpu_xml(OLD_DOMCAPS)
    assert "mode=\"custom\"" in text and ">EPYC<" in text and "<vendor>AMD</vendor>" in text
    assert cpu_xml.features_of(text) == {"x2apic"}
    assert cpu_xml.host_model_cpu_xml("<domainCapabilities/>") is None


# --- cpu_compat.missing_cpu: the decision ---------------------------------------------------------
OFFERS_OLD = {"qemu": OLD}
OFFERS_NEW = {"qemu": NEW}


@pytest.mark.parametrize("need, offers, lacks", [
    (None, OFFERS_OLD, None),
    (CpuNeed(virt_type="qemu"), OFFERS_OLD, None),                       # QEMU's default CPU
    (CpuNeed("custom", "GraniteRapids", virt_type="qemu"), None, None),  # host not known
    (CpuNeed("custom", "GraniteRapids", virt_type="kvm"), OFFERS_OLD, None),  # no kvm facts
    (CpuNeed("custom", "Nehalem", virt_type="qemu"), OFFERS_OLD, None),
    (CpuNeed("custom", "Nehalem-v1", virt_type="qemu"), OFFERS_OLD, None),
    (CpuNeed("custom", "Denverton", virt_type="qemu"), OFFERS_OLD,
     "CPU model Denverton (its libvirt and QEMU do not offer it)"),
    (CpuNeed("custom", "Denverton", virt_type="qemu"), OFFERS_NEW, None),
    (CpuNeed("custom", "GraniteRapids", virt_type="qemu"), OFFERS_NEW,
     "CPU model GraniteRapids (not usable on its CPU)"),
    (CpuNeed("custom", "Haswell", virt_type="qemu"), OFFERS_OLD,
     "CPU model Haswell (not usable on its CPU: no hle, rtm)"),
    (CpuNeed("custom", "Haswell", virt_type="qemu", disabled=frozenset({"hle"})), OFFERS_OLD,
     "CPU model Haswell (not usable on its CPU: no rtm)"),
    (CpuNeed("custom", "Haswell", virt_type="qemu", disabled=frozenset({"hle", "rtm"})), OFFERS_OLD, None),
    # blockers not listed (libvirt 9): a model turned into a usable one by its disabled features
    # (a running KVM guest's qemu64 without pni and svm) is not refused; one disabling nothing is
    (CpuNeed("custom", "qemu64", virt_type="kvm", disabled=frozenset({"pni", "svm"})),
     {"kvm": HostCpu(unusable=(("qemu64", ()),))}, None),
    (CpuNeed("custom", "qemu64", virt_type="kvm"), {"kvm": HostCpu(unusable=(("qemu64", ()),))},
     "CPU model qemu64 (not usable on its CPU)"),
    # check='none' (libvirt 9 writes qemu64 so into a KVM guest's definition): known is enough
    (CpuNeed("custom", "qemu64", virt_type="kvm", check="none"), {"kvm": HostCpu(unusable=(("qemu64", ()),))}, None),
    (CpuNeed("custom", "Denverton", virt_type="qemu", check="none"), OFFERS_OLD,
     "CPU model Denverton (its libvirt and QEMU do not offer it)"),
    (CpuNeed("host-passthrough", "EPYC", virt_type="qemu"), OFFERS_OLD,
     "CPU mode host-passthrough (its hypervisor offers custom, host-model, maximum)"),
    (CpuNeed("host-passthrough", "EPYC", virt_type="qemu"), OFFERS_NEW, None),
    (CpuNeed("host-model", virt_type="qemu"), OFFERS_OLD, None),          # expanded anew at start
    (CpuNeed("custom", "Nehalem", frozenset({"avx512f"}), "qemu"), OFFERS_OLD, "CPU feature avx512f"),
    (CpuNeed("custom", "Nehalem", frozenset({"avx512f", "amx-tile", "lm"}), "qemu"), OFFERS_OLD,
     "CPU features amx-tile, avx512f"),
    (CpuNeed("custom", "Nehalem", frozenset({"avx512f", "amx-tile", "lm"}), "qemu"), OFFERS_NEW, None),
    (CpuNeed("custom", "Nehalem", frozenset({"avx512f"}), "qemu"), {"qemu": HostCpu(usable=frozenset({"Nehalem"}))},
     None),                                                              # its features not known
    (CpuNeed("custom", "Nehalem", virt_type=""), OFFERS_OLD, None),       # the first domain type
])
def test_missing_cpu(need, offers, lacks):
    assert missing_cpu(need, offers) == lacks


def test_features_are_listed_sorted_and_cut_after_six():
    need = CpuNeed("custom", "Nehalem", frozenset("f%d" % i for i in range(9)), "qemu")
    assert missing_cpu(need, OFFERS_OLD) == "CPU features f0, f1, f2, f3, f4, f5 and 3 more"


def test_common_models_are_what_every_host_runs():
    assert common_models([OLD, NEW]) == ["EPYC", "Nehalem", "Nehalem-v1", "qemu64"]
    assert common_models([]) == []


NEEDS = st.builds(CpuNeed, st.sampled_from(("",) + MODES),
                  st.sampled_from(("", "qemu64", "Nehalem", "Haswell", "GraniteRapids", "Denverton")),
                  st.frozensets(st.sampled_from(("sse2", "x2apic", "lm", "avx512f", "amx-tile")), max_size=3),
                  st.sampled_from(("qemu", "kvm", "")),
                  st.frozensets(st.sampled_from(("hle", "rtm", "svm")), max_size=2),
                  st.sampled_from(("", "none", "partial", "full")))


@settings(max_examples=300, deadline=None)
@given(NEEDS)
def test_the_newer_host_runs_whatever_the_older_one_runs(need):
    """NEW offers a superset of OLD (modes, models, features): nothing OLD runs is refused on NEW."""
    if missing_cpu(need, OFFERS_OLD) is None:
        assert missing_cpu(need, OFFERS_NEW) is None


@settings(max_examples=300, deadline=None)
@given(NEEDS)
def test_a_need_survives_the_recovery_state_file(need):
    assert CpuNeed.from_dict(need.as_dict()) == need
    record = VmRecord("v", "h1", cpu=need)
    assert state_ops.vm_from_json(state_ops.vm_to_json(record)) == record


def test_a_record_of_an_older_state_file_has_no_cpu_need():
    record = state_ops.vm_from_json({"name": "v", "host": "h1"})
    assert record.cpu is None and CpuNeed.from_dict(None) is None


# --- placement, recovery, rebalance ---------------------------------------------------------------
NEW_CPU_VM = CpuNeed("custom", "Denverton", virt_type="qemu")


def test_fits_names_the_cpu_model_the_host_lacks():
    old = HostCapacity("hv1", 100000, 64, cpu_offers=OFFERS_OLD)
    assert fits(VmDemand("web1", 512, 1, cpu=NEW_CPU_VM), old) == \
        "hv1 lacks CPU model Denverton (its libvirt and QEMU do not offer it) of web1"
    assert fits(VmDemand("web1", 512, 1, cpu=CpuNeed("custom", "Nehalem", virt_type="qemu")), old) is None
    # the machine type is named first: it is what an older QEMU lacks before anything else
    old_qemu = HostCapacity("hv1", 100000, 64, machines=frozenset({"pc-q35-7.2"}), cpu_offers=OFFERS_OLD)
    assert fits(VmDemand("web1", 512, 1, machine="pc-q35-10.0", cpu=NEW_CPU_VM), old_qemu).startswith(
        "hv1 lacks machine type pc-q35-10.0")


def test_an_evacuation_never_sends_a_vm_to_a_host_lacking_its_cpu_model():
    vms = [VmDemand("new-cpu", 512, 1, cpu=NEW_CPU_VM), VmDemand("old-cpu", 512, 1, cpu=CpuNeed("custom", "Nehalem",
                                                                                                virt_type="qemu"))]
    hosts = [HostCapacity("old", 100000, 64, cpu_offers=OFFERS_OLD), HostCapacity("new", 1000, 64, cpu_offers=OFFERS_NEW)]
    plan = plan_evacuation(vms, hosts, source="gone")
    assert dict(plan.moves) == {"new-cpu": "new", "old-cpu": "old"}
    plan = plan_evacuation(vms, hosts[:1], source="gone")
    assert list(plan.unplaced) == ["new-cpu"]
    assert "old lacks CPU model Denverton (its libvirt and QEMU do not offer it) of new-cpu" in plan.unplaced["new-cpu"]


# --- real domain capabilities: Debian 12 (libvirt 9.0, QEMU 7.2) and 13 (11.3, 10.0) under TCG ------
DOMCAPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "domcaps")


def real(name):
    with open(os.path.join(DOMCAPS, name), encoding="utf-8") as handle:
        return handle.read()


def test_real_domain_capabilities_of_a_mixed_group():
    """Read from the lab (tests/integration/test_mixed_versions.py runs both hosts)."""
    debian12, debian13 = cpu_xml.host_cpu(real("debian12-qemu.xml")), cpu_xml.host_cpu(real("debian13-qemu.xml"))
    assert {"Westmere", "Nehalem", "qemu64", "EPYC"} <= debian12.usable & debian13.usable
    assert "host-passthrough" not in debian12.modes | debian13.modes       # TCG: maximum instead
    # libvirt 11 offers the versioned models (Westmere-v1) that libvirt 9 does not know
    assert "Westmere-v1" in debian13.usable and not debian12.knows("Westmere-v1")
    assert missing_cpu(CpuNeed("custom", "Westmere-v1", virt_type="qemu"), {"qemu": debian12}) == \
        "CPU model Westmere-v1 (its libvirt and QEMU do not offer it)"
    assert missing_cpu(CpuNeed("custom", "Westmere", virt_type="qemu"), {"qemu": debian12}) is None
    assert not debian12.knows("GraniteRapids") and debian13.knows("GraniteRapids")
    assert "GraniteRapids" not in debian13.usable                          # TCG lacks AVX-512
    assert set(common_models([debian12, debian13])) == debian12.usable
    # the host-model CPU of each (EPYC plus the features TCG adds): Debian 13's requires more
    old_model, new_model = cpu_xml.host_model(real("debian12-qemu.xml")), cpu_xml.host_model(real("debian13-qemu.xml"))
    assert old_model[0] == new_model[0] == "EPYC"
    assert {"fsrm", "x2apic"} <= new_model[1] - old_model[1]
