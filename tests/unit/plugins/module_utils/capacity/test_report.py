# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capacity report page (capacity.report): self-contained, escaped, and saying the verdict."""

from __future__ import annotations

from html.parser import HTMLParser

from ansible_collections.hotiron.virt.plugins.module_utils.capacity import report

DATA = {
    "group": "lab<1>", "generated": "2026-11-29 12:00 UTC", "window_s": 55, "cpu_high": 0.8, "max_imbalance": 0.1,
    "imbalance": 0.31,
    "hosts": {
        "hv1": {"load": 0.93, "cpus": 8, "vcpus_committed": 10, "memory_committed": 0.5, "in_maintenance": False,
                "series": [[0, 0.9], [5, 0.95], [10, 0.93]],
                "vms": [{"name": "db<script>", "sla": "gold", "vcpus": 4, "cpu_percent": 350.0, "cpu_cpus": 3.5,
                         "memory_mib": 8192}]},
        "hv2": {"load": 0.1, "cpus": 8, "vcpus_committed": 1, "memory_committed": 0.1, "in_maintenance": True,
                "series": [], "vms": []},
    },
    "unreachable": {"hv3": "connection refused"},
    "plan": {"moves": [{"vm": "web1", "from": "hv1", "to": "hv2", "reason": "hv1 at 93 % for 2 min > 80 %"}],
             "skipped": {"db<script>": "pinned"}, "triggers": ["hv1 at 93 % for 2 min > 80 %"], "notes": [],
             "imbalance_before": 0.31, "imbalance_after": 0.12, "loads_before": {"hv1": 0.93, "hv2": 0.1},
             "loads_after": {"hv1": 0.6, "hv2": 0.4}},
}


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


def test_the_page_is_self_contained_and_escapes_names():
    page = report.render(DATA)
    parser = Tags()
    parser.feed(page)
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert "http" not in page
    assert "db&lt;script&gt;" in page and "lab&lt;1&gt;" in page
    assert parser.tags.count("svg") == 2


def test_the_verdict_the_plan_and_what_was_not_measured_are_said():
    page = report.render(DATA)
    assert "hot: hv1" in page and "0.31" in page and "maintenance" in page
    assert "web1: hv1 → hv2" in page and "hv1 at 93 % for 2 min &gt; 80 %" in page
    assert "Host loads after the plan: hv1 93 % → 60 %, hv2 10 % → 40 %" in page
    assert "Not measured: hv3 (connection refused)" in page


def test_a_balanced_group_says_so():
    data = dict(DATA, imbalance=0.02, hosts={"hv1": dict(DATA["hosts"]["hv1"], load=0.3)},
                plan={"moves": [], "notes": ["nothing to do"]}, unreachable={})
    page = report.render(data)
    assert "balanced" in page and "nothing to do" in page and "Not measured" not in page


def test_chart_scales_to_the_peak_and_draws_the_threshold():
    svg = report.chart([[0, 0.5], [10, 1.6]], 0.8)
    assert "160 %" in svg and "80 %" in svg and "<polyline" in svg
    assert "one reading only" in report.chart([], 0.8)


def test_the_same_measurement_is_the_same_page_whatever_its_time():
    page = report.render(DATA)
    later = report.render(dict(DATA, generated="2026-11-29 12:05 UTC"))
    assert page != later and report.same_page(page, later)
    assert not report.same_page(None, page)
    busier = dict(DATA, hosts=dict(DATA["hosts"], hv2=dict(DATA["hosts"]["hv2"], load=0.5)))
    assert not report.same_page(page, report.render(busier))
    # readings a little off their beat draw the same chart (evenly spaced, whole pixels)
    assert report.chart([[0, 0.5], [5.02, 0.6]], 0.8, span_s=5) == report.chart([[0, 0.5], [4.97, 0.6]], 0.8, span_s=5)
