# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the integration tests: the lab of real libvirt hosts and Ansible runners.

- ``lab``: session-scoped :class:`lab.Lab` with 3 hosts up (``LAB_ID`` from the environment,
  default 0); brought down at the end unless ``LAB_KEEP=1``.
- ``run_playbook(path, extra_vars=None, check=False, diff=False, limit=None, inventory=None)``
  -> :class:`PlaybookRun` (``.rc``, ``.stdout``, ``.stderr``, ``.recap``, ``.results``).
- ``run_module(module, args, host='localhost', check=False, diff=False)`` -> result dict.
- ``lab_guest(host, kind='idle', ...)``: defines (and starts) a test guest on a lab host,
  removed again after the test wherever it ended up.

The default inventory is ``localhost`` (``connection: local`` with this Python) plus the
lab's generated inventory when the lab is up.  Request ``lab`` in tests that use lab hosts.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

import guests as lab_guests  # noqa: E402  (tests/lab is not a package)
from lab import Lab  # noqa: E402

LAB_ID = int(os.environ.get("LAB_ID", "0"))
BIN = os.path.dirname(sys.executable)
RECAP_LINE = re.compile(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$")


@dataclass
class PlaybookRun:
    """What one ansible-playbook run did."""

    rc: int
    stdout: str
    stderr: str
    recap: dict = field(default_factory=dict)
    results: list = field(default_factory=list)

    def for_task(self, task, host=None):
        """Results (dicts with host, task, action, status, result) of tasks named ``task``."""
        return [r for r in self.results
                if r["task"] == task and (host is None or r["host"] == host)]

    def changed(self, host):
        return self.recap.get(host, {}).get("changed", 0)


def parse_recap(stdout):
    recap = {}
    in_recap = False
    for line in stdout.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        match = RECAP_LINE.match(line.strip()) if in_recap else None
        if match:
            recap[match.group(1)] = {key: int(value) for key, value in
                                     re.findall(r"(\w+)=(\d+)", match.group(2))}
    return recap


def ansible_env():
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, "build", "src"))
    env.update({
        "ANSIBLE_CALLBACK_PLUGINS": os.path.join(HERE, "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "hotiron_results",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "PATH": BIN + os.pathsep + env.get("PATH", ""),
    })
    return env


class AnsibleRunner:
    """Runs playbooks with the result-capturing callback; default inventory as above."""

    def __init__(self, workdir, lab_id=LAB_ID):
        self.workdir = workdir
        self.lab = Lab(lab_id)
        self.local_inventory = os.path.join(workdir, "localhost.yml")
        with open(self.local_inventory, "w", encoding="utf-8") as handle:
            json.dump({"all": {"hosts": {"localhost": {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable}}}}, handle)

    def inventories(self, inventory=None):
        if inventory is not None:
            return [inventory] if isinstance(inventory, (str, os.PathLike)) else list(inventory)
        found = [self.local_inventory]
        if os.path.exists(self.lab.inventory_path):
            found.append(self.lab.inventory_path)
        return found

    def playbook(self, path, extra_vars=None, check=False, diff=False, limit=None,
                 inventory=None, timeout=900, env=None):
        path = str(path)
        if not os.path.isabs(path) and not os.path.exists(path):
            path = os.path.join(ROOT, path)
        fd, results_file = tempfile.mkstemp(prefix="results-", suffix=".jsonl", dir=self.workdir)
        os.close(fd)
        cmd = [os.path.join(BIN, "ansible-playbook"), path]
        for inv in self.inventories(inventory):
            cmd += ["-i", str(inv)]
        if extra_vars:
            vars_file = results_file.replace("results-", "vars-").replace(".jsonl", ".json")
            with open(vars_file, "w", encoding="utf-8") as handle:
                json.dump(extra_vars, handle)
            cmd += ["-e", "@" + vars_file]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if limit:
            cmd += ["--limit", limit if isinstance(limit, str) else ",".join(limit)]
        env = {**ansible_env(), **(env or {}), "HOTIRON_RESULTS_FILE": results_file}
        proc = run_bounded(cmd, env, timeout)
        with open(results_file, encoding="utf-8") as handle:
            results = [json.loads(line) for line in handle if line.strip()]
        return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, parse_recap(proc.stdout),
                           results)

    def module(self, module, args=None, host="localhost", check=False, diff=False):
        play = [{"name": "run_module", "hosts": host, "gather_facts": False,
                 "tasks": [{"name": "run_module", module: args or {}}]}]
        fd, path = tempfile.mkstemp(prefix="module-", suffix=".yml", dir=self.workdir)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(play, handle)        # JSON is YAML
        run = self.playbook(path, check=check, diff=diff)
        found = run.for_task("run_module", host)
        if not found:
            raise AssertionError(f"{module} produced no result on {host} (rc {run.rc}):\n"
                                 f"{run.stdout}\n{run.stderr}")
        result = found[-1]["result"]
        # ansible-core 2.19 keeps a failure in the task's status rather than in the result dict
        result.setdefault("failed", found[-1]["status"] in ("failed", "ignored"))
        return result


def run_bounded(cmd, env, timeout):
    """``cmd`` in a process group of its own, killed whole when it overruns ``timeout``.

    ``subprocess.run(timeout=...)`` kills only ansible-playbook, then waits for its pipes, which
    the module processes it forked still hold: a module that never returns (a migration whose
    abort libvirt never answered, seen once in CI) hung the suite.  Here the group goes, and the
    test fails with what the playbook printed so far."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                          start_new_session=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)   # the group this test started, by its leader's pid
            try:
                stdout, stderr = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:     # a process that left the group still holds the pipes
                stdout, stderr = "", ""
            raise AssertionError("%s ran longer than %d s and was stopped (its process group killed):\n%s\n%s"
                                 % (" ".join(cmd[:2]), timeout, stdout[-4000:], stderr[-4000:])) from None
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


@pytest.fixture(scope="session")
def ansible_runner(tmp_path_factory):
    return AnsibleRunner(str(tmp_path_factory.mktemp("ansible")))


@pytest.fixture(scope="session")
def run_playbook(ansible_runner):
    return ansible_runner.playbook


@pytest.fixture(scope="session")
def run_module(ansible_runner):
    return ansible_runner.module


@pytest.fixture(scope="session")
def lab():
    """Three real libvirt hosts (hv1..hv3) for the whole session."""
    the_lab = Lab(LAB_ID)
    the_lab.down()      # a lab left up (by `make demo`, say) holds VMs the tests do not expect
    the_lab.up(3)
    yield the_lab
    if os.environ.get("LAB_KEEP") != "1":
        the_lab.down()


@dataclass
class Guest:
    name: str
    host: object          # lab.Host where it was defined
    disk: str             # path of the disk as the hosts see it
    disk_file: str        # path of the disk image in this (root) namespace
    kind: str

    def domain(self, host=None):
        """The libvirt domain on ``host`` (default: where it was defined)."""
        return (host or self.host).connect().lookupByName(self.name)


_guest_numbers = itertools.count(1)


@pytest.fixture
def lab_guest(lab):
    """Factory: ``lab_guest(host, kind='idle', name=None, memory_mib=32, shared=False,
    start=True, vcpus=1, bus='virtio', dirty_mib=24)`` -> :class:`Guest`.

    The disk is a tiny raw image (tests/lab/guests.py) in the host's own
    /var/lib/libvirt/images, or with ``shared=True`` in the lab's shared directory
    (/srv/hotiron/shared inside every host, needed for live migration).  After the test
    the guest is destroyed and undefined on every lab host that has it.
    """
    made = []

    def make(host, kind="idle", name=None, memory_mib=32, shared=False, start=True, vcpus=1,
             bus="virtio", dirty_mib=24):
        if isinstance(host, str):
            host = lab.host(host)
        name = name or f"t{next(_guest_numbers)}-{kind}-{os.getpid()}"
        if shared:
            disk_file = os.path.join(lab.shared_dir, name + ".img")
            disk = f"{lab.shared_path}/{name}.img"
        else:
            disk_file = os.path.join(host.images_dir, name + ".img")
            disk = f"/var/lib/libvirt/images/{name}.img"
        lab_guests.make_image(disk_file, kind, dirty_mib=dirty_mib)
        guest = Guest(name, host, disk, disk_file, kind)
        made.append(guest)
        conn = host.connect()
        dom = conn.defineXML(lab_guests.domain_xml(name, disk, lab.virt_type,
                                                   memory_mib=memory_mib, vcpus=vcpus, bus=bus))
        if start:
            dom.create()
        return guest

    yield make
    import libvirt
    for guest in made:
        for host in lab.hosts:
            if not host.is_up():
                continue
            try:
                dom = host.connect().lookupByName(guest.name)
            except libvirt.libvirtError:
                continue
            if dom.isActive():
                dom.destroy()
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                              | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
        for host in lab.hosts:      # a local disk may have been copied by a migration
            for path in (guest.disk_file, os.path.join(host.images_dir, guest.name + ".img")):
                if os.path.exists(path):
                    os.unlink(path)


# --- real Linux guests (tests/lab/os_guest.py) ----------------------------------------------------
@pytest.fixture(scope="session")
def os_image():
    """Directory of the lab's Debian 12 guest image (disk.qcow2, vmlinux, initrd.img), built the
    first time (~7-11 min; cached under /var/tmp/hotiron-lab/guest-cache/ by its recipe)."""
    import os_guest  # pylint: disable=import-outside-toplevel
    path, _times = os_guest.build_image()
    return path


@pytest.fixture(scope="session")
def guest_net(lab):
    """The lab's guest bridge (hvgbr<LAB_ID>, 198.18.<LAB_ID>.1/24) and its DHCP server."""
    import os_guest  # pylint: disable=import-outside-toplevel
    net = os_guest.GuestNet(lab.lab_id).up()
    yield net
    if os.environ.get("LAB_KEEP") != "1":
        net.down()


OS_POOL = "osg"            # the real guests' dir pool on hv1 (/var/lib/libvirt/images/osg)
OS_TEMPLATE = "osg-tmpl"
OS_SAVED = "osg-saved"


@pytest.fixture(scope="session")
def os_template(lab, os_image, guest_net):
    """The real guest's template ``osg-tmpl`` on hv1, made by the collection (``vm_ops.ensure``):
    the image's disk copied into the dir pool ``osg``, direct kernel boot of the image's kernel
    (``boot``), one NIC on the guest bridge, the agent's channel, a balloon, TCG, 1 vCPU of at most 2.  A dict with
    ``host``, ``conn`` and ``outside`` (the pool's directory in this namespace).  At the end every
    VM of the pool (the tests' linked clones) is removed with its volumes, then the template and
    the pool."""
    import shutil  # pylint: disable=import-outside-toplevel
    import os_guest  # pylint: disable=import-outside-toplevel
    from storage_helpers import remove_dir_pool  # pylint: disable=import-outside-toplevel
    sys.path.insert(0, os.path.join(ROOT, "build", "src"))
    from ansible_collections.hotiron.virt.plugins.module_utils import libvirt_common as lc  # noqa: E402
    from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_ops  # noqa: E402
    host = lab.host("hv1")
    outside = os.path.join(host.images_dir, OS_POOL)
    os.makedirs(outside, exist_ok=True)
    os.chmod(outside, 0o755)
    base = os.path.join(outside, "debian12.qcow2")
    shutil.copyfile(os.path.join(os_image, "disk.qcow2"), base)
    os.chmod(base, 0o644)
    conn = lc.connect(host.uri)
    pool = host.dir_pool(conn, OS_POOL)
    patch = ("<domain><features>%s</features><devices>%s<memballoon model='virtio'/></devices></domain>"
             % (os_guest.TCG_FEATURES, os_guest.AGENT_CHANNEL))
    vm_ops.ensure(conn, {"name": OS_TEMPLATE, "domain_type": "qemu", "machine": "pc", "memory": "192MiB", "vcpus": 1, "max_vcpus": 2,
                         "disks": [{"pool": OS_POOL, "volume": "debian12.qcow2"}],
                         "interfaces": [{"bridge": guest_net.bridge}], "console": True, "template": True,
                         "boot": {"kernel": os.path.join(os_image, "vmlinux"), "initrd": os.path.join(os_image, "initrd.img"),
                                  "cmdline": os_guest.KERNEL_CMDLINE},
                         "xml": patch})
    yield {"host": host, "conn": conn, "outside": outside}
    clones = [d.name() for d in conn.listAllDomains(0) if d.name() != OS_TEMPLATE and "/%s/" % OS_POOL in d.XMLDesc(0)]
    for name in clones + [OS_TEMPLATE]:
        vm_ops.ensure(conn, {"name": name, "state": "absent", "remove_volumes": True})
    remove_dir_pool(pool)
    conn.close()


@pytest.fixture(scope="session")
def os_guest_saved(os_template, guest_net):
    """One real guest, ``osg-saved``, a linked clone of ``os_template`` personalised by cloud-init
    (host name osg-saved), booted ONCE per test run on hv1 and saved: ``restore()`` gives it
    running again in seconds (its disk put back as it was when saved, then ``virsh restore``;
    measured 15 s to HTTP answering) and returns ``(domain, address)`` once it answers HTTP
    (os_guest.http_get) with the same boot id every time; ``first`` is its /cgi-bin/id answer
    after the boot (os_guest.parse_id, with ``address``).  Only one restored copy runs at a time
    (destroy it, or restore again, which does).

    Costs one TCG boot (1-7 min) the first time a test asks for it."""
    import os_guest  # pylint: disable=import-outside-toplevel
    from ansible_collections.hotiron.virt.plugins.module_utils.vm import vm_ops  # noqa: E402
    conn, outside = os_template["conn"], os_template["outside"]
    vm_ops.ensure(conn, {"name": OS_SAVED, "clone_from": OS_TEMPLATE, "clone": "linked", "state": "running",
                         "cloud_init": {"hostname": OS_SAVED}})
    dom = conn.lookupByName(OS_SAVED)
    mac = os_guest.guest_mac(dom.XMLDesc(0))
    address, info = os_guest.wait_http(guest_net, mac, expect=OS_SAVED)
    disk = os.path.join(outside, OS_SAVED + "-vda.qcow2")
    state = os.path.join(outside, OS_SAVED + ".sav")
    os_guest.save_guest(dom, state, disk)

    class Saved:
        first = dict(info, address=address)

        def restore(self):
            current = conn.lookupByName(OS_SAVED)
            if current.isActive():
                current.destroy()
            os_guest.restore_guest(conn, state, disk)
            _address, now = os_guest.wait_http(guest_net, mac, timeout=180, expect=OS_SAVED)
            assert now["boot_id"] == info["boot_id"], "the restored guest booted again"
            return conn.lookupByName(OS_SAVED), address

    yield Saved()
    for path in (state, state + ".disk"):
        if os.path.exists(path):
            os.unlink(path)
