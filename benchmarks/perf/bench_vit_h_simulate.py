"""Benchmark: simulating ViT-H/14 at 518 px from its trace file (issue 12: the first simulate
from the file <= 0.5 s, later ones <= 20 ms). Builds the trace once (about a CPU-minute),
saves it, then in a fresh process times loading it, the first simulate (prepare included)
and later simulates on new hardware (a new DRAM bandwidth, then random buffer sizes).

    python benchmarks/perf/bench_vit_h_simulate.py [--trace PATH] [--repeats 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

MEASURE = """
import time, statistics
t0 = time.perf_counter()
from vitsim.hw_configs.loader import apply_overrides, load_hardware
from vitsim.simulator.simulate import simulate
from vitsim.workloads.trace import WorkloadTrace
hw = load_hardware("vitcod")
simulate(WorkloadTrace.load({small!r}), hw)  # compile / load numba's cache on a small trace
t1 = time.perf_counter()
trace = WorkloadTrace.load({path!r})
t2 = time.perf_counter()
simulate(trace, hw)
t3 = time.perf_counter()
later = []
for i in range({repeats}):
    h = apply_overrides(hw, [f"dram.bandwidth_gb_per_s={{76.8 + i + 1}}"])
    s = time.perf_counter(); simulate(trace, h); later.append(time.perf_counter() - s)
random = []
for i in range({repeats}):
    h = apply_overrides(hw, [f"buffers.q.size_kib={{54 + i}}",
                             f"buffers.output.size_kib={{110 + i}}"])
    s = time.perf_counter(); simulate(trace, h); random.append(time.perf_counter() - s)
print(f"imports + warm-up {{t1 - t0:.2f}} s; load trace {{t2 - t1:.3f}} s; first simulate "
      f"{{t3 - t2:.3f}} s; later, new bandwidth: median {{statistics.median(later) * 1e3:.1f}} ms "
      f"(min {{min(later) * 1e3:.1f}}, max {{max(later) * 1e3:.1f}}); later, new buffers: median "
      f"{{statistics.median(random) * 1e3:.1f}} ms (min {{min(random) * 1e3:.1f}}, max "
      f"{{max(random) * 1e3:.1f}})")
"""

BUILD = """
from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.pipeline import trace_synthetic
trace_synthetic(get_spec({model!r}), sparsity=0.9, seed=0).save({path!r})
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", type=Path, help="an existing ViT-H trace file")
    parser.add_argument("--model", default="vit-h14@518")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vit-h-"))
    path = args.trace or tmp / "vit_h.npz"
    if args.trace is None:
        subprocess.run([sys.executable, "-c", BUILD.format(model=args.model, path=str(path))],
                       check=True)
    small = tmp / "tiny.npz"
    subprocess.run([sys.executable, "-c", BUILD.format(model="deit-tiny", path=str(small))],
                   check=True)
    out = subprocess.run([sys.executable, "-c", MEASURE.format(
        path=str(path), small=str(small), repeats=args.repeats)],
        check=True, capture_output=True, text=True).stdout
    print(f"{args.model} at 90% from {path} ({path.stat().st_size / 2**20:.0f} MiB):\n  {out}")


if __name__ == "__main__":
    main()
