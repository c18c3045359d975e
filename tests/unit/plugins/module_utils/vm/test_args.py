# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm.args: the argument spec of one VM, shared by the vm and vms modules, checked the way
AnsibleModule and arg_ranges check it.  Pure."""

from __future__ import annotations

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.hotiron.virt.plugins.module_utils import arg_ranges
from ansible_collections.hotiron.virt.plugins.module_utils.vm import args as vm_args
from ansible_collections.hotiron.virt.plugins.module_utils.vm import spec as vm_spec


def test_the_nic_models_of_the_argument_spec_are_the_spec_s():
    assert tuple(vm_args.NIC_MODEL_CHOICES) == vm_spec.NIC_MODELS
    assert vm_args.vm_options()["interfaces"]["options"]["model"]["choices"] == list(vm_spec.NIC_MODELS)


def validate(params):
    spec, ranges = arg_ranges.split(vm_args.vm_options())
    result = ArgumentSpecValidator(spec, mutually_exclusive=vm_args.MUTUALLY_EXCLUSIVE).validate(params)
    errors = [str(err) for err in result.errors]
    if not errors:
        errors = arg_ranges.check(result.validated_parameters, ranges)
    return result.validated_parameters, errors


def test_a_vm_of_name_only_gets_the_documented_defaults():
    params, errors = validate({"name": "n1"})
    assert errors == []
    assert (params["state"], params["clone"], params["remove_volumes"], params["shutdown_timeout"], params["force"],
            params["overcommit"]) == ("present", "linked", False, 120, False, False)
    assert params["vcpus"] is None and params["limits"] is None


def test_nested_options_get_their_defaults_and_types():
    params, errors = validate({"name": "n1", "disks": [{"path": "/a", "boot_order": "2"}], "limits": {}})
    assert errors == []
    assert params["disks"][0]["device"] == "disk" and params["disks"][0]["readonly"] is False
    assert params["disks"][0]["boot_order"] == 2
    assert params["limits"] == {"max_vcpus": 8, "max_memory": "96GiB"}


@pytest.mark.parametrize("params, needle", [
    ({}, "name"),
    ({"name": "n1", "disks": [{"path": "/a"}], "clone_from": "tmpl"}, "mutually exclusive: disks|clone_from"),
    ({"name": "n1", "state": "on"}, "state"),
    ({"name": "n1", "interfaces": [{"network": "lan", "model": "ne2k"}]}, "model"),
    ({"name": "n1", "vcpus": 0}, "vcpus"),
    ({"name": "n1", "vcpus": 4097}, "vcpus"),
    ({"name": "n1", "disks": [{"path": "/a", "boot_order": 65}]}, "disks[0].boot_order"),
    ({"name": "n1", "ha_priority": 1001}, "ha_priority"),
    ({"name": "n1", "restart_limit": {"count": 0}}, "restart_limit.count"),
    ({"name": "n1", "cpu_shares": 1}, "cpu_shares"),
    ({"name": "n1", "shutdown_timeout": -1}, "shutdown_timeout"),
])
def test_bad_input_is_refused_naming_the_option(params, needle):
    _params, errors = validate(params)
    assert errors and needle in " ".join(errors)


def test_full_xml_allows_only_known_options_and_refuses_every_other_one():
    options = vm_args.vm_options()
    assert vm_args.FULL_XML_OPTIONS <= set(options)
    params, errors = validate({"name": "n1", "xml": "<domain/>", "xml_mode": "full"})
    assert errors == [] and vm_args.full_xml_conflicts(params) == []
    # the tuning options, the cloud-init seed and the boot sources write the definition: refused
    assert {"numa_cells", "cputune", "tpm", "hostdevs", "cloud_init", "boot"} <= set(options) - vm_args.FULL_XML_OPTIONS
    # an option added later (a tuning option) is refused beside a full XML until it is listed
    for key in set(options) - vm_args.FULL_XML_OPTIONS:
        value = {"str": "x", "int": 2, "bool": True, "list": [], "dict": {}, "float": 1.0}[options[key].get("type", "str")]
        if options[key].get("default") != value:
            assert vm_args.full_xml_conflicts(dict(params, **{key: value})) == [key], key
