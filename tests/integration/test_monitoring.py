# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role hotiron.virt.monitoring on the lab, read through module_utils/capacity/prometheus.py.

An exporter on each of hv1..hv3 (inside the host, on its own 127.77.<id>.<n>:9177, reading
its libvirt over qemu+tcp), one Prometheus on this machine (localhost, the controller: a
host apart from the group, reaching the exporters over their addresses as a monitoring server
would) on 127.0.0.1:19090+LAB_ID, its files under the lab's state directory.  Bad variables
change nothing; check mode changes nothing; converge; a second converge changes nothing.  The
rendered rules pass `promtool check rules` and a `promtool test rules` of their meaning; with
a busy guest on hv1, Prometheus shows hv1's guests near one CPU and the others near none, and
the alert fires for hv1 alone.  Everything the role started is stopped by pidfile at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import time
import urllib.request

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.capacity import prometheus_ops as prometheus
from lab import tcp_open, wait_for

pytestmark = [pytest.mark.lab, pytest.mark.slow]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = os.path.join(ROOT, "playbooks", "monitoring.yml")
LAB_ID = int(os.environ.get("LAB_ID", "0"))
PORT = 19090 + LAB_ID
URL = f"http://127.0.0.1:{PORT}"
EXPORTER_PORT = 9177
EXPORTER_PIDFILE = "/run/prometheus/prometheus-libvirt-exporter.pid"
EXPORTER = "/usr/bin/prometheus-libvirt-exporter"
PROMETHEUS = "/usr/bin/prometheus"
HOST_CPUS = os.cpu_count()           # lab hosts read the machine's CPUs (ansible_processor_vcpus)


class Monitoring:
    """Paths of one lab's monitoring (under the lab's state directory, which the `prometheus`
    user can reach, unlike pytest's 0700 temporary directories)."""

    def __init__(self, lab, workdir):
        self.lab = lab
        self.dir = os.path.join(lab.state_dir, "monitoring")
        self.config_dir = os.path.join(self.dir, "etc")
        self.pidfile = os.path.join(self.dir, "run", "prometheus.pid")
        self.rules = os.path.join(self.config_dir, "hotiron-virt.rules.yml")
        self.extra_vars = {
            "monitoring_group": "lab",
            "monitoring_prometheus_host": "localhost",
            "monitoring_prometheus_address": "127.0.0.1",
            "monitoring_prometheus_port": PORT,
            "monitoring_prometheus_config_dir": self.config_dir,
            "monitoring_prometheus_storage_path": os.path.join(self.dir, "data"),
            "monitoring_prometheus_pidfile": self.pidfile,
            "monitoring_prometheus_log_file": os.path.join(self.dir, "prometheus.log"),
            "monitoring_scrape_interval": "2s",
            "monitoring_scrape_timeout": "2s",
            "monitoring_evaluation_interval": "2s",
            "monitoring_rate_window": "10s",
            "monitoring_window": "20s",
            # hv1/hv2 count the machine's CPUs (facts), hv3 one (inventory): the threshold is
            # 0.1 x 2 = 0.2 CPU on a 2-CPU machine, which a busy guest passes even when other
            # work on the machine takes most of a CPU from it.
            "monitoring_cpu_high": 0.1,
        }
        # Per-host settings belong in the inventory: the exporter reads its host's libvirt over
        # the lab's qemu+tcp (the lab's unix socket is root's), logs one file per host.
        self.inventory = os.path.join(workdir, "monitoring-lab-vars.yml")
        with open(self.inventory, "w", encoding="utf-8") as handle:
            json.dump({"lab": {
                "vars": {"monitoring_exporter_libvirt_uri": "{{ libvirt_uri }}",
                         "monitoring_exporter_log_file": self.dir + "/{{ inventory_hostname }}-exporter.log"},
                "hosts": {"hv3": {"monitoring_host_cpus": 1}}}}, handle)

    def exporters(self):
        return {h.name: (h.address, EXPORTER_PORT) for h in self.lab.hosts}

    def stop(self):
        """Stop what the role started, by pidfile and program; nothing is left listening."""
        for host in self.lab.hosts:
            if host.is_up():
                host.run(["start-stop-daemon", "--stop", "--quiet", "--oknodo", "--retry", "TERM/30/KILL/5",
                          "--remove-pidfile", "--pidfile", EXPORTER_PIDFILE, "--exec", EXPORTER])
        if os.path.exists(self.pidfile):
            subprocess.run(["start-stop-daemon", "--stop", "--quiet", "--oknodo", "--retry", "TERM/30/KILL/5",
                            "--remove-pidfile", "--pidfile", self.pidfile, "--exec", PROMETHEUS], check=True)
        listening = [f"{a}:{p}" for a, p in [*self.exporters().values(), ("127.0.0.1", PORT)] if tcp_open(a, p)]
        assert not listening, f"still listening: {listening}"

    def snapshot(self):
        """What converging may change: config files, pidfiles (daemons' pids), who listens."""
        files = {}
        if os.path.isdir(self.config_dir):
            for name in sorted(os.listdir(self.config_dir)):
                with open(os.path.join(self.config_dir, name), "rb") as handle:
                    files[name] = hashlib.sha256(handle.read()).hexdigest()
        pids = {h.name: h.run(["cat", EXPORTER_PIDFILE], check=False).stdout.strip() for h in self.lab.hosts}
        pids["prometheus"] = open(self.pidfile, encoding="utf-8").read().strip() \
            if os.path.exists(self.pidfile) else ""
        listening = {name: tcp_open(*where) for name, where in self.exporters().items()}
        listening["prometheus"] = tcp_open("127.0.0.1", PORT)
        return {"files": files, "pids": pids, "listening": listening,
                "dirs": sorted(os.listdir(self.dir)) if os.path.isdir(self.dir) else None}


@pytest.fixture(scope="module")
def monitoring(lab, ansible_runner):
    mon = Monitoring(lab, ansible_runner.workdir)
    mon.stop()                               # anything left by an interrupted run
    shutil.rmtree(mon.dir, ignore_errors=True)
    yield mon
    mon.stop()
    if os.environ.get("LAB_KEEP") != "1":
        shutil.rmtree(mon.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def play(ansible_runner, monitoring):
    def run(check=False, diff=False, limit=None, **extra):
        return ansible_runner.playbook(
            PLAYBOOK, extra_vars={**monitoring.extra_vars, **extra}, check=check, diff=diff, limit=limit,
            inventory=[ansible_runner.local_inventory, monitoring.lab.inventory_path, monitoring.inventory])
    return run


HOSTS = ("hv1", "hv2", "hv3", "localhost")


def test_bad_variables_change_nothing(monitoring, play):
    before = monitoring.snapshot()
    run = play(monitoring_cpu_high=1.5, monitoring_rate_window="2s", monitoring_scrape_timeout="3s",
               monitoring_window="2 minutes", monitoring_exporter_port=0)
    assert run.rc != 0
    failed = [r["result"]["msg"] for r in run.results if r["status"] == "failed"]
    assert len(failed) == 4 and len(set(failed)) == 1, failed       # every host, the same message
    assert failed[0] == (
        "monitoring_exporter_port must be 1-65535, not 0; "
        "monitoring_cpu_high is a fraction of the host CPUs, above 0 and at most 1, not 1.5; "
        "not PromQL durations (such as 30s, 2m, 1h30m): monitoring_window=2 minutes; "
        "monitoring_scrape_timeout (3s) must not exceed monitoring_scrape_interval (2s); "
        "monitoring_rate_window (2s) must span at least two scrapes (2 x 2s): rate() needs two samples")
    assert monitoring.snapshot() == before


def test_the_monitoring_host_alone_is_refused(monitoring, play):
    """Prometheus needs what the role records on each host of the group: --limit to the
    monitoring host is refused before anything changes, naming the hosts."""
    before = monitoring.snapshot()
    run = play(limit="localhost")
    assert run.rc != 0
    failed = [r["result"]["msg"] for r in run.results if r["status"] == "failed"]
    assert failed == ["hosts of lab not configured in this play, so their exporter address and CPUs are "
                      "unknown: hv1, hv2, hv3 (unreachable, failed, or left out by --limit: run the role on "
                      "the whole group and the monitoring host together)"]
    assert monitoring.snapshot() == before


def test_check_mode_where_the_packages_are_missing(monitoring, play):
    """A monitoring host without Prometheus yet (simulated: its package list names a package
    that is not installed, its programs are not there): check mode plans and changes nothing."""
    before = monitoring.snapshot()
    run = play(check=True, __monitoring_prometheus_packages=["prometheus", "hotiron-absent-package"],
               __monitoring_prometheus_exec="/nonexistent/prometheus", __monitoring_promtool="/nonexistent/promtool")
    assert run.rc == 0, run.stdout[-3000:]
    planned = {r["host"]: r["result"]["msg"] for r in run.results
               if r["task"].endswith("Name the packages that would be installed") and r["status"] != "skipped"}
    assert planned == {"localhost": "would install: hotiron-absent-package"}
    started = {r["host"]: r["result"]["stdout_lines"] for r in run.results
               if r["task"].endswith("Start the daemons that are not running (no systemd)")}
    assert started["localhost"] == ["prometheus"]
    assert monitoring.snapshot() == before


def test_check_mode_converge_and_converge_again(monitoring, play):
    before = monitoring.snapshot()
    assert not any(before["listening"].values()) and before["files"] == {}

    checked = play(check=True, diff=True)
    assert checked.rc == 0, checked.stdout[-3000:]
    assert all(checked.changed(h) > 0 for h in HOSTS), checked.recap
    started = {r["host"]: r["result"]["stdout_lines"] for r in checked.results
               if r["task"].endswith("Start the daemons that are not running (no systemd)")}
    assert started == {"hv1": ["exporter"], "hv2": ["exporter"], "hv3": ["exporter"], "localhost": ["prometheus"]}
    assert monitoring.snapshot() == before

    first = play()
    assert first.rc == 0, first.stdout[-3000:]
    assert all(first.changed(h) > 0 for h in HOSTS), first.recap
    where = [r["result"]["msg"] for r in first.for_task("Where Prometheus answers")]
    assert where == [f"Prometheus for lab: {URL}"]
    after = monitoring.snapshot()
    assert all(after["listening"].values()), after
    assert sorted(after["files"]) == ["hotiron-virt.rules.yml", "prometheus.yml"]
    # Each exporter runs inside its host, as user prometheus, with the wanted arguments.
    for host in monitoring.lab.hosts:
        pid = after["pids"][host.name]
        argv = host.run(["cat", f"/proc/{pid}/cmdline"]).stdout.split("\0")[:-1]
        assert argv == [EXPORTER, f"--libvirt.uri={host.uri}", f"--web.listen-address={host.address}:9177"]
        assert host.run(["stat", "-c", "%U", f"/proc/{pid}"]).stdout.strip() == "prometheus"
    targets = {s.labels["host"]: s.labels["instance"]
               for s in wait_for("every target scraped", lambda: _targets_up(3), timeout=60)}
    assert targets == {h.name: f"{h.address}:9177" for h in monitoring.lab.hosts}
    assert {s.labels["host"]: s.value for s in prometheus.query(URL, "hotiron:host_cpus")} == \
        {"hv1": HOST_CPUS, "hv2": HOST_CPUS, "hv3": 1}

    second = play()
    assert second.rc == 0, second.stdout[-3000:]
    assert all(second.changed(h) == 0 for h in HOSTS), second.recap
    assert monitoring.snapshot() == after

    checked_again = play(check=True)
    assert checked_again.rc == 0 and all(checked_again.changed(h) == 0 for h in HOSTS), checked_again.recap
    assert monitoring.snapshot() == after


def _targets_up(count):
    found = prometheus.query(URL, 'up{job="libvirt"} == 1')
    return found if len(found) == count else None


def test_rules_are_valid_and_mean_what_they_say(monitoring, tmp_path):
    """promtool (Debian's prometheus package) checks the rendered rules, then evaluates them
    on made-up series: 1 CPU on hv1, 1/16 on hv2 (exact in binary: promtool compares values
    exactly), no guest on hv3 (1 CPU in the inventory)."""
    assert os.path.exists(monitoring.rules), "run after the converge test"
    checked = subprocess.run(["promtool", "check", "rules", monitoring.rules], capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 0 and "SUCCESS: 6 rules found" in checked.stdout, checked.stdout + checked.stderr
    cpu = "libvirt_domain_info_cpu_time_seconds_total"
    test = {
        "rule_files": [monitoring.rules],
        "evaluation_interval": "2s",
        "tests": [{
            "interval": "2s",
            "input_series": [
                {"series": f'{cpu}{{job="libvirt",host="hv1",domain="busy"}}', "values": "0+2x40"},
                {"series": f'{cpu}{{job="libvirt",host="hv2",domain="idle"}}', "values": "0+0.125x40"},
                *({"series": f'libvirt_up{{job="libvirt",host="{h}"}}', "values": "1x40"} for h in ("hv1", "hv2", "hv3")),
            ],
            "promql_expr_test": [{
                "expr": "hotiron:host_cpu_used:rate", "eval_time": "30s",
                "exp_samples": [{"labels": 'hotiron:host_cpu_used:rate{host="hv1"}', "value": 1},
                                {"labels": 'hotiron:host_cpu_used:rate{host="hv2"}', "value": 0.0625},
                                {"labels": 'hotiron:host_cpu_used:rate{host="hv3"}', "value": 0}]}, {
                "expr": "hotiron:host_cpu_usage:ratio", "eval_time": "30s",
                "exp_samples": [{"labels": 'hotiron:host_cpu_usage:ratio{host="hv1"}', "value": 1 / HOST_CPUS},
                                {"labels": 'hotiron:host_cpu_usage:ratio{host="hv2"}', "value": 0.0625 / HOST_CPUS},
                                {"labels": 'hotiron:host_cpu_usage:ratio{host="hv3"}', "value": 0}]}],
            # Above the threshold from the first evaluation with a rate (2 s): pending until it
            # has stayed there for the window (20 s), firing after.
            "alert_rule_test": [
                {"alertname": "HotironHostCpuHigh", "eval_time": "12s", "exp_alerts": []},
                {"alertname": "HotironHostCpuHigh", "eval_time": "40s", "exp_alerts": [{
                    "exp_labels": {"host": "hv1", "severity": "warning", "group": "lab"},
                    "exp_annotations": {
                        "summary": f"hv1: guests use {100 / HOST_CPUS:g}% of its CPUs",
                        "description": "The guests of this host have used more than 10 % of its CPUs for "
                                       "20s (averaged over 10s)."}}]}],
        }],
    }
    path = tmp_path / "rules-test.yml"
    path.write_text(json.dumps(test))            # JSON is YAML
    tested = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True, check=False)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_busy_host_near_one_cpu_and_its_alert_fires(monitoring, lab_guest, run_module):
    busy = lab_guest("hv1", "busy")
    idle = lab_guest("hv2", "idle")
    hosts = ["hv1", "hv2", "hv3"]

    started = time.time()

    def settled():
        # Both guests seen with a rate over a whole rate window after they started.
        found = prometheus.group_metrics(URL, "10s", hosts)
        vms = {**found["hosts"]["hv1"]["vms"], **found["hosts"]["hv2"]["vms"]}
        ready = all(vms.get(g.name, {}).get("cpu_used") is not None for g in (busy, idle))
        return found if ready and time.time() - started >= 12 else None

    found = wait_for("both guests in Prometheus", settled, timeout=90, interval=1)["hosts"]
    print(f"\nCPUs used over 10 s: hv1 {found['hv1']['cpu_used']:.3f}, hv2 {found['hv2']['cpu_used']:.4f}, "
          f"hv3 {found['hv3']['cpu_used']:.3f}")
    hv1, hv2, hv3 = found["hv1"], found["hv2"], found["hv3"]
    assert all(h["up"] for h in (hv1, hv2, hv3))
    assert list(hv1["vms"]) == [busy.name] and list(hv2["vms"]) == [idle.name] and hv3["vms"] == {}
    # Near one CPU for the busy guest (the machine's 2 CPUs are shared with other work, so
    # the lower bound is loose), near none for the idle one, exactly none for an empty host.
    assert 0.3 < hv1["cpu_used"] < 1.2
    assert hv2["cpu_used"] < 0.1 and hv1["cpu_used"] > 5 * hv2["cpu_used"]
    assert hv3["cpu_used"] == 0.0
    assert hv1["vms"][busy.name]["vcpus"] == 1 and hv1["vms"][busy.name]["memory_bytes"] == 32 << 20
    assert hv1["cpu_usage"] == pytest.approx(hv1["cpu_used"] / HOST_CPUS)

    history = prometheus.cpu_history(URL, hosts, "30s", "2s", rate_window="10s")
    assert history["hv1"] and max(v for _t, v in history["hv1"]) > 0.3
    assert all(v == 0.0 for _t, v in history["hv3"]) and history["hv3"]

    def firing():
        alerts = prometheus.query(URL, 'ALERTS{alertname="HotironHostCpuHigh",alertstate="firing"}')
        return alerts or None

    # The collection's modules read the same: group_stats from Prometheus agrees with its own
    # libvirt sampling within reason (different windows on a machine shared with other work).
    uris = {h.name: h.uri for h in monitoring.lab.hosts}
    direct = run_module("hotiron.virt.group_stats", {"hosts": uris, "interval": 5, "stats": ["cpu"]})
    through = run_module("hotiron.virt.group_stats", {"hosts": uris, "prometheus_url": URL, "window": "10s"})
    assert not direct["failed"] and not through["failed"] and through["source"] == "prometheus", through
    for name in hosts:
        assert sorted(through["hosts"][name]["vms"]) == sorted(direct["hosts"][name]["vms"])
    a, b = direct["hosts"]["hv1"]["load"], through["hosts"]["hv1"]["load"]
    print("hv1 load: libvirt over 5 s %.2f, Prometheus over 10 s %.2f" % (a, b))
    assert abs(a - b) < 0.25 and through["group"]["hottest"] == direct["group"]["hottest"] == "hv1"

    alerts = wait_for("HotironHostCpuHigh firing", firing, timeout=120, interval=1)
    assert [a.labels["host"] for a in alerts] == ["hv1"]
    assert alerts[0].labels["severity"] == "warning" and alerts[0].labels["group"] == "lab"

    # Figures (printed, not asserted): scrape durations, and group_metrics' query time.
    scrapes = {s.labels["host"]: s.value for s in prometheus.query(URL, 'scrape_duration_seconds{job="libvirt"}')}
    timings = []
    for _round in range(20):
        began = time.perf_counter()
        prometheus.group_metrics(URL, "2m", hosts)
        timings.append(time.perf_counter() - began)
    print("scrape duration per exporter: " + ", ".join(f"{h} {v * 1000:.1f} ms" for h, v in sorted(scrapes.items())))
    print(f"group_metrics (3 hosts, 2 VMs, one query): median {statistics.median(timings) * 1000:.1f} ms, "
          f"max {max(timings) * 1000:.1f} ms over {len(timings)}")


def test_changes_reload_prometheus_and_restart_exporters(monitoring, play):
    """A new threshold changes the rule file: Prometheus reloads it (same process). A new
    exporter port changes the exporters' arguments: each is restarted, and Prometheus's
    targets follow. Converging back restores both."""
    before = monitoring.snapshot()
    changed = play(monitoring_cpu_high=0.5, monitoring_exporter_port=EXPORTER_PORT + 1)
    assert changed.rc == 0, changed.stdout[-3000:]
    restarted = {r["host"] for r in changed.results if "Start them with their wanted arguments" in r["task"]
                 and r["status"] == "changed"}
    assert restarted == {"hv1", "hv2", "hv3"}
    after = monitoring.snapshot()
    assert after["pids"]["prometheus"] == before["pids"]["prometheus"]
    assert all(after["pids"][h.name] not in ("", before["pids"][h.name]) for h in monitoring.lab.hosts)
    assert all(tcp_open(h.address, EXPORTER_PORT + 1) and not tcp_open(h.address, EXPORTER_PORT)
               for h in monitoring.lab.hosts)

    def reloaded():
        rules = _alert_query()
        instances = {s.labels["instance"] for s in prometheus.query(URL, 'up{job="libvirt"} == 1')}
        return rules == "hotiron:host_cpu_usage:ratio > 0.5" and instances == {
            f"{h.address}:{EXPORTER_PORT + 1}" for h in monitoring.lab.hosts}
    wait_for("Prometheus to reload its rules and scrape the new ports", reloaded, timeout=60, interval=0.5)

    back = play()
    assert back.rc == 0, back.stdout[-3000:]
    restored = monitoring.snapshot()
    assert restored["files"] == before["files"] and restored["listening"] == before["listening"]
    assert restored["pids"]["prometheus"] == before["pids"]["prometheus"]


def test_a_daemon_that_exits_is_reported_with_its_log(monitoring, play):
    bad = play(monitoring_prometheus_extra_args=["--storage.tsdb.min-block-duration=bogus"])
    assert bad.rc != 0
    failed = [r["result"]["msg"] for r in bad.results if r["status"] == "failed" and r["host"] == "localhost"]
    assert failed[-1].startswith("prometheus on localhost does not answer"), failed
    assert 'Error parsing commandline arguments: not a valid duration string: "bogus"' in failed[-1]
    assert not tcp_open("127.0.0.1", PORT)
    assert all(tcp_open(*where) for where in monitoring.exporters().values())    # the exporters run on

    good = play()
    assert good.rc == 0, good.stdout[-3000:]
    assert tcp_open("127.0.0.1", PORT)


def _alert_query():
    """The expression of HotironHostCpuHigh as Prometheus has loaded it."""
    request = urllib.request.Request(URL + "/api/v1/rules?type=alert")
    with urllib.request.urlopen(request, timeout=10) as response:
        groups = json.load(response)["data"]["groups"]
    return next(rule["query"] for g in groups for rule in g["rules"] if rule["name"] == "HotironHostCpuHigh")
