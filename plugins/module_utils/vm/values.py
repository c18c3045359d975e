# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Values of VM options: sizes, counts, choices, and the error that names the option.

Shared by every part of the VM spec (:mod:`spec`, :mod:`policy`, :mod:`host_fit`); pure.
Sizes are bytes, and accept ``512MiB``, ``2GiB``, ``2G`` (binary), ``2GB`` (decimal) or a bare
number of MiB.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import errors
from ansible_collections.hotiron.virt.plugins.module_utils import units

KIB, MIB, GIB = units.KIB, units.MIB, units.GIB


class SpecError(errors.InputError):
    """Bad input; ``param`` names the option (``disks[1].size``)."""

    def __init__(self, param, message):
        super().__init__("%s: %s" % (param, message))
        self.param = param


def parse_size(value, param):
    """Bytes from ``512MiB``/``2GiB``/``2G``/``2GB``/a bare number of MiB; > 0."""
    try:
        size = units.parse_size(value, bare="MiB")
    except units.SizeError as err:
        raise SpecError(param, str(err)) from None
    if size <= 0:
        raise SpecError(param, "must be greater than zero, got %r" % (value,))
    return size


def positive_int(value, param):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value))
        except ValueError:
            raise SpecError(param, "expected a whole number, got %r" % (value,)) from None
    if value <= 0:
        raise SpecError(param, "must be at least 1, got %r" % (value,))
    return value


def choice(value, choices, param):
    if value is not None and value not in choices:
        raise SpecError(param, "must be one of %s, got %r" % (", ".join(choices), value))
    return value


def human(size):
    for unit, factor in (("TiB", 1024 ** 4), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if size >= factor and size % factor == 0:
            return "%d%s" % (size // factor, unit)
    return "%dB" % size
