"""docs/tutorial.md runs: every ``python`` block, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

ROOT = Path(__file__).resolve().parents[1]


def test_tutorial_runs(tmp_path, monkeypatch) -> None:
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    text = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 4
    namespace: dict = {"__name__": "tutorial"}
    for i, code in enumerate(blocks):
        exec(compile(code, f"docs/tutorial.md block {i + 1}", "exec"), namespace)
    assert list(tmp_path.iterdir()) == []  # the sweep left no directory behind
