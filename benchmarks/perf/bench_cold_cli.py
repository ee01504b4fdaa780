"""Benchmark: a cold ``vitsim simulate --hw vitcod --model deit-tiny --sparsity 0.9 --json``
(a fresh process each run: imports, numba's on-disk cache, tracing, simulation, JSON).

The first run warms numba's cache and is not counted. Issue 12's target: <= 1.2 s wall.

    python benchmarks/perf/bench_cold_cli.py [--runs 7]
"""

from __future__ import annotations

import argparse
import sys

from _timing import report, run_timed

ARGV = [sys.executable, "-m", "vitsim", "simulate", "--hw", "vitcod", "--model", "deit-tiny",
        "--sparsity", "0.9", "--json"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    run_timed(ARGV)  # warm numba's cache
    report("cold `vitsim simulate --hw vitcod --model deit-tiny --sparsity 0.9 --json`",
           [run_timed(ARGV) for _ in range(args.runs)])


if __name__ == "__main__":
    main()
