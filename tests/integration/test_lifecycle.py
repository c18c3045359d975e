# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""VM lifecycle on the lab: expiry dates set with the vm module, vm_info's filters, and
playbooks/lifecycle.yml listing and retiring (backup, shut down, remove after the grace period)."""

from __future__ import annotations

import datetime
import os

import libvirt
import pytest

pytestmark = pytest.mark.lab


def day(offset):
    return (datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=offset)).isoformat()


def test_lifecycle_lists_and_retires_what_is_past_its_date(lab, lab_guest, run_module, run_playbook, tmp_path):
    hv1 = lab.host("hv1")
    guests = {key: lab_guest("hv1", "idle") for key in ("old", "due", "fresh", "undated")}
    expires = {"old": day(-10), "due": day(-1), "fresh": day(1)}
    for key, date in expires.items():
        result = run_module("hotiron.virt.vm", {"uri": hv1.uri, "name": guests[key].name, "expires": date,
                                                "owner": "team-a", "purpose": "lifecycle test"})
        assert not result["failed"], result["msg"]
    listed = run_module("hotiron.virt.vm_info", {"uri": hv1.uri, "expires_by": "today", "owner": "team-a",
                                                 "addresses": False})
    names = sorted(g.name for g in guests.values())
    assert sorted(vm["name"] for vm in listed["vms"] if vm["name"] in names) == sorted(
        [guests["old"].name, guests["due"].name])
    refused = run_module("hotiron.virt.vm_info", {"uri": hv1.uri, "expires_by": "next week"})
    assert refused["failed"] and "expires_by: 'next week' is neither a date" in refused["msg"]

    backups = os.path.join(hv1.images_dir, "lc-backups")
    os.makedirs(backups, exist_ok=True)
    try:
        run = run_playbook("playbooks/lifecycle.yml", limit="hv1", extra_vars={
            "lifecycle_group": "lab", "lifecycle_action": "retire", "lifecycle_owner": "team-a",
            "lifecycle_backup_target": "/var/lib/libvirt/images/lc-backups", "lifecycle_shutdown_timeout": 0})
        assert run.rc == 0, run.stdout[-3000:]
        (report,) = [r["result"]["msg"] for r in run.for_task("Report", "hv1")]
        assert report == {"backed_up": [guests["due"].name], "shut_down": [guests["due"].name],
                          "removed": [guests["old"].name]}, report
        conn = hv1.connect()
        assert conn.lookupByName(guests["due"].name).state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
        with pytest.raises(libvirt.libvirtError):
            conn.lookupByName(guests["old"].name)
        for key in ("fresh", "undated"):
            assert conn.lookupByName(guests[key].name).isActive()
        assert os.listdir(os.path.join(backups, guests["due"].name))
    finally:
        for root, dirs, files in os.walk(backups, topdown=False):
            for name in files:
                os.unlink(os.path.join(root, name))
            for name in dirs:
                os.rmdir(os.path.join(root, name))
        os.rmdir(backups)
