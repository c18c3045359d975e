# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fencing (recovery.fencing): the agent's input, its verdicts, and what is reported.

The lab tests drive Debian's fence_ipmilan against real (lab) BMCs; here a small executable in
the test's directory plays an agent, to pin down the protocol: options on standard input,
nothing secret on the command line, exit 2 and "Status: OFF" for off.
"""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.recovery import fencing_ops as fencing

CONFIG = {"agent": "fence_test", "ip": "127.0.0.1", "ipport": 623, "username": "admin", "password": "s3cret!",
          "lanplus": True, "power_timeout": None, "options": {"method": "onoff", "ssl_insecure": False}}


def test_agent_input_is_key_value_lines_action_first_without_nulls_and_false():
    text = fencing.agent_input(CONFIG, "off")
    assert text.splitlines() == ["action=off", "ip=127.0.0.1", "ipport=623", "lanplus=1", "method=onoff",
                                 "password=s3cret!", "username=admin"]


def test_agent_input_refuses_a_newline():
    with pytest.raises(fencing.FenceError, match="option ip holds a newline"):
        fencing.agent_input(dict(CONFIG, ip="1.2.3.4\naction=on"), "off")


@pytest.mark.parametrize("config, message", [
    ({"agent": "rm -rf"}, "is neither manual nor a fence agent name"),
    ({"agent": None}, "is neither manual nor a fence agent name"),
    ({"agent": "fence_ipmilan", "options": {"Bad Key": 1}}, "'Bad Key' is not an agent option name"),
])
def test_check_config(config, message):
    with pytest.raises(fencing.FenceError, match=message):
        fencing.check_config("hv1", config)
    fencing.check_config("hv1", {"agent": "manual"})


def test_scrub_masks_passwords():
    assert fencing.scrub("login admin/s3cret! failed", CONFIG) == "login admin/******** failed"
    assert fencing.scrub("x", {"options": {"passwd": "zz"}}) == "x"


@pytest.mark.parametrize("status, output, power", [
    (2, "Status: OFF", "off"), (0, "Status: ON", "on"), (1, "ERROR: Connection timed out", "unknown"),
    (None, "timeout", "unknown"), (0, "", "unknown"),
])
def test_power_state(status, output, power):
    assert fencing.power_state(status, output) == power


@pytest.fixture
def agent(tmp_path):
    """An executable standing in for a fence agent: it keeps its power state in a file, logs
    its command line and standard input, and answers as the ClusterLabs agents do."""
    state = tmp_path / "power"
    state.write_text(os.environ.get("POWER", "on"))
    log = tmp_path / "log"
    script = tmp_path / "fence_test"
    script.write_text(f"""#!/bin/sh
input=$(cat)
printf '%s\\n--\\n%s\\n==\\n' "$*" "$input" >> {log}
action=$(printf '%s\\n' "$input" | sed -n 's/^action=//p')
given=$(printf '%s\\n' "$input" | sed -n 's/^password=//p')
case "$given" in s3cret!) ;; *) echo "ERROR: Unable to connect/login to fencing device (password $given)" >&2; exit 1;; esac
case $action in
  off) [ -f {tmp_path}/stuck ] || echo off > {state}; echo Success: Powered OFF;;
  status) if [ "$(cat {state})" = off ]; then echo Status: OFF; exit 2; else echo Status: ON; exit 0; fi;;
esac
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return tmp_path


def which_in(directory):
    return lambda name, path=None: str(directory / name) if (directory / name).exists() else None


def test_fence_off_powers_off_and_reads_it_back(agent):
    result = fencing.fence_off("hv1", CONFIG, timeout=10, which=which_in(agent))
    assert result.ok and result.power == "off", result
    log = (agent / "log").read_text()
    assert "s3cret!" not in log.split("--")[0]            # nothing secret on the command line
    assert "action=off" in log and "action=status" in log
    assert result.as_dict()["message"] == "fence_test powered hv1 off (status read back: OFF)"


def test_fence_off_fails_when_the_host_stays_on(agent):
    (agent / "stuck").write_text("")
    result = fencing.fence_off("hv1", CONFIG, timeout=10, which=which_in(agent))
    assert not result.ok and result.power == "on"
    assert "fence_test could not fence hv1: power on after off" in result.message


def test_a_wrong_password_fails_and_is_not_reported(agent):
    result = fencing.fence_off("hv1", dict(CONFIG, password="wrong"), timeout=10, which=which_in(agent))
    assert not result.ok and result.power == "unknown"
    assert "Unable to connect/login" in result.message and "(password ********)" in result.message
    assert "wrong" not in result.message


def test_a_missing_agent_is_a_failed_fence_naming_the_package(tmp_path):
    result = fencing.fence_off("hv1", dict(CONFIG, agent="fence_nothere"), which=which_in(tmp_path))
    assert not result.ok and "package fence-agents" in result.message


def test_off_needs_the_exit_status_and_the_words():
    assert fencing.power_state(2, "Failed: Unable to obtain correct plug status or plug is not available") == "unknown"
    assert fencing.power_state(0, "Status: OFF") == "unknown"


def test_power_status_reads_without_switching(agent):
    result = fencing.power_status("hv1", CONFIG, timeout=10, which=which_in(agent))
    assert result.power == "on" and not result.ok
    assert "action=off" not in (agent / "log").read_text()


def test_an_agent_that_hangs_is_ended_at_the_timeout(agent):
    (agent / "fence_test").write_text("#!/bin/sh\nexec sleep 30\n")
    result = fencing.power_status("hv1", CONFIG, timeout=0.3, which=which_in(agent))
    assert result.power == "unknown" and "the agent did not finish within 0.3s" in result.message
