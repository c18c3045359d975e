# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SLA classes: the one vocabulary of the vm module (a VM's ``sla``), resource_schedule (a
rule's ``set.sla`` and ``sla_classes``) and the balancer (``sla_weights``).  Pure.

A class is a built-in one (``gold``, ``silver``, ``bronze``: they set CPU shares and have
default weights) or the operator's own, named as the built-ins are: lower-case letters, digits,
``-`` and ``_``, starting with a letter, 32 characters at most.  ``Gold`` is not ``gold``: it
is refused everywhere rather than taken for another class.
"""

from __future__ import annotations

import re

BUILTIN = ("gold", "silver", "bronze")
# CPU shares of the built-in classes (libvirt's default for a VM is 1024): bronze is best
# effort and yields to an unclassified VM, gold gets four times an unclassified VM's share.
SHARES = {"gold": 4096, "silver": 2048, "bronze": 512}
# How much more a move of a VM of the class must gain before the balancer makes it.
DEFAULT_WEIGHTS = {"gold": 4.0, "silver": 2.0, "bronze": 1.0}
# What a VM without a class counts as.
DEFAULT = "silver"
_NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def problem(value):
    """Why ``value`` is not an SLA class name, or None when it is one."""
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        hint = ""
        if isinstance(value, str) and value.lower() in BUILTIN:
            hint = " (did you mean %s?)" % value.lower()
        return "%r is not an SLA class name: lower-case letters, digits, '-' and '_', starting with a letter," \
               " 32 at most%s" % (value, hint)
    return None
