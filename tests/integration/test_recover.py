# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live recovery for real on the lab: crashed VMs, power cuts, hung hosts, failed fencing.

Guests are the lab's boot-sector guests, made HA with hotiron.virt.vms as a user would.  QEMU is
killed by its pid (from the host's own pidfile); hosts fail through the lab (power cut, hung
libvirtd, libvirtd killed); fencing is Debian's fence_ipmilan driving each host's lab BMC.  While
a recovery runs, a watcher lists the running VMs of every host five times a second: no VM may
ever be seen on two hosts at once.  Check mode runs before each real pass and must leave every
reachable host as it was.
"""

from __future__ import annotations

import json
import threading
import time

import failures  # tests/lab
import libvirt
import pytest
from host_snapshot import differences, snapshot
from recovery_helpers import DoubleWatch, kill_qemu, rulebook, running_on, state_of, wait_until

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOST_TIMEOUT = 3  # short, to keep the suite fast; the module's default (6 s) is measured by the benchmark


@pytest.fixture
def recovery(lab, tmp_path, run_module, lab_guest):
    """``(ha_guest, recover)``: make HA guests, run recover passes against the whole lab."""

    def ha_guest(host, priority=0, shared=True, vcpus=1, limit=None, ha=True):
        guest = lab_guest(host, "idle", shared=shared, vcpus=vcpus)
        entry = {"name": guest.name, "ha": ha, "ha_priority": priority}
        if limit:
            entry["restart_limit"] = limit
        result = run_module("hotiron.virt.vms", {"uri": lab.host(host).uri, "vms": [entry]})
        assert not result.get("failed"), result
        return guest

    def recover(check=False, **extra):
        args = {"hosts": {h.name: h.uri for h in lab.hosts},
                "fencing": [dict(h.bmc.fence_vars(), host=h.name, power_timeout=5) for h in lab.hosts],
                "state_file": str(tmp_path / "recover.json"), "shared_paths": [lab.shared_path],
                "host_timeout": HOST_TIMEOUT, "connect_timeout": 2}
        args.update(extra)
        return run_module("hotiron.virt.recover", args, check=check)

    yield ha_guest, recover
    for host in lab.hosts:      # leave the session's lab whole for the other tests
        lab.bmc_start(host.name)
        state = failures.libvirtd_state(host)
        if state is None:
            lab.revive(host.name)
        elif state == "hung":
            lab.unhang(host.name)
        elif state == "dead":
            lab.restart_libvirtd(host.name)


def decisions(result, action):
    return [d for d in result["decisions"] if d["action"] == action]


def test_crashed_ha_vm_restarts_until_its_limit_and_nothing_else_does(lab, recovery):
    ha_guest, recover = recovery
    hv1 = lab.host("hv1")
    ha = ha_guest("hv1", priority=10, limit={"count": 2, "window": 600})
    plain = ha_guest("hv1", ha=False)
    stopped = ha_guest("hv1")
    assert recover()["changed"] is False  # everything is up: nothing to do

    kill_qemu(hv1, ha.name)
    kill_qemu(hv1, plain.name)
    hv1.connect().lookupByName(stopped.name).destroy()  # an operator's doing
    assert state_of(hv1, ha.name)[1] == libvirt.VIR_DOMAIN_SHUTOFF_CRASHED

    before = snapshot(lab)
    planned = recover(check=True)
    assert differences(before, snapshot(lab)) == []
    assert planned["changed"] and [d["vm"] for d in decisions(planned, "restart")] == [ha.name]

    done = recover()
    assert done["changed"] and done["restarted"] == [ha.name], done
    assert running_on(lab, ha.name) == ["hv1"]
    assert state_of(hv1, plain.name)[0] == state_of(hv1, stopped.name)[0] == libvirt.VIR_DOMAIN_SHUTOFF
    assert recover()["changed"] is False

    # A crash loop: the second restart is the last one the limit allows.
    kill_qemu(hv1, ha.name)
    assert recover()["restarted"] == [ha.name]
    kill_qemu(hv1, ha.name)
    looped = recover()
    assert looped["restarted"] == [] and looped["changed"] is False
    (limit,) = decisions(looped, "limit")
    assert limit["vm"] == ha.name and "crash loop: restarted 2 times" in limit["reason"]
    assert limit in looped["attention"]
    assert state_of(hv1, ha.name)[0] == libvirt.VIR_DOMAIN_SHUTOFF


def test_power_cut_host_vms_run_elsewhere_once_by_priority_and_return_cleanly(lab, recovery, lab_guest):
    ha_guest, recover = recovery
    # hv2 is full for 2-vCPU guests (2 CPUs, ratio 1), hv1 takes one: the priority decides which.
    lab_guest("hv2", "idle", vcpus=2)
    high = ha_guest("hv3", priority=900, vcpus=2)
    low = ha_guest("hv3", priority=100, vcpus=2)
    local = ha_guest("hv3", priority=500, shared=False)
    limits = {"cpu_allocation_ratio": 1.0}
    assert recover(**limits)["changed"] is False  # remembers hv3's HA VMs and their definitions

    lab.kill("hv3")
    noticed = recover(wait=False, **limits)  # a pass from cron: hv3 is unreachable, not yet for long
    assert [d["action"] for d in decisions(noticed, "wait")] == ["wait"] and noticed["changed"] is False
    time.sleep(HOST_TIMEOUT)  # the outage must last host_timeout before check mode plans a fence
    before = snapshot(lab)
    planned = recover(check=True, wait=False, **limits)
    assert differences(before, snapshot(lab)) == []
    assert [d["host"] for d in decisions(planned, "fence")] == ["hv3"]
    assert [(d["vm"], d["target"]) for d in decisions(planned, "failover")] == [(high.name, "hv1")]

    with DoubleWatch(lab) as watch:
        done = recover(**limits)
    assert watch.samples > 5 and watch.seen_twice == []
    assert done["hosts"]["hv3"]["state"] == "fenced", done
    (fence,) = done["fenced"]
    assert fence["ok"] and fence["power"] == "off" and fence["agent"] == "fence_ipmilan"
    assert done["recovered"] == [{"vm": high.name, "from": "hv3", "to": "hv1"}]
    assert [d["vm"] for d in decisions(done, "unplaced")] == [low.name]
    assert [d["vm"] for d in decisions(done, "local_storage")] == [local.name]
    assert running_on(lab, high.name) == ["hv1"] and running_on(lab, low.name) == []
    password = lab.host("hv3").bmc.fence_vars()["password"]
    assert password not in str(done)
    assert recover(**limits)["changed"] is False  # fenced and handled: nothing more to do

    # Back on: the stale definition of what runs elsewhere goes, what went nowhere starts there.
    lab.revive("hv3")
    with DoubleWatch(lab) as watch:
        back = recover(**limits)
    assert watch.seen_twice == []
    assert [d["vm"] for d in decisions(back, "clean_stale")] == [high.name]
    assert sorted(d["vm"] for d in decisions(back, "start_returned")) == sorted([low.name, local.name])
    assert state_of(lab.host("hv3"), high.name) is None
    assert running_on(lab, high.name) == ["hv1"]
    assert running_on(lab, low.name) == running_on(lab, local.name) == ["hv3"]
    assert recover(**limits)["changed"] is False


@pytest.mark.parametrize("failure", ["hang", "kill_libvirtd"])
def test_unmanageable_host_is_fenced_before_its_vm_runs_elsewhere(lab, recovery, failure):
    ha_guest, recover = recovery
    guest = ha_guest("hv2", priority=1)
    recover()
    getattr(lab, failure)("hv2")  # the guest keeps running on hv2, out of reach
    before = snapshot(lab, skip=("hv2",))
    planned = recover(check=True)
    assert differences(before, snapshot(lab, skip=("hv2",))) == []
    assert [d["action"] for d in planned["decisions"]] == ["wait"]  # check mode does not wait
    with DoubleWatch(lab, skip=("hv2",)) as watch:
        started = time.monotonic()
        done = recover()
        took = time.monotonic() - started
    print("\n%s: recovered in %.1f s (host_timeout %d s, fencing included)" % (failure, took, HOST_TIMEOUT))
    assert watch.seen_twice == []
    assert not lab.host("hv2").is_up()  # fenced: powered off, its guest with it
    assert done["recovered"] == [{"vm": guest.name, "from": "hv2", "to": done["recovered"][0]["to"]}]
    assert running_on(lab, guest.name) == [done["recovered"][0]["to"]]


def _stall(lab, name, pattern):
    """A thread that stops and continues ``name``'s libvirtd by ``pattern`` (seconds stopped,
    seconds running, ...), as a host starved under load answers: late, in bursts."""

    def run():
        for index, seconds in enumerate(pattern):
            (lab.hang if index % 2 == 0 else lab.unhang)(name)
            time.sleep(seconds)
        if failures.libvirtd_state(lab.host(name)) == "hung":
            lab.unhang(name)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("pattern", [
    pytest.param((4.0,), id="libvirtd-stopped-4s"),                 # silent, then back before host_timeout
    pytest.param((0.8, 0.3) * 8, id="libvirtd-starved"),            # answers late, in bursts, for 9 s
])
def test_a_host_merely_slow_is_not_fenced(lab, recovery, pattern):
    """Issue #25: a host whose libvirtd is stalled for less than host_timeout (the module's
    default, 6 s), or starved (stopped and running by turns), while a pass runs - the pass told
    by the event source that it was lost as the stall began - is not fenced and nothing of it
    starts elsewhere."""
    ha_guest, recover = recovery
    guest = ha_guest("hv2", priority=1)
    assert recover()["changed"] is False
    with DoubleWatch(lab) as watch:
        stalled_at = time.time()
        stall = _stall(lab, "hv2", pattern)
        done = recover(host_timeout=6, unreachable_since={"hv2": stalled_at})
        stall.join(30)
    assert not stall.is_alive() and failures.libvirtd_state(lab.host("hv2")) == "running"
    assert watch.seen_twice == []
    assert done["fenced"] == [] and done["recovered"] == [] and not done.get("failed"), done
    assert lab.host("hv2").is_up() and running_on(lab, guest.name) == ["hv2"]
    assert done["hosts"]["hv2"]["state"] in ("up", "up, not read"), done["hosts"]
    assert recover()["changed"] is False


@pytest.mark.parametrize("failure", ["hang", "kill_libvirtd"])
def test_a_vm_restarted_then_its_host_failing_runs_elsewhere(lab, recovery, failure):
    """Issue #19: a pass restarts a crashed HA VM, then its host hangs or loses its libvirtd
    seconds later: the next pass fences the host and starts the VM elsewhere - never left down
    as 'was_stopped' (the pass's record shows the restart, not the crash), never on two hosts."""
    ha_guest, recover = recovery
    hv2 = lab.host("hv2")
    guest = ha_guest("hv2", priority=1)
    assert recover()["changed"] is False
    kill_qemu(hv2, guest.name)
    with DoubleWatch(lab, skip=("hv2",)) as watch:
        restarted = recover()
        assert restarted["restarted"] == [guest.name], restarted
        assert running_on(lab, guest.name) == ["hv2"]
        getattr(lab, failure)("hv2")     # seconds after the restart, before any other pass
        done = recover()
    assert watch.seen_twice == [] and watch.samples > 5
    assert decisions(done, "was_stopped") == [], done["decisions"]
    assert not hv2.is_up()              # fenced first
    (moved,) = done["recovered"]
    assert moved["vm"] == guest.name and moved["from"] == "hv2" and moved["to"] != "hv2"
    assert running_on(lab, guest.name) == [moved["to"]]
    # hv2 back: its stale definition goes, the VM stays where it runs, and nothing more to do.
    lab.revive("hv2")
    with DoubleWatch(lab) as watch:
        back = recover()
    assert watch.seen_twice == []
    assert [d["vm"] for d in decisions(back, "clean_stale")] == [guest.name], back["decisions"]
    assert running_on(lab, guest.name) == [moved["to"]]
    assert recover()["changed"] is False


@pytest.mark.parametrize("break_fencing", ["bmc_down", "wrong_password"])
def test_failed_fencing_starts_nothing_elsewhere(lab, recovery, break_fencing):
    ha_guest, recover = recovery
    guest = ha_guest("hv2")
    recover()
    fencing = [dict(h.bmc.fence_vars(), host=h.name, power_timeout=3) for h in lab.hosts]
    if break_fencing == "bmc_down":
        lab.bmc_stop("hv2")
    else:
        fencing[1]["password"] = "not-the-password"
    lab.hang("hv2")
    done = recover(fencing=fencing)
    assert done["failed"] and "could not fence hv2" in done["msg"] and "nothing of hv2 was started elsewhere" in done["msg"]
    assert done["recovered"] == [] and done["hosts"]["hv2"]["state"] == "fence failed"
    assert "not-the-password" not in str(done)
    lab.unhang("hv2")
    assert running_on(lab, guest.name) == ["hv2"]  # never stopped, never started twice


def test_disk_locks_refuse_a_wrong_confirmation(lab, recovery):
    """An operator confirms a hung host off while its guest still runs: the start elsewhere is
    refused by the disk's lock, reported, and the definition made for it removed."""
    ha_guest, recover = recovery
    guest = ha_guest("hv2")
    recover(fencing=[])
    lab.hang("hv2")
    with DoubleWatch(lab, skip=("hv2",)) as watch:
        done = recover(fencing=[], confirmed_off=["hv2"])
    assert watch.seen_twice == []
    assert done["failed"] and "still locked by another host" in done["msg"], done["msg"]
    assert done["recovered"] == []
    assert running_on(lab, guest.name, skip=("hv2",)) == []
    assert all(state_of(lab.host(h), guest.name) is None for h in ("hv1", "hv3"))
    lab.unhang("hv2")
    assert running_on(lab, guest.name) == ["hv2"]


def test_rulebook_recovers_a_crash_and_a_hung_host(lab, recovery, tmp_path):
    """ansible-rulebook with the collection's rulebook and event source, for real: a killed QEMU is
    restarted, a hung host's VM runs elsewhere after fencing, with no pass run by hand."""
    ha_guest, _recover = recovery
    crashing = ha_guest("hv1", priority=5)
    hanging = ha_guest("hv2", priority=5)
    state_file = tmp_path / "rulebook-recover.json"
    passwords = [h.bmc.fence_vars()["password"] for h in lab.hosts]
    log = tmp_path / "rulebook.log"
    with rulebook(lab, tmp_path, state_file, HOST_TIMEOUT, sweep_interval=5):
        # Said at default verbosity once each host's events are registered.
        wait_until("the rulebook watching every host",
                   lambda: all("watching %s" % h.name in log.read_text() for h in lab.hosts), 90)
        assert not any(p in (tmp_path / "inventory.yml").read_text() for p in passwords)
        # The first sweep remembers every HA VM and its definition.
        wait_until("the first sweep", lambda: state_file.exists() and hanging.name in state_file.read_text(), 90)
        started = time.monotonic()
        kill_qemu(lab.host("hv1"), crashing.name)
        wait_until("the crashed VM running again", lambda: running_on(lab, crashing.name) == ["hv1"], 60)
        print("\nrulebook: QEMU killed -> running again in %.1f s" % (time.monotonic() - started))
        with DoubleWatch(lab, skip=("hv2",)) as watch:
            started = time.monotonic()
            lab.hang("hv2")
            where = wait_until("the hung host's VM running elsewhere",
                               lambda: running_on(lab, hanging.name, skip=("hv2",)), 90)
            print("rulebook: hv2 hung -> %s running on %s in %.1f s (host_timeout %d s)"
                  % (hanging.name, where[0], time.monotonic() - started, HOST_TIMEOUT))
        assert watch.seen_twice == []
        assert not lab.host("hv2").is_up()      # fenced first


def test_a_vm_started_by_hand_then_its_host_losing_libvirtd_runs_elsewhere(lab, recovery):
    """Issue #19: an HA VM a pass recorded as shut down by an operator is started with libvirt
    directly (not by the collection), and its host's libvirtd is killed at once, before any pass
    reads the host.  The pass gets the start as the rulebook hands it on (the event source's
    vm_events, given here by hand as ``vm_events``): it fences the host and starts the VM
    elsewhere, exactly once - not left down as 'was_stopped'."""
    ha_guest, recover = recovery
    hv2 = lab.host("hv2")
    guest = ha_guest("hv2", priority=1)
    hv2.connect().lookupByName(guest.name).destroy()        # an operator's doing
    read = recover()
    assert read["restarted"] == [] and state_of(hv2, guest.name)[0] == libvirt.VIR_DOMAIN_SHUTOFF
    dom = hv2.connect().lookupByName(guest.name)
    dom.create()                                            # started by hand, by libvirt
    started = {"vm": guest.name, "host": "hv2", "event": "started", "reason": "booted", "time": time.time(),
               "uuid": dom.UUIDString()}
    lab.kill_libvirtd("hv2")                                # before any pass reads hv2 again
    with DoubleWatch(lab, skip=("hv2",)) as watch:
        done = recover(vm_events=[started])
    assert watch.seen_twice == [] and watch.samples > 5
    assert decisions(done, "was_stopped") == [], done["decisions"]
    assert [e["vm"] for e in done["vm_events"]] == [guest.name]
    assert not hv2.is_up()                                  # fenced first
    (moved,) = done["recovered"]
    assert moved["vm"] == guest.name and moved["from"] == "hv2" and moved["to"] != "hv2"
    assert running_on(lab, guest.name) == [moved["to"]]
    # The same start given again (every event carries it) changes nothing: the VM runs once.
    assert recover(vm_events=[started])["recovered"] == []
    lab.revive("hv2")
    with DoubleWatch(lab) as watch:
        back = recover(vm_events=[started])
    assert watch.seen_twice == []
    assert [d["vm"] for d in decisions(back, "clean_stale")] == [guest.name], back["decisions"]
    assert running_on(lab, guest.name) == [moved["to"]]
    assert recover()["changed"] is False


def test_rulebook_recovers_a_vm_started_by_hand_just_before_its_host_lost_libvirtd(lab, recovery, tmp_path):
    """The same through ansible-rulebook, for real: a sweep records the HA VM shut down by an
    operator; it is started with libvirt directly and hv2's libvirtd killed at once; the event
    source's start (carried by the host_lost event, vm_events) makes the passes fail it over."""
    ha_guest, _recover = recovery
    guest = ha_guest("hv2", priority=5)
    hv2 = lab.host("hv2")
    hv2.connect().lookupByName(guest.name).destroy()        # an operator's doing
    state_file = tmp_path / "rulebook-recover.json"

    def recorded():
        if not state_file.exists():
            return None
        return json.loads(state_file.read_text())["vms"].get(guest.name, {}).get("state")

    with rulebook(lab, tmp_path, state_file, HOST_TIMEOUT, sweep_interval=5):
        wait_until("the rulebook watching hv2", lambda: "watching hv2" in (tmp_path / "rulebook.log").read_text(), 90)
        wait_until("a sweep recording the VM shut down", lambda: recorded() == "shutoff", 90)
        with DoubleWatch(lab, skip=("hv2",)) as watch:
            hv2.connect().lookupByName(guest.name).create()
            lab.kill_libvirtd("hv2")
            where = wait_until("the VM running elsewhere", lambda: running_on(lab, guest.name, skip=("hv2",)), 90)
        assert watch.seen_twice == []
        assert not hv2.is_up()                              # fenced first
        assert running_on(lab, guest.name, skip=("hv2",)) == where and len(where) == 1
