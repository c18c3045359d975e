# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hotiron.virt.vm and vm_info on the lab's real libvirt + QEMU hosts, through playbooks.

A dir pool ``vmit`` on hv1 holds the lab's idle boot image and a 2 GiB qcow2 template disk
(the boot image converted); VM ``vmit-tmpl`` is the template.  Every VM made here is
called ``vmit-*`` and removed (with its volumes) at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import libvirt
import pytest

from storage_helpers import remove_dir_pool

import guests as lab_guests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "build", "src"))

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx  # noqa: E402
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc  # noqa: E402
from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_ops  # noqa: E402
from ansible_collections.hotiron.virt.plugins.module_utils.vm import host_fit as vh  # noqa: E402

pytestmark = pytest.mark.lab

POOL = "vmit"
PREFIX = "vmit"
TEMPLATE = "vmit-tmpl"
PLAYBOOKS = os.path.join(ROOT, "tests", "integration", "playbooks", "vm")


def qemu_img_info(path):
    out = subprocess.run(["qemu-img", "info", "-U", "--output", "json", path], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def remove_vm(conn, name):
    vm_ops.ensure(conn, {"name": name, "state": "absent", "remove_volumes": True})


@pytest.fixture(scope="module")
def env(lab):
    host = lab.host("hv1")
    outside = os.path.join(host.images_dir, POOL)
    os.makedirs(outside, exist_ok=True)
    lab_guests.make_image(os.path.join(outside, "boot-idle.img"), "idle")
    tmpl_disk = os.path.join(outside, "tmpl.qcow2")
    if not os.path.exists(tmpl_disk):
        subprocess.run(["qemu-img", "convert", "-q", "-O", "qcow2", os.path.join(outside, "boot-idle.img"), tmpl_disk],
                       check=True)
        subprocess.run(["qemu-img", "resize", "-q", tmpl_disk, "2G"], check=True)
        os.chmod(tmpl_disk, 0o644)
    conn = lc.connect(host.uri)
    pool = host.dir_pool(conn, POOL)
    vm_ops.ensure(conn, {"name": TEMPLATE, "memory": "32MiB", "template": True,
                         "disks": [{"pool": POOL, "volume": "tmpl.qcow2"}]})
    env = {"host": host, "conn": conn, "uri": host.uri, "pool": pool, "outside": outside,
           "vars": {"uri": host.uri, "vm_pool": POOL, "template": TEMPLATE, "vm_prefix": PREFIX,
                    "lab_id": lab.lab_id}}
    yield env
    clones = [d.name() for d in conn.listAllDomains() if d.name().startswith(PREFIX + "-") and d.name() != TEMPLATE]
    for name in clones:
        remove_vm(conn, name)
    remove_vm(conn, TEMPLATE)
    remove_dir_pool(pool)
    conn.close()


def snapshot(env):
    """Everything a vm task could change on hv1: definitions, power states, volumes."""
    conn = env["conn"]
    env["pool"].refresh()
    doms = {d.name(): (dx.normalise(d.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)), d.state()[0], d.autostart())
            for d in conn.listAllDomains()}
    return doms, sorted(env["pool"].listVolumes())


def dom(env, name):
    return env["conn"].lookupByName(name)


def task_results(run, task):
    """Result dicts of ``task``; ``failed`` set from the callback's status (a failure under
    ignore_errors is reported as status ``ignored`` with no ``failed`` key)."""
    out = []
    for record in run.for_task(task):
        result = dict(record["result"])
        result["failed"] = record["status"] in ("failed", "ignored")
        out.append(result)
    return out


def test_guests_of_every_kind_run_on_the_host_and_a_second_run_changes_nothing(env, run_playbook):
    extra = dict(env["vars"])
    run = run_playbook(os.path.join(PLAYBOOKS, "guests.yml"), extra_vars=extra, limit="hv1")
    assert run.rc == 0, run.stdout + run.stderr
    assert run.recap["hv1"]["changed"] == 3
    for kind in ("x64", "i686", "win"):
        assert dom(env, "%s-%s" % (PREFIX, kind)).state()[0] == libvirt.VIR_DOMAIN_RUNNING
    i686 = dx.parse(dom(env, PREFIX + "-i686").XMLDesc(0))
    assert i686.find("os/type").get("arch") == "i686"
    assert dx.get_text(i686, "devices/emulator").endswith("qemu-system-i386")
    win = dx.parse(dom(env, PREFIX + "-win").XMLDesc(0))
    offered = vh.hyperv_supported(env["conn"].getDomainCapabilities(None, "x86_64", None, win.get("type")))
    assert [c.tag for c in win.findall("features/hyperv/*")] == vh.windows_enlightenments(offered)[0]
    assert win.find("features/hyperv/spinlocks").get("state") == "on"
    assert win.find("clock").get("offset") == "localtime"
    assert win.find("devices/disk/target").get("bus") == "sata"
    x64 = dx.parse(dom(env, PREFIX + "-x64").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert dx.read_metadata(x64)["owner"] == "integration"
    again = run_playbook(os.path.join(PLAYBOOKS, "guests.yml"), extra_vars=extra, limit="hv1")
    assert again.rc == 0 and again.recap["hv1"]["changed"] == 0, again.stdout


def resize_vars(env, name, **kwargs):
    values = dict(env["vars"], vm_name=name, memory="48MiB", vcpus=1)
    values.update(kwargs)
    return values


@pytest.fixture
def boot_volume(env):
    def make(name):
        lab_guests.make_image(os.path.join(env["outside"], name + "-boot.img"), "idle")
        env["pool"].refresh()
    return make


def test_check_mode_changes_nothing(env, run_playbook, boot_volume):
    name = PREFIX + "-check"
    boot_volume(name)
    playbook = os.path.join(PLAYBOOKS, "resize.yml")
    before = snapshot(env)
    run = run_playbook(playbook, extra_vars=resize_vars(env, name), check=True)
    assert run.rc == 0 and run.recap["localhost"]["changed"] == 1
    (result,) = task_results(run, "The VM as specified")
    assert result["plan"] == ["define vm %s" % name, "start vm %s" % name]
    assert snapshot(env) == before

    assert run_playbook(playbook, extra_vars=resize_vars(env, name)).rc == 0
    before = snapshot(env)
    assert before[0][name][1] == libvirt.VIR_DOMAIN_RUNNING
    run = run_playbook(playbook, extra_vars=resize_vars(env, name, memory="64MiB", vcpus=2), check=True)
    assert run.rc == 0 and run.recap["localhost"]["changed"] == 1
    (result,) = task_results(run, "The VM as specified")
    # the lab's guests run under TCG (TEST_VIRT_TYPE): their vCPUs change at the next start (vm/plan.py)
    tcg = dx.parse(dom(env, name).XMLDesc(0)).get("type") == "qemu"
    assert {c["field"]: c["apply"] for c in result["changes"]} == {"memory": "live", "vcpus": "restart" if tcg else "live"}
    assert snapshot(env) == before
    assert dom(env, name).vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE) == 1


def test_live_resize_and_disk_hotplug_then_stable_with_diff(env, run_playbook, boot_volume):
    """A KVM guest where /dev/kvm works (a vCPU plugged live), else a TCG one, whose vCPUs wait
    for the restart (vm/plan.py: QEMU can abort on a vCPU hot-plug under TCG)."""
    from lab import probe_kvm
    kvm = probe_kvm()[0] == "kvm"
    name = PREFIX + "-live"
    boot_volume(name)
    playbook = os.path.join(PLAYBOOKS, "resize.yml")
    kind = {"domain_type": "kvm" if kvm else "qemu"}
    assert run_playbook(playbook, extra_vars=resize_vars(env, name, **kind)).rc == 0
    pid_before = dom(env, name).ID()
    bigger = resize_vars(env, name, memory="64MiB", vcpus=2, description="resized",
                         extra_disks=[{"pool": POOL, "volume": name + "-data.qcow2", "size": "8MiB"}], **kind)
    run = run_playbook(playbook, extra_vars=bigger, diff=True)
    assert run.rc == 0, run.stdout
    (result,) = task_results(run, "The VM as specified")
    assert result["changed"] and result["restart_required"] is (not kvm), result
    assert {c["field"]: c["apply"] for c in result["changes"]} == {
        "memory": "live", "vcpus": "live" if kvm else "restart", "description": "live", "disks.vdb": "live",
        "metadata": "live"}    # the new volume is recorded as owned by the VM
    assert 'currentMemory unit="KiB">49152<' in result["diff"]["before"]
    assert 'currentMemory unit="KiB">65536<' in result["diff"]["after"]
    assert "%s-data.qcow2" % name in result["diff"]["after"] and "-data.qcow2" not in result["diff"]["before"]
    live = dom(env, name)
    assert live.ID() == pid_before                                   # the same running guest
    assert live.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE) == (2 if kvm else 1)       # vCPU hot-plugged (KVM)
    live_xml = dx.parse(live.XMLDesc(0))
    assert [d.find("target").get("dev") for d in live_xml.findall("devices/disk")] == ["vda", "vdb"]  # disk hot-plugged
    assert dx.get_text(live_xml, "description") == "resized"
    again = run_playbook(playbook, extra_vars=bigger)
    assert again.rc == 0 and again.recap["localhost"]["changed"] == 0
    (result,) = task_results(again, "The VM as specified")
    assert result["restart_required"] is (not kvm) and result.get("restart_pending", []) == ([] if kvm else ["vcpus"])
    # beyond max_vcpus: persistent only, reported as needing a restart
    more = dict(bigger, vcpus=3)
    run = run_playbook(playbook, extra_vars=more)
    assert run.rc != 0   # max_vcpus is fixed at 2 in the playbook: vcpus 3 is refused
    (result,) = task_results(run, "The VM as specified")
    assert result["msg"].startswith("vcpus: 3 is more than max_vcpus 2")


def test_linked_and_full_clones_of_a_template(env, run_playbook):
    extra = dict(env["vars"], clone_count=2)
    run = run_playbook(os.path.join(PLAYBOOKS, "clones.yml"), extra_vars=extra)
    assert run.rc == 0, run.stdout
    assert run.recap["localhost"]["changed"] == 2
    tmpl_path = "/var/lib/libvirt/images/%s/tmpl.qcow2" % POOL
    uuids, macs = set(), set()
    for name in (PREFIX + "-l1", PREFIX + "-l2", PREFIX + "-full"):
        d = dom(env, name)
        assert d.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        root = dx.parse(d.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        uuids.add(dx.get_text(root, "uuid"))
        disk = root.find("devices/disk/source").get("file")
        assert disk == "/var/lib/libvirt/images/%s/%s-vda.%s" % (POOL, name, "qcow2")
        info = qemu_img_info(os.path.join(env["outside"], os.path.basename(disk)))
        if name.endswith("full"):
            assert "backing-filename" not in info
        else:
            assert info["backing-filename"] == tmpl_path
            assert info["actual-size"] < 1024 * 1024          # an overlay, whatever the template's size
        assert info["virtual-size"] == 2 * 1024 ** 3
        assert dx.read_metadata(root)["clone_of"] == TEMPLATE
    assert len(uuids) == 3
    tmpl = dx.parse(dom(env, TEMPLATE).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert tmpl.find("devices/disk/readonly") is not None
    assert dx.read_metadata(tmpl)["template"] == "true"
    again = run_playbook(os.path.join(PLAYBOOKS, "clones.yml"), extra_vars=extra)
    assert again.rc == 0 and again.recap["localhost"]["changed"] == 0
    # the template cannot go while clones use it
    result = run_playbook_module(run_playbook, env, {"name": TEMPLATE, "state": "absent"})
    assert result["failed"], result
    assert "is a template used by %s-full, %s-l1, %s-l2" % (PREFIX, PREFIX, PREFIX) in result["msg"]
    # vm_info sees the chain
    info = run_playbook_module(run_playbook, env, {"name": PREFIX + "-l1"}, module="hotiron.virt.vm_info")
    (vm,) = info["vms"]
    assert vm["disks"][0]["backing_chain"][0]["path"] == tmpl_path
    assert vm["state"] == "running" and vm["reason"] == "booted" and vm["clone_of"] == TEMPLATE


def test_many_clones_in_one_task_then_nothing_to_do_then_gone(env, run_playbook):
    playbook = os.path.join(PLAYBOOKS, "many.yml")
    names = ["%s-m%d" % (PREFIX, i) for i in range(1, 5)]
    extra = dict(env["vars"], clone_count=4)
    before = snapshot(env)
    run = run_playbook(playbook, extra_vars=extra, check=True)
    assert run.rc == 0 and run.recap["localhost"]["changed"] == 1, run.stdout
    assert snapshot(env) == before

    run = run_playbook(playbook, extra_vars=extra, diff=True)
    assert run.rc == 0 and run.recap["localhost"]["changed"] == 1, run.stdout
    (result,) = task_results(run, "The clones")
    assert [(r["name"], r["vm"]["state"]) for r in result["vms"]] == [(n, "running") for n in names]
    for name in names:
        root = dx.parse(dom(env, name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        assert dom(env, name).state()[0] == libvirt.VIR_DOMAIN_RUNNING
        info = qemu_img_info(os.path.join(env["outside"], name + "-vda.qcow2"))
        assert info["backing-filename"] == "/var/lib/libvirt/images/%s/tmpl.qcow2" % POOL
        assert dx.read_metadata(root)["clone_of"] == TEMPLATE
    assert "vm %s-m2 (after)" % PREFIX in run.stdout      # one diff per VM, headed with its name

    again = run_playbook(playbook, extra_vars=extra)
    assert again.rc == 0 and again.recap["localhost"]["changed"] == 0, again.stdout

    gone = run_playbook(playbook, extra_vars=dict(extra, vm_state="absent"))
    assert gone.rc == 0 and gone.recap["localhost"]["changed"] == 1, gone.stdout
    for name in names:
        assert lc.lookup_domain(env["conn"], name) is None
        assert not os.path.exists(os.path.join(env["outside"], name + "-vda.qcow2"))


def run_playbook_module(run_playbook, env, args, module="hotiron.virt.vm"):
    path = os.path.join(env["outside"], "..", "vmit-module.yml")
    args = dict(args, uri=env["uri"])
    with open(path, "w", encoding="utf-8") as handle:
        json.dump([{"hosts": "localhost", "gather_facts": False,
                    "tasks": [{"name": "one", module: args, "ignore_errors": True}]}], handle)
    run = run_playbook(path)
    os.unlink(path)
    (result,) = task_results(run, "one")
    return result


EXPECTED_FAILURES = {
    "Unknown option": "Unsupported parameters for (hotiron.virt.vm) module: vcpu",
    "Non-numeric vcpus": "argument 'vcpus' is of type",
    "Zero memory": "memory: must be greater than zero",
    "Negative disk size": "disks[0].size: expected a size",
    "Non-numeric memory": "memory: expected a size",
    "Bad name": "name: 'bad/name' is not a usable VM name",
    "Unknown pool": "disks[0].pool: no storage pool called 'nopool'",
    "Unknown network": "interfaces[0].network: no network called 'nonet'",
    "Unknown template": "clone_from: no VM called 'no-such-template'",
    "Machine the host cannot run": "machine: this host cannot emulate machine 'virt'",
    "Above the per-guest limit": "vcpus: 9 vCPUs is above the per-guest limit of 8",
    "Above the host": "memory: 64GiB is more than the host's",
    "Uefi without firmware": "firmware: this host has no UEFI firmware",
    "Unreachable host": "Failed to connect to libvirt at qemu+tcp://127.77.",
    "Running template": "state: vm '%s' is a template: templates cannot be started" % TEMPLATE,
    "Half-failed create": "Failed to start vm bad1",
}


def test_bad_input_fails_cleanly_and_a_half_failed_create_leaves_nothing(env, run_playbook):
    before = snapshot(env)
    run = run_playbook(os.path.join(PLAYBOOKS, "bad_input.yml"), extra_vars=dict(env["vars"]))
    assert run.rc == 0, run.stdout   # every failure is ignored; each is checked below
    for task, expected in EXPECTED_FAILURES.items():
        (result,) = task_results(run, task)
        assert result.get("failed"), (task, result)
        assert expected in result["msg"], (task, result["msg"])
        assert "Unexpected error" not in result["msg"] and "Traceback" not in json.dumps(result), task
    half = task_results(run, "Half-failed create")[0]
    assert "everything this task created was removed again" in half["msg"]
    assert snapshot(env) == before
    assert lc.lookup_domain(env["conn"], "bad1") is None
    assert not os.path.exists(os.path.join(env["outside"], "bad1-new.qcow2"))


def test_stop_restart_and_remove_with_volumes(env, run_playbook, boot_volume):
    name = PREFIX + "-power"
    conn = env["conn"]
    params = {"name": name, "memory": "32MiB", "clone_from": "%s/boot-idle.img" % POOL, "clone": "full",
              "state": "running"}
    assert vm_ops.ensure(conn, params)[0]
    # the boot sector does not answer ACPI: a graceful stop times out, force powers it off
    with pytest.raises(lc.VirtError, match="did not shut down within 1s"):
        vm_ops.ensure(conn, dict(params, state="stopped", shutdown_timeout=1))
    changed, result, _diff = vm_ops.ensure(conn, dict(params, state="stopped", shutdown_timeout=1, force=True))
    assert changed and dom(env, name).state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
    changed, result, _diff = vm_ops.ensure(conn, dict(params, state="paused"))
    assert changed and dom(env, name).state()[0] == libvirt.VIR_DOMAIN_PAUSED
    changed, result, _diff = vm_ops.ensure(conn, dict(params, state="restarted", shutdown_timeout=0, force=True))
    assert changed and dom(env, name).state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert os.path.exists(os.path.join(env["outside"], name + "-vda.raw"))
    changed, result, _diff = vm_ops.ensure(conn, dict(params, state="absent", remove_volumes=True))
    assert changed and lc.lookup_domain(conn, name) is None
    assert not os.path.exists(os.path.join(env["outside"], name + "-vda.raw"))


def test_xml_escape_hatch_is_idempotent_on_real_libvirt(env):
    """libvirt expands what the xml option adds (a serial port gets its target type and model):
    the second run must recognise the device, not add it again."""
    conn, name = env["conn"], PREFIX + "-xml"
    spec = {"name": name, "memory": "32MiB", "state": "running",
            "disks": [{"pool": POOL, "volume": "boot-idle.img"}],
            "xml": "<domain><devices><serial type='file'><source path='/var/lib/libvirt/qemu/%s-com2.log'/>"
                   "<target port='1'/></serial></devices></domain>" % name}
    try:
        assert vm_ops.ensure(conn, spec)[0] is True
        assert vm_ops.ensure(conn, spec)[0] is False
        root = dx.parse(conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        assert [s.find("target").get("port") for s in root.findall("devices/serial")] == ["0", "1"]
        assert conn.lookupByName(name).isActive()
    finally:
        remove_vm(conn, name)
