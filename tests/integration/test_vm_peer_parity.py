# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What users of community.libvirt rely on, on the lab's real libvirt + QEMU (issue 23): a whole
domain XML as the VM, the domain XML from vm_info, shutdown without waiting, the undefine choices
(remove every disk, keep the UEFI variables), and the defects found on the way (a machine alias in
``xml`` never idempotent, a name alone creating a VM or a network).

Every VM here is called ``peer-*-<pid>`` on hv1, its disks in the dir pool ``peer``; all go at the end.
Guests boot the lab's idle boot sector, which ignores ACPI: a shutdown request leaves it running.
"""

from __future__ import annotations

import os
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

pytestmark = pytest.mark.lab

POOL = "peer"
INSIDE = "/var/lib/libvirt/images/" + POOL
NVRAM_DIR = "/var/lib/libvirt/qemu/nvram"


@pytest.fixture(scope="module")
def env(lab):
    host = lab.host("hv1")
    outside = os.path.join(host.images_dir, POOL)
    os.makedirs(outside, exist_ok=True)
    conn = lc.connect(host.uri)
    pool = host.dir_pool(conn, POOL)
    yield {"host": host, "conn": conn, "uri": host.uri, "pool": pool, "outside": outside, "virt": lab.virt_type}
    for dom in conn.listAllDomains():
        if dom.name().startswith("peer-"):
            if dom.isActive():
                dom.destroy()
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                              | libvirt.VIR_DOMAIN_UNDEFINE_KEEP_NVRAM)
    host.run("rm -f %s/peer-*" % NVRAM_DIR, check=False)
    remove_dir_pool(pool)
    conn.close()


def name_of(kind):
    return "peer-%s-%d" % (kind, os.getpid())


def image(env, name):
    """A bootable idle disk in pool ``peer``; its path as the host sees it."""
    lab_guests.make_image(os.path.join(env["outside"], name + ".img"), "idle")
    env["pool"].refresh()
    return "%s/%s.img" % (INSIDE, name)


def stored(env, name):
    return dx.parse(env["conn"].lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))


def ok(result):
    assert not result.get("failed"), result
    return result


def test_a_name_alone_creates_no_vm_and_no_network(env, run_module):
    vm = run_module("hotiron.virt.vm", {"uri": env["uri"], "name": name_of("nope"), "state": "running"})
    assert vm["failed"] and "nothing to create it from: give disks" in vm["msg"], vm
    net_name = "peernet%d" % (os.getpid() % 10000)
    net = run_module("hotiron.virt.network", {"uri": env["uri"], "name": net_name, "state": "active"})
    assert net["failed"] and "does not exist; to create it give mode" in net["msg"], net
    assert lc.lookup_domain(env["conn"], name_of("nope")) is None and lc.lookup_network(env["conn"], net_name) is None


def test_a_machine_alias_in_xml_is_idempotent(env):
    name = name_of("alias")
    spec = {"name": name, "memory": "32MiB", "disks": [{"path": image(env, name)}],
            "xml": "<domain><os><type machine='pc'>hvm</type></os></domain>"}
    assert vm_ops.ensure(env["conn"], spec)[0]
    assert stored(env, name).find("os/type").get("machine").startswith("pc-i440fx-")
    changed, result, _diff = vm_ops.ensure(env["conn"], spec)
    assert not changed and result["plan"] == []


def test_a_full_domain_xml_is_the_vm(env, run_module):
    """A domain XML as a user or virt-manager writes it (machine 'pc', no UUID, no MAC) defines and
    starts the VM; a re-run and the XML vm_info dumps are no change; a changed XML redefines it
    keeping UUID, MAC and the collection's metadata; a typed option beside it is refused."""
    name = name_of("full")
    xml = lab_guests.domain_xml(name, image(env, name), env["virt"], memory_mib=32)
    args = {"uri": env["uri"], "name": name, "xml": xml, "xml_mode": "full", "owner": "team-a", "state": "running"}
    made = ok(run_module("hotiron.virt.vm", args))
    assert made["changed"] and made["plan"] == ["define vm %s from xml" % name, "start vm %s" % name]
    first = stored(env, name)
    uuid = dx.get_text(first, "uuid")
    assert dx.read_metadata(first) == {"owner": "team-a"}
    for check in (True, False):     # check mode predicts it: what libvirt added is no difference
        changed, result, _diff = vm_ops.ensure(env["conn"], dict(args, uri=None), check_mode=check)
        assert not changed and result["plan"] == [], check
    info = ok(run_module("hotiron.virt.vm_info", {"uri": env["uri"], "name": name, "include_xml": True}))
    (vm,) = info["vms"]
    assert "<uuid>%s</uuid>" % uuid in vm["xml"] and "<name>%s</name>" % name in vm["live_xml"]
    back = ok(run_module("hotiron.virt.vm", dict(args, xml=vm["xml"]), check=True, diff=True))
    assert not back["changed"], back
    bigger = xml.replace("<memory unit='MiB'>32</memory>", "<memory unit='MiB'>48</memory>")
    planned = ok(run_module("hotiron.virt.vm", dict(args, xml=bigger), check=True, diff=True))
    assert planned["changed"] and planned["plan"] == ["redefine vm %s from xml" % name]
    assert "49152" in planned["diff"]["after"] and "49152" not in planned["diff"]["before"]
    assert dx.memory_kib(stored(env, name), "memory") == 32768            # check mode changed nothing
    changed, result, _diff = vm_ops.ensure(env["conn"], dict(args, uri=None, xml=bigger))
    assert changed and result["restart_required"] and "max_memory" in result["restart_pending"]
    after = stored(env, name)
    assert dx.get_text(after, "uuid") == uuid and dx.read_metadata(after) == {"owner": "team-a"}
    assert dx.memory_kib(after, "memory") == 49152
    refused = run_module("hotiron.virt.vm", dict(args, vcpus=2))
    assert refused["failed"] and refused["msg"].startswith("vcpus: cannot be combined with xml_mode full"), refused


def test_full_xml_keeps_the_mac_addresses(env):
    name = name_of("mac")
    conn = env["conn"]
    net = conn.networkDefineXML("<network><name>%s</name><bridge name='pv%d'/></network>" % (name, os.getpid() % 100000))
    try:
        xml = lab_guests.domain_xml(name, image(env, name), env["virt"], memory_mib=32).replace(
            "</devices>", "<interface type='network'><source network='%s'/><model type='virtio'/></interface></devices>" % name)
        spec = {"name": name, "xml": xml, "xml_mode": "full"}
        assert vm_ops.ensure(conn, spec)[0]
        mac = stored(env, name).find("devices/interface/mac").get("address")
        changed, _result, _diff = vm_ops.ensure(conn, dict(spec, xml=xml.replace("<vcpu>1</vcpu>", "<vcpu>2</vcpu>")))
        assert changed and stored(env, name).find("devices/interface/mac").get("address") == mac
        assert not vm_ops.ensure(conn, dict(spec, xml=xml.replace("<vcpu>1</vcpu>", "<vcpu>2</vcpu>")))[0]
    finally:
        vm_ops.ensure(conn, {"name": name, "state": "absent"})
        net.undefine()


def test_stop_without_waiting_returns_at_once(env, run_module):
    name = name_of("nowait")
    assert vm_ops.ensure(env["conn"], {"name": name, "memory": "32MiB", "disks": [{"path": image(env, name)}],
                                       "state": "running"})[0]
    args = {"uri": env["uri"], "name": name, "state": "stopped", "wait": False}
    planned = ok(run_module("hotiron.virt.vm", args, check=True))
    assert planned["changed"] and planned["plan"] == ["request the shutdown of vm %s (not waiting)" % name]
    done = ok(run_module("hotiron.virt.vm", args))
    # the idle boot sector ignores ACPI: the VM still runs, the task did not wait for it
    assert done["changed"] and done["vm"]["state"] == "shutting down", done
    assert env["conn"].lookupByName(name).isActive()
    refused = run_module("hotiron.virt.vm", dict(args, force=True))
    assert refused["failed"] and refused["msg"].startswith("force: needs waiting"), refused


def test_remove_disks_and_keep_nvram(env):
    conn, host = env["conn"], env["host"]
    a, b, c = name_of("rma"), name_of("rmb"), name_of("rmc")
    shared = image(env, name_of("shared"))

    def uefi(name):
        path = "%s/%s_VARS.fd" % (NVRAM_DIR, name)
        host.run(["sh", "-c", "mkdir -p %s && head -c 4096 /dev/zero > %s" % (NVRAM_DIR, path)])
        return ("<domain><os><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>"
                "<nvram>%s</nvram></os></domain>" % path), path

    xml_a, nvram_a = uefi(a)
    xml_c, nvram_c = uefi(c)
    own = image(env, a)
    vm_ops.ensure(conn, {"name": a, "memory": "32MiB", "disks": [{"path": own}, {"path": shared}], "xml": xml_a})
    vm_ops.ensure(conn, {"name": b, "memory": "32MiB", "disks": [{"path": shared}]})
    vm_ops.ensure(conn, {"name": c, "memory": "32MiB", "disks": [], "xml": xml_c})
    with pytest.raises(lc.VirtError, match="^remove_disks: disk file %s of vm %s is used by %s" % (shared, a, b)):
        vm_ops.ensure(conn, {"name": a, "state": "absent", "remove_disks": True, "keep_nvram": True})
    assert lc.lookup_domain(conn, a) is not None and os.path.exists(os.path.join(env["outside"], a + ".img"))
    assert vm_ops.ensure(conn, {"name": b, "state": "absent"})[0]
    params = {"name": a, "state": "absent", "remove_disks": True, "keep_nvram": True}
    changed, planned, diff = vm_ops.ensure(conn, params, check_mode=True)
    assert changed and planned["plan"] == ["undefine vm %s, keeping its UEFI variables file %s" % (a, nvram_a),
                                           "delete disk vda (%s)" % own, "delete disk vdb (%s)" % shared]
    assert "disk file %s\n" % own in diff["before"] and lc.lookup_domain(conn, a) is not None
    changed, done, _diff = vm_ops.ensure(conn, params)
    assert changed and done["plan"] == planned["plan"] and lc.lookup_domain(conn, a) is None
    assert not os.path.exists(os.path.join(env["outside"], a + ".img"))
    assert not os.path.exists(os.path.join(env["outside"], name_of("shared") + ".img"))
    assert host.run(["test", "-e", nvram_a], check=False).returncode == 0              # kept
    changed, done, _diff = vm_ops.ensure(conn, {"name": c, "state": "absent"})
    assert done["plan"] == ["undefine vm %s, deleting its UEFI variables file %s" % (c, nvram_c)]
    assert host.run(["test", "-e", nvram_c], check=False).returncode != 0              # deleted by default
