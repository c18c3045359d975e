# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OVF manifests (``.mf``): one ``SHA256(name)= hexdigest`` line per file of the package.

VMware writes ``SHA1(x.vmdk)= ...`` or ``SHA256(...)``, VirtualBox the same with spaces
around the parentheses and the equals sign; both are read.  :func:`check` decides, before
anything is written, whether a package is whole: every file the descriptor needs is listed,
every listed file is there, and every digest matches.  Digests are computed by the caller
(``digest_of``), which knows where the bytes are (a tar member or a file).
"""

from __future__ import annotations

from ansible_collections.hotiron.virt.plugins.module_utils import errors

import hashlib
import re

ALGORITHMS = {"SHA1": ("sha1", 40), "SHA256": ("sha256", 64), "SHA512": ("sha512", 128)}
_LINE_RE = re.compile(r"^\s*(SHA1|SHA256|SHA512)\s*\((.+)\)\s*=\s*([0-9A-Fa-f]+)\s*$", re.IGNORECASE)


class ManifestError(errors.InputError):
    """The manifest is unreadable or the package does not match it."""


def parse(text):
    """``[{"algorithm", "file", "digest"}]`` from the manifest's text."""
    entries = []
    seen = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE_RE.match(line)
        if not match:
            raise ManifestError("manifest line %d is not 'SHA256(file)= digest': %r" % (number, line[:120]))
        algorithm, name, digest = match.group(1).upper(), match.group(2).strip(), match.group(3).lower()
        if len(digest) != ALGORITHMS[algorithm][1]:
            raise ManifestError("manifest line %d: a %s digest has %d hex digits, not %d"
                                % (number, algorithm, len(digest), ALGORITHMS[algorithm][1]))
        if name in seen:
            raise ManifestError("the manifest lists %s twice" % name)
        seen.add(name)
        entries.append({"algorithm": algorithm, "file": name, "digest": digest})
    if not entries:
        raise ManifestError("the manifest lists no file")
    return entries


def hasher(algorithm):
    return hashlib.new(ALGORITHMS[algorithm.upper()][0])


def check(entries, needed, present, digest_of):
    """Verify a package against its manifest; returns what was verified.

    ``needed``: names the descriptor refers to (and the descriptor itself); ``present``:
    names the package holds; ``digest_of(name, algorithm)`` -> hex digest.  Raises
    ManifestError naming the first file that is missing, unlisted or altered.
    """
    listed = {e["file"]: e for e in entries}
    for name in needed:
        if name not in listed:
            raise ManifestError("%s is not listed in the manifest" % name)
    for entry in entries:
        if entry["file"] not in present:
            raise ManifestError("%s is listed in the manifest but missing from the package" % entry["file"])
    verified = []
    for entry in entries:
        actual = digest_of(entry["file"], entry["algorithm"])
        if actual != entry["digest"]:
            raise ManifestError("%s does not match the manifest: its %s is %s, the manifest says %s"
                                % (entry["file"], entry["algorithm"], actual, entry["digest"]))
        verified.append({"file": entry["file"], "algorithm": entry["algorithm"], "digest": actual})
    return verified


def build(digests, algorithm="SHA256"):
    """Manifest text for ``[(name, hexdigest)]``, in the order given."""
    return "".join("%s(%s)= %s\n" % (algorithm, name, digest) for name, digest in digests)
