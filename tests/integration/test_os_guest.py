# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real Linux guests (tests/lab/os_guest.py) personalised by hotiron.virt.vm's ``cloud_init``.

Two linked clones of one Debian 12 template (conftest's ``os_template``: direct kernel boot of the
lab's guest kernel, the ``boot`` option, tested by the same boots): the session's saved guest
``osg-saved`` (``os_guest_saved``, already booted with its own seed) and ``osg-b``, made here by
the module.  Both answer HTTP on the lab's guest bridge with their own host names, SSH host keys
and machine ids.  Then: the same task again changes nothing; check mode with another host name
shows the seed's diff and changes nothing; the saved guest restored runs on with its boot id.

Costs one TCG boot (1-7 min on a busy machine; the saved guest's boot is the session's) and, on
a machine without the cache, the image build (2-10 min, mostly dpkg).
"""

from __future__ import annotations

import os
import sys
import time

import libvirt
import pytest

import os_guest
from conftest import OS_SAVED, OS_TEMPLATE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "build", "src"))

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx  # noqa: E402

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.guest]

CLONE = "osg-b"


def clone_args(host, name, key):
    return {"uri": host.uri, "name": name, "clone_from": OS_TEMPLATE, "clone": "linked", "state": "running",
            "cloud_init": {"hostname": name, "users": [{"name": "ops", "ssh_authorized_keys": [key]}]}}


def test_linked_clones_boot_personalised_and_answer_with_their_own_name(lab, os_template, os_guest_saved, guest_net,
                                                                        run_module):
    host, conn = os_template["host"], os_template["conn"]
    with open(lab.key_file + ".pub", encoding="utf-8") as handle:
        key = handle.read().strip()
    started = time.monotonic()
    timings = {}
    result = run_module("hotiron.virt.vm", clone_args(host, CLONE, key))
    assert result.get("changed") and not result["failed"], result
    assert any("cloud-init seed" in step for step in result["plan"]), result["plan"]
    dom = conn.lookupByName(CLONE)
    root = dx.parse(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert dx.get_text(root, "os/kernel").endswith("/vmlinux")
    address, info = os_guest.wait_http(guest_net, os_guest.guest_mac(dom.XMLDesc(0)), expect=CLONE)
    timings["boot to HTTP " + CLONE] = time.monotonic() - started
    a, b = os_guest_saved.first, dict(info, address=address)
    assert a["hostname"] == OS_SAVED and b["hostname"] == CLONE
    for key_name in ("hostname", "machine_id", "ssh_host_key", "boot_id", "address"):
        assert a[key_name] and b[key_name] and a[key_name] != b[key_name], (key_name, a, b)
    assert len(b["machine_id"]) == 32 and len(b["ssh_host_key"]) == 64

    # The same task again: nothing to do.  Check mode with a new name: the seed's diff, no change.
    again = run_module("hotiron.virt.vm", clone_args(host, CLONE, key))
    assert not again["changed"] and not again["failed"], again
    before = dx.normalise(conn.lookupByName(CLONE).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    args = clone_args(host, CLONE, key)
    args["cloud_init"]["hostname"] = "osg-renamed"
    checked = run_module("hotiron.virt.vm", args, check=True, diff=True)
    assert checked["changed"] and not checked["failed"], checked
    assert '"local-hostname": "%s"' % CLONE in checked["diff"]["before"]
    assert '"local-hostname": "osg-renamed"' in checked["diff"]["after"]
    assert dx.normalise(conn.lookupByName(CLONE).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)) == before
    conn.lookupByName(CLONE).destroy()      # one real guest at a time from here on

    # The saved guest restored: the same boot (restore() checks the boot id), answering again in seconds.
    step = time.monotonic()
    _dom, saved_address = os_guest_saved.restore()
    timings["restore to HTTP"] = time.monotonic() - step
    assert os_guest.parse_id(os_guest.http_get(saved_address))["boot_id"] == a["boot_id"]
    conn.lookupByName(OS_SAVED).destroy()
    print("timings (s): " + ", ".join("%s %.1f" % item for item in timings.items()))
