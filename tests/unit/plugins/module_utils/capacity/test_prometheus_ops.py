# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Prometheus client against Prometheus's own answers, recorded from a lab run
(tests/data/prometheus, see record.py there), replayed by a real HTTP server on loopback."""

from __future__ import annotations

import http.server
import json
import os
import re
import socket
import threading
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.hotiron.virt.plugins.module_utils.capacity import prometheus_ops as prometheus
from ansible_collections.hotiron.virt.plugins.module_utils.capacity.prometheus_ops import PrometheusError

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "prometheus")
HOSTS = ["hv1", "hv2", "hv3"]


def recorded(name):
    with open(os.path.join(DATA, name), "rb") as handle:
        return handle.read()


class Replay:
    """An HTTP server on 127.0.0.1 answering every request with ``status`` and ``body``;
    ``hold`` (a threading.Event) makes it wait before answering, until the test sets it."""

    def __init__(self):
        self.status, self.body, self.content_type = 200, b"", "application/json"
        self.hold = None
        self.requests = []
        replay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", 0))
                replay.requests.append((self.path, self.headers.get("Content-Type"),
                                        urllib.parse.parse_qs(self.rfile.read(length).decode())))
                if replay.hold is not None:
                    replay.hold.wait(30)
                try:
                    self.send_response(replay.status)
                    self.send_header("Content-Type", replay.content_type)
                    self.send_header("Content-Length", str(len(replay.body)))
                    self.end_headers()
                    self.wfile.write(replay.body)
                except OSError:     # the client gave up (timeout test)
                    pass

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def answer(self, name=None, status=200, body=None, content_type="application/json"):
        self.status, self.content_type = status, content_type
        self.body = recorded(name) if name else body
        return self

    def close(self):
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def replay():
    server = Replay()
    yield server
    server.close()


# --- group_metrics on recorded answers --------------------------------------------------------
def test_group_metrics_steady_lab(replay):
    replay.answer("group_metrics.json")
    found = prometheus.group_metrics(replay.url + "/", "30s", HOSTS + ["hv9"])

    # One POST, form-encoded, of the query group_metrics_query builds, with a server timeout.
    (path, ctype, form), = replay.requests
    assert path == "/api/v1/query" and ctype == "application/x-www-form-urlencoded"
    assert form["query"] == [prometheus.group_metrics_query("30s", HOSTS + ["hv9"])]
    assert form["timeout"] == ["10"]

    assert found["window"] == "30s" and found["time"] == pytest.approx(1795913800.625)
    assert list(found["hosts"]) == ["hv1", "hv2", "hv3", "hv9"]
    hv1, hv2, hv3, hv9 = (found["hosts"][h] for h in ("hv1", "hv2", "hv3", "hv9"))

    # hv1: the busy guest, near one CPU; the host's totals are its guest's.
    busy = hv1["vms"]["probe-busy"]
    assert busy == {"present": True, "cpu_used": pytest.approx(0.92918615862586), "vcpus": 1,
                    "memory_bytes": 32 << 20, "memory_max_bytes": 32 << 20,
                    "disk_read_bytes_per_s": 0.0, "disk_write_bytes_per_s": 0.0,
                    "net_rx_bytes_per_s": None, "net_tx_bytes_per_s": None}
    assert hv1["up"] and hv1["cpus"] == 2
    assert hv1["cpu_used"] == busy["cpu_used"] and hv1["cpu_usage"] == pytest.approx(busy["cpu_used"] / 2)
    assert (hv1["vcpus"], hv1["memory_bytes"]) == (1, 32 << 20)

    # hv2: two idle guests, one with 2 vCPUs and a NIC (network rates 0, not None).
    assert sorted(hv2["vms"]) == ["probe-idle", "probe-nic"]
    nic = hv2["vms"]["probe-nic"]
    assert (nic["vcpus"], nic["memory_bytes"], nic["net_rx_bytes_per_s"], nic["net_tx_bytes_per_s"]) == \
        (2, 48 << 20, 0.0, 0.0)
    assert hv2["cpu_used"] == pytest.approx(0.005714285714285719 + 0.002889055555555556)
    assert hv2["cpu_used"] < 0.05 and (hv2["vcpus"], hv2["memory_bytes"]) == (3, 80 << 20)

    # hv3 runs nothing (a shut-off guest is not exported): 0, not unknown.
    assert hv3 == {"up": True, "cpus": 2, "cpu_used": 0.0, "cpu_usage": 0.0, "vcpus": 0,
                   "memory_bytes": 0, "vms": {}}
    # A host Prometheus does not know is in the answer, unknown.
    assert hv9 == {"up": False, "cpus": None, "cpu_used": None, "cpu_usage": None, "vcpus": None,
                   "memory_bytes": None, "vms": {}}


def test_group_metrics_keeps_to_the_hosts_asked_for(replay):
    replay.answer("group_metrics.json")
    found = prometheus.group_metrics(replay.url, 30, ["hv2"])
    assert list(found["hosts"]) == ["hv2"] and found["window"] == "30000ms"
    assert replay.requests[0][2]["query"][0].count('host=~"hv2"') == 10


def test_group_metrics_after_a_live_migration(replay):
    """probe-mig (busy) moved from hv1 to hv3 a few scrapes before: it is on both hosts, its
    CPU counted on each for its part of the window, present only on hv3."""
    found = prometheus.group_metrics(replay.answer("group_metrics_migrated.json").url, "30s", HOSTS)
    left, arrived = found["hosts"]["hv1"]["vms"]["probe-mig"], found["hosts"]["hv3"]["vms"]["probe-mig"]
    assert not left["present"] and left["vcpus"] is None and left["cpu_used"] > 0.1
    assert arrived["present"] and arrived["vcpus"] == 1 and arrived["cpu_used"] > 0.05
    hv1 = found["hosts"]["hv1"]
    assert hv1["cpu_used"] == pytest.approx(sum(vm["cpu_used"] for vm in hv1["vms"].values()))
    assert hv1["vcpus"] == 1            # probe-busy only: probe-mig is no longer there
    assert found["hosts"]["hv3"]["vcpus"] == 1


def test_group_metrics_with_an_exporter_down(replay):
    found = prometheus.group_metrics(replay.answer("group_metrics_exporter_down.json").url, "30s", HOSTS)
    hv1 = found["hosts"]["hv1"]
    assert hv1["up"] is False and hv1["cpus"] == 2
    assert (hv1["cpu_used"], hv1["cpu_usage"], hv1["vcpus"], hv1["memory_bytes"]) == (None, None, None, None)
    assert sorted(hv1["vms"]) == ["probe-busy", "probe-mig"]
    assert not any(vm["present"] for vm in hv1["vms"].values())
    assert found["hosts"]["hv2"]["up"] and found["hosts"]["hv3"]["up"]


# --- cpu_history, query, query_range ------------------------------------------------------------
def test_cpu_history(replay):
    replay.answer("cpu_history.json")
    history = prometheus.cpu_history(replay.url, HOSTS + ["hv9"], "60s", "10s", rate_window="10s",
                                     end=1795913800.618)
    (path, _ctype, form), = replay.requests
    assert path == "/api/v1/query_range"
    assert form["query"] == [prometheus.host_cpu_query("10s", HOSTS + ["hv9"])]
    assert (float(form["start"][0]), float(form["end"][0]), form["step"][0]) == (1795913740.618, 1795913800.618, "10")
    assert sorted(history) == ["hv1", "hv2", "hv3", "hv9"] and history["hv9"] == []
    assert [len(points) for points in (history["hv1"], history["hv2"], history["hv3"])] == [7, 7, 7]
    assert history["hv1"][0] == (1795913740.618, 0.875)
    assert all(0.5 < cpus < 1.1 for _t, cpus in history["hv1"])
    assert all(cpus == 0.0 for _t, cpus in history["hv3"])
    times = [t for t, _v in history["hv2"]]
    assert times == sorted(times) and times[1] - times[0] == pytest.approx(10)


def test_cpu_history_default_rate_window_is_at_least_a_minute(replay):
    replay.answer("cpu_history.json")
    prometheus.cpu_history(replay.url, "hv1", "1h", "15s", end=1795913800)
    prometheus.cpu_history(replay.url, "hv1", "1d", "5m", end=1795913800)
    queries = [form["query"][0] for _p, _c, form in replay.requests]
    assert "[60000ms]" in queries[0] and "[300000ms]" in queries[1]


def test_query_scalar_and_vector(replay):
    assert prometheus.query(replay.answer("scalar.json").url, "1 + 1") == [
        prometheus.Sample({}, 1795913800.631, 2.0)]
    samples = prometheus.query(replay.answer("group_metrics.json").url, "whatever", time=1795913800.625)
    assert len(samples) == 26 and replay.requests[-1][2]["time"] == ["1795913800.625"]
    assert samples[0] == prometheus.Sample({"host": "hv1", "hotiron_metric": "libvirt_up"}, 1795913800.625, 1.0)


def test_query_range_refuses_a_vector_and_query_a_matrix(replay):
    with pytest.raises(PrometheusError, match="gives a vector, not a range of numbers"):
        prometheus.query_range(replay.answer("group_metrics.json").url,
                               "up", 1, 2, "1s")
    with pytest.raises(PrometheusError, match="gives a matrix, not numbers"):
        prometheus.query(replay.answer("cpu_history.json").url, "up[1m]")


def test_special_values_are_floats():
    data = {"resultType": "vector", "result": [
        {"metric": {"a": "1"}, "value": [1.5, "NaN"]}, {"metric": {}, "value": [1.5, "+Inf"]}]}
    nan, inf = prometheus.parse_vector(data)
    assert nan.value != nan.value and inf.value == float("inf")


# --- errors -------------------------------------------------------------------------------------
def test_promql_error_text_from_prometheus(replay):
    replay.answer("error_bad_data.json", status=400)
    with pytest.raises(PrometheusError) as caught:
        prometheus.query(replay.url, "sum(rate(libvirt_up[1m])")
    assert str(caught.value) == (
        f"Prometheus at {replay.url} refused 'sum(rate(libvirt_up[1m])': bad_data: invalid parameter "
        "\"query\": 1:25: parse error: unclosed left parenthesis")


def test_too_many_points(replay):
    replay.answer("error_too_many_points.json", status=400)
    with pytest.raises(PrometheusError, match=r"refused 'libvirt_up': bad_data: exceeded maximum "
                                              r"resolution of 11,000 points"):
        prometheus.query_range(replay.url, "libvirt_up", 0, 3600, 0.1)


def test_http_error_that_is_not_prometheus(replay):
    replay.answer(status=404, body=b"404 page not found\n", content_type="text/plain")
    with pytest.raises(PrometheusError, match=r"answered HTTP 404 Not Found to http://127\.0\.0\.1:\d+/"
                                              r"prom/api/v1/query \(is this Prometheus's URL\?\)"):
        prometheus.query(replay.url + "/prom", "up")


def test_answer_that_is_not_prometheus_json(replay):
    replay.answer(body=b"<html><h1>Libvirt Exporter</h1></html>", content_type="text/html")
    with pytest.raises(PrometheusError, match=r"is not Prometheus's JSON: '<html><h1>Libvirt"):
        prometheus.query(replay.url, "up")
    replay.answer(body=b'{"status": "success", "data": {"result": []}}')
    with pytest.raises(PrometheusError, match="has no result"):
        prometheus.query(replay.url, "up")
    replay.answer(body=b'{"status": "success", "data": {"resultType": "vector", "result": '
                       b'[{"metric": {}, "value": [1, "x"]}]}}')
    with pytest.raises(PrometheusError, match="has a bad sample"):
        prometheus.query(replay.url, "up")


def test_unreachable():
    with socket.socket() as sock:           # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(PrometheusError, match=rf"cannot reach Prometheus at http://127\.0\.0\.1:{port}: "
                                              r".*Connection refused"):
        prometheus.query(f"http://127.0.0.1:{port}", "up")


def test_too_slow(replay):
    replay.hold = threading.Event()         # the server holds its answer until the test ends
    replay.answer("scalar.json")
    with pytest.raises(PrometheusError, match=rf"Prometheus at {re.escape(replay.url)} did not answer "
                                              r"'up' within 0\.2 s"):
        prometheus.query(replay.url, "up", timeout=0.2)
    assert replay.requests[0][2]["timeout"] == ["0.2"]


@pytest.mark.parametrize("call, message", [
    (lambda: prometheus.query("localhost:9090", "up"), "Prometheus URL must be http(s)://host:port"),
    (lambda: prometheus.query("ftp://h/", "up"), "Prometheus URL must be"),
    (lambda: prometheus.query("http://h", "up", timeout=0), "timeout must be a number of seconds above 0"),
    (lambda: prometheus.group_metrics("http://h", "2 minutes", HOSTS), "window must be a PromQL duration"),
    (lambda: prometheus.group_metrics("http://h", "0s", HOSTS), "window must be more than 0 seconds"),
    (lambda: prometheus.group_metrics("http://h", -5, HOSTS), "window must be more than 0 seconds"),
    (lambda: prometheus.group_metrics("http://h", True, HOSTS), "window must be a PromQL duration"),
    (lambda: prometheus.group_metrics("http://h", "2m", []), "hosts must be a non-empty list"),
    (lambda: prometheus.group_metrics("http://h", "2m", ["hv1", ""]), "hosts must be a non-empty list"),
    (lambda: prometheus.cpu_history("http://h", "hv1", "1h", "1x"), "step must be a PromQL duration"),
    (lambda: prometheus.query_range("http://h", "up", 10, 10, "1s"), "needs end after start"),
])
def test_bad_arguments(call, message):
    with pytest.raises(PrometheusError, match=re.escape(message)):
        call()


# --- durations and selectors ----------------------------------------------------------------------
@pytest.mark.parametrize("text, seconds", [
    ("30s", 30), ("2m", 120), ("1h30m", 5400), ("500ms", 0.5), ("1d", 86400), ("1w", 604800), (90, 90), (0.5, 0.5)])
def test_duration_seconds(text, seconds):
    assert prometheus.duration_seconds(text) == seconds


HOSTNAME = st.text(alphabet="abcz09.-_|()[]*+?^$\\{}", min_size=1, max_size=12)


@given(names=st.lists(HOSTNAME, min_size=1, max_size=5, unique=True), other=HOSTNAME)
def test_host_selector_matches_the_names_literally(names, other):
    """The matcher's regular expression (anchored, as Prometheus anchors it) matches each
    name and nothing else; its string is a valid PromQL (JSON-compatible) string."""
    selector = prometheus.host_selector(names)
    assert selector.startswith("host=~")
    pattern = re.compile("^(?:" + json.loads(selector[len("host=~"):]) + ")$")
    assert all(pattern.match(name) for name in names)
    assert bool(pattern.match(other)) == (other in names)
