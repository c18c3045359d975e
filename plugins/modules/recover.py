#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: recover
short_description: Live recovery of a resource group - restart crashed HA VMs, fence failed hosts, restart their VMs elsewhere
version_added: 0.1.0
description:
  - One reconciliation pass over the hosts of a resource group (O(hosts)), for the VMs declared
    O(hotiron.virt.vm#module:ha=true) with M(hotiron.virt.vm). Run it from a playbook on a schedule
    (cron, AWX) and from the collection's rulebook on libvirt events; each pass does what the
    group needs at that moment and a pass with nothing to do changes nothing.
  - Every host is read at once, each within O(connect_timeout). On a reachable host, an HA VM that
    stopped with reason C(crashed) or C(failed) is started again, within its
    O(hotiron.virt.vm#module:restart_limit); a VM shut down or destroyed by an operator (or by the
    collection) is never restarted, and a crash loop stops at the limit and is reported.
  - A host that stays unreachable for O(host_timeout) is declared failed and B(fenced first) - its fence
    agent (O(fencing)) powers it off and the module reads the power state back as off. Only then, or
    after an operator confirmed it off (O(confirmed_off)), are its HA VMs started on the other hosts,
    highest O(hotiron.virt.vm#module:ha_priority) first, placed as host maintenance places VMs (free
    memory and vCPUs, O(anti_affinity), never on a host in maintenance, nor on one lacking the VM's
    machine type or unable to run its CPU). The definitions come from
    the group's state file (O(state_file)), where every pass keeps those of the HA VMs it saw.
    A VM whose disks are on local storage is reported, not started elsewhere; it starts on its own
    host when that host is back.
  - A host fenced by an earlier pass is asked for its power state again on each pass while it does
    not answer; when it no longer reads off (booting after a repair, or powered on by hand), none of
    its VMs starts elsewhere and it is not fenced again - the result warns - until it answers (then
    it is handled as back) or reads off again; when its power cannot be read, the task fails, as a
    failed fencing does.
  - When fencing fails, nothing of that host is started elsewhere and the task fails saying why. Disk
    locks are the second line of defence - QEMU's image locks and virtlockd's leases (the
    P(hotiron.virt.hypervisor#role) role's lock manager) refuse a start while another host holds the disks;
    such a refusal is reported and the definition made for it is removed again.
  - When a fenced host is back, its stale definitions of VMs that now run elsewhere are removed from
    it (disks kept), never started, and reported.
  - Passes of one group are serialised by a lock next to O(state_file).
author:
  - hotiron.virt contributors (@hotiron-virt)
extends_documentation_fragment:
  - hotiron.virt.resource_group
  - hotiron.virt.resource_group.capacity
  - hotiron.virt.attributes
  - hotiron.virt.placement
attributes:
  check_mode:
    support: full
    details: Reads the group and returns every decision (what would be restarted where, which host would be
      fenced) without waiting, fencing, starting or writing the state file. Placements are shown as if the
      fencing succeeded.
  diff_mode:
    support: none
options:
  fencing:
    description:
      - How to fence the hosts, one entry per host; in an inventory, each host's C(hotiron_fence)
        variable (a dict of these options without O(fencing[].host)), as C(playbooks/recover.yml) builds it.
      - The fence agent is a ClusterLabs agent installed on the machine running the module (Debian and
        RHEL package C(fence-agents)); its options are handed to it on its standard input, never on its
        command line, and the password never appears in the task's output or logs.
      - A host without an entry is never fenced, so its VMs start elsewhere only on an operator's
        confirmation (O(confirmed_off)).
    type: list
    elements: dict
    default: []
    suboptions:
      host:
        description: The host (a name of O(hosts)).
        type: str
        required: true
      agent:
        description: V(manual) (an operator confirms the host is off, O(confirmed_off)), or a fence agent such as V(fence_ipmilan) or V(fence_redfish).
        type: str
        required: true
      ip:
        description: Address of the host's BMC or power switch.
        type: str
      ipport:
        description: Port of the BMC (1 to 65535), when not the agent's default.
        type: int
      username:
        description: Login on the BMC.
        type: str
      password:
        description:
          - Password on the BMC. Mutually exclusive with O(fencing[].password_file).
        type: str
      password_file:
        description:
          - A file on the machine running the module holding the BMC password (on its first line), read
            at each pass. It keeps the password out of the inventory and of the copies of it that tools
            make - ansible-rulebook copies the inventory into a temporary directory for each playbook it
            runs, which a killed run leaves behind. Keep it mode 0600, owned by the user running the passes.
          - Mutually exclusive with O(fencing[].password).
        type: path
        version_added: 0.2.0
      lanplus:
        description: IPMI v2.0 (lanplus), which fence_ipmilan needs for most BMCs.
        type: bool
      power_timeout:
        description: Seconds (1 to 600) the agent waits for the power state to change; bounds what a dead BMC costs (the agents' default is 20).
        type: int
      power_wait:
        description: Seconds (0 to 600) the agent waits after a power action before reading the state.
        type: int
      options:
        description:
          - Further agent options, name to value (as the agent's C(--help) lists them, without dashes).
          - Every value is checked before the pass reads a host (a string, number or boolean without line
            breaks or other control characters), as is every other option of the entry, and the agent is
            looked up on the machine running the module, so a fencing configuration that could not work is
            refused up front, not when a host is due for fencing.
        type: dict
  confirmed_off:
    description:
      - Hosts an operator confirms are powered off (as oVirt's "confirm host has been rebooted");
        their HA VMs start elsewhere without fencing once they are unreachable for O(host_timeout).
      - Confirm only what you have checked, for the outage at hand (give it with C(-e) for one run,
        never from an inventory, where it would confirm every later outage too); the disk locks
        still refuse a VM whose disks are held, and the task warns when it uses a confirmation.
    type: list
    elements: str
    default: []
  host_timeout:
    description:
      - Seconds (1 to 3600) a host must stay unreachable before it is declared failed and fenced.
      - Counted from the host's last answer (for a hung libvirtd, the event source's keepalive loss
        dates it back interval x count seconds).
      - The default, 6, is several times a libvirtd restart (0.2 to 0.8 s on the project's lab hosts)
        and longer than the keepalive silence of (1, 3) that notices a hung libvirtd, and short
        enough that a hung host's VMs run elsewhere within about 15 s, fencing included. What it
        trades - a host silent that long is powered off, so a false alarm costs a host reboot (its
        VMs restarted elsewhere), never a VM running twice. Raise it where libvirtd takes longer
        to restart (hundreds of guests) or where a host may stall longer under load.
    type: float
    default: 6
  wait:
    description:
      - When a host is unreachable but not yet for O(host_timeout), wait within this pass (reading it
        again every second) until it is back or due for fencing. V(false) ends the pass at once; the
        next pass continues the count from the state file.
    type: bool
    default: true
  unreachable_since:
    description:
      - Host name to the time (seconds since the epoch) its loss was noticed, for example by the
        collection's event source; counts towards O(host_timeout) when earlier than this pass's own
        observation.
    type: dict
    default: {}
  vm_events:
    description:
      - VM starts and stops seen by the collection's event source (C(hotiron.virt.libvirt_events) puts those
        of the last C(vm_event_memory) seconds in every event, and
        C(playbooks/recover.yml) hands them on).
      - What a pass knows of a VM is as fresh as the last pass that read its host. A VM started after that
        read - by an operator, by anything - on a host that fails before the next pass reads it would be
        taken as stopped, and left down after fencing. An event newer than that read wins - a start records
        the VM running on its host (so it starts elsewhere once the host is fenced), a stop on the host it
        ran on records it stopped (one shut down on purpose after its start stays down). An event no newer
        than the pass's record, of a VM no pass has seen, or of another VM of that name (O(vm_events[].uuid))
        changes nothing; one of a host outside O(hosts), or more than 5 s ahead of this machine's clock, is
        ignored with a warning. What a pass learns so is kept in O(state_file).
    type: list
    elements: dict
    default: []
    version_added: 0.2.0
    suboptions:
      vm:
        description: The VM's name.
        type: str
        required: true
      host:
        description: The host it started or stopped on (a name of O(hosts)).
        type: str
        required: true
      event:
        description: What happened.
        type: str
        required: true
        choices: [started, stopped]
      time:
        description: When, in seconds since the epoch (a finite number, not before 1970).
        type: float
        required: true
      reason:
        description: libvirt's detail - V(booted), V(migrated), V(restored) for a start; V(shutdown), V(destroyed),
          V(crashed), V(failed), V(migrated), V(saved) for a stop.
        type: str
      uuid:
        description: The domain's UUID, so that an event of another VM of the same name is not taken for it.
        type: str
  connect_timeout:
    description:
      - Seconds (0.5 to 120) a host gets to answer before it counts as unreachable.
      - While a host's VMs are read, a new connection to it is tried every O(connect_timeout) seconds;
        a host that no longer answers it (its libvirtd hung or killed in the middle of the reading)
        counts as unreachable from then, one that answers is only slow and its reading goes on.
      - The first read of a host already known to be lost (O(unreachable_since), the state file) gets
        at most the time left until it is due for fencing, and 1 s once it is.
    type: float
    default: 5
  fence_timeout:
    description: Seconds (1 to 600) each fence agent call may take.
    type: float
    default: 60
  fence_retry_interval:
    description:
      - Seconds (0 to 3600) after a failed fence agent call (a fencing, or the power read of a host fenced
        earlier) during which the passes of the group do not call that host's agent again. The failing pass
        fails and warns, saying why; the passes after it report the failure (C(attention), the host's
        C(state) V(fence failed)) without calling the agent, so that a dead BMC costs its timeouts once per
        interval, not once per queued pass. V(0) calls it in every pass.
      - Nothing of the host starts elsewhere while it is not fenced.
    type: float
    default: 60
    version_added: 0.2.0
  stop_with:
    description:
      - The process this pass works for, as the collection's rulebook passes its own (its event source puts
        it in each event, C(playbooks/recover.yml) hands it on). ansible-rulebook runs each playbook in a
        session of its own, so stopping it leaves its passes running; a pass given O(stop_with) ends, failing
        and saying so, as soon as that process is gone - while it waits for the lock or for a host, and
        before each fencing and each start. What it did until then is kept in the state file.
    type: dict
    version_added: 0.2.0
    suboptions:
      pid:
        description: The process id.
        type: int
        required: true
      start_ticks:
        description: Its start time (field 22 of C(/proc/<pid>/stat)), so that a reused pid does not count.
        type: int
  state_file:
    description:
      - The group's recovery state - unreachable hosts and since when, fenced hosts, the definitions of
        its HA VMs, what was recovered where (JSON, mode 0600). One file per group, read by every
        controller that runs recover for it (put it on shared storage when several do).
      - The file records its group's hosts; a pass whose hosts share no URI with them is refused (two groups
        of the same name, at two sites, given one file). A group that gains or loses hosts keeps its file.
    type: path
    default: /var/lib/hotiron-virt/recover.json
  lock_timeout:
    description:
      - Seconds (0 to 3600) to wait for another pass of the group to finish. A pass can take
        O(host_timeout) waiting for a host plus two fence agent calls (O(fence_timeout) each) per host.
    type: float
    default: 600
  shared_paths:
    description:
      - Directories on storage that every host of the group sees (a cluster file system, NFS), for
        disks given by path. Disks in storage pools of shared types (netfs, iscsi, iscsi-direct, rbd,
        gluster, scsi, mpath) and network disks count as shared without it.
    type: list
    elements: path
    default: []
notes:
  - The module runs where Ansible runs it (usually the controller, C(delegate_to=localhost)), reaches
    every host by its URI and runs the fence agents there, so that machine needs the fence agents
    and a route to the BMCs.
  - C(playbooks/recover.yml) runs one pass for an inventory group, taking each host's C(libvirt_uri)
    and C(hotiron_fence); C(extensions/eda/rulebooks/recover.yml) runs it on libvirt events and on a
    timer.
seealso:
  - module: hotiron.virt.vm
  - module: hotiron.virt.host_maintenance
"""

EXAMPLES = r"""
- name: One recovery pass over the group
  hotiron.virt.recover:
    hosts: "{{ dict(groups['cluster1'] | zip(groups['cluster1'] | map('extract', hostvars, 'libvirt_uri'))) }}"
    fencing:
      - {host: hv1, agent: fence_ipmilan, ip: 10.0.9.1, username: fence, password: "{{ vault_hv1_bmc }}", lanplus: true}
      - {host: hv2, agent: fence_redfish, ip: 10.0.9.2, username: fence, password: "{{ vault_hv2_bmc }}",
         options: {ssl_insecure: true}}
    shared_paths: [/srv/vmstore]
    state_file: /srv/vmstore/.hotiron/recover-cluster1.json
  delegate_to: localhost
  run_once: true

- name: An operator confirms hv3 is off (its BMC died with it)
  hotiron.virt.recover:
    hosts: "{{ dict(groups['cluster1'] | zip(groups['cluster1'] | map('extract', hostvars, 'libvirt_uri'))) }}"
    confirmed_off: [hv3]
  delegate_to: localhost
  run_once: true

# host_vars/hv1.yml
# hotiron_fence:
#   agent: fence_ipmilan
#   ip: 10.0.9.1
#   username: fence
#   password: "{{ vault_hv1_bmc_password }}"
#   lanplus: true
#   power_timeout: 10
"""

RETURN = r"""
hosts:
  description: Each host as the pass saw it - C(state) (V(up), V(unreachable), V(fenced), V(fence failed)),
    and for an unreachable one C(why) and C(unreachable_for_s).
  returned: always
  type: dict
decisions:
  description:
    - Every decision with its C(action) (V(restart), V(limit), V(wait), V(fence), V(confirmed),
      V(fenced), V(no_fencing), V(failover), V(elsewhere), V(was_stopped), V(local_storage),
      V(unplaced), V(clean_stale), V(start_returned), V(returned)), C(host), C(vm), C(target),
      C(reason); and, for what was carried out, C(done), C(ok) and C(outcome).
  returned: always
  type: list
  elements: dict
  sample:
    - {action: failover, host: hv2, vm: db1, target: hv3, reason: "priority 900, 2048 MiB, 2 vCPU(s): hv3 has the most free memory (6144 MiB)",
       done: true, ok: true, outcome: running on hv3}
fenced:
  description: Each fencing - C(host), C(agent), C(ok), C(power) read back, C(time_s), C(message) (no password).
  returned: always
  type: list
  elements: dict
restarted:
  description: HA VMs started again on their own host.
  returned: always
  type: list
  elements: str
recovered:
  description: HA VMs started on another host, with C(vm), C(from), C(to).
  returned: always
  type: list
  elements: dict
vm_events:
  description: The VM events of O(vm_events) that made what the pass knew of a VM newer, each with C(vm),
    C(host), C(event), C(reason), C(time).
  returned: always
  type: list
  elements: dict
  version_added: 0.2.0
attention:
  description: Decisions an operator should look at - crash loops at their limit, VMs that could not be
    placed or are on local storage, hosts without fencing, anything that failed.
  returned: always
  type: list
  elements: dict
"""

import math

from ansible_collections.hotiron.virt.plugins.module_utils import module_base
from ansible_collections.hotiron.virt.plugins.module_utils.migration.args import HOST_LIMITS_SPEC
from ansible_collections.hotiron.virt.plugins.module_utils.recovery.recover_ops import run_recover


def argument_spec():
    spec = module_base.group_argument_spec()
    spec.update(
        fencing=dict(type="list", elements="dict", default=[], options=dict(
            host=dict(type="str", required=True),
            agent=dict(type="str", required=True),
            ip=dict(type="str"),
            ipport=dict(type="int", min=1, max=65535),
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            password_file=dict(type="path"),
            lanplus=dict(type="bool"),
            power_timeout=dict(type="int", min=1, max=600),
            power_wait=dict(type="int", min=0, max=600),
            options=dict(type="dict"),
        )),
        confirmed_off=dict(type="list", elements="str", default=[]),
        host_timeout=dict(type="float", default=6.0, min=1, max=3600),
        wait=dict(type="bool", default=True),
        unreachable_since=dict(type="dict", default={}),
        vm_events=dict(type="list", elements="dict", default=[], options=dict(
            vm=dict(type="str", required=True),
            host=dict(type="str", required=True),
            event=dict(type="str", required=True, choices=["started", "stopped"]),
            time=dict(type="float", required=True, min=0),
            reason=dict(type="str"),
            uuid=dict(type="str"),
        )),
        connect_timeout=dict(type="float", default=5.0, min=0.5, max=120),
        fence_timeout=dict(type="float", default=60.0, min=1, max=600),
        fence_retry_interval=dict(type="float", default=60.0, min=0, max=3600),
        stop_with=dict(type="dict", options=dict(
            pid=dict(type="int", required=True, min=1),
            start_ticks=dict(type="int", min=0),
        )),
        state_file=dict(type="path", default="/var/lib/hotiron-virt/recover.json"),
        lock_timeout=dict(type="float", default=600.0, min=0, max=3600),
        shared_paths=dict(type="list", elements="path", default=[]),
        **HOST_LIMITS_SPEC,
    )
    spec.update(module_base.placement_argument_spec())
    return spec


def check_input(params):
    """What AnsibleModule cannot check: one fencing entry per host, every time a finite number,
    every name of a VM event a name."""
    seen = set()
    for index, entry in enumerate(params["fencing"] or []):
        if entry["host"] in seen:
            return "fencing[%d]: host %s has two entries" % (index, entry["host"])
        seen.add(entry["host"])
    for name, when in (params["unreachable_since"] or {}).items():
        if isinstance(when, bool) or not isinstance(when, (int, float)):
            try:
                params["unreachable_since"][name] = float(when)
            except (TypeError, ValueError):
                return "unreachable_since.%s: %r is not a time in seconds since the epoch" % (name, when)
        if not math.isfinite(params["unreachable_since"][name]):
            return "unreachable_since.%s: %r is not a time in seconds since the epoch" % (name, when)
    for index, event in enumerate(params["vm_events"] or []):
        for key in ("vm", "host"):
            if not event[key].strip() or any(char in event[key] for char in "\t\n\r"):
                return "vm_events[%d].%s: must be a name, got %r" % (index, key, event[key])
    return None


def run(module):
    problem = check_input(module.params)
    if problem:
        module.fail_json(msg=problem)
    return module_base.conclude(module, run_recover(module.params, module.check_mode))


def main():
    module_base.main(argument_spec(), run)


if __name__ == "__main__":
    main()
