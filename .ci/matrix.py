# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller matrix: the unit suite (and ansible-test sanity) under the ansible-core series
the main virtualenv does not run, each on its own Python.

Usage (the Makefile's ``matrix`` and ``sanity-matrix`` targets)::

    python3 .ci/matrix.py unit 2.20.10@3.12 2.21.5@3.13
    python3 .ci/matrix.py sanity 2.21.5@3.13 SANITY_DIR [--test NAME ...]
    python3 .ci/matrix.py venv 2.21.5@3.13          # prints the virtualenv's path (exit 3: no such Python)

Each entry is ``<ansible-core version>@<Python version>``.  Its virtualenv lives under
MATRIX_CACHE (default ~/.cache/hotiron-virt/matrix), named after a digest of what it holds (the
Python, the ansible-core pin and the test pins taken from requirements.txt), so a second run
installs nothing and a changed pin makes a new one.

The Python is looked for as ``python<version>`` on PATH, then in pyenv ($PYENV_ROOT or
~/.pyenv).  When the machine has none, the series is skipped with a loud SKIPPED line (the
summary names it) unless MATRIX_REQUIRE=1, which makes that a failure; `make test-platforms`
runs the unit suite on Debian 13's own Python 3.13 in a Debian 13 root (.ci/debian_root.py).
Only the standard library is used.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("MATRIX_CACHE") or os.path.expanduser("~/.cache/hotiron-virt/matrix")
# What the unit suite needs besides ansible-core; the pins are requirements.txt's.
TEST_PACKAGES = ("pytest", "hypothesis", "libvirt-python", "pyghmi", "pycdlib")
# ansible-test's bootstrap looks for get-pip under a name of the pip version it installs.
GET_PIP_NAMES = ("get_pip_24_2.py", "get_pip_25_2.py")
# `matrix.py venv`'s exit status when the machine has no such Python (any other failure: 1).
NO_PYTHON = 3


def log(text):
    print("== matrix: " + text, flush=True)


def parse_entry(entry):
    """``"2.21.5@3.13"`` -> ``("2.21.5", "3.13")``."""
    match = re.fullmatch(r"(\d+\.\d+\.\d+)@(3\.\d+)", entry)
    if not match:
        raise SystemExit("matrix entry %r is not <ansible-core version>@<Python version>" % entry)
    return match.group(1), match.group(2)


def test_pins(requirements_text):
    """The requirements.txt lines pinning TEST_PACKAGES, in that order."""
    pins = {}
    for line in requirements_text.splitlines():
        name = re.split(r"[=<>!~ ;\[]", line.strip(), maxsplit=1)[0].lower()
        if name in TEST_PACKAGES:
            pins[name] = line.strip()
    missing = [name for name in TEST_PACKAGES if name not in pins]
    if missing:
        raise SystemExit("requirements.txt pins none of: " + ", ".join(missing))
    return [pins[name] for name in TEST_PACKAGES]


def venv_name(core, python_version, pins):
    digest = hashlib.sha256("\n".join([core, python_version] + pins).encode()).hexdigest()[:12]
    return "core%s-py%s-%s" % (core, python_version, digest)


def find_python(version, path=None, pyenv_root=None):
    """Path of an interpreter of ``version`` ("3.12"), or None."""
    # pyenv's shims are skipped: they answer for every version and fail for those not selected.
    dirs = [d for d in (path or os.environ.get("PATH", "")).split(os.pathsep) if d and not d.rstrip("/").endswith("/shims")]
    found = shutil.which("python" + version, path=os.pathsep.join(dirs))
    if found:
        return found
    pyenv_root = pyenv_root or os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates = glob.glob(os.path.join(pyenv_root, "versions", version + ".*", "bin", "python" + version))
    candidates.sort(key=lambda p: [int(x) for x in re.findall(r"\d+", p.split("/versions/")[1].split("/")[0])])
    return candidates[-1] if candidates else None


def ensure_venv(core, python_version):
    """(path of the virtualenv, seconds spent installing) or (None, 0) when there is no Python."""
    with open(os.path.join(ROOT, "requirements.txt"), encoding="utf-8") as handle:
        pins = test_pins(handle.read())
    venv = os.path.join(CACHE, venv_name(core, python_version, pins))
    stamp = os.path.join(venv, ".hotiron-ready")
    if os.path.exists(stamp):
        return venv, 0.0
    python = find_python(python_version)
    if python is None:
        return None, 0.0
    os.makedirs(CACHE, exist_ok=True)
    # `make test` makes them in the background while a lab test may ask for the newest one:
    # one maker at a time, the other waits and finds it made.
    with open(venv + ".lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(stamp):
            return venv, 0.0
        return _make_venv(venv, stamp, core, python_version, python, pins)


def _make_venv(venv, stamp, core, python_version, python, pins):
    started = time.monotonic()
    log("making %s (Python %s from %s)" % (venv, python_version, python))
    shutil.rmtree(venv, ignore_errors=True)
    os.makedirs(CACHE, exist_ok=True)
    subprocess.run([python, "-m", "venv", venv], check=True)
    subprocess.run([os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", "ansible-core==" + core] + pins, check=True)
    with open(stamp, "w", encoding="utf-8") as handle:
        handle.write("ansible-core==%s\n%s\n" % (core, "\n".join(pins)))
    return venv, time.monotonic() - started


def skipped(core, python_version):
    message = ("SKIPPED ansible-core %s: no Python %s on this machine (python%s on PATH or in pyenv); "
               "install it, or see `make test-platforms` for Debian 13's Python" % (core, python_version, python_version))
    print("\n" + "!" * 100 + "\n!! " + message + "\n" + "!" * 100 + "\n", flush=True)
    return os.environ.get("MATRIX_REQUIRE") != "1"


def run_unit(entries):
    results = []
    for core, python_version in map(parse_entry, entries):
        venv, install = ensure_venv(core, python_version)
        if venv is None:
            results.append((core, python_version, "SKIPPED" if skipped(core, python_version) else "FAILED", 0.0))
            continue
        started = time.monotonic()
        log("unit suite under ansible-core %s on Python %s" % (core, python_version))
        proc = subprocess.run([os.path.join(venv, "bin", "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "tests/unit"], cwd=ROOT, check=False)
        results.append((core, python_version, "passed" if proc.returncode == 0 else "FAILED",
                        install + time.monotonic() - started))
    for core, python_version, result, seconds in results:
        log("ansible-core %s / Python %s: %s (%.0f s)" % (core, python_version, result, seconds))
    return 1 if any(r[2] == "FAILED" for r in results) else 0


def run_sanity(entry, tests, sanity_dir):
    core, python_version = parse_entry(entry)
    venv = ensure_venv(core, python_version)[0]
    if venv is None:
        return 0 if skipped(core, python_version) else 1
    cache = os.path.expanduser("~/.ansible/test/cache")
    os.makedirs(cache, exist_ok=True)
    for name in GET_PIP_NAMES:
        shutil.copyfile(os.path.join(ROOT, ".ci", "get_pip.py"), os.path.join(cache, name))
    started = time.monotonic()
    log("ansible-test %s sanity on Python %s%s" % (core, python_version, (" (" + ", ".join(tests) + ")") if tests else ""))
    cmd = [os.path.join(venv, "bin", "ansible-test"), "sanity", "--python", python_version, "--requirements", "--color", "no"]
    for test in tests:
        cmd += ["--test", test]
    env = dict(os.environ, PATH=os.path.join(venv, "bin") + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run(cmd, cwd=sanity_dir, env=env, check=False)
    log("ansible-test %s sanity: %s (%.0f s)" % (core, "passed" if proc.returncode == 0 else "FAILED",
                                                 time.monotonic() - started))
    return proc.returncode


def main(argv):
    if len(argv) >= 2 and argv[0] == "unit":
        return run_unit(argv[1:])
    if len(argv) >= 3 and argv[0] == "sanity":
        entry, sanity_dir, tests = argv[1], argv[2], []
        rest = argv[3:]
        while rest:
            if rest[0] != "--test" or len(rest) < 2:
                raise SystemExit("usage: matrix.py sanity ENTRY SANITY_DIR [--test NAME ...]")
            tests.append(rest[1])
            rest = rest[2:]
        return run_sanity(entry, tests, sanity_dir)
    if len(argv) == 2 and argv[0] == "venv":
        venv = ensure_venv(*parse_entry(argv[1]))[0]
        if venv is None:
            return NO_PYTHON
        print(venv)
        return 0
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
