# -*- coding: utf-8 -*-
# Copyright: hotiron.virt contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files the collection keeps on the machine running a module (state, histories, reports, host
configuration, downloaded volumes, restored and exported images): each one replaced atomically,
by :func:`atomic_file` or :func:`write_atomic` (written through a handle) or :func:`produced_file`
(written by another program), and nothing else in the collection writes a file that way by hand."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile

TMP_PREFIX = ".hotiron-"


def fsync_dir(directory):
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def check_target(path, makedirs=False):
    """Refuse, as an OSError with a plain ``strerror``, a ``path`` that cannot be replaced by a
    file: a directory, a file in a directory that cannot be written, or (unless ``makedirs``) in a
    directory that does not exist.
    Callers that measure or compute before they write call it first, so that a wrong ``dest``
    fails before any work."""
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "it is a directory (give the path of a file in it)", path)
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(directory):
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "its directory %s is not writable" % directory, path)
    elif not makedirs:
        raise FileNotFoundError(errno.ENOENT, "its directory %s does not exist" % directory, path)


@contextlib.contextmanager
def atomic_file(path, mode=0o644, binary=False, makedirs=True, prefix=TMP_PREFIX):
    """``with atomic_file(path) as handle:`` write ``handle``; when the block ends without an
    error the file is flushed, synced to disk, given its mode and renamed over ``path`` (the
    directory synced too): a reader sees the previous file or the new one, never half of one.

    An existing ``path`` keeps its mode and owner; ``mode`` is the mode of a new file (set
    before the rename, so that a new file is never readable by more than ``mode`` allows).
    The directory is made (mode 0700) when missing and ``makedirs``.  On any failure - in the
    block, writing, syncing, renaming, or an interruption - the temporary file is removed and
    the error raised as it is (OSError for the file system's).  A ``path`` that is a directory
    is refused before anything is written (IsADirectoryError)."""
    check_target(path, makedirs=makedirs)
    directory = os.path.dirname(os.path.abspath(path))
    if makedirs:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=directory)
    with produced_file(path, tmp):
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as handle:
            yield handle
        _take_mode(tmp, path, mode)


def _take_mode(tmp, path, mode):
    """Give ``tmp`` the mode and owner of the file it replaces, or ``mode`` for a new file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        os.chmod(tmp, mode)
        return
    os.chmod(tmp, st.st_mode & 0o7777)
    mine = os.stat(tmp)
    if (mine.st_uid, mine.st_gid) != (st.st_uid, st.st_gid):
        os.chown(tmp, st.st_uid, st.st_gid)


def write_atomic(path, text, mode=0o644, makedirs=True):
    """Replace ``path`` with ``text`` (str, or bytes): see :func:`atomic_file`."""
    with atomic_file(path, mode=mode, binary=isinstance(text, bytes), makedirs=makedirs) as handle:
        handle.write(text)


def fsync_file(path):
    """Sync a file written by another process (qemu-img) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def produced_file(path, temp, overwrite=True):
    """``with produced_file(path, temp):`` let another program (qemu-img, a tar writer) write the
    file ``temp`` (a name in ``path``'s directory, where nothing may be yet); when the block ends
    without an error ``temp`` is synced and renamed to ``path`` (the directory synced too): a
    reader sees the previous file or the whole new one.  On any failure - in the block, syncing,
    renaming, an interruption - ``temp`` is removed and the error raised as it is.

    For files too large to pass through :func:`atomic_file`'s handle; their mode is what the
    program gave them.  ``overwrite=False``: an existing ``path`` is never replaced
    (FileExistsError, ``temp`` removed)."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.dirname(os.path.abspath(temp)) != directory:
        raise ValueError("%s is not in the directory of %s: it could not be renamed atomically" % (temp, path))
    try:
        yield temp
        fsync_file(temp)
        if not overwrite and os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "it appeared while it was being written: not replaced", path)
        os.rename(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    fsync_dir(directory)


def read_text(path):
    """The text of ``path``, None when it does not exist (other OSErrors as they are)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
