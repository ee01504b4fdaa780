"""A small progress bar for long runs (sweeps, capture, fine-tuning): count, rate and ETA on
stderr. tqdm is not a dependency.

On a terminal it redraws one line in place (at most ``redraw_hz`` times a second); written to a
file or a pipe it prints a plain line at every tenth of the work instead (only at the end when
the total is unknown), so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_QUIET = False


def set_quiet(quiet: bool) -> None:
    """Turn every progress bar of this process off (``vitsim -q``) or back on."""
    global _QUIET
    _QUIET = bool(quiet)


def _clock(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):  # NaN or unbounded
        return "--:--"
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class ProgressBar:
    """``total`` units of work (None: unknown); call :meth:`update` as they finish and
    :meth:`close` at the end, or use it as a context manager.

    ``stream`` defaults to stderr; ``enabled=False`` makes every call a no-op.
    """

    WIDTH = 28  # characters of the bar itself

    def __init__(self, total: int | None, *, label: str = "", unit: str = "pt",
                 stream: TextIO | None = None, enabled: bool = True,
                 redraw_hz: float = 10.0) -> None:
        self.total = None if total is None else max(0, int(total))
        self.label = label
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and self.total != 0 and not _QUIET
        self.done = 0
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._min_interval = 1.0 / redraw_hz
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._next_tenth = 1
        self._closed = False
        self.note = ""  # shown after the label, e.g. "traces 2/5"
        self.postfix = ""  # shown at the end, e.g. "loss=0.42"

    def rate(self) -> float:
        """Units per second so far."""
        elapsed = time.perf_counter() - self.start
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self.rate()
        elapsed = time.perf_counter() - self.start
        head = " ".join(t for t in (self.label, f"({self.note})" if self.note else "") if t)
        head = f"{head} " if head else ""
        tail = f" {self.postfix}" if self.postfix else ""
        if self.total is None:
            return (f"{head}{self.done} {self.unit} {rate:,.1f} {self.unit}/s "
                    f"elapsed {_clock(elapsed)}{tail}")
        frac = self.done / self.total if self.total else 1.0
        filled = round(frac * self.WIDTH)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        return (f"{head}[{bar}] {self.done}/{self.total} {frac:4.0%} "
                f"{rate:,.1f} {self.unit}/s elapsed {_clock(elapsed)} ETA {_clock(eta)}{tail}")

    def update(self, n: int = 1, **postfix: float | str) -> None:
        """``n`` more units done; keyword values (e.g. ``loss=0.42``) are shown at the end."""
        if not self.enabled:
            return
        if postfix:
            self.postfix = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                    for k, v in postfix.items())
        self.done = self.done + n if self.total is None else min(self.total, self.done + n)
        now = time.perf_counter()
        if self._tty:
            if now - self._last_draw >= self._min_interval or self.done == self.total:
                self._last_draw = now
                self.stream.write("\r" + self.line())
                self.stream.flush()
        elif self.total is not None:
            crossed = False
            while self._next_tenth <= 10 and self.done * 10 >= self._next_tenth * self.total:
                self._next_tenth += 1
                crossed = True
            if crossed and self.done < self.total:
                self.stream.write(self.line() + "\n")
                self.stream.flush()

    def set_note(self, note: str) -> None:
        """Change the note after the label (redrawn on a terminal)."""
        self.note = note
        if self.enabled and self._tty and not self._closed:
            self.stream.write("\r" + self.line())
            self.stream.flush()

    def close(self) -> None:
        if not self.enabled or self._closed:
            return
        self._closed = True
        self.stream.write(("\r" if self._tty else "") + self.line() + "\n")
        self.stream.flush()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
