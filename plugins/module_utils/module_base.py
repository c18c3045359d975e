# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The thin layer every module shares: connection options, the libvirt
bindings check (re-running under the system Python when only it has them),
and turning a VirtError into ``fail_json``.

Only this file and the module files import AnsibleModule; the real work
lives in plain Python next to it.
"""

from __future__ import annotations

import contextlib
import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.respawn import (
    has_respawned,
    probe_interpreters_for_module,
    respawn_module,
)

from ansible_collections.hotiron.virt.plugins.module_utils import arg_ranges
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc

# Interpreters that usually carry distribution-packaged libvirt bindings.
SYSTEM_PYTHONS = ["/usr/bin/python3", "/usr/libexec/platform-python", "/usr/bin/python"]


def connection_argument_spec():
    """The options described by the ``hotiron.virt.connection`` doc fragment."""
    return dict(
        uri=dict(type="str", default=lc.DEFAULT_URI),
    )


def ensure_libvirt(module):
    """Make sure the libvirt bindings import, respawning under a system Python if needed."""
    if lc.libvirt is not None:
        return
    if not has_respawned():
        interpreter = probe_interpreters_for_module(SYSTEM_PYTHONS, "libvirt")
        if interpreter:
            respawn_module(interpreter)
            # respawn_module does not return
    module.fail_json(
        msg=missing_required_lib("libvirt-python (or python3-libvirt)"),
        exception=None,
    )


def group_argument_spec():
    """The options described by the ``hotiron.virt.resource_group`` doc fragment."""
    return dict(hosts=dict(type="dict", required=True, min_items=1, string_values=True))


def conclude(module, result):
    """The module's result as Ansible wants it: the ``diff`` only in diff mode and when something
    changed, each of ``warnings`` through ``module.warn``, and a ``failed`` result through
    ``fail_json`` (with everything else it holds)."""
    diff = result.pop("diff", None)
    if module._diff and diff is not None and result.get("changed"):
        result["diff"] = diff
    for warning in result.pop("warnings", None) or []:
        module.warn(warning)
    if result.pop("failed", False):
        module.fail_json(**result)
    return result


def split_ranges(argument_spec):
    """``(spec for AnsibleModule, ranges)``: see :mod:`arg_ranges` (``min``/``max`` in a spec)."""
    return arg_ranges.split(argument_spec)


def run_module(module, func, ranges=None):
    """Check the ranges of the module's numbers, call ``func(module)``, exit with its result dict.

    ``ranges`` comes from :func:`split_ranges`: every value outside its range, every NaN or
    infinity and every empty collection that needs entries is named in one failure before
    ``func`` runs, so a typo never reaches a host.
    A VirtError (the only error type the collection raises on purpose)
    becomes ``fail_json`` with its message and the libvirt code/domain.
    Anything else is a bug: it is still reported through ``fail_json``, with
    the traceback kept in ``exception`` for ``-vvv``, never as a crash.
    """
    problems = arg_ranges.check(module.params, ranges or {})
    if problems:
        module.fail_json(msg="; ".join(problems))
    ensure_libvirt(module)
    try:
        result = func(module)
    except lc.VirtError as err:
        module.fail_json(**err.as_result())
    except Exception as err:  # pylint: disable=broad-except
        module.fail_json(
            msg="Unexpected error in %s: %s: %s" % (module._name, type(err).__name__, err),
            exception=traceback.format_exc(),
        )
    module.exit_json(**result)


def open_connection(module, readonly=False):
    """Open the connection named by the module's ``uri`` option."""
    return lc.connect(module.params["uri"], readonly=readonly)


@contextlib.contextmanager
def connection(module, readonly=False):
    """``with connection(module) as conn:``: the module's libvirt connection, closed after."""
    conn = open_connection(module, readonly=readonly)
    try:
        yield conn
    finally:
        conn.close()
