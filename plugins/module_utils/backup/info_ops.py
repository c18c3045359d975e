# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What hotiron.virt.backup_info reports: the backups of one VM or of a whole target, by chain,
with sizes, and on demand every file checked against its recorded SHA-256.  Reads only."""

from __future__ import annotations

import os

from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc
from ansible_collections.hotiron.virt.plugins.module_utils.backup import layout, records, store_ops as store
from ansible_collections.hotiron.virt.plugins.module_utils.backup.backup_ops import checked, resolve_target


def run_backup_info(params):
    if params.get("target_pool"):
        conn = lc.connect(params["uri"], readonly=True)
        try:
            target = resolve_target(conn, params)
        finally:
            conn.close()
    else:
        target = os.path.normpath(params["target"])
    checked(store.check_target, target, writable=False)
    if params.get("vm"):
        checked(layout.check_vm_name, params["vm"])
        names = [params["vm"]]
    else:
        names = checked(store.list_vms, target)
    vms = {}
    problems = []
    for name in names:
        vms[name] = describe_vm(target, name, params.get("verify", False))
        problems.extend("%s: %s" % (name, p) for p in vms[name]["problems"])
    return {"changed": False, "target": target, "vms": vms,
            "size": sum(v["size"] for v in vms.values()), "problems": problems}


def describe_vm(target, name, verify=False):
    chains, incomplete = checked(store.chains, target, name)
    described = []
    problems = []
    for chain in chains:
        missing = checked(store.missing_files, target, chain)
        problems.extend("chain %s: %s missing or damaged" % (chain.id, m) for m in missing)
        entry = {
            "id": chain.id, "first": chain.first.id, "last": chain.last.id,
            "last_finished": layout.format_time(chain.last_finished()) if chain.last_finished() else None,
            "backups": [records.summary(b.record) for b in chain.backups], "size": chain.size,
            "complete": not missing and chain.first.mode == "full",
        }
        if chain.first.mode != "full":
            problems.append("chain %s does not start with a full backup" % chain.id)
        if verify:
            bad = _verify_chain(target, chain)
            entry["verified"] = not bad
            problems.extend(bad)
        described.append(entry)
    return {
        "chains": described,
        "latest": chains[-1].last.id if chains else None,
        "size": sum(c.size for c in chains),
        "incomplete": ["%s/%s: %s" % (b.chain, b.id, b.problem) for b in incomplete],
        "problems": problems,
    }


def _verify_chain(target, chain):
    bad = []
    for backup in chain.backups:
        bdir = layout.backup_dir(target, chain.vm, chain.id, backup.id)
        files = [(d["file"], d["sha256"]) for d in backup.record["disks"]]
        files.append((backup.record["domain"]["file"], backup.record["domain"]["sha256"]))
        for name, expected in files:
            path = os.path.join(bdir, name)
            try:
                actual = store.sha256_file(path)
            except OSError as err:
                bad.append("%s/%s: %s" % (backup.id, name, err.strerror))
                continue
            if actual != expected:
                bad.append("%s/%s: SHA-256 %s, recorded %s" % (backup.id, name, actual, expected))
    return bad
