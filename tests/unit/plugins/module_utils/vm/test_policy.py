# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the collection treats a VM: policy options, their metadata and XML (vm_policy)."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils.vm import policy as vpol
from ansible_collections.hotiron.virt.plugins.module_utils.vm.values import SpecError


def test_nothing_given_manages_nothing():
    assert vpol.validate({}) == ({}, {"on_crash": None, "cpu_shares": None})


def test_ha_options_go_into_the_metadata_and_set_the_crash_action():
    meta, xml = vpol.validate({"ha": True, "ha_priority": 700, "restart_limit": {"count": 5, "window": None}})
    assert meta == {"ha": "true", "ha_priority": "700", "restart_limit": "5/600"}
    assert xml["on_crash"] == "destroy"
    assert vpol.restart_limit(meta) == (5, 600)
    assert vpol.restart_limit({}) == (3, 600)
    assert vpol.is_ha(meta) and not vpol.is_ha({"ha": "false"}) and not vpol.is_ha({})


def test_ha_off_is_recorded_and_leaves_the_crash_action():
    meta, xml = vpol.validate({"ha": False})
    assert meta == {"ha": "false"} and xml["on_crash"] is None


@pytest.mark.parametrize("sla, shares, expected", [
    ("gold", None, 4096), ("silver", None, 2048), ("bronze", None, 512), ("batch", None, None), ("gold", 100, 100),
    (None, 300, 300),
])
def test_sla_classes_set_cpu_shares_unless_given(sla, shares, expected):
    meta, xml = vpol.validate({"sla": sla, "cpu_shares": shares})
    assert meta.get("sla") == sla and xml["cpu_shares"] == expected


@pytest.mark.parametrize("params, param", [
    ({"sla": "Gold!"}, "sla"), ({"sla": ""}, "sla"), ({"expires": "31/12/2027"}, "expires"),
    ({"expires": "2027-02-30"}, "expires"), ({"ha_priority": 1001}, "ha_priority"),
    ({"ha": True, "autostart": True}, "autostart"),
])
def test_bad_values_name_the_option(params, param):
    with pytest.raises(SpecError) as err:
        vpol.validate(params)
    assert err.value.param == param


def test_lifecycle_fields():
    meta = vpol.validate({"expires": "2027-03-31", "purpose": "load test", "owner": "ops"})[0]
    assert meta == {"expires": "2027-03-31", "purpose": "load test", "owner": "ops"}
    assert vpol.parse_date(datetime.date(2027, 1, 2), "expires") == datetime.date(2027, 1, 2)


def test_restart_times_round_trip():
    assert vpol.restarts({"restarts": "30 10 20 junk"}) == [10.0, 20.0, 30.0]
    assert vpol.format_restarts([20.4, 10.2]) == "10 20"
    assert vpol.restarts({}) == []


def test_apply_edits_an_existing_crash_action_in_place_and_adds_shares():
    root = dx.parse("<domain><name>a</name><clock offset='utc'/><on_poweroff>destroy</on_poweroff>"
                    "<on_reboot>restart</on_reboot><on_crash>restart</on_crash><devices/></domain>")
    vpol.apply(root, {"on_crash": "destroy", "cpu_shares": 2048})
    assert [c.tag for c in root][:5] == ["name", "clock", "on_poweroff", "on_reboot", "on_crash"]
    assert dx.get_text(root, "on_crash") == "destroy" and dx.get_text(root, "cputune/shares") == "2048"
    vpol.apply(root, {"on_crash": None, "cpu_shares": None})
    assert dx.get_text(root, "on_crash") == "destroy"


def test_cpu_reservation_goes_into_the_metadata():
    assert vpol.validate({"cpu_reservation": 1.5})[0] == {"cpu_reservation": "1.5"}
