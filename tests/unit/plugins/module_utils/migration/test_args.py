# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The migration options (migration.args): tuning from the module's options, the destination, the
address, the diff."""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.migration import args


@pytest.mark.parametrize("given, expected", [(None, None), ("", None), ("10.0.0.2", "tcp://10.0.0.2"),
                                             ("tls://hv2", "tls://hv2")])
def test_normalise_address(given, expected):
    assert args.normalise_address(given) == expected


def test_migration_diff_is_where_the_vm_runs_before_and_after():
    result = {"vm": "web1", "source": "qemu+tls://a/system", "source_host": "a",
              "destination": "qemu+tls://b/system", "host": "b"}
    assert args.migration_diff(result) == {
        "before": {"vm": "web1", "host": "a", "uri": "qemu+tls://a/system"},
        "after": {"vm": "web1", "host": "b", "uri": "qemu+tls://b/system"}}


def test_the_defaults_make_a_valid_tuning_with_every_option_carried():
    tuning = args.tuning_from_params(args.tuning_defaults())
    assert (tuning.bandwidth_mib_s, tuning.max_downtime_ms, tuning.downtime_steps, tuning.timeout_action) == (0, 500, 10, "abort")
    given = dict(args.tuning_defaults(), bandwidth=64, max_downtime=300, downtime_steps=5, downtime_delay=10.0,
                 auto_converge=True, postcopy=True, postcopy_after=20.0, postcopy_on_stall=False, stall_timeout=9.0,
                 abort_on_stall=True, completion_timeout=600.0, timeout_action="postcopy", parallel_connections=4)
    assert args.tuning_from_params(given).as_dict() == {
        "bandwidth_mib_s": 64, "max_downtime_ms": 300, "downtime_steps": 5, "downtime_delay_s_per_gib": 10.0,
        "auto_converge": True, "postcopy": True, "postcopy_after_s": 20.0, "postcopy_on_stall": False,
        "stall_timeout_s": 9.0, "abort_on_stall": True, "completion_timeout_s": 600.0, "timeout_action": "postcopy",
        "compression": False, "parallel_connections": 4}


@pytest.mark.parametrize("change, message", [
    ({"postcopy_after": 5.0}, "Invalid migration settings: postcopy_after needs postcopy=true"),
    ({"compression": True, "parallel_connections": 2}, "compression and parallel_connections cannot be used together"),
    ({"downtime_steps": 0}, "downtime_steps must be at least 1, got 0"),
    ({"timeout_action": "pause"}, "timeout_action must be one of abort, postcopy, got 'pause'"),
])
def test_contradicting_options_are_a_virt_error(change, message):
    with pytest.raises(lc.VirtError, match="^Invalid migration settings: .*" + message.split(": ")[-1]):
        args.tuning_from_params(dict(args.tuning_defaults(), **change))


def test_the_spec_is_a_copy_and_the_group_nests_it():
    spec = args.tuning_argument_spec()
    assert set(spec) == set(args.TUNING_SPEC) == set(args.tuning_defaults())
    spec["bandwidth"]["default"] = 99
    assert args.TUNING_SPEC["bandwidth"]["default"] == 0 and args.tuning_defaults()["bandwidth"] == 0
    group = args.tuning_group_spec()
    assert (group["type"], group["default"]) == ("dict", {}) and group["options"] == args.tuning_argument_spec()


def test_the_destination_by_uri_or_by_name():
    assert args.resolve_dest({"dest_uri": "qemu+tls://hv2/system", "dest": "hv9"}) == "qemu+tls://hv2/system"
    assert args.resolve_dest({"dest": "hv2", "hosts": {"hv1": "a", "hv2": "b"}}) == "b"
    with pytest.raises(lc.VirtError, match="^Unknown destination host hv9: known hosts are hv1, hv2$"):
        args.resolve_dest({"dest": "hv9", "hosts": {"hv2": "b", "hv1": "a"}})
    with pytest.raises(lc.VirtError, match="^Unknown destination host None: known hosts are none$"):
        args.resolve_dest({"dest_uri": "", "hosts": None})


def test_the_diff_of_a_vm_that_did_not_move_names_no_source():
    assert args.migration_diff({"vm": "web1", "host": "b", "destination": "test:///b"}) == {
        "before": {"vm": "web1", "host": None, "uri": None}, "after": {"vm": "web1", "host": "b", "uri": "test:///b"}}
