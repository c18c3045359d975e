# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of migrating modules (vm_migrate; host_maintenance, rebalance and recover for the
host limits) and what they become: the tuning, the destination, the diff.  Pure data and small
pure functions: no libvirt.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.migration.tuning import Tuning, TuningError


# The tuning options of vm_migrate (and host_maintenance's ``migration`` setting): one table for
# the module's argument spec and for every caller that builds the parameters itself.
TUNING_SPEC = dict(
    bandwidth=dict(type="int", default=0, min=0, max=1048576),
    max_downtime=dict(type="int", default=500, min=1, max=60000),
    downtime_steps=dict(type="int", default=10, min=1, max=100),
    downtime_delay=dict(type="float", default=75.0, min=0, max=3600),
    auto_converge=dict(type="bool", default=False),
    postcopy=dict(type="bool", default=False),
    postcopy_after=dict(type="float", default=0.0, min=0),
    postcopy_on_stall=dict(type="bool", default=True),
    stall_timeout=dict(type="float", default=30.0, min=0),
    abort_on_stall=dict(type="bool", default=False),
    completion_timeout=dict(type="float", default=0.0, min=0),
    timeout_action=dict(type="str", choices=["abort", "postcopy"], default="abort"),
    compression=dict(type="bool", default=False),
    parallel_connections=dict(type="int", default=0, min=0, max=255),
)


# How much a host may take, for the capacity checks of every module that places VMs.
HOST_LIMITS_SPEC = dict(
    cpu_allocation_ratio=dict(type="float", default=4.0, min=0.1, max=64),
    reserved_host_memory=dict(type="int", default=256, min=0),
)


def tuning_argument_spec():
    """The tuning options' argument spec (a copy the caller may change)."""
    return {key: dict(spec) for key, spec in TUNING_SPEC.items()}


def tuning_defaults():
    return {key: spec["default"] for key, spec in TUNING_SPEC.items()}


def tuning_group_spec():
    """The ``migration`` option of modules that migrate many VMs: the tuning options nested."""
    return dict(type="dict", default={}, options=tuning_argument_spec())


def migration_diff(result):
    """Diff-mode view of a (planned) migration result: where the VM runs before and after (pure)."""
    return {
        "before": {"vm": result["vm"], "host": result.get("source_host"), "uri": result.get("source")},
        "after": {"vm": result["vm"], "host": result.get("host"), "uri": result.get("destination")},
    }


def tuning_from_params(params):
    """The :class:`tuning.Tuning` of the module's tuning options; VirtError when they contradict."""
    try:
        return Tuning(
            bandwidth_mib_s=params["bandwidth"],
            max_downtime_ms=params["max_downtime"],
            downtime_steps=params["downtime_steps"],
            downtime_delay_s_per_gib=params["downtime_delay"],
            auto_converge=params["auto_converge"],
            postcopy=params["postcopy"],
            postcopy_after_s=params["postcopy_after"],
            postcopy_on_stall=params["postcopy_on_stall"],
            stall_timeout_s=params["stall_timeout"],
            abort_on_stall=params["abort_on_stall"],
            completion_timeout_s=params["completion_timeout"],
            timeout_action=params["timeout_action"],
            compression=params["compression"],
            parallel_connections=params["parallel_connections"],
        ).validate()
    except TuningError as err:
        raise lc.VirtError("Invalid migration settings: %s" % err) from err


def resolve_dest(params):
    """The destination URI from ``dest_uri``, or ``dest`` looked up in ``hosts``."""
    if params.get("dest_uri"):
        return params["dest_uri"]
    hosts = params.get("hosts") or {}
    dest = params.get("dest")
    if dest not in hosts:
        raise lc.VirtError("Unknown destination host %s: known hosts are %s" % (dest, ", ".join(sorted(hosts)) or "none"))
    return hosts[dest]


def normalise_address(address):
    if not address:
        return None
    return address if "://" in address else "tcp://" + address
