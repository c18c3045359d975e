# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where VMs may go: pure placement decisions, no libvirt, no Ansible.

A host is described by what it can still take (:class:`HostCapacity`), a VM
by what it needs (:class:`VmDemand`).  :func:`fits` says whether one VM can
go to one host and, when not, why; :func:`plan_evacuation` places every VM
of a host being emptied on the other hosts of its group.

Rules every plan obeys (the property tests check them on random inputs):

* a host never receives more memory or vCPUs than it has free;
* a host in maintenance never receives anything, nor does the source host;
* two VMs of one anti-affinity group never end on the same host (counting
  the VMs already running there);
* a VM never goes to a host whose QEMU lacks its machine type (a VM defined
  on a newer QEMU, ``pc-q35-10.0``, cannot run on QEMU 7.2), nor to one that
  cannot run its CPU (a model, mode or feature it lacks: :mod:`cpu_compat`);
* a pinned VM never moves: with ``pinned_action='fail'`` the whole plan is
  refused, with ``'shutdown'`` the VM is listed to be shut down (and started
  again when the host comes back).

Placement is "spread": each VM, largest first, goes to the eligible host
with the most free memory left, ties broken by name, so that plans are
deterministic and hosts stay balanced.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import errors

from dataclasses import dataclass, field, replace

from ansible_collections.hotiron.virt.plugins.module_utils.hosts.cpu_compat import CpuNeed, missing_cpu

PINNED_ACTIONS = ("fail", "shutdown")


class PlacementError(errors.InputError):
    """A plan that cannot be made at all (e.g. a pinned VM with ``pinned_action='fail'``)."""


@dataclass(frozen=True)
class HostCapacity:
    """What a host can still take.

    ``free_memory_mib`` and ``free_vcpus`` are what is left for new guests
    (the caller applies any over-commit ratio before); ``vms`` names the VMs
    already running there (used for anti-affinity and name clashes);
    ``machines`` the machine types its QEMU offers (``None``: not known, any);
    ``cpu_offers`` what its hypervisor offers guest CPUs, ``{domain type:
    cpu_compat.HostCpu}`` (``None``: not known, any).
    """

    name: str
    free_memory_mib: int
    free_vcpus: int
    in_maintenance: bool = False
    vms: frozenset = field(default_factory=frozenset)
    machines: frozenset = None
    cpu_offers: dict = field(default=None, hash=False)

    def take(self, vm):
        return replace(
            self,
            free_memory_mib=self.free_memory_mib - vm.memory_mib,
            free_vcpus=self.free_vcpus - vm.vcpus,
            vms=self.vms | {vm.name},
        )


@dataclass(frozen=True)
class VmDemand:
    """What a VM needs on its destination."""

    name: str
    memory_mib: int
    vcpus: int
    pinned: bool = False
    machine: str = ""       # its machine type (``pc-q35-7.2``); "" when not known
    cpu: CpuNeed = None     # what its CPU needs (cpu_compat); None when not known


@dataclass
class Plan:
    """The result of :func:`plan_evacuation`.

    ``moves`` is a list of ``(vm name, destination host)`` in the order they
    were decided (largest first); ``shutdown`` lists pinned VMs to shut down;
    ``unplaced`` maps a VM name to the reason no host could take it.
    """

    moves: list = field(default_factory=list)
    shutdown: list = field(default_factory=list)
    unplaced: dict = field(default_factory=dict)

    @property
    def complete(self):
        return not self.unplaced

    def as_dict(self):
        return {
            "moves": [{"vm": vm, "to": host} for vm, host in self.moves],
            "shutdown": list(self.shutdown),
            "unplaced": dict(self.unplaced),
        }


def anti_affinity_peers(vm_name, groups):
    """Every VM that must not share a host with ``vm_name``."""
    peers = set()
    for group in groups:
        if vm_name in group:
            peers.update(group)
    peers.discard(vm_name)
    return peers


def _version(name):
    tail = name.rsplit("-", 1)[-1]
    return tuple(int(p) for p in tail.split(".")) if tail.replace(".", "").isdigit() else ()


def missing_machine(machine, machines):
    """``None`` when a QEMU offering ``machines`` can run ``machine`` (or either is not known),
    else what it lacks: ``machine type pc-q35-10.0 (its newest pc-q35 is pc-q35-7.2)``."""
    if not machine or machines is None or machine in machines:
        return None
    family = machine.rsplit("-", 1)[0] if _version(machine) else machine
    same = sorted((m for m in machines if m.rsplit("-", 1)[0] == family and _version(m)), key=_version)
    return "machine type %s (%s)" % (machine, "its newest %s is %s" % (family, same[-1]) if same
                                     else "its QEMU offers no %s machine" % family)


def platform_refusal(host, vm, machine, cpu, machines, cpu_offers):
    """Why the host named ``host`` cannot run the VM named ``vm`` at all, or ``None``: its
    machine type ``machine`` missing from ``machines`` (an older QEMU) first, then its CPU
    (:class:`cpu_compat.CpuNeed` ``cpu``: a model, mode or feature ``cpu_offers`` lacks)."""
    lacks = missing_machine(machine, machines)
    if lacks:
        return "%s lacks %s of %s: an older QEMU" % (host, lacks, vm)
    lacks = missing_cpu(cpu, cpu_offers)
    if lacks:
        return "%s lacks %s of %s" % (host, lacks, vm)
    return None


def missing_on(vm, host):
    """:func:`platform_refusal` of a :class:`VmDemand` on a :class:`HostCapacity`."""
    return platform_refusal(host.name, vm.name, vm.machine, vm.cpu, host.machines, host.cpu_offers)


def fits(vm, host, anti_affinity=(), source=None):
    """``None`` when ``vm`` may go to ``host``, else a sentence saying why not."""
    if host.name == source:
        return "%s is the host being left" % host.name
    if host.in_maintenance:
        return "%s is in maintenance" % host.name
    lacks = missing_on(vm, host)
    if lacks:
        return lacks
    if vm.name in host.vms:
        return "a VM named %s already runs on %s" % (vm.name, host.name)
    if vm.memory_mib > host.free_memory_mib:
        return "%s has %d MiB free, %s needs %d MiB" % (host.name, host.free_memory_mib, vm.name, vm.memory_mib)
    if vm.vcpus > host.free_vcpus:
        return "%s has %d vCPUs free, %s needs %d" % (host.name, host.free_vcpus, vm.name, vm.vcpus)
    clash = sorted(anti_affinity_peers(vm.name, anti_affinity) & set(host.vms))
    if clash:
        return "anti-affinity: %s already runs %s" % (host.name, ", ".join(clash))
    return None


def _validate(vms, hosts, pinned_action):
    if pinned_action not in PINNED_ACTIONS:
        raise PlacementError("pinned_action must be one of %s, got %r" % (", ".join(PINNED_ACTIONS), pinned_action))
    names = [h.name for h in hosts]
    if len(set(names)) != len(names):
        raise PlacementError("host names must be unique: %s" % ", ".join(sorted(names)))
    vm_names = [v.name for v in vms]
    if len(set(vm_names)) != len(vm_names):
        raise PlacementError("VM names must be unique: %s" % ", ".join(sorted(vm_names)))
    for vm in vms:
        if vm.memory_mib < 0 or vm.vcpus < 0:
            raise PlacementError("%s asks for a negative amount of memory or vCPUs" % vm.name)


def plan_evacuation(vms, hosts, source=None, anti_affinity=(), pinned_action="fail"):
    """Place every VM of ``vms`` (leaving ``source``) on ``hosts``.

    ``anti_affinity`` is an iterable of sets of VM names. Returns a
    :class:`Plan`; raises :class:`PlacementError` for a pinned VM when
    ``pinned_action`` is ``'fail'`` or for malformed input.
    """
    vms = list(vms)
    hosts = list(hosts)
    anti_affinity = [frozenset(g) for g in anti_affinity]
    _validate(vms, hosts, pinned_action)

    plan = Plan()
    pinned = sorted(v.name for v in vms if v.pinned)
    if pinned:
        if pinned_action == "fail":
            raise PlacementError(
                "VMs pinned to %s cannot be moved: %s (use pinned_action=shutdown to shut them down"
                " during maintenance)" % (source or "the host", ", ".join(pinned))
            )
        plan.shutdown = pinned

    state = {h.name: h for h in hosts}
    # Largest first (memory, then vCPUs): the hardest to fit get the most choice.
    movable = sorted((v for v in vms if not v.pinned), key=lambda v: (-v.memory_mib, -v.vcpus, v.name))
    for vm in movable:
        reasons = {}
        candidates = []
        for name in sorted(state):
            why = fits(vm, state[name], anti_affinity, source)
            if why is None:
                candidates.append(state[name])
            else:
                reasons[name] = why
        if not candidates:
            if reasons:
                plan.unplaced[vm.name] = "no host can take it: " + "; ".join(reasons[n] for n in sorted(reasons))
            else:
                plan.unplaced[vm.name] = "no other host in the group"
            continue
        # Most free memory left, then most vCPUs left, then the first name.
        best = min(candidates, key=lambda h: (-h.free_memory_mib, -h.free_vcpus, h.name))
        state[best.name] = best.take(vm)
        plan.moves.append((vm.name, best.name))
    return plan
