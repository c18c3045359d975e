# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hypervisor role's socket drop-ins for systemd hosts, written into a temporary directory.

Under systemd socket activation libvirtd ignores listen_addr, so the role writes the listen
address into a drop-in of each listening socket unit. This checks what the role writes,
that a second run changes nothing, and that the drop-ins follow the transports and the address
family, in a temporary directory; test_hypervisor_role_systemd.py runs them under systemd.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml


ROLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                    "roles", "hypervisor")


def play(tmp_path, **role_vars):
    unit_dir = tmp_path / "system"
    with open(os.path.join(ROLE, "vars", "Debian.yml"), encoding="utf-8") as handle:
        units = yaml.safe_load(handle)["__hypervisor_units"]       # set_vars.yml is not run here
    variables = dict(__hypervisor_systemd_unit_dir=str(unit_dir), __hypervisor_service_manager="pidfile",
                     __hypervisor_units=units, **role_vars)
    path = tmp_path / "sockets.yml"
    path.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "Socket drop-ins", "ansible.builtin.include_role": {
            "name": "hotiron.virt.hypervisor", "tasks_from": "systemd_sockets.yml"}, "vars": variables}]}]))
    return str(path), unit_dir


def dropin(unit_dir, unit):
    return (unit_dir / (unit + ".d") / "hotiron-listen.conf").read_text()


def test_tls_and_tcp_sockets_get_the_address_and_a_second_run_changes_nothing(tmp_path, run_playbook):
    path, unit_dir = play(tmp_path, hypervisor_migration_transport="tls", hypervisor_listen_tcp=True,
                          hypervisor_listen_address="192.0.2.10")
    first = run_playbook(path)
    assert first.rc == 0, first.stdout
    assert first.recap["localhost"]["changed"] == 2          # the directories, the drop-ins
    assert dropin(unit_dir, "libvirtd-tls.socket").splitlines()[1:] == [
        "[Socket]", "ListenStream=", "ListenStream=192.0.2.10:16514"]
    assert dropin(unit_dir, "libvirtd-tcp.socket").splitlines()[-1] == "ListenStream=192.0.2.10:16509"
    again = run_playbook(path)
    assert again.rc == 0 and again.recap["localhost"]["changed"] == 0, again.stdout


@pytest.mark.parametrize("transport,address,expected", [
    ("tcp", "2001:db8::10", {"libvirtd-tcp.socket": "ListenStream=[2001:db8::10]:16509"}),
    ("tls", "127.77.1.1", {"libvirtd-tls.socket": "ListenStream=127.77.1.1:16514"}),
])
def test_only_the_listening_transports_get_a_drop_in(tmp_path, run_playbook, transport, address, expected):
    path, unit_dir = play(tmp_path, hypervisor_migration_transport=transport, hypervisor_listen_address=address,
                          hypervisor_tcp_auth="none")
    run = run_playbook(path)
    assert run.rc == 0, run.stdout
    assert sorted(p.name for p in unit_dir.iterdir()) == [unit + ".d" for unit in expected]
    for unit, line in expected.items():
        assert dropin(unit_dir, unit).splitlines()[-1] == line
