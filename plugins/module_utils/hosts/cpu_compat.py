# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a host's hypervisor can run a VM's CPU: pure decisions on facts read elsewhere.

A group mixing QEMU versions (Debian 12's 7.2, Debian 13's 10.0) or CPUs offers different CPU
models: a VM defined with a model only the newer QEMU knows (``GraniteRapids``), or started with
``host-model`` on a newer CPU (expanded to its model and features), cannot run on the older host.
:func:`missing_cpu` says what a host lacks, from

* :class:`CpuNeed`, what the VM's CPU needs (its definition, or for a running VM its live
  definition, where libvirt has expanded ``host-model`` to a model and features), read by
  ``capacity_ops.cpu_need``;
* :class:`HostCpu`, what a host's hypervisor offers for one domain type (its domain
  capabilities: CPU modes, the models it knows and which are usable, the features of its
  ``host-model`` expanded), read by ``capacity_ops.host_cpus``.

Nothing here talks to libvirt; where a fact is not known (``None``), nothing is refused on it:
the migration's own ``compareHypervisorCPU`` (``preflight_ops.check_cpu``) still has the last word.
"""

from __future__ import annotations

from dataclasses import dataclass

MODES = ("custom", "host-model", "host-passthrough", "maximum")
REQUIRED_POLICIES = ("require", "force")


@dataclass(frozen=True)
class CpuNeed:
    """What a VM's CPU needs from a host.

    ``mode`` is libvirt's (``custom``, ``host-model``, ``host-passthrough``, ``maximum``), "" for
    QEMU's default CPU (``qemu64``: every host runs it); ``model`` the named model ("" none);
    ``features`` the features it requires (policy ``require`` or ``force``), ``disabled`` those
    it turns off (``disable``, ``forbid``: a running VM's definition turns off what its host's CPU
    lacks of the model, so a model a host calls unusable may run there); ``virt_type`` the
    domain type whose capabilities count (``kvm``, ``qemu``); ``check`` libvirt's ``check``
    attribute: with V(none) (the default CPU libvirt 9 writes into a KVM guest's definition)
    QEMU drops what the host lacks, so the model must be known there, not usable.
    """

    mode: str = ""
    model: str = ""
    features: frozenset = frozenset()
    virt_type: str = ""
    disabled: frozenset = frozenset()
    check: str = ""

    def as_dict(self):
        return {"mode": self.mode, "model": self.model, "features": sorted(self.features),
                "virt_type": self.virt_type, "disabled": sorted(self.disabled), "check": self.check}

    @classmethod
    def from_dict(cls, data):
        """The need recorded by :meth:`as_dict` (``None`` for a record without one)."""
        if not data:
            return None
        return cls(data.get("mode") or "", data.get("model") or "", frozenset(data.get("features") or ()),
                   data.get("virt_type") or "", frozenset(data.get("disabled") or ()), data.get("check") or "")


@dataclass(frozen=True)
class HostCpu:
    """What a host's hypervisor offers guests of one domain type (its domain capabilities).

    ``modes`` the CPU modes it supports; ``usable`` the models it can run, ``unusable`` the models
    it knows but cannot run on this CPU, as ``((model, (blocking features...)), ...)``;
    ``features`` every feature its ``host-model`` CPU has (expanded; ``None``: not known).
    """

    modes: frozenset = frozenset(MODES)
    usable: frozenset = frozenset()
    unusable: tuple = ()
    features: frozenset = None

    def knows(self, model):
        return model in self.usable or any(name == model for name, _blockers in self.unusable)

    def blockers(self, model):
        for name, blockers in self.unusable:
            if name == model:
                return tuple(blockers)
        return ()


def _names(items, limit=6):
    items = sorted(items)
    shown = ", ".join(items[:limit])
    return shown + (" and %d more" % (len(items) - limit) if len(items) > limit else "")


def missing_cpu(need, offers):
    """``None`` when a host offering ``offers`` can run a CPU needing ``need``, else what it
    lacks, as a phrase (``CPU model GraniteRapids (its libvirt and QEMU do not offer it)``).

    ``offers`` maps a domain type to :class:`HostCpu` (a host answers for ``kvm`` and ``qemu``
    apart: TCG runs other models than KVM does); ``None`` or a domain type it has no entry for
    means not known: nothing is refused."""
    if need is None or not need.mode or offers is None:
        return None
    offer = offers.get(need.virt_type) if need.virt_type else next(iter(offers.values()), None)
    if offer is None:
        return None
    if need.mode not in offer.modes:
        return "CPU mode %s (its hypervisor offers %s)" % (need.mode, _names(offer.modes) or "none")
    if need.model:
        if not offer.knows(need.model):
            return "CPU model %s (its libvirt and QEMU do not offer it)" % need.model
        if need.model not in offer.usable and need.check != "none":
            # Unusable as it stands; usable with its blocking features turned off.  Where the
            # host does not list them (libvirt 9), a VM turning features off is given the benefit
            # of the doubt (libvirt's compareHypervisorCPU still checks a live migration).
            blockers = set(offer.blockers(need.model)) - need.disabled
            if blockers or not (offer.blockers(need.model) or need.disabled):
                return "CPU model %s (not usable on its CPU%s)" % (
                    need.model, ": no " + _names(blockers) if blockers else "")
    if need.features and offer.features is not None:
        lacking = need.features - offer.features
        if lacking:
            return "CPU feature%s %s" % ("s" if len(lacking) > 1 else "", _names(lacking))
    return None


def common_models(offers_list):
    """The models every one of ``offers_list`` (:class:`HostCpu`) can run, sorted: what a VM may
    use to stay movable across a mixed group."""
    if not offers_list:
        return []
    usable = set(offers_list[0].usable)
    for offer in offers_list[1:]:
        usable &= offer.usable
    return sorted(usable)
