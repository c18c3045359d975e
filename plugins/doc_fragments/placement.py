# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The placement rules, written once: every module that places VMs (host_maintenance, recover,
    rebalance, capacity_report) keeps groups apart; the balancer and its report share the rest."""

    # module_base.placement_argument_spec()
    DOCUMENTATION = r"""
options:
  anti_affinity:
    description: Groups of VM names, no two of a group on one host.
    type: list
    elements: list
    default: []
"""

    # module_base.balance_argument_spec(): the balancer's rules, for rebalance and capacity_report's plan.
    BALANCE = r"""
options:
  cpu_high:
    description: The CPU load (of a host's CPUs, above 0 up to 1) a host must stay under.
    type: float
    default: 0.8
  max_imbalance:
    description: Imbalance (0 to 1) above which the group counts as out of balance and is evened out even with no hot host.
    type: float
    default: 0.1
  max_moves:
    description: Most VMs (0 to 1000) moved in one run.
    type: int
    default: 5
  cooldown:
    description: Seconds (0 to 604800) after a VM's move during which it does not move again (no ping-pong).
    type: int
    default: 1800
  pinned:
    description: VMs that never move.
    type: list
    elements: str
    default: []
  affinity:
    description: Groups of VM names that must share a host (moved whole or not at all).
    type: list
    elements: list
    default: []
  sla_weights:
    description:
      - Weight of each SLA class (above 0); a move's gain is divided by its VM's weight, so heavier
        classes move only when that gains several times more. Merged over the built-in weights (gold 4, silver 2, bronze 1);
        a class found on a VM but named nowhere weighs 1. A VM without a class is V(silver).
    type: dict
    default: {}
  copy_storage:
    description:
      - Whether a VM whose disk files the destination does not see (a local storage pool over the same
        directory on both hosts) may move with its disks copied during the live migration
        (M(hotiron.virt.vm_migrate)'s O(hotiron.virt.vm_migrate#module:copy_storage=auto)). Such a move
        takes as long as copying the disks.
      - When false, only VMs on storage both hosts share move.
    type: bool
    default: false
"""
