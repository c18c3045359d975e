# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hotiron.virt.libvirt inventory of 500 hypervisors with 20 VMs each, against the bare
libvirt listing of the same hypervisors, in one run.

Hypervisors are libvirt test-driver URIs (``test:///<file>``), one host XML file each, made
here: 20 VMs with the collection's metadata (resource group, tags, SLA class), 12 running with
a NIC (the test driver reports an address for each), 5 shut off, 3 paused.  Timed:

* ``ansible-inventory`` with the plugin, no cache (target: at most 60 s);
* the same with ``cache: true`` (jsonfile): a first run fills the cache, the next are timed
  (target: at most 5 s);
* each both as ``--graph`` (the inventory built, as a playbook builds it, and its groups
  printed) and as ``--list`` (also every host's variables printed as JSON);
* ``ansible-playbook`` from the cache: a play on one VM that prints its record and the number
  of VMs (what an operator's run costs before its own tasks);
* baselines: the bare listing in one Python process, the way the plugin reads each
  hypervisor (open, domain stats, each domain's XML, addresses of running ones), one
  hypervisor after the other, and with as many threads as the plugin uses;
* with ``--static``, ``ansible-inventory --graph`` of a static YAML file holding the same
  10000 hosts and variables (what Ansible itself costs for an inventory that size).

    .venv/bin/python benchmarks/bench_inventory.py [--hypervisors 500] [--vms 20] [--rounds 3] [--static]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import libvirt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
NS = "https://hotiron.example/virt/1"
WORKERS = 16


def host_xml(index, vms):
    doms = []
    for number in range(vms):
        state = 1 if number < vms * 3 // 5 else (5 if number < vms * 17 // 20 else 3)
        nic = ("<devices><interface type='network'><mac address='52:54:%02x:%02x:%02x:%02x'/>"
               "<source network='lan'/><model type='virtio'/></interface></devices>"
               % (index >> 8, index & 255, number, 1)) if state == 1 else ""
        doms.append(
            "<domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
            "<name>vm-%d-%d</name><metadata><hotiron:vm xmlns:hotiron='%s'>"
            "<hotiron:resource_group>rg%d</hotiron:resource_group><hotiron:sla>%s</hotiron:sla>"
            "<hotiron:owner>team-%d</hotiron:owner><hotiron:tags><hotiron:tag>%s</hotiron:tag>"
            "<hotiron:tag>site%d</hotiron:tag></hotiron:tags></hotiron:vm></metadata>"
            "<memory unit='MiB'>%d</memory><vcpu>%d</vcpu><os><type arch='x86_64'>hvm</type></os>%s"
            "<test:runstate>%d</test:runstate></domain>"
            % (index, number, NS, index % 10, ("gold", "silver", "bronze")[number % 3], number % 4,
               ("web", "db", "batch")[number % 3], index % 5, 512 * (1 + number % 4), 1 + number % 2, nic, state))
    return ("<node><cpu><mhz>2400</mhz><model>x86_64</model><active>16</active><nodes>1</nodes><sockets>1</sockets>"
            "<cores>16</cores><threads>1</threads></cpu><memory>67108864</memory>%s"
            "<network><name>lan</name><bridge name='virbr9'/><ip address='10.%d.%d.1' netmask='255.255.255.0'/>"
            "</network></node>" % ("".join(doms), index >> 8, index & 255))


def bare_listing(uri):
    """What the plugin asks each hypervisor, without Ansible."""
    conn = libvirt.openReadOnly(uri)
    try:
        count = 0
        for dom, values in conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE):
            dom.XMLDesc(0)
            if values["state.state"] == 1:
                dom.interfaceAddresses(0)
            count += 1
        return count
    finally:
        conn.close()


def timed(func, *args):
    started = time.monotonic()
    value = func(*args)
    return time.monotonic() - started, value


CPU = {}      # (inventory, mode) -> CPU seconds of each ansible-inventory run (user + system)


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_inventory(path, mode="--graph"):
    """Seconds of one ``ansible-inventory -i path <mode>``, and the number of hosts it saw."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "src"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_INVENTORY_UNPARSED_FAILED="True")
    started, cpu = time.monotonic(), _children_cpu()
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", path, mode], capture_output=True,
                          text=True, env=env, check=False)
    elapsed = time.monotonic() - started
    CPU.setdefault((path, mode), []).append(_children_cpu() - cpu)
    if proc.returncode != 0:
        raise SystemExit("ansible-inventory failed:\n%s" % proc.stderr[-3000:])
    if mode == "--list":
        return elapsed, len(json.loads(proc.stdout)["_meta"]["hostvars"])
    return elapsed, sum(1 for line in proc.stdout.splitlines() if "--vm-" in line and "libvirt_vms" not in line)


PLAY = [{"name": "One VM of the inventory", "hosts": "libvirt_vms[0]", "gather_facts": False,
         "tasks": [{"name": "Its record", "delegate_to": "localhost", "ansible.builtin.debug": {
             "msg": "{{ hotiron_vm.name }} on {{ hotiron_vm.hypervisor }} ({{ groups['libvirt_vms'] | length }} VMs)"}}]}]


def run_playbook(path, play):
    """Seconds of one ``ansible-playbook -i path play``; the number of VMs its task saw."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "src"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_INVENTORY_UNPARSED_FAILED="True")
    started, cpu = time.monotonic(), _children_cpu()
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", path, play], capture_output=True, text=True,
                          env=env, check=False)
    elapsed = time.monotonic() - started
    CPU.setdefault((path, "(ansible-playbook)"), []).append(_children_cpu() - cpu)
    if proc.returncode != 0:
        raise SystemExit("ansible-playbook failed:\n%s" % (proc.stdout + proc.stderr)[-3000:])
    return elapsed, int(proc.stdout.split(" VMs)")[0].rsplit("(", 1)[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hypervisors", type=int, default=500)
    parser.add_argument("--vms", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--static", action="store_true",
                        help="also time a static YAML inventory of the same hosts and variables (slow)")
    opts = parser.parse_args()
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    link = os.path.join(ROOT, "build", "src", "ansible_collections", "hotiron", "virt")
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
    with tempfile.TemporaryDirectory(prefix="bench-inventory-") as work:
        uris = []
        for index in range(opts.hypervisors):
            path = os.path.join(work, "hv%d.xml" % index)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(host_xml(index, opts.vms))
            uris.append("test://" + path)
        expected = opts.hypervisors * opts.vms
        plain = os.path.join(work, "plain.libvirt.yml")
        with open(plain, "w", encoding="utf-8") as handle:
            json.dump({"plugin": "hotiron.virt.libvirt", "uris": uris, "max_workers": WORKERS}, handle)
        cached = os.path.join(work, "cached.libvirt.yml")
        with open(cached, "w", encoding="utf-8") as handle:
            json.dump({"plugin": "hotiron.virt.libvirt", "uris": uris, "max_workers": WORKERS, "cache": True,
                       "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": os.path.join(work, "cache"),
                       "cache_timeout": 3600}, handle)
        static = os.path.join(work, "static.yml")
        play = os.path.join(work, "play.yml")
        with open(play, "w", encoding="utf-8") as handle:
            json.dump(PLAY, handle)
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(bare_listing, uris))                    # untimed warm-up (files in the page cache)
        graph_count = run_inventory(plain)[1]                       # each VM is in 5 to 8 groups
        times = {"plugin --graph": [], "plugin --list": [], "cached --graph": [], "cached --list": [],
                 "cached playbook": [], "bare, one by one": [], "bare, %d threads" % WORKERS: []}
        for rnd in range(opts.rounds):
            times["plugin --graph"].append(run_inventory(plain)[0])
            elapsed, count = run_inventory(plain, "--list")
            assert count == expected, (count, expected)
            times["plugin --list"].append(elapsed)
            if rnd == 0:
                run_inventory(cached)                              # fills the cache
            elapsed, count = run_inventory(cached)
            assert count == graph_count, (count, graph_count)
            times["cached --graph"].append(elapsed)
            times["cached --list"].append(run_inventory(cached, "--list")[0])
            elapsed, count = run_playbook(cached, play)
            assert count == expected, (count, expected)
            times["cached playbook"].append(elapsed)
            elapsed, counts = timed(lambda: [bare_listing(u) for u in uris])
            assert sum(counts) == expected
            times["bare, one by one"].append(elapsed)
            with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
                elapsed, counts = timed(lambda: list(pool.map(bare_listing, uris)))
            times["bare, %d threads" % WORKERS].append(elapsed)
        if opts.static:
            env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "src"))
            out = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", plain, "--list", "--export"],
                                 capture_output=True, text=True, env=env, check=True).stdout
            with open(static, "w", encoding="utf-8") as handle:
                json.dump({"all": {"hosts": json.loads(out)["_meta"]["hostvars"]}}, handle)
            times["static file of the same hosts --graph"] = [run_inventory(static)[0]]
    print("%d hypervisors x %d VMs = %d inventory hosts, %d rounds" % (opts.hypervisors, opts.vms, expected, opts.rounds))
    medians = {k: statistics.median(v) for k, v in times.items()}
    for key, values in times.items():
        print("%-36s median %6.2f s (%s)" % (key, medians[key], ", ".join("%.2f" % v for v in values)))
    base = medians["bare, one by one"]
    for key, target in (("plugin --graph", 60), ("plugin --list", 60), ("cached --graph", 5), ("cached --list", 5),
                        ("cached playbook", 5)):
        print("%-15s / bare one by one: %5.2f   (%.1f s, target <= %d s)" % (key, medians[key] / base, medians[key], target))
    print("(--graph builds the inventory as a playbook does; --list also prints every host's variables as JSON;"
          " the playbook runs one task on one VM of the whole inventory)")
    for (path, mode), values in sorted(CPU.items()):
        if len(values) > 1:
            values = values[1:]           # the first run of an inventory warmed it (or filled the cache)
        tool = "ansible-playbook" if mode == "(ansible-playbook)" else "ansible-inventory %s" % mode
        print("CPU time of %s -i %s: median %.2f s (the machine's load does not count here)"
              % (tool, os.path.basename(path), statistics.median(values)))


if __name__ == "__main__":
    main()
