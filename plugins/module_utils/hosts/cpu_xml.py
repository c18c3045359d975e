# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt's CPU XML as the data of :mod:`cpu_compat`: a VM's ``<cpu>`` and the ``<cpu>`` of a
host's domain capabilities (``virConnectGetDomainCapabilities``).  Parsing only."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.cpu_compat import CpuNeed, HostCpu, REQUIRED_POLICIES


def cpu_need(domain_xml, expansion=None):
    """:class:`CpuNeed` of a domain definition (live or inactive).

    ``host-passthrough`` and ``maximum`` stay so in a live definition: ``expansion`` (the
    source host's ``host-model`` as :func:`host_model` returns it) then says which model and
    features the guest sees.  A live ``host-model`` definition already names them (libvirt
    writes the expansion into it), an inactive one is expanded anew wherever it starts."""
    root = dx.parse(domain_xml)
    virt_type = root.get("type") or ""
    cpu = root.find("cpu")
    if cpu is None:
        return CpuNeed(virt_type=virt_type)
    model_node = cpu.find("model")
    model = (model_node.text or "").strip() if model_node is not None else ""
    mode = cpu.get("mode") or ("custom" if model else "")
    if mode == "custom" and not model:
        mode = ""       # topology or NUMA only: QEMU's default model
    features = frozenset(f.get("name") for f in cpu.findall("feature")
                         if (f.get("policy") or "require") in REQUIRED_POLICIES and f.get("name"))
    disabled = frozenset(f.get("name") for f in cpu.findall("feature")
                         if f.get("policy") in ("disable", "forbid") and f.get("name"))
    if mode in ("host-passthrough", "maximum") and expansion:
        model = model or expansion[0]
        features = features | expansion[1]
    return CpuNeed(mode, model, features, virt_type, disabled, cpu.get("check") or "")


def host_model(domcaps_xml):
    """``(model, required features)`` of the ``host-model`` CPU in domain capabilities, or None."""
    node = dx.parse(domcaps_xml).find("cpu/mode[@name='host-model']")
    if node is None or node.get("supported") == "no" or node.find("model") is None:
        return None
    features = frozenset(f.get("name") for f in node.findall("feature")
                         if f.get("policy") in REQUIRED_POLICIES and f.get("name"))
    return (node.find("model").text or "").strip(), features


def host_model_cpu_xml(domcaps_xml):
    """The ``host-model`` CPU of domain capabilities as a ``<cpu>`` definition (what
    ``baselineHypervisorCPU`` expands to all its features), or None."""
    node = dx.parse(domcaps_xml).find("cpu/mode[@name='host-model']")
    if node is None or node.get("supported") == "no" or node.find("model") is None:
        return None
    cpu = ET.Element("cpu", {"mode": "custom", "match": "exact"})
    ET.SubElement(cpu, "model", {"fallback": "forbid"}).text = (node.find("model").text or "").strip()
    vendor = node.find("vendor")
    if vendor is not None and vendor.text:
        ET.SubElement(cpu, "vendor").text = vendor.text.strip()
    for feature in node.findall("feature"):
        ET.SubElement(cpu, "feature", {"policy": feature.get("policy") or "require", "name": feature.get("name") or ""})
    return dx.tostring(cpu)


def features_of(cpu_xml):
    """Feature names a ``<cpu>`` definition requires (an expanded baseline lists them all)."""
    root = dx.parse(cpu_xml)
    return frozenset(f.get("name") for f in root.iter("feature")
                     if (f.get("policy") or "require") in REQUIRED_POLICIES and f.get("name"))


def host_cpu(domcaps_xml, features=None):
    """:class:`HostCpu` of domain capabilities; ``features`` the expanded ``host-model``
    features when the caller could read them (``None``: not known).  None when they support no
    CPU mode at all: no hypervisor runs guests so, only a driver that does not say."""
    cpu = dx.parse(domcaps_xml).find("cpu")
    if cpu is None:
        return HostCpu(features=features)
    modes = frozenset(m.get("name") for m in cpu.findall("mode") if m.get("supported") != "no")
    if not modes:
        return None     # every mode unsupported: a driver that does not say (libvirt 11's test driver)
    usable, unusable = set(), []
    custom = cpu.find("mode[@name='custom']")
    if custom is not None:
        blockers = {b.get("model"): tuple(sorted(f.get("name") for f in b.findall("feature")))
                    for b in custom.findall("blockers")}
        for model in custom.findall("model"):
            name = (model.text or "").strip()
            if model.get("usable") == "no":
                unusable.append((name, blockers.get(name, ())))
            else:
                usable.add(name)
            canonical = model.get("canonical")
            if canonical and model.get("usable") != "no":
                usable.add(canonical)
    model = host_model(domcaps_xml)
    if model and model[0]:
        usable.add(model[0])    # its host-model CPU runs here, listed among the models or not
    return HostCpu(modes=modes, usable=frozenset(usable), unusable=tuple(sorted(unusable)), features=features)
