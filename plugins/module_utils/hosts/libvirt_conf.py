# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Set some keys of a libvirt configuration file (libvirtd.conf, qemu.conf,
qemu-lockd.conf, ...), keeping everything else: comments, order, and the keys
somebody else manages.  Pure text in, text out.
"""

from __future__ import annotations

import json
import re


VALUE_KINDS = "a string, a whole number, a boolean, or a list of strings"


def check_value(key, value):
    """Refuse what libvirt's configuration syntax cannot hold, naming the key (ValueError).

    libvirt's files (virconf) have strings, whole numbers, booleans (written 1/0) and lists of
    strings; a dict, a fraction or a list of anything else would be written as text libvirt
    either rejects at start-up or reads as something else.
    """
    if value is None or isinstance(value, (bool, int)):
        return
    if isinstance(value, str):
        _check_string(key, value)
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise ValueError("%s[%d]: %r is not a string: a libvirt setting takes %s"
                                 % (key, index, item, VALUE_KINDS))
            _check_string("%s[%d]" % (key, index), item)
        return
    raise ValueError("%s: %s %r is not a libvirt configuration value: a setting takes %s"
                     % (key, type(value).__name__, value, VALUE_KINDS))


def _check_string(key, value):
    if "\n" in value or '"' in value or "\\" in value:
        raise ValueError("%s: %r cannot be written as a libvirt string (no newline, double quote or backslash)"
                         % (key, value))


def render(value):
    """A value in libvirt's configuration syntax: ``1``/``0``, ``42``, ``"text"``, ``[ "a", "b" ]``."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[ %s ]" % ", ".join(render(v) for v in value)
    return json.dumps(str(value))


def _active(key):
    return re.compile(r"^\s*%s\s*=" % re.escape(key))


def apply(text, settings):
    """``(new_text, keys_changed)`` with ``settings`` applied to ``text``.

    Each key gets exactly one active line ``key = value``: the first active
    line of the key is replaced, later active duplicates are dropped, and a
    key with no active line is appended.  A value of ``None`` removes the
    key's active lines.  Commented lines (``#key = ...``) are never touched.
    """
    lines = text.splitlines(True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    for key in sorted(settings):
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise ValueError("%r is not a libvirt configuration key" % key)
        check_value(key, settings[key])
    changed = []
    for key in sorted(settings):
        value = settings[key]
        pattern = _active(key)
        positions = [i for i, line in enumerate(lines) if pattern.match(line)]
        before = [lines[i] for i in positions]
        wanted = None if value is None else "%s = %s\n" % (key, render(value))
        drop = positions
        if wanted is not None:
            if positions:
                lines[positions[0]] = wanted
                drop = positions[1:]
            else:
                lines.append(wanted)
        for i in reversed(drop):
            del lines[i]
        if (wanted is None and before) or (wanted is not None and before != [wanted]):
            changed.append(key)
    return "".join(lines), changed
