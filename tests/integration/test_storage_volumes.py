# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""volume for real on lab host hv1: create, resize, shrink guard, clone, overlay,
upload, download, wipe; VHD, VMDK and a qcow2 overlay that a guest boots from.

The modules run on the controller against hv1's URI, so uploads and downloads
stream files of this machine through libvirt.
"""

from __future__ import annotations

import hashlib
import subprocess

import pytest
from storage_helpers import file_disk, make_marker_image, marker_vm_xml, remove_vm, wait_for_marker, write_play

pytestmark = pytest.mark.lab

POOL = "hi-vols"
PATH = "/var/lib/libvirt/images/hi-vols"
MIB = 1024 * 1024


def play(uri, tasks):
    for task in tasks:
        module = next(k for k in task if k.startswith("hotiron.virt."))
        task[module].setdefault("uri", uri)
    return [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]


def vol(name, **args):
    return {"name": name, "hotiron.virt.volume": dict(pool=POOL, name=name, **args)}


def sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def cleanup(host):
    conn = host.connect()
    for name in ("hi-vhd", "hi-vmdk", "hi-overlay"):
        remove_vm(conn, name)
    try:
        pool = conn.storagePoolLookupByName(POOL)
    except Exception:  # pylint: disable=broad-except  # not there
        pool = None
    if pool is not None:
        if pool.isActive():
            for volume in pool.listAllVolumes():
                volume.delete(0)
            pool.destroy()
        pool.undefine()
    conn.close()
    host.run(["rm", "-rf", PATH])


@pytest.fixture
def hv1(lab):
    host = lab.host("hv1")
    cleanup(host)
    yield host
    cleanup(host)


def states(host):
    """Name -> (format, capacity, allocation) of every volume in the pool, read from libvirt."""
    conn = host.connect()
    try:
        pool = conn.storagePoolLookupByName(POOL)
        pool.refresh(0)
        out = {}
        for volume in pool.listAllVolumes():
            xml = volume.XMLDesc(0)
            fmt = xml.split("<format type='")[1].split("'")[0] if "<format type='" in xml else None
            _kind, capacity, allocation = volume.info()
            out[volume.name()] = (fmt, capacity, allocation)
        return out
    finally:
        conn.close()


def test_volumes_for_real_and_guests_boot_from_vhd_vmdk_overlay(lab, hv1, run_playbook, tmp_path):
    uri = hv1.uri
    raw_image = make_marker_image(str(tmp_path / "boot.raw"), "HOTIRON-BOOT-volumes", size=4 * MIB)
    vhd_image = str(tmp_path / "boot.vhd")
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vpc", raw_image, vhd_image], check=True)
    download = str(tmp_path / "downloaded.raw")

    create = write_play(tmp_path, "create.yml", play(uri, [
        {"name": "pool", "hotiron.virt.storage_pool": {"name": POOL, "type": "dir", "target": {"path": PATH}}},
        vol("data.qcow2", capacity="16M", format="qcow2", preallocation="metadata"),
        vol("scratch.raw", capacity="8M", format="raw"),
        vol("copy.qcow2", clone_from="data.qcow2"),
        vol("boot.raw", upload_from=raw_image),
        vol("boot.vhd", format="vpc", upload_from=vhd_image),
        vol("boot.vmdk", clone_from="boot.raw", format="vmdk"),
        vol("overlay.qcow2", backing_volume="boot.raw", backing_pool=POOL),
        vol("empty.qed", capacity="16M", format="qed"),
        vol("empty.vpc", capacity="16M", format="vpc"),
        vol("boot.raw", download_to=download),
        dict(vol("bad.dmg", capacity="1M", format="dmg"), ignore_errors=True),
        dict(vol("bad.vhdx", capacity="1M", format="vhdx"), ignore_errors=True),
    ]))
    first = run_playbook(create, diff=True)
    assert first.rc == 0, first.stdout + first.stderr
    results = {r["task"]: r for r in first.results}
    assert "qemu-img can read this format but cannot write it" in results["bad.dmg"]["result"]["msg"]
    assert results["bad.dmg"]["status"] == "ignored"
    assert "libvirt has no vhdx volume or disk format" in results["bad.vhdx"]["result"]["msg"]
    boot_raw = first.for_task("boot.raw")[0]["result"]
    assert boot_raw["actions"] == ["create", "upload"] and boot_raw["volume"]["capacity"] == 4 * MIB
    assert results["boot.vhd"]["result"]["volume"]["format"] == "vpc"
    assert results["boot.vmdk"]["result"]["volume"]["format"] == "vmdk"
    overlay = results["overlay.qcow2"]["result"]["volume"]
    assert overlay["format"] == "qcow2" and overlay["capacity"] == 4 * MIB
    assert overlay["backing_chain"] == [{"path": PATH + "/boot.raw", "format": "raw", "volume": "boot.raw", "pool": POOL}]
    data = results["data.qcow2"]["result"]["volume"]
    assert (data["format"], data["capacity"]) == ("qcow2", 16 * MIB) and data["allocation"] > 0
    assert sha256(download) == sha256(raw_image), "download returns what upload wrote"
    assert {k: v[0] for k, v in states(hv1).items()} == {
        "data.qcow2": "qcow2", "scratch.raw": "raw", "copy.qcow2": "qcow2", "boot.raw": "raw", "boot.vhd": "vpc",
        "boot.vmdk": "vmdk", "overlay.qcow2": "qcow2", "empty.qed": "qed", "empty.vpc": "vpc",
    }

    second = run_playbook(create)
    assert second.rc == 0 and second.recap["localhost"]["changed"] == 0, [
        (r["task"], r["result"].get("actions")) for r in second.results if r["result"].get("changed")]

    # Guests boot from the VHD and VMDK volumes qemu-img made and from the linked overlay.
    conn = hv1.connect()
    try:
        for vm, volume, fmt in (("hi-vhd", "boot.vhd", "vpc"), ("hi-vmdk", "boot.vmdk", "vmdk"), ("hi-overlay", "overlay.qcow2", "qcow2")):
            conn.createXML(marker_vm_xml(vm, file_disk(f"{PATH}/{volume}", fmt), lab.virt_type), 0)
        for vm in ("hi-vhd", "hi-vmdk", "hi-overlay"):
            wait_for_marker(hv1, vm, "HOTIRON-BOOT-volumes")
    finally:
        for vm in ("hi-vhd", "hi-vmdk", "hi-overlay"):
            remove_vm(conn, vm)
        conn.close()

    change_tasks = [
        vol("data.qcow2", capacity="32M"),
        dict(vol("copy.qcow2", capacity="8M"), ignore_errors=True),
        vol("scratch.raw", capacity="4M", shrink=True),
        dict(vol("boot.vmdk", capacity="64M"), ignore_errors=True),
        dict(vol("empty.vpc", format="raw"), ignore_errors=True),
        vol("boot.raw", upload_from=raw_image, upload_when="changed"),
        vol("empty.qed", state="absent", wipe=True),
    ]
    change = write_play(tmp_path, "change.yml", play(uri, change_tasks))
    before = states(hv1)
    check = run_playbook(change, check=True, diff=True)
    checked = {r["task"]: r for r in check.results}
    assert checked["data.qcow2"]["result"]["actions"] == ["resize"]
    assert checked["data.qcow2"]["result"]["diff"]["after"]["capacity"] == 32 * MIB
    assert checked["scratch.raw"]["result"]["actions"] == ["shrink"]
    assert checked["empty.qed"]["result"]["actions"] == ["wipe", "delete"]
    assert states(hv1) == before, "check mode changed nothing"

    changed = run_playbook(change)
    done = {r["task"]: r for r in changed.results}
    assert done["copy.qcow2"]["status"] == "ignored"
    assert "capacity 8388608 bytes is below the current 16777216 bytes of volume copy.qcow2: set shrink=true" in done["copy.qcow2"]["result"]["msg"]
    assert "qemu-img cannot resize vmdk volumes" in done["boot.vmdk"]["result"]["msg"]
    assert "exists with format vpc; format cannot change to raw" in done["empty.vpc"]["result"]["msg"]
    assert done["boot.raw"]["result"]["changed"] is False, "same content: no upload"
    after = states(hv1)
    assert after["data.qcow2"][1] == 32 * MIB and after["scratch.raw"][1] == 4 * MIB
    assert after["copy.qcow2"][1] == 16 * MIB and "empty.qed" not in after
    again = run_playbook(change)
    assert [r["task"] for r in again.results if r["result"].get("changed")] == []
