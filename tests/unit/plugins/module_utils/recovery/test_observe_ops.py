# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a group for recovery (recovery.observe_ops) against libvirt's test driver: every host
read at once, a refused one unreachable, a hung one unreachable after the timeout and one whose
VMs are not read in time degraded (the deadlines passed with an injected clock)."""

from __future__ import annotations

import threading

import pytest

from fakes import Jump, Ticks  # tests/unit/fakes.py
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import observe_ops

pytest.importorskip("libvirt")

HOST = """<node><cpu><mhz>2400</mhz><model>x86_64</model><active>4</active><nodes>1</nodes><sockets>1</sockets>
  <cores>4</cores><threads>1</threads></cpu><memory>8388608</memory>%s</node>"""
DOMAIN = """<domain type="test"><name>%s</name><memory unit="MiB">256</memory><vcpu>2</vcpu>
  <os><type arch="x86_64">hvm</type></os></domain>"""


@pytest.fixture
def gate():
    event = threading.Event()
    yield event
    event.set()


def test_every_host_is_read_and_a_refused_one_is_unreachable(tmp_path):
    path = tmp_path / "hv1.xml"
    path.write_text(HOST % (DOMAIN % "db1" + DOMAIN % "web1"))
    out = observe_ops.observe({"hv1": "test://%s" % path, "hv2": "qemu+tcp://127.77.250.250:1/system"}, timeout=30)
    assert out["hv1"].reachable and out["hv1"].degraded is None
    assert sorted(vm.name for vm in out["hv1"].vms) == ["db1", "web1"]
    assert {vm.host for vm in out["hv1"].vms} == {"hv1"} and out["hv1"].capacity is not None
    assert not out["hv2"].reachable and "127.77.250.250" in out["hv2"].why


def test_a_host_that_does_not_answer_is_unreachable(monkeypatch, gate):
    monkeypatch.setattr(observe_ops, "_read_host", lambda obs, *_args: gate.wait())
    (obs,) = observe_ops.observe({"hv1": "test:///default"}, timeout=5, clock=Ticks(10.0)).values()
    assert not obs.reachable and obs.why == "no answer within 5s (libvirtd hung, or the host unreachable)"


def test_a_host_that_answers_but_whose_vms_are_not_read_in_time_is_degraded(monkeypatch, gate):
    def answers_then_hangs(obs, *_args):
        obs.conn = object()
        obs.settled.set()
        gate.wait()

    monkeypatch.setattr(observe_ops, "_read_host", answers_then_hangs)
    # the first answer waited for with time left (seven readings at 0); the reading's deadline then passed
    obs = observe_ops.observe({"hv1": "test:///default"}, timeout=5, read_timeout=7,
                              clock=Jump(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 100.0))["hv1"]
    assert obs.reachable and obs.degraded == "its vms were not read within 7s"


def _answers_then_hangs(gate):
    def read(obs, *_args):
        obs.conn = object()
        obs.settled.set()
        gate.wait()
    return read


def test_a_host_that_stops_answering_while_read_is_unreachable_not_held_as_slow(monkeypatch, gate):
    monkeypatch.setattr(observe_ops, "_read_host", _answers_then_hangs(gate))
    probed = []

    def hung_probe(uri):
        probed.append(uri)
        gate.wait()

    # the first answer waited for and the reading started (seven readings at 0), its first slice passes (at 5),
    # then the probe's deadline (at 100)
    obs = observe_ops.observe({"hv1": "test:///default"}, timeout=5, read_timeout=60,
                              clock=Jump(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0, 5.0, 5.0, 100.0), probe=hung_probe)["hv1"]
    assert probed == ["test:///default"]
    assert not obs.reachable and obs.degraded is None
    assert obs.why == "stopped answering while its vms were read (a new connection: no answer within 5s)"


def test_a_host_whose_libvirtd_dies_while_read_is_unreachable(monkeypatch, gate):
    monkeypatch.setattr(observe_ops, "_read_host", _answers_then_hangs(gate))
    refused = observe_ops.observe({"hv1": "test:///default"}, timeout=5, read_timeout=60, clock=Jump(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0),
                                  probe=lambda uri: observe_ops.answers("qemu+tcp://127.77.250.250:1/system"))["hv1"]
    assert not refused.reachable and "127.77.250.250" in refused.why
    assert refused.why.startswith("stopped answering while its vms were read (a new connection: ")


def test_a_slow_host_that_answers_the_probe_is_read_to_the_end(monkeypatch, gate):
    def slow_read(obs, *_args):
        obs.conn = object()
        obs.settled.set()
        gate.wait()
        obs.vms = ("read",)
        obs.read.set()

    def probe(uri):
        gate.set()      # it answers; and its reading ends after this
        return observe_ops.answers(uri)

    monkeypatch.setattr(observe_ops, "_read_host", slow_read)
    obs = observe_ops.observe({"hv1": "test:///default"}, timeout=5, read_timeout=60, clock=Jump(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0),
                              probe=probe)["hv1"]
    assert obs.reachable and obs.degraded is None and obs.vms == ("read",)
