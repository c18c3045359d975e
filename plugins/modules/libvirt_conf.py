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
  - Does not restart any daemon; notify a handler on RV(keys_changed).
attributes:
  check_mode:
    support: full
    description: Reports RV(keys_changed) and changes nothing.
  diff_mode:
    support: full
    description: The file before and after.
options:
  path:
    description: The configuration file; created when missing.
    type: path
    required: true
  settings:
    description:
      - Keys and values. Booleans are written as C(1)/C(0), integers as they are, strings
        quoted, lists as C([ "a", "b" ]). Give numbers as integers, not strings.
    type: dict
    required: true
  mode:
    description: Mode of the file when it is created; an existing file keeps its mode and owner.
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

- name: Back to libvirt's default migration port range
  hotiron.virt.libvirt_conf:
    path: /etc/libvirt/qemu.conf
    settings:
      migration_port_min: null
      migration_port_max: null
"""

RETURN = r"""
keys_changed:
  description: The keys whose lines were added, changed or removed (or would be, in check mode).
  type: list
  elements: str
  returned: always
  sample: [listen_tcp, auth_tcp]
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hotiron.virt.plugins.module_utils.libvirt_conf import apply


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            settings=dict(type="dict", required=True),
            mode=dict(type="str", default="0644"),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    exists = os.path.exists(path)
    old = ""
    if exists:
        with open(path, encoding="utf-8") as handle:
            old = handle.read()
    try:
        new, keys = apply(old, module.params["settings"])
    except ValueError as err:
        module.fail_json(msg="settings: %s" % err)
    result = dict(changed=new != old, keys_changed=keys)
    if module._diff and result["changed"]:
        result["diff"] = dict(before=old, after=new, before_header=path, after_header=path)
    if result["changed"] and not module.check_mode:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".hotiron-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(new)
        if exists:
            st = os.stat(path)
            os.chmod(tmp, st.st_mode & 0o7777)
            os.chown(tmp, st.st_uid, st.st_gid)
        else:
            os.chmod(tmp, int(module.params["mode"], 8))
        module.atomic_move(tmp, path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
