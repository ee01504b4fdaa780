"""Benchmark: building the synthetic ViT-H/14 trace at 518 px and 90% sparsity (1370 tokens,
32 layers x 16 heads), in a fresh process per run: wall and CPU time, peak RSS.

Issue 12's target: <= 60 CPU-s and <= 2 GiB peak.

    python benchmarks/perf/bench_vit_h_build.py [--runs 3] [--model vit-h14@518]
"""

from __future__ import annotations

import argparse
import sys

from _timing import report, run_timed

BUILD = ("from vitsim.workloads.model_spec import get_spec; "
         "from vitsim.workloads.pipeline import trace_synthetic; "
         "t = trace_synthetic(get_spec({model!r}), sparsity={sparsity}, seed=0); "
         "print(t.content_hash())")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default="vit-h14@518")
    parser.add_argument("--sparsity", type=float, default=0.9)
    args = parser.parse_args()
    code = BUILD.format(model=args.model, sparsity=args.sparsity)
    report(f"{args.model} synthetic trace at {args.sparsity:.0%}",
           [run_timed([sys.executable, "-c", code]) for _ in range(args.runs)])


if __name__ == "__main__":
    main()
