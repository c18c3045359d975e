# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time-of-day schedules: validation, days and midnight, DST, overlaps, clipping, next change."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.hotiron.virt.plugins.module_utils.capacity.schedule import (
    ScheduleError,
    VmDeclared,
    desired,
    desired_all,
    parse_rule,
    parse_rules,
    rule_in_force,
)

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
VM = VmDeclared("batch-1", vcpus=2, memory_mib=2048, cpu_shares=1024, sla="silver", max_vcpus=8, max_memory_mib=16384,
                tags=("batch", "eu"), groups=("prod",))


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def berlin(*args, fold=0):
    return datetime(*args, tzinfo=BERLIN, fold=fold)


def rule(**kw):
    base = {"vms": ["batch-*"], "set": {"vcpus": 4}}
    base.update(kw)
    return base


def active(raw, at, vm=VM):
    return rule_in_force([raw], vm, at) is not None


# --- validation ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, message",
    [
        (rule(days=["mon", "mox"]), "rules[1].days: unknown day 'mox' (use mon, tue, wed, thu, fri, sat, sun, or a range such as mon-fri)"),
        (rule(days="mon-fry"), "rules[1].days: unknown day 'mon-fry' (use mon, tue, wed, thu, fri, sat, sun, or a range such as mon-fri)"),
        (rule(days=[]), "rules[1].days: no day given (leave days out for every day)"),
        (rule(days=[3]), "rules[1].days: expected a list of non-empty strings, got [3]"),
        (rule(**{"from": "25:00"}), "rules[1].from: '25:00' is not a time of day (00:00 to 23:59)"),
        (rule(**{"from": "24:00"}), "rules[1].from: '24:00' is not a time of day (00:00 to 23:59)"),
        (rule(**{"to": "24:01"}), "rules[1].to: '24:01' is not a time of day (00:00 to 23:59, or 24:00)"),
        (rule(**{"from": "7:60"}), "rules[1].from: '7:60' is not a time of day (00:00 to 23:59)"),
        (rule(**{"from": "7h"}), "rules[1].from: '7h' is not a time HH:MM"),
        (rule(**{"from": 1320}), "rules[1].from: 1320 is not a time HH:MM (unquoted in YAML, a time such as 22:00 is read as a number"
                                 " in base 60: quote it)"),
        (rule(timezone="Mars/Olympus"), "rules[1].timezone: unknown time zone 'Mars/Olympus' (use a name such as UTC or Europe/Berlin)"),
        (rule(timezone="../etc/passwd"), "rules[1].timezone: unknown time zone '../etc/passwd' (use a name such as UTC or Europe/Berlin)"),
        (rule(timezone=""), "rules[1].timezone: expected a time zone name such as Europe/Berlin, got ''"),
        (rule(set={}), "rules[1].set: nothing to set: give at least one of vcpus, memory, cpu_shares, vcpu_quota, sla"),
        (rule(set={"vcpus": None}), "rules[1].set: nothing to set: give at least one of vcpus, memory, cpu_shares, vcpu_quota, sla"),
        (rule(set=None), "rules[1].set: nothing to set: give at least one of vcpus, memory, cpu_shares, vcpu_quota, sla"),
        (rule(set={"vcpus": 2, "cpus": 4}), "rules[1].set.cpus: unknown setting (use vcpus, memory, cpu_shares, vcpu_quota, sla)"),
        (rule(set={"vcpus": 0}), "rules[1].set.vcpus: must be between 1 and 4096, got 0"),
        (rule(set={"vcpus": "4"}), "rules[1].set.vcpus: expected an integer, got '4'"),
        (rule(set={"memory": "lots"}), "rules[1].set.memory: expected a size such as 512MiB or 2GiB, got 'lots'"),
        (rule(set={"memory": "2PB"}), "rules[1].set.memory: unknown unit 'PB' (use KiB, MiB, GiB or TiB)"),
        (rule(set={"cpu_shares": 1}), "rules[1].set.cpu_shares: must be between 2 and 262144, got 1"),
        (rule(set={"vcpu_quota": 0}), "rules[1].set.vcpu_quota: percent of one CPU per vCPU, more than 0 and at most 100, got 0"),
        (rule(set={"vcpu_quota": 150}), "rules[1].set.vcpu_quota: percent of one CPU per vCPU, more than 0 and at most 100, got 150"),
        (rule(set={"sla": ""}), "rules[1].set.sla: '' is not an SLA class name: lower-case letters, digits, '-' and '_',"
                                " starting with a letter, 32 at most"),
        (rule(set={"sla": "Gold"}), "rules[1].set.sla: 'Gold' is not an SLA class name: lower-case letters, digits, '-' and '_',"
                                    " starting with a letter, 32 at most (did you mean gold?)"),
        (rule(timezone="Europe"), "rules[1].timezone: 'Europe' is a region of the time zone database, not a time zone:"
                                  " name a zone in it, such as Europe/Berlin"),
        (rule(timezone="America/"), "rules[1].timezone: unknown time zone 'America/' (use a name such as UTC or Europe/Berlin)"),
        (rule(timezone="../../etc/passwd"), "rules[1].timezone: unknown time zone '../../etc/passwd' (use a name such as UTC or Europe/Berlin)"),
        (rule(timezone="zone.tab"), "rules[1].timezone: unknown time zone 'zone.tab' (use a name such as UTC or Europe/Berlin)"),
        (rule(timezone="a\x00b"), "rules[1].timezone: unknown time zone 'a\\x00b' (use a name such as UTC or Europe/Berlin)"),
        (rule(colour="red"), "rules[1].colour: unknown field (use name, vms, tags, groups, days, from, to, timezone, set)"),
        (rule(name=3), "rules[1].name: expected a string, got 3"),
        ({"set": {"vcpus": 2}}, "rules[1]: selects no VM: give vms, tags or groups (vms: ['*'] for every VM)"),
        ({"vms": [], "tags": None, "set": {"vcpus": 2}}, "rules[1]: selects no VM: give vms, tags or groups (vms: ['*'] for every VM)"),
        ("every night", "rules[1]: expected a dict, got 'every night'"),
    ],
)
def test_bad_rules_name_index_and_field(raw, message):
    with pytest.raises(ScheduleError) as err:
        parse_rules([rule(), raw])
    assert str(err.value) == message


def test_unknown_sla_class_when_classes_are_known():
    with pytest.raises(ScheduleError, match=r"rules\[0\].set.sla: unknown SLA class 'platinum' \(known: bronze, gold, silver\)"):
        parse_rules([rule(set={"sla": "platinum"})], sla_classes={"gold", "silver", "bronze"})
    assert parse_rules([rule(set={"sla": "gold"})], sla_classes={"gold"})[0].values == {"sla": "gold"}


@pytest.mark.parametrize("classes, message", [
    (["gold", "Gold"], "sla_classes[1]: 'Gold' is not an SLA class name"),
    ([""], "sla_classes[0]: '' is not an SLA class name"),
    ([], "sla_classes: expected a list of SLA class names (leave it out to allow any), got []"),
])
def test_the_known_classes_are_class_names_as_the_vm_module_takes_them(classes, message):
    with pytest.raises(ScheduleError) as err:
        parse_rules([rule()], sla_classes=classes)
    assert str(err.value).startswith(message), str(err.value)


def test_rules_must_be_a_list_and_at_must_be_aware():
    with pytest.raises(ScheduleError, match="rules: expected a list"):
        parse_rules({"vms": "x"})
    with pytest.raises(ScheduleError, match="at: expected a timezone-aware datetime"):
        desired(VM, [], datetime(2026, 1, 1, 12, 0))
    assert parse_rules(None) == []


def test_a_parsed_rule():
    parsed = parse_rule({"name": "night", "vms": "batch-*", "days": ["fri-mon", "wed"], "from": "22:30", "to": "06:00",
                         "timezone": "Europe/Berlin", "set": {"vcpus": 8, "memory": "4GiB", "vcpu_quota": 50.5}}, 3)
    assert (parsed.vms, parsed.days, parsed.start, parsed.end) == (("batch-*",), frozenset({4, 5, 6, 0, 2}), 22 * 60 + 30, 360)
    assert parsed.values == {"vcpus": 8, "memory_mib": 4096, "vcpu_quota": 50.5}
    assert parsed.label == "rule 3 'night'"
    assert parsed.describe() == "mon,wed,fri-sun 22:30-06:00 Europe/Berlin"
    assert parse_rule(rule(), 0).describe() == "every day 00:00-24:00 UTC"
    assert parse_rule(rule(), 0).label == "rule 0"


# --- selection -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "selectors, selected",
    [
        ({"vms": ["batch-*"]}, True),
        ({"vms": ["web-*", "batch-?"]}, True),
        ({"vms": ["Batch-*"]}, False),  # case matters, as in VM names
        ({"tags": ["eu"]}, True),
        ({"tags": ["us"]}, False),
        ({"groups": ["prod"]}, True),
        ({"vms": ["batch-*"], "tags": ["us"]}, False),  # every kind given must match
        ({"vms": ["*"], "tags": ["us", "batch"], "groups": ["prod"]}, True),
    ],
)
def test_selection(selectors, selected):
    assert active(dict(selectors, set={"vcpus": 4}), utc(2026, 1, 7, 12, 0)) is selected


# --- days and midnight -----------------------------------------------------------------------

MONDAY_NIGHT = rule(days=["mon"], **{"from": "22:00", "to": "06:00"})


@pytest.mark.parametrize(
    "at, in_force",
    [
        (utc(2026, 1, 5, 21, 59), False),   # Monday before the start
        (utc(2026, 1, 5, 22, 0), True),     # Monday at the start
        (utc(2026, 1, 6, 5, 59), True),     # Tuesday morning: Monday's night
        (utc(2026, 1, 6, 6, 0), False),     # the end is not in force
        (utc(2026, 1, 6, 22, 0), False),    # Tuesday night is not Monday's
        (utc(2026, 1, 5, 3, 0), False),     # Monday morning belongs to Sunday's night
    ],
)
def test_a_night_belongs_to_the_day_it_starts(at, in_force):
    assert active(MONDAY_NIGHT, at) is in_force


def test_sunday_night_runs_into_monday():
    sunday = rule(days=["sun"], **{"from": "23:00", "to": "01:00"})
    assert active(sunday, utc(2026, 1, 5, 0, 30))
    assert not active(sunday, utc(2026, 1, 5, 23, 30))


@pytest.mark.parametrize(
    "at, in_force",
    [(utc(2026, 1, 9, 0, 0), True), (utc(2026, 1, 9, 23, 59, 59), True), (utc(2026, 1, 10, 0, 0), False),
     (utc(2026, 1, 8, 23, 59, 59), False)],
)
def test_a_whole_friday(at, in_force):
    assert active(rule(days=["fri"], **{"from": "00:00", "to": "24:00"}), at) is in_force


def test_from_equal_to_is_24_hours_from_then():
    same = rule(days=["mon"], **{"from": "12:00", "to": "12:00"})
    assert active(same, utc(2026, 1, 5, 12, 0)) and active(same, utc(2026, 1, 6, 11, 59))
    assert not active(same, utc(2026, 1, 6, 12, 0))


# --- time zones and DST ----------------------------------------------------------------------

def test_times_are_wall_clock_in_the_rules_zone():
    office = rule(days=["mon-fri"], timezone="America/New_York", **{"from": "09:00", "to": "17:00"})
    # 09:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer (DST from 8 March 2026).
    assert not active(office, utc(2026, 3, 6, 13, 30)) and active(office, utc(2026, 3, 6, 14, 0))
    assert active(office, utc(2026, 3, 9, 13, 30)) and not active(office, utc(2026, 3, 9, 12, 59))
    # Friday 16:00 in New York is already Saturday in Tokyo: the rule's zone decides the day.
    assert active(office, datetime(2026, 3, 7, 6, 0, tzinfo=ZoneInfo("Asia/Tokyo")))


def test_spring_forward_a_time_that_does_not_exist_is_taken_after_the_jump():
    # Sunday 29 March 2026 in Berlin: 02:00 CET jumps to 03:00 CEST.  02:30 does not exist.
    early = rule(days=["sun"], timezone="Europe/Berlin", **{"from": "02:30", "to": "04:00"})
    assert not active(early, berlin(2026, 3, 29, 3, 15))          # 03:15 CEST = 01:15 UTC
    assert active(early, utc(2026, 3, 29, 1, 30))                 # 03:30 CEST: the start, shifted by the jump
    assert not active(early, berlin(2026, 3, 29, 4, 0))


def test_spring_forward_the_missing_hour_is_empty():
    missing = rule(days=["sun"], timezone="Europe/Berlin", **{"from": "02:00", "to": "03:00"})
    for minute in range(0, 180, 5):
        assert not active(missing, utc(2026, 3, 29, 0, 0) + timedelta(minutes=minute))
    # A week later the hour exists again.
    assert active(missing, berlin(2026, 4, 5, 2, 30))


def test_fall_back_a_time_that_happens_twice_is_its_first_occurrence():
    # Sunday 25 October 2026 in Berlin: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    starts = rule(days=["sun"], timezone="Europe/Berlin", **{"from": "02:30", "to": "05:00"})
    assert active(starts, berlin(2026, 10, 25, 2, 30, fold=0))    # 00:30 UTC, the first 02:30
    assert not active(starts, utc(2026, 10, 25, 0, 29))
    ends = rule(days=["sun"], timezone="Europe/Berlin", **{"from": "01:00", "to": "02:30"})
    assert active(ends, berlin(2026, 10, 25, 2, 29, fold=0))
    assert not active(ends, berlin(2026, 10, 25, 2, 30, fold=0))
    assert not active(ends, berlin(2026, 10, 25, 2, 10, fold=1))  # the second 02:10 is after the end


def test_fall_back_the_repeated_hour_lasts_two_hours():
    repeated = rule(days=["sun"], timezone="Europe/Berlin", **{"from": "02:00", "to": "03:00"})
    at = desired(VM, [repeated], utc(2026, 10, 24, 23, 59))
    assert at.next_change == utc(2026, 10, 25, 0, 0)               # 02:00 CEST
    assert desired(VM, [repeated], at.next_change).next_change == utc(2026, 10, 25, 2, 0)  # 03:00 CET


def test_next_change_skips_a_night_that_dst_left_empty():
    missing = rule(days=["sun", "mon"], timezone="Europe/Berlin", **{"from": "02:00", "to": "03:00"})
    answer = desired(VM, [missing], utc(2026, 3, 28, 12, 0))
    assert answer.next_change == utc(2026, 3, 30, 0, 0)            # Monday 02:00 CEST, not Sunday


def test_next_change_a_week_ahead_and_two_weeks_past_an_empty_night():
    monday = rule(days=["mon"], **{"from": "10:00", "to": "11:00"})
    assert desired(VM, [monday], utc(2026, 1, 5, 11, 0)).next_change == utc(2026, 1, 12, 10, 0)
    missing = rule(days=["sun"], timezone="Europe/Berlin", **{"from": "02:00", "to": "03:00"})
    # After Sunday 22 March's hour, Sunday 29 March has none: the next is 5 April, 02:00 CEST.
    assert desired(VM, [missing], utc(2026, 3, 22, 3, 0)).next_change == utc(2026, 4, 5, 0, 0)


# --- what a VM gets --------------------------------------------------------------------------

def test_outside_every_rule_the_declared_values_hold():
    answer = desired(VM, [MONDAY_NIGHT], utc(2026, 1, 7, 12, 0))
    assert answer.values == {"vcpus": 2, "memory_mib": 2048, "cpu_shares": 1024, "vcpu_quota": None, "sla": "silver"}
    assert (answer.rule, answer.rule_name, answer.reason) == (None, None, "no rule in force: declared values")
    assert answer.next_change == utc(2026, 1, 12, 22, 0)


def test_the_last_rule_in_force_wins_alone():
    rules = [rule(name="all week", set={"vcpus": 4, "cpu_shares": 2048}),
             rule(name="night", days=["mon-fri"], set={"memory": "8GiB"}, **{"from": "22:00", "to": "06:00"}),
             rule(name="other vms", vms=["web-*"], set={"vcpus": 1})]
    day = desired(VM, rules, utc(2026, 1, 7, 12, 0))
    assert (day.rule, day.rule_name) == (0, "all week")
    assert day.values == {"vcpus": 4, "memory_mib": 2048, "cpu_shares": 2048, "vcpu_quota": None, "sla": "silver"}
    night = desired(VM, rules, utc(2026, 1, 7, 23, 0))
    assert night.rule == 1
    assert night.reason == "rule 1 'night' in force (mon-fri 22:00-06:00 UTC)"
    # Only the winner applies: the first rule's vCPUs and shares do not carry over.
    assert night.values == {"vcpus": 2, "memory_mib": 8192, "cpu_shares": 1024, "vcpu_quota": None, "sla": "silver"}
    assert night.next_change == utc(2026, 1, 8, 6, 0)
    assert rule_in_force(rules, VM, utc(2026, 1, 7, 23, 0)).index == 1


def test_values_are_clipped_to_the_vms_maxima():
    answer = desired(VM, [rule(name="big", set={"vcpus": 32, "memory": "64GiB"})], utc(2026, 1, 7, 12, 0))
    assert answer.values["vcpus"] == 8 and answer.values["memory_mib"] == 16384
    assert answer.clipped == ("vcpus 32 (from rule 0 'big') clipped to the VM's maximum of 8 vCPUs",
                              "memory_mib 65536 (from rule 0 'big') clipped to the VM's maximum of 16384 MiB of memory")


def test_no_maxima_no_clipping():
    free = VmDeclared("batch-2", 2, 2048)
    answer = desired(free, [rule(set={"vcpus": 32})], utc(2026, 1, 7, 12, 0))
    assert answer.values["vcpus"] == 32 and answer.clipped == ()


def test_next_change_ignores_boundaries_that_change_nothing():
    rules = [rule(days=["mon-fri"], set={"vcpus": 4}, **{"from": "08:00", "to": "12:00"}),
             rule(days=["mon-fri"], set={"vcpus": 4}, **{"from": "12:00", "to": "18:00"})]
    assert desired(VM, rules, utc(2026, 1, 7, 9, 0)).next_change == utc(2026, 1, 7, 18, 0)


def test_a_rule_always_in_force_never_changes():
    answer = desired(VM, [rule(set={"vcpus": 4})], utc(2026, 1, 7, 9, 0))
    assert (answer.values["vcpus"], answer.next_change) == (4, None)
    assert desired(VM, [], utc(2026, 1, 7, 9, 0)).next_change is None


def test_as_dict():
    out = desired(VM, [MONDAY_NIGHT], utc(2026, 1, 5, 23, 0)).as_dict()
    assert out == {"vm": "batch-1", "values": {"vcpus": 4, "memory_mib": 2048, "cpu_shares": 1024, "vcpu_quota": None, "sla": "silver"},
                   "rule": 0, "rule_name": None, "reason": "rule 0 in force (mon 22:00-06:00 UTC)", "clipped": [],
                   "next_change": "2026-01-06T06:00:00+00:00"}


def test_many_vms_at_once_and_the_earliest_change():
    web = VmDeclared("web-1", 1, 1024, tags=("web",))
    rules = [MONDAY_NIGHT, {"tags": ["web"], "days": ["tue"], "from": "08:00", "to": "09:00", "set": {"cpu_shares": 512}}]
    answers, next_change = desired_all([VM, web], rules, utc(2026, 1, 5, 12, 0))
    assert sorted(answers) == ["batch-1", "web-1"]
    assert answers["batch-1"].next_change == utc(2026, 1, 5, 22, 0)
    assert answers["web-1"].next_change == utc(2026, 1, 6, 8, 0)
    assert next_change == utc(2026, 1, 5, 22, 0)
    assert desired_all([VM], [], utc(2026, 1, 5, 12, 0))[1] is None
    with pytest.raises(ScheduleError, match=r"rules\[0\]"):
        desired_all([VM], [{"vms": "x"}], utc(2026, 1, 5, 12, 0))


# --- properties ------------------------------------------------------------------------------

TIMES = st.builds(lambda h, m: "%02d:%02d" % (h, m), st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
RULES = st.lists(st.builds(
    lambda days, start, end, zone, vcpus: {"vms": ["*"], "days": days, "from": start, "to": end, "timezone": zone,
                                           "set": {"vcpus": vcpus}},
    st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1, max_size=3),
    TIMES, TIMES, st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]), st.integers(1, 4)), max_size=4)
# Instants around both 2026 Berlin DST changes and ordinary weeks.
INSTANTS = st.builds(lambda base, minutes: base + timedelta(minutes=minutes),
                     st.sampled_from([utc(2026, 3, 27), utc(2026, 10, 23), utc(2026, 1, 5), utc(2026, 3, 6)]),
                     st.integers(0, 5 * 24 * 60))


@settings(max_examples=200, deadline=None)
@given(RULES, INSTANTS, st.lists(st.integers(0, 10 ** 6), min_size=3, max_size=3))
def test_next_change_is_when_the_answer_first_changes(rules, at, probes):
    answer = desired(VM, rules, at)
    assert answer.next_change is None or answer.next_change > at
    end = answer.next_change or at + timedelta(days=14)
    span = (end - at).total_seconds()
    # The answer holds at points before the next change, and differs at it.
    for probe in probes:
        point = at + timedelta(seconds=span * probe / 10 ** 6)
        if point < end:
            assert desired(VM, rules, point).values == answer.values
    if answer.next_change is not None:
        assert desired(VM, rules, answer.next_change).values != answer.values


@settings(max_examples=200, deadline=None)
@given(RULES, INSTANTS)
def test_in_force_agrees_with_the_wall_clock(rules, at):
    """Away from DST nights, a rule is in force when the local weekday and time say so."""
    for raw in rules:
        zone = ZoneInfo(raw["timezone"])
        local = at.astimezone(zone)
        start, end = (int(raw[k][:2]) * 60 + int(raw[k][3:]) for k in ("from", "to"))
        days = {["mon", "tue", "wed", "thu", "fri", "sat", "sun"].index(d) for d in raw["days"]}
        now = local.hour * 60 + local.minute
        if end > start:
            expected = local.weekday() in days and start <= now < end
        else:
            expected = (local.weekday() in days and now >= start) or ((local.weekday() - 1) % 7 in days and now < end)
        near_dst = abs(local.utcoffset() - (local - timedelta(hours=26)).utcoffset()) > timedelta(0) or \
            abs(local.utcoffset() - (local + timedelta(hours=26)).utcoffset()) > timedelta(0)
        if not near_dst:
            assert active(raw, at) is expected
