"""The collection builds, installs the normal way, and documents itself from the installed copy."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))
                 if not os.path.basename(p).startswith("_"))


def _run(args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=300, **kwargs)


def test_build_install_and_document_every_plugin(tmp_path):
    _run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), ROOT])
    (tarball,) = glob.glob(str(tmp_path / "hotiron-virt-*.tar.gz"))
    dest = tmp_path / "collections"
    _run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", "-p", str(dest), tarball])
    installed = dest / "ansible_collections" / "hotiron" / "virt"
    assert (installed / "MANIFEST.json").exists()
    assert not (installed / "build").exists() and not (installed / ".git").exists()
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(dest))
    listed = json.loads(_run([os.path.join(BIN, "ansible-doc"), "-t", "module", "-l", "-j", "hotiron.virt"],
                             env=env).stdout)
    assert sorted(name.split(".")[-1] for name in listed) == MODULES
    docs = json.loads(_run([os.path.join(BIN, "ansible-doc"), "-t", "module", "-j"]
                           + ["hotiron.virt." + m for m in MODULES], env=env).stdout)
    for module in MODULES:
        doc = docs["hotiron.virt." + module]
        assert doc["doc"]["short_description"], module
        assert doc["examples"].strip(), module
        # Every module reaches libvirt: one host by uri, or a whole group by hosts (libvirt_conf
        # edits files where it runs; the backup modules work on the VM's own host, by uri).
        assert {"uri", "hosts"} & set(doc["doc"]["options"]) or module == "libvirt_conf", module
        assert doc["doc"]["attributes"]["check_mode"]["support"] in ("full", "partial"), module
    role = json.loads(_run([os.path.join(BIN, "ansible-doc"), "-t", "role", "-j", "hotiron.virt.hypervisor"],
                           env=env).stdout)
    assert "hypervisor_allow_emulation" in role["hotiron.virt.hypervisor"]["entry_points"]["main"]["options"]
