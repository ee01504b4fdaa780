"""Writing output files so that a failure never leaves a half-written one behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vitsim.hw_configs.errors import VitsimError


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
        umask = os.umask(0o022)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


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
