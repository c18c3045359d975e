# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The arguments of an event source that watches a resource group: its hosts and its numbers.

ansible-rulebook hands a source its arguments as they are written in the rulebook, unchecked:
:func:`group_arguments` checks them once for every source (``hosts`` a non-empty dict of name to
libvirt URI, each number a number within its range, defaults filled in) and says which one is
wrong, naming the source.  Pure.
"""

from __future__ import annotations

import math


def group_arguments(args, source, numbers, as_float=False):
    """``{"hosts": {name: uri}, <number>: value, ...}`` from ``args``; ``numbers`` are
    ``(name, default, lowest, highest or None)``.  ValueError naming ``source`` and the argument."""
    hosts = args.get("hosts")
    if not isinstance(hosts, dict) or not hosts:
        raise ValueError("%s: hosts must be a dict of host name to libvirt URI" % source)
    out = {"hosts": {str(k): str(v) for k, v in hosts.items()}}
    for key, default, low, high in numbers:
        value = args.get(key, default)
        number = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
        if high is None and not (number and value >= low):
            raise ValueError("%s: %s must be a number of at least %s, got %r" % (source, key, low, value))
        if high is not None and not (number and low <= value <= high):
            raise ValueError("%s: %s must be a number from %s to %s, got %r" % (source, key, low, high, value))
        out[key] = float(value) if as_float else value
    return out
