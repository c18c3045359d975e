# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where an appliance's bytes are: members of an OVA (an uncompressed tar) found by their
offsets, never unpacked, or the files next to an OVF descriptor; and writing an OVA.

A :class:`Member` is a byte range of one file, which is all ``qemu-img`` needs to read a
disk image straight out of the tar (:func:`images.source_spec`), and all the manifest
check needs to hash it.  No libvirt, no Ansible.
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import errors

import hashlib
import os
import tarfile
from dataclasses import dataclass

CHUNK = 4 * 1024 * 1024
_TAR_MAGIC_OFFSET = 257


class PackageError(errors.InputError):
    """The package cannot be read: not a tar, a member missing or unusable."""


@dataclass(frozen=True)
class Member:
    """``size`` bytes at ``offset`` of the file ``path``."""

    name: str
    path: str
    offset: int
    size: int


def is_tar(path):
    """Whether ``path`` is a POSIX (ustar/pax/GNU) tar, by its magic."""
    try:
        with open(path, "rb") as handle:
            handle.seek(_TAR_MAGIC_OFFSET)
            return handle.read(5) == b"ustar"
    except OSError:
        return False


class Package:
    """An OVA or an OVF with its files: the descriptor, the manifest and the members."""

    def __init__(self, kind, path, members, descriptor, manifest=None, certificate=None):
        self.kind = kind                  # "ova" or "ovf"
        self.path = path
        self.members = members            # name -> Member (for an OVF: found on demand)
        self.descriptor = descriptor      # the descriptor's name in the package
        self.manifest = manifest
        self.certificate = certificate
        self._base = os.path.dirname(path) if kind == "ovf" else None

    def member(self, name):
        """The member called ``name``, or None when the package lacks it."""
        if name in self.members:
            return self.members[name]
        if self.kind == "ovf":
            path = os.path.join(self._base, name)
            if os.path.isfile(path):
                self.members[name] = Member(name, path, 0, os.path.getsize(path))
                return self.members[name]
        return None

    def read(self, name, limit):
        member = self.member(name)
        if member is None:
            raise PackageError("%s has no file %s" % (self.path, name))
        if member.size > limit:
            raise PackageError("%s in %s is %d bytes, more than the %d accepted" % (name, self.path, member.size, limit))
        with open(member.path, "rb") as handle:
            handle.seek(member.offset)
            return handle.read(member.size)

    def chunks(self, name):
        member = self.member(name)
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        with open(member.path, "rb", buffering=0) as handle:
            handle.seek(member.offset)
            left = member.size
            while left > 0:
                got = handle.readinto(view[:min(CHUNK, left)])
                if not got:
                    raise PackageError("%s ends %d bytes early inside %s" % (member.path, left, name))
                left -= got
                yield view[:got]

    def digest(self, name, algorithm):
        digest = hashlib.new({"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}[algorithm.upper()])
        for block in self.chunks(name):
            digest.update(block)
        return digest.hexdigest()

    def names(self):
        """Names of the members present (for an OVF: the files found so far)."""
        return set(self.members)


def open_package(path):
    """The package at ``path``: an OVA (tar) or an ``.ovf`` descriptor with its files."""
    if not os.path.isfile(path):
        raise PackageError("%s does not exist or is not a file" % path)
    if is_tar(path):
        return _open_ova(path)
    if path.lower().endswith(".ovf"):
        return open_ovf(path)
    raise PackageError("%s is neither an OVA (tar archive) nor an .ovf descriptor" % path)


def open_ovf(path):
    """The descriptor ``path`` with the files next to it (its manifest and certificate are
    ``<stem>.mf`` and ``<stem>.cert``)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    package = Package("ovf", path, {}, os.path.basename(path))
    package.members[package.descriptor] = Member(package.descriptor, path, 0, os.path.getsize(path))
    for ext, attr_name in ((".mf", "manifest"), (".cert", "certificate")):
        if package.member(stem + ext) is not None:
            setattr(package, attr_name, stem + ext)
    return package


def _open_ova(path):
    members = {}
    order = []
    try:
        with tarfile.open(path, "r:") as tar:
            for info in tar:
                name = info.name[2:] if info.name.startswith("./") else info.name
                if info.isdir():
                    continue
                if not info.isreg():
                    raise PackageError("%s: member %s is not a regular file" % (path, name))
                if info.sparse is not None:
                    raise PackageError("%s: member %s is stored as a sparse tar member, which cannot be"
                                       " read in place; repack the OVA without --sparse" % (path, name))
                if name in members:
                    raise PackageError("%s holds two members called %s" % (path, name))
                members[name] = Member(name, path, info.offset_data, info.size)
                order.append(name)
    except tarfile.TarError as err:
        raise PackageError("%s is not a readable uncompressed tar archive: %s" % (path, err)) from None
    descriptors = [n for n in order if n.lower().endswith(".ovf")]
    if not descriptors:
        raise PackageError("%s holds no .ovf descriptor" % path)
    if len(descriptors) > 1:
        raise PackageError("%s holds %d descriptors (%s); an OVA has one" % (path, len(descriptors), ", ".join(descriptors)))
    stem = os.path.splitext(descriptors[0])[0]
    manifests = [n for n in order if n.lower().endswith(".mf")]
    if len(manifests) > 1:
        raise PackageError("%s holds %d manifests (%s)" % (path, len(manifests), ", ".join(manifests)))
    certificate = stem + ".cert" if stem + ".cert" in members else None
    return Package("ova", path, members, descriptors[0], manifests[0] if manifests else None, certificate)


def write_ova(dest, files, mtime):
    """Write the tar ``dest`` holding ``files`` (``[(name, path)]``) in that order.

    ustar format, as OVF asks (names of at most 100 characters); regular files of mode
    0644 owned by uid/gid 0.  Returns ``[{name, offset, size}]`` of the members.
    """
    written = []
    with tarfile.open(dest, "w", format=tarfile.USTAR_FORMAT, copybufsize=CHUNK) as tar:
        for name, source in files:
            info = tarfile.TarInfo(name)
            info.size = os.path.getsize(source)
            info.mode = 0o644
            info.mtime = int(mtime)
            info.uname = info.gname = "root"
            header = len(info.tobuf(tarfile.USTAR_FORMAT, tar.encoding, tar.errors))
            offset = tar.offset + header
            with open(source, "rb") as handle:
                tar.addfile(info, handle)
            written.append({"name": name, "offset": offset, "size": info.size})
    return written
