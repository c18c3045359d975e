# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""query_ops (info, matches, cpu_percent, job_progress) against libvirt's test driver with our own host (tests/data/vm/host.xml)."""

from __future__ import annotations

import os

import pytest

from fakes import Clock  # tests/unit/fakes.py

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_ops
from ansible_collections.hotiron.virt.plugins.module_utils.vm import query_ops as vm_query

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "vm", "host.xml"))


@pytest.fixture
def conn():
    connection = lc.connect(HOST)
    vm_ops.ensure(connection, dict(name="c1", clone_from="tmpl", state="running", tags=["web", "eu"],
                                   owner="team-a", metadata={"tier": "gold"}))
    yield connection
    connection.close()


def names(vms):
    return [v["name"] for v in vms]


@pytest.mark.parametrize("filters,expected", [
    ({}, ["c1", "tmpl", "web1"]),
    ({"states": ["running"]}, ["c1", "web1"]),
    ({"states": ["shutoff"]}, ["tmpl"]),
    ({"tags": ["web"]}, ["c1"]),
    ({"tags": ["web", "us"]}, []),
    ({"metadata": {"owner": "team-a"}}, ["c1"]),
    ({"metadata": {"tier": "gold"}}, ["c1"]),
    ({"metadata": {"template": "true"}}, ["tmpl"]),
    ({"metadata": {"owner": "team-b"}}, []),
    ({"name": "web1"}, ["web1"]),
    ({"name": "ghost"}, []),
])
def test_filters(conn, filters, expected):
    assert names(vm_query.info(conn, **filters)) == expected


def test_clone_described_with_backing_chain_addresses_and_metadata(conn):
    (c1,) = vm_query.info(conn, name="c1")
    assert c1["state"] == "running" and c1["reason"] == "booted"
    assert c1["clone_of"] == "tmpl" and not c1["template"] and c1["tags"] == ["eu", "web"]
    assert c1["memory_mib"] == 256 and c1["vcpus"] == 1
    (disk,) = c1["disks"]
    assert disk["path"] == "/var/lib/hotiron-test/local/c1-vda.qcow2" and disk["format"] == "qcow2"
    assert disk["capacity"] == 2 * 1024 ** 3
    assert disk["backing_chain"] == [{"path": "/var/lib/hotiron-test/local/tmpl.qcow2", "format": "qcow2"}]
    (nic,) = c1["interfaces"]
    assert nic["network"] == "lan" and nic["addresses"] and nic["addresses"][0].startswith("192.168.99.")
    (tmpl,) = vm_query.info(conn, name="tmpl")
    assert tmpl["template"] and tmpl["disks"][0]["readonly"] and tmpl["disks"][0]["allocation"] == 300 * 1024 ** 2
    assert tmpl["interfaces"][0]["addresses"] == [] and tmpl["cpu_time_ns"] == 0


def test_cpu_sample_reports_percent_for_running_vms(conn):
    clock = Clock()
    vms = {v["name"]: v for v in vm_query.info(conn, cpu_sample=2.0, clock=clock, sleep=clock.sleep)}
    assert clock.now == 2.0
    assert vms["tmpl"]["cpu_percent"] == 0.0
    assert isinstance(vms["c1"]["cpu_percent"], float)


@pytest.mark.parametrize("t0,t1,elapsed,vcpus,expected", [
    (0, 10 ** 9, 1.0, 1, 100.0), (0, 10 ** 9, 1.0, 2, 50.0), (5, 5, 1.0, 4, 0.0), (0, 25 * 10 ** 7, 1.0, 1, 25.0),
    (0, 1, 0.0, 1, None), (0, 1, 1.0, 0, None),
])
def test_cpu_percent(t0, t1, elapsed, vcpus, expected):
    assert vm_query.cpu_percent(t0, t1, elapsed, vcpus) == expected


MIB = 1024 * 1024


@pytest.mark.parametrize("stats", [None, {}, {"type": 0}, {"type": 0, "data_total": 5}])
def test_no_job_is_none(stats):
    assert vm_query.job_progress(stats) is None


def test_migration_progress_from_job_stats():
    stats = {"type": 2, "operation": 5, "time_elapsed": 12345, "data_total": 2048 * MIB,
             "data_processed": 1600 * MIB, "data_remaining": 512 * MIB, "memory_iteration": 2,
             "memory_dirty_rate": 1500, "memory_bps": 1190 * MIB, "downtime": 300}
    assert vm_query.job_progress(stats) == {
        "operation": "outgoing migration", "elapsed_s": 12.3, "percent": 75.0, "data_total_mib": 2048.0,
        "data_processed_mib": 1600.0, "data_remaining_mib": 512.0, "memory_iteration": 2,
        "memory_dirty_rate_pages_s": 1500, "memory_mib_s": 1190.0, "expected_downtime_ms": 300,
        "disk_remaining_mib": None, "postcopy": False}


def test_progress_of_a_job_without_totals_and_in_postcopy():
    job = vm_query.job_progress({"type": 1, "operation": 4, "disk_remaining": 3 * MIB}, postcopy=True)
    assert job["operation"] == "incoming migration" and job["percent"] is None
    assert job["disk_remaining_mib"] == 3.0 and job["postcopy"] is True and job["memory_mib_s"] is None
    assert vm_query.job_progress({"type": 2, "operation": 99})["operation"] == "unknown"


def test_job_is_none_where_the_driver_reports_no_jobs(conn):
    # The test driver has no virDomainGetJobStats: an unsupported call is "no job", not an error.
    assert [v["job"] for v in vm_query.info(conn)] == [None, None, None]


def test_owner_and_expiry_filters():
    import datetime  # pylint: disable=import-outside-toplevel

    from ansible_collections.hotiron.virt.plugins.module_utils.vm.query_ops import matches  # pylint: disable=import-outside-toplevel

    def vm(**meta):
        return {"state": "running", "tags": [], "metadata": meta}

    today = datetime.date(2027, 3, 31)
    assert matches(vm(owner="a"), owner="a") and not matches(vm(owner="b"), owner="a") and not matches(vm(), owner="a")
    assert matches(vm(expires="2027-03-31"), expires_by=today) and matches(vm(expires="2020-01-01"), expires_by=today)
    assert not matches(vm(expires="2027-04-01"), expires_by=today)
    assert not matches(vm(), expires_by=today) and not matches(vm(expires="soon"), expires_by=today)


def test_guest_info_only_when_asked_and_none_without_an_agent(conn):
    assert all("guest" not in vm for vm in vm_query.info(conn))
    asked = vm_query.info(conn, guest_info=True)
    assert [vm["guest"] for vm in asked] == [None, None, None]
