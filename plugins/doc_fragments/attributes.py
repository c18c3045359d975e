# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """What check mode and diff mode mean, written once; each module says its support and details."""

    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check mode and return what would change without changing it.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
"""

    # The attributes of a module that only reads.
    INFO = r"""
attributes:
  check_mode:
    support: full
    details: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    details: Changes nothing, so there is nothing to compare.
"""
