# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capacity report (capacity.report_ops) of a group of libvirt's test driver (conftest.py): what
it gathers, the page written only when what it shows changed, and the refusals before any host is
measured.  (The test driver's VMs have no CPU counters: a group measures the same every time.)"""

from __future__ import annotations

import os

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.capacity import report_ops
from ansible_collections.hotiron.virt.plugins.modules import capacity_report


def params(hosts, dest, **kw):
    """The module's defaults, as AnsibleModule would fill them in, and a quick sampling."""
    p = {name: option.get("default") for name, option in capacity_report.argument_spec().items()}
    p.update(hosts=hosts, dest=str(dest), group="lab", samples=2, interval=0.1)
    p.update(kw)
    return p


def test_gather_reads_every_reachable_host_and_names_the_others(group, tmp_path):
    data = report_ops.gather(params(group, tmp_path / "r.html"))
    assert data["group"] == "lab" and sorted(data["hosts"]) == ["hv1", "hv2"]
    assert list(data["unreachable"]) == ["hv3"] and "Failed to connect" in data["unreachable"]["hv3"]
    hv1 = data["hosts"]["hv1"]
    assert [vm["name"] for vm in hv1["vms"]] == ["a", "b"] and {vm["sla"] for vm in hv1["vms"]} == {"silver"}
    assert data["window_s"] == pytest.approx(0.1) and data["cpu_high"] == 0.8
    assert data["plan"]["moves"] == []


def test_the_page_is_written_once_and_check_mode_predicts_it(group, tmp_path):
    dest = tmp_path / "r.html"
    predicted = report_ops.run_report(params(group, dest), check_mode=True)
    assert predicted["changed"] is True and predicted["msg"] == "%s would be written" % dest and not dest.exists()
    written = report_ops.run_report(params(group, dest), check_mode=False)
    assert written["changed"] is True and written["msg"] == "%s written" % dest
    first = dest.read_text()
    assert first.startswith("<!DOCTYPE html>") and "lab" in first
    again = report_ops.run_report(params(group, dest), check_mode=False)
    assert again["changed"] is False and "already shows this measurement" in again["msg"] and dest.read_text() == first
    assert report_ops.run_report(params(group, dest, group="other"), check_mode=True)["changed"] is True
    assert dest.read_text() == first and sorted(os.listdir(tmp_path)) == ["hv1.xml", "hv2.xml", "r.html"]


def test_a_group_with_no_reachable_host_fails_and_writes_nothing(group, tmp_path):
    dest = tmp_path / "r.html"
    result = report_ops.run_report(params({"hv3": group["hv3"]}, dest), check_mode=False)
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith("no host of the group could be measured: hv3: ") and not dest.exists()


@pytest.mark.parametrize("kw, message", [
    ({"hosts": {}}, "hosts: the group has no host"),
    ({"sla_weights": {"gold": 0}}, "sla_weights.gold: must be a number above 0"),
    ({"affinity": ["a"]}, "affinity[0]: expected a list of VM names"),
    ({"anti_affinity": [[""]]}, "anti_affinity[0]: expected a list of VM names"),
    ({"dest": "/nonexistent/dir/r.html"}, "dest: cannot write /nonexistent/dir/r.html: its directory /nonexistent/dir does not exist"),
])
def test_bad_input_is_refused_before_any_host_is_measured(group, tmp_path, kw, message):
    p = dict(params(group, tmp_path / "r.html"), **kw)
    assert report_ops.check_input(p).startswith(message)
    with pytest.raises(lc.VirtError) as raised:
        report_ops.run_report(p, check_mode=True)
    assert str(raised.value).startswith(message)


def test_an_existing_page_read_back(tmp_path):
    assert report_ops.existing_page(str(tmp_path / "none.html")) is None
    (tmp_path / "bin.html").write_bytes(b"\xff\xfe\x00not utf-8")
    assert report_ops.existing_page(str(tmp_path / "bin.html")) is None
    (tmp_path / "r.html").write_text("<p>old</p>")
    assert report_ops.existing_page(str(tmp_path / "r.html")) == "<p>old</p>"
    with pytest.raises(lc.VirtError, match="dest: cannot read the existing report %s: Is a directory" % tmp_path):
        report_ops.existing_page(str(tmp_path))


def test_write_replaces_the_page_and_names_what_failed(tmp_path):
    dest = str(tmp_path / "r.html")
    report_ops.write(dest, "one")
    report_ops.write(dest, "two")
    assert open(dest, encoding="utf-8").read() == "two" and os.listdir(tmp_path) == ["r.html"]
    with pytest.raises(lc.VirtError, match="dest: cannot write the report %s/no/r.html: " % tmp_path):
        report_ops.write(str(tmp_path / "no" / "r.html"), "x")
