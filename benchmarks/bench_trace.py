"""Benchmark: how long tracing takes and how much memory it needs.

Prints, for DeiT-Base (12 x 12 heads, 197 tokens) traced from a mask file, the median wall
time of ``trace_mask_file`` and the trace size; and for ViT-H/14 at 518 px (1370 tokens,
32 layers, 16 heads) at 90% sparsity, the time and peak resident memory of a synthetic trace.

    python benchmarks/bench_trace.py [--skip-large]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.pipeline import trace_mask_file, trace_synthetic
from vitsim.workloads.synthetic import synthetic_masks


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_deit_base_mask(repeats: int = 7) -> None:
    spec = get_spec("deit-base")
    _, kept = synthetic_masks(spec, 0.9, seed=0)
    pruned = ~np.stack(list(kept))  # ViTCoD's convention on disk: True = pruned
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "deit_base_0.9.npy"
        np.save(path, pruned)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            trace = trace_mask_file(path, spec, convention="pruned")
            times.append(time.perf_counter() - t0)
    kept_scores = int(trace.attention.dense_offsets[-1] + trace.attention.sparse_offsets[-1])
    print(f"deit-base from a mask file: median {statistics.median(times) * 1e3:.1f} ms "
          f"over {repeats} runs (min {min(times) * 1e3:.1f} ms); {spec.n_heads_total} heads, "
          f"kept density {trace.kept_density():.2%}, {kept_scores:,} kept scores")


def bench_vit_h(sparsity: float = 0.9) -> None:
    spec = get_spec("vit-h14@518")
    t0 = time.perf_counter()
    trace = trace_synthetic(spec, sparsity=sparsity, seed=0)
    elapsed = time.perf_counter() - t0
    nbytes = sum(a.nbytes for a in trace.attention.arrays().values())
    print(f"vit-h14@518 synthetic at {sparsity:.0%}: {elapsed:.1f} s, "
          f"{spec.n_heads_total} heads x {spec.n_tokens} tokens, kept density "
          f"{trace.kept_density():.2%}, trace arrays {nbytes / 2**20:.0f} MiB, "
          f"peak RSS {_peak_rss_mib():.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-large", action="store_true", help="skip ViT-H/14 at 518 px")
    args = parser.parse_args()
    bench_deit_base_mask()
    if not args.skip_large:
        bench_vit_h()


if __name__ == "__main__":
    main()
