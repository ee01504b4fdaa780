"""Benchmark: one design point of DeiT-Base at 90% (synthetic trace), per hardware point.

Modes, each timed as ``--repeats`` batches of ``--points`` points (a batch's mean per point;
printed: the median over batches with min-max):

* ``simulate, new hw (bandwidth)``: the ``vitcod`` preset with a DRAM bandwidth never used
  before, so no memoised result of a whole point is reused (the issue's "new hardware point");
* ``simulate, new hw (random)``: random overrides of buffers, lines, accumulators, allocation,
  codec and bandwidth (every point distinct);
* ``simulate, same hw``: one configuration again and again;
* the same three through the prepared form (``prepare`` once, then ``evaluate`` per point,
  totals only), when this checkout has it.

    python benchmarks/perf/bench_point.py [--model deit-base] [--points 100] [--repeats 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Sequence

from vitsim.hw_configs.loader import apply_overrides, load_hardware
from vitsim.hw_configs.schema import HardwareConfig
from vitsim.simulator.simulate import simulate
from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.pipeline import trace_synthetic


def _bandwidth_points(base: HardwareConfig, n: int, start: int) -> list[HardwareConfig]:
    return [apply_overrides(base, [f"dram.bandwidth_gb_per_s={50 + (start + i) * 1e-3:.3f}"])
            for i in range(n)]


def _random_points(base: HardwareConfig, n: int, start: int, seed: int) -> list[HardwareConfig]:
    rng = random.Random(seed)
    choices = {
        "buffers.q.size_kib": [32, 53, 64, 128], "buffers.k.size_kib": [32, 53, 64, 160],
        "buffers.v.size_kib": [32, 53, 64, 160], "buffers.output.size_kib": [64, 108, 256],
        "mac_array.n_lines": [32, 48, 64, 96, 128],
        "mac_array.accumulators_per_line": [1, 4, 16],
        "allocation.policy": ["static", "proportional"], "codec.enabled": ["true", "false"],
    }
    points = []
    for i in range(n):
        ov = [f"{k}={rng.choice(v)}" for k, v in choices.items() if rng.random() < 0.5]
        ov.append(f"dram.bandwidth_gb_per_s={50 + (start + i) * 1e-3:.3f}")
        points.append(apply_overrides(base, ov))
    return points


def _per_point(fn: Callable[[HardwareConfig], object], points: Sequence[HardwareConfig]) -> float:
    t0 = time.perf_counter()
    for hw in points:
        fn(hw)
    return (time.perf_counter() - t0) / len(points)


def _report(label: str, values: Sequence[float]) -> float:
    med = statistics.median(values)
    print(f"{label:42s} median {med * 1e6:8.0f} us  (min {min(values) * 1e6:.0f}, "
          f"max {max(values) * 1e6:.0f}, {len(values)} batches)")
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="deit-base")
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--points", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    base = load_hardware("vitcod")
    trace = trace_synthetic(get_spec(args.model), sparsity=args.sparsity, seed=0)
    simulate(trace, base)  # compile / load numba's cache
    try:
        from vitsim.simulator.prepared import evaluate, prepare
    except ImportError:
        prepare = None
    n, r = args.points, args.repeats
    # Every batch gets configurations no earlier batch used.
    batches = {
        "new hw (bandwidth)": [_bandwidth_points(base, n, 10_000 * (k + 1)) for k in range(r)],
        "new hw (random)": [_random_points(base, n, 10_000 * (k + 1) + 5_000, k)
                            for k in range(r)],
        "same hw": [[base] * n for _ in range(r)],
    }
    print(f"{args.model} at {args.sparsity:.0%}, vitcod preset, {n} points x {r} batches")
    sim = {}
    for mode, runs in batches.items():
        sim[mode] = _report(f"simulate, {mode}", [_per_point(lambda hw: simulate(trace, hw), b)
                                                  for b in runs])
    if prepare is None:
        print("(no prepared form in this checkout)")
        return
    t0 = time.perf_counter()
    prepared = prepare(trace)
    print(f"prepare (once per trace): {(time.perf_counter() - t0) * 1e3:.2f} ms")
    fresh = {  # the prepared form sees configurations the simulate runs above did not
        "new hw (bandwidth)": [_bandwidth_points(base, n, 10_000 * (k + 1) + 2_500)
                               for k in range(r)],
        "new hw (random)": [_random_points(base, n, 10_000 * (k + 1) + 7_500, 100 + k)
                            for k in range(r)],
        "same hw": batches["same hw"],
    }
    for mode, runs in fresh.items():
        med = _report(f"prepared evaluate, {mode}",
                      [_per_point(lambda hw: evaluate(prepared, hw), b) for b in runs])
        print(f"{'':42s} simulate / prepared: {sim[mode] / med:.1f}x")


if __name__ == "__main__":
    main()
