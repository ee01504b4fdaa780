"""A minimal progress bar on stderr (tqdm is not a dependency).

On a terminal the bar redraws in place at most every ``min_interval_s``; elsewhere (a log
file, a captured stream) it writes one line when it closes, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 24  # characters of the bar itself


class ProgressBar:
    """``desc [#####-----] 40/100 img 3.1s loss=0.42``; ``total`` may be unknown (None)."""

    def __init__(self, total: int | None, desc: str, *, enabled: bool = True,
                 unit: str = "it", stream: TextIO | None = None,
                 min_interval_s: float = 0.1) -> None:
        self.total = total
        self.desc = desc
        self.enabled = enabled
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.min_interval_s = min_interval_s
        self.count = 0
        self.postfix = ""
        self._start = time.perf_counter()
        self._last_draw = 0.0
        self._closed = False
        self._interactive = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, n: int = 1, **postfix: float | str) -> None:
        self.count += n
        if postfix:
            self.postfix = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                    for k, v in postfix.items())
        now = time.perf_counter()
        if self.enabled and self._interactive and now - self._last_draw >= self.min_interval_s:
            self._last_draw = now
            self.stream.write("\r" + self.line())
            self.stream.flush()

    def line(self) -> str:
        elapsed = time.perf_counter() - self._start
        if self.total:
            filled = min(_WIDTH, _WIDTH * self.count // self.total)
            bar = f"[{'#' * filled}{'-' * (_WIDTH - filled)}] {self.count}/{self.total}"
        else:
            bar = f"{self.count}"
        tail = f" {self.postfix}" if self.postfix else ""
        return f"{self.desc} {bar} {self.unit} {elapsed:.1f}s{tail}"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.enabled:
            self.stream.write(("\r" if self._interactive else "") + self.line() + "\n")
            self.stream.flush()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
