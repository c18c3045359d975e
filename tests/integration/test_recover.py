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

import os
import signal
import threading
import time

import failures  # tests/lab
import libvirt
import pytest
from host_snapshot import differences, snapshot

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOST_TIMEOUT = 3  # short, to keep the suite fast; the module's default (10 s) is measured by the benchmark


def wait_until(what, predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def state_of(host, name):
    """``(state, reason)`` numbers of a guest on a host, or None when it is not defined there."""
    conn = host.connect()
    try:
        return tuple(conn.lookupByName(name).state())
    except libvirt.libvirtError:
        return None
    finally:
        conn.close()


def running_on(lab, name, skip=()):
    return sorted(h.name for h in lab.hosts if h.is_up() and h.name not in skip
                  and (state_of(h, name) or (0,))[0] == libvirt.VIR_DOMAIN_RUNNING)


def kill_qemu(host, name):
    """SIGKILL the QEMU of guest ``name`` on ``host``, by the pid libvirt recorded for it."""
    pid = int(host.run(["cat", f"/run/libvirt/qemu/{name}.pid"]).stdout.strip())
    with open(f"/proc/{pid}/comm", encoding="utf-8") as handle:
        assert handle.read().startswith("qemu-system"), "pid %d is not a QEMU" % pid
    os.kill(pid, signal.SIGKILL)
    wait_until(f"{name} shut off", lambda: (state_of(host, name) or (0,))[0] == libvirt.VIR_DOMAIN_SHUTOFF)


class DoubleWatch:
    """Lists every watched host's running VMs 5 times a second; records any VM seen on two."""

    def __init__(self, lab, skip=()):
        self.hosts = [h for h in lab.hosts if h.name not in skip]
        self.seen_twice = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        conns = {}
        while not self._stop.is_set():
            where = {}
            for host in self.hosts:
                try:
                    conn = conns.get(host.name) or host.connect()
                    conns[host.name] = conn
                    for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
                        where.setdefault(dom.name(), []).append(host.name)
                except libvirt.libvirtError:
                    conns.pop(host.name, None)  # the host is down: it runs nothing
            self.seen_twice.extend((name, hosts) for name, hosts in where.items() if len(hosts) > 1)
            self.samples += 1
            self._stop.wait(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)
        return False


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
    before = snapshot(lab)
    planned = recover(check=True, wait=False, unreachable_since={"hv3": time.time() - 60}, **limits)
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
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel

    import yaml  # pylint: disable=import-outside-toplevel

    ha_guest, _recover = recovery
    crashing = ha_guest("hv1", priority=5)
    hanging = ha_guest("hv2", priority=5)
    state_file = tmp_path / "rulebook-recover.json"
    with open(lab.inventory_path, encoding="utf-8") as handle:
        inventory = yaml.safe_load(handle)
    inventory["all"]["vars"] = {"recover_group": "lab", "recover_state_file": str(state_file),
                                "recover_shared_paths": [lab.shared_path], "recover_host_timeout": HOST_TIMEOUT}
    inventory["all"].setdefault("hosts", {})["localhost"] = {"ansible_connection": "local",
                                                             "ansible_python_interpreter": sys.executable}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "vars.yml").write_text(yaml.safe_dump({
        "recover_group": "lab", "recover_sweep_interval": 5, "recover_hosts": {h.name: h.uri for h in lab.hosts}}))
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(os.path.dirname(__file__), "..", "..", "build", "collections"))
    log = open(tmp_path / "rulebook.log", "w", encoding="utf-8")  # pylint: disable=consider-using-with
    rulebook = subprocess.Popen(  # pylint: disable=consider-using-with
        [os.path.join(os.path.dirname(sys.executable), "ansible-rulebook"), "-i", str(tmp_path / "inventory.yml"),
         "--rulebook", "hotiron.virt.recover", "--vars", str(tmp_path / "vars.yml")],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
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
    finally:
        rulebook.send_signal(signal.SIGINT)
        try:
            rulebook.wait(30)
        except subprocess.TimeoutExpired:
            rulebook.kill()
            rulebook.wait(10)
        log.close()
