# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live recovery on the lab: how fast, and never a VM twice.

``--crash``: an HA VM's QEMU is SIGKILLed; time until it runs again
  * through the collection's rulebook (event source -> rulebook -> playbooks/recover.yml), and
  * through one playbooks/recover.yml run started right after the kill (cron/AWX style),
  against a baseline in the same process: a script that polls libvirt for the stop and starts the
  VM at once (no decisions, no limits).  Target: at most 10 s (vSphere VM monitoring: 30 s).
``--host``: every HA VM of a host running elsewhere after the host hangs (libvirtd SIGSTOPped, so
  only keepalive can tell) or loses power, fencing included, through the rulebook with the module's
  default host_timeout (6 s), against a hand-made minimal recovery in the same process: keepalive
  (1, 3) on libvirt's asyncio loop, the same host_timeout, fence_ipmilan off, define and start on
  another host.  Target: at most 15 s (vSphere HA: 15 s detection alone; Proxmox about 2 min).
  Prints the failure's timeline: the event source's loss (the rulebook's log), when host_timeout
  is reached, each pass (the Ansible log), the BMC's power off and status reads (its log), each VM
  running elsewhere - so that the time not spent on safety shows.
``--injections N``: N failures of every kind in turn (QEMU killed, power cut, host hung, libvirtd
  killed) with the rulebook running and every host polled 5 times a second: VMs ever on two hosts at
  once (must be 0) and HA VMs left down that could run (must be 0), and each recovery's time.

    LAB_ID=0 LAB_VIRT_TYPE=qemu .venv/bin/python benchmarks/bench_recover.py --crash --host [--injections 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for sub in (("tests", "lab"), ("tests", "integration")):
    sys.path.insert(0, os.path.join(ROOT, *sub))

import libvirt  # noqa: E402
import failures  # noqa: E402
import guests  # noqa: E402
from lab import Lab, remove_guests  # noqa: E402
from recovery_helpers import DoubleWatch, kill_qemu, rulebook, running_on, wait_until  # noqa: E402

HOST_TIMEOUT = 6.0      # the recover module's default
KINDS = ("qemu", "power", "hang", "libvirtd")


def ansible_env():
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, "build", "collections"))
    env.update(ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_NOCOLOR="1")
    return env


class Bench:
    def __init__(self, lab, workdir):
        self.lab = lab
        self.workdir = workdir
        self.made = []
        self.state_file = os.path.join(workdir, "recover.json")

    def ha_guest(self, host, priority=0):
        """A shared-disk idle guest made HA by the vm module's own code."""
        name = "bench-rec-%d-%d" % (os.getpid(), len(self.made))
        disk_file = os.path.join(self.lab.shared_dir, name + ".img")
        guests.make_image(disk_file, "idle")
        conn = self.lab.host(host).connect()
        conn.defineXML(guests.domain_xml(name, "%s/%s.img" % (self.lab.shared_path, name), self.lab.virt_type,
                                         memory_mib=32))
        self.made.append((name, disk_file))
        subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-c", "local",
                        "-e", "ansible_python_interpreter=" + sys.executable, "-m", "hotiron.virt.vm", "-a",
                        json.dumps({"uri": self.lab.host(host).uri, "name": name, "ha": True, "ha_priority": priority,
                                    "state": "running", "restart_limit": {"count": 100, "window": 600}})],
                       check=True, capture_output=True, env=ansible_env())
        return name

    def playbook_pass(self):
        inventory = os.path.join(self.workdir, "inventory.yml")
        subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory,
                        os.path.join(ROOT, "playbooks", "recover.yml")], check=False, capture_output=True,
                       env=ansible_env())

    def cleanup(self):
        for host in self.lab.hosts:
            if not host.is_up():
                self.lab.revive(host.name)
            state = failures.libvirtd_state(host)
            if state == "hung":
                self.lab.unhang(host.name)
            elif state == "dead":
                self.lab.restart_libvirtd(host.name)
            self.lab.bmc_start(host.name)
        for host in self.lab.hosts:
            remove_guests(host.connect(), [name for name, _disk in self.made])
        for _name, disk in self.made:
            if os.path.exists(disk):
                os.unlink(disk)

    def restore(self, host):
        """Bring a failed host back, whatever its failure was."""
        the_host = self.lab.host(host)
        if not the_host.is_up():
            self.lab.revive(host)
        state = failures.libvirtd_state(the_host)
        if state == "hung":
            self.lab.unhang(host)
        elif state == "dead":
            self.lab.restart_libvirtd(host)


# --- the baselines ---------------------------------------------------------------------------------

def baseline_crash(lab, name):
    """Kill, poll libvirt for the stop, start at once."""
    host = lab.host("hv1")
    conn = host.connect()
    dom = conn.lookupByName(name)
    started = time.monotonic()
    kill_qemu(host, name)
    dom.create()
    wait_until("running", dom.isActive, 30)
    return time.monotonic() - started


def baseline_host(lab, names, failure, target):
    """Keepalive (1, 3) on libvirt's asyncio loop, host_timeout, fence_ipmilan off, define+start."""
    import libvirtaio  # pylint: disable=import-outside-toplevel

    source = lab.host("hv2")
    definitions = {n: source.connect().lookupByName(n).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) for n in names}
    fence = source.bmc.fence_vars()

    async def run():
        loop = asyncio.get_running_loop()
        conn = libvirt.open(source.uri)
        closed = loop.create_future()
        conn.registerCloseCallback(lambda *_: closed.done() or closed.set_result(True), None)
        conn.setKeepAlive(1, 3)
        started = time.monotonic()
        failure()
        try:
            await asyncio.wait_for(closed, 60)
        except asyncio.TimeoutError:
            pass
        await asyncio.sleep(HOST_TIMEOUT)
        stdin = "action=off\nip=%s\nipport=%s\nusername=%s\npassword=%s\nlanplus=1\n" % (
            fence["ip"], fence["ipport"], fence["username"], fence["password"])
        subprocess.run(["fence_ipmilan"], input=stdin, text=True, capture_output=True, check=False)
        dest = lab.host(target).connect()
        for name in names:
            dest.defineXML(definitions[name]).create()
        return time.monotonic() - started

    if "loop" not in _LOOP:  # libvirt takes one event implementation per process
        _LOOP["loop"] = asyncio.new_event_loop()
        libvirtaio.virEventRegisterAsyncIOImpl(loop=_LOOP["loop"])
    return _LOOP["loop"].run_until_complete(run())


_LOOP = {}


# --- the runs -----------------------------------------------------------------------------------------

def crash(bench, rounds):
    lab = bench.lab
    name = bench.ha_guest("hv1")
    times = {"baseline": [], "rulebook": [], "playbook": []}
    for _round in range(rounds):
        times["baseline"].append(baseline_crash(lab, name))
    with rulebook(lab, bench.workdir, bench.state_file, HOST_TIMEOUT, sweep_interval=60):
        wait_until("the first pass", lambda: os.path.exists(bench.state_file), 90)
        time.sleep(3)
        for _round in range(rounds):
            started = time.monotonic()
            kill_qemu(lab.host("hv1"), name)
            wait_until("running again", lambda: running_on(lab, name) == ["hv1"], 60)
            times["rulebook"].append(time.monotonic() - started)
            time.sleep(2)  # let the rulebook's pass finish before the next kill
    for _round in range(rounds):
        started = time.monotonic()
        kill_qemu(lab.host("hv1"), name)
        bench.playbook_pass()
        wait_until("running again", lambda: running_on(lab, name) == ["hv1"], 60)
        times["playbook"].append(time.monotonic() - started)
    base = statistics.median(times["baseline"])
    print("QEMU killed -> running again (median of %d): baseline %.2f s" % (rounds, base))
    for path in ("rulebook", "playbook"):
        value = statistics.median(times[path])
        print("  %-9s %.2f s  ratio %.1f  (target <= 10 s: %s)" % (path, value, value / base, "met" if value <= 10 else "MISSED"))
    return times


# --- the timeline of one host failure ---------------------------------------------------------------

LOST_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) .* (\S+) lost \(([^)]*)\): no answer since .*, "
                     r"([0-9.]+) s before this")
BMC_RE = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) (.*)$")
# IPMI chassis commands (netfn 0): get chassis status (the agent's power status), chassis control (off)
STATUS_CMD, CONTROL_CMD = "netfn 0x0 command 0x1", "netfn 0x0 command 0x2"


def _time_of_day(day_start, hours, minutes, seconds, millis):
    return day_start + int(hours) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000.0


def lost_at(log_file, host, after):
    """``(noticed, reason, since)`` of the event source's first loss of ``host`` after ``after``
    (its warning in the rulebook's log, local time = the machine's), or None."""
    with open(log_file, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            match = LOST_RE.match(line)
            if match and match.group(3) == host:
                noticed = time.mktime(time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")) + int(match.group(2)) / 1000.0
                if noticed >= after - 1:
                    return noticed, match.group(4), noticed - float(match.group(5))
    return None


def fence_times(bmc_log, after):
    """``(first IPMI request, power off done, [status reads after it])`` in the BMC's log after
    ``after`` (the BMC logs local time of day), the first two None when not there."""
    day = time.localtime(after)
    day_start = time.mktime((day.tm_year, day.tm_mon, day.tm_mday, 0, 0, 0, 0, 0, -1))
    first = off = None
    reads = []
    with open(bmc_log, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            match = BMC_RE.match(line)
            if not match:
                continue
            when = _time_of_day(day_start, *match.group(1, 2, 3, 4))
            if when < after:
                continue
            text = match.group(5)
            if text.startswith("request") and first is None:
                first = when
            elif text.startswith("power off:") and off is None:
                off = when
            elif off is not None and STATUS_CMD in text:
                reads.append(when)
    return first, off, reads


ANSIBLE_LOG_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) p=(\d+) .*\| (TASK \[One recovery pass\]|PLAY RECAP|"
                            r"PLAY \[)")


def passes(ansible_log, after):
    """``[(pass pid, playbook started, its recover task started, ended)]`` from the Ansible log
    (``ANSIBLE_LOG_PATH``) of the passes the rulebook ran after ``after``."""
    found = {}
    if not os.path.exists(ansible_log):
        return []
    with open(ansible_log, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            match = ANSIBLE_LOG_RE.match(line)
            if not match:
                continue
            when = time.mktime(time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")) + int(match.group(2)) / 1000.0
            if when < after - 30:
                continue
            entry = found.setdefault(match.group(3), [None, None, None])
            slot = {"PLAY [": 0, "TASK [One recovery pass]": 1, "PLAY RECAP": 2}[match.group(4)]
            if entry[slot] is None:
                entry[slot] = when
    return sorted((pid, *times) for pid, times in found.items() if times[2] is None or times[2] >= after)


def print_timeline(failed_at, kind, lost, fence, started, host_timeout, runs=()):
    """The failure's timeline, in seconds after it, so that the time not spent on safety shows."""
    rows = [(0.0, "hv2 %s (its last answer at the latest)" % ("hung: libvirtd SIGSTOPped" if kind == "hang" else "power cut"))]
    if lost:
        noticed, reason, since = lost
        rows.append((noticed - failed_at, "event source: hv2 lost (%s), dated back to %+.1f s (its since)"
                     % (reason, since - failed_at)))
        rows.append((since + host_timeout - failed_at, "host_timeout (%g s) reached, counted from that since" % host_timeout))
    first, off, reads = fence
    if first is not None:
        rows.append((first - failed_at, "fencing: the agent's first IPMI request to hv2's BMC"))
    if off is not None:
        rows.append((off - failed_at, "fencing: the BMC powered hv2 off"))
    first_start = min((when for _host, when in started.values()), default=None)
    reads = [when for when in reads if first_start is None or when < first_start]
    if reads:
        rows.append((reads[0] - failed_at, "fencing: power read OFF (the agent's own check after off)"))
    if len(reads) > 1:
        rows.append((reads[-1] - failed_at, "fencing: power read OFF again (the pass's status read back)"))
    for pid, began, task, ended in runs:
        if began is not None:
            rows.append((began - failed_at, "pass %s: playbook started" % pid))
        if task is not None:
            rows.append((task - failed_at, "pass %s: its recover task started (Ansible's start-up done)" % pid))
        if ended is not None:
            rows.append((ended - failed_at, "pass %s: ended" % pid))
    for name, (host, when) in sorted(started.items(), key=lambda item: item[1][1]):
        rows.append((when - failed_at, "%s running on %s" % (name, host)))
    print("  timeline (s after the failure):")
    for offset, what in sorted(rows, key=lambda row: row[0]):
        print("    %6.2f  %s" % (offset, what))


def wait_started(lab, names, skip, timeout):
    """``{name: (host, first time seen running)}`` once every VM runs on a host outside ``skip``."""
    started = {}
    deadline = time.monotonic() + timeout
    while len(started) < len(names):
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for all running elsewhere: %s" % sorted(set(names) - set(started)))
        now = time.time()
        for name in names:
            if name not in started:
                where = running_on(lab, name, skip=skip)
                if where:
                    started[name] = (where[0], now)
        time.sleep(0.05)
    return started


def load_text():
    return "%.1f %.1f %.1f" % os.getloadavg()


def host_failure(bench, kind, with_baseline=True):
    """The rulebook path for one host failure, then the minimal baseline for the same failure."""
    lab = bench.lab
    names = [bench.ha_guest("hv2", priority=i) for i in range(3)]
    failure = {"hang": lambda: lab.hang("hv2"), "power": lambda: lab.kill("hv2")}[kind]
    with rulebook(lab, bench.workdir, bench.state_file, HOST_TIMEOUT, sweep_interval=60):
        wait_until("the first pass", lambda: all(n in open(bench.state_file).read() for n in names)
                   if os.path.exists(bench.state_file) else False, 90)
        with DoubleWatch(lab, skip=("hv2",)) as watch:
            started = time.monotonic()
            failed_at = time.time()
            failure()
            running = wait_started(lab, names, ("hv2",), 120)
            took = time.monotonic() - started
        twice = watch.seen_twice
        lost = lost_at(os.path.join(bench.workdir, "rulebook.log"), "hv2", failed_at)
        fence = fence_times(lab.host("hv2").bmc.log_file, failed_at)
        runs = passes(os.environ["ANSIBLE_LOG_PATH"], failed_at)
        bench.restore("hv2")
        wait_until("hv2 cleaned", lambda: all(running_on(lab, n) and "hv2" not in running_on(lab, n) for n in names)
                   and not [n for n in names if _defined(lab.host("hv2"), n)], 120)
    base = None
    if with_baseline:
        # Baseline: the same failure, the same VMs back on hv2 first.
        for name in names:
            for host in lab.hosts:
                dom = _defined(host, name)
                if dom is not None and dom.isActive():
                    dom.destroy()
                if dom is not None:
                    dom.undefine()
            conn = lab.host("hv2").connect()
            conn.defineXML(bench_definition(lab, name)).create()
        base = baseline_host(lab, names, failure, "hv3")
        bench.restore("hv2")
    print("hv2 %s -> its %d HA VMs running elsewhere, fencing included (host_timeout %g s, keepalive (1,3)), load %s:"
          % ("hung" if kind == "hang" else "power cut", len(names), HOST_TIMEOUT, load_text()))
    print("  rulebook %.1f s%s (target <= 15 s: %s); seen on two hosts: %d"
          % (took, " vs minimal %.1f s: ratio %.2f" % (base, took / base) if base else "",
             "met" if took <= 15 else "MISSED", len(twice)))
    print_timeline(failed_at, kind, lost, fence, running, HOST_TIMEOUT, runs)
    return took, base, twice


def bench_definition(lab, name):
    return guests.domain_xml(name, "%s/%s.img" % (lab.shared_path, name), lab.virt_type, memory_mib=32)


def _defined(host, name):
    try:
        return host.connect().lookupByName(name)
    except libvirt.libvirtError:
        return None


def injections(bench, count):
    lab = bench.lab
    names = {"hv1": [bench.ha_guest("hv1", 1)], "hv2": [bench.ha_guest("hv2", 2), bench.ha_guest("hv2", 3)],
             "hv3": [bench.ha_guest("hv3", 4)]}
    every = [n for group in names.values() for n in group]
    times, twice, left_down = [], [], []
    with rulebook(lab, bench.workdir, bench.state_file, HOST_TIMEOUT, sweep_interval=15):
        wait_until("the first pass", lambda: os.path.exists(bench.state_file)
                   and all(n in open(bench.state_file).read() for n in every), 90)
        with DoubleWatch(lab) as watch:
            for index in range(count):
                kind = KINDS[index % len(KINDS)]
                host = "hv%d" % (index % 3 + 1)
                victims = [n for n in every if host in running_on(lab, n)]
                started = time.monotonic()
                if kind == "qemu":
                    for name in victims:
                        kill_qemu(lab.host(host), name)
                else:
                    {"power": lab.kill, "hang": lab.hang, "libvirtd": lab.kill_libvirtd}[kind](host)
                skip = () if kind == "qemu" else (host,)
                try:
                    wait_until("recovered", lambda: all(running_on(lab, n, skip=skip) for n in every), 120)
                    times.append((kind, time.monotonic() - started))
                except AssertionError:
                    left_down.append((index, kind, [n for n in every if not running_on(lab, n, skip=skip)]))
                if kind != "qemu":
                    bench.restore(host)
                    wait_until("clean", lambda: all(len(running_on(lab, n)) == 1 for n in every)
                               and all(_defined(lab.host(host), n) is None or host in running_on(lab, n) for n in every), 120)
                print("injection %2d: %-8s on %s: recovered in %s" % (
                    index + 1, kind, host, "%.1f s" % times[-1][1] if times and times[-1][0] == kind else "NOT"), flush=True)
            twice = watch.seen_twice
            samples = watch.samples
    print("%d injections: VMs seen on two hosts at once: %d (over %d polls of every host); HA VMs left down: %d"
          % (count, len(twice), samples, len(left_down)))
    for kind in KINDS:
        values = [t for k, t in times if k == kind]
        if values:
            print("  %-8s median %.1f s, max %.1f s over %d" % (kind, statistics.median(values), max(values), len(values)))
    return twice, left_down


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crash", action="store_true")
    parser.add_argument("--host", action="store_true")
    parser.add_argument("--injections", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true", help="with --host: the rulebook only")
    parser.add_argument("--host-kinds", default="hang,power", help="with --host: hang, power or both (hang,power)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (rulebook log, state file)")
    opts = parser.parse_args()
    if not (opts.crash or opts.host or opts.injections):
        opts.crash = opts.host = True
    lab = Lab(int(os.environ.get("LAB_ID", "0")))
    if not (len(lab.hosts) >= 3 and all(h.is_up() for h in lab.hosts)):
        lab.up(3)
    workdir = tempfile.mkdtemp(prefix="bench-recover-")
    # the passes the rulebook runs log their tasks with times there: the timeline's passes
    os.environ["ANSIBLE_LOG_PATH"] = os.path.join(workdir, "ansible.log")
    try:
        bench = Bench(lab, workdir)
        try:
            if opts.crash:
                crash(bench, opts.rounds)
            if opts.host:
                for kind in opts.host_kinds.split(","):
                    bench.cleanup()
                    bench.made = []
                    bench.state_file = os.path.join(workdir, "recover-%s.json" % kind)
                    host_failure(bench, kind, not opts.no_baseline)
            if opts.injections:
                bench.cleanup()
                bench.made = []
                bench.state_file = os.path.join(workdir, "recover-injections.json")
                injections(bench, opts.injections)
        finally:
            bench.cleanup()
    finally:
        if opts.keep:
            print("work directory kept: " + workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
