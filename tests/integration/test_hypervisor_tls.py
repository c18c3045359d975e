# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hypervisor role's TLS transport on a fresh lab host: the role generates a CA and the
host's certificate on the controller, installs them, turns on libvirtd's TLS listener, and a
client holding a certificate of that CA connects with qemu+tls://; a second run changes nothing.

The lab's own plain-TCP listener stays on (hypervisor_listen_tcp) so the lab keeps working; the
certificates go under /etc/libvirt/pki, which is private to each lab host (/etc/pki is shared by
every lab host on this machine).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from lab import Lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONTROLLER_INVENTORY = os.path.join(ROOT, "extensions", "molecule", "inventory", "controller.yml")
TLS_LAB_ID = (int(os.environ.get("LAB_ID", "0")) + 160) % 256


@pytest.fixture(scope="module")
def tls_lab():
    the_lab = Lab(TLS_LAB_ID)
    the_lab.down()
    the_lab.up(1)
    yield the_lab
    if os.environ.get("LAB_KEEP") != "1":
        the_lab.down()


def test_tls_transport_with_generated_certificates(tls_lab, run_playbook, tmp_path):
    import libvirt

    ca_dir = tmp_path / "pki"
    playbook = tmp_path / "tls.yml"
    playbook.write_text(json.dumps([{
        "name": "TLS hypervisor",
        "hosts": "lab",
        "gather_facts": False,
        "vars": {
            "hypervisor_migration_transport": "tls",
            "hypervisor_listen_tcp": True,
            "hypervisor_tcp_auth": "none",
            "hypervisor_listen_address": "{{ lab_address }}",
            "hypervisor_tls_ca_dir": str(ca_dir),
            "hypervisor_tls_addresses": ["{{ lab_address }}"],
            "hypervisor_tls_pki_dir": "/etc/libvirt/pki",
            "hypervisor_lock_manager": "none",
        },
        "roles": ["hotiron.virt.hypervisor"],
    }]))
    inventory = [CONTROLLER_INVENTORY, tls_lab.inventory_path]
    first = run_playbook(str(playbook), inventory=inventory)
    assert first.rc == 0, first.stdout[-3000:]
    assert first.changed("hv1") > 0
    assert (ca_dir / "ca-cert.pem").exists() and (ca_dir / "hv1-cert.pem").exists()
    # The CA key stays on the controller.
    host = tls_lab.host("hv1")
    found = host.run("find /etc/libvirt/pki -type f | sort", check=False).stdout.split()
    assert "/etc/libvirt/pki/libvirt/private/serverkey.pem" in found
    assert not [f for f in found if "ca-key" in f]

    # A client with a certificate of the same CA (here the host's own, which has clientAuth).
    client = tmp_path / "client"
    client.mkdir()
    shutil.copy(ca_dir / "ca-cert.pem", client / "cacert.pem")
    shutil.copy(ca_dir / "hv1-cert.pem", client / "clientcert.pem")
    shutil.copy(ca_dir / "hv1-key.pem", client / "clientkey.pem")
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open("qemu+tls://%s/system?pkipath=%s" % (host.address, client))
    try:
        assert conn.getHostname() == "hv1"
    finally:
        conn.close()

    # Without a certificate of that CA the server refuses the client.
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=x",
                    "-keyout", str(stranger / "clientkey.pem"), "-out", str(stranger / "clientcert.pem")],
                   check=True, capture_output=True)
    shutil.copy(stranger / "clientcert.pem", stranger / "cacert.pem")
    with pytest.raises(libvirt.libvirtError):
        libvirt.open("qemu+tls://%s/system?pkipath=%s" % (host.address, stranger)).close()

    second = run_playbook(str(playbook), inventory=inventory)
    assert second.rc == 0 and second.changed("hv1") == 0, second.recap
