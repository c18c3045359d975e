# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module, every option, wrong values: refused or handled, never through the catch-all.

``module_base.run_module`` turns an exception it did not expect into "Unexpected error in
hotiron.virt.X: SomeError: ...": still a crash, only a polite one.  This sweep reads each
module's real argument spec (the one handed to AnsibleModule), starts from arguments that get
past the input checks against libvirt's test driver, and gives each option in turn values a
user gets wrong (NaN, infinities, negative and huge numbers, empty and multi-line strings, a
directory where a file is meant, empty lists and dicts).  It runs in check mode, so nothing is
written; the module may succeed or fail, but a failure must be one it meant.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hotiron.virt.plugins import modules as modules_pkg

DATA = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "data"))
VM_HOST = "test://" + os.path.join(DATA, "vm", "host.xml")
BACKUP_HOST = "test://" + os.path.join(DATA, "backup", "host.xml")
STORAGE_HOST = "test://" + os.path.join(DATA, "storage", "host.xml")
OTHER_HOST = "test://" + os.path.join(DATA, "hosts", "group-member.xml")
GROUP = {"hv1": VM_HOST, "hv2": OTHER_HOST}
OVF = os.path.join(DATA, "ovf", "vmware-ovf1.ovf")

# Arguments that pass each module's input checks (check mode, test driver, temporary paths).
BASE = {
    "backup_info": lambda tmp: {"target": str(tmp), "uri": BACKUP_HOST},
    "capacity_report": lambda tmp: {"hosts": GROUP, "dest": str(tmp / "report.html"), "samples": 2, "interval": 0.5},
    "group_stats": lambda tmp: {"hosts": GROUP, "interval": 0.1},
    "host_info": lambda tmp: {"uri": VM_HOST},
    "host_maintenance": lambda tmp: {"hosts": GROUP, "uri": VM_HOST},
    "libvirt_conf": lambda tmp: {"path": str(tmp / "libvirtd.conf"), "settings": {"max_clients": 10}},
    "network": lambda tmp: {"name": "lan", "uri": VM_HOST},
    "network_info": lambda tmp: {"uri": STORAGE_HOST},
    "rebalance": lambda tmp: {"hosts": GROUP, "interval": 0.5},
    "recover": lambda tmp: {"hosts": GROUP, "state_file": str(tmp / "recover.json")},
    "resource_schedule": lambda tmp: {"hosts": GROUP, "rules": [{"vms": ["web1"], "set": {"cpu_shares": 512}}]},
    "storage_pool": lambda tmp: {"name": "p1", "type": "dir", "target": {"path": str(tmp / "pool")}, "uri": STORAGE_HOST},
    "storage_pool_info": lambda tmp: {"uri": STORAGE_HOST},
    "vm": lambda tmp: {"name": "web1", "uri": VM_HOST},
    "vm_backup": lambda tmp: {"name": "db1", "target": str(tmp), "uri": BACKUP_HOST},
    "vm_export": lambda tmp: {"name": "web1", "dest": str(tmp / "web1.ova"), "uri": VM_HOST},
    "vm_import": lambda tmp: {"src": OVF, "pool": "local", "uri": VM_HOST},
    "vm_info": lambda tmp: {"uri": VM_HOST},
    "vm_migrate": lambda tmp: {"name": "web1", "dest_uri": BACKUP_HOST, "uri": VM_HOST},
    "vm_restore": lambda tmp: {"vm": "db1", "target": str(tmp), "uri": BACKUP_HOST},
    "vm_snapshot": lambda tmp: {"name": "web1", "uri": VM_HOST},
    "vms": lambda tmp: {"names": ["web1"], "uri": VM_HOST},
    "volume": lambda tmp: {"pool": "local", "name": "new.qcow2", "capacity": "1GiB", "uri": VM_HOST},
}


def module_names():
    return sorted(name for _finder, name, _pkg in pkgutil.iter_modules(modules_pkg.__path__))


class _Captured(Exception):
    pass


def argument_spec(name):
    """The argument spec the module really hands to AnsibleModule."""
    seen = {}
    original = basic.AnsibleModule.__init__

    def capture(self, *args, **kwargs):
        seen["spec"] = kwargs.get("argument_spec", args[0] if args else None)
        raise _Captured()

    basic.AnsibleModule.__init__ = capture
    try:
        with patch_module_args({}):
            importlib.import_module("ansible_collections.hotiron.virt.plugins.modules." + name).main()
    except _Captured:
        pass
    finally:
        basic.AnsibleModule.__init__ = original
    return seen["spec"]


def wrong_values(option, tmp):
    """Values of the option's type that a user gets wrong."""
    kind = option.get("type", "str")
    if kind == "float":
        return ["nan", "inf", "-inf", -1.0, 1e300]
    if kind == "int":
        return [-1, 0, 2 ** 62]
    if kind == "bool":
        return []
    if kind in ("str", "path", "raw"):
        if option.get("choices"):
            return []
        return ["", "a\nb", str(tmp), "Europe", "../" * 8 + "etc/passwd", "x" * 300, "nan"]
    if kind == "list":
        return [[], [""], ["a\nb"]] if option.get("elements") in (None, "str", "raw") else [[]]
    if kind == "dict" and not option.get("options"):
        return [{}, {"": ""}, {"a\nb": "c\nd"}]
    return []


def paths(spec, prefix=()):
    """Every (path, option) of a spec, suboptions of dicts included (first list element)."""
    for name, option in spec.items():
        yield prefix + (name,), option
        if option.get("options"):
            yield from paths(option["options"], prefix + (name,))


def place(args, path, value, spec):
    """``args`` with ``value`` at ``path`` (dict suboptions; a list of dicts gets one element)."""
    args = json.loads(json.dumps(args))
    node, options = args, spec
    for key in path[:-1]:
        option = options[key]
        if option.get("type") == "list":
            current = node.get(key) or [{}]
            node[key] = current
            node = current[0]
        else:
            node = node.setdefault(key, {}) if isinstance(node.get(key), dict) or key not in node else node[key]
        options = option["options"]
    node[path[-1]] = value
    return args


def run(name, args):
    with patch_module_args(dict(args, _ansible_check_mode=True)):
        with pytest.raises(SystemExit):
            importlib.import_module("ansible_collections.hotiron.virt.plugins.modules." + name).main()


def cases(name, tmp):
    spec = argument_spec(name)
    base = BASE[name](tmp)
    for path, option in paths(spec):
        if path == ("uri",):
            continue
        for value in wrong_values(option, tmp):
            yield path, value, place(base, path, value, spec)


def test_every_module_has_base_arguments():
    assert set(module_names()) == set(BASE), "add the new module to BASE"


@pytest.mark.parametrize("name", sorted(BASE))
def test_base_arguments_get_past_the_input_checks(name, tmp_path, capsys):
    run(name, BASE[name](tmp_path))
    out = json.loads(capsys.readouterr().out)
    assert "Unexpected error" not in out.get("msg", ""), out["msg"]
    input_refused = ("Unsupported parameters", "missing required", "is of type", "must be", "one of the following")
    assert not (out.get("failed") and any(words in out["msg"] for words in input_refused)), out["msg"]


@pytest.mark.parametrize("name", sorted(BASE))
def test_wrong_values_never_reach_the_catch_all(name, tmp_path, capsys):
    crashes = []
    for path, value, args in cases(name, tmp_path):
        run(name, args)
        out = json.loads(capsys.readouterr().out)
        message = out.get("msg", "")
        if "Unexpected error in" in message or "Traceback" in message:
            crashes.append("%s=%r: %s" % (".".join(path), value, message.splitlines()[0][:200]))
    assert not crashes, "\n".join(crashes)
