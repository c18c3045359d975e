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
5. a quiesced backup (``vm_backup quiesce=always``): one more freeze in the agent's log, thawed
   after; ``backup_info`` verifies it, and its image holds a file the guest wrote just before in a
   clean ext4;
6. a NIC hot-plugged and hot-unplugged by ``vm`` (applied live, no ``restart_required``): the
   guest's agent lists it, then no longer;
7. a second vCPU asked of ``vm``: on this TCG guest it waits for the restart (``restart_required``;
   QEMU aborts when a plugged vCPU finds no free translation-cache region), the guest runs on;
8. graceful shutdown: ``vm state=stopped`` without ``force`` within ``shutdown_timeout``: shut off
   for reason *shutdown* (the guest's ACPI handling), not *destroyed*.

The guest is left as the fixture made it (snapshot metadata removed, its definition put back).
vCPUs are not plugged or unplugged live under TCG (7.): KVM guests with an OS do not boot in the lab
(``kvm_pvm``), so hot-plug into a guest OS is untested here.
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
    # the minimal fact subset (distribution, platform, ...): hardware facts are slow in a TCG guest
    path.write_text(json.dumps([{"name": name, "hosts": NAME, "gather_facts": gather, "gather_subset": ["min"],
                                 "vars": {"ansible_python_interpreter": "/usr/bin/python3"}, "tasks": tasks}]))
    run = run_playbook(str(path), inventory=[inventory])
    assert run.rc == 0, run.stdout + run.stderr
    return run


def result(run, task):
    found = run.for_task(task, NAME)
    assert found, "no result of %s" % task
    return found[-1]["result"]


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


# whole lines: the agent also logs each guest-exec's command line, this one's included
FREEZES = "journalctl -o cat --no-pager -t qemu-ga | grep -cx 'info: guest-fsfreeze called' || true"


def agent(dom, command, arguments=None, timeout=30):
    """The ``return`` of a guest agent command (JSON)."""
    import libvirt_qemu
    request = {"execute": command, **({"arguments": arguments} if arguments else {})}
    return json.loads(libvirt_qemu.qemuAgentCommand(dom, json.dumps(request), timeout, 0))["return"]


def agent_run(dom, script, timeout=120):
    """stdout of ``/bin/sh -c script`` run in the guest by its agent (guest-exec), waited for."""
    import base64
    pid = agent(dom, "guest-exec", {"path": "/bin/sh", "arg": ["-c", script], "capture-output": True})["pid"]
    deadline = time.monotonic() + timeout
    while True:
        status = agent(dom, "guest-exec-status", {"pid": pid})
        if status["exited"]:
            assert status.get("exitcode") == 0, status
            return base64.b64decode(status.get("out-data", "")).decode()
        assert time.monotonic() < deadline, "%r did not end within %d s in the guest" % (script, timeout)
        time.sleep(0.5)


def wait_freezes(dom, before, timeout=120):
    """The agent's count of freezes in the journal once it is above ``before``: journald writes the
    line logged during the freeze after the thaw, seconds later on a busy host."""
    deadline = time.monotonic() + timeout
    while True:
        count = int(agent_run(dom, FREEZES))
        if count > before or time.monotonic() > deadline:
            return count
        time.sleep(2)


def test_a_quiesced_snapshot_freezes_and_thaws_the_guest(guest, run_module):
    _host, dom, _address = guest
    before = int(agent_run(dom, FREEZES))
    # on the host: the module reads and writes the disk images, which are the host's files
    made = run_module("hotiron.virt.vm_snapshot", {"uri": "qemu:///system", "name": NAME, "snapshot": "quiesced",
                                                   "quiesce": "always"}, host="hv1")
    assert not made["failed"] and made["changed"] and made["quiesced"] is True, made.get("msg")
    # the guest saw it: its agent logged the freeze, the file systems are thawed and it runs commands again
    assert wait_freezes(dom, before) == before + 1
    assert agent(dom, "guest-fsfreeze-status") == "thawed"
    assert agent_run(dom, "echo thawed").strip() == "thawed"


def mem_total_mib(dom):
    return int(agent_run(dom, "awk '/^MemTotal:/ {print $2}' /proc/meminfo")) // 1024


def wait_mem_total(dom, predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        value = mem_total_mib(dom)
        if predicate(value) or time.monotonic() > deadline:
            return value
        time.sleep(2)


def test_the_balloon_changes_the_guests_memtotal(guest, run_module):
    host, dom, _address = guest
    full = mem_total_mib(dom)
    shrunk = run_module("hotiron.virt.vm", {"uri": host.uri, "name": NAME, "memory": "%d MiB" % BALLOON_MIB})
    assert not shrunk["failed"] and shrunk["changed"], shrunk.get("msg")
    low = wait_mem_total(dom, lambda v: v <= full - 48)
    assert low <= full - 48, (full, low)
    grown = run_module("hotiron.virt.vm", {"uri": host.uri, "name": NAME, "memory": "%d MiB" % MEMORY_MIB})
    assert not grown["failed"] and grown["changed"], grown.get("msg")
    back = wait_mem_total(dom, lambda v: v >= full - 4)
    assert back >= full - 4, (full, back)


def test_a_quiesced_backup_freezes_and_thaws_the_guest_and_holds_what_it_wrote(guest, lab, tmp_path, run_module):
    """vm_backup quiesce=always: the agent logged one more freeze and reports the file systems
    thawed; the backup verifies, and its image holds a file the guest wrote just before (not
    synced: the freeze flushed it) in a clean ext4 (no journal to replay)."""
    import libvirt
    import shutil
    import subprocess
    host, dom, _address = guest
    inside = "/var/lib/libvirt/images/osg-backups"
    outside = os.path.join(host.images_dir, "osg-backups")
    os.makedirs(outside, exist_ok=True)
    try:
        before = int(agent_run(dom, FREEZES))
        written = agent_run(dom, "cat /proc/sys/kernel/random/boot_id > /root/hotiron-backup.txt;"
                                 " cat /root/hotiron-backup.txt").strip()
        made = run_module("hotiron.virt.vm_backup", {"name": NAME, "target": inside, "quiesce": "always"}, host="hv1")
        assert not made["failed"] and made["changed"], made.get("msg")
        assert made["backup"]["quiesced"] is True and made["mode"] == "full", made["backup"]
        assert wait_freezes(dom, before) == before + 1
        assert agent(dom, "guest-fsfreeze-status") == "thawed"

        info = run_module("hotiron.virt.backup_info", {"target": inside, "vm": NAME, "verify": True}, host="hv1")
        assert not info["failed"] and info["problems"] == [], info.get("msg") or info["problems"]
        chain = info["vms"][NAME]["chains"][0]
        assert chain["verified"] and chain["complete"] and chain["backups"][0]["quiesced"] is True, chain

        image = os.path.join(outside, made["backup_dir"][len(inside) + 1:], made["backup"]["disks"][0]["file"])
        raw = str(tmp_path / "backup.raw")
        subprocess.run(["qemu-img", "convert", "-O", "raw", image, raw], check=True)
        read = subprocess.run(["debugfs", "-R", "cat /root/hotiron-backup.txt", raw], capture_output=True, text=True,
                              check=True)
        assert read.stdout.strip() == written and len(written) == 36, (read.stdout, read.stderr)
        fsck = subprocess.run(["e2fsck", "-fn", raw], capture_output=True, text=True, check=False)
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
        os.unlink(raw)
    finally:
        for checkpoint in dom.listAllCheckpoints(0):     # the backup's checkpoint (a bitmap in the disk)
            try:
                checkpoint.delete(0)
            except libvirt.libvirtError:
                checkpoint.delete(libvirt.VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY)
        shutil.rmtree(outside, ignore_errors=True)


def guest_macs(dom):
    """{MAC: interface name} as the guest's agent lists them (guest-network-get-interfaces)."""
    import libvirt
    try:
        return {nic["hardware-address"].lower(): nic["name"] for nic in agent(dom, "guest-network-get-interfaces")
                if nic.get("hardware-address")}
    except libvirt.libvirtError:
        return None         # the agent busy (a hot-plug in progress): asked again


def wait_guest_macs(dom, predicate, timeout=300):
    deadline = time.monotonic() + timeout
    while True:
        macs = guest_macs(dom)
        if (macs is not None and predicate(macs)) or time.monotonic() > deadline:
            return macs
        time.sleep(1)


def test_a_nic_plugged_and_unplugged_live_as_the_guest_sees_it(guest, lab, guest_net, run_module):
    """vm with one more NIC, then without it, on the running guest: applied live both times (no
    restart_required, no warning), and the guest's agent lists the new NIC, then no longer."""
    import os_guest
    host, dom, address = guest
    first = os_guest.guest_mac(dom.XMLDesc(0))
    extra = "52:54:00:%02x:5a:02" % lab.lab_id
    args = {"uri": host.uri, "name": NAME}

    def nic(mac):
        return {"bridge": guest_net.bridge, "model": "virtio", "mac": mac}

    plugged = run_module("hotiron.virt.vm", dict(args, interfaces=[nic(first), nic(extra)]))
    assert not plugged["failed"] and plugged["changed"], plugged.get("msg")
    assert [(c["field"], c["apply"]) for c in plugged["changes"]] == [("interfaces." + extra, "live")], plugged["changes"]
    assert plugged["restart_required"] is False and not plugged.get("warnings"), plugged
    seen = wait_guest_macs(dom, lambda macs: extra in macs)
    assert seen and extra in seen and first in seen, seen
    unplugged = run_module("hotiron.virt.vm", dict(args, interfaces=[nic(first)]))
    assert not unplugged["failed"] and unplugged["changed"], unplugged.get("msg")
    assert [(c["field"], c["apply"], c["after"]) for c in unplugged["changes"]] == [("interfaces." + extra, "live", None)]
    assert unplugged["restart_required"] is False and not unplugged.get("warnings"), unplugged
    assert extra not in dom.XMLDesc(0)
    seen = wait_guest_macs(dom, lambda macs: extra not in macs)
    assert seen and extra not in seen and first in seen, seen
    assert os_guest.http_get(address) is not None       # the first NIC carries on


def guest_cpus(dom):
    """{logical CPU id: online} as the guest's agent lists them (guest-get-vcpus)."""
    return {cpu["logical-id"]: cpu["online"] for cpu in agent(dom, "guest-get-vcpus")}


def test_a_vcpu_change_of_the_running_tcg_guest_waits_for_the_restart(guest, run_module):
    """vm vcpus=2 on the running guest (1 of at most 2): not plugged live on this TCG guest
    (vm/plan.py: QEMU aborts when the plugged vCPU's thread finds no free translation-cache
    region, as it did in CI) but written to the definition with ``restart_required``; the guest
    runs on with its one CPU.  vcpus=1 again: the definition is back, nothing pending."""
    import libvirt
    import os_guest
    host, dom, address = guest
    args = {"uri": host.uri, "name": NAME}
    assert list(guest_cpus(dom)) == [0]
    more = run_module("hotiron.virt.vm", dict(args, vcpus=2))
    assert not more["failed"] and more["changed"], more.get("msg")
    assert [(c["field"], c["apply"]) for c in more["changes"]] == [("vcpus", "restart")], more["changes"]
    assert more["restart_required"] is True and more["restart_pending"] == ["vcpus"], more
    assert dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE) == 1 and dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_CONFIG) == 2
    assert list(guest_cpus(dom)) == [0] and os_guest.http_get(address) is not None
    back = run_module("hotiron.virt.vm", dict(args, vcpus=1))
    assert not back["failed"] and back["changed"], back.get("msg")
    assert back["restart_required"] is False and "restart_pending" not in back, back
    assert dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_CONFIG) == 1 and agent_answers(dom)


def test_a_graceful_shutdown_within_shutdown_timeout(guest, run_module):
    import libvirt
    host, dom, _address = guest
    stopped = run_module("hotiron.virt.vm", {"uri": host.uri, "name": NAME, "state": "stopped", "shutdown_timeout": 600})
    assert not stopped["failed"] and stopped["changed"], stopped.get("msg")
    assert dom.state() == [libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN]
