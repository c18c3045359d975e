# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""snapshot_ops: the block-commit wait (injectable clock), its pivot and timeout, and the
quiesce refusal in a snapshot's words.  (Runs against the test driver:
tests/unit/plugins/modules/test_backup_modules.py; real merges: tests/integration/test_snapshot.py.)"""

from __future__ import annotations

import types

import libvirt
import pytest
from fakes import Clock  # tests/unit/fakes.py

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.backup import snapshot_ops


class CommitDom:
    """A domain whose block job on vda copies for ``polls`` polls, then (active) is ready to pivot."""

    def __init__(self, polls, active, leaf="/i/top.qcow2", base="/i/base.qcow2"):
        self.polls, self.active, self.calls = polls, active, []
        self.job, self.pivoted, self.leaf, self.base = False, False, leaf, base

    def name(self):
        return "web1"

    def blockCommit(self, disk, base, top, bandwidth, flags):
        self.calls.append(("commit", top, flags))
        self.job = True

    def blockJobInfo(self, disk, flags):
        if not self.job:
            return {}
        if self.polls is None or self.polls > 0:
            if self.polls:
                self.polls -= 1
            return {"cur": 1, "end": 10}
        if not self.active:
            self.job = False
            return {}
        return {"cur": 10, "end": 10}

    def blockJobAbort(self, disk, flags):
        self.calls.append(("abort", flags))
        self.job = False
        self.pivoted = bool(flags & libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)

    def XMLDesc(self, flags):
        source = self.base if self.pivoted else self.leaf
        mirror = "<mirror ready='yes'/>" if self.job and self.active and not self.polls else ""
        return ("<domain><devices><disk type='file' device='disk'><driver type='qcow2'/><source file='%s'/>"
                "<target dev='vda' bus='virtio'/>%s</disk></devices></domain>" % (source, mirror))


def plan(active):
    return types.SimpleNamespace(target="vda", child="/i/top.qcow2", base="/i/base.qcow2", active=active)


def test_a_merge_below_the_leaf_waits_for_its_job_to_end():
    dom, clock = CommitDom(polls=4, active=False), Clock()
    snapshot_ops._block_commit(dom, plan(False), timeout=60, clock=clock, sleep=clock.sleep)
    assert dom.calls == [("commit", "/i/top.qcow2", 0)] and clock.now == pytest.approx(4 * snapshot_ops.POLL_S)


def test_a_merge_of_the_leaf_pivots_onto_the_base_once_ready():
    dom, clock = CommitDom(polls=2, active=True), Clock()
    snapshot_ops._block_commit(dom, plan(True), timeout=60, clock=clock, sleep=clock.sleep)
    assert dom.calls == [("commit", None, libvirt.VIR_DOMAIN_BLOCK_COMMIT_ACTIVE),
                         ("abort", libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)]


def test_a_merge_past_its_timeout_is_aborted_without_a_pivot():
    dom, clock = CommitDom(polls=None, active=True), Clock()
    with pytest.raises(lc.VirtError, match="did not finish within 2s: aborted"):
        snapshot_ops._block_commit(dom, plan(True), timeout=2, clock=clock, sleep=clock.sleep)
    assert dom.calls[-1] == ("abort", 0)


def test_a_leaf_still_in_use_after_the_pivot_is_an_error():
    dom, clock = CommitDom(polls=0, active=True), Clock()
    dom.blockJobAbort = lambda disk, flags: setattr(dom, "job", False)      # a pivot that did not switch
    with pytest.raises(lc.VirtError, match="After merging disk vda of vm web1 runs on /i/top.qcow2"):
        snapshot_ops._block_commit(dom, plan(True), timeout=5, clock=clock, sleep=clock.sleep)


def test_quiesce_always_without_an_agent_names_what_was_not_done():
    vm = types.SimpleNamespace(name="web1", running=True, xml=(
        "<domain><devices><channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'"
        " state='disconnected'/></channel></devices></domain>"))
    with pytest.raises(lc.VirtError, match="^vm web1 has its guest agent not connected: quiesce=always cannot"
                                           " freeze its file systems; no snapshot was taken$"):
        snapshot_ops._quiesce(vm, "always")
