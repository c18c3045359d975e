# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""storage_pool for real: dir pools on every lab host's own local storage.

The modules run on the lab hosts themselves (``hosts: lab``, default URI,
the hosts' system Python), as in production.
"""

from __future__ import annotations

import os

import pytest
from storage_helpers import write_play

pytestmark = pytest.mark.lab

POOL = "hi-local"
PATH = "/var/lib/libvirt/images/hi-local"


def pool_play(state="active", mode="0711", delete_volumes=False):
    tasks = [{
        "name": "pool",
        "hotiron.virt.storage_pool": {"name": POOL, "type": "dir", "state": state, "target": {"path": PATH, "mode": mode},
                                      "autostart": True, "delete_volumes": delete_volumes},
    }]
    if state == "active":
        tasks.append({"name": "volume", "hotiron.virt.volume": {"pool": POOL, "name": "{{ inventory_hostname }}.qcow2", "capacity": "8M", "format": "qcow2"}})
    return [{"hosts": "lab", "gather_facts": False, "tasks": tasks}]


def pool_xml(host):
    import libvirt  # pylint: disable=import-outside-toplevel

    conn = host.connect()
    try:
        pool = conn.storagePoolLookupByName(POOL)
        return pool.XMLDesc(libvirt.VIR_STORAGE_XML_INACTIVE), bool(pool.isActive()), bool(pool.autostart())
    finally:
        conn.close()


def remove_pool(host):
    import libvirt  # pylint: disable=import-outside-toplevel

    conn = host.connect()
    try:
        pool = conn.storagePoolLookupByName(POOL)
    except libvirt.libvirtError:
        pool = None
    if pool is not None:
        if pool.isActive():
            for vol in pool.listAllVolumes():
                vol.delete(0)
            pool.destroy()
        pool.undefine()
    conn.close()
    host.run(["rm", "-rf", PATH])


@pytest.fixture
def clean_pools(lab):
    for host in lab.hosts:
        remove_pool(host)
    yield
    for host in lab.hosts:
        remove_pool(host)


def test_dir_pool_on_each_host(lab, clean_pools, run_playbook, tmp_path):
    names = [h.name for h in lab.hosts]
    play = write_play(tmp_path, "pool.yml", pool_play())

    first = run_playbook(play)
    assert first.rc == 0, first.stdout + first.stderr
    for name in names:
        assert first.recap[name]["changed"] == 2, first.recap
        result = first.for_task("pool", name)[0]["result"]
        assert result["actions"] == ["define", "build", "start", "autostart on"]
        assert result["pool"]["state"] == "running" and result["pool"]["target_path"] == PATH

    second = run_playbook(play)
    assert second.rc == 0 and all(second.recap[n]["changed"] == 0 for n in names), second.recap

    # Each host's pool is on its own local disk: only its own volume is there.
    for host in lab.hosts:
        local_dir = os.path.join(host.images_dir, "hi-local")
        assert sorted(os.listdir(local_dir)) == [host.name + ".qcow2"]
        assert oct(os.stat(local_dir).st_mode & 0o777) == "0o711"
        xml, active, autostart = pool_xml(host)
        assert active and autostart and f"<path>{PATH}</path>" in xml

    # Check mode: a change is reported, with a diff, and nothing changes.
    before = {h.name: pool_xml(h) for h in lab.hosts}
    check = run_playbook(write_play(tmp_path, "pool-check.yml", pool_play(mode="0755")), check=True, diff=True)
    assert check.rc == 0
    for name in names:
        result = check.for_task("pool", name)[0]["result"]
        assert result["changed"] and result["actions"] == ["define", "pending restart"]
        assert "<mode>0711</mode>" in result["diff"]["before"] and "<mode>0755</mode>" in result["diff"]["after"]
    assert {h.name: pool_xml(h) for h in lab.hosts} == before

    # Bad input: the module names the option and changes nothing.
    bad = run_playbook(write_play(tmp_path, "bad.yml", [{"hosts": "hv1", "gather_facts": False, "tasks": [{
        "name": "bad", "ignore_errors": True,
        "hotiron.virt.storage_pool": {"name": POOL, "type": "dir", "source": {"hosts": [{"name": "x"}]}}}]}]))
    bad_record = bad.for_task("bad", "hv1")[0]
    assert bad_record["status"] == "ignored" and "pool type dir does not take source.hosts" in bad_record["result"]["msg"]
    assert "Traceback" not in bad.stdout

    # deleted refuses while volumes remain, then removes pool, volumes and directory.
    refused = run_playbook(write_play(tmp_path, "del1.yml", pool_play(state="deleted")), limit="hv1")
    assert refused.rc != 0 and "set delete_volumes=true" in refused.for_task("pool", "hv1")[0]["result"]["msg"]
    assert os.path.isdir(os.path.join(lab.host("hv1").images_dir, "hi-local"))
    deleted = run_playbook(write_play(tmp_path, "del.yml", pool_play(state="deleted", delete_volumes=True)))
    assert deleted.rc == 0, deleted.stdout
    for host in lab.hosts:
        assert deleted.for_task("pool", host.name)[0]["result"]["actions"] == ["delete volume %s.qcow2" % host.name, "stop", "delete", "undefine"]
        assert not os.path.exists(os.path.join(host.images_dir, "hi-local"))
    again = run_playbook(write_play(tmp_path, "del.yml", pool_play(state="deleted", delete_volumes=True)))
    assert all(again.recap[n]["changed"] == 0 for n in names), again.recap
