# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters the ``*_info`` modules share: a name, a shell-style pattern, a set of states.

Pure Python: no libvirt, no AnsibleModule."""

from __future__ import annotations

import fnmatch


def selected(name, state=None, want_name=None, pattern=None, states=None, kind=None, kinds=None):
    """Whether an object passes every filter given (a filter that is None or empty lets all
    through).  ``pattern`` is case-sensitive, as libvirt's names are (``fnmatchcase``)."""
    if want_name and name != want_name:
        return False
    if pattern and not fnmatch.fnmatchcase(name, pattern):
        return False
    if states and state not in states:
        return False
    if kinds and kind not in kinds:
        return False
    return True
