# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real Linux guest reached through its QEMU guest agent, and what the guest sees of the
collection's guest-aware operations.

The lab's Debian 12 guest (tests/lab/os_guest.py; the session's ``os_guest_saved``: booted once,
restored here in seconds) on hv1.  Then, in order:

1. a play over the VMs of hv1 from the inventory plugin (``agent_connection``,
   ``include_guest_info``, no address source) through ``hotiron.virt.qemu_ga``: facts gathered, a
   file copied in, a command run, a file fetched, and the play never had an address
   (``ansible_host`` undefined); the inventory's ``hotiron_guest`` says Debian;
2. ``vm_info`` with ``include_guest_info``: hostname, OS, the root file system, the NIC's address;
3. a quiesced snapshot (``vm_snapshot quiesce=always``): the agent's own log in the guest's journal
   shows one more freeze, and the agent runs commands again after it (thawed);
4. balloon: ``vm`` with a lower ``memory`` on the running guest: the guest's MemTotal shrinks,
   and grows back;
5. graceful shutdown: ``vm state=stopped`` without ``force`` within ``shutdown_timeout``: shut off
   for reason *shutdown* (the guest's ACPI handling), not *destroyed*.

The guest is left as the fixture made it (snapshot metadata removed, its definition put back).
vCPU hot-unplug is not tested: under TCG it crashed QEMU 7.2 (LAB-NOTES, "A real Linux guest").
"""

from __future__ import annotations

import json
import os
import time

import pytest

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.guest]

NAME = "osg-saved"           # the os_guest_saved fixture's guest
MEMORY_MIB, BALLOON_MIB = 192, 128


def agent_answers(dom):
    import libvirt
    import libvirt_qemu
    try:
        return json.loads(libvirt_qemu.qemuAgentCommand(dom, '{"execute": "guest-ping"}', 5, 0)) == {"return": {}}
    except libvirt.libvirtError:
        return False


@pytest.fixture(scope="module")
def guest(lab, os_guest_saved):
    import libvirt
    host = lab.host("hv1")
    dom, address = os_guest_saved.restore()
    inactive = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
    deadline = time.monotonic() + 120
    while not agent_answers(dom):
        assert time.monotonic() < deadline, "the restored guest's agent did not answer within 120 s"
        time.sleep(1)
    yield host, dom, address
    conn = host.connect()
    dom = conn.lookupByName(NAME)
    if dom.isActive():
        dom.destroy()
    for snap in dom.listAllSnapshots():
        snap.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
    conn.defineXML(inactive)


def agent_inventory(tmp_path, host):
    path = tmp_path / "agent.libvirt.yml"
    path.write_text(json.dumps({"plugin": "hotiron.virt.libvirt", "uris": [host.uri], "address_sources": [],
                                "agent_connection": True, "include_guest_info": True}))
    return str(path)


def play(tmp_path, run_playbook, inventory, tasks, name="through the agent", gather=False):
    path = tmp_path / ("%s.yml" % name.replace(" ", "-"))
    path.write_text(json.dumps([{"name": name, "hosts": NAME, "gather_facts": gather,
                                 "vars": {"ansible_python_interpreter": "/usr/bin/python3"}, "tasks": tasks}]))
    run = run_playbook(str(path), inventory=[inventory])
    assert run.rc == 0, run.stdout + run.stderr
    return run


def result(run, task):
    found = run.for_task(task, NAME)
    assert found, "no result of %s" % task
    return found[-1]["result"]


def guest_command(tmp_path, run_playbook, inventory, command, name="guest command"):
    run = play(tmp_path, run_playbook, inventory, [{"name": name, "ansible.builtin.shell": command,
                                                    "changed_when": False}], name=name)
    return result(run, name)["stdout"]


def test_a_play_through_the_agent_with_no_address(guest, lab, tmp_path, run_playbook):
    host, _dom, _address = guest
    inventory = agent_inventory(tmp_path, host)
    fetched = tmp_path / "fetched"
    run = play(tmp_path, run_playbook, inventory, gather=True, tasks=[
        {"name": "what the play sees", "ansible.builtin.debug": {"msg": {
            "distribution": "{{ ansible_facts.distribution }}", "hostname": "{{ ansible_facts.hostname }}",
            "connection": "{{ ansible_connection }}",
            "guest_os": "{{ hotiron_guest.os.id }}", "guest_hostname": "{{ hotiron_guest.hostname }}"}}},
        {"name": "copy in", "ansible.builtin.copy": {"content": "from the controller\n", "dest": "/root/hotiron-in.txt",
                                                     "mode": "0600"}},
        {"name": "run", "ansible.builtin.command": "cat /root/hotiron-in.txt /etc/machine-id", "changed_when": False},
        {"name": "fetch", "ansible.builtin.fetch": {"src": "/etc/machine-id", "dest": str(fetched) + "/", "flat": True}},
    ])
    seen = result(run, "what the play sees")["msg"]
    assert seen["distribution"] == "Debian" and seen["connection"] == "hotiron.virt.qemu_ga"
    # the inventory gave the play no address: only the VM's name and its hypervisor's URI
    import subprocess
    from conftest import BIN, ansible_env
    listed = json.loads(subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", inventory, "--host", NAME],
                                       capture_output=True, text=True, env=ansible_env(), check=True).stdout)
    assert "ansible_host" not in listed and "hotiron_qemu_ga_domain" in listed
    assert seen["guest_os"] == "debian" and seen["guest_hostname"] == seen["hostname"]
    assert result(run, "copy in")["changed"] is True
    lines = result(run, "run")["stdout"].splitlines()
    assert lines[0] == "from the controller"
    assert (fetched / "machine-id").read_text().strip() == lines[1] and len(lines[1]) == 32


def test_vm_info_reports_what_the_agent_knows(guest, run_module):
    host, _dom, address = guest
    found = run_module("hotiron.virt.vm_info", {"uri": host.uri, "name": NAME, "include_guest_info": True})
    assert not found["failed"], found
    facts = found["vms"][0]["guest"]
    assert facts["os"]["id"] == "debian" and facts["hostname"]
    assert any(fs["mountpoint"] == "/" and fs["fstype"] == "ext4" for fs in facts["filesystems"]), facts
    eth0 = [nic for nic in facts["interfaces"] if nic["name"] == "eth0"]
    assert eth0 and address in [a["address"] for a in eth0[0]["addresses"]], facts["interfaces"]


def test_a_quiesced_snapshot_freezes_and_thaws_the_guest(guest, tmp_path, run_playbook, run_module):
    host, _dom, _address = guest
    inventory = agent_inventory(tmp_path, host)
    journal = "journalctl -o cat --no-pager -t qemu-ga | grep -c 'guest-fsfreeze called' || true"
    before = int(guest_command(tmp_path, run_playbook, inventory, journal))
    # on the host: the module reads and writes the disk images, which are the host's files
    made = run_module("hotiron.virt.vm_snapshot", {"uri": "qemu:///system", "name": NAME, "snapshot": "quiesced",
                                                   "quiesce": "always"}, host="hv1")
    assert not made["failed"] and made["changed"] and made["quiesced"] is True, made.get("msg")
    # the guest saw it: its agent logged the freeze, and it runs commands again (thawed)
    after = int(guest_command(tmp_path, run_playbook, inventory, journal))
    assert after == before + 1
    assert guest_command(tmp_path, run_playbook, inventory, "echo thawed") == "thawed"


def mem_total_mib(tmp_path, run_playbook, inventory):
    return int(guest_command(tmp_path, run_playbook, inventory, "awk '/^MemTotal:/ {print $2}' /proc/meminfo")) // 1024


def wait_mem_total(tmp_path, run_playbook, inventory, predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        value = mem_total_mib(tmp_path, run_playbook, inventory)
        if predicate(value) or time.monotonic() > deadline:
            return value
        time.sleep(2)


def test_the_balloon_changes_the_guests_memtotal(guest, tmp_path, run_playbook, run_module):
    host, _dom, _address = guest
    inventory = agent_inventory(tmp_path, host)
    full = mem_total_mib(tmp_path, run_playbook, inventory)
    shrunk = run_module("hotiron.virt.vm", {"uri": host.uri, "name": NAME, "memory": "%d MiB" % BALLOON_MIB})
    assert not shrunk["failed"] and shrunk["changed"], shrunk.get("msg")
    low = wait_mem_total(tmp_path, run_playbook, inventory, lambda v: v <= full - 48)
    assert low <= full - 48, (full, low)
    grown = run_module("hotiron.virt.vm", {"uri": host.uri, "name": NAME, "memory": "%d MiB" % MEMORY_MIB})
    assert not grown["failed"] and grown["changed"], grown.get("msg")
    back = wait_mem_total(tmp_path, run_playbook, inventory, lambda v: v >= full - 4)
    assert back >= full - 4, (full, back)


def test_a_graceful_shutdown_within_shutdown_timeout(guest, run_module):
    import libvirt
    host, dom, _address = guest
    stopped = run_module("hotiron.virt.vm", {"uri": host.uri, "name": NAME, "state": "stopped", "shutdown_timeout": 600})
    assert not stopped["failed"] and stopped["changed"], stopped.get("msg")
    assert dom.state() == [libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN]
