#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: libvirt_conf
short_description: Set some keys of a libvirt daemon configuration file, leaving the rest alone
version_added: 0.1.0
description:
  - Sets the keys of O(settings) in a libvirt configuration file such as C(libvirtd.conf),
    C(qemu.conf) or C(qemu-lockd.conf) in one pass, for the C(hotiron.virt.hypervisor) role
    and for operators who manage a few keys themselves.
  - Each key gets exactly one active line C(key = value), replacing the first active line of
    that key (later duplicates are removed) or appended at the end. Comments and every key not
    in O(settings) are kept, so settings made by others survive.
  - A value of V(null) removes the key's active lines, which gives libvirt's default.
  - Several files can be set in one task with O(files); every file's new content is worked out
    before any file is written, so a bad setting in one file leaves all of them as they were.
  - Does not restart any daemon; notify a handler on RV(keys_changed).
extends_documentation_fragment:
  - hotiron.virt.attributes
attributes:
  check_mode:
    support: full
    details: Reports RV(keys_changed) and changes nothing.
  diff_mode:
    support: full
    details: The file before and after.
options:
  path:
    description:
      - The configuration file; created when missing.
      - Required unless O(files) is given.
    type: path
  settings:
    description:
      - Keys and values. Booleans are written as C(1)/C(0), integers as they are, strings
        quoted, lists of strings as C([ "a", "b" ]). Give numbers as integers, not strings.
      - libvirt's configuration syntax has nothing else, so a dict, a fraction, or a list holding
        anything but strings is refused, as is a string with a newline, double quote or
        backslash; V(null) removes the key.
      - Required with O(path).
    type: dict
  mode:
    description: Mode of the file when it is created; an existing file keeps its mode and owner.
    type: str
    default: "0644"
  files:
    description:
      - Several files in one task, each with its own O(files[].path), O(files[].settings) and
        O(files[].mode), instead of O(path) and O(settings).
    type: list
    elements: dict
    suboptions:
      path:
        description: The configuration file; created when missing.
        type: path
        required: true
      settings:
        description: Keys and values, as O(settings).
        type: dict
        required: true
      mode:
        description: Mode of the file when it is created.
        type: str
        default: "0644"
author:
  - hotiron.virt contributors (@hotiron-virt)
"""

EXAMPLES = r"""
- name: Plain TCP for a lab, leaving the rest of libvirtd.conf alone
  hotiron.virt.libvirt_conf:
    path: /etc/libvirt/libvirtd.conf
    settings:
      listen_tcp: true
      listen_tls: false
      auth_tcp: none

- name: Two files in one task
  hotiron.virt.libvirt_conf:
    files:
      - path: /etc/libvirt/libvirtd.conf
        settings: {listen_tls: true}
      - path: /etc/libvirt/qemu.conf
        settings: {migration_port_min: 49152, migration_port_max: 49215}
        mode: "0600"

- name: Back to libvirt's default migration port range
  hotiron.virt.libvirt_conf:
    path: /etc/libvirt/qemu.conf
    settings:
      migration_port_min: null
      migration_port_max: null
"""

RETURN = r"""
keys_changed:
  description:
    - The keys whose lines were added, changed or removed (or would be, in check mode).
    - With O(files), the keys of every file, each once.
  type: list
  elements: str
  returned: always
  sample: [listen_tcp, auth_tcp]
files:
  description: With O(files), per file its C(path), C(changed) and C(keys_changed).
  type: list
  elements: dict
  returned: when O(files) is given
  sample: [{path: /etc/libvirt/qemu.conf, changed: true, keys_changed: [migration_port_min]}]
"""

import os

from ansible_collections.hotiron.virt.plugins.module_utils import files
from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.hosts.libvirt_conf import apply


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


def argument_spec():
    return dict(
        path=dict(type="path"),
        settings=dict(type="dict"),
        mode=dict(type="str", default="0644"),
        files=dict(type="list", elements="dict", options=dict(
            path=dict(type="path", required=True),
            settings=dict(type="dict", required=True),
            mode=dict(type="str", default="0644"),
        )),
    )


def plan_all(module, wanted, many):
    """Each wanted file's plan (see :func:`plan`); a bad mode, path or setting fails the task
    naming the entry, before anything is written."""
    items = []
    for index, spec in enumerate(wanted):
        prefix = "files[%d]." % index if many else ""
        try:
            int(spec["mode"], 8)
        except ValueError:
            module.fail_json(msg="%smode: %r is not an octal file mode such as '0644'" % (prefix, spec["mode"]))
        try:
            files.check_target(spec["path"])
        except OSError as err:
            module.fail_json(msg="%spath: cannot write %s: %s" % (prefix, spec["path"], err.strerror))
        try:
            items.append(plan(spec["path"], spec["settings"], spec["mode"]))
        except ValueError as err:
            module.fail_json(msg="%ssettings: %s" % (prefix, err))
        except OSError as err:
            module.fail_json(msg="%spath: cannot read %s: %s" % (prefix, spec["path"], err.strerror))
    return items


def run(module):
    p = module.params
    many = p["files"] is not None
    wanted = p["files"] if many else [dict(path=p["path"], settings=p["settings"], mode=p["mode"])]
    items = plan_all(module, wanted, many)
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
    if not module.check_mode:
        for item in changed_items:
            try:
                write(item)
            except OSError as err:
                result.update(failed=True, msg="cannot write %s: %s" % (item["path"], err.strerror))
                break
    return module_base.conclude(module, result)


def main():
    # Writes configuration files only: it runs before libvirt (and its bindings) are installed.
    module_base.main(argument_spec(), run, needs_libvirt=False,
                     mutually_exclusive=[("files", "path"), ("files", "settings")],
                     required_one_of=[("files", "path")],
                     required_together=[("path", "settings")])


if __name__ == "__main__":
    main()
