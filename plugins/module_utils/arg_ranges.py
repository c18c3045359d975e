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
``None`` (option not given) is never out of range.  Pure: no Ansible, no libvirt.
"""

from __future__ import annotations

RANGE_KEYS = ("min", "max")


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
    """Messages for every value of ``params`` outside the ranges of ``table``, in spec order."""
    problems = []
    for name, entry in table.items():
        value = (params or {}).get(name)
        if value is None:
            continue
        path = prefix + name
        low, high = entry.get("min"), entry.get("max")
        if low is not None or high is not None:
            problems.extend(_check_value(path, value, low, high))
        sub = entry.get("options")
        if sub:
            if isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, dict):
                        problems.extend(check(item, sub, "%s[%d]." % (path, index)))
            elif isinstance(value, dict):
                problems.extend(check(value, sub, path + "."))
    return problems


def _check_value(path, value, low, high):
    values = value if isinstance(value, list) else [value]
    problems = []
    for index, item in enumerate(values):
        where = path if not isinstance(value, list) else "%s[%d]" % (path, index)
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            continue  # a type error, which the type check reports
        if (low is not None and item < low) or (high is not None and item > high):
            problems.append("%s: must be %s, got %s" % (where, describe(low, high), _num(item)))
    return problems
