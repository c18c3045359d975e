# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hotiron.virt.libvirt inventory plugin against the lab: hypervisors from the lab
inventory's group ``lab`` (their ``libvirt_uri``), plus one address where nothing listens.

VMs inv-* are defined on hv1 and hv2 with the collection's metadata (resource group, tags,
SLA class); inv-web1 runs with a NIC on an isolated network whose DHCP lease the test writes
where libvirt's lease helper keeps them (the OS-less guest asks for none), so the plugin must
give it ``ansible_host``.  ``ansible-inventory --graph`` must show the groups.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

import guests  # tests/lab/guests.py

pytestmark = pytest.mark.lab

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NS = "https://hotiron.example/virt/1"
MAC = "52:54:00:5e:00:01"


def metadata(resource_group, sla, tags):
    tag_xml = "".join("<hotiron:tag>%s</hotiron:tag>" % t for t in tags)
    return ("<metadata><hotiron:vm xmlns:hotiron='%s'><hotiron:resource_group>%s</hotiron:resource_group>"
            "<hotiron:sla>%s</hotiron:sla><hotiron:tags>%s</hotiron:tags></hotiron:vm></metadata>"
            % (NS, resource_group, sla, tag_xml))


def define(host, name, meta, start, nic=""):
    disk = os.path.join(host.images_dir, name + ".img")
    guests.make_image(disk, "idle")
    xml = guests.domain_xml(name, "/var/lib/libvirt/images/%s.img" % name, host.lab.virt_type, memory_mib=32,
                            extra_devices=nic)
    xml = xml.replace("<memory ", meta + "\n  <memory ", 1)
    dom = host.connect().defineXML(xml)
    if start:
        dom.create()
    return dom


@pytest.fixture(scope="module")
def vms(lab):
    hv1, hv2 = lab.host("hv1"), lab.host("hv2")
    subnet = "198.18.%d" % (100 + lab.lab_id % 100)
    bridge = "hi%dv%d" % (lab.lab_id, os.getpid() % 10000)
    conn1 = hv1.connect()
    net = conn1.networkDefineXML(
        "<network><name>inv-net</name><bridge name='%s'/><ip address='%s.1' prefix='24'>"
        "<dhcp><range start='%s.10' end='%s.20'/></dhcp></ip></network>" % (bridge, subnet, subnet, subnet))
    net.create()
    nic = ("\n    <interface type='network'><mac address='%s'/><source network='inv-net'/><model type='virtio'/>"
           "</interface>" % MAC)
    made = [(hv1, define(hv1, "inv-web1", metadata("rg-inv", "gold", ["web", "prod"]), True, nic)),
            (hv1, define(hv1, "inv-db1", metadata("rg-inv", "silver", ["db"]), False)),
            (hv2, define(hv2, "inv-app1", metadata("rg-two", "bronze", ["web"]), True))]
    status = os.path.join(os.path.dirname(hv1.images_dir), "dnsmasq", bridge + ".status")
    with open(status, "w", encoding="utf-8") as handle:
        json.dump([{"ip-address": subnet + ".15", "mac-address": MAC, "hostname": "inv-web1",
                    "expiry-time": int(time.time()) + 3600}], handle)
    yield {"subnet": subnet}
    for host, dom in made:
        dom = host.connect().lookupByName(dom.name())
        if dom.isActive():
            dom.destroy()
        dom.undefine()
        os.unlink(os.path.join(host.images_dir, dom.name() + ".img"))
    net.destroy()
    net.undefine()
    if os.path.exists(status):
        os.unlink(status)


def ansible_inventory(lab, tmp_path, *args):
    config = tmp_path / "lab.libvirt.yml"
    config.write_text(json.dumps({"plugin": "hotiron.virt.libvirt", "hypervisor_group": "lab",
                                  "uris": ["qemu+tcp://127.77.%d.99/system" % lab.lab_id]}))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_DEPRECATION_WARNINGS="False")
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, "build", "src"))
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i", lab.inventory_path,
           "-i", str(config), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def parse_graph(text):
    """``{group: {hosts and groups directly in it}}`` from ``ansible-inventory --graph``, whose
    lines are ``@all:`` then ``  |--@group:`` / ``  |  |--host``: one ``|`` per level."""
    tree, stack = {}, []
    for line in text.splitlines():
        level = line.count("|")
        entry = line.split("--", 1)[1] if level else line
        name = entry.strip().lstrip("@").rstrip(":")
        del stack[level:]
        if stack:
            tree.setdefault(stack[-1], set()).add(name)
        if entry.startswith("@"):
            stack.append(name)
    return tree


def test_graph_shows_the_vms_of_the_lab_grouped(lab, vms, tmp_path):
    proc = ansible_inventory(lab, tmp_path, "--graph")
    graph = parse_graph(proc.stdout)
    ours = {"inv-web1", "inv-db1", "inv-app1"}
    assert graph["hypervisor_hv1"] & ours == {"inv-web1", "inv-db1"}
    assert graph["hypervisor_hv2"] & ours == {"inv-app1"}
    assert graph["state_running"] & ours == {"inv-web1", "inv-app1"}
    assert graph["state_shutoff"] & ours == {"inv-db1"}
    assert graph["resource_group_rg_inv"] == {"inv-web1", "inv-db1"}
    assert graph["resource_group_rg_two"] == {"inv-app1"}
    assert graph["tag_web"] >= {"inv-web1", "inv-app1"} and "inv-db1" not in graph["tag_web"]
    assert graph["sla_gold"] == {"inv-web1"} and graph["sla_silver"] == {"inv-db1"} and graph["sla_bronze"] == {"inv-app1"}
    assert {"hv1", "hv2", "hv3"} <= graph["lab"]             # the hypervisors themselves, from the lab inventory
    flat = " ".join(proc.stderr.split())
    assert "skipped hypervisor 127.77.%d.99" % lab.lab_id in flat and "Connection refused" in flat


def test_a_leased_address_becomes_ansible_host(lab, vms, tmp_path):
    proc = ansible_inventory(lab, tmp_path, "--host", "inv-web1")
    hostvars = json.loads(proc.stdout)
    assert hostvars["ansible_host"] == vms["subnet"] + ".15"
    vm = hostvars["hotiron_vm"]
    assert (vm["hypervisor"], vm["uri"], vm["state"], vm["sla"], vm["tags"]) == (
        "hv1", lab.host("hv1").uri, "running", "gold", ["web", "prod"])
    assert vm["interfaces"][0]["addresses"] == [vms["subnet"] + ".15"]
    other = json.loads(ansible_inventory(lab, tmp_path, "--host", "inv-app1").stdout)
    assert "ansible_host" not in other
