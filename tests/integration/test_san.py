# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real SAN: tgtd (userspace iSCSI target) on 127.77.<lab>.250, ``iscsi-direct``
pools on hv1 and hv2 (one with CHAP through a libvirt secret), and a guest whose
disk is the LUN, started on hv1, stopped, then started on hv2.
"""

from __future__ import annotations

import os
import sys

import pytest
from storage_helpers import make_marker_image, marker_vm_xml, remove_vm, wait_for_marker, write_play

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab"))
from san import San  # noqa: E402  (tests/lab is not a package)

pytestmark = pytest.mark.lab

MIB = 1024 * 1024
CHAP_USER = "hv"
CHAP_PASSWORD = "lab-chap-secret-3x7"  # lab only; checked below never to appear in output
HOSTS = ("hv1", "hv2")
VM = "hi-sanvm"


@pytest.fixture
def san(lab, tmp_path):
    target = San(lab.lab_id, os.path.join(lab.state_dir, "san"))
    target.start()
    try:
        boot_lun = make_marker_image(str(tmp_path / "boot-lun.img"), "HOTIRON-BOOT-san", size=16 * MIB)
        target.boot_iqn = target.add_target("boot", [(boot_lun, 16 * MIB)])
        target.chap_iqn = target.add_target("chap", [(str(tmp_path / "chap-lun.img"), 8 * MIB)], chap=(CHAP_USER, CHAP_PASSWORD))
        yield target
    finally:
        try:
            for name in HOSTS:
                host = lab.host(name)
                conn = host.connect()
                remove_vm(conn, VM)
                for pool_name in ("san-boot", "san-chap"):
                    try:
                        pool = conn.storagePoolLookupByName(pool_name)
                    except Exception:  # pylint: disable=broad-except  # already removed by the test
                        continue
                    if pool.isActive():
                        pool.destroy()
                    pool.undefine()
                conn.close()
        finally:
            target.stop()   # even when a host cannot be reached: no tgtd left listening for the next run


def pools_play(san, state="active"):
    portal = [{"name": san.address, "port": 3260}]
    initiator = san.iqn("initiator-{{ inventory_hostname }}")
    return [{"hosts": ",".join(HOSTS), "gather_facts": False, "tasks": [
        {"name": "boot pool", "hotiron.virt.storage_pool": {
            "name": "san-boot", "type": "iscsi-direct", "state": state,
            "source": {"hosts": portal, "iqn": san.boot_iqn, "initiator_iqn": initiator}}},
        {"name": "chap pool", "hotiron.virt.storage_pool": {
            "name": "san-chap", "type": "iscsi-direct", "state": state,
            "source": {"hosts": portal, "iqn": san.chap_iqn, "initiator_iqn": initiator,
                       "auth": {"username": CHAP_USER, "password": "{{ chap_password }}"}}}},
    ]}]


def lun_disk(pool):
    return (f"<disk type='volume' device='disk'><driver name='qemu' type='raw' cache='none'/>"
            f"<source pool='{pool}' volume='unit:0:0:1'/><target dev='vda' bus='virtio'/></disk>")


def test_iscsi_direct_pools_on_two_hosts_and_a_guest_moving_between_them(lab, san, run_playbook, tmp_path):
    play = write_play(tmp_path, "san.yml", pools_play(san))
    extra = {"chap_password": CHAP_PASSWORD}

    first = run_playbook(play, extra_vars=extra, diff=True)
    assert first.rc == 0, first.stdout + first.stderr
    for name in HOSTS:
        boot = first.for_task("boot pool", name)[0]["result"]
        assert boot["actions"] == ["define", "start"] and "unit:0:0:1" in boot["pool"]["volumes"]
        chap = first.for_task("chap pool", name)[0]["result"]
        assert chap["actions"] == ["define secret", "set secret value", "define", "start"]
        assert "unit:0:0:1" in chap["pool"]["volumes"], "CHAP login with the secret's password worked"
        assert chap["pool"]["source"]["auth"] == {"type": "chap", "username": CHAP_USER, "secret_usage": "hotiron-pool-san-chap"}
    assert CHAP_PASSWORD not in first.stdout + first.stderr + repr(first.results)

    for name in HOSTS:
        conn = lab.host(name).connect()
        try:
            secrets = [s for s in conn.listAllSecrets() if s.usageID() == "hotiron-pool-san-chap"]
            assert len(secrets) == 1 and "private='yes'" in secrets[0].XMLDesc(0)
        finally:
            conn.close()

    second = run_playbook(play, extra_vars=extra)
    assert second.rc == 0 and all(second.recap[n]["changed"] == 0 for n in HOSTS), second.recap

    # The guest's disk is the LUN: boot on hv1, stop, boot on hv2.
    for name in HOSTS:
        host = lab.host(name)
        conn = host.connect()
        try:
            dom = conn.defineXML(marker_vm_xml(VM, lun_disk("san-boot"), lab.virt_type))
            dom.create()
            wait_for_marker(host, VM, "HOTIRON-BOOT-san", timeout=90)
            dom.destroy()
            dom.undefine()
        finally:
            remove_vm(conn, VM)
            conn.close()

    removed = run_playbook(write_play(tmp_path, "san-absent.yml", pools_play(san, state="absent")), extra_vars=extra)
    assert removed.rc == 0, removed.stdout
    for name in HOSTS:
        assert removed.for_task("chap pool", name)[0]["result"]["actions"] == ["stop", "undefine"]
        conn = lab.host(name).connect()
        try:
            assert not [s for s in conn.listAllSecrets() if s.usageID() == "hotiron-pool-san-chap"], "our secret went with the pool"
            assert "san-boot" not in conn.listStoragePools() + conn.listDefinedStoragePools()
        finally:
            conn.close()
