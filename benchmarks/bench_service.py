# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A web service inside a real Linux guest, as its clients see it through live migrations,
a host's maintenance, a rebalance move and recoveries.

The guest is tests/lab/tiny_guest.py's (Debian's kernel, a busybox initramfs, no disk: it boots
in seconds under TCG) or, with ``--guest debian``, os_guest.py's Debian 12 image (a linked
overlay on the lab's shared storage with cache=none).  Its busybox httpd answers on port 80, its
NIC is on the lab's guest bridge (os_guest.GuestNet: 198.18.<LAB_ID>.0/24, DHCP, nothing leaves
the machine).  A client thread asks for ``/index.html`` every 10 ms; each request has 2 s to be
answered, its connects time out after 0.2 s and are retried at once (TCP's own SYN retry waits
1 s: a client that waits for it measures TCP, not the migration).

Parts (``--parts``, all by default):

``migrate``      ``vm_migrate`` (the module's code) against ``virsh migrate --live``, alternated:
                 per move requests made and failed (no answer within 2 s), the longest gap between
                 two answers, QEMU's downtime (the destination's completed job statistics); ratios of
                 the medians, and the longest gap above the downtime (goal: within 0.5 s).
``maintenance``  host_maintenance (its code) of the guest's host, then its return (bring_back).
``rebalance``    the guest made busy (``/cgi-bin/burn``) alone on hv1: playbooks/rebalance.yml
                 (cpu_high 0.05: on this busy 2-core machine the burning
                 TCG guest gets 0.2-0.5 of a core, a host of 2 CPUs 10-25 %; window 10 s) run until it moves the guest.
``recover``      with the recovery rulebook (extensions/eda/rulebooks/recover.yml) running, as
                 benchmarks/bench_recover.py drives it: the guest's QEMU killed, then its host hung
                 (libvirtd SIGSTOPped): the time until the service answers again, split into
                 detection (+ fencing, for the host), the start, and the guest's boot.

The boot id before and after the live parts shows the guest never restarted.

    LAB_ID=0 .venv/bin/python benchmarks/bench_service.py [--rounds 4] [--parts migrate,maintenance,...]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _sub in (("tests", "lab"), ("tests", "integration"), ("benchmarks",)):
    sys.path.insert(0, os.path.join(ROOT, *_sub))

import libvirt  # noqa: E402

import failures  # noqa: E402
import os_guest  # noqa: E402
import tiny_guest  # noqa: E402
from bench_migrate import MAX_DOWNTIME_MS, run_library, run_virsh, src_link  # noqa: E402
from lab import Lab  # noqa: E402
from recovery_helpers import active_on  # noqa: E402

POLL_S, REQUEST_S, CONNECT_S = 0.010, 2.0, 0.2
PARTS = ("migrate", "maintenance", "rebalance", "recover")
HOST_TIMEOUT = 10.0


def fetch(address, path, deadline):
    """The body of ``GET path``, or None when no answer came before ``deadline`` (connects
    retried every CONNECT_S)."""
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(address, 80, timeout=CONNECT_S)
        try:
            conn.connect()
            conn.sock.settimeout(max(0.05, deadline - time.monotonic()))
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            if response.status == 200:
                return body.decode(errors="replace")
        except (OSError, http.client.HTTPException, socket.timeout):
            time.sleep(0.005)
        finally:
            conn.close()
    return None


class Poller(threading.Thread):
    """Asks every POLL_S; ``window()`` returns (requests, failed, longest gap) since ``mark()``."""

    def __init__(self, address):
        super().__init__(daemon=True)
        self.address, self.stop = address, threading.Event()
        self.lock = threading.Lock()
        self.requests = self.failed = 0
        self.answers = []

    def run(self):
        while not self.stop.is_set():
            started = time.monotonic()
            body = fetch(self.address, "/index.html", started + REQUEST_S)
            with self.lock:
                self.requests += 1
                if body is None:
                    self.failed += 1
                else:
                    self.answers.append(time.monotonic())
            time.sleep(max(0.0, POLL_S - (time.monotonic() - started)))

    def mark(self):
        with self.lock:
            self.requests = self.failed = 0
            self.answers = [time.monotonic()]

    def window(self):
        with self.lock:
            times = self.answers + [time.monotonic()]
            gaps = [b - a for a, b in zip(times, times[1:])]
            return self.requests, self.failed, max(gaps) if gaps else 0.0

    def last_answer(self):
        with self.lock:
            return self.answers[-1] if self.answers else None


def guest_id(address):
    return os_guest.parse_id(fetch(address, "/cgi-bin/id", time.monotonic() + 30) or "")


def ansible_env():
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, "build", "collections"))
    env.update(ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_NOCOLOR="1")
    return env


def completed_downtime(lab, name):
    """QEMU's downtime (ms) of the guest's last migration, from the host it runs on now."""
    host = lab.host(active_on(lab, name)[0])
    return host.connect().lookupByName(name).jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED).get("downtime")


class Service:
    """The guest and its client."""

    def __init__(self, lab, kind, workdir):
        self.lab, self.kind, self.workdir = lab, kind, workdir
        self.name = "bench-service-%d" % os.getpid()
        self.net = os_guest.GuestNet(lab.lab_id).up()
        self.overlay_file = os.path.join(lab.shared_dir, self.name + ".qcow2")
        self.poller = self.address = None
        self.rows = []
        self.extra = []         # other guests a part made (same host, disk <name>.img in shared_dir)

    def definition(self):
        if self.kind == "tiny":
            image, times = tiny_guest.build_image()
            self.image_seconds = times.get("total", 0.0)
            return tiny_guest.domain_xml(self.name, image, self.net.bridge)
        image, times = os_guest.build_image()
        self.image_seconds = times.get("total", 0.0)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                        os.path.join(image, "disk.qcow2"), self.overlay_file], check=True)
        os.chmod(self.overlay_file, 0o644)
        xml = os_guest.domain_xml(self.name, "%s/%s.qcow2" % (self.lab.shared_path, self.name), image, self.net.bridge)
        # libvirt refuses a live migration of a writable disk with another cache mode
        return xml.replace("<driver name='qemu' type='qcow2'/>", "<driver name='qemu' type='qcow2' cache='none'/>", 1)

    def start(self, host):
        dom = self.lab.host(host).connect().defineXML(self.definition())
        started = time.monotonic()
        dom.create()
        self.mac = os_guest.guest_mac(dom.XMLDesc(0))
        self.address, _info = os_guest.wait_http(self.net, self.mac)
        booted = time.monotonic() - started
        self.poller = Poller(self.address)
        self.poller.start()
        return booted

    def measure(self, label, action, downtime=None):
        """Run ``action`` (returns (seconds, downtime ms or None)) with the client watching."""
        self.poller.mark()
        elapsed, qemu_ms = action()
        time.sleep(2 * REQUEST_S)       # a request in flight finishes or fails
        requests, failed, gap = self.poller.window()
        qemu_ms = qemu_ms if qemu_ms is not None else downtime
        row = {"what": label, "seconds": elapsed, "downtime_ms": qemu_ms, "requests": requests, "failed": failed,
               "gap_s": gap}
        self.rows.append(row)
        print("%-26s %5.1f s, downtime %4s ms, %4d requests, %d failed, longest gap %.2f s (%+.2f s over the downtime)"
              % (label, elapsed, qemu_ms, requests, failed, gap, gap - (qemu_ms or 0) / 1000.0), flush=True)
        return row

    def cleanup(self):
        if self.poller is not None:
            self.poller.stop.set()
        for host in self.lab.hosts:
            if not host.is_up():
                continue
            try:
                found = host.connect().lookupByName(self.name)
                if found.isActive():
                    found.destroy()
                found.undefine()
            except libvirt.libvirtError:
                pass
        for name in self.extra:
            for host in self.lab.hosts:
                try:
                    found = host.connect().lookupByName(name) if host.is_up() else None
                except libvirt.libvirtError:
                    found = None
                if found is not None:
                    if found.isActive():
                        found.destroy()
                    found.undefine()
            if os.path.exists(os.path.join(self.lab.shared_dir, name + ".img")):
                os.unlink(os.path.join(self.lab.shared_dir, name + ".img"))
        if os.path.exists(self.overlay_file):
            os.unlink(self.overlay_file)


# --- the parts ------------------------------------------------------------------------------------
def part_migrate(svc, rounds):
    lab, name = svc.lab, svc.name
    a, b = lab.host("hv1"), lab.host("hv2")
    # a first move there and back, unmeasured: a guest's first migration after boot is slower
    run_virsh(a, b, name, 0)
    run_virsh(b, a, name, 0)
    rows = {"vm_migrate": [], "virsh": []}
    here = a
    for rnd in range(rounds * 2):
        tool = ("vm_migrate", "virsh")[(rnd + rnd // 2) % 2]
        there = b if here is a else a

        def action(src=here, dest=there, tool=tool):
            if tool == "vm_migrate":
                return run_library(src, dest, name, svc.workdir, 0)
            return run_virsh(src, dest, name, 0)
        rows[tool].append(svc.measure("%s %s -> %s" % (tool, here.name, there.name), action))
        here = there
    med = {t: {k: statistics.median(r[k] for r in rows[t]) for k in ("gap_s", "downtime_ms", "seconds")} for t in rows}
    print("  medians: " + "; ".join("%s gap %.2f s, downtime %.0f ms, %.1f s" % (t, m["gap_s"], m["downtime_ms"], m["seconds"])
                                    for t, m in med.items()))
    print("  failed requests: vm_migrate %d, virsh %d (goal 0)"
          % (sum(r["failed"] for r in rows["vm_migrate"]), sum(r["failed"] for r in rows["virsh"])))
    print("  ratio vm_migrate/virsh: longest gap %.2f, downtime %.2f, time %.2f"
          % (med["vm_migrate"]["gap_s"] / med["virsh"]["gap_s"], med["vm_migrate"]["downtime_ms"] / med["virsh"]["downtime_ms"],
             med["vm_migrate"]["seconds"] / med["virsh"]["seconds"]))
    worst = max(r["gap_s"] - r["downtime_ms"] / 1000.0 for t in rows for r in rows[t])
    print("  longest gap above QEMU's downtime: at most %.2f s (goal 0.5 s); max_downtime %d ms" % (worst, MAX_DOWNTIME_MS))


def part_maintenance(svc):
    sys.path.insert(0, src_link())
    from ansible_collections.hotiron.virt.plugins.module_utils.hosts.maintenance_ops import run_host_maintenance
    lab = svc.lab
    host = active_on(lab, svc.name)[0]

    def params(state):
        return dict(uri=lab.host(host).uri, state=state, hosts={h.name: h.uri for h in lab.hosts}, concurrency=2,
                    pinned=[], pinned_action="fail", shutdown_timeout=10.0, anti_affinity=[], bring_back=True,
                    migration={}, migration_addresses={}, cpu_allocation_ratio=4.0, reserved_host_memory=256)

    for state in ("maintenance", "active"):
        def action(state=state):
            started = time.monotonic()
            result = run_host_maintenance(params(state), False)
            if result.get("failed"):
                raise SystemExit(result["msg"])
            return time.monotonic() - started, completed_downtime(lab, svc.name)
        svc.measure("host_maintenance %s %s" % (host, state), action)
        print("  the guest runs on %s" % ",".join(active_on(lab, svc.name)))


def cpu_rate(dom, seconds=5.0):
    """Cores a domain used, averaged over ``seconds``."""
    before, started = dom.info()[4], time.monotonic()
    time.sleep(seconds)
    return (dom.info()[4] - before) / 1e9 / (time.monotonic() - started)


def part_rebalance(svc):
    """hv1 made hot by a busy guest the rebalance may not move (``pinned``) and the service's
    guest burning CPU: the only move that cools hv1 without heating another host above cpu_high
    is the service's guest."""
    import guests  # pylint: disable=import-outside-toplevel
    lab = svc.lab
    home = active_on(lab, svc.name)[0]
    conn = lab.host(home).connect()
    busy = svc.name + "-busy"
    svc.extra.append(busy)
    guests.make_image(os.path.join(lab.shared_dir, busy + ".img"), "busy")
    busy_dom = conn.defineXML(guests.domain_xml(busy, "%s/%s.img" % (lab.shared_path, busy), "qemu", memory_mib=32))
    busy_dom.create()
    fetch(svc.address, "/cgi-bin/burn?600", time.monotonic() + 10)
    cpus = conn.getInfo()[2]
    tiny_load, busy_load = cpu_rate(conn.lookupByName(svc.name)) / cpus, cpu_rate(busy_dom) / cpus
    # just above the guest's own load: its destination stays below, its host (both) above,
    # whatever CPU the machine's other work leaves the two guests
    cpu_high = round(min(tiny_load * 1.3, (tiny_load + busy_load) * 0.75), 3)
    print("  on %s: the service's guest at %.0f %%, the pinned busy guest at %.0f %% of the host: cpu_high %.0f %%"
          % (home, 100 * tiny_load, 100 * busy_load, 100 * cpu_high))
    inventory = os.path.join(svc.workdir, "rebalance-inventory.json")
    with open(inventory, "w", encoding="utf-8") as handle:
        json.dump({"all": {"hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
                           "children": {"lab": {"hosts": {h.name: {"libvirt_uri": h.uri} for h in lab.hosts}}}}}, handle)
    extra = {"rebalance_group": "lab", "rebalance_cpu_high": cpu_high, "rebalance_window": 10, "rebalance_max_imbalance": 0.5,
             "rebalance_cooldown": 60, "rebalance_max_moves": 1, "rebalance_pinned": [busy],
             "rebalance_history_file": os.path.join(svc.workdir, "load.json")}
    runs = []

    def action():
        started = time.monotonic()
        for _run in range(8):
            begun = time.monotonic()
            proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory,
                                   "-e", json.dumps(extra), os.path.join(ROOT, "playbooks", "rebalance.yml")],
                                  capture_output=True, text=True, env=ansible_env(), check=False)
            runs.append(time.monotonic() - begun)
            if proc.returncode:
                raise SystemExit("rebalance.yml failed:\n" + proc.stdout[-3000:])
            if active_on(lab, svc.name) != [home]:
                return time.monotonic() - started, completed_downtime(lab, svc.name)
        raise SystemExit("rebalance never moved the guest:\n" + proc.stdout[-3000:])
    try:
        svc.measure("rebalance move from %s" % home, action)
    finally:
        busy_dom.destroy()
        fetch(svc.address, "/cgi-bin/burn?0", time.monotonic() + 10)
    print("  %d rebalance.yml run(s) (%s s), the guest now on %s"
          % (len(runs), ", ".join("%.1f" % r for r in runs), ",".join(active_on(lab, svc.name))))


def make_ha(svc, host):
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-c", "local",
                    "-e", "ansible_python_interpreter=" + sys.executable, "-m", "hotiron.virt.vm", "-a",
                    json.dumps({"uri": svc.lab.host(host).uri, "name": svc.name, "ha": True, "ha_priority": 100,
                                "state": "running", "restart_limit": {"count": 100, "window": 600}})],
                   check=True, capture_output=True, env=ansible_env())


def wait_until(what, predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit("timed out waiting for " + what)


def bmc_fencing(lab, host, since):
    """(start, end) in time.time() of the fencing of ``host`` seen in its BMC's log after
    ``since``: its first request, and the first power-status read after the power off (the
    agent reading it back).  The log's times are the time of day (UTC)."""
    day = since - since % 86400
    times, off = [], None
    with open(os.path.join(lab.state_dir, "bmc", host + ".log"), encoding="utf-8") as handle:
        for line in handle:
            stamp, _sp, rest = line.partition(" ")
            try:
                hours, minutes, seconds = stamp.split(":")
                when = day + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
            except ValueError:
                continue
            if when < since:
                continue
            times.append(when)
            if rest.startswith("power off"):
                off = when
            elif off is not None and "netfn 0x0 command 0x1" in rest:
                return times[0], when
    return (times[0] if times else None), off


def part_recover(svc):
    from recovery_helpers import kill_qemu, rulebook  # pylint: disable=import-outside-toplevel
    lab = svc.lab
    host = active_on(lab, svc.name)[0]
    make_ha(svc, host)
    state_file = os.path.join(svc.workdir, "recover.json")
    with rulebook(lab, svc.workdir, state_file, HOST_TIMEOUT, sweep_interval=60):
        wait_until("the rulebook's first pass", lambda: os.path.exists(state_file) and svc.name in open(state_file).read(), 120, 0.5)
        for failure in ("qemu", "hang"):
            host = active_on(lab, svc.name)[0]
            before = guest_id(svc.address).get("boot_id")
            svc.poller.mark()
            started, started_wall = time.monotonic(), time.time()
            if failure == "qemu":
                kill_qemu(lab.host(host), svc.name)
                skip = ()
            else:
                lab.hang(host)
                skip = (host,)
            # fenced: the hung host powered off by its BMC (the lab's keeper gone)
            fenced = wait_until("the host fenced", lambda: not lab.host(host).is_up(), 180) and time.monotonic() \
                if failure == "hang" else None
            wait_until("the guest running again", lambda: active_on(lab, svc.name, skip=skip), 180)
            running = time.monotonic()
            wait_until("the service answering", lambda: (svc.poller.last_answer() or 0) > running, 180, 0.02)
            answered = svc.poller.last_answer()
            after = guest_id(svc.address).get("boot_id")
            now_on = active_on(lab, svc.name, skip=skip)
            if fenced:
                fence_start, fence_end = bmc_fencing(lab, host, started_wall)
                fence_start, fence_end = (started + fence_start - started_wall, started + fence_end - started_wall)
                parts = "detection %.1f s, fencing %.1f s, start %.1f s" % (
                    fence_start - started, fence_end - fence_start, running - fence_end)
            else:
                parts = "detection + start %.1f s" % (running - started)
            print("%-26s answering again after %.1f s: %s, guest boot %.1f s; on %s, new boot id: %s"
                  % ("recover " + ("QEMU killed" if failure == "qemu" else "host hung") + " on " + host,
                     answered - started, parts, answered - running, ",".join(now_on), before != after), flush=True)
            svc.rows.append({"what": "recover " + failure, "total_s": answered - started, "running_s": running - started,
                             "fenced_s": (fence_end - started) if fenced else None,
                             "detected_s": (fence_start - started) if fenced else None, "boot_s": answered - running})
            if failure == "hang":
                lab.revive(host) if not lab.host(host).is_up() else None
                if failures.libvirtd_state(lab.host(host)) == "hung":
                    lab.unhang(host)
                wait_until("the returned host cleaned", lambda: active_on(lab, svc.name) == now_on, 120, 0.5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=4, help="migrations per tool (alternated)")
    parser.add_argument("--guest", choices=("tiny", "debian"), default="tiny")
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS))
    parser.add_argument("--json", help="write the rows to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (rulebook log, inventories)")
    opts = parser.parse_args()
    parts = [p for p in opts.parts.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit("unknown parts: %s" % ", ".join(sorted(unknown)))
    lab = Lab(int(os.environ.get("LAB_ID", "0")))
    if len([h for h in lab.hosts if h.is_up()]) < 3:
        raise SystemExit("needs a lab with three hosts up: LAB_ID=%d tests/lab/lab.py up --hosts 3" % lab.lab_id)
    workdir = tempfile.mkdtemp(prefix="bench-service-")
    svc = Service(lab, opts.guest, workdir)
    try:
        booted = svc.start("hv1")
        print("%s guest answering HTTP at %s %.0f s after its start (image %s)"
              % (opts.guest, svc.address, booted, "built in %.0f s" % svc.image_seconds if svc.image_seconds else "cached"))
        first = guest_id(svc.address).get("boot_id")
        if "migrate" in parts:
            part_migrate(svc, opts.rounds)
        if "maintenance" in parts:
            part_maintenance(svc)
        if "rebalance" in parts:
            part_rebalance(svc)
        last = guest_id(svc.address).get("boot_id")
        print("boot id through the live parts %s: %s" % ("unchanged" if first and first == last else "CHANGED", last))
        if "recover" in parts:
            part_recover(svc)
    finally:
        svc.cleanup()
        if not opts.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        if opts.json:
            with open(opts.json, "w", encoding="utf-8") as handle:
                json.dump(svc.rows, handle, indent=1)


if __name__ == "__main__":
    main()
