# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make demo`'s playbook on the lab, with its web guest (tests/lab/tiny_guest.py): everything
passes, the client saw no failed request through the maintenance, the guest was never restarted,
and the recovery parts left every demo VM running.  Marked ``guest``: it boots a real Linux guest
(seconds under TCG) and runs the whole demo (2-3 min here): ``make test-guests``."""

from __future__ import annotations

import os
import re
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lab"))

import tiny_guest  # noqa: E402  # pylint: disable=wrong-import-position

pytestmark = pytest.mark.guest


def _demo_domains(lab):
    import libvirt  # pylint: disable=import-outside-toplevel
    found = {}
    for host in lab.hosts:
        for dom in host.connect().listAllDomains():
            if dom.name().startswith("demo-"):
                found.setdefault(dom.name(), []).append((host.name, dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING))
    return found


def _remove_demo_domains(lab):
    import libvirt  # pylint: disable=import-outside-toplevel
    for host in lab.hosts:
        if not host.is_up():
            continue
        for dom in host.connect().listAllDomains():
            if dom.name().startswith("demo-"):
                if dom.isActive():
                    dom.destroy()
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)


def test_demo_with_its_web_guest(lab, guest_net, run_playbook):
    image, _times = tiny_guest.build_image()
    extra = tiny_guest.demo_vars(image, guest_net.bridge, guest_net.prefix)
    try:
        run = run_playbook("playbooks/demo.yml", extra_vars=extra, inventory=lab.inventory_path, timeout=1200)
        assert run.rc == 0, run.stdout[-6000:] + run.stderr[-2000:]
        said = re.search(r"through the maintenance of its host: (\d+) requests in [\d.]+ s, (\d+) failed, "
                         r"longest gap between two answers ([\d.]+) s; same boot id", run.stdout)
        assert said, run.stdout[-6000:]
        assert int(said.group(1)) > 0 and int(said.group(2)) == 0
        domains = _demo_domains(lab)
        # two clones per host and the web guest, each running on exactly one host
        assert len(domains) == 2 * len(lab.hosts) + 1, domains
        assert all(len(where) == 1 and where[0][1] for where in domains.values()), domains
        assert domains[extra["demo_guest_name"]][0][0] == lab.hosts[0].name      # came back home
    finally:
        _remove_demo_domains(lab)
