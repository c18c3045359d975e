# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record Prometheus's answers (raw bytes, as the API sent them) for the unit tests.

    .venv/bin/python tests/data/prometheus/record.py URL SCENE

The answers in this directory were recorded from the Prometheus that role
hotiron.virt.monitoring deployed for a 3-host lab (scrape interval 2 s), scenes:

- ``steady``: hv1 runs a busy guest (1 vCPU at 100 %), hv2 an idle guest with 2 vCPUs and a
  NIC on an isolated network, hv3 no running guest (one defined, shut off):
  group_metrics.json, cpu_history.json, scalar.json, error_bad_data.json,
  error_too_many_points.json;
- ``exporter_down``: then hv1's exporter stopped, a few scrapes before:
  group_metrics_exporter_down.json;
- ``migrated``: a busy guest moved live from hv1 to hv3 a few scrapes before:
  group_metrics_migrated.json.

The queries are those of plugins/module_utils/capacity/prometheus.py.
"""

import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "build", "src"))

from ansible_collections.hotiron.virt.plugins.module_utils.capacity import prometheus_ops as prometheus  # noqa: E402

HOSTS = ["hv1", "hv2", "hv3"]


def record(url, name, endpoint, params):
    request = urllib.request.Request(f"{url}/api/v1/{endpoint}", data=urllib.parse.urlencode(params).encode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
    with open(os.path.join(HERE, name), "wb") as handle:
        handle.write(body)
    print(f"{name}: {len(body)} bytes")


def main(url, scene):
    group = {"query": prometheus.group_metrics_query("30s", HOSTS)}
    if scene == "steady":
        now = time.time()
        record(url, "group_metrics.json", "query", group)
        record(url, "cpu_history.json", "query_range", {
            "query": prometheus.host_cpu_query("10s", HOSTS), "start": now - 60, "end": now, "step": 10})
        record(url, "scalar.json", "query", {"query": "1 + 1"})
        record(url, "error_bad_data.json", "query", {"query": "sum(rate(libvirt_up[1m])"})
        record(url, "error_too_many_points.json", "query_range", {
            "query": "libvirt_up", "start": now - 3600, "end": now, "step": 0.1})
    elif scene in ("exporter_down", "migrated"):
        record(url, f"group_metrics_{scene}.json", "query", group)
    else:
        raise SystemExit(f"unknown scene {scene!r}")


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"), sys.argv[2])
