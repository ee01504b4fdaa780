"""Benchmark: the simulator's speed.

Prints the first call's time (numba compilation, or loading the on-disk cache), the median time
per design point after compilation for DeiT-Tiny and DeiT-Base at 90% sparsity (synthetic
traces, `vitcod` preset; every call is a fresh design point: the DRAM bandwidth changes, so
no memoised result is reused), and the wall time of two successive `vitsim simulate` CLI runs
in fresh processes (the second one reads numba's cache).

    python benchmarks/bench_simulate.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from vitsim.hw_configs.loader import apply_overrides, load_hardware
from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.pipeline import trace_synthetic


def main() -> None:
    t0 = time.perf_counter()
    from vitsim.simulator.simulate import simulate

    hw = load_hardware("vitcod")
    traces = {name: trace_synthetic(get_spec(name), sparsity=0.9, seed=0)
              for name in ("deit-tiny", "deit-base")}
    t1 = time.perf_counter()
    simulate(traces["deit-tiny"], hw)
    first = time.perf_counter() - t1
    print(f"first simulate call (compile or cache load): {first:.2f} s "
          f"(imports + tracing before it: {t1 - t0:.1f} s)")
    points = [apply_overrides(hw, [f"dram.bandwidth_gb_per_s={50 + i}"]) for i in range(40)]
    for name, trace in traces.items():
        times = []
        for p in points:
            t = time.perf_counter()
            simulate(trace, p)
            times.append(time.perf_counter() - t)
        print(f"{name} at 90%: median {statistics.median(times) * 1e3:.2f} ms per design point "
              f"(min {min(times) * 1e3:.2f} ms, {len(times)} points, "
              f"{trace.n_heads_total} heads)")
    cmd = [sys.executable, "-m", "vitsim", "simulate", "--hw", "vitcod",
           "--model", "deit-tiny", "--sparsity", "0.9", "--json"]
    for run in ("first", "second"):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        print(f"CLI `vitsim simulate` {run} run: {time.perf_counter() - t:.2f} s wall")


if __name__ == "__main__":
    main()
