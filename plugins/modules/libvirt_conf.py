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

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.hosts import libvirt_conf_ops


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


def run(module):
    return module_base.conclude(module, libvirt_conf_ops.ensure(module.params, module.check_mode))


def main():
    # Writes configuration files only: it runs before libvirt (and its bindings) are installed.
    module_base.main(argument_spec(), run, needs_libvirt=False,
                     mutually_exclusive=[("files", "path"), ("files", "settings")],
                     required_one_of=[("files", "path")],
                     required_together=[("path", "settings")])


if __name__ == "__main__":
    main()
