# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Programs the collection runs on the managed host (``qemu-img``, fence agents), through the
running module's ``AnsibleModule.run_command``: the one way ansible-core wants a module to start
a process (ansible-test 2.21's pylint refuses ``subprocess`` in modules and module_utils).

:func:`module_base.run_module` binds the module before the module's own code runs, so the
``*_ops`` files that run a program do not each need the module handed down to them.  Arguments
are a list, never a shell, and are not expanded (``~`` and ``$VAR`` in a path stay as they are).
What a program gets on its standard input (a fence agent's password) is neither on its command
line nor on disk.  ``run_command`` has no timeout: a bounded run goes through coreutils'
``timeout``, which ends the program (SIGTERM, SIGKILL 5 s later) and exits 124.
"""

from __future__ import annotations

import os

# Exit statuses of ``timeout``: the program timed out (124), or was killed after it (137).
TIMED_OUT = (124, 137)
TIMEOUT_PATHS = ("/usr/bin/timeout", "/bin/timeout")

_bound = {"module": None}


class CommandTimeout(Exception):
    """The program did not finish within its timeout."""


def bind(module):
    """Run programs through ``module`` from now on (module_base.run_module calls this)."""
    _bound["module"] = module


def bound():
    """The module programs run through; RuntimeError outside a module run."""
    module = _bound["module"]
    if module is None:
        raise RuntimeError("commands.run called outside a module run (module_base.run_module binds one)")
    return module


def timeout_command(args, timeout):
    """``args`` bounded to ``timeout`` seconds by coreutils' ``timeout``."""
    binary = next((p for p in TIMEOUT_PATHS if os.path.exists(p)), "timeout")
    return [binary, "--kill-after=5", "%gs" % timeout] + list(args)


def run(args, stdin=None, timeout=None):
    """``(exit status, standard output, standard error)`` of ``args`` (a list).

    ``stdin``: text given on the program's standard input, exactly as is.  ``timeout``: seconds
    after which the program is ended and CommandTimeout raised.  OSError when it cannot start."""
    cmd = timeout_command(args, timeout) if timeout is not None else list(args)
    status, out, err = bound().run_command(cmd, data=stdin, binary_data=stdin is not None,
                                           expand_user_and_vars=False, handle_exceptions=False)
    if timeout is not None and status in TIMED_OUT:
        raise CommandTimeout("%s did not finish within %gs" % (args[0], timeout))
    return status, out, err
