"""hotiron.virt.host_info run as a module, against libvirt's test driver with our own host XML."""

import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hotiron.virt.plugins.module_utils.hosts import facts_ops as host_facts
from ansible_collections.hotiron.virt.plugins.modules import host_info

DATA = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "hostinfo"))
MIXED = "test://" + os.path.join(DATA, "mixed-guests.xml")

FAKE_VERDICT = {"verdict": "pvm", "usable": True, "virt_type": "kvm", "message": "fake", "qemu_group": None}


def run(args, capsys, monkeypatch, check_mode=False):
    calls = []

    def fake_probe(qemu_group="kvm", **_kw):
        calls.append(qemu_group)
        return dict(FAKE_VERDICT, qemu_group=qemu_group)

    monkeypatch.setattr(host_facts, "virtualisation_facts", fake_probe)
    monkeypatch.setattr(host_facts.gather, "__defaults__", (fake_probe,))
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            host_info.main()
    return json.loads(capsys.readouterr().out), calls


def test_reports_host_guests_and_verdict(capsys, monkeypatch):
    result, calls = run({"uri": MIXED}, capsys, monkeypatch)
    assert not result.get("failed") and result["changed"] is False
    assert result["cpu"]["sockets"] == 2 and result["memory"]["total_mib"] == 16384
    assert result["guests"]["running"] == 3 and result["committed"]["running"]["vcpus"] == 14
    assert result["virtualisation"]["verdict"] == "pvm" and calls == ["kvm"]


def test_check_mode_reports_the_same(capsys, monkeypatch):
    normal = run({"uri": MIXED}, capsys, monkeypatch)[0]
    checked = run({"uri": MIXED}, capsys, monkeypatch, check_mode=True)[0]
    assert checked["changed"] is False
    assert checked["guests"] == normal["guests"] and checked["committed"] == normal["committed"]


def test_virtualisation_false_skips_probe(capsys, monkeypatch):
    result, calls = run({"uri": MIXED, "virtualisation": False}, capsys, monkeypatch)
    assert "virtualisation" not in result and calls == []
    assert result["hypervisor"]["driver"] == "TEST"


def test_libvirt_false_needs_no_daemon(capsys, monkeypatch):
    # An unreachable URI is not touched when libvirt=false: this is the role's pre-flight.
    result = run({"uri": "qemu+tcp://127.0.0.1:1/system", "libvirt": False, "qemu_group": "qemu"}, capsys, monkeypatch)[0]
    assert not result.get("failed")
    assert set(result) >= {"changed", "virtualisation"} and "guests" not in result
    assert result["virtualisation"]["qemu_group"] == "qemu"


def test_unreachable_host_fails_with_message_not_traceback(capsys, monkeypatch):
    result = run({"uri": "qemu+tcp://127.0.0.1:1/system"}, capsys, monkeypatch)[0]
    assert result["failed"] is True
    assert result["msg"].startswith("Failed to connect to libvirt at qemu+tcp://127.0.0.1:1/system")
    assert "exception" not in result


def test_unknown_option_is_rejected(capsys, monkeypatch):
    result = run({"uri": MIXED, "guests": True}, capsys, monkeypatch)[0]
    assert result["failed"] is True and "guests" in result["msg"]
