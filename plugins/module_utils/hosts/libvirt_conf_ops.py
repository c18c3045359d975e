# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt's configuration files on the machine the module runs on: read, planned with the pure
:mod:`libvirt_conf` (the keys set, everything else kept), written atomically.  Every file of a
task is planned - its mode, path and settings checked - before the first is written.
"""

from __future__ import annotations

import os

from ansible_collections.hotiron.virt.plugins.module_utils import files
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.libvirt_conf import apply
from ansible_collections.hotiron.virt.plugins.module_utils.libvirt_common import VirtError


def plan(path, settings, mode):
    """What one file would become: a dict with its old and new content, or a ValueError."""
    exists = os.path.exists(path)
    old = ""
    if exists:
        with open(path, encoding="utf-8") as handle:
            old = handle.read()
    new, keys = apply(old, settings)
    return dict(path=path, exists=exists, old=old, new=new, keys=keys, mode=mode)


def write(item):
    """Replace the file atomically (files.atomic_file): an existing file keeps its mode and owner,
    a new one gets ``mode`` before it is renamed into place (a qemu.conf is never readable by all,
    not even for a moment); a failure leaves the previous file and no temporary file."""
    files.write_atomic(item["path"], item["new"], mode=int(item["mode"], 8), makedirs=False)


def plan_all(wanted, many, check_mode=False):
    """Each wanted file's plan (see :func:`plan`); a bad mode, path or setting raises VirtError
    naming the entry, before anything is written.  In check mode a directory that does not exist
    yet is no error: on a new host the packages that make it are not installed by a check run
    either (the run itself needs it)."""
    items = []
    for index, spec in enumerate(wanted):
        prefix = "files[%d]." % index if many else ""
        try:
            int(spec["mode"], 8)
        except ValueError:
            raise VirtError("%smode: %r is not an octal file mode such as '0644'" % (prefix, spec["mode"])) from None
        try:
            files.check_target(spec["path"], makedirs=check_mode)
        except OSError as err:
            raise VirtError("%spath: cannot write %s: %s" % (prefix, spec["path"], err.strerror)) from None
        try:
            items.append(plan(spec["path"], spec["settings"], spec["mode"]))
        except UnicodeDecodeError:
            raise VirtError("%spath: cannot read %s: it is not UTF-8 text" % (prefix, spec["path"])) from None
        except ValueError as err:
            raise VirtError("%ssettings: %s" % (prefix, err)) from None
        except OSError as err:
            raise VirtError("%spath: cannot read %s: %s" % (prefix, spec["path"], err.strerror)) from None
    return items


def ensure(params, check_mode):
    """The module's result: every file planned, the changed ones written (not in check mode)."""
    many = params["files"] is not None
    wanted = params["files"] if many else [dict(path=params["path"], settings=params["settings"], mode=params["mode"])]
    items = plan_all(wanted, many, check_mode)
    changed_items = [item for item in items if item["new"] != item["old"]]
    keys = []
    for item in items:
        keys.extend(k for k in item["keys"] if k not in keys)
    result = dict(changed=bool(changed_items), keys_changed=keys)
    if many:
        result["files"] = [dict(path=item["path"], changed=item["new"] != item["old"], keys_changed=item["keys"])
                           for item in items]
    diffs = [dict(before=item["old"], after=item["new"], before_header=item["path"], after_header=item["path"])
             for item in changed_items]
    if diffs:
        result["diff"] = diffs if many else diffs[0]
    if not check_mode:
        for item in changed_items:
            try:
                write(item)
            except OSError as err:
                result.update(failed=True, msg="cannot write %s: %s" % (item["path"], err.strerror))
                break
    return result
