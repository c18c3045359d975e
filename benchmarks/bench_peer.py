# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A loop over hotiron.virt.vm against the same loop over community.libvirt's ``virt``.

One playbook per collection, both run by the same ansible-playbook and Python: define,
start, stop (power off) and undefine ``--vms`` VMs (32 MiB, no disk) on each of hv1 and hv2,
one loop item per VM and step.  The two playbooks alternate over ``--rounds``; the figure is
the ratio of their medians (target at most 1.0).  Then the same with ``hotiron.virt.vms``
(one task per step), for comparison; the loop items that write no definition alone (running
VMs asked to run: no QEMU starts, the module runs are what is timed); and the module processes'
start-up, measured from the AnsiballZ payloads kept by one run of each (``python -X
importtime``), which says where a loop item's time goes.

community.libvirt is not a dependency of the collection: the benchmark uses a copy in
``build/peer`` (``ansible_collections/community/libvirt``, e.g. taken from the ``ansible``
package's wheel: ``pip download 'ansible>=12,<13' --no-deps``, then unzip that folder), and
the lxml it needs in ``build/peer-lib`` (``pip install --target build/peer-lib lxml``).

    LAB_ID=0 .venv/bin/python benchmarks/bench_peer.py [--vms 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

from lab import Lab  # noqa: E402
from bench_migrate import src_link  # noqa: E402

BIN = os.path.dirname(sys.executable)
PEER = os.path.join(ROOT, "build", "peer")
PEER_LIB = os.path.join(ROOT, "build", "peer-lib")     # lxml, which virt needs (pip install --target)
PREFIX = "bench-peer"

HOTIRON = """
- name: Define, start, stop, undefine with a loop over hotiron.virt.vm
  hosts: hypervisors
  gather_facts: false
  tasks:
    - name: Define
      hotiron.virt.vm: {uri: "{{ uri }}", name: "%(p)s{{ item }}", memory: 32MiB, vcpus: 1, domain_type: "{{ virt_type }}", disks: [], state: present}
      loop: "{{ range(vms | int) | list }}"
    - name: Start
      hotiron.virt.vm: {uri: "{{ uri }}", name: "%(p)s{{ item }}", state: running}
      loop: "{{ range(vms | int) | list }}"
    - name: Stop
      hotiron.virt.vm: {uri: "{{ uri }}", name: "%(p)s{{ item }}", state: stopped, force: true, shutdown_timeout: 0}
      loop: "{{ range(vms | int) | list }}"
    - name: Undefine
      hotiron.virt.vm: {uri: "{{ uri }}", name: "%(p)s{{ item }}", state: absent}
      loop: "{{ range(vms | int) | list }}"
""" % {"p": PREFIX}

PEER_PLAYBOOK = """
- name: Define, start, stop, undefine with a loop over community.libvirt.virt
  hosts: hypervisors
  gather_facts: false
  tasks:
    - name: Define
      community.libvirt.virt: {uri: "{{ uri }}", command: define, xml: "{{ xml | replace('NAME', '%(p)s' ~ item) }}"}
      loop: "{{ range(vms | int) | list }}"
    - name: Start
      community.libvirt.virt: {uri: "{{ uri }}", name: "%(p)s{{ item }}", state: running}
      loop: "{{ range(vms | int) | list }}"
    - name: Stop
      community.libvirt.virt: {uri: "{{ uri }}", name: "%(p)s{{ item }}", state: destroyed}
      loop: "{{ range(vms | int) | list }}"
    - name: Undefine
      community.libvirt.virt: {uri: "{{ uri }}", name: "%(p)s{{ item }}", command: undefine}
      loop: "{{ range(vms | int) | list }}"
""" % {"p": PREFIX}

VMS = """
- name: The same with hotiron.virt.vms, one task per step
  hosts: hypervisors
  gather_facts: false
  tasks:
    - name: "{{ item }}"
      hotiron.virt.vms:
        uri: "{{ uri }}"
        defaults: {memory: 32MiB, disks: [], vcpus: 1, domain_type: "{{ virt_type }}", force: true, shutdown_timeout: 0, state: "{{ item }}"}
        names: "{{ range(vms | int) | map('string') | map('regex_replace', '^', '%(p)s') | list }}"
      loop: [present, running, stopped, absent]
""" % {"p": PREFIX}

# What the peer defines: what hotiron.virt.vm defines for the same options, in essence.
XML = ("<domain type='%s'><name>NAME</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
       "<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>"
       "<features><acpi/></features><devices><console type='pty'/></devices></domain>")

PLAYBOOKS = {"hotiron.virt.vm": HOTIRON, "community.libvirt.virt": PEER_PLAYBOOK, "hotiron.virt.vms": VMS}

# The loop items that write no definition, alone: the VMs run, each is asked to run (3 passes over
# them).  No QEMU starts or stops: what is timed is the module runs themselves.
POWER_PLAY = """
- name: Running VMs asked to run, a loop over %(module)s
  hosts: hypervisors
  gather_facts: false
  tasks:
    - %(module)s: {uri: "{{ uri }}", name: "%(p)s{{ item %% (vms | int) }}", state: running}
      loop: "{{ range(3 * (vms | int)) | list }}"
"""
POWER = {module: POWER_PLAY % {"module": module, "p": PREFIX} for module in ("hotiron.virt.vm", "community.libvirt.virt")}
POWER_SETUP = VMS.replace("loop: [present, running, stopped, absent]", "loop: [present, running]")


def env(keep=None):
    result = dict(os.environ)
    result.update({"ANSIBLE_COLLECTIONS_PATH": os.pathsep.join([src_link(), PEER]), "ANSIBLE_NOCOLOR": "1",
                   "ANSIBLE_PIPELINING": "True", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
                   "ANSIBLE_LOCALHOST_WARNING": "False", "PATH": BIN + os.pathsep + result.get("PATH", ""),
                   "PYTHONPATH": PEER_LIB})
    if keep:
        result.update({"ANSIBLE_PIPELINING": "False", "ANSIBLE_KEEP_REMOTE_FILES": "1", "ANSIBLE_REMOTE_TMP": keep})
    return result


def inventory(workdir, lab):
    hosts = {h.name: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                      "uri": h.uri} for h in lab.hosts[:2]}
    path = os.path.join(workdir, "inventory.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"all": {"children": {"hypervisors": {"hosts": hosts}}}}, handle)
    return path


def run(workdir, inv, name, extra, keep=None, text=None):
    playbook = os.path.join(workdir, "pb.yml")
    with open(playbook, "w", encoding="utf-8") as handle:
        handle.write(text or PLAYBOOKS[name])
    started = time.monotonic()
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", inv, playbook, "-e", json.dumps(extra)],
                          capture_output=True, text=True, env=env(keep), cwd=workdir, check=False)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit("%s playbook failed:\n%s%s" % (name, proc.stdout[-3000:], proc.stderr[-2000:]))
    return elapsed


def startup(keep, module):
    """(whole process s, import of the module's code s) of one kept AnsiballZ payload, run
    again on its own (the best of 5), and the largest imports."""
    payload = sorted(glob.glob(os.path.join(keep, "*", "AnsiballZ_%s.py" % module)))[0]
    debug = os.path.join(os.path.dirname(payload), "debug_dir")
    subprocess.run([sys.executable, payload, "explode"], capture_output=True, check=True)
    args = os.path.join(debug, "args")
    with open(args, "rb") as handle:
        params = json.load(handle)
    params["ANSIBLE_MODULE_ARGS"]["_ansible_check_mode"] = True        # harmless to re-run
    with open(args, "w", encoding="utf-8") as handle:
        json.dump(params, handle)
    best, imports = None, None
    for _i in range(5):
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-X", "importtime", payload, "execute"], capture_output=True,
                              text=True, check=False)
        elapsed = time.monotonic() - started
        if best is None or elapsed < best:
            best, imports = elapsed, proc.stderr
    selfs = {}
    for line in imports.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s+)(\S+)", line)
        if match:
            selfs[match.group(4)] = int(match.group(1)) / 1e6
    total = sum(selfs.values())
    own = sum(v for k, v in selfs.items() if k.startswith("ansible_collections."))
    core = sum(v for k, v in selfs.items() if k.startswith("ansible."))
    shutil.rmtree(debug, ignore_errors=True)
    return best, total, own, core


def cleanup(lab):
    for host in lab.hosts[:2]:
        conn = host.connect()
        for dom in conn.listAllDomains():
            if dom.name().startswith(PREFIX):
                if dom.isActive():
                    dom.destroy()
                dom.undefine()
        conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    if not os.path.isdir(os.path.join(PEER, "ansible_collections", "community", "libvirt")):
        raise SystemExit("no community.libvirt in %s (see this script's docstring)" % PEER)
    lab = Lab(int(os.environ.get("LAB_ID", "0")))
    was_up = len(lab.hosts) >= 2 and all(h.is_up() for h in lab.hosts[:2])
    if not was_up:
        lab.up(2)
    times = {name: [] for name in PLAYBOOKS}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-peer-") as workdir:
            inv = inventory(workdir, lab)
            extra = {"vms": opts.vms, "virt_type": lab.virt_type, "xml": XML % lab.virt_type}
            cleanup(lab)
            run(workdir, inv, "hotiron.virt.vm", dict(extra, vms=1))          # untimed: caches warm
            for rnd in range(opts.rounds):
                order = list(PLAYBOOKS) if rnd % 2 == 0 else list(reversed(PLAYBOOKS))
                for name in order:
                    times[name].append(run(workdir, inv, name, extra))
                    print("  round %d %-24s %.2f s" % (rnd + 1, name, times[name][-1]), flush=True)
                    cleanup(lab)
            power = {name: [] for name in POWER}
            run(workdir, inv, "setup", extra, text=POWER_SETUP)
            for rnd in range(opts.rounds):
                for name in (list(POWER) if rnd % 2 == 0 else list(reversed(POWER))):
                    power[name].append(run(workdir, inv, name, extra, text=POWER[name]))
                    print("  round %d %-24s %.2f s (running VMs asked to run)" % (rnd + 1, name, power[name][-1]),
                          flush=True)
            cleanup(lab)
            starts = {}
            for name, module in (("hotiron.virt.vm", "vm"), ("community.libvirt.virt", "virt")):
                keep = os.path.join(workdir, "keep-" + module)
                run(workdir, inv, name, dict(extra, vms=1), keep=keep)
                starts[name] = startup(keep, module)
                cleanup(lab)
    finally:
        cleanup(lab)
        if not was_up:
            lab.down()
    base = statistics.median(times["community.libvirt.virt"])
    steps = 4 * opts.vms
    print("define, start, stop, undefine %d VMs on each of 2 hosts (%d loop items per host), %d rounds, median:"
          % (opts.vms, steps, opts.rounds))
    for name, label in (("community.libvirt.virt", "loop over community.libvirt.virt"),
                        ("hotiron.virt.vm", "loop over hotiron.virt.vm"),
                        ("hotiron.virt.vms", "hotiron.virt.vms, one task per step")):
        med = statistics.median(times[name])
        target = "  (target <= 1.0)" if name == "hotiron.virt.vm" else ""
        print("  %-38s %6.2f s  (%s)  ratio %.2f%s"
              % (label, med, " ".join("%.2f" % t for t in times[name]), med / base, target))
    print("  per loop item: peer %.3f s, hotiron.virt.vm %.3f s"
          % (base / steps, statistics.median(times["hotiron.virt.vm"]) / steps))
    peer = statistics.median(power["community.libvirt.virt"])
    ours = statistics.median(power["hotiron.virt.vm"])
    print("the loop items that write no definition alone (%d running VMs asked to run, 3 passes), median:"
          % opts.vms)
    print("  community.libvirt.virt %.2f s, hotiron.virt.vm %.2f s: ratio %.2f (per item: virt %.3f s, vm %.3f s)"
          % (peer, ours, ours / peer, peer / (3 * opts.vms), ours / (3 * opts.vms)))
    print("one module process (AnsiballZ payload run again in check mode, best of 5):")
    for name, (whole, imports, own, core) in starts.items():
        print("  %-24s process %.3f s; imports %.3f s, of which ansible.* %.3f s, the collection's %.3f s"
              % (name, whole, imports, core, own))
    load = os.getloadavg()[0]
    print("  (load average %.1f on %d CPUs)" % (load, os.cpu_count()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
