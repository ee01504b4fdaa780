"""Benchmark: the simulator's numba kernels on DeiT-Base-sized inputs.

Prints the first-call time of each kernel (compile, or load from numba's on-disk cache when
a previous run left one) and the median time per call afterwards, for 144 heads (12 layers x
12 heads) of 197 rows at about 10% density on 64 MAC lines, with both line policies.

    python benchmarks/bench_kernels.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from vitsim.simulator.kernels import (
    GREEDY,
    ROUND_ROBIN,
    best_split,
    heads_sparse_cycles,
    tile_timeline,
)

N_HEADS = 144
N_ROWS = 197
DENSITY = 0.1
N_LINES = 64


def _inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    row_nnz = rng.binomial(N_ROWS, DENSITY, size=N_HEADS * N_ROWS).astype(np.int32)
    row_offsets = np.arange(N_HEADS + 1, dtype=np.int64) * N_ROWS
    dense_pairs = rng.integers(N_ROWS, N_ROWS * 20, size=N_HEADS).astype(np.int64)
    ones = np.ones(N_HEADS, dtype=np.int64)
    n_lines = np.full(N_HEADS, N_LINES // 2, dtype=np.int64)
    return row_nnz, row_offsets, dense_pairs, ones, n_lines


def _time(fn, repeats: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50, help="timed calls after the first")
    args = parser.parse_args()
    row_nnz, row_offsets, dense_pairs, ones, n_lines = _inputs()
    print(f"{N_HEADS} heads x {N_ROWS} rows, density {DENSITY:.0%}, {N_LINES} lines")
    for policy, name in ((ROUND_ROBIN, "round robin"), (GREEDY, "greedy")):
        first, per_call = _time(
            lambda p=policy: heads_sparse_cycles(row_nnz, row_offsets, n_lines, ones, p),
            args.repeats,
        )
        print(
            f"heads_sparse_cycles ({name}): first call {first:.2f} s, "
            f"then {per_call * 1e3:.3f} ms per call"
        )
        first, per_call = _time(
            lambda p=policy: best_split(dense_pairs, row_nnz, row_offsets, N_LINES, ones, ones, p),
            args.repeats,
        )
        print(
            f"best_split ({name}): first call {first:.2f} s, then {per_call * 1e3:.3f} ms per call"
        )
    rng = np.random.default_rng(1)
    tiles = [rng.exponential(100.0, size=10_000) for _ in range(3)]
    first, per_call = _time(lambda: tile_timeline(*tiles, True), args.repeats)
    print(
        f"tile_timeline (10,000 tiles, double buffered): first call {first:.2f} s, "
        f"then {per_call * 1e3:.3f} ms per call"
    )


if __name__ == "__main__":
    main()
