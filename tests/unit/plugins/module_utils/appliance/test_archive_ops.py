# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Packages: tar members found by offset (GNU tar and Python's tarfile as writers), OVF
directories, what is refused, and the OVA writer's layout."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tarfile

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.appliance import archive_ops as archive

CONTENT = {"x.ovf": b"<Envelope/>\n", "x.mf": b"SHA256(x.ovf)= 00\n", "x-disk1.vmdk": os.urandom(70000),
           "x-disk2.vmdk": b"\x01" * 513}


def write_files(tmp_path, names):
    for name in names:
        (tmp_path / name).write_bytes(CONTENT[name])


def gnu_tar(tmp_path, names, *options):
    write_files(tmp_path, names)
    dest = str(tmp_path / "x.ova")
    subprocess.run(["tar", "-cf", dest, *options, "-C", str(tmp_path), *names], check=True)
    return dest


@pytest.mark.parametrize("options", [("--format=ustar",), ("--format=gnu",), ("--format=pax",)])
def test_members_are_read_at_their_offsets_whatever_the_tar_dialect(tmp_path, options):
    names = ["x.ovf", "x.mf", "x-disk1.vmdk", "x-disk2.vmdk"]
    package = archive.open_package(gnu_tar(tmp_path, names, *options))
    assert (package.kind, package.descriptor, package.manifest, package.certificate) == ("ova", "x.ovf", "x.mf", None)
    assert package.names() == set(names)
    for name in names:
        member = package.member(name)
        with open(member.path, "rb") as handle:
            handle.seek(member.offset)
            assert handle.read(member.size) == CONTENT[name]
        assert package.digest(name, "SHA256") == hashlib.sha256(CONTENT[name]).hexdigest()
        assert b"".join(bytes(b) for b in package.chunks(name)) == CONTENT[name]


def test_a_long_member_name_is_read_too(tmp_path):
    long_name = "d" * 120 + ".vmdk"
    CONTENT[long_name] = b"long"
    try:
        package = archive.open_package(gnu_tar(tmp_path, ["x.ovf", long_name], "--format=gnu"))
        assert package.read(long_name, 100) == b"long"
    finally:
        del CONTENT[long_name]


def test_an_ovf_directory_finds_its_files_and_manifest(tmp_path):
    write_files(tmp_path, ["x.ovf", "x.mf", "x-disk1.vmdk"])
    package = archive.open_package(str(tmp_path / "x.ovf"))
    assert (package.kind, package.descriptor, package.manifest) == ("ovf", "x.ovf", "x.mf")
    assert package.read("x-disk1.vmdk", 10 ** 6) == CONTENT["x-disk1.vmdk"]
    assert package.member("absent.vmdk") is None


@pytest.mark.parametrize("names, options, message", [
    (["x-disk1.vmdk"], (), "holds no .ovf descriptor"),
    (["x.ovf", "x-disk1.vmdk"], ("-z",), "neither an OVA"),
])
def test_packages_that_cannot_be_read_in_place(tmp_path, names, options, message):
    with pytest.raises(archive.PackageError, match=message):
        archive.open_package(gnu_tar(tmp_path, names, *options))


def test_a_sparse_member_is_refused(tmp_path):
    """GNU tar --sparse stores only the data of a file with holes: no offset holds the disk."""
    with open(tmp_path / "x-disk1.vmdk", "wb") as handle:
        handle.write(b"a")
        handle.seek(10 * 1024 * 1024)
        handle.write(b"b")
    (tmp_path / "x.ovf").write_bytes(CONTENT["x.ovf"])
    dest = str(tmp_path / "x.ova")
    subprocess.run(["tar", "-cf", dest, "--sparse", "--format=gnu", "-C", str(tmp_path), "x.ovf", "x-disk1.vmdk"],
                   check=True)
    with pytest.raises(archive.PackageError, match="x-disk1.vmdk is stored as a sparse tar member"):
        archive.open_package(dest)


def test_two_descriptors_or_duplicate_members_are_refused(tmp_path):
    write_files(tmp_path, ["x.ovf", "x-disk1.vmdk"])
    dest = tmp_path / "x.ova"
    with tarfile.open(dest, "w") as tar:
        tar.add(str(tmp_path / "x.ovf"), arcname="x.ovf")
        tar.add(str(tmp_path / "x.ovf"), arcname="y.ovf")
    with pytest.raises(archive.PackageError, match="2 descriptors"):
        archive.open_package(str(dest))
    with tarfile.open(dest, "w") as tar:
        tar.add(str(tmp_path / "x.ovf"), arcname="x.ovf")
        tar.add(str(tmp_path / "x-disk1.vmdk"), arcname="x-disk1.vmdk")
        tar.add(str(tmp_path / "x-disk1.vmdk"), arcname="x-disk1.vmdk")
    with pytest.raises(archive.PackageError, match="two members called x-disk1.vmdk"):
        archive.open_package(str(dest))


def test_write_ova_keeps_the_order_and_reports_true_offsets(tmp_path):
    names = ["x.ovf", "x.mf", "x-disk1.vmdk", "x-disk2.vmdk"]
    write_files(tmp_path, names)
    dest = str(tmp_path / "out.ova")
    layout = archive.write_ova(dest, [(n, str(tmp_path / n)) for n in names], 1700000000)
    assert [m["name"] for m in layout] == names
    with tarfile.open(dest) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == names
    assert [(m.offset_data, m.size) for m in members] == [(m["offset"], m["size"]) for m in layout]
    assert all(m.mode == 0o644 and m.mtime == 1700000000 and m.isreg() for m in members)
    listing = subprocess.run(["tar", "-tvf", dest], check=True, capture_output=True, text=True).stdout
    assert [line.split()[-1] for line in listing.splitlines()] == names
    with open(dest, "rb") as handle:
        assert handle.read(512)[257:262] == b"ustar"
