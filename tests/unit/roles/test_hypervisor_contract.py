# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hypervisor role's contract with each platform family, read from its files.

RHEL-family packages cannot be installed on this machine, so the RedHat path is held to the
same contract the Debian path is run against (tests/integration/test_hypervisor_role_systemd.py):
every platform variable, package list and systemd unit the tasks use is given by each family's
vars file, with the same shape; no package or unit name is written into a task; and the
argument specs match the defaults.
"""

from __future__ import annotations

import os
import re

import pytest
import yaml

ROLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles", "hypervisor")
FAMILIES = ("Debian", "RedHat")
UNIT_KEYS = {"libvirtd", "libvirtd_sockets", "libvirtd_tcp", "libvirtd_tls", "virtlogd", "virtlockd", "sanlock"}
INTERNAL = re.compile(r"\b(__hypervisor_\w+)")
PUBLIC = re.compile(r"(?<![\w.])(hypervisor_\w+)")
UNIT_REF = re.compile(r"__hypervisor_units\.(\w+)")
UNIT_NAME = re.compile(r"^[\w@.-]+\.(service|socket)$")


def load(*parts):
    with open(os.path.join(ROLE, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def text(*parts):
    with open(os.path.join(ROLE, *parts), encoding="utf-8") as handle:
        return handle.read()


def role_files():
    """(relative path, text) of every task and handler file, and the internal vars."""
    found = [(os.path.join("tasks", name), text("tasks", name))
             for name in sorted(os.listdir(os.path.join(ROLE, "tasks")))]
    return found + [("handlers/main.yml", text("handlers", "main.yml")), ("vars/main.yml", text("vars", "main.yml"))]


def tasks_of(items):
    """Every task (blocks flattened) of a list of tasks or handlers."""
    for item in items or []:
        yield item
        for key in ("block", "rescue", "always"):
            yield from tasks_of(item.get(key))


def all_tasks():
    for name in sorted(os.listdir(os.path.join(ROLE, "tasks"))):
        yield from tasks_of(load("tasks", name))
    yield from tasks_of(load("handlers", "main.yml"))


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def defined_by_the_role():
    """Internal variables the role defines itself: vars/main.yml, set_fact, register, loop and
    task variables."""
    names = set(load("vars", "main.yml"))
    for task in all_tasks():
        names.add(task.get("register"))
        names.update(task.get("ansible.builtin.set_fact", {}) or {})
        names.update(task.get("vars", {}) or {})
        control = task.get("loop_control", {}) or {}
        names.update(filter(None, (control.get("loop_var"), control.get("index_var"))))
    return {name for name in names if name}


@pytest.fixture(scope="module", params=FAMILIES)
def family(request):
    return request.param, load("vars", request.param + ".yml")


def test_every_family_defines_the_same_variables():
    keys = [set(load("vars", f + ".yml")) for f in FAMILIES]
    assert all(k == keys[0] for k in keys), keys


def test_every_platform_variable_the_role_uses_is_in_each_family(family):
    name, variables = family
    used = set()
    for _path, content in role_files():
        used.update(INTERNAL.findall(content))
    missing = used - defined_by_the_role() - set(variables)
    assert not missing, f"used by the role but defined neither by it nor in vars/{name}.yml: {sorted(missing)}"


def test_package_lists(family):
    name, variables = family
    for key in ("__hypervisor_packages", "__hypervisor_sanlock_packages"):
        packages = variables[key]
        assert packages and all(isinstance(p, str) and re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", p) for p in packages), key
        assert len(set(packages)) == len(packages), f"{name} {key} repeats a package"
    assert "sanlock" in variables["__hypervisor_sanlock_packages"]
    assert any("libvirt" in p and "sanlock" in p for p in variables["__hypervisor_sanlock_packages"]), \
        "libvirt's sanlock plugin"
    assert not set(variables["__hypervisor_packages"]) & set(variables["__hypervisor_sanlock_packages"])
    query = variables["__hypervisor_package_query"]
    assert query[0] in ("dpkg-query", "rpm") and all(isinstance(arg, str) for arg in query)
    # packages.yml reads "<name> installed" lines from the query's output.
    assert query[-1].endswith(" installed\n") or query[-1].endswith("${db:Status-Status}\n")
    assert isinstance(variables["__hypervisor_qemu_user"], str) and isinstance(variables["__hypervisor_qemu_group"], str)


def test_every_unit_the_role_names_is_in_each_family(family):
    name, variables = family
    units = variables["__hypervisor_units"]
    assert set(units) == UNIT_KEYS, f"{name}: {sorted(units)}"
    for key, value in units.items():
        for unit in value if isinstance(value, list) else [value]:
            assert UNIT_NAME.match(unit), f"{name} {key}: {unit!r}"
    used = set()
    for _path, content in role_files():
        used.update(UNIT_REF.findall(content))
    assert used and used <= set(units), f"units the role uses but vars/{name}.yml lacks: {sorted(used - set(units))}"


PACKAGE_MODULES = ("ansible.builtin.package", "ansible.builtin.apt", "ansible.builtin.dnf")
SERVICE_MODULES = ("ansible.builtin.systemd_service", "ansible.builtin.service")


def test_tasks_name_no_package_or_unit_themselves():
    checked = 0
    for task in all_tasks():
        for value in strings({k: v for k, v in task.items() if k not in ("name", "block", "rescue", "always")}):
            assert not UNIT_NAME.match(value.strip()), f"task {task.get('name')!r} names unit {value!r}"
        for module in PACKAGE_MODULES + SERVICE_MODULES:
            if module in task and "name" in task[module]:
                checked += 1
                assert "{{" in str(task[module]["name"]), f"task {task.get('name')!r} names {task[module]['name']!r}"
    assert checked >= 5


# --- the argument specs --------------------------------------------------------------------------
SPEC_MAIN = load("meta", "argument_specs.yml")["argument_specs"]["main"]
SPEC = SPEC_MAIN["options"]
DEFAULTS = load("defaults", "main.yml")
TYPES = {"bool": bool, "int": int, "str": str, "path": str, "list": list, "dict": dict}


def test_every_public_variable_has_a_spec_and_a_default():
    assert set(SPEC) == set(DEFAULTS)


@pytest.mark.parametrize("option", sorted(SPEC))
def test_spec_and_default_agree(option):
    spec, default = SPEC[option], DEFAULTS[option]
    assert spec.get("description"), option
    assert spec["type"] in TYPES, option
    if "default" in spec:
        assert spec["default"] == default, option
    if default is not None:
        assert isinstance(default, TYPES[spec["type"]]), (option, default)
    else:
        assert "default" not in spec, f"{option}: a null default is left out of the spec"
    if "choices" in spec:
        assert default in spec["choices"], option
    if spec["type"] == "list":
        assert spec.get("elements") in TYPES, option


def test_every_public_variable_the_role_reads_has_a_spec():
    used = set()
    for _path, content in role_files():
        used.update(PUBLIC.findall(content))
    facts = set()          # what the role returns (hypervisor_verdict, ...), described in the spec
    for task in all_tasks():
        facts.update(task.get("ansible.builtin.set_fact", {}) or {})
    description = " ".join(SPEC_MAIN["description"])
    assert all(f"C({fact})" in description for fact in facts - {None} if not fact.startswith("__")), facts
    assert used - set(SPEC) - facts == set(), sorted(used - set(SPEC) - facts)


def test_platforms_of_the_role_have_a_vars_file():
    families = {"Debian": "Debian", "Ubuntu": "Debian", "EL": "RedHat", "Fedora": "RedHat"}
    for platform in load("meta", "main.yml")["galaxy_info"]["platforms"]:
        assert os.path.exists(os.path.join(ROLE, "vars", families[platform["name"]] + ".yml")), platform
