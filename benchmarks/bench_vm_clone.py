# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Provisioning speed of hotiron.virt.vm on a lab host, as ratios against baselines.

1. N linked clones of a 2 GiB template, to running, by one playbook run, against a plain
   shell script doing the same (``qemu-img create -b`` + ``virsh define`` + ``virsh start``)
   in the same session.  Target: playbook / shell <= 1.5.
2. Linked against full clones of the same template (module code path, one clone at a
   time).  Target: linked at least 10x faster; an overlay under 1 MiB.
3. Re-running the same playbook (nothing to do) against its first run.  Target: <= 0.5.

Runs on lab ``LAB_ID`` (default 0), host hv1 (brought up if the lab is down).  Usage:
``LAB_ID=2 .venv/bin/python benchmarks/bench_vm_clone.py [--count 20] [--rounds 2] [--no-loop] [--concurrent]``.

The playbook is timed twice: as one ``hotiron.virt.vms`` task (the way to provision many VMs,
and the figure held against the target) and as a loop over ``hotiron.virt.vm`` (one module run
per clone, for comparison).  Guests are of the lab's type: create the lab with
``LAB_VIRT_TYPE=qemu`` where KVM is kvm_pvm, whose seconds of CPU per SeaBIOS boot would
otherwise be what is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
sys.path.insert(0, os.path.join(ROOT, "build", "src"))

import guests  # noqa: E402
from lab import Lab  # noqa: E402

LINK = os.path.join(ROOT, "build", "src", "ansible_collections", "hotiron", "virt")
if not os.path.islink(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(ROOT, LINK)

from ansible_collections.hotiron.virt.plugins.module_utils import domain_xml as dx  # noqa: E402
from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc  # noqa: E402
from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_ops  # noqa: E402

POOL = "bench"
TEMPLATE = "bench-tmpl"
GIB = 1024 ** 3
BIN = os.path.dirname(sys.executable)

# The clones in one task: hotiron.virt.vms (one module run for all of them).
PLAYBOOK_VMS = """
- name: Linked clones of the template, running, in one task
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Clones
      hotiron.virt.vms:
        uri: "{{ uri }}"
        defaults:
          clone_from: "%s"
          clone: linked
          memory: 32MiB
          state: running
        names: "{{ range(1, (count | int) + 1) | map('string') | map('regex_replace', '^', 'bench-pb') | list }}"
""" % TEMPLATE

# The same with a loop over hotiron.virt.vm (one module run per clone), shared by the
# sequential and the concurrent playbook.
CLONE_TASK = """
    - name: Clone
      hotiron.virt.vm:
        uri: "{{ uri }}"
        name: "bench-pb{{ item }}"
        clone_from: "%s"
        clone: linked
        memory: 32MiB
        state: running
      loop: "{{ range(1, (count | int) + 1) | list }}"
""" % TEMPLATE

PLAYBOOK_LOOP = """
- name: Linked clones of the template, running, one loop item each
  hosts: localhost
  gather_facts: false
  tasks:""" + CLONE_TASK

# The loop, with the clones made concurrently (async tasks, then wait for all of them).
PLAYBOOK_ASYNC = """
- name: Linked clones of the template, running, concurrently
  hosts: localhost
  gather_facts: false
  tasks:""" + CLONE_TASK.rstrip("\n") + """
      async: 600
      poll: 0
      register: started
      changed_when: false   # launching reports nothing; the wait below reports what changed

    - name: Wait for the clones
      ansible.builtin.async_status:
        jid: "{{ item.ansible_job_id }}"
      loop: "{{ started.results }}"
      loop_control:
        label: "{{ item.item }}"
      register: done
      until: done.finished
      retries: 600
      delay: 0.5
      changed_when: done.changed
"""

PLAYBOOKS = {"vms": PLAYBOOK_VMS, "loop": PLAYBOOK_LOOP, "async": PLAYBOOK_ASYNC}


# What ansible-playbook itself costs before any VM work: parse, inventory, one no-op task.
PLAYBOOK_EMPTY = """
- name: Nothing
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Nothing
      ansible.builtin.meta: noop
"""


def make_template(outside, size_gib):
    """A qcow2 template disk of ``size_gib`` GiB, all of it data (not sparse), that boots."""
    path = os.path.join(outside, "tmpl.qcow2")
    if os.path.exists(path):
        return path
    raw = os.path.join(outside, "tmpl-src.raw")
    sector = guests.boot_sector("idle")
    block = bytes((i * 7 + 1) % 251 for i in range(1 << 20))   # 1 MiB of non-zero bytes
    with open(raw, "wb") as handle:
        handle.write(sector)
        handle.write(block[len(sector):])
        for _i in range(size_gib * 1024 - 1):
            handle.write(block)
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, path], check=True)
    os.unlink(raw)
    os.chmod(path, 0o644)
    return path


def setup(host, size_gib, virt_type):
    outside = os.path.join(host.images_dir, POOL)
    os.makedirs(outside, exist_ok=True)
    make_template(outside, size_gib)
    conn = lc.connect(host.uri)
    pool = host.dir_pool(conn, POOL)
    # The lab's guest type (the clones inherit it from the template).
    vm_ops.ensure(conn, {"name": TEMPLATE, "memory": "32MiB", "template": True, "domain_type": virt_type,
                         "disks": [{"pool": POOL, "volume": "tmpl.qcow2"}]})
    return conn, pool, outside


def remove_matching(conn, prefix):
    for dom in conn.listAllDomains():
        if dom.name().startswith(prefix):
            vm_ops.ensure(conn, {"name": dom.name(), "state": "absent", "remove_volumes": True})


def ansible_env():
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, "build", "src"))
    env.update({"ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_PIPELINING": "True",
                "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False", "PATH": BIN + os.pathsep + env.get("PATH", "")})
    return env


def run_playbook(workdir, uri, count, variant):
    playbook = os.path.join(workdir, variant + ".yml")
    inventory = os.path.join(workdir, "inventory.json")
    with open(playbook, "w", encoding="utf-8") as handle:
        handle.write(PLAYBOOK_EMPTY if variant == "empty" else PLAYBOOKS[variant])
    with open(inventory, "w", encoding="utf-8") as handle:
        json.dump({"all": {"hosts": {"localhost": {"ansible_connection": "local",
                                                   "ansible_python_interpreter": sys.executable}}}}, handle)
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", inventory, playbook, "-e",
           json.dumps({"uri": uri, "count": count})]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ansible_env(), cwd=ROOT, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit("playbook failed:\n" + proc.stdout + proc.stderr)
    changed = [line for line in proc.stdout.splitlines() if line.startswith("localhost")]
    return elapsed, changed[-1] if changed else ""


def shell_script(workdir, conn, host, outside, count):
    """The baseline: a shell script with a pre-written domain XML per clone, run on the
    host itself (its own paths), talking to libvirt over the same URI as the playbook."""
    uri = host.uri
    base = dx.parse(conn.lookupByName(TEMPLATE).XMLDesc(2))  # VIR_DOMAIN_XML_INACTIVE
    tmpl_path = "/var/lib/libvirt/images/%s/tmpl.qcow2" % POOL
    lines = ["#!/bin/sh", "set -e"]
    for i in range(1, count + 1):
        name = "bench-sh%d" % i
        root = dx.clone(base)
        dx.set_text(root, "name", name)
        dx.remove_path(root, "uuid")
        dx.remove_path(root, "metadata")
        dx.remove_path(root, "devices/interface/mac")
        for disk in root.findall("devices/disk"):
            disk.find("source").set("file", "/var/lib/libvirt/images/%s/%s.qcow2" % (POOL, name))
            dx.remove_path(disk, "readonly")
        xml_path = os.path.join(workdir, name + ".xml")
        with open(xml_path, "w", encoding="utf-8") as handle:
            handle.write(dx.tostring(root))
        lines.append("qemu-img create -q -f qcow2 -F qcow2 -b %s /var/lib/libvirt/images/%s/%s.qcow2"
                     % (tmpl_path, POOL, name))
        lines.append("virsh -q -c %s define %s >/dev/null" % (uri, xml_path))
        lines.append("virsh -q -c %s start %s >/dev/null" % (uri, name))
    script = os.path.join(workdir, "clones.sh")
    with open(script, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    start = time.monotonic()
    host.run(["sh", script])
    return time.monotonic() - start


def remove_shell_clones(conn, outside, count):
    for i in range(1, count + 1):
        name = "bench-sh%d" % i
        dom = lc.lookup_domain(conn, name)
        if dom is not None:
            if dom.isActive():
                dom.destroy()
            dom.undefine()
        path = os.path.join(outside, name + ".qcow2")
        if os.path.exists(path):
            os.unlink(path)


def clone_times(conn, outside, kind, count):
    times, sizes = [], []
    for i in range(1, count + 1):
        name = "bench-%s%d" % (kind, i)
        start = time.monotonic()
        vm_ops.ensure(conn, {"name": name, "clone_from": TEMPLATE, "clone": kind, "memory": "32MiB"})
        times.append(time.monotonic() - start)
        fmt = "qcow2"
        st = os.stat(os.path.join(outside, "%s-vda.%s" % (name, fmt)))
        sizes.append(st.st_blocks * 512)
    return times, sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--full", type=int, default=3, help="full clones to time")
    parser.add_argument("--template-gib", type=int, default=2)
    parser.add_argument("--no-loop", action="store_true",
                        help="skip the playbook looping over hotiron.virt.vm (one module run per clone)")
    parser.add_argument("--concurrent", action="store_true",
                        help="also time the loop made concurrent (async tasks)")
    args = parser.parse_args()

    lab = Lab(int(os.environ.get("LAB_ID", "0")))
    started = not lab.hosts or not lab.hosts[0].is_up()
    if started:
        lab.up(1)
    try:
        run(lab, args)
    finally:
        if started:
            lab.down()


LABELS = {
    "vms": "one playbook run (hotiron.virt.vms, one task):",
    "loop": "one playbook run (loop over hotiron.virt.vm):",
    "async": "one playbook run (loop over hotiron.virt.vm, async):",
}


def run(lab, args):
    """Measure on the lab's first host; the template and pool stay for the next run."""
    host = lab.hosts[0]
    conn, _pool, outside = setup(host, args.template_gib, lab.virt_type)
    uri = host.uri
    variants = ["vms"] + ([] if args.no_loop else ["loop"]) + (["async"] if args.concurrent else [])
    first = {v: [] for v in variants}
    rerun = {v: [] for v in variants}
    shell, startup = [], []
    with tempfile.TemporaryDirectory(prefix="bench-vm-") as workdir:
        for _i in range(args.rounds):
            startup.append(run_playbook(workdir, uri, 0, "empty")[0])
            remove_shell_clones(conn, outside, args.count)
            remove_matching(conn, "bench-pb")
            shell.append(shell_script(workdir, conn, host, outside, args.count))
            remove_shell_clones(conn, outside, args.count)
            for variant in variants:
                elapsed, recap = run_playbook(workdir, uri, args.count, variant)
                first[variant].append(elapsed)
                if "changed=0" in recap:
                    raise SystemExit("first playbook run changed nothing: " + recap)
                elapsed, recap = run_playbook(workdir, uri, args.count, variant)
                rerun[variant].append(elapsed)
                if "changed=0" not in recap:
                    raise SystemExit("re-run was not idempotent: " + recap)
                remove_matching(conn, "bench-pb")
    linked_t, linked_sizes = clone_times(conn, outside, "linked", args.full)
    full_t, _sizes = clone_times(conn, outside, "full", args.full)
    remove_matching(conn, "bench-linked")
    remove_matching(conn, "bench-full")

    med = statistics.median
    shell_m, startup_m = med(shell), med(startup)
    linked_m, full_m = med(linked_t), med(full_t)
    figures = {
        "virt_type": lab.virt_type, "clones": args.count, "template_gib": args.template_gib,
        "shell_s": round(shell_m, 2), "ansible_playbook_startup_s": round(startup_m, 2),
        "linked_clone_s": round(linked_m, 3), "full_clone_s": round(full_m, 3),
        "full_vs_linked": round(full_m / linked_m, 1), "overlay_bytes_max": max(linked_sizes),
        "load_average": os.getloadavg()[0],
        "all_runs": {"startup": startup, "shell": shell, "first": first, "rerun": rerun,
                     "linked": linked_t, "full": full_t},
    }
    print("%d linked clones of a %d GiB template to running (%s guests), median of %d rounds:"
          % (args.count, args.template_gib, lab.virt_type, args.rounds))
    print("  shell script (qemu-img create -b + virsh define + virsh start): %6.2f s" % shell_m)
    for variant in variants:
        first_m, rerun_m = med(first[variant]), med(rerun[variant])
        figures[variant] = {"first_s": round(first_m, 2), "rerun_s": round(rerun_m, 2),
                            "vs_shell": round(first_m / shell_m, 2), "rerun_vs_first": round(rerun_m / first_m, 2)}
        print("  %-62s %6.2f s   ratio %.2f (target <= 1.5)" % (LABELS[variant], first_m, first_m / shell_m))
        print("  %-62s %6.2f s   ratio %.2f (target <= 0.5)"
              % ("  the same again, nothing to do:", rerun_m, rerun_m / first_m))
    print("  ansible-playbook's own start (a no-op playbook):               %6.2f s" % startup_m)
    print("  (load average during the run: %.1f on %d CPUs; figures on a shared machine are noisy)"
          % (os.getloadavg()[0], os.cpu_count()))
    print("one clone, module code path, median of %d:" % args.full)
    print("  linked %.3f s, full %.3f s: linked is %.1fx faster (target >= 10); overlay %d KiB (target < 1024)"
          % (linked_m, full_m, full_m / linked_m, max(linked_sizes) // 1024))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
