# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""host_maintenance and playbooks/maintenance.yml on the lab: evacuate hv1 onto hv2 and hv3."""

from __future__ import annotations

import os

import libvirt
import pytest

from lab import wait_for
# fixtures shared with test_migrate.py
from test_migrate import find, guest, image_pools, run_module  # noqa: F401  pylint: disable=unused-import

pytestmark = pytest.mark.lab


def group(lab):
    return {h.name: h.uri for h in lab.hosts}


def maintenance_args(lab, host="hv1", **extra):
    args = {"uri": lab.host(host).uri, "hosts": group(lab), "state": "maintenance"}
    args.update(extra)
    return args


def marked(lab, host):
    try:
        lab.host(host).connect().secretLookupByUsage(libvirt.VIR_SECRET_USAGE_TYPE_VOLUME, "hotiron-maintenance")
        return True
    except libvirt.libvirtError:
        return False


@pytest.fixture
def unmark(lab):
    yield
    for host in lab.hosts:
        try:
            host.connect().secretLookupByUsage(libvirt.VIR_SECRET_USAGE_TYPE_VOLUME, "hotiron-maintenance").undefine()
        except libvirt.libvirtError:
            pass


def test_evacuate_six_vms_with_anti_affinity_and_a_pinned_vm(lab, guest, run_module, unmark):
    vms = [guest("hv1", "idle") for _i in range(4)] + [guest("hv1", "busy"), guest("hv1", "idle")]
    names = [g.name for g in vms]
    pair = [names[0], names[1]]
    pinned = names[5]
    args = maintenance_args(lab, anti_affinity=[pair], pinned=[pinned], pinned_action="shutdown",
                            shutdown_timeout=2)

    # check mode: the plan, nothing moves
    plan = run_module("hotiron.virt.host_maintenance", args, check=True, diff=True)
    assert not plan["failed"], plan
    assert plan["changed"] is True
    assert plan["diff"] == {"before": {"host": "hv1", "state": "active", "running_vms": sorted(names)},
                            "after": {"host": "hv1", "state": "maintenance", "running_vms": []}}
    assert sorted(m["vm"] for m in plan["plan"]["moves"]) == sorted(names[:5])
    assert plan["plan"]["shutdown"] == [pinned]
    assert all(list(find(lab, n)) == ["hv1"] for n in names)
    assert not marked(lab, "hv1")

    # pinned_action=fail refuses and moves nothing
    refused = run_module("hotiron.virt.host_maintenance", dict(args, pinned_action="fail"))
    assert refused["failed"] and "cannot be moved: %s" % pinned in refused["msg"]
    assert all(list(find(lab, n)) == ["hv1"] for n in names)

    result = run_module("hotiron.virt.host_maintenance", args)
    assert not result["failed"], result
    dest = {m["vm"]: m["to"] for m in result["moves"]}
    assert all(m["ok"] and m["from"] == "hv1" and m["time_s"] > 0 for m in result["moves"])
    assert set(dest.values()) <= {"hv2", "hv3"}
    assert dest[pair[0]] != dest[pair[1]]
    for name, to in dest.items():
        where = find(lab, name)
        assert list(where) == [to]
        assert where[to] == (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_MIGRATED)
    assert find(lab, pinned)["hv1"][0] == libvirt.VIR_DOMAIN_SHUTOFF
    assert marked(lab, "hv1")

    # idempotent
    again = run_module("hotiron.virt.host_maintenance", args)
    assert again["changed"] is False and not again["failed"]

    # the mark is seen by every later placement: nothing may go to hv1 now
    other = run_module("hotiron.virt.vm_migrate", {"uri": lab.host(dest[names[2]]).uri, "name": names[2],
                                                   "dest_uri": lab.host("hv1").uri})
    assert other["failed"] and "is in maintenance" in other["msg"]

    # back: the pinned vm starts again, the others come home
    back = run_module("hotiron.virt.host_maintenance", maintenance_args(lab, state="active", bring_back=True),
                      diff=True)
    assert not back["failed"], back["msg"]
    assert sorted(m["vm"] for m in back["moves"]) == sorted(dest)
    assert back["started"] == [pinned]
    assert back["diff"] == {"before": {"host": "hv1", "state": "maintenance", "running_vms": []},
                            "after": {"host": "hv1", "state": "active", "running_vms": sorted(names)}}
    for name in names:
        where = find(lab, name)
        assert list(where) == ["hv1"] and where["hv1"][0] == libvirt.VIR_DOMAIN_RUNNING
    assert not marked(lab, "hv1")
    again = run_module("hotiron.virt.host_maintenance", maintenance_args(lab, state="active"))
    assert again["changed"] is False


def test_unplaceable_vm_moves_nothing(lab, guest, run_module, unmark):
    a, b, c = (guest("hv1", "idle") for _i in range(3))
    # three vms that must all be apart, but only two other hosts
    result = run_module("hotiron.virt.host_maintenance",
                        maintenance_args(lab, anti_affinity=[[a.name, b.name, c.name]]))
    assert result["failed"]
    assert "anti-affinity" in result["msg"] and "nothing was moved" in result["msg"]
    assert all(list(find(lab, g.name)) == ["hv1"] for g in (a, b, c))
    assert not marked(lab, "hv1")


def test_partial_failure_leaves_every_vm_running(lab, guest, run_module, unmark):
    ok = guest("hv1", "idle")
    stuck = guest("hv1", "idle")
    # a stale file where the stuck vm's disk would be copied to, on both other hosts: never overwritten
    for name in ("hv2", "hv3"):
        host = lab.host(name)
        with open(os.path.join(host.images_dir, stuck.name + ".img"), "wb") as handle:
            handle.write(b"stale")
        for pool in host.connect().listAllStoragePools():
            if pool.isActive():
                pool.refresh()
    result = run_module("hotiron.virt.host_maintenance", maintenance_args(lab, migration={"max_downtime": 300}))
    assert result["failed"]
    assert "1 of 2 vm(s) could not leave hv1 and still run there: %s" % stuck.name in result["msg"]
    moves = {m["vm"]: m for m in result["moves"]}
    assert moves[ok.name]["ok"] and not moves[stuck.name]["ok"]
    assert list(find(lab, stuck.name)) == ["hv1"] and stuck.domain().isActive()
    assert list(find(lab, ok.name)) == [moves[ok.name]["to"]]
    assert "refusing to overwrite it" in moves[stuck.name]["error"]
    assert marked(lab, "hv1")  # being drained: nothing new goes there


def test_maintenance_playbook(lab, guest, run_playbook, unmark):
    vms = [guest("hv2", "idle") for _i in range(2)]
    run = run_playbook("playbooks/maintenance.yml", extra_vars={"maintenance_host": "hv2", "maintenance_pause": 1})
    assert run.rc == 0, run.stdout + run.stderr
    entered = run.for_task("Enter maintenance (evacuate the host)")[0]["result"]
    assert sorted(m["vm"] for m in entered["moves"]) == sorted(g.name for g in vms)
    assert all(m["to"] in ("hv1", "hv3") for m in entered["moves"])
    left = run.for_task("Leave maintenance")[0]["result"]
    assert len(left["moves"]) == 2
    for g in vms:
        wait_for(f"{g.name} back on hv2", lambda g=g: list(find(lab, g.name)) == ["hv2"], timeout=30)
    assert not marked(lab, "hv2")

    missing = run_playbook("playbooks/maintenance.yml", extra_vars={"maintenance_host": "hv9"})
    assert missing.rc != 0 and "Set maintenance_host to one host of group lab" in missing.stdout
