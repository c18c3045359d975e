# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge time of the hotiron.virt.hypervisor role on 3 fresh lab hosts: first run against
second run (nothing to do).  Target: second <= 0.3x first.

The role restarts libvirtd, and a first run needs hosts the role has never seen, so the
benchmark brings up a lab instance of its own (``LAB_ID + 192``), takes it down afterwards,
and repeats for ``--rounds`` fresh labs, reporting the median.  It uses the molecule
scenario's converge playbook (the lab's plain-TCP settings).  Usage:
``LAB_ID=0 .venv/bin/python benchmarks/bench_role_converge.py [--rounds 1]``.

The lab's hosts share this machine's /usr, so the packages are already installed on a
"fresh" host: the first run measures pre-flight, package check, configuration and the
libvirtd restart, not a download.  ``--fresh`` uses fresh Debian 12 hosts instead
(tests/lab/fresh_host.py, instance ``FRESH_ID``, default 230): a minimal debootstrap root of
their own, so the first run really installs libvirt and QEMU from deb.debian.org (with
Recommends, as apt does by default) and starts libvirtd.  After the second run each fresh
host must answer host_info over qemu+tcp from the controller.

``--systemd`` does the same on fresh Debian 12 hosts that run systemd (tests/lab/systemd_host.py:
booted by systemd-nspawn, systemd as PID 1), with the ``systemd`` molecule scenario's converge:
apt in each host starts what its packages start through systemd, and the role runs libvirt
socket-activated.  Instance ``FRESH_ID`` as with ``--fresh`` (use one nobody else uses).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

from lab import Lab  # noqa: E402
import fresh_host  # noqa: E402

BIN = os.path.dirname(sys.executable)
SCENARIOS = os.path.join(ROOT, "extensions", "molecule")
CONTROLLER_INVENTORY = os.path.join(ROOT, "extensions", "molecule", "inventory", "controller.yml")
TARGET = 0.3


def ansible_env():
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, "build", "src"))
    env.update(ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_PIPELINING="True", ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORKS="10", PATH=BIN + os.pathsep + env.get("PATH", ""))
    return env


def converge(the_lab, scenario="default"):
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", CONTROLLER_INVENTORY, "-i",
           the_lab.inventory_path, os.path.join(SCENARIOS, scenario, "converge.yml")]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ansible_env(), cwd=ROOT, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode:
        sys.exit("converge failed (rc %d):\n%s\n%s" % (proc.returncode, proc.stdout[-4000:], proc.stderr[-2000:]))
    changed = {host: int(n) for host, n in
               re.findall(r"^((?:hv|fresh)\d+)\s+:.*changed=(\d+)", proc.stdout, re.M)}
    return elapsed, changed


def check_remote_host_info(the_lab):
    """Every host answers hotiron.virt.host_info over its qemu+tcp URI, run on the controller."""
    cmd = [os.path.join(BIN, "ansible"), "lab", "-i", the_lab.inventory_path, "-o",
           "-e", "ansible_connection=local", "-e", "ansible_python_interpreter=" + sys.executable,
           "-m", "hotiron.virt.host_info", "-a", "uri={{ libvirt_uri }} virtualisation=false"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ansible_env(), cwd=ROOT, check=False)
    answered = re.findall(r'^(\S+) \| SUCCESS => .*"hostname": "([^"]+)"', proc.stdout, re.M)
    wanted = [(host.name, host.name) for host in the_lab.hosts]
    if proc.returncode or sorted(answered) != wanted:
        sys.exit("host_info over qemu+tcp failed (rc %d, answered %s):\n%s\n%s"
                 % (proc.returncode, answered, proc.stdout[-3000:], proc.stderr[-2000:]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--fresh", action="store_true",
                        help="fresh Debian 12 hosts (tests/lab/fresh_host.py) instead of lab hosts")
    parser.add_argument("--systemd", action="store_true",
                        help="fresh Debian 12 hosts that run systemd (tests/lab/systemd_host.py)")
    args = parser.parse_args()
    lab_id = (int(os.environ.get("LAB_ID", "0")) + 192) % 256
    fresh = args.fresh or args.systemd
    kind = "fresh Debian 12 systemd" if args.systemd else "fresh Debian 12" if args.fresh else "lab"
    scenario = "systemd" if args.systemd else "default"
    firsts, seconds = [], []
    for round_no in range(1, args.rounds + 1):
        the_lab = fresh_host.FreshInstance() if fresh else Lab(lab_id)
        the_lab.down()
        try:
            if fresh:
                times = the_lab.up(args.hosts, init="systemd" if args.systemd else "sysv")
                print("round %d: %d %s hosts up in %.1f s (%s)"
                      % (round_no, args.hosts, kind, times["up"],
                         "debootstrap made the root file system in %.0f s" % times["rootfs"]
                         if times["rootfs"] else "root file system from the cache"))
            else:
                the_lab.up(args.hosts)
            first, changed1 = converge(the_lab, scenario)
            second, changed2 = converge(the_lab, scenario)
            if fresh:
                check_remote_host_info(the_lab)
        finally:
            if os.environ.get("LAB_KEEP") != "1":
                the_lab.down()
        if not changed1 or min(changed1.values()) == 0:
            sys.exit("first run changed nothing on some host (%s): the hosts were not fresh" % changed1)
        if any(changed2.values()):
            sys.exit("second run changed something (%s): the role is not idempotent" % changed2)
        firsts.append(first)
        seconds.append(second)
        print("round %d: first %.1f s (changed %s), second %.1f s (changed 0), ratio %.2f"
              % (round_no, first, sum(changed1.values()), second, second / first))
    first, second = statistics.median(firsts), statistics.median(seconds)
    ratio = second / first
    print("hypervisor role converge on %d %s hosts: first run %.1f s, second run %.1f s, "
          "second/first = %.2f (target <= %.1f: %s)"
          % (args.hosts, kind, first, second, ratio, TARGET, "met" if ratio <= TARGET else "NOT met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
