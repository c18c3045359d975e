# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capacity modules' input checks (capacity.inputs): each names the option and what is wrong."""

from __future__ import annotations

import math
import os

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.capacity import inputs


def test_no_capacity_message_ends_in_an_empty_list():
    assert inputs.unmeasured({}, {}) == "no host of the group could be measured: the group has no host"
    assert inputs.unmeasured({"hv1": "u", "hv2": "v"}, {"hv1": "refused"}) == (
        "no host of the group could be measured: hv1: refused; hv2: no reading")


def test_hosts():
    assert inputs.check_hosts({"hv1": "qemu:///system", "hv2": "test:///default"}) is None
    assert inputs.check_hosts({}).startswith("hosts: the group has no host")
    assert inputs.check_hosts(None).startswith("hosts: the group has no host")
    assert inputs.check_hosts({"hv2": " ", "hv1": 5}) == (
        "hosts.hv1: expected the host's libvirt URI (such as qemu+tls://hv1.example.com/system), got 5")


@pytest.mark.parametrize("weights, message", [
    (None, None), ({}, None), ({"gold": 4, "batch": 0.5}, None),
    ({"Gold": 4}, "sla_weights: 'Gold' is not an SLA class name"),
    ({"gold": 0}, "sla_weights.gold: must be a number above 0, got 0"),
    ({"gold": -1.5}, "sla_weights.gold: must be a number above 0, got -1.5"),
    ({"gold": True}, "sla_weights.gold: must be a number above 0, got True"),
    ({"gold": "4"}, "sla_weights.gold: must be a number above 0, got '4'"),
    ({"gold": math.inf}, "sla_weights.gold: must be a number above 0, got inf"),
    ({"gold": math.nan}, "sla_weights.gold: must be a number above 0, got nan"),
])
def test_sla_weights(weights, message):
    found = inputs.check_sla_weights(weights)
    assert found == message if message is None else found.startswith(message), found


@pytest.mark.parametrize("groups, message", [
    (None, None), ([], None), ([["a", "b"], []], None),
    ([["a"], "b"], "affinity[1]: expected a list of VM names, got 'b'"),
    ([["a", ""]], "affinity[0]: expected a list of VM names, got ['a', '']"),
    ([["a", 3]], "affinity[0]: expected a list of VM names, got ['a', 3]"),
])
def test_vm_groups(groups, message):
    assert inputs.check_vm_groups(groups, "affinity") == message


@pytest.mark.parametrize("history, ok", [
    (None, True), ({"hv1": []}, True), ({"hv1": [[1, 0.5], (2.0, 0.25)]}, True),
    ({"hv1": [[1]]}, False), ({"hv1": [[1, "0.5"]]}, False), ({"hv1": [[1, math.inf]]}, False),
    ({"hv1": [[True, 0.5]]}, False), ({"hv1": "[[1, 0.5]]"}, False), ({"hv1": [[1, 0.5, 2]]}, False),
])
def test_history(history, ok):
    found = inputs.check_history(history)
    assert found is None if ok else found == "history.hv1: must be a list of [time, load] pairs of numbers"


def test_addresses():
    assert inputs.check_addresses({"hv1": "10.0.0.1", "hv2": "tcp://10.0.0.2"}) is None and inputs.check_addresses(None) is None
    assert inputs.check_addresses({"hv1": ""}) == (
        "migration_addresses.hv1: expected an address (such as 10.0.0.1 or tcp://10.0.0.1), got ''")
    assert inputs.check_addresses({"hv1": None}).endswith("got None")


def test_first_problem_is_the_first_message_given():
    assert inputs.first_problem(None, "", "b", "c") == "b"
    assert inputs.first_problem(None, None) is None and inputs.first_problem() is None


def test_file(tmp_path):
    assert inputs.check_file(None, "dest") is None and inputs.check_file("", "dest") is None
    assert inputs.check_file(str(tmp_path / "r.html"), "dest") is None
    assert inputs.check_file(str(tmp_path), "dest") == (
        "dest: cannot write %s: it is a directory (give the path of a file in it)" % tmp_path)
    missing = tmp_path / "no" / "r.html"
    assert inputs.check_file(str(missing), "history_file") == (
        "history_file: cannot write %s: its directory %s does not exist" % (missing, tmp_path / "no"))
    assert inputs.check_file(str(missing), "history_file", makedirs=True) is None
    assert os.listdir(tmp_path) == []                # a check writes nothing
