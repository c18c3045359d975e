# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capacity modules' input shapes that an argument spec cannot check (pure).

Each ``check_*`` returns a message naming the option and what is wrong, or None; the modules call
them before they reach any host, so that a wrong value fails at once and clearly rather than
deep in a measurement or a pass (or, worse, through the module base's catch-all).
"""

from __future__ import annotations

import math

from ansible_collections.hotiron.virt.plugins.module_utils import files
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import sla as sla_vocab


def _number(value):
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def check_hosts(hosts):
    """The group: host name to libvirt URI, at least one, each URI a non-empty string."""
    if not hosts:
        return "hosts: the group has no host: give at least one host name and its libvirt URI"
    for name, uri in sorted(hosts.items(), key=lambda kv: str(kv[0])):
        if not isinstance(uri, str) or not uri.strip():
            return "hosts.%s: expected the host's libvirt URI (such as qemu+tls://hv1.example.com/system), got %r" % (name, uri)
    return None


def check_sla_weights(weights):
    """``sla_weights``: SLA class names (the vm module's) to finite numbers above 0."""
    for name, weight in sorted((weights or {}).items(), key=lambda kv: str(kv[0])):
        why = sla_vocab.problem(name)
        if why:
            return "sla_weights: %s" % why
        if not _number(weight) or weight <= 0:
            return "sla_weights.%s: must be a number above 0, got %r" % (name, weight)
    return None


def check_vm_groups(groups, option):
    """``affinity``/``anti_affinity``: lists of VM names."""
    for index, members in enumerate(groups or []):
        if not isinstance(members, list) or not all(isinstance(m, str) and m for m in members):
            return "%s[%d]: expected a list of VM names, got %r" % (option, index, members)
    return None


def check_history(history):
    """``history``: host name to a list of ``[time, load]`` pairs of finite numbers."""
    for host, points in sorted((history or {}).items(), key=lambda kv: str(kv[0])):
        if not isinstance(points, list) or not all(
                isinstance(pt, (list, tuple)) and len(pt) == 2 and all(_number(x) for x in pt) for pt in points):
            return "history.%s: must be a list of [time, load] pairs of numbers" % host
    return None


def check_addresses(addresses):
    """``migration_addresses``: host names to non-empty strings."""
    for host, address in sorted((addresses or {}).items(), key=lambda kv: str(kv[0])):
        if not isinstance(address, str) or not address.strip():
            return "migration_addresses.%s: expected an address (such as 10.0.0.1 or tcp://10.0.0.1), got %r" % (host, address)
    return None


def first_problem(*problems):
    return next((p for p in problems if p), None)


def unmeasured(hosts, unreachable):
    """Why no host of the group could be measured: every host named with its reason."""
    if not hosts:
        return "no host of the group could be measured: the group has no host"
    reasons = ["%s: %s" % (name, unreachable.get(name) or "no reading") for name in sorted(hosts)]
    return "no host of the group could be measured: %s" % "; ".join(reasons)


def check_file(path, option, makedirs=False):
    """A file the module will write: not a directory, in a directory that exists (unless ``makedirs``)."""
    if not path:
        return None
    try:
        files.check_target(path, makedirs=makedirs)
    except OSError as err:
        return "%s: cannot write %s: %s" % (option, path, err.strerror)
    return None
