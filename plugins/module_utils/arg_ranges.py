# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ranges of numeric options, declared next to the option and checked once for every module.

Ansible's argument specs check types but not ranges.  The collection's specs add two keys to a
numeric option, ``min`` and ``max`` (inclusive), at any depth (``options`` of a dict, of a list of
dicts)::

    concurrency=dict(type="int", default=2, min=1, max=64)

:func:`split` takes them out (AnsibleModule and ansible-test see a plain spec) and returns them
as a table; :func:`check` finds every value outside its range in the validated parameters and
says so naming the option by its path (``migration.bandwidth``, ``disks[1].boot_order``).
``None`` (option not given) is never out of range.

Two more rules are checked here, once for every module, because Ansible's types let them through:

- a number is finite: Ansible's ``float`` type turns ``"nan"``, ``"inf"`` and ``"-inf"`` into
  floats, and NaN compares false with everything, so it would pass every range (a deadline that
  never fires, a host "unreachable for nan seconds").  Every float anywhere in the parameters
  (typed options, ``raw`` values, items of lists and dicts) must be finite;
- text is text libvirt and XML can carry: no NUL and no control character but tab, line feed
  and carriage return, in any string at any depth (a NUL passed the checks of a check-mode run and
  crashed the real one inside libvirt);
- a collection is not empty where one is needed: ``min_items`` on a ``list`` or ``dict`` option
  (a resource group's ``hosts``) is its least number of entries;
- ``string_values`` on a ``dict`` option: every value is a non-empty string (a host's URI; a null
  would quietly reach the local libvirt).

Pure: no Ansible, no libvirt.
"""

from __future__ import annotations

import math
import re

RANGE_KEYS = ("min", "max", "min_items", "string_values")
# What XML 1.0 cannot hold (and libvirt, whose strings end at a NUL, cannot either): the
# complement of XML's Char, written as the few ranges it leaves out (the same set as
# ``[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]``, which took 5 ms to compile at
# every module's start).
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def split(spec):
    """``(plain spec, ranges)``: the spec without range keys (a copy), and the ranges table.

    The table maps an option name to ``{"min": .., "max": .., "options": <table of its
    suboptions>, "elements": "dict"|None}``; only options with a range somewhere below them appear.
    """
    plain, table = {}, {}
    for name, option in spec.items():
        option = dict(option)
        entry = {key: option.pop(key) for key in RANGE_KEYS if key in option}
        if isinstance(option.get("options"), dict):
            option["options"], sub = split(option["options"])
            if sub:
                entry["options"] = sub
                entry["elements"] = option.get("elements")
        if entry:
            table[name] = entry
        plain[name] = option
    return plain, table


def describe(low, high):
    """``from 1 to 64`` / ``at least 0`` / ``at most 100``."""
    if low is not None and high is not None:
        return "from %s to %s" % (_num(low), _num(high))
    if low is not None:
        return "at least %s" % _num(low)
    return "at most %s" % _num(high)


def _num(value):
    return ("%g" % value) if isinstance(value, float) else str(value)


def check(params, table, prefix=""):
    """Messages for every non-finite number of ``params`` and every value outside the ranges of
    ``table``, in spec order."""
    problems = unfit(params, prefix) if not prefix else []
    return problems + _check_ranges(params, table, prefix)


def unfit(value, path=""):
    """A message for every NaN or infinity and every string XML cannot carry in ``value``
    (nested dicts and lists walked; the path names the option as the user wrote it)."""
    where = path or "value"
    if isinstance(value, float):
        return [] if math.isfinite(value) else ["%s: must be a finite number, got %s" % (where, value)]
    if isinstance(value, str):
        return ["%s: holds a character XML and libvirt cannot carry (a NUL or another control character)" % where] \
            if NOT_XML.search(value) else []
    if isinstance(value, dict):
        return [problem for key, item in value.items()
                for problem in unfit(item, "%s.%s" % (path, key) if path else str(key))]
    if isinstance(value, (list, tuple)):
        return [problem for index, item in enumerate(value)
                for problem in unfit(item, "%s[%d]" % (path, index))]
    return []


def _check_ranges(params, table, prefix):
    problems = []
    for name, entry in table.items():
        value = (params or {}).get(name)
        if value is None:
            continue
        path = prefix + name
        low, high = entry.get("min"), entry.get("max")
        if low is not None or high is not None:
            problems.extend(_check_value(path, value, low, high))
        least = entry.get("min_items")
        if least is not None and isinstance(value, (list, dict)) and len(value) < least:
            problems.append("%s: must have at least %d %s, got %d" % (
                path, least, "entry" if least == 1 else "entries", len(value)))
        if entry.get("string_values") and isinstance(value, dict):
            problems.extend("%s.%s: must be a non-empty string, got %r" % (path, key, item)
                            for key, item in value.items() if not isinstance(item, str) or not item.strip())
        sub = entry.get("options")
        if sub:
            if isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, dict):
                        problems.extend(_check_ranges(item, sub, "%s[%d]." % (path, index)))
            elif isinstance(value, dict):
                problems.extend(_check_ranges(value, sub, path + "."))
    return problems


def _check_value(path, value, low, high):
    values = value if isinstance(value, list) else [value]
    problems = []
    for index, item in enumerate(values):
        where = path if not isinstance(value, list) else "%s[%d]" % (path, index)
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            continue  # a type error, which the type check reports
        if isinstance(item, float) and not math.isfinite(item):
            continue  # reported once by unfit
        if (low is not None and item < low) or (high is not None and item > high):
            problems.append("%s: must be %s, got %s" % (where, describe(low, high), _num(item)))
    return problems
