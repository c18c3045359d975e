# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real Linux guests (tests/lab/os_guest.py) personalised by hotiron.virt.vm's ``cloud_init``.

Two linked clones of one Debian 12 template (direct kernel boot of the lab's guest kernel: the
``boot`` option, tested by the same boots) boot with their own seeds and answer HTTP on the lab's
guest bridge with their own host names, SSH host keys and machine ids.  Then: the same task
again changes nothing; check mode with another host name shows the seed's diff and changes
nothing; a saved state of one clone restored runs on with the same boot id.

Costs two TCG boots (run at the same time: 1-7 min each on a busy machine) and, on a machine
without the cache, the image build (2-10 min, mostly dpkg): ``make test-guests`` runs it apart from the rest.
"""

from __future__ import annotations

import os
import shutil
import sys
import time

import libvirt
import pytest

from storage_helpers import remove_dir_pool

import os_guest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "build", "src"))

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx  # noqa: E402
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc  # noqa: E402
from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_ops  # noqa: E402

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.guest]

POOL = "osg"
TEMPLATE = "osg-tmpl"
CLONES = ("osg-a", "osg-b")
XML_PATCH = ("<domain><features>%s</features><devices>%s<memballoon model='virtio'/></devices></domain>"
             % (os_guest.TCG_FEATURES, os_guest.AGENT_CHANNEL))


@pytest.fixture(scope="module")
def template(lab, os_image, guest_net):
    host = lab.host("hv1")
    outside = os.path.join(host.images_dir, POOL)
    os.makedirs(outside, exist_ok=True)
    os.chmod(outside, 0o755)
    base = os.path.join(outside, "debian12.qcow2")
    shutil.copyfile(os.path.join(os_image, "disk.qcow2"), base)
    os.chmod(base, 0o644)
    conn = lc.connect(host.uri)
    pool = host.dir_pool(conn, POOL)
    vm_ops.ensure(conn, {"name": TEMPLATE, "domain_type": "qemu", "machine": "pc", "memory": "192MiB", "vcpus": 1,
                         "disks": [{"pool": POOL, "volume": "debian12.qcow2"}],
                         "interfaces": [{"bridge": guest_net.bridge}], "console": True, "template": True,
                         "boot": {"kernel": os.path.join(os_image, "vmlinux"), "initrd": os.path.join(os_image, "initrd.img"),
                                  "cmdline": os_guest.KERNEL_CMDLINE},
                         "xml": XML_PATCH})
    yield {"host": host, "conn": conn, "outside": outside}
    for name in CLONES + (TEMPLATE,):
        vm_ops.ensure(conn, {"name": name, "state": "absent", "remove_volumes": True})
    remove_dir_pool(pool)
    conn.close()


def clone_args(host, name, key):
    return {"uri": host.uri, "name": name, "clone_from": TEMPLATE, "clone": "linked", "state": "running",
            "cloud_init": {"hostname": name, "users": [{"name": "ops", "ssh_authorized_keys": [key]}]}}


def test_linked_clones_boot_personalised_and_answer_with_their_own_name(lab, template, guest_net, run_module):
    host, conn = template["host"], template["conn"]
    with open(lab.key_file + ".pub", encoding="utf-8") as handle:
        key = handle.read().strip()
    started = time.monotonic()
    timings = {}
    for name in CLONES:
        result = run_module("hotiron.virt.vm", clone_args(host, name, key))
        assert result.get("changed") and not result["failed"], result
        assert any("cloud-init seed" in step for step in result["plan"]), result["plan"]
    seen = {}
    for name in CLONES:
        dom = conn.lookupByName(name)
        root = dx.parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        assert dx.get_text(root, "os/kernel").endswith("/vmlinux")
        address, info = os_guest.wait_http(guest_net, os_guest.guest_mac(dom.XMLDesc(0)), expect=name)
        seen[name] = dict(info, address=address)
        timings["boot to HTTP " + name] = time.monotonic() - started
    a, b = (seen[n] for n in CLONES)
    for key_name in ("hostname", "machine_id", "ssh_host_key", "boot_id", "address"):
        assert a[key_name] and b[key_name] and a[key_name] != b[key_name], (key_name, a, b)
    assert len(a["machine_id"]) == 32 and len(a["ssh_host_key"]) == 64

    # The same task again: nothing to do.  Check mode with a new name: the seed's diff, no change.
    again = run_module("hotiron.virt.vm", clone_args(host, CLONES[0], key))
    assert not again["changed"] and not again["failed"], again
    before = dx.normalise(conn.lookupByName(CLONES[0]).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    args = clone_args(host, CLONES[0], key)
    args["cloud_init"]["hostname"] = "osg-renamed"
    checked = run_module("hotiron.virt.vm", args, check=True, diff=True)
    assert checked["changed"] and not checked["failed"], checked
    assert '"local-hostname": "osg-a"' in checked["diff"]["before"]
    assert '"local-hostname": "osg-renamed"' in checked["diff"]["after"]
    assert dx.normalise(conn.lookupByName(CLONES[0]).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)) == before

    # A saved state restored: the same boot, answering again in seconds.
    dom = conn.lookupByName(CLONES[1])
    disk = os.path.join(template["outside"], CLONES[1] + "-vda.qcow2")
    state = os.path.join(template["outside"], CLONES[1] + ".sav")
    step = time.monotonic()
    os_guest.save_guest(dom, state, disk)
    timings["save"] = time.monotonic() - step
    assert not conn.lookupByName(CLONES[1]).isActive()
    step = time.monotonic()
    os_guest.restore_guest(conn, state, disk)
    _address, info = os_guest.wait_http(guest_net, os_guest.guest_mac(dom.XMLDesc(0)), timeout=120, expect=CLONES[1])
    timings["restore to HTTP"] = time.monotonic() - step
    assert info["boot_id"] == b["boot_id"]
    print("timings (s): " + ", ".join("%s %.1f" % item for item in timings.items()))
    os.unlink(state)
    os.unlink(state + ".disk")
