# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""network for real on hv1: an isolated network with DHCP and a bridge-mode network
on a host bridge the test makes, a guest attached to both, a DHCP range changed live, a
restart that applies a change libvirt cannot make live (the MTU), and removal.

The lab hosts share this machine's network namespace, so bridges, dnsmasq and
libvirt's firewall rules are created here: only isolated and bridge modes run for
real (NAT and routed networks would switch on IP forwarding for the whole machine);
addresses are in 198.18.0.0/15 (benchmarking, routed nowhere) and bridge names are
unique to the lab and the test process. Everything is removed at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest
from storage_helpers import file_disk, make_marker_image, marker_vm_xml, remove_vm, write_play

pytestmark = pytest.mark.lab

VM = "hi-netvm"


def names(lab_id):
    suffix = os.getpid() % 10000
    return {"iso": f"hi{lab_id}i{suffix}", "hostbr": f"hi{lab_id}b{suffix}", "net": f"hi-iso-{suffix}", "brnet": f"hi-br-{suffix}"}


def sysfs(name, key):
    with open(f"/sys/class/net/{name}/{key}", encoding="utf-8") as handle:
        return handle.read().strip()


def link_exists(name):
    return os.path.exists(f"/sys/class/net/{name}")


def net_play(uri, n, subnet, range_end="20", restart=False, mtu=None):
    extra = {"mtu": mtu} if mtu else {}
    return [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "isolated", "hotiron.virt.network": {
            "uri": uri, "name": n["net"], "mode": "isolated", "bridge": n["iso"], "autostart": True, "restart": restart, **extra,
            "ips": [{"address": f"{subnet}.1", "prefix": 24,
                     "dhcp_ranges": [{"start": f"{subnet}.10", "end": f"{subnet}.{range_end}"}],
                     "dhcp_hosts": [{"mac": "52:54:00:77:00:05", "name": VM, "ip": f"{subnet}.5"}]}]}},
        {"name": "bridged", "hotiron.virt.network": {"uri": uri, "name": n["brnet"], "mode": "bridge", "bridge": n["hostbr"]}},
    ]}]


def inactive_xml(conn, name):
    import libvirt  # pylint: disable=import-outside-toplevel

    return conn.networkLookupByName(name).XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE)


@pytest.fixture
def net_names(lab):
    n = names(lab.lab_id)
    subprocess.run(["ip", "link", "add", "name", n["hostbr"], "type", "bridge"], check=True)
    yield n
    host = lab.host("hv1")
    conn = host.connect()
    remove_vm(conn, VM)
    for name in (n["net"], n["brnet"]):
        try:
            net = conn.networkLookupByName(name)
        except Exception:  # pylint: disable=broad-except  # removed by the test
            continue
        if net.isActive():
            net.destroy()
        net.undefine()
    conn.close()
    subprocess.run(["ip", "link", "del", n["hostbr"]], check=False)


def test_isolated_and_bridge_networks_with_a_guest(lab, net_names, run_playbook, tmp_path):
    host = lab.host("hv1")
    n = net_names
    subnet = f"198.18.{lab.lab_id}"
    play = write_play(tmp_path, "net.yml", net_play(host.uri, n, subnet))

    first = run_playbook(play, diff=True)
    assert first.rc == 0, first.stdout + first.stderr
    iso = first.for_task("isolated")[0]["result"]
    assert iso["actions"] == ["define", "start", "autostart on"] and iso["network"]["mode"] == "isolated"
    assert first.for_task("bridged")[0]["result"]["network"]["mode"] == "bridge"
    assert link_exists(n["iso"])
    second = run_playbook(play)
    assert second.rc == 0 and second.recap["localhost"]["changed"] == 0, second.stdout

    # Check mode reports the changed DHCP range (a live update: no restart) and changes nothing.
    conn = host.connect()
    try:
        before = inactive_xml(conn, n["net"])
        check = run_playbook(write_play(tmp_path, "net-change.yml", net_play(host.uri, n, subnet, range_end="30")), check=True, diff=True)
        result = check.for_task("isolated")[0]["result"]
        assert result["changed"] and result["actions"] == [f"update ip-dhcp-range delete {subnet}.10-{subnet}.20",
                                                           f"update ip-dhcp-range add {subnet}.10-{subnet}.30"]
        assert not result["restart_required"]
        assert f"{subnet}.20" in result["diff"]["before"] and f"{subnet}.30" in result["diff"]["after"]
        assert inactive_xml(conn, n["net"]) == before

        # A guest attached to both networks: its taps join the two bridges.
        disk = make_marker_image(os.path.join(host.images_dir, VM + ".img"), "HOTIRON-BOOT-net", size=1024 * 1024)
        interfaces = "".join(
            f"<interface type='network'><source network='{net}'/>{mac}<model type='virtio'/></interface>"
            for net, mac in ((n["net"], "<mac address='52:54:00:77:00:05'/>"), (n["brnet"], ""))
        )
        dom = conn.createXML(marker_vm_xml(VM, file_disk("/var/lib/libvirt/images/" + os.path.basename(disk), "raw"), lab.virt_type,
                                           interface_xml=interfaces), 0)
        taps = {i.find("source").get("network"): i.find("target").get("dev") for i in ET.fromstring(dom.XMLDesc(0)).iter("interface")}
        assert os.path.basename(os.readlink(f"/sys/class/net/{taps[n['net']]}/master")) == n["iso"]
        assert os.path.basename(os.readlink(f"/sys/class/net/{taps[n['brnet']]}/master")) == n["hostbr"]
        dom.destroy()
        os.unlink(disk)

        # The range changes live, restart=true or not: nothing needs a restart.
        bridge_index = sysfs(n["iso"], "ifindex")
        applied = run_playbook(write_play(tmp_path, "net-range.yml", net_play(host.uri, n, subnet, range_end="30", restart=True)))
        assert applied.for_task("isolated")[0]["result"]["actions"] == result["actions"]
        assert f"end='{subnet}.30'" in conn.networkLookupByName(n["net"]).XMLDesc(0)
        assert f"end='{subnet}.30'" in inactive_xml(conn, n["net"])
        assert sysfs(n["iso"], "ifindex") == bridge_index, "the bridge was not remade"

        # The MTU cannot change live: without restart it waits (and says why); restart=true applies it.
        pending = run_playbook(write_play(tmp_path, "net-mtu.yml", net_play(host.uri, n, subnet, range_end="30", mtu=1400)))
        waiting = pending.for_task("isolated")[0]["result"]
        assert waiting["actions"] == ["define", "pending restart"] and waiting["restart_reasons"] == ["the MTU changes"]
        assert waiting["restart_required"] and "previous definition" in json.dumps(waiting.get("warnings"))
        assert "<mtu" not in conn.networkLookupByName(n["net"]).XMLDesc(0)
        # Run again: nothing to write, still waiting, and saying why.
        still_play = net_play(host.uri, n, subnet, range_end="30", mtu=1400)
        still_play[0]["tasks"].append({"name": "info", "hotiron.virt.network_info": {"uri": host.uri, "name": n["net"]}})
        still = run_playbook(write_play(tmp_path, "net-mtu-info.yml", still_play))
        waiting = still.for_task("isolated")[0]["result"]
        assert not waiting["changed"] and waiting["restart_required"] and waiting["actions"] == ["pending restart"]
        assert waiting["restart_reasons"] == ["the MTU changes"]
        (listed,) = still.for_task("info")[0]["result"]["networks"]
        assert listed["restart_required"] and listed["restart_reasons"] == ["the MTU changes"] and listed["mtu"] is None, "as it runs"
        # restart=true restarts for the definition written earlier.
        restarted = run_playbook(write_play(tmp_path, "net-restart.yml", net_play(host.uri, n, subnet, range_end="30", restart=True, mtu=1400)))
        done = restarted.for_task("isolated")[0]["result"]
        assert done["actions"] == ["restart"] and done["restart_reasons"] == ["the MTU changes"] and not done["restart_required"]
        assert "<mtu size='1400'/>" in conn.networkLookupByName(n["net"]).XMLDesc(0)
        assert sysfs(n["iso"], "mtu") == "1400"
        again = run_playbook(write_play(tmp_path, "net-restart.yml", net_play(host.uri, n, subnet, range_end="30", restart=True, mtu=1400)))
        assert again.recap["localhost"]["changed"] == 0

        removed = run_playbook(write_play(tmp_path, "net-absent.yml", [{"hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": name, "hotiron.virt.network": {"uri": host.uri, "name": name, "state": "absent"}} for name in (n["net"], n["brnet"])]}]))
        assert removed.rc == 0 and removed.recap["localhost"]["changed"] == 2
        assert not link_exists(n["iso"]), "libvirt removed the bridge it made"
        rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True, check=False).stdout
        assert n["iso"] not in rules, "and its firewall rules"
        assert link_exists(n["hostbr"]), "the host bridge of a bridge-mode network is the host's, left alone"
    finally:
        conn.close()


def vm_play(uri, disk_path, interfaces):
    return [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "vm", "hotiron.virt.vm": {
            "uri": uri, "name": VM, "memory": "32MiB", "state": "running",
            "disks": [{"path": disk_path, "format": "raw"}], "interfaces": interfaces}},
        {"name": "info", "hotiron.virt.vm_info": {"uri": uri, "name": VM}},
    ]}]


def test_nic_hot_plug_into_a_running_vm_and_its_dhcp_lease_reported(lab, net_names, run_playbook, tmp_path):
    """A NIC added to a running VM is attached live (no restart), and vm_info reports the
    address of its DHCP lease.  The guest has no OS to ask dnsmasq for a lease: the test
    writes the lease where libvirt's lease helper keeps them (<bridge>.status), and libvirt
    reads it from there as it reads dnsmasq's."""
    host = lab.host("hv1")
    n = net_names
    subnet = f"198.18.{lab.lab_id}"
    assert run_playbook(write_play(tmp_path, "net.yml", net_play(host.uri, n, subnet))).rc == 0
    disk = make_marker_image(os.path.join(host.images_dir, VM + ".img"), "HOTIRON-BOOT-nic", size=1024 * 1024)
    disk_path = "/var/lib/libvirt/images/" + os.path.basename(disk)
    status = os.path.join(os.path.dirname(host.images_dir), "dnsmasq", n["iso"] + ".status")
    conn = host.connect()
    try:
        first = run_playbook(write_play(tmp_path, "vm.yml", vm_play(host.uri, disk_path, [])))
        assert first.rc == 0, first.stdout
        dom = conn.lookupByName(VM)
        qemu_pid = dom.ID()

        nic = {"network": n["net"], "mac": "52:54:00:77:00:05", "model": "virtio"}
        plugged = run_playbook(write_play(tmp_path, "vm-nic.yml", vm_play(host.uri, disk_path, [nic])), diff=True)
        assert plugged.rc == 0, plugged.stdout
        result = plugged.for_task("vm")[0]["result"]
        assert result["changed"] and not result["restart_required"], result
        assert [(c["field"], c["apply"]) for c in result["changes"]] == [("interfaces.52:54:00:77:00:05", "live")]
        assert dom.ID() == qemu_pid, "attached live: the same QEMU process"
        live = ET.fromstring(dom.XMLDesc(0))
        (iface,) = live.iter("interface")
        assert iface.find("mac").get("address") == "52:54:00:77:00:05"
        assert os.path.basename(os.readlink(f"/sys/class/net/{iface.find('target').get('dev')}/master")) == n["iso"]
        info = plugged.for_task("info")[0]["result"]["vms"][0]["interfaces"]
        assert info == [{"mac": "52:54:00:77:00:05", "type": "network", "network": n["net"], "bridge": n["iso"],
                         "model": "virtio", "device": iface.find("target").get("dev"), "addresses": []}]

        with open(status, "w", encoding="utf-8") as handle:
            json.dump([{"ip-address": f"{subnet}.5", "mac-address": "52:54:00:77:00:05", "hostname": VM,
                        "expiry-time": int(time.time()) + 3600}], handle)
        again = run_playbook(write_play(tmp_path, "vm-nic.yml", vm_play(host.uri, disk_path, [nic])))
        assert again.rc == 0 and not again.for_task("vm")[0]["result"]["changed"], again.stdout
        (vm_info,) = again.for_task("info")[0]["result"]["vms"]
        assert vm_info["interfaces"][0]["addresses"] == [f"{subnet}.5/24"]
    finally:
        remove_vm(conn, VM)
        conn.close()
        for path in (disk, status):
            if os.path.exists(path):
                os.unlink(path)
