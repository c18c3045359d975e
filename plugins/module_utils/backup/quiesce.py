# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a backup or a snapshot freezes the guest's file systems for its instant (``quiesce``):
one decision for both.  Pure: the option, whether the VM runs and its agent's state in, a
boolean (or :class:`QuiesceError`) out."""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import errors

ALWAYS, AUTO, NEVER = "always", "auto", "never"


class QuiesceError(errors.InputError):
    """``quiesce=always`` and the guest's file systems cannot be frozen."""


def choose(wanted, running, agent):
    """Whether to freeze: ``wanted`` is the ``quiesce`` option (always, auto, never), ``agent``
    whether the VM's QEMU guest agent is connected (None: the VM has no agent channel).
    A shut-off VM has nothing to freeze; ``auto`` freezes when the agent answers;
    ``always`` without a connected agent is a QuiesceError (``has ...: quiesce=always ...``, to
    follow the VM's name)."""
    if wanted == NEVER or not running:
        return False
    if agent:
        return True
    if wanted == ALWAYS:
        raise QuiesceError("has %s: quiesce=always cannot freeze its file systems"
                           % ("no QEMU guest agent channel" if agent is None else "its guest agent not connected"))
    return False
