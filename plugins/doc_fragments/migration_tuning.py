# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import re


class ModuleDocFragment:
    """Live-migration tuning options, shared by vm_migrate and host_maintenance."""

    # Top-level options of vm_migrate.
    DOCUMENTATION = r"""
options:
  bandwidth:
    description: Bandwidth limit in MiB/s, V(0) for none; at most 1048576.
    type: int
    default: 0
  max_downtime:
    description: Largest pause of the VM allowed at the switch-over, in milliseconds (1 to 60000), reached in steps.
    type: int
    default: 500
  downtime_steps:
    description: In how many steps (1 to 100) the allowed downtime rises to O(max_downtime).
    type: int
    default: 10
  downtime_delay:
    description: Seconds between two downtime steps, per GiB of the VM's memory (at least one GiB counted); 0 to 3600.
    type: float
    default: 75
  auto_converge:
    description: Let QEMU slow the VM's vCPUs down when the copy does not converge.
    type: bool
    default: false
  postcopy:
    description:
      - Allow switching to post-copy. After the switch the VM runs on the destination and pulls the
        remaining memory from the source; a host or network failure then loses the VM.
    type: bool
    default: false
  postcopy_after:
    description: Switch to post-copy after this many seconds of pre-copy (V(0) never by time). Needs O(postcopy).
    type: float
    default: 0
  postcopy_on_stall:
    description: Switch to post-copy when pre-copy stalls (see O(stall_timeout)). Needs O(postcopy).
    type: bool
    default: true
  stall_timeout:
    description: Pre-copy has stalled when the remaining data made no new low for this many seconds (V(0) never).
    type: float
    default: 30
  abort_on_stall:
    description: Abort a stalled migration (when there is no post-copy to switch to).
    type: bool
    default: false
  completion_timeout:
    description: Seconds after which O(timeout_action) applies, V(0) for none.
    type: float
    default: 0
  timeout_action:
    description: What to do at O(completion_timeout).
    type: str
    choices: [abort, postcopy]
    default: abort
  compression:
    description:
      - Send pages that are sent again as XBZRLE deltas against their previous copy (from the
        third pass over memory on).
      - QEMU counts such pages at full size when it estimates the downtime, so against a guest that
        keeps rewriting its memory under a bandwidth limit compression alone may never converge;
        combine it with O(auto_converge) or O(postcopy).
    type: bool
    default: false
  parallel_connections:
    description: Number of parallel connections for the memory copy (QEMU multifd), V(0) for one; at most 255.
    type: int
    default: 0
"""


def _nested(documentation, parent, description):
    """``documentation``'s options as the suboptions of option ``parent``, O() references included."""
    options = documentation.split("options:\n", 1)[1].rstrip()
    options = re.sub(r"O\((\w+)\)", r"O(%s.\1)" % parent, options)
    return ("options:\n  %s:\n    description:\n      - %s\n    type: dict\n    default: {}\n    suboptions:\n%s\n"
            % (parent, description, "\n".join(("    " + line) if line.strip() else line for line in options.splitlines())))


# The same options under host_maintenance's migration option (hotiron.virt.migration_tuning.group),
# made from the text above so that it is written once. Set outside the class body: ansible-test's
# yamllint reads the class body's attributes as literal strings.
ModuleDocFragment.GROUP = _nested(ModuleDocFragment.DOCUMENTATION, "migration",
                                  "Tuning for every migration, with the options of M(hotiron.virt.vm_migrate).")
