# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A mixed resource group for real: a Debian 12 host (a lab host: libvirt 9.0, QEMU 7.2) and a
Debian 13 host (a fresh trixie host with the hypervisor role applied: libvirt 11.3, QEMU 10.0).

In ``make test-platforms`` only (``make platform-hosts``, FRESH_SUITE=trixie): it converges the
role on the fresh host first (apt installs libvirt and QEMU from deb.debian.org).

- old -> new: a running boot-sector TCG guest live-migrates with ``hotiron.virt.vm_migrate``
  (its disk copied with it), keeping its machine type (pc-i440fx-7.2, which QEMU 10 still has);
- new -> old of a VM that uses what only the newer host offers is refused before it starts, the
  message naming what the older host lacks: a machine type (``pc-q35-10.0``), a CPU model
  (``Westmere-v1``: libvirt 11 offers the versioned models), or the features a ``host-model``
  CPU was expanded to under QEMU 10's TCG; the VM keeps running where it was;
- new -> old of the VM that came over, which uses what both offer, works;
- ``host_maintenance`` of the newer host refuses (nothing moved) while it runs a VM only it can
  run, and moves the other VM to the older host once that one is gone.

How the hosts see each other: both listen on their own loopback address (``qemu+tcp://ADDRESS/
system``, no authentication: the lab's hosts and the role's molecule scenario say so) and share
the machine's network namespace; QEMU's migration stream goes to ``tcp://ADDRESS`` of the
destination (``migration_address``), whose port range libvirt picks; local disks are copied
with the VM (NBD), into a dir pool ``mixed`` both hosts have at the same path.

Lab ``LAB_ID`` (one host) and fresh instance ``FRESH_ID`` (default 237); both go down at the end
unless ``LAB_KEEP=1``; with ``LAB_KEEP=1`` a fresh host already converged is used again.
"""

from __future__ import annotations

import os

import libvirt
import pytest

import fresh_host
import guests as lab_guests
from lab import Lab, remove_guests

pytestmark = pytest.mark.lab

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONVERGE = os.path.join(ROOT, "extensions", "molecule", "default", "converge.yml")
CONTROLLER_INVENTORY = os.path.join(ROOT, "extensions", "molecule", "inventory", "controller.yml")
POOL = "mixed"
POOL_DIR = "/var/lib/libvirt/images/mixed"     # the same path on both hosts
KEEP = os.environ.get("LAB_KEEP") == "1"


def answers_as_debian13(host):
    try:
        conn = libvirt.open(host.uri)
    except libvirt.libvirtError:
        return False
    try:
        return conn.getLibVersion() // 1000000 >= 11 and conn.getVersion() // 1000000 >= 10
    finally:
        conn.close()


def ensure_pool(conn):
    """The dir pool ``mixed`` at POOL_DIR, built and started."""
    try:
        pool = conn.storagePoolLookupByName(POOL)
    except libvirt.libvirtError:
        pool = conn.storagePoolDefineXML("<pool type='dir'><name>%s</name><target><path>%s</path></target></pool>"
                                         % (POOL, POOL_DIR), 0)
        pool.build(0)
    if not pool.isActive():
        pool.create(0)
    pool.refresh(0)
    return pool


@pytest.fixture(scope="module")
def group(run_playbook):
    """``(old, new)``: the lab's hv1 (Debian 12) and a fresh Debian 13 hypervisor."""
    if fresh_host.SUITE != "trixie":
        pytest.skip("a mixed group needs a Debian 13 host: FRESH_SUITE=trixie (make platform-hosts)")
    lab = Lab(int(os.environ.get("LAB_ID", "0")))
    lab.up(1)
    fresh = fresh_host.FreshInstance(int(os.environ.get("FRESH_ID", "237")))
    if not (KEEP and fresh.hosts and fresh.hosts[0].is_up() and answers_as_debian13(fresh.hosts[0])):
        fresh.down()
        fresh.up(1)
        run = run_playbook(CONVERGE, inventory=[CONTROLLER_INVENTORY, fresh.inventory_path], timeout=1500)
        assert run.rc == 0, run.stdout[-3000:]
    old, new = lab.host("hv1"), fresh.hosts[0]
    conns = [libvirt.open(old.uri), libvirt.open(new.uri)]
    for conn in conns:
        ensure_pool(conn)
    assert (conns[0].getLibVersion() // 1000000, conns[0].getVersion() // 1000000) == (9, 7)
    assert (conns[1].getLibVersion() // 1000000, conns[1].getVersion() // 1000000) == (11, 10)
    yield old, new
    for conn in conns:
        conn.close()
    if not KEEP:
        fresh.down()
        lab.down()


class Guests:
    """Boot-sector TCG guests made on either host; all removed at the end, wherever they are."""

    def __init__(self, hosts):
        self.hosts = hosts
        self.names = []

    def start(self, host, machine, cpu=""):
        name = "mix%d-%d" % (len(self.names) + 1, os.getpid())
        self.names.append(name)
        conn = libvirt.open(host.uri)
        pool = ensure_pool(conn)
        lab_guests.make_image(os.path.join(host.images_dir, "mixed", name + ".img"), "idle")
        pool.refresh(0)
        xml = lab_guests.domain_xml(name, "%s/%s.img" % (POOL_DIR, name), "qemu", memory_mib=32, machine=machine)
        dom = conn.defineXML(xml.replace("</vcpu>", "</vcpu>" + cpu))
        dom.create()
        return name

    def clean(self):
        for host in self.hosts:
            conn = libvirt.open(host.uri)
            remove_guests(conn, self.names)
            ensure_pool(conn)
            for name in self.names:
                path = os.path.join(host.images_dir, "mixed", name + ".img")
                if os.path.exists(path):
                    os.unlink(path)
            conn.close()


@pytest.fixture
def guests(group):
    made = Guests(group)
    yield made
    made.clean()


def migrate(run_module, src, dest, name):
    return run_module("hotiron.virt.vm_migrate", {
        "uri": src.uri, "dest_uri": dest.uri, "name": name, "migration_address": f"tcp://{dest.address}"})


def running_on(host, name):
    conn = libvirt.open(host.uri)
    try:
        return conn.lookupByName(name).isActive() == 1
    except libvirt.libvirtError:
        return False
    finally:
        conn.close()


def machine_of(host, name):
    conn = libvirt.open(host.uri)
    try:
        return conn.lookupByName(name).XMLDesc(0).split("machine='", 1)[1].split("'", 1)[0]
    finally:
        conn.close()


# What both offer: QEMU 7.2's machine type (QEMU 10 keeps it) and a CPU model both run under TCG.
BOTH_CPU = "<cpu mode='custom' match='exact'><model fallback='forbid'>Westmere</model></cpu>"
# A versioned model libvirt 11 offers (and QEMU 10 runs under TCG) that libvirt 9 does not know.
NEWER_CPU = "<cpu mode='custom' match='exact'><model fallback='forbid'>Westmere-v1</model></cpu>"


def test_old_to_new_live_and_back_with_what_both_offer(group, guests, run_module):
    old, new = group
    name = guests.start(old, "pc", BOTH_CPU)
    assert machine_of(old, name) == "pc-i440fx-7.2"
    there = migrate(run_module, old, new, name)
    assert not there["failed"], there
    assert there["live"] and there["host"] == new.name and there["disks"][0]["mode"] == "copy"
    assert running_on(new, name) and not running_on(old, name)
    assert machine_of(new, name) == "pc-i440fx-7.2"       # QEMU 10 runs it as QEMU 7.2 defined it
    back = migrate(run_module, new, old, name)
    assert not back["failed"], back
    assert back["host"] == old.name and running_on(old, name) and not running_on(new, name)


@pytest.mark.parametrize("machine, cpu, lacks", [
    ("q35", "", "hv1 lacks machine type pc-q35-10.0 (its newest pc-q35 is pc-q35-7.2) of {name}: an older QEMU"),
    ("pc-i440fx-7.2", NEWER_CPU,
     "hv1 lacks CPU model Westmere-v1 (its libvirt and QEMU do not offer it) of {name}"),
    ("pc-i440fx-7.2", "<cpu mode='host-model'/>", "hv1 lacks CPU features "),
], ids=["machine-type", "cpu-model", "host-model-features"])
def test_new_to_old_refused_before_it_starts(group, guests, run_module, machine, cpu, lacks):
    old, new = group
    name = guests.start(new, machine, cpu)
    result = migrate(run_module, new, old, name)
    assert result["failed"], result
    assert result["msg"].startswith(f"Cannot migrate vm {name} to {old.uri}: "), result["msg"]
    assert lacks.format(name=name) in result["msg"], result["msg"]
    assert running_on(new, name) and not running_on(old, name)


def test_maintenance_of_the_newer_host_never_places_a_vm_on_the_older_one_that_cannot_run_it(
        group, guests, run_module):
    """host_maintenance evacuating the Debian 13 host: a VM with a CPU model only it offers has
    nowhere to go, so nothing moves; without that VM the other one moves to the Debian 12 host."""
    old, new = group
    both = guests.start(new, "pc-i440fx-7.2", BOTH_CPU)
    newer = guests.start(new, "pc-i440fx-7.2", NEWER_CPU)
    params = {"uri": new.uri, "hosts": {old.name: old.uri, new.name: new.uri},
              "migration_addresses": {old.name: f"tcp://{old.address}", new.name: f"tcp://{new.address}"}}
    try:
        refused = run_module("hotiron.virt.host_maintenance", params)
        assert refused["failed"], refused
        assert f"hv1 lacks CPU model Westmere-v1 (its libvirt and QEMU do not offer it) of {newer}" in refused["msg"]
        assert "nothing was moved" in refused["msg"]
        assert running_on(new, both) and running_on(new, newer) and not running_on(old, both)
        conn = libvirt.open(new.uri)
        conn.lookupByName(newer).destroy()
        conn.close()
        done = run_module("hotiron.virt.host_maintenance", params)
        assert not done["failed"], done
        assert [(m["vm"], m["to"]) for m in done["moves"]] == [(both, old.name)]
        assert running_on(old, both) and not running_on(new, both)
    finally:
        back = run_module("hotiron.virt.host_maintenance", {**params, "state": "active"})
        assert not back["failed"], back
