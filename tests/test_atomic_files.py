"""Atomic outputs: the user's umask, and fsync before the rename."""

from __future__ import annotations

import os
import stat

from vitsim.atomic import atomic_output, atomic_output_dir


def test_outputs_get_the_umask_and_are_fsynced(tmp_path, monkeypatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    old = os.umask(0o022)
    try:
        with atomic_output(tmp_path / "f.txt") as tmp:
            tmp.write_text("x", encoding="utf-8")
        with atomic_output_dir(tmp_path / "run") as d:
            (d / "a.txt").write_text("y", encoding="utf-8")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == 0o755
    assert len(synced) >= 4  # the file, its directory (before and after), the run's file
