# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manifests as VMware and VirtualBox write them, and the whole-package check."""

from __future__ import annotations

import hashlib

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.appliance import manifest

FILES = {"a.ovf": b"<Envelope/>", "a-disk1.vmdk": b"KDMV" + b"\0" * 100}


def sha(algorithm, name):
    return hashlib.new(algorithm, FILES[name]).hexdigest()


def digest_of(name, algorithm):
    return hashlib.new(algorithm.lower(), FILES[name]).hexdigest()


def test_vmware_and_virtualbox_spellings_and_algorithms():
    # VMware: no spaces, lower-case hex; VirtualBox: spaces around both; upper-case hex is read too.
    text = "SHA1(a.ovf)= %s\nSHA256 (a-disk1.vmdk) = %s\n\n" % (sha("sha1", "a.ovf").upper(), sha("sha256", "a-disk1.vmdk"))
    entries = manifest.parse(text)
    assert entries == [{"algorithm": "SHA1", "file": "a.ovf", "digest": sha("sha1", "a.ovf")},
                       {"algorithm": "SHA256", "file": "a-disk1.vmdk", "digest": sha("sha256", "a-disk1.vmdk")}]
    verified = manifest.check(entries, ["a.ovf", "a-disk1.vmdk"], set(FILES), digest_of)
    assert [v["file"] for v in verified] == ["a.ovf", "a-disk1.vmdk"]


@pytest.mark.parametrize("text, message", [
    ("MD5(a.ovf)= 00\n", "line 1 is not"), ("SHA256(a.ovf)= abc\n", "has 3 hex digits, not 64"),
    ("", "lists no file"), ("SHA1(a.ovf)= %s\nSHA1(a.ovf)= %s\n" % ("0" * 40, "0" * 40), "lists a.ovf twice"),
])
def test_unreadable_manifests(text, message):
    with pytest.raises(manifest.ManifestError, match=message):
        manifest.parse(text)


def test_a_changed_file_is_named_with_both_digests():
    entries = manifest.parse(manifest.build([(n, sha("sha256", n)) for n in FILES]))
    FILES_CHANGED = dict(FILES, **{"a-disk1.vmdk": FILES["a-disk1.vmdk"] + b"!"})
    with pytest.raises(manifest.ManifestError, match="a-disk1.vmdk does not match the manifest: its SHA256 is %s, the manifest says %s"
                       % (hashlib.sha256(FILES_CHANGED["a-disk1.vmdk"]).hexdigest(), sha("sha256", "a-disk1.vmdk"))):
        manifest.check(entries, list(FILES), set(FILES),
                       lambda name, algo: hashlib.new(algo.lower(), FILES_CHANGED[name]).hexdigest())


def test_a_file_the_descriptor_needs_must_be_listed():
    entries = manifest.parse(manifest.build([("a.ovf", sha("sha256", "a.ovf"))]))
    with pytest.raises(manifest.ManifestError, match="a-disk1.vmdk is not listed in the manifest"):
        manifest.check(entries, list(FILES), set(FILES), digest_of)


def test_a_listed_file_must_be_in_the_package():
    entries = manifest.parse(manifest.build([(n, sha("sha256", n)) for n in FILES] + [("extra.iso", "0" * 64)]))
    with pytest.raises(manifest.ManifestError, match="extra.iso is listed in the manifest but missing from the package"):
        manifest.check(entries, list(FILES), set(FILES), digest_of)


def test_build_is_what_vmware_writes():
    assert manifest.build([("a.ovf", "ab" * 32)]) == "SHA256(a.ovf)= %s\n" % ("ab" * 32)
    assert manifest.build([("a.ovf", "cd" * 20)], "SHA1") == "SHA1(a.ovf)= %s\n" % ("cd" * 20)
