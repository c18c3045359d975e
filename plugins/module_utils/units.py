# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sizes, read one way for the whole collection (VM memory and disks, volumes, schedules).

Units follow libvirt and qemu-img: ``K``, ``M``, ``G``, ``T`` and ``KiB``, ``MiB``... are
powers of 1024; ``KB``, ``MB``... powers of 1000; ``B`` bytes.  What a bare number means is the
caller's to say, once, in the option's documentation: VM memory and disk sizes count MiB, volume
capacities count bytes (as libvirt's own volume XML does).  Pure.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import errors

import re

FACTORS = {
    "b": 1, "bytes": 1,
    "k": 1024, "kib": 1024, "kb": 1000,
    "m": 1024 ** 2, "mib": 1024 ** 2, "mb": 1000 ** 2,
    "g": 1024 ** 3, "gib": 1024 ** 3, "gb": 1000 ** 3,
    "t": 1024 ** 4, "tib": 1024 ** 4, "tb": 1000 ** 4,
}
KIB, MIB, GIB = 1024, 1024 ** 2, 1024 ** 3
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")


class SizeError(errors.InputError):
    """A value that is no size; the message says what was expected (the caller names the option)."""


def parse_size(value, bare="MiB"):
    """Bytes for ``value``: a number (counted in ``bare`` units) or text such as ``512MiB``, ``2G``,
    ``1GB`` (a number without a unit counts in ``bare`` too).  Raises :class:`SizeError`."""
    if isinstance(value, bool):
        raise SizeError("expected a size such as 512MiB or 2GiB, got %r" % (value,))
    if isinstance(value, (int, float)):
        number, unit = float(value), bare
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise SizeError("expected a size such as 512MiB or 2GiB, got %r" % (value,))
        number, unit = float(match.group(1)), match.group(2) or bare
    factor = FACTORS.get(unit.lower())
    if factor is None:
        raise SizeError("unknown unit %r (use KiB, MiB, GiB or TiB)" % unit)
    if isinstance(value, int) and not isinstance(value, bool):
        return value * factor  # exact, however large
    return int(number * factor)
