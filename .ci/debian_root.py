# Copyright: (c) 2026, hotiron.virt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The README's install steps on another Debian release: in a debootstrap'd root of that release
(trixie, Debian 13, by default), ``make deps`` (apt with that release's package names, the
virtualenv on its Python with requirements.txt's pins) and then the unit suite, in a chroot.

Usage (`make debian-root`, in `make test-platforms`)::

    python3 .ci/debian_root.py [--suite trixie]

The base root is the lab's fresh-host root (tests/lab/fresh_host.py, cached by what it is made
of) with ``make`` and ``ca-certificates``.  After a successful ``make deps`` the root is cached
as a second tarball named after the base and requirements.txt: a later run unpacks it, and the
Makefile's install steps run again and install only what is missing.
This machine's own CA certificates (/usr/local/share/ca-certificates) are copied in, so pip
works behind a TLS-inspecting proxy.  The root (under the lab's ROOT_DIR) is removed afterwards.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

import fresh_host  # noqa: E402  # pylint: disable=wrong-import-position
import lab  # noqa: E402  # pylint: disable=wrong-import-position

MAJORS = {"bookworm": "12", "trixie": "13"}
INCLUDE = ("ca-certificates", "make")
REPO = "/root/hotiron.virt"           # inside the root
REFRESH_AFTER = 60.0                  # seconds of `make deps` in a cached root: it installed something
ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8",
       "PIP_CERT=/etc/ssl/certs/ca-certificates.crt", "PIP_DISABLE_PIP_VERSION_CHECK=1"]


def log(text):
    print("== debian-root: " + text, flush=True)


def apt_packages(suite):
    """The Makefile's package list as it is on ``suite``."""
    out = subprocess.run(["make", "-s", "--no-print-directory", "DEBIAN_MAJOR=" + MAJORS[suite], "print-apt-packages"],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return out.split()


def installed_name(base, requirements):
    """The installed root's cache name: the base's and requirements.txt's.  A package added to the
    Makefile is installed by the next run's `make deps` (it installs what is missing), which then
    caches the root again."""
    stem = os.path.basename(base)[:-len(".tar")]
    digest = hashlib.sha256(requirements.encode()).hexdigest()[:10]
    return "%s-make-deps-%s.tar" % (stem, digest)


def in_root(root, script, out=None):
    """Run ``script`` (sh) in a chroot into ``root`` with /proc and /dev of its own mount
    namespace (both gone with it); its exit status."""
    outer = ('mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" && '
             'exec chroot "$1" env -i %s sh -c "$2"' % " ".join(ENV))
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", outer, "sh", root, script],
                          check=False, stdout=out, stderr=subprocess.STDOUT if out else None).returncode


def copy_repo(root):
    """The tracked (and new, unignored) files of the working tree into REPO, replacing all but
    the virtualenv and build/ of a cached root."""
    repo = root + REPO
    if os.path.isdir(repo):
        for entry in os.listdir(repo):
            if entry not in (".venv", "build"):
                path = os.path.join(repo, entry)
                shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
    os.makedirs(repo, exist_ok=True)
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True).stdout
    files = b"\0".join(f for f in files.split(b"\0") if f and os.path.lexists(os.path.join(ROOT, os.fsdecode(f))))
    pack = subprocess.Popen(["tar", "--null", "-T", "-", "-cf", "-"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    unpack = subprocess.Popen(["tar", "-xf", "-", "-C", repo], stdin=pack.stdout)
    pack.stdout.close()
    pack.communicate(files)
    if unpack.wait() != 0 or pack.returncode != 0:
        raise SystemExit("copying the working tree into the root failed")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="trixie", choices=sorted(MAJORS))
    args = parser.parse_args(argv)
    started = time.monotonic()
    base, made = fresh_host.rootfs_tarball(log, suite=args.suite, include=INCLUDE)
    log("base root %s%s" % (base, " (made in %.0f s)" % made if made else " (cached)"))
    with open(os.path.join(ROOT, "requirements.txt"), encoding="utf-8") as handle:
        cached = os.path.join(fresh_host.CACHE_DIR, installed_name(base, handle.read()))
    log("the Makefile's packages on %s: %s" % (args.suite, " ".join(apt_packages(args.suite))))
    work = os.path.join(lab.ROOT_DIR, "debian-root-" + args.suite)
    root = os.path.join(work, "root")
    subprocess.run(["rm", "-rf", "--one-file-system", work], check=True)
    os.makedirs(root)
    try:
        source = cached if os.path.exists(cached) else base
        log("unpacking %s" % source)
        subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", root, "-xf", source], check=True)
        shutil.copyfile("/etc/resolv.conf", os.path.join(root, "etc", "resolv.conf"))
        for cert in glob.glob("/usr/local/share/ca-certificates/*.crt"):
            shutil.copyfile(cert, os.path.join(root, "usr", "local", "share", "ca-certificates", os.path.basename(cert)))
        copy_repo(root)
        step = time.monotonic()
        log("make deps in Debian %s (%s)" % (MAJORS[args.suite], args.suite))
        status = in_root(root, "update-ca-certificates >/dev/null && cd %s && make deps" % REPO)
        deps_s = time.monotonic() - step
        if status != 0:
            log("FAILED: make deps in Debian %s exited %d (%.0f s)" % (MAJORS[args.suite], status, deps_s))
            return 1
        if source != cached or deps_s > REFRESH_AFTER:
            log("caching the installed root as %s" % cached)
            tmp = cached + ".tmp"
            subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", root, "--exclude=./proc/*", "-cf", tmp, "."],
                           check=True)
            os.replace(tmp, cached)
        step = time.monotonic()
        log("unit suite in Debian %s" % MAJORS[args.suite])
        status = in_root(root, "cd %s && .venv/bin/python --version && .venv/bin/ansible --version | head -1 && "
                               ".venv/bin/python -m pytest -q -p no:cacheprovider tests/unit" % REPO)
        unit_s = time.monotonic() - step
        log("Debian %s (%s): make deps %.0f s, unit suite %s in %.0f s; %.0f s in all"
            % (MAJORS[args.suite], args.suite, deps_s, "passed" if status == 0 else "FAILED", unit_s,
               time.monotonic() - started))
        return 1 if status else 0
    finally:
        if not fresh_host.mounts_under(fresh_host._read("/proc/self/mountinfo"), work):
            subprocess.run(["rm", "-rf", "--one-file-system", work], check=False)


if __name__ == "__main__":
    sys.exit(main())
