# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_ops: the push-mode job waited for with an injectable clock, the quiesce refusal in a
backup's words, and store/image/file errors as VirtError.  (Whole runs against the test driver:
tests/unit/plugins/modules/test_backup_modules.py; real jobs: tests/integration/test_backup.py.)"""

from __future__ import annotations

import errno
import os

import libvirt
import pytest
from fakes import Clock  # tests/unit/fakes.py

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.backup import backup_ops, layout, store_ops
from ansible_collections.hotiron.virt.plugins.module_utils.storage import qemu_img_ops


class JobDom:
    """A domain whose backup job runs for ``polls`` polls (forever with None)."""

    def __init__(self, polls, completed=None):
        self.polls = polls
        self.calls = []
        self.completed = completed or {"type": libvirt.VIR_DOMAIN_JOB_COMPLETED, "operation": backup_ops.JOB_BACKUP}

    def name(self):
        return "web1"

    def fsFreeze(self):
        self.calls.append("freeze")

    def fsThaw(self):
        self.calls.append("thaw")

    def backupBegin(self, xml, cp_xml, flags):
        self.calls.append("begin")

    def abortJob(self):
        self.calls.append("abort")

    def jobStats(self, flags):
        if flags == libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED:
            return self.completed
        if self.polls is None or self.polls > 0:
            if self.polls:
                self.polls -= 1
            return {"type": libvirt.VIR_DOMAIN_JOB_UNBOUNDED}
        return {"type": libvirt.VIR_DOMAIN_JOB_NONE}


def push(dom, clock, quiesce=False, timeout=10.0):
    backup_ops._push(dom, ["vda"], {"vda": "/t/vda.qcow2"}, None, None, quiesce, timeout, clock=clock,
                     sleep=clock.sleep)


def test_a_job_is_followed_until_it_ends_and_the_guest_is_thawed_first():
    dom, clock = JobDom(polls=3), Clock()
    push(dom, clock, quiesce=True)
    assert dom.calls == ["freeze", "begin", "thaw"]
    assert clock.now == pytest.approx(3 * backup_ops.POLL_S)


def test_a_job_past_its_timeout_is_aborted():
    dom, clock = JobDom(polls=None), Clock()
    with pytest.raises(lc.VirtError, match="did not finish within 1s .*aborted, nothing kept"):
        push(dom, clock, timeout=1.0)
    assert dom.calls == ["begin", "abort"] and clock.now >= 1.0


def test_a_failed_job_says_why():
    dom = JobDom(polls=0, completed={"type": libvirt.VIR_DOMAIN_JOB_FAILED, "errmsg": "No space left"})
    with pytest.raises(lc.VirtError, match="The backup job of vm web1 failed: No space left; nothing was kept"):
        push(dom, Clock())


class Vm:
    name = "web1"
    running = True
    xml = "<domain><devices/></domain>"


def test_quiesce_always_without_an_agent_names_what_was_not_done():
    with pytest.raises(lc.VirtError, match="^vm web1 has no QEMU guest agent channel: quiesce=always cannot freeze"
                                           " its file systems; nothing was written$"):
        backup_ops._quiesce_choice(Vm(), "always")
    assert backup_ops._quiesce_choice(Vm(), "auto") is False


@pytest.mark.parametrize("err, message", [
    (store_ops.StoreError("target gone"), "^target gone$"),
    (qemu_img_ops.ImageError("Failed to copy"), "^Failed to copy$"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/t/x"), "^/t/x: No such file or directory$"),
    (OSError("odd"), "^file error: odd$"),
])
def test_errors_become_virt_errors(err, message):
    def fail():
        raise err
    with pytest.raises(lc.VirtError, match=message):
        backup_ops.checked(fail)


def test_only_backups_without_a_record_are_cleared(tmp_path):
    target = str(tmp_path)
    died = os.path.join(target, "web1", "2026-03-01T020000Z", "2026-03-01T020000Z")
    os.makedirs(died)
    newer = os.path.join(target, "web1", "2026-03-02T020000Z", "2026-03-02T020000Z")
    os.makedirs(newer)
    store_ops.write_json_atomic(os.path.join(newer, layout.RECORD), {"format": 2, "vm": "web1"})
    removed = backup_ops._remove_incomplete(target, "web1")
    assert removed == ["2026-03-01T020000Z/2026-03-01T020000Z: " + store_ops.NO_RECORD]
    assert not os.path.exists(os.path.dirname(died)) and os.path.exists(newer)
