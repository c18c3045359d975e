# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What backup_info reports (backup.info_ops), read from a real backup target written here: chains,
sizes, incomplete backups, missing and damaged files, and the target found through a storage pool
of libvirt's test driver."""

from __future__ import annotations

import os

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.backup import info_ops, layout, records, store_ops

A, B, C = "2026-03-01T020000Z", "2026-03-02T020000Z", "2026-03-03T020000Z"
HOST = """<node><cpu><mhz>2400</mhz><model>x86_64</model><active>2</active><nodes>1</nodes><sockets>1</sockets>
  <cores>2</cores><threads>1</threads></cpu><memory>4194304</memory>
  <pool type="dir"><name>backups</name><target><path>%s</path></target></pool></node>"""


def write_backup(target, vm, chain, backup_id, parent=None, data=b"disk data"):
    """A backup as vm_backup leaves it: the disk image, the definition and, last, the record."""
    bdir = layout.backup_dir(target, vm, chain, backup_id)
    os.makedirs(bdir)
    with open(os.path.join(bdir, "vda.qcow2"), "wb") as handle:
        handle.write(data)
    store_ops.write_text(os.path.join(bdir, layout.DOMAIN), "<domain><name>%s</name></domain>" % vm)
    disk = {"target": "vda", "file": "vda.qcow2", "source": "/i/vda.qcow2", "format": "qcow2", "virtual_size": 1 << 20,
            "size": len(data), "sha256": store_ops.sha256_file(os.path.join(bdir, "vda.qcow2"))}
    record = records.build(vm, "u-" + vm, backup_id, chain, "incremental" if parent else "full", parent, "cp-" + backup_id,
                           None, "hv1", "2026-03-01T02:00:00Z", "2026-03-01T02:00:09Z", "", False, [disk], layout.DOMAIN,
                           store_ops.sha256_file(os.path.join(bdir, layout.DOMAIN)))
    store_ops.write_json_atomic(os.path.join(bdir, layout.RECORD), record)
    return bdir


@pytest.fixture
def target(tmp_path):
    where = tmp_path / "target"
    where.mkdir()
    write_backup(str(where), "web1", A, A)
    write_backup(str(where), "web1", A, B, parent=A, data=b"changes")
    write_backup(str(where), "db1", C, C, data=b"db")
    return str(where)


def params(target, **kw):
    return dict({"uri": "test:///default", "target": target, "target_pool": None, "vm": None, "verify": False}, **kw)


def test_every_vm_of_the_target_by_chain_with_sizes(target):
    result = info_ops.run_backup_info(params(target))
    assert result["changed"] is False and result["target"] == target and result["problems"] == []
    assert sorted(result["vms"]) == ["db1", "web1"]
    web1 = result["vms"]["web1"]
    assert web1["latest"] == B and web1["incomplete"] == []
    [chain] = web1["chains"]
    assert (chain["id"], chain["first"], chain["last"], chain["complete"]) == (A, A, B, True)
    assert chain["last_finished"] == "2026-03-01T02:00:09Z"
    assert [b["id"] for b in chain["backups"]] == [A, B] and chain["backups"][1]["parent"] == A
    assert web1["size"] == chain["size"] == len(b"disk data") + len(b"changes")
    assert result["size"] == web1["size"] + len(b"db")
    assert "verified" not in chain


def test_one_vm_and_verification_that_finds_nothing_wrong(target):
    result = info_ops.run_backup_info(params(target, vm="web1", verify=True))
    assert list(result["vms"]) == ["web1"] and result["vms"]["web1"]["chains"][0]["verified"] is True
    assert result["problems"] == []


def test_a_vm_without_backups_is_reported_empty(target):
    described = info_ops.describe_vm(target, "nosuch")
    assert described == {"chains": [], "latest": None, "size": 0, "incomplete": [], "problems": []}


def test_a_damaged_file_is_found_only_by_verify_and_a_missing_one_always(target):
    bdir = layout.backup_dir(target, "web1", A, B)
    with open(os.path.join(bdir, "vda.qcow2"), "r+b") as handle:      # same size, other bytes
        handle.write(b"CHANGES")
    assert info_ops.describe_vm(target, "web1")["problems"] == []
    verified = info_ops.describe_vm(target, "web1", verify=True)
    assert verified["chains"][0]["verified"] is False
    [problem] = verified["problems"]
    assert problem.startswith("%s/vda.qcow2: SHA-256 " % B) and ", recorded " in problem
    os.remove(os.path.join(layout.backup_dir(target, "web1", A, A), layout.DOMAIN))
    verified = info_ops.describe_vm(target, "web1", verify=True)
    assert "%s/domain.xml: No such file or directory" % A in verified["problems"]
    os.remove(os.path.join(bdir, "vda.qcow2"))
    described = info_ops.describe_vm(target, "web1")
    assert described["problems"] == ["chain %s: %s/vda.qcow2 missing or damaged" % (A, B)]
    assert described["chains"][0]["complete"] is False


def test_unfinished_backups_and_a_chain_without_its_full_are_named(target):
    os.makedirs(layout.backup_dir(target, "web1", A, C))                     # died before its record
    os.remove(os.path.join(layout.backup_dir(target, "web1", A, A), layout.RECORD))
    result = info_ops.run_backup_info(params(target, vm="web1"))
    web1 = result["vms"]["web1"]
    assert web1["incomplete"] == ["%s/%s: %s" % (A, A, store_ops.NO_RECORD), "%s/%s: %s" % (A, C, store_ops.NO_RECORD)]
    assert web1["chains"][0]["complete"] is False
    assert result["problems"] == ["web1: chain %s does not start with a full backup" % A]


def test_the_target_through_a_storage_pool(target, tmp_path):
    host = tmp_path / "host.xml"
    host.write_text(HOST % target)
    uri = "test://" + str(host)
    result = info_ops.run_backup_info(params(None, uri=uri, target_pool="backups", vm="db1"))
    assert result["target"] == target and result["vms"]["db1"]["latest"] == C
    with pytest.raises(lc.VirtError, match="Storage pool nope \\(target_pool\\) does not exist"):
        info_ops.run_backup_info(params(None, uri=uri, target_pool="nope"))


@pytest.mark.parametrize("kw, message", [
    ({"target": "relative"}, "must be an absolute path"),
    ({"target": "/nonexistent/backups"}, "does not exist or is not a directory"),
    ({"vm": "../etc"}, "cannot name a directory of the backup target"),
])
def test_refusals_are_virt_errors(target, kw, message):
    with pytest.raises(lc.VirtError, match=message):
        info_ops.run_backup_info(dict(params(target), **kw))
