# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ISO9660 writer, read back by independent readers: pycdlib (a full ISO9660/Joliet
implementation) and util-linux's blkid (what cloud-init uses to find the ``cidata`` label)."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils.storage import iso9660

pycdlib = pytest.importorskip("pycdlib")

SEED = {"user-data": "#cloud-config\nhostname: web1\n", "meta-data": "instance-id: web1\n",
        "network-config": "version: 2\n"}


def _open(data):
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    return iso


def _read(iso, **path):
    out = io.BytesIO()
    iso.get_file_from_iso_fp(out, **path)
    return out.getvalue()


def test_joliet_names_and_contents_read_back():
    iso = _open(iso9660.build(SEED))
    assert iso.has_joliet()
    names = sorted(child.file_identifier().decode("utf-16-be")
                   for child in iso.list_children(joliet_path="/") if not child.is_dot() and not child.is_dotdot())
    assert names == sorted(SEED)
    for name, text in SEED.items():
        assert _read(iso, joliet_path="/" + name) == text.encode()
    iso.close()


def test_primary_tree_has_the_names_upper_cased():
    iso = _open(iso9660.build(SEED))
    assert _read(iso, iso_path="/USER-DATA;1") == SEED["user-data"].encode()
    assert iso.get_record(iso_path="/META-DATA;1").get_data_length() == len(SEED["meta-data"])
    iso.close()


def test_label_and_size():
    data = iso9660.build(SEED)
    assert len(data) % iso9660.SECTOR == 0
    iso = _open(data)
    assert iso.pvd.volume_identifier.rstrip() == b"cidata"
    assert iso.joliet_vd.volume_identifier.decode("utf-16-be").rstrip() == "cidata"
    assert iso.pvd.space_size * iso9660.SECTOR == len(data)
    iso.close()


@pytest.mark.skipif(shutil.which("blkid") is None, reason="no blkid")
def test_blkid_sees_an_iso9660_labelled_cidata(tmp_path):
    path = tmp_path / "seed.iso"
    path.write_bytes(iso9660.build(SEED))
    out = subprocess.run(["blkid", "-p", "-o", "export", str(path)], capture_output=True, text=True, check=True).stdout
    fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert fields["TYPE"] == "iso9660"
    assert fields["LABEL"] == "cidata"


def test_large_and_empty_files_span_their_sectors():
    files = {"big": b"x" * (3 * iso9660.SECTOR + 5), "empty": b"", "small": b"y"}
    iso = _open(iso9660.build(files))
    for name, data in files.items():
        assert _read(iso, joliet_path="/" + name) == data
    iso.close()


def test_same_files_same_bytes():
    assert iso9660.build(dict(SEED)) == iso9660.build(dict(reversed(list(SEED.items()))))
    assert iso9660.build(SEED) != iso9660.build(dict(SEED, **{"meta-data": "instance-id: web2\n"}))


@pytest.mark.parametrize("files,label", [
    ({"a/b": "x"}, "cidata"), ({"a;1": "x"}, "cidata"), ({"": "x"}, "cidata"), ({"é": "x"}, "cidata"),
    ({"a": "x", "A": "y"}, "cidata"), ({"n%d" % i: "x" for i in range(31)}, "cidata"),
    ({"a": "x"}, ""), ({"a": "x"}, "no spaces"), ({"a": "x"}, "x" * 17), ({"x" * 65: "x"}, "cidata"),
])
def test_refused(files, label):
    with pytest.raises(iso9660.IsoError):
        iso9660.build(files, label)


def test_read_files_gives_back_what_was_built():
    data = iso9660.build(dict(SEED, big=b"z" * 5000))
    assert iso9660.read_files(data) == dict({k: v.encode() for k, v in SEED.items()}, big=b"z" * 5000)


def test_read_files_refuses_what_is_not_iso9660():
    with pytest.raises(iso9660.IsoError):
        iso9660.read_files(b"\0" * (40 * iso9660.SECTOR))
