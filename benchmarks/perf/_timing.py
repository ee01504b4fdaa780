"""Shared helpers of the performance benchmarks: run a command several times as a fresh
process and print the median with its range (wall, CPU of the process and its children,
peak RSS of the largest child)."""

from __future__ import annotations

import resource
import statistics
import subprocess
import time
from collections.abc import Sequence


def run_timed(argv: Sequence[str], *,
              env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MiB) of one run of ``argv`` to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(list(argv), check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024.0


def summary(values: Sequence[float], unit: str, fmt: str = ".2f") -> str:
    return (f"median {statistics.median(values):{fmt}} {unit} "
            f"(min {min(values):{fmt}}, max {max(values):{fmt}}, n={len(values)})")


def report(label: str, runs: Sequence[tuple[float, float, float]]) -> None:
    walls, cpus, peaks = zip(*runs, strict=True)
    print(f"{label}\n  wall {summary(walls, 's')}\n  cpu  {summary(cpus, 's')}\n"
          f"  peak RSS (largest process) {max(peaks):.0f} MiB")
