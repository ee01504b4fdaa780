"""Writing output files so that a failure never leaves a half-written one behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vitsim.errors import VitsimError


@contextlib.contextmanager
def atomic_output(path: str | Path, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    On any exception the temporary file is removed and ``path`` is left as it was. An output
    directory that does not exist or is not writable is reported as a :class:`VitsimError`
    naming the path before any work is lost.
    """
    path = Path(path)
    check_writable(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix,
                                    dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        # mkstemp creates the file 0600; give the output the mode a plain open() would.
        tmp.chmod(0o666 & ~current_umask())
        yield tmp
        # The data on disk before the name points at it: a crash after the rename must not
        # leave a complete-looking name over an empty file.
        fsync_path(tmp)
        fsync_path(tmp.parent)
        os.replace(tmp, path)
        fsync_path(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def current_umask() -> int:
    """The process's umask (read by setting it, and setting it back)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def fsync_path(path: str | Path) -> None:
    """Flush a file's or a directory's data to disk (directories where the OS allows)."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if Path(path).is_dir() and hasattr(os, "O_DIRECTORY")
                           else 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # a directory that cannot be opened (Windows): nothing to flush
        return
    try:
        os.fsync(fd)
    except OSError:  # a file system without fsync for directories
        pass
    finally:
        os.close(fd)


def check_writable(path: str | Path) -> None:
    """Fail early, naming ``path``, when an output file could not be written there."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise VitsimError("is a directory; give a file name", source=str(path))
    if not parent.is_dir():
        raise VitsimError("output directory does not exist", source=str(path))
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise VitsimError("output path is not writable", source=str(path))


def check_new_file(path: str | Path) -> None:
    """Fail, naming ``path``, when it exists (never overwritten silently) or is unwritable."""
    path = Path(path)
    if path.exists():
        raise VitsimError("already exists; remove it or choose another --out", source=str(path))
    check_writable(path)


def check_new_dir(out: str | Path) -> None:
    """Fail, naming ``out``, unless an output directory can be created there without
    overwriting anything (it must not exist, or be an empty directory)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise VitsimError("exists and is not empty; choose another --out", source=str(out))
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise VitsimError("cannot create the output directory here", source=str(out))


@contextlib.contextmanager
def atomic_output_dir(out: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``out`` to fill; on success it becomes ``out`` in one
    rename, on any error it is removed. ``out`` must be new or empty (checked before and
    again just before the rename), so nothing already there is ever lost or half-written."""
    out = Path(out)
    check_new_dir(out)
    parent = out.parent if str(out.parent) else Path(".")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    try:
        # mkdtemp creates the directory 0700; give it the mode a plain mkdir() would.
        tmp.chmod(0o777 & ~current_umask())
        yield tmp
        for folder, _, files in os.walk(tmp):
            for name in files:
                fsync_path(Path(folder) / name)
            fsync_path(folder)
        check_new_dir(out)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
        fsync_path(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

