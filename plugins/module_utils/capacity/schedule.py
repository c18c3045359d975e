# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time-of-day resource schedules: what a VM should have now, and when that changes.

Pure decisions, no libvirt, no Ansible.  A rule (a dict, as a module receives
it) selects VMs and, on some days between two wall-clock times of a time
zone, sets some of ``vcpus``, ``memory``, ``cpu_shares``, ``vcpu_quota`` and
``sla``::

    {"name": "night batch", "vms": ["batch-*"], "tags": [], "groups": [],
     "days": ["mon-fri"], "from": "22:00", "to": "06:00", "timezone": "Europe/Berlin",
     "set": {"vcpus": 8, "memory": "16GiB", "vcpu_quota": 100}}

:func:`parse_rules` validates rules and names the rule and field of the
first error; :func:`rule_in_force` and :func:`desired` answer for one VM at
one instant; :class:`Desired` also tells the next instant the answer changes;
:func:`desired_all` answers for many VMs and gives the earliest change.

Meaning, as the tests check it:

* selection: ``vms`` are :mod:`fnmatch` patterns of VM names, ``tags`` and
  ``groups`` the VM's tags and resource groups; within a kind any entry
  matches, across kinds all kinds given must match; a rule must select by at
  least one kind (``vms: ['*']`` for every VM);
* time: ``from``/``to`` are ``HH:MM`` wall-clock times in ``timezone``
  (default UTC; ``to`` may be ``24:00``; left out they are ``00:00`` and
  ``24:00``); when ``to`` is not after ``from`` the rule crosses midnight and
  belongs to the day it starts (``days: [mon]``, 22:00-06:00 is Monday night
  to Tuesday morning); ``from`` equal to ``to`` is 24 hours;
* daylight saving: a wall time that does not exist (02:30 on the spring-forward
  night in Europe) is taken as the same time after the jump (03:30); a wall
  time that happens twice (02:30 on the autumn night) is its first occurrence;
  so 02:00-03:00 on the spring-forward night is empty and on the autumn night
  lasts two hours;
* the last rule in force that selects the VM wins, alone (its unset fields
  keep the VM's declared values); outside every rule the declared values
  hold; vCPUs and memory are limited to the VM's maxima, and the answer
  says when.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from fnmatch import fnmatchcase

from ansible_collections.hotiron.virt.plugins.module_utils import errors
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import sla as sla_vocab
from ansible_collections.hotiron.virt.plugins.module_utils.vm.values import SpecError, parse_size

try:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
except ImportError:  # Python < 3.9 on a target: schedules need the controller's Python 3.9+
    ZoneInfo = ZoneInfoNotFoundError = None

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RULE_KEYS = ("name", "vms", "tags", "groups", "days", "from", "to", "timezone", "set")
SET_KEYS = ("vcpus", "memory", "cpu_shares", "vcpu_quota", "sla")
# cgroup v1 cpu.shares limits, which libvirt's <shares> takes.
CPU_SHARES_RANGE = (2, 262144)
MAX_VCPUS = 4096
# Rules repeat weekly; two weeks ahead (and a day behind) covers a weekly
# occurrence that a DST night left empty.
HORIZON_DAYS = 15
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")
MIB = 1024 * 1024


class ScheduleError(errors.InputError):
    """A bad rule; ``where`` names it and its field (``rules[2].from``)."""

    def __init__(self, where, message):
        super().__init__("%s: %s" % (where, message))
        self.where = where


@dataclass(frozen=True)
class Rule:
    """One validated rule; ``start``/``end`` are minutes after midnight (``end`` <= ``start``: next day)."""

    index: int
    name: str | None
    vms: tuple
    tags: tuple
    groups: tuple
    days: frozenset
    start: int
    end: int
    timezone: str
    values: dict

    @property
    def label(self):
        return "rule %d%s" % (self.index, " '%s'" % self.name if self.name else "")

    def describe(self):
        days = _day_ranges(self.days) if len(self.days) < 7 else "every day"
        return "%s %s-%s %s" % (days, _hhmm(self.start), _hhmm(self.end), self.timezone)

    def selects(self, vm):
        """Whether this rule's selectors match ``vm`` (a :class:`VmDeclared`)."""
        if self.vms and not any(fnmatchcase(vm.name, p) for p in self.vms):
            return False
        if self.tags and not set(self.tags) & set(vm.tags):
            return False
        if self.groups and not set(self.groups) & set(vm.groups):
            return False
        return True

    def interval(self, day):
        """``(start, end)`` UTC instants of the occurrence starting on local ``day`` (a date)."""
        zone = ZoneInfo(self.timezone)
        start = _instant(day, self.start, zone)
        end_day = day + timedelta(days=1) if self.end <= self.start else day
        return start, _instant(end_day, self.end, zone)

    def in_force(self, at):
        """Whether an occurrence of this rule covers the aware datetime ``at``."""
        local = at.astimezone(ZoneInfo(self.timezone)).date()
        for day in (local - timedelta(days=1), local):
            if day.weekday() in self.days:
                start, end = self.interval(day)
                if start <= at < end:
                    return True
        return False


@dataclass(frozen=True)
class VmDeclared:
    """A VM's declared resources (what holds outside every rule) and what rules select it by."""

    name: str
    vcpus: int
    memory_mib: int
    cpu_shares: int | None = None
    vcpu_quota: float | None = None
    sla: str | None = None
    max_vcpus: int | None = None
    max_memory_mib: int | None = None
    tags: tuple = ()
    groups: tuple = ()


@dataclass(frozen=True)
class Desired:
    """What :func:`desired` decided for one VM at one instant.

    ``values`` has ``vcpus``, ``memory_mib``, ``cpu_shares``, ``vcpu_quota``
    (percent of one CPU per vCPU) and ``sla``; ``rule`` is the index of the
    rule that applied (None: declared values); ``next_change`` is the next
    instant (UTC) the values change, None when they never do.
    """

    vm: str
    values: dict
    rule: int | None
    rule_name: str | None
    reason: str
    clipped: tuple = ()
    next_change: datetime | None = None

    def as_dict(self):
        return {"vm": self.vm, "values": dict(self.values), "rule": self.rule, "rule_name": self.rule_name,
                "reason": self.reason, "clipped": list(self.clipped),
                "next_change": self.next_change.isoformat() if self.next_change else None}


def _day_ranges(days):
    """``mon-fri,sun`` for a set of weekday numbers (runs of three or more as ranges)."""
    runs = []
    for d in sorted(days):
        if runs and runs[-1][1] == d - 1:
            runs[-1][1] = d
        else:
            runs.append([d, d])
    words = []
    for first, last in runs:
        if last - first >= 2:
            words.append("%s-%s" % (DAYS[first], DAYS[last]))
        else:
            words.extend(DAYS[d] for d in range(first, last + 1))
    return ",".join(words)


def _hhmm(minutes):
    return "%02d:%02d" % divmod(minutes, 60)


def _instant(day, minutes, zone):
    """The UTC instant of wall time ``minutes`` on ``day`` in ``zone`` (fold=0: see the module doc)."""
    if minutes == 24 * 60:
        day, minutes = day + timedelta(days=1), 0
    wall = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)
    return wall.astimezone(timezone.utc)


# --- validation ------------------------------------------------------------------------------

def _strings(value, where):
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise ScheduleError(where, "expected a list of non-empty strings, got %r" % (value,))
    return tuple(value)


def _days(value, where):
    if value is None:
        return frozenset(range(7))
    days = set()
    for item in _strings(value, where):
        parts = item.strip().lower().split("-")
        if len(parts) > 2 or any(p not in DAYS for p in parts):
            raise ScheduleError(where, "unknown day %r (use %s, or a range such as mon-fri)" % (item, ", ".join(DAYS)))
        first, last = DAYS.index(parts[0]), DAYS.index(parts[-1])
        days.update((first + k) % 7 for k in range((last - first) % 7 + 1))
    if not days:
        raise ScheduleError(where, "no day given (leave days out for every day)")
    return frozenset(days)


def _minutes(value, where, default, allow_24):
    if value is None:
        return default
    match = _TIME_RE.match(str(value).strip())
    hint = ""
    if re.match(r"^\d+$", str(value).strip()):
        hint = " (unquoted in YAML, a time such as 22:00 is read as a number in base 60: quote it)"
    if not match:
        raise ScheduleError(where, "%r is not a time HH:MM%s" % (value, hint))
    hours, minutes = int(match.group(1)), int(match.group(2))
    total = hours * 60 + minutes
    if minutes > 59 or hours > 24 or (total > 24 * 60) or (total == 24 * 60 and not allow_24):
        raise ScheduleError(where, "%r is not a time of day (00:00 to 23:59%s)" % (value, ", or 24:00" if allow_24 else ""))
    return total


def _zone(value, where):
    name = "UTC" if value is None else value
    if ZoneInfo is None:
        raise ScheduleError(where, "time zones need Python 3.9 or later (zoneinfo)")
    if not isinstance(name, str) or not name:
        raise ScheduleError(where, "expected a time zone name such as Europe/Berlin, got %r" % (value,))
    try:
        ZoneInfo(name)
    except IsADirectoryError:
        # zoneinfo opens "Europe" - a directory of the time zone database - as it comes.
        raise ScheduleError(where, "%r is a region of the time zone database, not a time zone: name a zone in it,"
                                   " such as %s/Berlin" % (name, name.rstrip("/"))) from None
    except (ZoneInfoNotFoundError, ValueError, OSError, UnicodeError):
        # OSError: a file of the database that cannot be read
        raise ScheduleError(where, "unknown time zone %r (use a name such as UTC or Europe/Berlin)" % (name,)) from None
    return name


def _int_in(value, where, low, high):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScheduleError(where, "expected an integer, got %r" % (value,))
    if not low <= value <= high:
        raise ScheduleError(where, "must be between %d and %d, got %d" % (low, high, value))
    return value


def _values(raw, where, sla_classes):
    if not isinstance(raw, dict) or not any(raw.get(k) is not None for k in SET_KEYS):
        raise ScheduleError(where, "nothing to set: give at least one of %s" % ", ".join(SET_KEYS))
    unknown = sorted(k for k in raw if k not in SET_KEYS)
    if unknown:
        raise ScheduleError("%s.%s" % (where, unknown[0]), "unknown setting (use %s)" % ", ".join(SET_KEYS))
    values = {}
    if raw.get("vcpus") is not None:
        values["vcpus"] = _int_in(raw["vcpus"], where + ".vcpus", 1, MAX_VCPUS)
    if raw.get("memory") is not None:
        try:
            values["memory_mib"] = max(parse_size(raw["memory"], where + ".memory") // MIB, 1)
        except SpecError as exc:
            raise ScheduleError(exc.param, str(exc).split(": ", 1)[1]) from None
    if raw.get("cpu_shares") is not None:
        values["cpu_shares"] = _int_in(raw["cpu_shares"], where + ".cpu_shares", *CPU_SHARES_RANGE)
    if raw.get("vcpu_quota") is not None:
        quota = raw["vcpu_quota"]
        if isinstance(quota, bool) or not isinstance(quota, (int, float)) or not 0 < quota <= 100:
            raise ScheduleError(where + ".vcpu_quota", "percent of one CPU per vCPU, more than 0 and at most 100, got %r" % (quota,))
        values["vcpu_quota"] = quota
    if raw.get("sla") is not None:
        sla = raw["sla"]
        why = sla_vocab.problem(sla)
        if why:
            raise ScheduleError(where + ".sla", why)
        if sla_classes is not None and sla not in sla_classes:
            raise ScheduleError(where + ".sla", "unknown SLA class %r (known: %s)" % (sla, ", ".join(sorted(sla_classes))))
        values["sla"] = sla
    return values


def parse_rule(raw, index, sla_classes=None):
    """A :class:`Rule` from the dict ``raw`` (rule number ``index``), or :class:`ScheduleError`."""
    where = "rules[%d]" % index
    if not isinstance(raw, dict):
        raise ScheduleError(where, "expected a dict, got %r" % (raw,))
    unknown = sorted(k for k in raw if k not in RULE_KEYS)
    if unknown:
        raise ScheduleError("%s.%s" % (where, unknown[0]), "unknown field (use %s)" % ", ".join(RULE_KEYS))
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise ScheduleError(where + ".name", "expected a string, got %r" % (name,))
    vms = _strings(raw.get("vms"), where + ".vms")
    tags = _strings(raw.get("tags"), where + ".tags")
    groups = _strings(raw.get("groups"), where + ".groups")
    if not (vms or tags or groups):
        raise ScheduleError(where, "selects no VM: give vms, tags or groups (vms: ['*'] for every VM)")
    return Rule(
        index=index, name=name or None, vms=vms, tags=tags, groups=groups,
        days=_days(raw.get("days"), where + ".days"),
        start=_minutes(raw.get("from"), where + ".from", 0, False),
        end=_minutes(raw.get("to"), where + ".to", 24 * 60, True),
        timezone=_zone(raw.get("timezone"), where + ".timezone"),
        values=_values(raw.get("set"), where + ".set", sla_classes),
    )


def check_sla_classes(names):
    """``names`` (the module's ``sla_classes``) as a tuple of valid class names, or ScheduleError."""
    if names is None:
        return None
    if not isinstance(names, (list, tuple, set, frozenset)) or not names:
        raise ScheduleError("sla_classes", "expected a list of SLA class names (leave it out to allow any), got %r" % (names,))
    for index, name in enumerate(names if isinstance(names, (list, tuple)) else sorted(names, key=str)):
        why = sla_vocab.problem(name)
        if why:
            raise ScheduleError("sla_classes[%d]" % index, why)
    return tuple(names)


def parse_rules(raws, sla_classes=None):
    """Validate a list of rule dicts (already parsed :class:`Rule` objects pass through)."""
    if raws is None:
        return []
    sla_classes = check_sla_classes(sla_classes)
    if not isinstance(raws, (list, tuple)):
        raise ScheduleError("rules", "expected a list of rules, got %r" % (raws,))
    return [raw if isinstance(raw, Rule) else parse_rule(raw, i, sla_classes) for i, raw in enumerate(raws)]


# --- answers ---------------------------------------------------------------------------------

def _aware(at):
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise ScheduleError("at", "expected a timezone-aware datetime, got %r" % (at,))
    return at.astimezone(timezone.utc)


def rule_in_force(rules, vm, at):
    """The last of ``rules`` in force at ``at`` that selects ``vm``, or None."""
    at = _aware(at)
    for rule in reversed(parse_rules(rules)):
        if rule.selects(vm) and rule.in_force(at):
            return rule
    return None


def _values_at(rules, vm, at):
    """``(rule or None, values, clipped)`` for ``vm`` at ``at``, without the next change."""
    rule = None
    for candidate in reversed(rules):
        if candidate.in_force(at):
            rule = candidate
            break
    values = {"vcpus": vm.vcpus, "memory_mib": vm.memory_mib, "cpu_shares": vm.cpu_shares,
              "vcpu_quota": vm.vcpu_quota, "sla": vm.sla}
    source = "declared"
    if rule is not None:
        values.update(rule.values)
        source = "from %s" % rule.label
    clipped = []
    for key, limit, what in (("vcpus", vm.max_vcpus, "vCPUs"), ("memory_mib", vm.max_memory_mib, "MiB of memory")):
        if limit is not None and values[key] is not None and values[key] > limit:
            clipped.append("%s %d (%s) clipped to the VM's maximum of %d %s" % (key, values[key], source, limit, what))
            values[key] = limit
    return rule, values, tuple(clipped)


def _boundaries(rules, at):
    """Every start and end of the ``rules``' occurrences after ``at`` (UTC), sorted, within the horizon."""
    instants = set()
    for rule in rules:
        local = at.astimezone(ZoneInfo(rule.timezone)).date()
        for k in range(-1, HORIZON_DAYS):
            day = local + timedelta(days=k)
            if day.weekday() in rule.days:
                for instant in rule.interval(day):
                    if instant > at:
                        instants.add(instant)
    return sorted(instants)


def desired(vm, rules, at):
    """:class:`Desired` resources of ``vm`` (a :class:`VmDeclared`) at ``at`` under ``rules``."""
    at = _aware(at)
    mine = [r for r in parse_rules(rules) if r.selects(vm)]
    rule, values, clipped = _values_at(mine, vm, at)
    if rule is None:
        reason = "no rule in force: declared values"
    else:
        reason = "%s in force (%s)" % (rule.label, rule.describe())
    next_change = None
    for instant in _boundaries(mine, at):
        if _values_at(mine, vm, instant)[1] != values:
            next_change = instant
            break
    return Desired(vm=vm.name, values=values, rule=None if rule is None else rule.index,
                   rule_name=None if rule is None else rule.name, reason=reason, clipped=clipped, next_change=next_change)


def desired_all(vms, rules, at):
    """``({vm name: Desired}, next change)`` for many VMs: the rules are validated once, and the
    next change is the earliest of theirs (when a timer should run again), None when none changes."""
    rules = parse_rules(rules)
    answers = {vm.name: desired(vm, rules, at) for vm in vms}
    changes = [a.next_change for a in answers.values() if a.next_change is not None]
    return answers, min(changes) if changes else None
