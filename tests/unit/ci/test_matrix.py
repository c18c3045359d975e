# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller matrix's pure parts (.ci/matrix.py): entries, pins, cache names, finding Python."""

from __future__ import annotations

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
_spec = importlib.util.spec_from_file_location("ci_matrix", os.path.join(ROOT, ".ci", "matrix.py"))
matrix = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(matrix)


def test_entries():
    assert matrix.parse_entry("2.21.5@3.13") == ("2.21.5", "3.13")
    for bad in ("2.21@3.13", "2.21.5", "2.21.5@3"):
        with pytest.raises(SystemExit, match="is not <ansible-core version>@<Python version>"):
            matrix.parse_entry(bad)


def test_the_test_pins_come_from_requirements_txt():
    with open(os.path.join(ROOT, "requirements.txt"), encoding="utf-8") as handle:
        pins = matrix.test_pins(handle.read())
    assert [p.split("==")[0] for p in pins] == list(matrix.TEST_PACKAGES)
    assert "libvirt-python==11.3.0" in pins
    with pytest.raises(SystemExit, match="pins none of: hypothesis, pyghmi"):
        matrix.test_pins("pytest==1\nlibvirt-python==2\n")


def test_a_changed_pin_makes_another_virtualenv():
    one = matrix.venv_name("2.21.5", "3.13", ["pytest==9.2.0"])
    assert one == matrix.venv_name("2.21.5", "3.13", ["pytest==9.2.0"]) and one.startswith("core2.21.5-py3.13-")
    assert one != matrix.venv_name("2.21.5", "3.13", ["pytest==9.2.1"])
    assert one != matrix.venv_name("2.21.4", "3.13", ["pytest==9.2.0"])


def _executable(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("#!/bin/sh\n")
    os.chmod(path, 0o755)
    return path


def test_python_from_path_then_the_newest_pyenv_version_never_a_shim(tmp_path):
    _executable(str(tmp_path / "shims" / "python3.12"))
    older = _executable(str(tmp_path / "pyenv" / "versions" / "3.12.1" / "bin" / "python3.12"))
    newer = _executable(str(tmp_path / "pyenv" / "versions" / "3.12.10" / "bin" / "python3.12"))
    assert matrix.find_python("3.12", path=str(tmp_path / "shims"), pyenv_root=str(tmp_path / "pyenv")) == newer
    os.remove(newer)
    assert matrix.find_python("3.12", path=str(tmp_path / "shims"), pyenv_root=str(tmp_path / "pyenv")) == older
    onpath = _executable(str(tmp_path / "bin" / "python3.12"))
    assert matrix.find_python("3.12", path=str(tmp_path / "bin"), pyenv_root=str(tmp_path / "pyenv")) == onpath
    assert matrix.find_python("3.14", path=str(tmp_path / "bin"), pyenv_root=str(tmp_path / "pyenv")) is None
