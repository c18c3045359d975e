# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live network changes and the info modules for real on hv1.

A running isolated network with a guest attached gets a DHCP reservation, a DNS host and a port
group live, then the reservation moves to another address: no restart (the bridge is the same interface, the guest's QEMU the same process and
its tap still on the bridge), dnsmasq's files carry the new entries, and both the running and
the persistent definitions have them.  network_info then lists the network with its lease and
XML; storage_pool_info lists a pool with its volumes (an overlay with its backing store) and
their XML, and rescans the pool only when asked, never in check mode.

The guest has no OS to ask dnsmasq for a lease: the test writes the lease where libvirt's lease
helper keeps them (<bridge>.status), which libvirt reads as it reads dnsmasq's.  Addresses are in
198.18.0.0/15 (benchmarking, routed nowhere); names are unique to the lab and the test process.
"""

from __future__ import annotations

import json
import os
import time
import xml.etree.ElementTree as ET

import pytest
from storage_helpers import file_disk, make_marker_image, marker_vm_xml, outside_path, remove_vm, write_play

pytestmark = pytest.mark.lab

VM = "hi-livenet"
MAC = "52:54:00:77:02:05"


def names(lab_id):
    suffix = os.getpid() % 10000
    return {"net": f"hi-live-{suffix}", "br": f"hi{lab_id}l{suffix}", "pool": f"hi-info-{suffix}",
            "pool_path": f"/var/lib/libvirt/images/hi-info-{suffix}"}


def net_task(uri, n, subnet, hosts=(), dns=(), portgroups=None, name="net"):
    args = {"uri": uri, "name": n["net"], "mode": "isolated", "bridge": n["br"],
            "ips": [{"address": f"{subnet}.1", "prefix": 24, "dhcp_ranges": [{"start": f"{subnet}.100", "end": f"{subnet}.150"}],
                     "dhcp_hosts": list(hosts)}],
            "dns_hosts": list(dns)}
    if portgroups is not None:
        args["portgroups"] = portgroups
    return {"name": name, "hotiron.virt.network": args}


def play(*tasks):
    return [{"hosts": "localhost", "gather_facts": False, "tasks": list(tasks)}]


def ifindex(bridge):
    with open(f"/sys/class/net/{bridge}/ifindex", encoding="utf-8") as handle:
        return int(handle.read())


@pytest.fixture
def live_names(lab):
    n = names(lab.lab_id)
    yield n
    import libvirt  # pylint: disable=import-outside-toplevel

    conn = lab.host("hv1").connect()
    remove_vm(conn, VM)
    for lookup in (conn.networkLookupByName, conn.storagePoolLookupByName):
        try:
            obj = lookup(n["net"] if lookup == conn.networkLookupByName else n["pool"])
        except libvirt.libvirtError:
            continue
        if lookup == conn.storagePoolLookupByName and obj.isActive():
            obj.refresh(0)     # the stray file too
            for vol in obj.listAllVolumes():
                vol.delete()
        if obj.isActive():
            obj.destroy()
        if lookup == conn.storagePoolLookupByName:
            obj.delete()
        obj.undefine()
    conn.close()


def test_reservation_and_dns_host_go_live_then_info_lists_network_lease_pool_and_volumes(lab, live_names, run_playbook, tmp_path):
    import libvirt  # pylint: disable=import-outside-toplevel

    host = lab.host("hv1")
    n = live_names
    subnet = f"198.18.{100 + lab.lab_id}"
    # A misspelled name with no mode creates nothing.
    typo = run_playbook(write_play(tmp_path, "typo.yml", play(
        {"name": "typo", "hotiron.virt.network": {"uri": host.uri, "name": n["net"] + "-typo", "state": "active"}})))
    assert typo.rc != 0 and "does not exist; to create it give mode" in typo.for_task("typo")[0]["result"]["msg"]
    first = run_playbook(write_play(tmp_path, "net.yml", play(net_task(host.uri, n, subnet))))
    assert first.rc == 0, first.stdout + first.stderr
    assert first.for_task("net")[0]["result"]["actions"] == ["define", "start"]

    conn = host.connect()
    assert n["net"] + "-typo" not in conn.listNetworks() + conn.listDefinedNetworks()
    disk = make_marker_image(os.path.join(host.images_dir, VM + ".img"), "HOTIRON-BOOT-livenet", size=1024 * 1024)
    status = os.path.join(os.path.dirname(host.images_dir), "dnsmasq", n["br"] + ".status")
    try:
        nic = f"<interface type='network'><source network='{n['net']}'/><mac address='{MAC}'/><model type='virtio'/></interface>"
        dom = conn.createXML(marker_vm_xml(VM, file_disk("/var/lib/libvirt/images/" + os.path.basename(disk), "raw"), lab.virt_type,
                                           interface_xml=nic), 0)
        qemu_id = dom.ID()
        (tap,) = [i.find("target").get("dev") for i in ET.fromstring(dom.XMLDesc(0)).iter("interface")]
        bridge_index = ifindex(n["br"])

        reservation = [{"mac": MAC, "name": VM, "ip": f"{subnet}.5"}]
        dns = [{"ip": f"{subnet}.5", "hostnames": [VM, "www-live"]}]
        groups = [{"name": "capped", "default": True, "outbound": {"average": 1024, "peak": 2048, "burst": 512}}]
        change = write_play(tmp_path, "net-live.yml", play(net_task(host.uri, n, subnet, reservation, dns, groups)))

        # Check mode plans the three updates and changes nothing.
        before = conn.networkLookupByName(n["net"]).XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE)
        check = run_playbook(change, check=True, diff=True)
        planned = check.for_task("net")[0]["result"]
        assert planned["changed"] and [(u["section"], u["command"]) for u in planned["updates"]] == [
            ("ip-dhcp-host", "add-last"), ("dns-host", "add-last"), ("portgroup", "add-last")]
        assert MAC not in planned["diff"]["before"] and MAC in planned["diff"]["after"]
        assert conn.networkLookupByName(n["net"]).XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE) == before

        applied = run_playbook(change, diff=True)
        assert applied.rc == 0, applied.stdout + applied.stderr
        result = applied.for_task("net")[0]["result"]
        assert result["actions"] == [f"update ip-dhcp-host add {MAC}={subnet}.5", f"update dns-host add {subnet}.5={VM},www-live",
                                     "update portgroup add capped"], result
        assert not result["restart_required"] and result["restart_reasons"] == []
        assert not result.get("warnings"), "no pending-restart warning"
        # No restart: the same bridge interface, the same QEMU, its tap still on the bridge.
        assert ifindex(n["br"]) == bridge_index
        assert dom.isActive() and dom.ID() == qemu_id
        assert os.path.basename(os.readlink(f"/sys/class/net/{tap}/master")) == n["br"]
        net = conn.networkLookupByName(n["net"])
        for flags in (0, libvirt.VIR_NETWORK_XML_INACTIVE):
            xml = net.XMLDesc(flags)
            assert f"mac='{MAC}'" in xml and "www-live" in xml and "portgroup name='capped'" in xml, (flags, xml)
        dnsmasq_dir = outside_path(host, "/var/lib/libvirt/dnsmasq/")
        with open(os.path.join(dnsmasq_dir, n["net"] + ".hostsfile"), encoding="utf-8") as handle:
            assert f"{MAC},{subnet}.5,{VM}" in handle.read(), "dnsmasq has the reservation"
        with open(os.path.join(dnsmasq_dir, n["net"] + ".addnhosts"), encoding="utf-8") as handle:
            assert "www-live" in handle.read(), "and the DNS host"
        again = run_playbook(change)
        assert again.rc == 0 and again.recap["localhost"]["changed"] == 0, again.stdout

        # The reservation moved to another address: one live modify.
        moved = [{"mac": MAC, "name": VM, "ip": f"{subnet}.6"}]
        modified = run_playbook(write_play(tmp_path, "net-move.yml", play(net_task(host.uri, n, subnet, moved, dns, groups))))
        assert modified.for_task("net")[0]["result"]["actions"] == [f"update ip-dhcp-host modify {MAC}={subnet}.6"]
        with open(os.path.join(dnsmasq_dir, n["net"] + ".hostsfile"), encoding="utf-8") as handle:
            assert handle.read().split() == [f"{MAC},{subnet}.6,{VM}"]
        assert ifindex(n["br"]) == bridge_index and dom.ID() == qemu_id

        # network_info: the network, its reservation, DNS host, port group, lease and XML.
        with open(status, "w", encoding="utf-8") as handle:
            json.dump([{"ip-address": f"{subnet}.5", "mac-address": MAC, "hostname": VM, "expiry-time": int(time.time()) + 3600}], handle)
        info = run_playbook(write_play(tmp_path, "net-info.yml", play(
            {"name": "all", "hotiron.virt.network_info": {"uri": host.uri}},
            {"name": "one", "hotiron.virt.network_info": {"uri": host.uri, "pattern": "hi-live-*", "states": ["active"], "xml": True}},
        )), check=True)
        assert info.rc == 0, info.stdout + info.stderr
        assert n["net"] in [entry["name"] for entry in info.for_task("all")[0]["result"]["networks"]]
        (entry,) = info.for_task("one")[0]["result"]["networks"]
        assert entry["bridge"] == n["br"] and entry["mode"] == "isolated" and entry["active"] and entry["persistent"]
        assert not entry["restart_required"], "the live updates left nothing waiting"
        assert entry["ips"][0]["dhcp_hosts"] == moved
        assert entry["dns_hosts"] == dns and entry["portgroups"] == [dict(groups[0])]
        (lease,) = entry["dhcp_leases"]
        assert (lease["mac"], lease["ip"], lease["prefix"], lease["family"], lease["hostname"], lease["interface"]) == (
            MAC, f"{subnet}.5", 24, "ipv4", VM, n["br"])
        assert f"<name>{n['net']}</name>" in entry["xml"] and "www-live" in entry["xml_inactive"]

        # storage_pool_info: a pool with a base image and an overlay on it.
        pool_play = play(
            {"name": "pool", "hotiron.virt.storage_pool": {"uri": host.uri, "name": n["pool"], "type": "dir",
                                                           "target": {"path": n["pool_path"]}}},
            {"name": "base", "hotiron.virt.volume": {"uri": host.uri, "pool": n["pool"], "name": "base.qcow2", "capacity": "8M",
                                                     "format": "qcow2"}},
            {"name": "overlay", "hotiron.virt.volume": {"uri": host.uri, "pool": n["pool"], "name": "top.qcow2", "format": "qcow2",
                                                        "backing_volume": "base.qcow2"}},
        )
        made = run_playbook(write_play(tmp_path, "pool.yml", pool_play))
        assert made.rc == 0, made.stdout + made.stderr
        # A file made behind libvirt's back: seen only after a refresh, which check mode skips.
        with open(os.path.join(outside_path(host, n["pool_path"] + "/"), "stray.raw"), "wb") as handle:
            handle.truncate(65536)
        pool_info = {"uri": host.uri, "name": n["pool"], "xml": True, "refresh": True}
        checked = run_playbook(write_play(tmp_path, "pool-info.yml", play({"name": "info", "hotiron.virt.storage_pool_info": pool_info})),
                               check=True)
        (pool,) = checked.for_task("info")[0]["result"]["pools"]
        assert [v["name"] for v in pool["volumes"]] == ["base.qcow2", "top.qcow2"], "not refreshed in check mode"
        assert "not refreshed" in json.dumps(checked.for_task("info")[0]["result"].get("warnings"))
        assert pool["type"] == "dir" and pool["state"] == "running" and pool["target_path"] == n["pool_path"]
        assert pool["capacity"] > 0 and pool["available"] > 0 and f"<name>{n['pool']}</name>" in pool["xml"]
        top = pool["volumes"][1]
        assert top["format"] == "qcow2" and top["capacity"] == 8 * 1024 * 1024 and top["path"] == n["pool_path"] + "/top.qcow2"
        assert top["backing"] == {"path": n["pool_path"] + "/base.qcow2", "format": "qcow2"}
        assert "<backingStore>" in top["xml"]
        refreshed = run_playbook(write_play(tmp_path, "pool-info.yml", play({"name": "info", "hotiron.virt.storage_pool_info": pool_info})))
        (pool,) = refreshed.for_task("info")[0]["result"]["pools"]
        assert [v["name"] for v in pool["volumes"]] == ["base.qcow2", "stray.raw", "top.qcow2"] and pool["volume_count"] == 3
    finally:
        remove_vm(conn, VM)
        conn.close()
        for path in (disk, status):
            if os.path.exists(path):
                os.unlink(path)
