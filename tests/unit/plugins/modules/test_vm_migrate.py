# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm_migrate: what can be decided without a real migration, against libvirt's test driver.

The test driver cannot migrate (the lab tests do that); here: input errors, idempotence
(already on the destination), refusing a vm running on both hosts, the flags and parameters
handed to libvirt, disk classification, and the module's argument handling.
"""

from __future__ import annotations

import json

import libvirt
import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import capacity_ops
from ansible_collections.hotiron.virt.plugins.module_utils.migration import args, disks_ops, migrate_ops as mo
from ansible_collections.hotiron.virt.plugins.module_utils.migration.tuning import Tuning
from ansible_collections.hotiron.virt.plugins.module_utils.storage import disk_xml
from ansible_collections.hotiron.virt.plugins.modules import vm_migrate

HOST = """<node>
  <cpu><mhz>2400</mhz><model>x86_64</model><active>4</active><nodes>1</nodes><sockets>1</sockets>
       <cores>4</cores><threads>1</threads></cpu>
  <memory>8388608</memory>
  %s
</node>"""
DOMAIN = """<domain type="test"><name>%s</name><uuid>%s</uuid><memory unit="MiB">256</memory><vcpu>1</vcpu>
  <os><type arch="x86_64">hvm</type></os></domain>"""
UUID_A = "6695eb01-f6a4-8304-79aa-97f2502e1a01"
UUID_B = "6695eb01-f6a4-8304-79aa-97f2502e1b02"


def host_uri(tmp_path, name, domains=""):
    path = tmp_path / ("%s.xml" % name)
    path.write_text(HOST % domains)
    return "test://%s" % path


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
    src = host_uri(tmp_path, "src", DOMAIN % ("db1", UUID_A) + DOMAIN % ("both1", UUID_B))
    dest = host_uri(tmp_path, "dest", DOMAIN % ("web1", "6695eb01-f6a4-8304-79aa-97f2502e1c03")
                    + DOMAIN % ("both1", UUID_B))
    return src, dest


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


@pytest.mark.parametrize("given, expected", [(None, None), ("", None), ("10.0.0.2", "tcp://10.0.0.2"),
                                             ("tls://hv2", "tls://hv2")])
def test_normalise_address(given, expected):
    assert args.normalise_address(given) == expected


def test_classify_disks_without_pools_asks_for_one(tmp_path):
    conn = libvirt.open(host_uri(tmp_path, "c"))
    disks = disk_xml.disks("""<domain><devices>
      <disk type='file'><source file='/data/x.img'/><target dev='vda'/></disk>
      <disk type='file' device='cdrom'><target dev='sda'/></disk>
      <disk type='network'><source protocol='rbd' name='p/x'/><target dev='vdb'/></disk></devices></domain>""")
    with pytest.raises(lc.VirtError, match="cannot tell whether /data/x.img is shared: define a storage pool for /data"):
        disks_ops.classify_disks(conn, conn, disks)
    assert [d.mode for d in disks] == [None, "skip", "shared"]
    # with copy_storage=never, the file is taken as shared (libvirt then judges its safety)
    disks_ops.classify_disks(conn, conn, disks, "never")
    assert disks[0].mode == "shared"


def test_memory_units():
    assert capacity_ops.memory_mib("<domain><memory unit='GiB'>2</memory></domain>") == 2048
    assert capacity_ops.memory_mib("<domain><memory>65536</memory></domain>") == 64


def test_host_capacity_counts_running_vms(hosts):
    src = hosts[0]
    cap = capacity_ops.host_capacity(libvirt.open(src), "hv1", cpu_ratio=2.0, reserved_memory_mib=1024)
    # 8 GiB - 1 GiB reserved - 2 x 256 MiB running; 4 CPUs x 2 - 2 vCPUs
    assert cap.free_memory_mib == 8192 - 1024 - 512
    assert cap.free_vcpus == 6
    assert cap.vms == frozenset({"db1", "both1"})
    assert cap.in_maintenance is False  # the test driver has no secrets: never in maintenance


def test_module_arguments(monkeypatch, capsys, hosts):
    src, dest = hosts
    monkeypatch.setattr("sys.argv", ["vm_migrate"])
    args = {"ANSIBLE_MODULE_ARGS": {"uri": src, "name": "web1", "dest_uri": dest, "dest": "hv2",
                                    "hosts": {"hv2": dest}}}
    monkeypatch.setattr("ansible.module_utils.basic._ANSIBLE_ARGS", json.dumps(args).encode())
    monkeypatch.setattr("ansible.module_utils.basic._ANSIBLE_PROFILE", "legacy", raising=False)
    with pytest.raises(SystemExit):
        vm_migrate.main()
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] and "mutually exclusive" in out["msg"]

    args["ANSIBLE_MODULE_ARGS"].pop("dest")
    monkeypatch.setattr("ansible.module_utils.basic._ANSIBLE_ARGS", json.dumps(args).encode())
    with pytest.raises(SystemExit):
        vm_migrate.main()
    out = json.loads(capsys.readouterr().out)
    assert out["changed"] is False and out["msg"] == "vm web1 is already on %s" % dest


def test_migration_diff_is_where_the_vm_runs_before_and_after():
    result = {"vm": "web1", "source": "qemu+tls://a/system", "source_host": "a",
              "destination": "qemu+tls://b/system", "host": "b"}
    assert args.migration_diff(result) == {
        "before": {"vm": "web1", "host": "a", "uri": "qemu+tls://a/system"},
        "after": {"vm": "web1", "host": "b", "uri": "qemu+tls://b/system"}}
