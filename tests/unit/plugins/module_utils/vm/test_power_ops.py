# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""power_ops, the runs of ``vm`` that write no definition, held to vm_ops' results: the same VM
in the same state on two fresh test-driver hosts, one task through each, the same result, diff,
error and host afterwards.  (That such a run imports none of the definition's model is
tests/unit/plugins/modules/test_startup_imports.py's.)"""

from __future__ import annotations

import libvirt
import pytest

import vm_driver  # tests/unit/vm_driver.py
from vm_driver import params

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.vm import power_ops, vm_ops
from ansible_collections.hotiron.virt.plugins.modules import vm as vm_module

HOST = vm_driver.HOST

# A VM the collection made: its metadata (sorted, as the collection writes it), a console password
# (masked in diffs), lifecycle actions.
MADE = """<domain type="test">
  <name>made1</name>
  <uuid>6695eb01-f6a4-8304-79aa-97f2502e1009</uuid>
  <metadata><hotiron:vm xmlns:hotiron="https://hotiron.example/virt/1">
    <hotiron:ha>true</hotiron:ha><hotiron:os>linux</hotiron:os><hotiron:owner>team-a</hotiron:owner>
  </hotiron:vm></metadata>
  <memory unit="MiB">256</memory><vcpu placement="static" current="1">2</vcpu>
  <os><type arch="x86_64">hvm</type></os>
  <on_crash>restart</on_crash>
  <devices><graphics type="vnc" port="-1" autoport="yes" passwd="s3cret"/></devices>
</domain>"""


def _running_with_a_restart_pending(conn):
    dom = conn.lookupByName("web1")
    xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).replace("<vcpu placement='static'>1</vcpu>",
                                                               "<vcpu placement='static'>2</vcpu>")
    assert "<vcpu placement='static'>2</vcpu>" in xml
    conn.defineXML(xml)


SETUPS = {
    "web1 running": ("web1", lambda conn: None),
    "web1 paused": ("web1", lambda conn: conn.lookupByName("web1").suspend()),
    "web1 shut off": ("web1", lambda conn: conn.lookupByName("web1").destroy()),
    "web1 running, more vCPUs defined": ("web1", _running_with_a_restart_pending),
    "tmpl, a template": ("tmpl", lambda conn: None),
    "made1 shut off": ("made1", lambda conn: conn.defineXML(MADE)),
    "made1 running": ("made1", lambda conn: conn.defineXML(MADE).create()),
}

# tmpl's metadata (tests/data/vm/host.xml) is not in the order the collection writes: the whole model
# rewrites it, and power_ops leaves such a VM to it (but removes it: removal writes nothing).
LEFT_TO_THE_MODEL = ("tmpl, a template",)

TASKS = [dict(state=state) for state in ("present", "running", "stopped", "paused", "restarted", "absent")] + [
    dict(state="stopped", wait=False), dict(state="stopped", wait=False, force=True), dict(state="running", wait=False),
    dict(state="stopped", force=True, shutdown_timeout=0), dict(state="absent", keep_nvram=True),
    dict(state="absent", remove_volumes=True),
]


def _outcome(how, setup, task, check):
    """What one task did on a fresh host set up by ``setup``: its result (or error) and the host after."""
    name, prepare = SETUPS[setup]
    conn = libvirt.open(HOST)
    try:
        prepare(conn)
        try:
            if how == "power_ops":   # as the module runs: power_ops, or the whole model where it declines
                done = power_ops.ensure(conn, params(name=name, **task), check)
                assert (done is None) == (setup in LEFT_TO_THE_MODEL and task["state"] != "absent"), setup
                if done is None:
                    done = vm_ops.ensure(conn, params(name=name, **task), check_mode=check)
            else:
                done = vm_ops.ensure(conn, params(name=name, **task), check_mode=check)
            changed, result, diff = done
            outcome = {"changed": changed, "result": result, "diff": power_ops.masked(diff)}
        except lc.VirtError as err:
            outcome = {"error": err.message}
        outcome["host"] = {d.name(): (dx.normalise(d.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)), d.state()[0])
                           for d in conn.listAllDomains()}
        return outcome
    finally:
        conn.close()


@pytest.mark.parametrize("check", [False, True], ids=["run", "check"])
@pytest.mark.parametrize("task", TASKS, ids=lambda task: ",".join("%s=%s" % kv for kv in task.items()))
@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_a_power_run_gives_what_the_whole_model_gives(setup, task, check):
    assert power_ops.applies(params(name=SETUPS[setup][0], **task), _defaults())
    assert _outcome("power_ops", setup, task, check) == _outcome("vm_ops", setup, task, check)


def test_the_comparison_sees_a_difference():
    """The comparison above is not blind: a definition option (which power_ops does not apply)
    makes the two outcomes differ."""
    name = "web1"
    conn_a, conn_b = libvirt.open(HOST), libvirt.open(HOST)
    try:
        power = power_ops.ensure(conn_a, params(name=name, state="running", description="changed"), False)
        whole = vm_ops.ensure(conn_b, params(name=name, state="running", description="changed"), check_mode=False)
        assert power[0] is False and whole[0] is True
    finally:
        conn_a.close()
        conn_b.close()


def _defaults():
    return {name: opt.get("default") for name, opt in vm_module.argument_spec().items()}


def _module_params(**given):
    """The vm module's params as AnsibleModule hands them over: every option, at its default
    unless given."""
    return dict(_defaults(), **given)


@pytest.mark.parametrize("given, expected", [
    (dict(name="a", state="running"), True),
    (dict(name="a", state="stopped", force=True, shutdown_timeout=0, wait=True), True),
    (dict(name="a", state="absent", remove_volumes=True, keep_nvram=True), True),
    (dict(name="a", state="present", xml_mode="merge", clone="linked", overcommit=False), True),   # defaults
    (dict(name="a", state="running", remove_volumes=True), False),   # removal options belong to absent
    (dict(name="a", state="running", memory="1GiB"), False),
    (dict(name="a", state="running", autostart=True), False),
    (dict(name="a", state="present", disks=[]), False),
    (dict(name="a", state="running", limits={"max_vcpus": 8}), False),
    (dict(name="a", state="running", overcommit=True), False),
])
def test_which_runs_write_no_definition(given, expected):
    assert power_ops.applies(_module_params(**given), _defaults()) is expected


def test_a_missing_vm_goes_to_the_whole_model(conn):
    assert power_ops.ensure(conn, params(name="nobody", state="running"), False) is None
    assert power_ops.ensure(conn, params(name="nobody", state="absent"), False) is None


def test_wait_false_is_refused_the_same_way(conn):
    with pytest.raises(lc.VirtError, match="^wait: false applies to state stopped"):
        power_ops.ensure(conn, params(name="nobody", state="running", wait=False), False)
