# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""commands: programs run through a real AnsibleModule's run_command (bound by conftest)."""

from __future__ import annotations

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import commands


def test_stdin_reaches_the_program_exactly_and_not_its_command_line():
    status, out, err = commands.run(["sh", "-c", 'cat; echo "args=$*"', "sh"], stdin="password=s3cret!\n")
    assert (status, out, err) == (0, "password=s3cret!\nargs=\n", "")


def test_arguments_are_not_expanded_nor_given_to_a_shell():
    status, out, err = commands.run(["printf", "%s|", "~/x", "$HOME", "a;b"])
    assert (status, out, err) == (0, "~/x|$HOME|a;b|", "")


def test_exit_status_and_standard_error_come_back():
    assert commands.run(["sh", "-c", "echo oops >&2; exit 3"]) == (3, "", "oops\n")


def test_a_timeout_ends_the_program():
    with pytest.raises(commands.CommandTimeout, match="sleep did not finish within 0.2s"):
        commands.run(["sleep", "30"], timeout=0.2)
    assert commands.run(["true"], timeout=5) == (0, "", "")


def test_a_missing_program_is_an_oserror():
    with pytest.raises(OSError):
        commands.run(["/nonexistent/program"])


def test_outside_a_module_run_it_refuses(monkeypatch):
    monkeypatch.setitem(commands._bound, "module", None)
    with pytest.raises(RuntimeError, match="outside a module run"):
        commands.run(["true"])
