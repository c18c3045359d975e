# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm_migrate's work (migration.migrate_ops) where the test driver allows it: input errors, idempotence
(already on the destination), refusing a vm running on both hosts, and the flags and parameters handed
to libvirt.  The test driver cannot migrate: the lab tests do that."""

from __future__ import annotations

import libvirt
import pytest

from migration_examples import two_hosts  # tests/unit/migration_examples.py

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.migration import migrate_ops as mo
from ansible_collections.hotiron.virt.plugins.module_utils.migration.tuning import Tuning


def params(**kw):
    base = dict(uri=None, name="web1", dest_uri=None, dest=None, hosts=None, migration_address=None, live=True,
                copy_storage="auto", bandwidth=0, max_downtime=500, downtime_steps=10, downtime_delay=75.0,
                auto_converge=False, postcopy=False, postcopy_after=0.0, postcopy_on_stall=True,
                stall_timeout=30.0, abort_on_stall=False, completion_timeout=0.0, timeout_action="abort",
                compression=False, parallel_connections=0, cpu_allocation_ratio=4.0, reserved_host_memory=256)
    base.update(kw)
    return base


@pytest.fixture
def hosts(tmp_path):
    """web1 running on the destination only; db1 on the source only; both1 running on both."""
    return two_hosts(tmp_path)


def test_already_on_destination_is_unchanged(hosts):
    src, dest = hosts
    for check in (False, True):
        result = mo.run_vm_migrate(params(uri=src, dest_uri=dest), check)
        assert result["changed"] is False
        assert result["destination"] == dest
        assert result["running"] is True


def test_destination_by_name_from_hosts(hosts):
    src, dest = hosts
    result = mo.run_vm_migrate(params(uri=src, dest="hv2", hosts={"hv1": src, "hv2": dest}), False)
    assert result["changed"] is False and result["destination"] == dest


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(dest="hv9", hosts={"hv2": "test:///x"}), "Unknown destination host hv9: known hosts are hv2"),
        (dict(dest="hv9", hosts={}), "Unknown destination host hv9: known hosts are none"),
        (dict(name="nope"), "vm nope exists neither on"),
        (dict(name="both1"), "vm both1 runs on both"),
        (dict(timeout_action="postcopy"), "Invalid migration settings: timeout_action=postcopy needs postcopy=true"),
        (dict(bandwidth=-5), "Invalid migration settings: bandwidth_mib_s must not be negative"),
    ],
)
def test_bad_input_is_reported(hosts, kw, message):
    src, dest = hosts
    kw.setdefault("dest_uri", None if "dest" in kw else dest)
    with pytest.raises(lc.VirtError) as err:
        mo.run_vm_migrate(params(uri=src, **kw), False)
    assert message in err.value.message


def test_same_host_is_refused(hosts):
    src = hosts[0]
    with pytest.raises(lc.VirtError, match="Source and destination are the same host"):
        mo.run_vm_migrate(params(uri=src, dest_uri=src, name="db1"), True)


def test_unreachable_destination_names_the_uri(hosts, tmp_path):
    src = hosts[0]
    missing = "test://%s/nothing.xml" % tmp_path
    with pytest.raises(lc.VirtError, match="connect to libvirt at %s" % missing):
        mo.run_vm_migrate(params(uri=src, dest_uri=missing, name="db1"), True)


def test_flags_for_a_live_migration_with_copied_disks_and_tuning():
    tuning = Tuning(auto_converge=True, postcopy=True, compression=True)
    flags, names = mo.migration_flags(True, True, True, tuning)
    assert names == ["PEER2PEER", "PERSIST_DEST", "UNDEFINE_SOURCE", "ABORT_ON_ERROR", "LIVE",
                     "NON_SHARED_DISK", "AUTO_CONVERGE", "POSTCOPY", "COMPRESSED"]
    assert flags & libvirt.VIR_MIGRATE_PEER2PEER and flags & libvirt.VIR_MIGRATE_NON_SHARED_DISK
    assert not flags & libvirt.VIR_MIGRATE_UNSAFE
    assert not flags & libvirt.VIR_MIGRATE_OFFLINE


def test_flags_for_a_vm_that_is_shut_off():
    flags, names = mo.migration_flags(False, False, False, Tuning())
    assert names == ["PEER2PEER", "PERSIST_DEST", "UNDEFINE_SOURCE", "OFFLINE"]
    assert not flags & libvirt.VIR_MIGRATE_LIVE


def test_flags_paused_migration_when_not_live():
    flags, names = mo.migration_flags(False, True, False, Tuning(parallel_connections=4))
    assert "LIVE" not in names and "PARALLEL" in names


def test_params():
    p = mo.migration_params("tcp://10.0.0.2", Tuning(bandwidth_mib_s=50, postcopy=True, parallel_connections=3),
                            ["vda"], True)
    assert p == {
        libvirt.VIR_MIGRATE_PARAM_URI: "tcp://10.0.0.2",
        libvirt.VIR_MIGRATE_PARAM_BANDWIDTH: 50,
        libvirt.VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY: 50,
        libvirt.VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS: 3,
        libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS: ["vda"],
    }
    assert mo.migration_params(None, Tuning(bandwidth_mib_s=50), ["vda"], False) == {}


def test_the_checkpoints_carried_by_a_migration_are_reported_never_raised(checkpointed_db1, db1_elsewhere):
    items = mo._checkpoints_to_carry(checkpointed_db1)
    assert [n for n, _x in items] == ["hotiron-x-1", "hotiron-x-2", "hotiron-x-3"]
    assert mo._carry_checkpoints(None, items, True) == {
        "redefined": [], "failed": {"*": "the vm was not found on the destination"}}
    assert mo._carry_checkpoints(db1_elsewhere, "could not be read", True) == {
        "redefined": [], "failed": {"*": "could not be read"}}
    assert mo._carry_checkpoints(db1_elsewhere, items, False)["redefined"] == [n for n, _x in items]
