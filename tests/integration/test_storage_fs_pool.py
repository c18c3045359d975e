# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An ``fs`` pool for real on hv1: a loop device (over a file this test makes) that the
module builds (mkfs, refusing to overwrite) and libvirt mounts as the pool.

A loop device, not the image file itself, is the pool's source: libvirt finds its
mount again by the source device, and with a file source it would not unmount it.
The loop device is detached at the end, by the name this test got for it.
"""

from __future__ import annotations

import subprocess

import pytest
from storage_helpers import write_play

pytestmark = pytest.mark.lab

POOL = "hi-fs"
TARGET = "/var/lib/libvirt/images/hi-fs"


@pytest.fixture
def loop_device(lab, tmp_path):
    image = tmp_path / "fs-pool.img"
    with open(image, "wb") as handle:
        handle.truncate(64 * 1024 * 1024)
    device = subprocess.run(["losetup", "--find", "--show", str(image)], capture_output=True, text=True, check=True).stdout.strip()
    yield device
    host = lab.host("hv1")
    conn = host.connect()
    try:
        pool = conn.storagePoolLookupByName(POOL)
        if pool.isActive():
            pool.destroy()
        pool.undefine()
    except Exception:  # pylint: disable=broad-except  # removed by the test
        pass
    conn.close()
    host.run(["sh", "-c", f"umount {TARGET} 2>/dev/null; rmdir {TARGET} 2>/dev/null; true"])
    subprocess.run(["losetup", "-d", device], check=True)


def mounted(host):
    return TARGET in host.run(["cat", "/proc/self/mounts"]).stdout


def play(device, state="active", build=True):
    return [{"hosts": "hv1", "gather_facts": False, "tasks": [
        {"name": "pool", "hotiron.virt.storage_pool": {
            "name": POOL, "type": "fs", "state": state, "build": build, "delete_volumes": True,
            "source": {"devices": [device], "format": "ext4"}, "target": {"path": TARGET}}},
    ] + ([{"name": "volume", "hotiron.virt.volume": {"pool": POOL, "name": "d.qcow2", "capacity": "4M", "format": "qcow2"}}]
         if state == "active" else [])}]


def test_fs_pool_built_mounted_and_deleted(lab, loop_device, run_playbook, tmp_path):
    host = lab.host("hv1")
    path = write_play(tmp_path, "fs.yml", play(loop_device))
    first = run_playbook(path)
    assert first.rc == 0, first.stdout + first.stderr
    result = first.for_task("pool", "hv1")[0]["result"]
    assert result["actions"] == ["define", "build without overwriting", "start"]
    # (the mount is in hv1's mount namespace: look from inside)
    assert mounted(host) and host.run(["test", "-f", TARGET + "/d.qcow2"], check=False).returncode == 0
    assert 0 < result["pool"]["capacity"] <= 64 * 1024 * 1024

    second = run_playbook(path)
    assert second.rc == 0 and second.recap["hv1"]["changed"] == 0, second.stdout

    # The same device for a second pool: libvirt refuses the definition (nothing was made).
    other = [{"hosts": "hv1", "gather_facts": False, "tasks": [{
        "name": "pool", "ignore_errors": True, "hotiron.virt.storage_pool": {
            "name": "hi-fs2", "type": "fs", "build": True, "source": {"devices": [loop_device]}, "target": {"path": TARGET + "2"}}}]}]
    conflict = run_playbook(write_play(tmp_path, "fs2.yml", other))
    msg = conflict.for_task("pool", "hv1")[0]["result"]["msg"]
    assert "Storage source conflict with pool: 'hi-fs'" in msg and "removed again" not in msg

    deleted = run_playbook(write_play(tmp_path, "fs-del.yml", play(loop_device, state="deleted")))
    assert deleted.rc == 0, deleted.stdout
    # (libvirt lists the filesystem's lost+found as a volume of the pool)
    assert deleted.for_task("pool", "hv1")[0]["result"]["actions"] == ["delete volume d.qcow2", "delete volume lost+found", "stop", "delete", "undefine"]
    assert not mounted(host)
    assert host.run(["test", "-e", TARGET], check=False).returncode != 0

    # The filesystem stays on the device: building it again is refused (no overwrite), and
    # the definition this run made is removed again.
    rebuild = run_playbook(write_play(tmp_path, "fs2.yml", other))
    msg = rebuild.for_task("pool", "hv1")[0]["result"]["msg"]
    assert "Storage pool already built" in msg and "removed again" in msg
    conn = host.connect()
    try:
        assert "hi-fs2" not in conn.listDefinedStoragePools() + conn.listStoragePools()
    finally:
        conn.close()


def test_fs_pool_on_a_missing_device_leaves_nothing_behind(lab, run_playbook, tmp_path):
    """A typo in the device: the build fails after making the target directory, and the failed
    create removes the definition and that directory; a directory that was there stays."""
    host = lab.host("hv1")
    target = TARGET + "-typo"
    existing = TARGET + "-existing"
    host.run(["mkdir", "-p", existing])
    try:
        tasks = [{"name": "pool %s" % path, "ignore_errors": True, "hotiron.virt.storage_pool": {
            "name": "hi-typo-%d" % index, "type": "fs", "build": True,
            "source": {"devices": ["/dev/hotiron-no-such-disk"]}, "target": {"path": path}}}
            for index, path in enumerate((target, existing))]
        run = run_playbook(write_play(tmp_path, "typo.yml", [{"hosts": "hv1", "gather_facts": False, "tasks": tasks}]))
        made = run.for_task("pool %s" % target, "hv1")[0]
        kept = run.for_task("pool %s" % existing, "hv1")[0]
        assert made["status"] == kept["status"] == "ignored", run.stdout
        assert "the storage pool definition and the target directory this run made were removed again" in made["result"]["msg"]
        assert "the storage pool definition this run made was removed again" in kept["result"]["msg"]
        assert host.run(["test", "-e", target], check=False).returncode != 0
        assert host.run(["test", "-d", existing], check=False).returncode == 0
        conn = host.connect()
        try:
            assert not [p for p in conn.listDefinedStoragePools() + conn.listStoragePools() if p.startswith("hi-typo")]
        finally:
            conn.close()
    finally:
        host.run(["sh", "-c", f"rmdir {target} {existing} 2>/dev/null; true"])
