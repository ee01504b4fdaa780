"""Per-operator host-dispatch cost of PyTorch eager at batch 1: the time an operator costs when
its arithmetic is negligible (one-element tensors), i.e. Python + the ATen dispatcher + output
allocation. This is the platform field ``dispatch_us_per_op`` of the CPU presets.

    python benchmarks/host/dispatch_cost.py [--threads 1] [--device cpu|cuda] [--loops 60]
    vitsim baseline measure --dispatch [--threads 1] [--device cpu|cuda]     (the same)

Each operator kind that the roofline's operator list launches (``linear`` = addmm, ``bmm``,
``add``, ``mul`` by a scalar, ``masked_fill``, ``softmax``, ``layer_norm``, ``gelu``, a
``contiguous`` copy of a transposed view) is called ``--calls`` times in a loop on one-element
(or 1 x 1) operands under ``torch.inference_mode()``; a loop's time / calls is one sample,
``--loops`` samples give the median (and the minimum, the least disturbed by other processes).
The figure for the platform file is the median over the operator kinds of their medians.

On ``--device cuda`` one synchronisation closes each loop, so a sample is the steady-state cost
of an op in an asynchronous stream: ``max(host dispatch, launch + device time)`` per op for
one-element kernels, which is what the roofline's GPU model charges at its floor.

Prints a table and the machine (CPU model, torch, threads, load average); nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics

from vitsim.models.measure import load_average, machine_info, time_dispatch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--calls", type=int, default=1000)
    p.add_argument("--loops", type=int, default=60)
    p.add_argument("--warmup", type=int, default=5)
    args = p.parse_args()
    load = load_average()
    times = time_dispatch(args.device, threads=args.threads, calls=args.calls,
                          loops=args.loops, warmup=args.warmup)
    info = machine_info(args.device, load_average_1min=load)
    print("machine:", ", ".join(f"{k}={v}" for k, v in info.items()))
    print(f"{'operator':20s} {'median us':>10s} {'min us':>8s}")
    for name, (med, low) in times.items():
        print(f"{name:20s} {med:10.2f} {low:8.2f}")
    medians = [med for med, _ in times.values()]
    print(f"dispatch_us_per_op (median over operator kinds of their medians): "
          f"{statistics.median(medians):.2f} us; mean {statistics.fmean(medians):.2f} us; "
          f"{args.loops} loops x {args.calls} calls each")


if __name__ == "__main__":
    main()
