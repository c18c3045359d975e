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

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.respawn import (
    has_respawned,
    probe_interpreters_for_module,
    respawn_module,
)

from ansible_collections.hotiron.virt.plugins.module_utils import arg_ranges
from ansible_collections.hotiron.virt.plugins.module_utils import commands
from ansible_collections.hotiron.virt.plugins.module_utils import errors
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


def backup_target_argument_spec():
    """The options described by the ``hotiron.virt.backup_target`` doc fragment."""
    return dict(target=dict(type="path"), target_pool=dict(type="str"))


# What AnsibleModule checks of them: exactly one.
BACKUP_TARGET_RULES = dict(required_one_of=[("target", "target_pool")], mutually_exclusive=[("target", "target_pool")])


def group_argument_spec():
    """The options described by the ``hotiron.virt.resource_group`` doc fragment."""
    return dict(hosts=dict(type="dict", required=True, min_items=1, string_values=True))


def placement_argument_spec():
    """The options described by the ``hotiron.virt.placement`` doc fragment."""
    return dict(anti_affinity=dict(type="list", elements="list", default=[]))


def balance_argument_spec():
    """The options described by ``hotiron.virt.placement`` and ``hotiron.virt.placement.balance``."""
    return dict(
        placement_argument_spec(),
        cpu_high=dict(type="float", default=0.8, min=0.01, max=1),
        max_imbalance=dict(type="float", default=0.1, min=0, max=1),
        max_moves=dict(type="int", default=5, min=0, max=1000),
        cooldown=dict(type="int", default=1800, min=0, max=604800),
        pinned=dict(type="list", elements="str", default=[]),
        affinity=dict(type="list", elements="list", default=[]),
        sla_weights=dict(type="dict", default={}),
        copy_storage=dict(type="bool", default=False),
    )


def conclude(module, result, unchanged_diff=False):
    """The module's result as Ansible wants it, from the one shape every ``run`` returns
    (``changed``, ``plan``, ``diff``, ``warnings`` and the module's own keys): the ``diff`` only in
    diff mode and when something changed, each of ``warnings`` through ``module.warn``, and a
    ``failed`` result through ``fail_json`` (with everything else it holds).

    ``unchanged_diff`` keeps the diff of an unchanged run too (before equal to after), as the
    modules that always returned one in diff mode did; Ansible shows a diff only when something
    changed, so it matters only to a registered result."""
    diff = result.pop("diff", None)
    if module._diff and diff is not None and (result.get("changed") or unchanged_diff):
        result["diff"] = diff
    for warning in result.pop("warnings", None) or []:
        module.warn(warning)
    if result.pop("failed", False):
        module.fail_json(**result)
    return result


def split_ranges(argument_spec):
    """``(spec for AnsibleModule, ranges)``: see :mod:`arg_ranges` (``min``/``max`` in a spec)."""
    return arg_ranges.split(argument_spec)


def main(argument_spec, run, needs_libvirt=True, **module_kwargs):
    """The whole ``main()`` of a module: its AnsibleModule (check mode supported, ``min``/``max``
    split off the spec and checked), then ``run(module)`` through :func:`run_module`.

    ``module_kwargs`` go to AnsibleModule (``mutually_exclusive``, ``required_one_of``, ...).
    ``needs_libvirt``: whether the bindings must import (respawning under a system Python when
    only it has them); a callable decides from the module's params."""
    spec, ranges = split_ranges(argument_spec)
    try:
        module = AnsibleModule(argument_spec=spec, supports_check_mode=True, **module_kwargs)
    except OverflowError as err:
        # ansible-core's int conversion of an infinite number (vcpus: .inf in YAML) raises
        # instead of failing the option: a module taking every option as it came reports it.
        as_given = {name: {"type": "raw"} for name in spec}
        as_given.update((alias, {"type": "raw"}) for option in spec.values() for alias in option.get("aliases") or ())
        AnsibleModule(argument_spec=as_given, supports_check_mode=True).fail_json(
            msg="an integer option was given an infinite number (%s): give a whole number" % err)
    run_module(module, run, ranges, needs_libvirt=needs_libvirt)


def run_module(module, func, ranges=None, needs_libvirt=True):
    """Check the ranges of the module's numbers, call ``func(module)``, exit with its result dict.

    ``ranges`` comes from :func:`split_ranges`: every value outside its range, every NaN or
    infinity and every empty collection that needs entries is named in one failure before
    ``func`` runs, so a typo never reaches a host. ``needs_libvirt`` as in :func:`main`.
    A VirtError (the only error type the collection raises on purpose)
    becomes ``fail_json`` with its message and the libvirt code/domain.
    Anything else is a bug: it is still reported through ``fail_json``, with
    the traceback kept in ``exception`` for ``-vvv``, never as a crash.
    """
    problems = arg_ranges.check(module.params, ranges or {})
    if problems:
        module.fail_json(msg="; ".join(problems))
    if needs_libvirt(module.params) if callable(needs_libvirt) else needs_libvirt:
        ensure_libvirt(module)
    commands.bind(module)     # programs (qemu-img, fence agents) run through its run_command
    try:
        result = func(module)
    except lc.VirtError as err:
        module.fail_json(**err.as_result())
    except errors.InputError as err:
        # A pure decision refused its input and no _ops turned it into a VirtError: still the
        # task's own refusal, with the pure code's message (which names the option).
        module.fail_json(msg=str(err))
    except Exception as err:  # pylint: disable=broad-except
        module.fail_json(
            msg="Unexpected error in %s: %s: %s" % (module._name, type(err).__name__, err),
            exception=traceback.format_exc(),
        )
    module.exit_json(**result)


def open_connection(module, readonly=False):
    """Open the connection named by the module's ``uri`` option."""
    return lc.connect(module.params["uri"], readonly=readonly)


def connection(module, readonly=False):
    """``with connection(module) as conn:``: the module's libvirt connection, closed after."""
    return lc.connected(module.params["uri"], readonly=readonly)
