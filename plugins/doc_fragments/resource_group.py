# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The options of modules that work on a whole resource group."""

    DOCUMENTATION = r"""
options:
  hosts:
    description:
      - The hosts of the resource group, name to libvirt URI (the URI each host's libvirtd reaches
        the others by), for example built from the inventory group's C(libvirt_uri) host variables.
      - At least one host, each with a non-empty URI; an empty group is refused before anything is asked or written.
    type: dict
    required: true
attributes:
  action_group:
    description: Use C(group/hotiron.virt.resource_group) in C(module_defaults) to set O(hosts) once for a play.
    support: full
    membership:
      - hotiron.virt.resource_group
"""

    # Modules that take both O(uri) and O(hosts) (listed before hotiron.virt.connection, whose
    # membership this replaces: of two fragments, the first one listed wins).
    BOTH_GROUPS = r"""
attributes:
  action_group:
    description:
      - Use C(group/hotiron.virt.libvirt) in C(module_defaults) to set O(uri) and
        C(group/hotiron.virt.resource_group) to set O(hosts) once for a play.
    support: full
    membership:
      - hotiron.virt.libvirt
      - hotiron.virt.resource_group
"""

    # How much of a host the collection's placements may use.
    CAPACITY = r"""
options:
  cpu_allocation_ratio:
    description: vCPUs a host may run per physical CPU (0.1 to 64), for the free vCPU check.
    type: float
    default: 4.0
  reserved_host_memory:
    description: Memory in MiB (0 or more) kept for each host itself, for the free memory check.
    type: int
    default: 256
"""
