# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a resource group's metrics from Prometheus (no libvirt; HTTP through Ansible's ``open_url``).

Prometheus scrapes one ``prometheus-libvirt-exporter`` per hypervisor, each target labelled
``host`` with the hypervisor's inventory name (as role ``hotiron.virt.monitoring`` sets it up).
This module asks Prometheus's HTTP API (``/api/v1/query``, ``/api/v1/query_range``):

* :func:`query` and :func:`query_range`: any PromQL, answers parsed into :class:`Sample` and
  :class:`Series`;
* :func:`group_metrics`: every VM of every host of a group with its CPU, memory, disk and
  network use over a window, in one query;
* :func:`cpu_history`: each host's CPU use over time.

Every failure (Prometheus unreachable or too slow, an HTTP error, a PromQL error Prometheus
reports, an answer that is not Prometheus's, a bad argument) raises :class:`PrometheusError`
with a message naming the URL and what was asked, fit to show an operator.

A host's CPU use is what its guests use: the rate of their
``libvirt_domain_info_cpu_time_seconds_total`` (libvirt's cpu.time of each guest, all its QEMU
threads), never the host's own CPU counters, which several hosts sharing a machine (a lab)
would all read as the whole machine's.  libvirt counts cpu.time in steps of 10 ms when it does
not manage cgroups, so a rate over a short window is coarse: over 20 s a step is 0.0005 CPU.
"""

from __future__ import annotations

import json
import re
import socket
import time as _time
import urllib.error
import urllib.parse
from dataclasses import dataclass, field

DEFAULT_TIMEOUT = 10.0
_DURATION = re.compile(r"^(?:[0-9]+(?:ms|s|m|h|d|w|y))+$")
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w|y)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
# Characters with a meaning in a (RE2) regular expression, escaped in host names.
_REGEX_SPECIAL = re.compile(r"([\\.^$*+?()\[\]{}|])")
# The label group_metrics uses to tell its sub-queries apart in the one answer.
_KEY = "hotiron_metric"

# Per host: libvirt answers the exporter (1) or not (0); CPUs from the role's recording rule.
_HOST_EXPRS = {
    "libvirt_up": "max by (host) (libvirt_up{%(sel)s})",
    "cpus": "max by (host) (hotiron:host_cpus{%(sel)s})",
}
# Per VM (labels host and domain).  Gauges are read as they are now, counters as rates over
# the window.
_VM_EXPRS = {
    "cpu_used": "sum by (host, domain) (rate(libvirt_domain_info_cpu_time_seconds_total{%(sel)s}[%(w)s]))",
    "vcpus": "max by (host, domain) (libvirt_domain_info_virtual_cpus{%(sel)s})",
    "memory_bytes": "max by (host, domain) (libvirt_domain_info_memory_usage_bytes{%(sel)s})",
    "memory_max_bytes": "max by (host, domain) (libvirt_domain_info_maximum_memory_bytes{%(sel)s})",
    "disk_read_bytes_per_s":
        "sum by (host, domain) (rate(libvirt_domain_block_stats_read_bytes_total{%(sel)s}[%(w)s]))",
    "disk_write_bytes_per_s":
        "sum by (host, domain) (rate(libvirt_domain_block_stats_write_bytes_total{%(sel)s}[%(w)s]))",
    "net_rx_bytes_per_s":
        "sum by (host, domain) (rate(libvirt_domain_interface_stats_receive_bytes_total{%(sel)s}[%(w)s]))",
    "net_tx_bytes_per_s":
        "sum by (host, domain) (rate(libvirt_domain_interface_stats_transmit_bytes_total{%(sel)s}[%(w)s]))",
}
_VM_GAUGES = ("vcpus", "memory_bytes", "memory_max_bytes")
# CPUs used by each host's guests; 0 for a host whose libvirt answers and runs no guest.
_HOST_CPU_EXPR = ("sum by (host) (rate(libvirt_domain_info_cpu_time_seconds_total{%(sel)s}[%(w)s]))"
                  " or sum by (host) (0 * (libvirt_up{%(sel)s} == 1))")


class PrometheusError(Exception):
    """Prometheus could not give an answer; the message says where, what and why."""


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector: labels, evaluation time (s since the epoch), value."""

    labels: dict
    timestamp: float
    value: float


@dataclass(frozen=True)
class Series:
    """One series of a range query: labels and its (timestamp, value) points, oldest first."""

    labels: dict
    points: list = field(default_factory=list)


# --- durations and selectors ----------------------------------------------------------------
def duration_seconds(value, what="duration"):
    """Seconds of a PromQL duration (``"1m30s"``) or of a number of seconds (> 0)."""
    if isinstance(value, bool):
        raise PrometheusError(f"{what} must be a PromQL duration (such as 30s, 2m, 1h30m), not {value!r}")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise PrometheusError(f"{what} must be more than 0 seconds, not {value}")
        return float(value)
    if not isinstance(value, str) or not _DURATION.match(value):
        raise PrometheusError(f"{what} must be a PromQL duration (such as 30s, 2m, 1h30m), not {value!r}")
    seconds = sum(int(number) * _UNITS[unit] for number, unit in _DURATION_PART.findall(value))
    if seconds <= 0:
        raise PrometheusError(f"{what} must be more than 0 seconds, not {value!r}")
    return float(seconds)


def promql_duration(value, what="duration"):
    """``value`` as a PromQL duration: a valid duration string as it is, seconds in ms."""
    seconds = duration_seconds(value, what)
    return value if isinstance(value, str) else f"{int(round(seconds * 1000))}ms"


def host_selector(hosts):
    """A label matcher selecting exactly ``hosts`` (names matched literally)."""
    names = _host_list(hosts)
    pattern = "|".join(_REGEX_SPECIAL.sub(r"\\\1", name) for name in names)
    return "host=~" + json.dumps(pattern)        # a JSON string is a valid PromQL string


def _host_list(hosts):
    if isinstance(hosts, str):
        hosts = [hosts]
    names = list(hosts)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise PrometheusError(f"hosts must be a non-empty list of host names, not {hosts!r}")
    return names


# --- HTTP -----------------------------------------------------------------------------------
def _api(url, endpoint, params, timeout, promql):
    """POST ``params`` to ``url``/api/v1/``endpoint``; the ``data`` of Prometheus's answer."""
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https") \
            or not urllib.parse.urlsplit(url).netloc:
        raise PrometheusError(f"Prometheus URL must be http(s)://host:port[/prefix], not {url!r}")
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise PrometheusError(f"timeout must be a number of seconds above 0, not {timeout!r}")
    api_url = url.rstrip("/") + "/api/v1/" + endpoint
    # Prometheus stops evaluating at its own timeout too, rather than after the client left.
    body = urllib.parse.urlencode({**params, "timeout": f"{timeout:g}"}).encode()
    # Imported here, not with this file: ansible.module_utils.urls brings http.client and ssl
    # (10-25 ms of every module start that imports this file, most of which never ask Prometheus).
    from ansible.module_utils.urls import open_url
    try:
        # Ansible's open_url: the proxy and TLS settings every module honours.
        with open_url(api_url, data=body, method="POST", timeout=timeout, follow_redirects="safe",
                      headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        answer = _json_or_none(raw)
        if isinstance(answer, dict) and answer.get("status") == "error":
            raise PrometheusError(_refusal(url, promql, answer)) from None
        raise PrometheusError(f"Prometheus at {url} answered HTTP {exc.code} {exc.reason} to "
                              f"{api_url} (is this Prometheus's URL?)") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (socket.timeout, TimeoutError)):
            raise PrometheusError(_too_slow(url, promql, timeout)) from None
        raise PrometheusError(f"cannot reach Prometheus at {url}: {exc.reason}") from None
    except (socket.timeout, TimeoutError):
        raise PrometheusError(_too_slow(url, promql, timeout)) from None
    except OSError as exc:      # reset or broken connection while reading
        raise PrometheusError(f"cannot reach Prometheus at {url}: {exc}") from None
    return parse_answer(raw, url, promql)


def _json_or_none(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _too_slow(url, promql, timeout):
    return f"Prometheus at {url} did not answer {promql!r} within {timeout:g} s"


def _refusal(url, promql, answer):
    kind = answer.get("errorType") or "error"
    return f"Prometheus at {url} refused {promql!r}: {kind}: {answer.get('error') or 'no reason given'}"


def parse_answer(raw, url, promql):
    """The ``data`` of a Prometheus API answer (bytes or str), or PrometheusError."""
    answer = _json_or_none(raw)
    if not isinstance(answer, dict) or "status" not in answer:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        raise PrometheusError(f"the answer of {url} to {promql!r} is not Prometheus's JSON: {text[:120]!r}")
    if answer["status"] != "success":
        raise PrometheusError(_refusal(url, promql, answer))
    data = answer.get("data")
    if not isinstance(data, dict) or "resultType" not in data or "result" not in data:
        raise PrometheusError(f"the answer of {url} to {promql!r} has no result: {answer!r:.120}")
    return data


def _point(pair, url, promql):
    try:
        timestamp, value = pair
        return float(timestamp), float(value)        # "NaN", "+Inf" included
    except (TypeError, ValueError):
        raise PrometheusError(f"the answer of {url} to {promql!r} has a bad sample: {pair!r:.80}") from None


def parse_vector(data, url="", promql=""):
    """Samples of an instant query's ``data`` (a vector, or a scalar as one unlabelled sample)."""
    kind, result = data["resultType"], data["result"]
    if kind == "scalar":
        return [Sample({}, *_point(result, url, promql))]
    if kind != "vector":
        raise PrometheusError(f"{promql!r} gives a {kind}, not numbers, at {url}")
    return [Sample(dict(item.get("metric", {})), *_point(item.get("value"), url, promql)) for item in result]


def parse_matrix(data, url="", promql=""):
    """Series of a range query's ``data``."""
    if data["resultType"] != "matrix":
        raise PrometheusError(f"{promql!r} gives a {data['resultType']}, not a range of numbers, at {url}")
    return [Series(dict(item.get("metric", {})), [_point(pair, url, promql) for pair in item.get("values", [])])
            for item in data["result"]]


# --- queries ----------------------------------------------------------------------------------
def query(url, promql, timeout=DEFAULT_TIMEOUT, time=None):
    """Evaluate ``promql`` at ``time`` (s since the epoch; default Prometheus's now): [Sample]."""
    params = {"query": promql}
    if time is not None:
        params["time"] = f"{float(time):.3f}"
    return parse_vector(_api(url, "query", params, timeout, promql), url, promql)


def query_range(url, promql, start, end, step, timeout=DEFAULT_TIMEOUT):
    """Evaluate ``promql`` every ``step`` (duration) from ``start`` to ``end`` (s since the
    epoch): [Series]."""
    if not end > start:
        raise PrometheusError(f"a range query needs end after start (start {start}, end {end})")
    params = {"query": promql, "start": f"{float(start):.3f}", "end": f"{float(end):.3f}",
              "step": f"{duration_seconds(step, 'step'):g}"}
    return parse_matrix(_api(url, "query_range", params, timeout, promql), url, promql)


def group_metrics_query(window, hosts):
    """The one PromQL query :func:`group_metrics` sends (each part tagged with its key)."""
    values = {"sel": host_selector(hosts), "w": promql_duration(window, "window")}
    parts = [f'label_replace({expr % values}, "{_KEY}", "{key}", "", "")'
             for key, expr in {**_HOST_EXPRS, **_VM_EXPRS}.items()]
    return " or ".join(parts)


def group_metrics(url, window, hosts, timeout=DEFAULT_TIMEOUT, time=None):
    """Every host of a group and every VM on it, as Prometheus saw them over ``window``.

    ``window`` is a PromQL duration (``"2m"``) or seconds; it must span at least two scrapes.
    ``hosts`` are the group's inventory names (the targets' ``host`` label).  Returns::

        {"window": "2m", "time": 1795913591.13,     # evaluation time, s since the epoch
         "hosts": {
           "hv1": {"up": True,           # libvirt answered the host's exporter at the last scrape
                   "cpus": 2,            # hotiron:host_cpus (role's rule), None without it
                   "cpu_used": 0.98,     # CPUs used by its guests, averaged over the window
                   "cpu_usage": 0.49,    # cpu_used / cpus, None without cpus
                   "vcpus": 1,           # sum over the VMs present now
                   "memory_bytes": 33554432,   # sum over the VMs present now
                   "vms": {"web1": {
                       "present": True,  # on this host now (False: it left or stopped within the window)
                       "cpu_used": 0.98, "vcpus": 1,
                       "memory_bytes": 33554432, "memory_max_bytes": 33554432,
                       "disk_read_bytes_per_s": 0.0, "disk_write_bytes_per_s": 0.0,
                       "net_rx_bytes_per_s": None, "net_tx_bytes_per_s": None}}},
           "hv3": {"up": False, "cpus": 2, "cpu_used": None, "cpu_usage": None,
                   "vcpus": None, "memory_bytes": None, "vms": {...}}}}

    Every host asked for is in the answer.  A host is ``up`` when Prometheus scraped its
    exporter at the last scrape and libvirt answered the exporter.  Totals are given only for
    a host that is up (what is left of one that stopped answering covers part of the window):
    ``cpu_used`` counts every VM seen on the host within the window, ``vcpus`` and
    ``memory_bytes`` the VMs present now.  A host that is not up still lists the VMs seen on
    it within the window, none of them ``present``.

    A value Prometheus has no data for is None: a VM started less than two scrapes ago has no
    ``cpu_used`` yet, one without disks or NICs no disk or network rates (the exporter reports
    NICs that have a host device, a tap on a bridge).  A VM that moved within the window
    appears on both hosts, ``present`` only on the new one, its CPU counted where it was used
    (a rate over the part of the window it spent there, divided by the whole window).
    ``cpu_used`` is the rate of the guests' libvirt cpu.time (every QEMU thread of the
    guest), not the host's own CPU counters.

    ``memory_bytes`` is what the exporter calls ``libvirt_domain_info_memory_usage_bytes``:
    the memory libvirt's domain info reports, i.e. the guest's current balloon size (its
    assigned memory, at most ``memory_max_bytes``), NOT the resident memory of QEMU on the host.
    """
    names = _host_list(hosts)
    promql = group_metrics_query(window, names)
    samples = query(url, promql, timeout=timeout, time=time)
    return _shape_group(samples, names, promql_duration(window, "window"), time)


def _shape_group(samples, names, window, time=None):
    """group_metrics' answer from the samples of its query (see there)."""
    wanted = set(names)
    host_values = {name: {} for name in names}
    vm_values = {name: {} for name in names}
    stamps = [s.timestamp for s in samples]
    for sample in samples:
        host, key = sample.labels.get("host"), sample.labels.get(_KEY)
        if host not in wanted or key is None:
            continue
        if "domain" in sample.labels:
            vm_values[host].setdefault(sample.labels["domain"], {})[key] = sample.value
        else:
            host_values[host][key] = sample.value
    hosts = {}
    for name in names:
        vms = {vm: _shape_vm(values) for vm, values in sorted(vm_values[name].items())}
        found = host_values[name]
        up = found.get("libvirt_up") == 1
        cpus = int(found["cpus"]) if "cpus" in found else None
        present = [vm for vm in vms.values() if vm["present"]]
        # Totals only for a host that answers now: what is left of one that does not (rates
        # of the part of the window before it stopped answering) would understate its load.
        cpu_used = sum(vm["cpu_used"] or 0.0 for vm in vms.values()) if up else None
        hosts[name] = {
            "up": up,
            "cpus": cpus,
            "cpu_used": cpu_used,
            "cpu_usage": cpu_used / cpus if cpu_used is not None and cpus else None,
            "vcpus": sum(vm["vcpus"] for vm in present) if up else None,
            "memory_bytes": sum(vm["memory_bytes"] or 0 for vm in present) if up else None,
            "vms": vms,
        }
    return {"window": window, "time": stamps[0] if stamps else time, "hosts": hosts}


def _shape_vm(values):
    vm = {key: values.get(key) for key in _VM_EXPRS}
    vm["present"] = vm["vcpus"] is not None
    for key in ("vcpus", "memory_bytes", "memory_max_bytes"):
        if vm[key] is not None:
            vm[key] = int(vm[key])
    return vm


def cpu_history(url, host, window, step, rate_window=None, end=None, timeout=DEFAULT_TIMEOUT):
    """CPUs used by the guests of ``host`` (a name or a list of names) over the last ``window``.

    One point every ``step`` from ``end - window`` to ``end`` (default: now, this machine's
    clock), each the average over the ``rate_window`` before it (default: the larger of
    ``step`` and 60 s; it must span two scrapes).  Returns ``{host: [(timestamp, cpus), ...]}``
    for every host asked for, oldest first; a host whose libvirt answers and runs no guest has
    0.0, a host Prometheus could not scrape has no point at those times.
    """
    names = _host_list(host)
    span = duration_seconds(window, "window")
    step_s = duration_seconds(step, "step")
    averaged = rate_window if rate_window is not None else max(step_s, 60.0)
    promql = host_cpu_query(averaged, names)
    end = _time.time() if end is None else float(end)
    series = query_range(url, promql, end - span, end, step_s, timeout=timeout)
    history = {name: [] for name in names}
    for one in series:
        if one.labels.get("host") in history:
            history[one.labels["host"]] = list(one.points)
    return history


def host_cpu_query(rate_window, hosts):
    """PromQL for the CPUs used by the guests of ``hosts``, averaged over ``rate_window``."""
    return _HOST_CPU_EXPR % {"sel": host_selector(hosts), "w": promql_duration(rate_window, "rate_window")}
