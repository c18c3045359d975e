# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""cloud_init through vm_ops against libvirt's test driver: the seed volume made in the VM's pool,
the cdrom attached, the hash in the metadata, idempotency, check mode and clones.

The test driver has no volume streams (virStorageVolUpload/Download are "not supported"), so
the one step that streams bytes into the volume is replaced by a recorder here; the lab test
(tests/integration/test_os_guest.py) writes real seeds that real guests boot from."""

from __future__ import annotations

import pytest

import vm_driver  # tests/unit/vm_driver.py
from vm_driver import inactive, params

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.storage import iso9660
from ansible_collections.hotiron.virt.plugins.module_utils.vm import cloud_init_ops, vm_ops

HOST = vm_driver.HOST  # what the conn fixture (tests/unit/conftest.py) opens
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOnly+a+test+key ops@example"


@pytest.fixture
def uploads(monkeypatch):
    written = []
    monkeypatch.setattr(cloud_init_ops, "_upload", lambda conn, vol, data, what: written.append((vol.name(), data)))
    return written


def volumes(conn):
    pool = conn.storagePoolLookupByName("local")
    return sorted(v.name() for v in pool.listAllVolumes())


def seed_cdroms(root):
    return [d for d in root.findall("devices/disk") if d.get("device") == "cdrom"]


def test_create_writes_the_seed_attaches_it_and_is_idempotent(conn, uploads):
    spec = params(name="c1", memory="64MiB", disks=[dict(pool="local", volume="c1.qcow2", size="1GiB")],
                  cloud_init=dict(hostname="c1.example.org", users=[dict(name="ops", ssh_authorized_keys=[KEY])]))
    changed, result, diff = vm_ops.ensure(conn, spec)
    assert changed
    assert result["plan"] == ["create volume local/c1.qcow2 (1GiB qcow2)",
                              "write the cloud-init seed (meta-data, user-data) to volume local/c1-cidata.iso",
                              "define vm c1"]
    assert "c1-cidata.iso" in volumes(conn)
    [(name, data)] = uploads
    files = iso9660.read_files(data)
    assert name == "c1-cidata.iso" and b"local-hostname" in files["meta-data"] and KEY.encode() in files["user-data"]
    assert len(data) == 1024 * 1024     # the ISO padded to the volume's size
    root = inactive(conn, "c1")
    [cdrom] = seed_cdroms(root)
    assert cdrom.find("source").get("file") == "/var/lib/hotiron-test/local/c1-cidata.iso"
    assert cdrom.find("target").get("bus") == "sata" and cdrom.find("readonly") is not None
    assert len(dx.read_metadata(root)["cloud_init_seed"]) == 64
    assert "# cloud-init seed: meta-data" in diff["after"]
    changed, result, _diff = vm_ops.ensure(conn, spec)
    assert not changed and result["plan"] == [] and len(uploads) == 1


def test_check_mode_reads_only_and_a_change_is_written_again(conn, uploads):
    spec = params(name="c2", memory="64MiB", disks=[dict(pool="local", volume="c2.qcow2", size="1GiB")],
                  cloud_init=dict(hostname="c2"))
    vm_ops.ensure(conn, spec)
    before = (dx.normalise(inactive(conn, "c2")), volumes(conn))
    changed, result, diff = vm_ops.ensure(conn, dict(spec, cloud_init=dict(hostname="c2b")), check_mode=True)
    assert changed and result["plan"][0].startswith("write the cloud-init seed")
    assert "\"local-hostname\": \"c2b\"" in diff["after"]
    assert "not readable" in diff["before"]   # the test driver cannot stream the old seed back
    assert (dx.normalise(inactive(conn, "c2")), volumes(conn)) == before and len(uploads) == 1
    changed, _result, _diff = vm_ops.ensure(conn, dict(spec, cloud_init=dict(hostname="c2b")))
    assert changed and len(uploads) == 2 and b"c2b" in iso9660.read_files(uploads[1][1])["meta-data"]
    assert len(seed_cdroms(inactive(conn, "c2"))) == 1


def test_disks_rewritten_without_cloud_init_keep_the_seed(conn, uploads):
    disks = [dict(pool="local", volume="c3.qcow2", size="1GiB")]
    vm_ops.ensure(conn, params(name="c3", memory="64MiB", disks=disks, cloud_init=dict(hostname="c3")))
    changed, _result, _diff = vm_ops.ensure(conn, params(name="c3", disks=disks))
    assert not changed and len(seed_cdroms(inactive(conn, "c3"))) == 1


def test_clones_get_seeds_of_their_own(conn, uploads):
    vm_ops.ensure(conn, params(name="t1", memory="64MiB", disks=[dict(pool="local", volume="tmpl.qcow2")],
                               cloud_init=dict(hostname="t1"), template=True))
    for name in ("k1", "k2"):
        vm_ops.ensure(conn, params(name=name, clone_from="t1", cloud_init=dict(hostname=name)))
        [cdrom] = seed_cdroms(inactive(conn, name))
        assert cdrom.find("source").get("file").endswith("/%s-cidata.iso" % name)
    assert {"t1-cidata.iso", "k1-cidata.iso", "k2-cidata.iso"} <= set(volumes(conn))


def test_a_missing_seed_pool_fails_before_anything_changes(conn, uploads):
    with pytest.raises(lc.VirtError) as err:
        vm_ops.ensure(conn, params(name="c4", memory="64MiB", disks=[dict(pool="local", volume="c4.qcow2", size="1GiB")],
                                   cloud_init=dict(hostname="c4", pool="nope")))
    assert "cloud_init.pool" in str(err.value)
    assert "c4" not in [d.name() for d in conn.listAllDomains()] and "c4.qcow2" not in volumes(conn)
