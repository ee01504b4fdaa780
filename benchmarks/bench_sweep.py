"""Benchmark: the 1,000-point DeiT-Base sweep on this machine, with every runner.

Runs the shipped `deit_base_1000` sweep (bandwidth x MAC lines x Q/K/V buffer size x sparsity
x allocation policy, with its five baselines) with the process runner, on a local Dask
cluster, and killed half-way then resumed; prints the wall time of each and whether the
tables are identical.

    python benchmarks/bench_sweep.py [--spec deit_base_1000] [--workers N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from vitsim.analysis.sweeps.runner import load_results, run_sweep
from vitsim.analysis.sweeps.spec import expand_sweep, load_sweep


def _timed(label: str, **kwargs) -> float:
    t = time.perf_counter()
    spec = kwargs.pop("expansion")
    run_sweep(spec, kwargs.pop("out"), progress=False, **kwargs)
    elapsed = time.perf_counter() - t
    print(f"{label:38s} {elapsed:7.1f} s")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="deit_base_1000")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    expansion = expand_sweep(load_sweep(args.spec))
    n = len(expansion.points)
    print(f"{args.spec}: {n} points, baselines {', '.join(expansion.spec.baselines) or 'none'}")
    with tempfile.TemporaryDirectory() as root:
        root_path = Path(root)
        _timed("processes", expansion=expansion, out=root_path / "proc", runner="processes",
               workers=args.workers)
        _timed("dask local cluster (start included)", expansion=expansion,
               out=root_path / "dask", runner="dask", dask_local=args.workers or 2)
        half = n // 2
        _timed(f"processes, stopped after {half}", expansion=expansion,
               out=root_path / "resumed", runner="processes", workers=args.workers,
               limit=half)
        _timed("  --resume to the end", expansion=expansion, out=root_path / "resumed",
               runner="processes", workers=args.workers, resume=True)
        tables = {k: load_results(root_path / k) for k in ("proc", "dask", "resumed")}
        for k in ("dask", "resumed"):
            try:
                pd.testing.assert_frame_equal(tables["proc"], tables[k])
                same = "identical"
            except AssertionError as err:
                same = f"DIFFERENT ({str(err).splitlines()[0]})"
            print(f"table of {k} vs processes: {same}, {len(tables[k])} rows")


if __name__ == "__main__":
    main()
