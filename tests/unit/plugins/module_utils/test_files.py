# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one atomic write (files.atomic_file / write_atomic): the new file or the old, never a
temporary file left behind, an existing file's mode kept, a directory refused before anything."""

from __future__ import annotations

import os

import pytest

from ansible_collections.hotiron.virt.plugins.module_utils import files


def leftovers(directory):
    return sorted(n for n in os.listdir(directory) if n.startswith(files.TMP_PREFIX))


def test_a_new_file_gets_its_mode_and_an_existing_one_keeps_its_own(tmp_path):
    path = tmp_path / "a.conf"
    files.write_atomic(str(path), "one\n", mode=0o600)
    assert path.read_text() == "one\n" and (path.stat().st_mode & 0o7777) == 0o600
    os.chmod(path, 0o640)
    files.write_atomic(str(path), "two\n", mode=0o644)
    assert path.read_text() == "two\n" and (path.stat().st_mode & 0o7777) == 0o640
    files.write_atomic(str(tmp_path / "b.bin"), b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01" and leftovers(tmp_path) == []


def test_a_failure_in_the_block_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with files.atomic_file(str(path)) as handle:
            handle.write("half")
            raise RuntimeError("interrupted")
    assert path.read_text() == "old" and leftovers(tmp_path) == []


def test_a_failing_rename_leaves_no_temporary_file(tmp_path, monkeypatch):
    def refuse(_src, _dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(files.os, "rename", refuse)
    with pytest.raises(OSError):
        files.write_atomic(str(tmp_path / "x"), "text")
    assert leftovers(tmp_path) == [] and not (tmp_path / "x").exists()


def test_a_directory_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "reports").mkdir()
    with pytest.raises(IsADirectoryError) as err:
        files.write_atomic(str(tmp_path / "reports"), "page")
    assert err.value.strerror == "it is a directory (give the path of a file in it)"
    assert leftovers(tmp_path) == [] and leftovers(tmp_path / "reports") == []


def test_a_missing_directory_is_made_only_when_asked(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        files.write_atomic(str(tmp_path / "no" / "x"), "t", makedirs=False)
    assert err.value.strerror == "its directory %s does not exist" % (tmp_path / "no")
    files.write_atomic(str(tmp_path / "yes" / "x"), "t")
    assert (tmp_path / "yes" / "x").read_text() == "t"
    assert files.read_text(str(tmp_path / "none")) is None


def test_a_produced_file_is_renamed_into_place_whole(tmp_path):
    path, temp = str(tmp_path / "disk.img"), str(tmp_path / ".disk.img.part")
    (tmp_path / "disk.img").write_text("old")
    with files.produced_file(path, temp) as name:
        assert name == temp
        with open(temp, "w", encoding="utf-8") as handle:     # as another program would
            handle.write("new")
        assert (tmp_path / "disk.img").read_text() == "old"
    assert (tmp_path / "disk.img").read_text() == "new" and not os.path.exists(temp)


def test_a_failed_producer_leaves_nothing_and_the_old_file(tmp_path):
    path, temp = str(tmp_path / "disk.img"), str(tmp_path / ".disk.img.part")
    (tmp_path / "disk.img").write_text("old")
    with pytest.raises(RuntimeError, match="qemu-img failed"):
        with files.produced_file(path, temp):
            (tmp_path / ".disk.img.part").write_text("half")
            raise RuntimeError("qemu-img failed")
    assert os.listdir(tmp_path) == ["disk.img"] and (tmp_path / "disk.img").read_text() == "old"


def test_a_produced_file_without_overwrite_never_replaces_one_that_appeared(tmp_path):
    path, temp = str(tmp_path / "disk.img"), str(tmp_path / ".disk.img.part")
    with pytest.raises(FileExistsError):
        with files.produced_file(path, temp, overwrite=False):
            (tmp_path / ".disk.img.part").write_text("new")
            (tmp_path / "disk.img").write_text("someone else's")
    assert os.listdir(tmp_path) == ["disk.img"] and (tmp_path / "disk.img").read_text() == "someone else's"
    with files.produced_file(str(tmp_path / "b"), str(tmp_path / ".b.part"), overwrite=False):
        (tmp_path / ".b.part").write_text("b")
    assert (tmp_path / "b").read_text() == "b"


def test_a_produced_file_must_be_made_next_to_its_place(tmp_path):
    (tmp_path / "sub").mkdir()
    with pytest.raises(ValueError, match="not in the directory"):
        with files.produced_file(str(tmp_path / "x"), str(tmp_path / "sub" / "x.part")):
            pass
