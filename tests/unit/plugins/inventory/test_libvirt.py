# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hotiron.virt.libvirt inventory plugin, run by ansible-inventory as a user runs it,
against test-driver hypervisors (tests/data/inventory/hv-a.xml and hv-b.xml) and an address
where nothing listens (an unreachable hypervisor)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
DATA = os.path.join(ROOT, "tests", "data", "inventory")
HV_A = "test://" + os.path.join(DATA, "hv-a.xml")
HV_B = "test://" + os.path.join(DATA, "hv-b.xml")
NOBODY = "qemu+tcp://127.0.0.1:1/system"          # loopback, port 1: refused at once
BIN = os.path.dirname(sys.executable)


def inventory(tmp_path, config, *args, sources=()):
    path = tmp_path / "test.libvirt.yml"
    path.write_text(json.dumps(config))          # JSON is YAML
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "src"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_INVENTORY_UNPARSED_FAILED="True", ANSIBLE_DEPRECATION_WARNINGS="False")
    cmd = [os.path.join(BIN, "ansible-inventory")]
    for source in list(sources) + [str(path)]:
        cmd += ["-i", source]
    proc = subprocess.run(cmd + list(args or ["--list"]), capture_output=True, text=True, env=env, check=False,
                          timeout=120)
    return proc


def plain(value):
    """ansible-inventory --list writes the plugin's strings as {"__ansible_unsafe": ...}
    (ansible-core 2.19 does not template what an inventory source reports): unwrap them."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def listing(tmp_path, config, sources=()):
    proc = inventory(tmp_path, config, sources=sources)
    assert proc.returncode == 0, proc.stderr
    return plain(json.loads(proc.stdout)), proc.stderr


def members(data, group):
    return sorted(data.get(group, {}).get("hosts", []))


def test_vms_grouped_by_hypervisor_state_resource_group_tag_and_sla(tmp_path):
    data, stderr = listing(tmp_path, {"plugin": "hotiron.virt.libvirt", "uris": [HV_A, {"name": "beta", "uri": HV_B}, NOBODY]})
    assert members(data, "libvirt_vms") == ["app1", "batch1", "db1", "dup", "dup@beta", "web1"]
    assert members(data, "hypervisor_hv_a") == ["batch1", "db1", "dup", "web1"]
    assert members(data, "hypervisor_beta") == ["app1", "dup@beta"]
    assert members(data, "state_running") == ["app1", "dup", "web1"]
    assert members(data, "state_shutoff") == ["db1", "dup@beta"]
    assert members(data, "state_paused") == ["batch1"]
    assert members(data, "resource_group_rg1") == ["db1", "web1"]
    assert members(data, "resource_group_rg2") == ["app1"]
    assert members(data, "tag_web") == ["app1", "web1"]
    assert members(data, "tag_prod") == ["web1"] and members(data, "tag_db") == ["db1"]
    assert members(data, "sla_gold") == ["web1"] and members(data, "sla_silver") == ["db1"]
    assert "templates" not in data                       # templates are left out by default
    hostvars = data["_meta"]["hostvars"]
    web1 = hostvars["web1"]
    assert web1["ansible_host"].startswith("192.168.50.")
    assert {k: web1["hotiron_vm"][k] for k in ("hypervisor", "uri", "state", "vcpus", "memory_mib", "owner", "sla")} == {
        "hypervisor": "hv-a", "uri": HV_A, "state": "running", "vcpus": 2, "memory_mib": 1024, "owner": "team-a",
        "sla": "gold"}
    assert web1["hotiron_vm"]["interfaces"][0]["addresses"] == [web1["ansible_host"]]
    assert "ansible_host" not in hostvars["app1"] and "ansible_host" not in hostvars["db1"]
    assert hostvars["dup@beta"]["hotiron_vm"]["hypervisor"] == "beta"
    unreachable = hostvars["web1"]["hotiron_unreachable_hypervisors"]    # a variable of group all
    assert [(u["name"], u["uri"]) for u in unreachable] == [("127.0.0.1", NOBODY)]
    assert "Connection refused" in unreachable[0]["error"]
    flat = " ".join(stderr.split())
    assert "skipped hypervisor 127.0.0.1 (%s)" % NOBODY in flat
    assert "vm dup is on hv-a, beta: the running one is dup" in flat


def test_constructable_options_and_a_group_prefix(tmp_path):
    data, _stderr = listing(tmp_path, {
        "plugin": "hotiron.virt.libvirt", "uris": [HV_A, HV_B], "group_prefix": "lv_", "templates": True,
        "compose": {"vm_memory": "hotiron_vm.memory_mib * 2"},
        "groups": {"big": "hotiron_vm.memory_mib >= 1024"},
        "keyed_groups": [{"key": "hotiron_vm.owner", "prefix": "owner", "default_value": "nobody"}]})
    assert members(data, "lv_hypervisor_hv_a") == ["batch1", "db1", "dup", "tmpl", "web1"]
    assert members(data, "lv_templates") == ["tmpl"]
    assert members(data, "big") == ["db1", "web1"]
    assert members(data, "owner_team_a") == ["web1"] and members(data, "owner_team_b") == ["app1"]
    assert "db1" in members(data, "owner_nobody")
    assert data["_meta"]["hostvars"]["web1"]["vm_memory"] == 2048


def test_agent_connection_and_guest_info(tmp_path):
    data, _stderr = listing(tmp_path, {"plugin": "hotiron.virt.libvirt", "uris": [HV_A, {"name": "beta", "uri": HV_B}],
                                       "agent_connection": True, "include_guest_info": True})
    hostvars = data["_meta"]["hostvars"]
    assert hostvars["web1"]["ansible_connection"] == "hotiron.virt.qemu_ga"
    assert hostvars["web1"]["hotiron_qemu_ga_uri"] == HV_A
    # name@hypervisor hosts connect to the VM by its libvirt name, on its own hypervisor
    assert (hostvars["dup@beta"]["hotiron_qemu_ga_domain"], hostvars["dup@beta"]["hotiron_qemu_ga_uri"]) == ("dup", HV_B)
    # the test driver's VMs have no agent channel: no facts, and nothing fails
    assert all(v["hotiron_guest"] is None for v in hostvars.values())
    off, _stderr = listing(tmp_path, {"plugin": "hotiron.virt.libvirt", "uris": [HV_A]})
    assert not {"ansible_connection", "hotiron_guest"} & set(off["_meta"]["hostvars"]["web1"])


def test_hypervisors_from_an_inventory_group(tmp_path):
    hosts = tmp_path / "hosts.yml"
    hosts.write_text(json.dumps({"all": {"children": {"hvs": {"hosts": {
        "alpha": {"libvirt_uri": HV_A}, "beta": {"libvirt_uri": HV_B}, "gamma": {}}}}}}))
    data, stderr = listing(tmp_path, {"plugin": "hotiron.virt.libvirt", "hypervisor_group": "hvs"}, sources=[str(hosts)])
    assert members(data, "hypervisor_alpha") == ["batch1", "db1", "dup", "web1"]
    assert members(data, "hypervisor_beta") == ["app1", "dup@beta"]
    assert "host gamma of group hvs has no libvirt_uri: skipped" in " ".join(stderr.split())


def test_the_cache_answers_until_flushed(tmp_path):
    copy = tmp_path / "hv.xml"
    shutil.copy(os.path.join(DATA, "hv-b.xml"), copy)
    config = {"plugin": "hotiron.virt.libvirt", "uris": ["test://%s" % copy], "cache": True,
              "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(tmp_path / "cache"),
              "cache_timeout": 3600}
    first, _stderr = listing(tmp_path, config)
    assert members(first, "libvirt_vms") == ["app1", "dup"]
    copy.write_text(copy.read_text().replace("<name>app1</name>", "<name>app2</name>"))
    cached, _stderr = listing(tmp_path, config)
    assert members(cached, "libvirt_vms") == ["app1", "dup"]          # from the cache, not from libvirt
    proc = inventory(tmp_path, config, "--list", "--flush-cache")
    assert proc.returncode == 0, proc.stderr
    assert members(plain(json.loads(proc.stdout)), "libvirt_vms") == ["app2", "dup"]


@pytest.mark.parametrize("config, message", [
    ({"uris": [HV_A], "max_workers": 0}, "max_workers: must be from 1 to 256"),
    ({}, "no hypervisor to list"),
    ({"uris": [42]}, "uris: each entry is a URI or a dictionary"),
    ({"hypervisor_group": "nosuch"}, "hypervisor_group: no group 'nosuch'"),
    ({"uris": [HV_A], "address_sources": ["dns"]}, "address_sources"),
])
def test_bad_configurations_fail_with_the_reason(tmp_path, config, message):
    proc = inventory(tmp_path, dict(config, plugin="hotiron.virt.libvirt"))
    assert proc.returncode != 0 and message in " ".join(proc.stderr.split()), proc.stderr
