# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""recovery.act_ops: what a pass does once it has decided (restart, failover, a fenced host back,
the hold on a fence agent that failed lately), against libvirt's test driver with our own host
(tests/data/hosts/two-guests.xml: web1 and db1 running).  Each host is its own connection to that
file, so each starts from it.  Fence agents are tested in test_fencing_ops.py."""

from __future__ import annotations

import os
import threading

import libvirt
import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import plan as rp
from ansible_collections.hotiron.virt.plugins.module_utils.recovery.observe_ops import Observation
from ansible_collections.hotiron.virt.plugins.module_utils.recovery.recover_ops import Pass

HOST = "test://" + os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "data", "hosts",
                                                "two-guests.xml"))
NOW = 1_800_000_000.0


@pytest.fixture
def hosts():
    """hv1, hv2 and hv3 as observed, each its own copy of the host (web1 and db1 running)."""
    observed = {}
    for name in ("hv1", "hv2", "hv3"):
        obs = Observation(name, HOST)
        obs.conn = lc.connect(HOST)
        observed[name] = obs
    yield observed
    for obs in observed.values():
        obs.conn.close()


def a_pass(now=NOW):
    clock = [now]
    return Pass({"hosts": {"hv1": HOST, "hv2": HOST, "hv3": HOST}, "host_timeout": 30, "fence_timeout": 10,
                 "fence_retry_interval": 60}, check_mode=False, clock=lambda: clock[0]), clock


def running(obs, name):
    dom = lc.lookup_domain(obs.conn, name)
    return dom is not None and dom.isActive() == 1


def gone_from(obs, name):
    """``name`` shut off and undefined on ``obs``: its definition returned."""
    dom = obs.conn.lookupByName(name)
    xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    dom.destroy()
    dom.undefine()
    return xml


# --- restarts --------------------------------------------------------------------------------------

def test_a_restart_starts_the_vm_and_writes_its_restart_into_the_definition(hosts):
    hv1 = hosts["hv1"]
    hv1.conn.lookupByName("db1").destroy()
    act, clock = a_pass()
    act._restart(hv1, rp.Decision("restart", "hv1", vm="db1"))
    assert running(hv1, "db1") and act.changed and act.errors == []
    assert act.started == [("hv1", "db1", (NOW,))]
    assert act.done[-1]["ok"] and act.done[-1]["outcome"] == "running again (restart 1 of 3 in 600s)"
    meta = dx.read_metadata(dx.parse(hv1.conn.lookupByName("db1").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)))
    assert meta["restarts"] == "%d" % NOW
    # a second crash 100s later counts the first; one older than the window does not
    hv1.conn.lookupByName("db1").destroy()
    clock[0] = NOW + 100
    act._restart(hv1, rp.Decision("restart", "hv1", vm="db1"))
    assert act.done[-1]["outcome"] == "running again (restart 2 of 3 in 600s)"
    hv1.conn.lookupByName("db1").destroy()
    clock[0] = NOW + 650
    act._restart(hv1, rp.Decision("restart", "hv1", vm="db1"))
    assert act.started[-1] == ("hv1", "db1", (NOW + 100, NOW + 650))


def test_a_restart_of_a_vm_no_longer_defined_is_an_error_not_an_exception(hosts):
    gone_from(hosts["hv1"], "db1")
    act, _clock = a_pass()
    act._restart(hosts["hv1"], rp.Decision("restart", "hv1", vm="db1"))
    assert act.errors == ["db1 is no longer defined on hv1"] and not act.done[-1]["ok"] and not act.changed


# --- failovers ------------------------------------------------------------------------------------

def test_a_failover_defines_and_starts_the_vm_from_the_kept_definition(hosts):
    xml = gone_from(hosts["hv2"], "db1")
    gone_from(hosts["hv3"], "db1")
    act, _clock = a_pass()
    observed = {"hv2": hosts["hv2"], "hv3": hosts["hv3"]}   # hv1 is the failed host: not observed
    act._failover(observed, {"definitions": {"db1": xml}}, rp.Decision("failover", "hv1", vm="db1", target="hv2"))
    assert act.errors == [] and act.done[-1]["outcome"] == "running on hv2"
    assert running(hosts["hv2"], "db1") and lc.lookup_domain(hosts["hv3"].conn, "db1") is None
    assert act.started == [("hv2", "db1", None)] and act.changed


def test_a_failover_never_starts_a_vm_that_runs_on_a_reachable_host(hosts):
    xml = gone_from(hosts["hv2"], "db1")
    act, _clock = a_pass()
    act._failover({"hv2": hosts["hv2"], "hv3": hosts["hv3"]}, {"definitions": {"db1": xml}},
                  rp.Decision("failover", "hv1", vm="db1", target="hv2"))
    assert act.errors == ["db1 is running on hv3 now: not started again"]
    assert lc.lookup_domain(hosts["hv2"].conn, "db1") is None and act.started == [] and not act.changed


def test_a_failover_without_a_known_definition_is_an_error(hosts):
    gone_from(hosts["hv2"], "db1")
    act, _clock = a_pass()
    act._failover({"hv2": hosts["hv2"]}, {"definitions": {}}, rp.Decision("failover", "hv1", vm="db1", target="hv2"))
    assert act.errors == ["no definition of db1 is known (it was never seen while hv1 was up)"]
    assert lc.lookup_domain(hosts["hv2"].conn, "db1") is None


def test_failovers_start_at_once_and_are_recorded_in_the_decisions_order(hosts, monkeypatch):
    from ansible_collections.hotiron.virt.plugins.module_utils.recovery import act_ops
    xmls = {name: gone_from(hosts["hv2"], name) for name in ("db1", "web1")}
    gone_from(hosts["hv3"], "db1")
    gone_from(hosts["hv3"], "web1")
    monkeypatch.setattr(act_ops, "FAILOVER_AT_ONCE", 2)
    act, _clock = a_pass()
    checked = []
    decisions = [rp.Decision("failover", "hv1", vm="web1", target="hv3"), rp.Decision("failover", "hv1", vm="db1", target="hv2"),
                 rp.Decision("failover", "hv1", vm="nodef", target="hv2")]
    act._failovers({"hv2": hosts["hv2"], "hv3": hosts["hv3"]}, {"definitions": xmls}, decisions, checked.append)
    assert [(d["vm"], d.get("ok")) for d in act.done] == [("web1", True), ("db1", True), ("nodef", False)]
    assert act.started == [("hv3", "web1", None), ("hv2", "db1", None)] and act.changed
    assert act.errors == ["no definition of nodef is known (it was never seen while hv1 was up)"]
    assert running(hosts["hv3"], "web1") and running(hosts["hv2"], "db1")
    # two batches of at most 2, each checked (the pass's abandon check) before it starts
    assert checked == ["starting web1 on hv3, db1 on hv2", "starting nodef on hv2"]


def test_an_unexpected_error_in_one_failover_still_records_the_vms_the_batch_started(hosts):
    xmls = {"db1": gone_from(hosts["hv2"], "db1")}
    gone_from(hosts["hv3"], "db1")
    act, _clock = a_pass()
    decisions = [rp.Decision("failover", "hv1", vm="web1", target="hv9"),      # no such host: a KeyError
                 rp.Decision("failover", "hv1", vm="db1", target="hv2")]
    with pytest.raises(KeyError):
        act._failovers({"hv2": hosts["hv2"], "hv3": hosts["hv3"]}, {"definitions": xmls}, decisions)
    assert act.started == [("hv2", "db1", None)] and [d["vm"] for d in act.done] == ["db1"]
    assert running(hosts["hv2"], "db1")


class HungSinceRead:
    """The connection of a host whose libvirtd hung after the pass read it: every call waits
    (until the test lets it go, as a SIGCONT would)."""

    def __init__(self):
        self.release = threading.Event()

    def __getattr__(self, name):
        def call(*_args):
            self.release.wait(30)
            raise libvirt.libvirtError("hung")
        return call


def still_asking(thread_name):
    return any(t.name == thread_name and t.is_alive() for t in threading.enumerate())


def test_a_host_hung_since_it_was_read_holds_neither_the_last_look_nor_the_end_of_the_pass(hosts):
    from ansible_collections.hotiron.virt.plugins.module_utils.recovery import act_ops
    xmls = {"db1": gone_from(hosts["hv2"], "db1")}
    hung = HungSinceRead()
    hosts["hv3"].conn, real = hung, hosts["hv3"].conn
    try:
        act, _clock = a_pass()
        with pytest.raises(lc.VirtError, match="db1: hv3 did not answer within 0.5s whether it runs it now"):
            act_ops.Acting._running_somewhere(hosts, "db1", timeout=0.5)
        assert still_asking("look-hv3"), "returned while hv3's answer is still awaited"
        act._failovers({"hv2": hosts["hv2"], "hv3": hosts["hv3"]}, {"definitions": xmls},
                       [rp.Decision("failover", "hv1", vm="db1", target="hv2")])
        assert [d["ok"] for d in act.done] == [False] and not running(hosts["hv2"], "db1"), "not started: hv3 cannot say"
        Pass._close({"hv3": hosts["hv3"]}, timeout=0.5)
        assert still_asking("close-hv3"), "the pass ends while hv3's close is still awaited"
    finally:
        hung.release.set()
        hosts["hv3"].conn = real


# --- a fenced host back ---------------------------------------------------------------------------

def test_a_returned_host_loses_its_stale_definitions_and_starts_what_went_nowhere(hosts):
    hv1 = hosts["hv1"]
    hv1.conn.lookupByName("web1").destroy()
    act, _clock = a_pass()
    state = {"hosts": {"hv1": {"fenced_at": NOW - 600}}}
    act._returns({"hv1": hv1}, state, [rp.Decision("clean_stale", "hv1", vm="db1"),
                                       rp.Decision("start_returned", "hv1", vm="web1"),
                                       rp.Decision("returned", "hv1")])
    assert lc.lookup_domain(hv1.conn, "db1") is None and running(hv1, "web1")
    assert act.removed == [("hv1", "db1")] and act.started == [("hv1", "web1", None)]
    assert [d["ok"] for d in act.done] == [True, True, True]
    assert "fenced_at" not in state["hosts"]["hv1"], "taken as back"


def test_a_returned_host_whose_clean_up_failed_stays_fenced(hosts):
    hv1 = hosts["hv1"]
    gone_from(hv1, "web1")
    act, _clock = a_pass()
    state = {"hosts": {"hv1": {"fenced_at": NOW - 600}}}
    act._returns({"hv1": hv1}, state, [rp.Decision("start_returned", "hv1", vm="web1"), rp.Decision("returned", "hv1")])
    assert act.errors == ["web1 is no longer defined on hv1"]
    assert act.done[-1]["ok"] is False and act.done[-1]["done"] is False
    assert act.done[-1]["outcome"] == "kept as fenced: 1 of its clean-ups failed; the next pass tries again"
    assert state["hosts"]["hv1"]["fenced_at"] == NOW - 600


# --- a fence agent that failed lately ----------------------------------------------------------------

def test_a_failed_fence_is_remembered_and_holds_the_agent_back_for_the_retry_interval():
    act, clock = a_pass()
    mark = {}
    act._fence_failed(mark, "hv1: the BMC did not answer")
    assert mark == {"fence_failed_at": NOW, "fence_failed": "hv1: the BMC did not answer"}
    assert act.errors == ["hv1: the BMC did not answer"] and "again in 60s" in act.warnings[0]
    fence = rp.Decision("fence", "hv1")
    clock[0] = NOW + 59
    held = act._held_back(mark, fence)
    assert held.startswith("fencing of hv1 failed 59s ago, not tried again before 60s") and "the BMC did not answer" in held
    assert act._held_back(mark, rp.Decision("fenced", "hv1")) is not None
    assert act._held_back(mark, rp.Decision("confirmed", "hv1")) is None   # an operator's word needs no agent
    clock[0] = NOW + 60
    assert act._held_back(mark, fence) is None
    clock[0] = NOW - 5   # a clock set back: not held forever
    assert act._held_back(mark, fence) is None
    assert act._held_back({}, fence) is None
