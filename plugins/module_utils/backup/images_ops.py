# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Disk images handled with ``qemu-img`` on the VM's host: what libvirt 9.0 does not do for an
image that no running QEMU holds (overlays for a revert, merges of a shut-off VM's chain, copies
of a shut-off VM's disks, applying an incremental backup during a restore).

Every call names the image in its error.  Nothing here talks to libvirt.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from urllib.parse import urlparse

QEMU_IMG = "qemu-img"


class ImageError(Exception):
    """qemu-img failed, or an image is not usable."""


def _qemu_img():
    found = shutil.which(QEMU_IMG) or next((p for p in ("/usr/bin/qemu-img", "/usr/local/bin/qemu-img")
                                            if os.path.exists(p)), None)
    if found is None:
        raise ImageError("qemu-img is not installed on this host (package qemu-utils)")
    return found


def run(args, what):
    """Run ``qemu-img args``; its standard output, or ImageError naming ``what``."""
    proc = subprocess.run([_qemu_img()] + list(args), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise ImageError("Failed to %s: %s" % (what, detail[-1] if detail else "qemu-img exited %d" % proc.returncode))
    return proc.stdout


def info(path, chain=False):
    """``qemu-img info`` as a dict (a list of dicts, leaf first, with ``chain``); reads an image a
    running QEMU holds (``-U``)."""
    args = ["info", "-U", "--output=json"] + (["--backing-chain"] if chain else []) + [path]
    return json.loads(run(args, "read image %s" % path))


def create_overlay(path, backing, backing_format):
    """A new empty qcow2 ``path`` on ``backing`` (refuses to overwrite a file)."""
    if os.path.lexists(path):
        raise ImageError("Failed to create overlay %s: the file exists" % path)
    run(["create", "-q", "-f", "qcow2", "-F", backing_format, "-b", backing, path],
        "create overlay %s on %s" % (path, backing))


def commit(top, base):
    """Merge ``top`` into ``base`` (an image below it), explicitly: nothing under ``base`` is
    written.  ``top`` itself is left as it was (its caller removes it)."""
    run(["commit", "-q", "-d", "-b", base, top], "merge %s into %s" % (top, base))


def rebase_unsafe(path, backing, backing_format):
    """Point ``path`` at ``backing`` without copying: only right when the new backing image
    reads the same as the old one did (after a merge)."""
    run(["rebase", "-q", "-u", "-F", backing_format, "-b", backing, path], "point %s at %s" % (path, backing))


def convert(src, src_format, dst):
    """Copy the guest-visible content of ``src`` (through its backing chain) to a new qcow2 ``dst``."""
    if os.path.lexists(dst):
        raise ImageError("Failed to copy %s: %s exists" % (src, dst))
    run(["convert", "-q", "-f", src_format, "-O", "qcow2", src, dst], "copy %s to %s" % (src, dst))


def check(path):
    """``qemu-img check``: ImageError when the image is damaged."""
    run(["check", "-q", path], "check image %s" % path)


def written(path):
    """Whether anything was written into ``path`` itself (not its backing chain)."""
    extents = json.loads(run(["map", "-U", "--output=json", path], "map image %s" % path))
    return any(e.get("depth") == 0 and (e.get("data") or e.get("zero")) for e in extents)


def remove_bitmaps(path, names):
    """Drop dirty bitmaps ``names`` from a qcow2 image no QEMU holds."""
    present = {b.get("name") for b in (info(path).get("format-specific", {}).get("data", {}).get("bitmaps") or [])}
    for name in names:
        if name in present:
            run(["bitmap", "--remove", path, name], "remove bitmap %s from %s" % (name, path))


def is_local(uri, hostname):
    """Whether the libvirt at ``uri`` (whose host says it is ``hostname``) is the one of the
    machine this code runs on: a URI without a host, or a host with this machine's hostname."""
    if not urlparse(uri or "").hostname:
        return True
    return hostname in (socket.gethostname(), socket.getfqdn())
