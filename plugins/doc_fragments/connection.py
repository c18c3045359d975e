# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Connection options shared by every hotiron.virt module."""

    DOCUMENTATION = r"""
options:
  uri:
    description:
      - libvirt connection URI of the host to manage.
      - The default talks to the local system daemon of the host the task runs on.
      - Use a remote URI such as V(qemu+tls://host.example.com/system) or
        V(qemu+tcp://127.0.1.2/system) (lab only, unauthenticated) to manage another host
        from the controller.
    type: str
    default: qemu:///system
attributes:
  action_group:
    description: Use C(group/hotiron.virt.libvirt) in C(module_defaults) to set O(uri) once for a play.
    support: full
    membership:
      - hotiron.virt.libvirt
requirements:
  - libvirt-python (PyPI) or python3-libvirt (distribution package) on the host that runs the module.
    When the interpreter Ansible picked lacks them, the module re-runs itself under the
    system Python if that has them.
notes:
  - >-
    Errors name what was being attempted. A failure that came from libvirt also returns
    C(libvirt_error), libvirt's error code and domain, as numbers and names, and its message, for
    example C({code: 38, code_name: VIR_ERR_SYSTEM_ERROR, domain: 18, domain_name: VIR_FROM_STORAGE,
    message: "cannot open directory"}).
"""
