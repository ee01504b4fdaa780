"""Per-operator host-dispatch cost of PyTorch eager at batch 1: the time an operator costs when
its arithmetic is negligible (one-element tensors), i.e. Python + the ATen dispatcher + output
allocation. This is the platform field ``dispatch_us_per_op`` of the CPU presets.

    python benchmarks/host/dispatch_cost.py [--threads 1] [--device cpu|cuda] [--loops 60]

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
import time

import torch
import torch.nn.functional as F

from vitsim.models.measure import load_average, machine_info


def _ops(device: torch.device) -> dict[str, object]:
    one = torch.ones(1, device=device)
    other = torch.ones(1, device=device)
    w, b = torch.ones(1, 1, device=device), torch.ones(1, device=device)
    x2 = torch.ones(1, 1, device=device)
    a3, b3 = torch.ones(1, 1, 1, device=device), torch.ones(1, 1, 1, device=device)
    mask = torch.zeros(1, dtype=torch.bool, device=device)
    t = torch.ones(2, 2, device=device).t()
    ln_w, ln_b = torch.ones(1, device=device), torch.zeros(1, device=device)
    return {
        "linear (addmm)": lambda: F.linear(x2, w, b),
        "bmm": lambda: torch.bmm(a3, b3),
        "add": lambda: torch.add(one, other),
        "mul (scale)": lambda: one * 0.125,
        "masked_fill": lambda: one.masked_fill(mask, float("-inf")),
        "softmax": lambda: torch.softmax(one, dim=-1),
        "layer_norm": lambda: F.layer_norm(one, (1,), ln_w, ln_b),
        "gelu": lambda: F.gelu(one),
        "contiguous (copy)": lambda: t.contiguous(),
    }


def _sample_us(fn, calls: int, sync) -> float:
    sync()
    t0 = time.perf_counter_ns()
    for _ in range(calls):
        fn()
    sync()
    return (time.perf_counter_ns() - t0) / calls / 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--calls", type=int, default=1000)
    p.add_argument("--loops", type=int, default=60)
    p.add_argument("--warmup", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    load = load_average()
    info = machine_info(args.device, load_average_1min=load)
    print("machine:", ", ".join(f"{k}={v}" for k, v in info.items()))
    print(f"{'operator':20s} {'median us':>10s} {'min us':>8s}")
    medians = []
    with torch.inference_mode():
        for name, fn in _ops(device).items():
            for _ in range(args.warmup):
                _sample_us(fn, args.calls, sync)
            samples = [_sample_us(fn, args.calls, sync) for _ in range(args.loops)]
            med = statistics.median(samples)
            medians.append(med)
            print(f"{name:20s} {med:10.2f} {min(samples):8.2f}")
    print(f"dispatch_us_per_op (median over operator kinds of their medians): "
          f"{statistics.median(medians):.2f} us; mean {statistics.fmean(medians):.2f} us; "
          f"{args.loops} loops x {args.calls} calls each")


if __name__ == "__main__":
    main()
