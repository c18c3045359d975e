# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one base type of the collection's pure errors.

Every pure decision (a VM spec, a pool, an OVF descriptor, a schedule, a plan) raises a subclass of
:class:`InputError` when what it was given cannot be used, with a message that says what and,
where it knows, which option.  Code that talks to hosts turns them into
:class:`libvirt_common.VirtError` with the action named; :func:`module_base.run_module` reports
one that escapes as a failure of the task with its message, never as a crash.  Pure.
"""

from __future__ import annotations


class InputError(ValueError):
    """Input a pure decision cannot use; the message names what is wrong (and the option)."""
