"""Measured profiles of this host against the roofline, per operator class and in total.

The profiles here were written by `vitsim baseline measure --device cpu --model <m>
--threads 1 --out prof_<m>_t1.yaml` on the project's 2-core machine (an AMD EPYC Zen 1 VM);
`this-host-1thread.yaml` describes that machine for the roofline (peak from the Zen 1
optimization guide at the 2.0 GHz TSC rate, DRAM bandwidth measured by `probe_host.py`, the
Xeon preset's efficiency assumptions unchanged). Run from this folder:

    python compare_host.py
"""
from collections import defaultdict
from pathlib import Path

from vitsim.hw_configs.platforms import load_platform
from vitsim.simulator.baselines import load_profile, measured, platform_operators, roofline


def group(op):
    if op.op_class.value in ("gemm",):
        return "GEMM (linear layers)"
    if op.op_class.value == "batched_matmul":
        return "batched matmul (QK^T, SV)"
    if op.kind in ("softmax",):
        return "softmax"
    if op.kind in ("layernorm",):
        return "layer norm"
    if op.kind == "activation":
        return "GELU"
    if op.kind in ("add", "scale", "mask", "bias"):
        return "adds / scale"
    return "copies (reshapes)"

HERE = Path(__file__).resolve().parent
host = load_platform(HERE / "this-host-1thread.yaml")
xeon = load_platform("xeon-gold-6230")
for model in ("deit-tiny", "deit-small", "deit-base"):
    prof = load_profile(HERE / f"prof_{model}_t1.yaml")
    spec = prof.spec()
    ops = platform_operators(spec)
    roof = roofline(host, spec)
    meas = measured(prof)
    rtimes = {}
    from vitsim.simulator.baselines import op_time_s
    acc = defaultdict(lambda: [0.0, 0.0])
    for op, p in zip(ops, prof.operators, strict=True):
        g = group(op)
        acc[g][0] += p.median_ms
        acc[g][1] += op_time_s(op, host)[0] * 1e3
    ratio = meas.latency_ms / roof.latency_ms
    print(f"\n{model}: measured {meas.latency_ms:.1f} ms "
          f"(forward {prof.timing.forward_ms:.1f}), roofline(this host) "
          f"{roof.latency_ms:.1f} ms, ratio {ratio:.2f}; xeon-gold-6230 roofline "
          f"{roofline(xeon, spec).latency_ms:.2f} ms; load {prof.machine.load_average_1min}")
    print("| class | measured ms | roofline ms | measured/roofline |")
    for g, (m, r) in acc.items():
        print(f"| {g} | {m:.2f} | {r:.2f} | {m/r:.2f} |")
    mins = sum(p.min_ms for p in prof.operators)
    print(f"sum of per-op minima {mins:.1f} ms")
