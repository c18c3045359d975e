# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``qemu-img`` on the machine running the module: the one place that finds it, runs it (an
argument list, never a shell) and turns its failures into :class:`ImageError`.

Backups, restores and snapshots use it for images no running QEMU holds (overlays for a revert,
merges of a shut-off VM's chain, copies of a shut-off VM's disks, applying an incremental); the
appliances use it to read and write VMDK, VHD, qcow2 and raw images.  Command lines are lists
starting with ``qemu-img`` (what a module reports); :func:`run` executes them with the binary it
found, through the module's ``run_command`` (:mod:`commands`).  Every error names what was being
done.  Nothing here talks to libvirt.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from urllib.parse import urlparse

from ansible_collections.hotiron.virt.plugins.module_utils import commands

QEMU_IMG = "qemu-img"
# Where qemu-img is looked for when PATH (which Ansible may run modules with) does not have it.
FALLBACKS = ("/usr/bin/qemu-img", "/usr/local/bin/qemu-img")


class ImageError(Exception):
    """qemu-img is missing or failed, or an image is not usable."""


def binary():
    """The path of ``qemu-img``; ImageError when this machine has none."""
    found = shutil.which(QEMU_IMG) or next((p for p in FALLBACKS if os.path.exists(p)), None)
    if found is None:
        raise ImageError("qemu-img is not installed on this host: install qemu-utils (Debian/Ubuntu) or qemu-img (RHEL)")
    return found


def require():
    """ImageError now, before any work, when qemu-img is missing."""
    binary()


def command(*args):
    """A qemu-img command line: ``["qemu-img", *args]``."""
    return [QEMU_IMG] + list(args)


def run(cmd, what):
    """Run the command line ``cmd`` (``["qemu-img", ...]``); its standard output, or ImageError
    ``Failed to <what>: <qemu-img's message>``."""
    if not cmd or cmd[0] != QEMU_IMG:
        raise ValueError("not a qemu-img command line: %r" % (cmd,))
    try:
        status, out, err = commands.run([binary()] + list(cmd[1:]))
    except OSError as error:
        raise ImageError("Failed to %s: %s" % (what, error)) from None
    if status != 0:
        lines = [line.strip() for line in (err or out).strip().splitlines() if line.strip()]
        raise ImageError("Failed to %s: %s" % (what, "; ".join(lines) or "qemu-img exited %d" % status))
    return out


def _json(cmd, what):
    try:
        return json.loads(run(cmd, what))
    except ValueError:
        raise ImageError("Failed to %s: qemu-img printed no JSON" % what) from None


def info_command(source, chain=False, shared=False):
    """``qemu-img info`` of ``source`` (a path or a ``json:`` source) as JSON; ``chain``: the
    whole backing chain (a list, leaf first); ``shared``: also an image a running QEMU holds."""
    return command("info", *(["-U"] if shared else []), "--output=json", *(["--backing-chain"] if chain else []), source)


def info(source, what=None, chain=False, shared=False):
    """``qemu-img info`` as a dict (``format``, ``virtual-size``, ...; a list with ``chain``)."""
    return _json(info_command(source, chain, shared), what or "read image %s" % source)


def convert_command(source, target, target_format, source_format=None, options=None, existing=False,
                    target_is_zero=False, quiet=False):
    """``qemu-img convert`` of ``source`` to ``target`` as ``target_format``.  ``options``: the
    ``-o`` string of the target format; ``existing``: write into an existing target (``-n``, it
    is not re-created); ``target_is_zero``: skip writing zeroes into a fresh one."""
    return command("convert", *(["-q"] if quiet else []), *(["-n"] if existing else []),
                   *(["--target-is-zero"] if target_is_zero else []),
                   *(["-f", source_format] if source_format else []), "-O", target_format,
                   *(["-o", options] if options else []), source, target)


def convert(src, src_format, dst, dst_format="qcow2"):
    """Copy the guest-visible content of ``src`` (through its backing chain) to a new image
    ``dst`` (refuses to overwrite a file)."""
    if os.path.lexists(dst):
        raise ImageError("Failed to copy %s: %s exists" % (src, dst))
    run(convert_command(src, dst, dst_format, source_format=src_format, quiet=True), "copy %s to %s" % (src, dst))


def create_overlay(path, backing, backing_format):
    """A new empty qcow2 ``path`` on ``backing`` (refuses to overwrite a file)."""
    if os.path.lexists(path):
        raise ImageError("Failed to create overlay %s: the file exists" % path)
    run(command("create", "-q", "-f", "qcow2", "-F", backing_format, "-b", backing, path),
        "create overlay %s on %s" % (path, backing))


def commit(top, base):
    """Merge ``top`` into ``base`` (an image below it), explicitly: nothing under ``base`` is
    written.  ``top`` itself is left as it was (its caller removes it)."""
    run(command("commit", "-q", "-d", "-b", base, top), "merge %s into %s" % (top, base))


def rebase_unsafe(path, backing, backing_format):
    """Point ``path`` at ``backing`` without copying: only right when the new backing image
    reads the same as the old one did (after a merge)."""
    run(command("rebase", "-q", "-u", "-F", backing_format, "-b", backing, path), "point %s at %s" % (path, backing))


def check(path):
    """``qemu-img check``: ImageError when the image is damaged."""
    run(command("check", "-q", path), "check image %s" % path)


def written(path):
    """Whether anything was written into ``path`` itself (not its backing chain)."""
    extents = _json(command("map", "-U", "--output=json", path), "map image %s" % path)
    return any(e.get("depth") == 0 and (e.get("data") or e.get("zero")) for e in extents)


def remove_bitmaps(path, names):
    """Drop dirty bitmaps ``names`` from a qcow2 image no QEMU holds."""
    data = info(path, shared=True).get("format-specific", {}).get("data", {})
    present = {b.get("name") for b in (data.get("bitmaps") or [])}
    for name in names:
        if name in present:
            run(command("bitmap", "--remove", path, name), "remove bitmap %s from %s" % (name, path))


def is_local(uri, hostname):
    """Whether the libvirt at ``uri`` (whose host says it is ``hostname``) is the one of the
    machine this code (and so qemu-img) runs on: a URI without a host, or a host whose name is this
    machine's (short names compared: libvirt may add the domain, or leave it out)."""
    if not urlparse(uri or "").hostname:
        return True
    short = (hostname or "").split(".")[0].lower()
    return bool(short) and short in {name.split(".")[0].lower() for name in (socket.gethostname(), socket.getfqdn())}
