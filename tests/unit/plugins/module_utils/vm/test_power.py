# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The power steps from a VM's state to the task's, one decision for new and existing VMs."""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.vm import power
from ansible_collections.hotiron.virt.plugins.module_utils.vm.values import SpecError


@pytest.mark.parametrize("current, wanted, expected", [
    ("shutoff", "running", ["start"]), ("crashed", "running", ["start"]), ("paused", "running", ["resume"]),
    ("running", "running", []),
    ("shutoff", "paused", ["start paused"]), ("running", "paused", ["pause"]), ("paused", "paused", []),
    ("running", "stopped", ["stop"]), ("paused", "stopped", ["stop"]), ("shutoff", "stopped", []),
    ("running", "restarted", ["stop", "start"]), ("shutoff", "restarted", ["start"]),
    ("running", "present", []), ("shutoff", "present", []),
])
def test_steps(current, wanted, expected):
    assert power.steps(current, wanted) == expected


@pytest.mark.parametrize("wanted", ["running", "paused", "restarted"])
def test_a_template_never_starts(wanted):
    with pytest.raises(SpecError, match="^state: vm 'tmpl' is a template: templates cannot be started"):
        power.steps("shutoff", wanted, is_template=True, name="tmpl")


@pytest.mark.parametrize("wanted", ["stopped", "present"])
def test_a_template_may_be_stopped_or_left(wanted):
    assert power.steps("running", wanted, is_template=True) == ([] if wanted == "present" else ["stop"])
