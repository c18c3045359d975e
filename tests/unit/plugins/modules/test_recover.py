# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hotiron.virt.recover through AnsibleModule, with libvirt's test driver standing in for the
reachable hosts (a host XML of the test's own) and a URI nothing answers for the failed one.

The lab tests (tests/integration/test_recover.py) do the real thing: crashes, power cuts, hung
hosts, fence_ipmilan.  Here: input checks, the state file, waiting, check mode, and a failover
onto a test-driver host from the definition the state file kept.
"""

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hotiron.virt.plugins.module_utils.recovery import owner_ops as owner
from ansible_collections.hotiron.virt.plugins.module_utils.recovery import state_ops as rs
from ansible_collections.hotiron.virt.plugins.module_utils.recovery.plan import VmRecord
from ansible_collections.hotiron.virt.plugins.modules import recover

HOST = """<node><cpu><mhz>2400</mhz><model>x86_64</model><active>4</active><nodes>1</nodes><sockets>1</sockets>
  <cores>4</cores><threads>1</threads></cpu><memory>8388608</memory></node>"""
HA_VM = """<domain type="test"><name>db1</name><uuid>6695eb01-f6a4-8304-79aa-97f2502e1a77</uuid>
  <memory unit="MiB">256</memory><vcpu>1</vcpu><os><type arch="x86_64">hvm</type></os>
  <metadata><hotiron:vm xmlns:hotiron="https://hotiron.example/virt/1"><hotiron:ha>true</hotiron:ha></hotiron:vm></metadata>
</domain>"""
DEAD = "qemu+tcp://127.77.250.250:1/system"


@pytest.fixture
def group(tmp_path):
    path = tmp_path / "hv1.xml"
    path.write_text(HOST)
    return {"hv1": "test://%s" % path, "hv2": DEAD}, str(tmp_path / "recover.json")


def run(args, capsys, check=False):
    with patch_module_args(dict(args, _ansible_check_mode=check)):
        with pytest.raises(SystemExit):
            recover.main()
    return json.loads(capsys.readouterr().out)


def remember_db1_on_hv2(state_file):
    state = rs.empty()
    rs.set_remembered(state, {"db1": VmRecord("db1", "hv2", state="running", reason="booted", ha=True, priority=5,
                                              memory_mib=256, vcpus=1, shared=True)}, {"db1": HA_VM})
    rs.save(state_file, state)


@pytest.mark.parametrize("extra, message", [
    ({"host_timeout": 0}, "host_timeout: must be from 1 to 3600, got 0"),
    ({"connect_timeout": 0}, "connect_timeout: must be from 0.5 to 120, got 0"),
    ({"fencing": [{"host": "hv2", "agent": "fence_ipmilan", "ipport": 70000}]}, "fencing[0].ipport: must be from 1 to 65535"),
    ({"fencing": [{"host": "hv2"}]}, "missing required arguments: agent found in fencing"),
    ({"fencing": [{"host": "hv2", "agent": "manual"}, {"host": "hv2", "agent": "manual"}]}, "fencing[1]: host hv2 has two entries"),
    ({"fencing": [{"host": "hv9", "agent": "manual"}]}, "fencing.hv9: no such host in hosts"),
    ({"fencing": [{"host": "hv2", "agent": "rm -rf /"}]}, "is neither manual nor a fence agent name"),
    ({"confirmed_off": ["hv9"]}, "confirmed_off: no such host in hosts: hv9"),
    ({"unreachable_since": {"hv2": "yesterday"}}, "unreachable_since.hv2: 'yesterday' is not a time"),
    ({"vm_events": [{"vm": "db1", "host": "hv2", "event": "started", "time": "nan"}]},
     "vm_events[0].time: must be a finite number, got nan"),
    ({"vm_events": [{"vm": "db1", "host": "hv2", "event": "started", "time": -1}]}, "vm_events[0].time: must be at least 0"),
    ({"vm_events": [{"vm": "db1", "host": "hv2", "event": "started", "time": "soon"}]}, "vm_events"),
    ({"vm_events": [{"vm": " ", "host": "hv2", "event": "started", "time": 1}]}, "vm_events[0].vm: must be a name"),
    ({"vm_events": [{"vm": "db1", "host": "", "event": "started", "time": 1}]}, "vm_events[0].host: must be a name"),
    ({"vm_events": [{"vm": "db1", "host": "hv2", "event": "resumed", "time": 1}]}, "value of event must be one of"),
    ({"vm_events": [{"vm": "db1\n", "host": "hv2", "event": "started", "time": 1}]}, "vm_events[0].vm: must be a name, got 'db1\\n'"),
])
def test_bad_input_is_refused_before_anything(group, capsys, extra, message):
    hosts, state_file = group
    out = run(dict({"hosts": hosts, "state_file": state_file}, **extra), capsys)
    assert out["failed"] and message in out["msg"], out["msg"]


def test_a_password_never_shows(group, capsys):
    hosts, state_file = group
    fencing = [{"host": "hv2", "agent": "fence_nothere", "password": "pa55word-xyz"}]
    out = run({"hosts": hosts, "state_file": state_file, "fencing": fencing, "host_timeout": 1,
               "unreachable_since": {"hv2": 1.0}, "connect_timeout": 1},
              capsys)
    assert out["failed"] and "fence_nothere is not installed" in out["msg"]
    assert "pa55word-xyz" not in json.dumps(out)


def refused(out):
    """A refusal of the module's own, never the catch-all of module_base.run_module."""
    assert out["failed"] and "Unexpected error" not in out["msg"], out["msg"]
    return out["msg"]


@pytest.mark.parametrize("extra, message", [
    ({"hosts": {}}, "hosts: must have at least 1 entry, got 0"),
    ({"fencing": [{"host": "hv2", "agent": "fence_nothere"}]}, "fence agent fence_nothere is not installed"),
    ({"fencing": [{"host": "hv2", "agent": "fence_ipmilan", "options": {"method": "cycle\nx=1"}}]},
     "fencing.hv2.options.method holds a line break"),
    ({"fencing": [{"host": "hv2", "agent": "fence_ipmilan", "ip": "10.0.0.1\r"}]}, "fencing.hv2.ip holds a line break"),
    ({"fencing": [{"host": "hv2", "agent": "fence_ipmilan", "username": "a\x00b"}]},
     "fencing[0].username: holds a character XML and libvirt cannot carry"),
    ({"fencing": [{"host": "hv2", "agent": "fence_ipmilan", "options": {"ssl": {"a": 1}}}]},
     "fencing.hv2.options.ssl: a string, number or boolean, not a dict"),
    ({"fencing": [{"host": "hv2", "agent": "fence_ipmilan", "options": {"delay": float("nan")}}]},
     "fencing[0].options.delay: must be a finite number, got nan"),
    ({"fencing": [{"host": "hv2", "agent": "fence_ipmilan", "password": "pw-given-twice", "password_file": "/etc/hostname"}]},
     "fencing.hv2: password and password_file are mutually exclusive"),
    ({"fencing": [{"host": "hv2", "agent": "fence_ipmilan", "password_file": "/nonexistent/bmc"}]},
     "fencing.hv2.password_file: cannot read /nonexistent/bmc"),
    ({"unreachable_since": {"hv2": "nan"}}, "unreachable_since.hv2: 'nan' is not a time"),
    ({"unreachable_since": {"hv2": float("inf")}}, "unreachable_since.hv2: must be a finite number, got inf"),
])
def test_a_configuration_the_pass_could_not_act_on_is_refused_up_front(group, capsys, extra, message):
    """Refused before any host is read and any file written, with the module's own message: a
    fencing configuration that would fail only when a host is due for fencing, an empty group."""
    hosts, state_file = group
    out = run(dict({"hosts": hosts, "state_file": state_file, "connect_timeout": 1}, **extra), capsys)
    assert message in refused(out)
    assert "decisions" not in out and not os.path.exists(state_file) and not os.path.exists(state_file + ".lock")


@pytest.mark.parametrize("content", [None, "{not json", '{"version": 99}'])
def test_an_unreadable_state_file_is_refused_and_leaves_no_lock(group, capsys, content):
    hosts, state_file = group
    if content is None:
        os.mkdir(state_file)        # a directory where the file should be: cannot be read
    else:
        with open(state_file, "w", encoding="utf-8") as handle:
            handle.write(content)
    for check in (True, False):
        msg = refused(run({"hosts": hosts, "state_file": state_file, "connect_timeout": 1}, capsys, check=check))
        assert state_file in msg and ("cannot read the recovery state" in msg or "is not a recovery state" in msg)
        assert not os.path.exists(state_file + ".lock")


def test_a_state_file_of_another_group_of_the_same_name_is_refused(group, capsys, tmp_path):
    hosts, state_file = group
    assert not run({"hosts": hosts, "state_file": state_file, "wait": False, "connect_timeout": 1}, capsys).get("failed")
    assert rs.load(state_file)["group"] == hosts
    other = tmp_path / "other.xml"
    other.write_text(HOST)
    site_b = {"hv1": "test://%s" % other, "hv2": "qemu+tcp://127.77.250.251:1/system"}   # same names, other hosts
    before = open(state_file, encoding="utf-8").read()
    msg = refused(run({"hosts": site_b, "state_file": state_file, "connect_timeout": 1}, capsys))
    assert "is the recovery state of another group" in msg and "give each group a state file of its own" in msg
    assert open(state_file, encoding="utf-8").read() == before
    # The group gains a host: it keeps its file, which records it from then on.
    grown = dict(hosts, hv3="test://%s" % other)
    assert not run({"hosts": grown, "state_file": state_file, "wait": False, "connect_timeout": 1}, capsys).get("failed")
    assert rs.load(state_file)["group"] == grown


def fake_agent(tmp_path, monkeypatch, status_line, status_exit):
    """fence_fake on PATH: logs each call's first line to ``calls`` and its whole input to ``input``."""
    agents = tmp_path / "agents"
    agents.mkdir(exist_ok=True)
    agent = agents / "fence_fake"
    agent.write_text(FAKE_AGENT.replace('echo "Status: ON"; exit 0', 'echo "%s"; exit %d' % (status_line, status_exit))
                     .replace("input=$(cat)", 'input=$(cat); echo "$input" > "$(dirname "$0")/input"'))
    agent.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (agents, os.environ["PATH"]))
    return agents


def test_the_password_comes_from_its_file_not_the_inventory(group, capsys, tmp_path, monkeypatch):
    hosts, state_file = group
    agents = fake_agent(tmp_path, monkeypatch, "Status: OFF", 2)
    secret = tmp_path / "hv2.bmc"
    secret.write_text("s3cret-from-file\n")
    secret.chmod(0o600)
    remember_db1_on_hv2(state_file)
    out = run({"hosts": hosts, "state_file": state_file, "host_timeout": 1, "connect_timeout": 1,
               "unreachable_since": {"hv2": 1.0},
               "fencing": [{"host": "hv2", "agent": "fence_fake", "username": "fence", "password_file": str(secret)}]},
              capsys)
    assert not out.get("failed"), out["msg"]
    assert out["recovered"] == [{"vm": "db1", "from": "hv2", "to": "hv1"}]
    given = (agents / "input").read_text().splitlines()
    assert "password=s3cret-from-file" in given and not any(line.startswith("password_file") for line in given)
    assert "s3cret-from-file" not in json.dumps(out)


def test_a_dead_bmc_fails_one_pass_and_the_next_ones_do_not_call_it_again(group, capsys, tmp_path, monkeypatch):
    hosts, state_file = group
    agents = fake_agent(tmp_path, monkeypatch, "Failed: Unable to connect", 1)
    args = {"hosts": hosts, "state_file": state_file, "host_timeout": 1, "connect_timeout": 1,
            "unreachable_since": {"hv2": 1.0}, "fencing": [{"host": "hv2", "agent": "fence_fake"}]}
    remember_db1_on_hv2(state_file)
    first = run(args, capsys)
    assert "could not fence hv2" in refused(first) and first["hosts"]["hv2"]["state"] == "fence failed"
    assert "fence_retry_interval" in str(first["warnings"]) and "could not fence hv2" in str(first["warnings"])
    assert (agents / "calls").read_text().split() == ["action=off", "action=status"]
    queued = run(args, capsys)          # a pass queued behind it: says so, costs no agent call
    # (warnings accumulate in this test process: the first pass's is the only one)
    assert not queued.get("failed") and str(queued["warnings"]).count("could not fence hv2") <= 1
    assert queued["recovered"] == []
    assert queued["hosts"]["hv2"]["state"] == "fence failed"
    (held,) = [d for d in queued["attention"] if d["host"] == "hv2"]
    assert held["action"] == "fence" and "not tried again before 60s" in held["outcome"]
    assert "could not fence hv2" in held["outcome"]
    assert (agents / "calls").read_text().split() == ["action=off", "action=status"]
    again = run(dict(args, fence_retry_interval=0), capsys)       # interval over: tried again
    assert again["failed"] and (agents / "calls").read_text().split().count("action=off") == 2


def test_a_pass_ends_when_the_rulebook_that_started_it_is_gone(group, capsys):
    hosts, state_file = group
    remember_db1_on_hv2(state_file)
    ticks = owner.start_ticks(os.getpid())
    args = {"hosts": hosts, "state_file": state_file, "host_timeout": 1, "connect_timeout": 1,
            "unreachable_since": {"hv2": 1.0}, "confirmed_off": ["hv2"]}
    msg = refused(run(dict(args, stop_with={"pid": os.getpid(), "start_ticks": ticks + 1}), capsys))
    assert "the rulebook that started this pass" in msg and "is gone" in msg
    assert state_of_db1(state_file) == "hv2"           # nothing recovered by an orphaned pass
    done = run(dict(args, stop_with={"pid": os.getpid(), "start_ticks": ticks}), capsys)   # it runs: the pass acts
    assert not done.get("failed") and done["recovered"] == [{"vm": "db1", "from": "hv2", "to": "hv1"}]


def state_of_db1(state_file):
    return rs.load(state_file)["vms"]["db1"]["host"]


def test_an_unreachable_host_is_waited_for_then_counted_from_the_state_file(group, capsys):
    hosts, state_file = group
    out = run({"hosts": hosts, "state_file": state_file, "wait": False, "connect_timeout": 1}, capsys)
    assert not out.get("failed") and out["changed"] is False
    assert [d["action"] for d in out["decisions"]] == ["wait"]
    since = rs.load(state_file)["hosts"]["hv2"]["unreachable_since"]
    again = run({"hosts": hosts, "state_file": state_file, "wait": False, "connect_timeout": 1}, capsys)
    assert rs.load(state_file)["hosts"]["hv2"]["unreachable_since"] == since
    assert again["hosts"]["hv2"]["unreachable_for_s"] >= 0 and again["hosts"]["hv1"]["state"] == "up"


def test_check_mode_decides_without_writing(group, capsys):
    hosts, state_file = group
    remember_db1_on_hv2(state_file)
    before = open(state_file, encoding="utf-8").read()
    out = run({"hosts": hosts, "state_file": state_file, "host_timeout": 1, "unreachable_since": {"hv2": 1.0}, "connect_timeout": 1,
               "fencing": [{"host": "hv2", "agent": "fence_ipmilan"}]}, capsys, check=True)
    assert out["changed"] and out["check_mode"]
    assert [(d["action"], d.get("vm") or d["host"]) for d in out["decisions"]] == [("fence", "hv2"), ("failover", "db1")]
    assert not any(d["done"] for d in out["decisions"])
    assert open(state_file, encoding="utf-8").read() == before


def test_confirmed_off_host_vms_start_from_the_kept_definition(group, capsys):
    hosts, state_file = group
    remember_db1_on_hv2(state_file)
    out = run({"hosts": hosts, "state_file": state_file, "host_timeout": 1, "unreachable_since": {"hv2": 1.0}, "connect_timeout": 1,
               "confirmed_off": ["hv2"]}, capsys)
    assert not out.get("failed") and out["changed"]
    assert out["recovered"] == [{"vm": "db1", "from": "hv2", "to": "hv1"}]
    assert rs.load(state_file)["hosts"]["hv2"]["fenced_at"]
    assert "hv2 is taken as off on an operator's confirmation" in str(out["warnings"])


def remember_db1_shut_down_on_hv2(state_file, seen):
    state = rs.empty()
    rs.set_remembered(state, {"db1": VmRecord("db1", "hv2", state="shutoff", reason="destroyed", ha=True, priority=5,
                                              memory_mib=256, vcpus=1, shared=True, seen=seen)}, {"db1": HA_VM})
    rs.save(state_file, state)


def test_a_vm_started_after_its_host_was_read_is_recovered_from_its_event(group, capsys):
    """Issue #19: db1 was read shut down on hv2; an operator started it; hv2 died before a pass
    read it.  Without the start event db1 stays down; with it (as the rulebook hands it on) it
    starts on hv1, and the state file keeps what the event said."""
    hosts, state_file = group
    args = {"hosts": hosts, "state_file": state_file, "host_timeout": 1, "unreachable_since": {"hv2": 1.0},
            "connect_timeout": 1, "confirmed_off": ["hv2"]}
    remember_db1_shut_down_on_hv2(state_file, seen=100.0)
    blind = run(args, capsys, check=True)
    assert [(d["action"], d["vm"]) for d in blind["decisions"] if d["vm"]] == [("was_stopped", "db1")]
    event = {"vm": "db1", "host": "hv2", "event": "started", "reason": "booted", "time": 200.0,
             "uuid": "6695eb01-f6a4-8304-79aa-97f2502e1a77"}
    far = {"vm": "db1", "host": "hv9", "event": "stopped", "time": 300.0}
    ahead = {"vm": "db1", "host": "hv2", "event": "stopped", "time": 4e12}
    planned = run(dict(args, vm_events=[event, far, ahead]), capsys, check=True)
    assert [(d["action"], d["vm"]) for d in planned["decisions"] if d["vm"]] == [("failover", "db1")]
    assert "vm_events[1]: hv9 is not a host of this group" in str(planned["warnings"])
    assert "vm_events[2]: db1 stopped on hv2" in str(planned["warnings"]) and "a clock set back" in str(planned["warnings"])
    assert rs.load(state_file)["vms"]["db1"]["state"] == "shutoff"      # check mode wrote nothing
    out = run(dict(args, vm_events=[event]), capsys)
    assert not out.get("failed") and out["recovered"] == [{"vm": "db1", "from": "hv2", "to": "hv1"}], out
    assert out["vm_events"] == [{"vm": "db1", "host": "hv2", "event": "started", "reason": "booted", "time": 200.0}]
    kept = rs.load(state_file)["vms"]["db1"]
    assert (kept["host"], kept["state"], kept["seen_by"]) == ("hv1", "running", "pass")


def test_a_vm_stopped_on_purpose_after_its_start_stays_down(group, capsys):
    hosts, state_file = group
    remember_db1_shut_down_on_hv2(state_file, seen=100.0)
    out = run({"hosts": hosts, "state_file": state_file, "host_timeout": 1, "unreachable_since": {"hv2": 1.0},
               "connect_timeout": 1, "confirmed_off": ["hv2"],
               "vm_events": [{"vm": "db1", "host": "hv2", "event": "started", "time": 200.0},
                             {"vm": "db1", "host": "hv2", "event": "stopped", "reason": "shutdown", "time": 210.0}]},
              capsys)
    assert out["recovered"] == [] and [d["action"] for d in out["decisions"] if d["vm"]] == ["was_stopped"]
    kept = rs.load(state_file)["vms"]["db1"]
    assert (kept["state"], kept["reason"], kept["seen"], kept["seen_by"]) == ("shutoff", "shutdown", 210.0, "event")


def test_check_mode_writes_not_even_the_lock_file(group, capsys, tmp_path):
    hosts, _state_file = group
    state_file = str(tmp_path / "nowhere" / "recover.json")
    out = run({"hosts": hosts, "state_file": state_file, "connect_timeout": 1}, capsys, check=True)
    assert not out.get("failed")
    assert not (tmp_path / "nowhere").exists()


def test_an_outage_never_counts_from_before_the_host_was_last_seen_up(group, capsys):
    hosts, state_file = group
    state = rs.empty()
    state["hosts"]["hv2"] = {"last_reachable": 4_000_000_000.0 - 1e9}   # long after the hint below
    rs.save(state_file, state)
    out = run({"hosts": hosts, "state_file": state_file, "wait": False, "connect_timeout": 1, "host_timeout": 30,
               "unreachable_since": {"hv2": 1.0}, "fencing": [{"host": "hv2", "agent": "fence_ipmilan"}]}, capsys)
    assert [d["action"] for d in out["decisions"]] == ["wait"], out["decisions"]
    assert "1 host(s) unreachable, not yet for host_timeout: hv2" in out["msg"]


FAKE_AGENT = """#!/bin/sh
# A fence agent whose host reads as powered ON (booting after a repair); every call is logged.
input=$(cat)
echo "$input" | head -n 1 >> "$(dirname "$0")/calls"
case "$input" in
  action=status*) echo "Status: ON"; exit 0 ;;
  *) exit 0 ;;
esac
"""


@pytest.mark.parametrize("power", ["ON", "OFF", "unknown"])
def test_a_fenced_host_powered_on_again_is_not_fenced_again_and_keeps_its_vms(group, capsys, tmp_path, monkeypatch,
                                                                              power):
    hosts, state_file = group
    agents = tmp_path / "agents"
    agents.mkdir()
    agent = agents / "fence_fake"
    answers = {"ON": "Status: ON\"; exit 0", "OFF": "Status: OFF\"; exit 2",
               "unknown": "Failed: Unable to connect\"; exit 1"}
    agent.write_text(FAKE_AGENT.replace("Status: ON\"; exit 0", answers[power]))
    agent.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (agents, os.environ["PATH"]))
    remember_db1_on_hv2(state_file)
    state = rs.load(state_file)
    state["hosts"]["hv2"] = {"fenced_at": 2.0, "unreachable_since": 1.0}   # fenced by an earlier pass
    rs.save(state_file, state)
    out = run({"hosts": hosts, "state_file": state_file, "host_timeout": 1, "connect_timeout": 1,
               "fencing": [{"host": "hv2", "agent": "fence_fake"}]}, capsys)
    assert (agents / "calls").read_text().split() == ["action=status"]   # asked, never switched
    if power == "unknown":
        assert out["failed"] and out["recovered"] == []
        assert "hv2 was fenced by an earlier pass, but its power cannot be read now" in out["msg"]
        assert rs.load(state_file)["hosts"]["hv2"]["fenced_at"] == 2.0
        return
    assert not out.get("failed"), out["msg"]
    if power == "ON":
        assert out["recovered"] == [] and out["changed"] is False
        assert "hv2 was fenced by an earlier pass, but its power reads on now" in str(out["warnings"])
        assert [(d["action"], d["host"], d["ok"]) for d in out["attention"]] == [("fenced", "hv2", False)]
        assert rs.load(state_file)["hosts"]["hv2"]["fenced_at"] == 2.0              # still fenced
    else:
        assert out["recovered"] == [{"vm": "db1", "from": "hv2", "to": "hv1"}]
