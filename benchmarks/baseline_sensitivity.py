"""How far the headline ratios move when a baseline assumption moves.

    python benchmarks/baseline_sensitivity.py

For the paper's six models at 90% sparsity (synthetic attention, seed 0, the `vitcod`
preset, as `vitsim reproduce`), prints the attention speedup and energy efficiency of
`vitcod` over each platform under the presets' assumptions and with one assumption changed
at a time: host dispatch x0.5 / x2, the GPU dispatch/launch overlap replaced by the old
additive sum, idle power at 10% / 30% of full power instead of the presets' values, energy
as full power x latency (the old model); and over each peer with and without its bracketed
assumption (Sanger's mask prediction, SpAtten's LSB re-fetch). Nothing is asserted.
"""

from __future__ import annotations

import dataclasses

from vitsim.analysis.compare import (
    PAPER_MODELS,
    PAPER_SPARSITY,
    accelerator_scoped,
    baseline_scoped,
    run_baseline,
    run_bracket,
)
from vitsim.hw_configs.loader import load_hardware
from vitsim.hw_configs.platforms import PlatformConfig, PlatformKind, load_platform
from vitsim.simulator.baselines import roofline
from vitsim.simulator.simulate import simulate
from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.pipeline import trace_synthetic

PLATFORMS = ("xeon-gold-6230r", "xeon-gold-6230", "jetson-xavier-nx", "jetson-tx2",
             "rtx-2080ti", "a100-sxm4-40gb")


def _variants(p: PlatformConfig) -> dict[str, PlatformConfig]:
    pw = p.power
    out = {
        "as shipped": p,
        "dispatch x0.5": dataclasses.replace(p, dispatch_us_per_op=p.dispatch_us_per_op / 2),
        "dispatch x2": dataclasses.replace(p, dispatch_us_per_op=p.dispatch_us_per_op * 2),
        "idle 10% of max": dataclasses.replace(
            p, power=dataclasses.replace(pw, idle_w=0.1 * pw.power_w)),
        "idle 30% of max": dataclasses.replace(
            p, power=dataclasses.replace(pw, idle_w=0.3 * pw.power_w)),
        "energy = max power x latency": dataclasses.replace(
            p, power=dataclasses.replace(pw, idle_w=None)),
    }
    if p.kind is PlatformKind.GPU:
        # the old additive model: a CPU-style platform pays dispatch + launch + device time
        out["dispatch + launch added (no overlap)"] = dataclasses.replace(
            p, kind=PlatformKind.CPU)
    return out


def main() -> None:
    hw = load_hardware("vitcod")
    traces = {m: trace_synthetic(get_spec(m), sparsity=PAPER_SPARSITY, seed=0)
              for m in PAPER_MODELS}
    acc = {m: accelerator_scoped(simulate(t, hw)) for m, t in traces.items()}
    short = {m: m.replace("deit-", "DeiT-").replace("levit-", "LeViT-") for m in PAPER_MODELS}
    print("attention speedup / energy efficiency of vitcod, 90% sparsity, synthetic, seed 0\n")
    for name in PLATFORMS:
        print(f"## {name}")
        print(f"{'variant':38s} " + " ".join(f"{short[m]:>18s}" for m in PAPER_MODELS))
        for label, p in _variants(load_platform(name)).items():
            cells = []
            for m, t in traces.items():
                b = baseline_scoped(roofline(p, t.spec, trace=t))
                cells.append(f"{b.latency_ms['attention'] / acc[m].latency_ms['attention']:7.3g}x"
                             f"/{b.energy_mj['attention'] / acc[m].energy_mj['attention']:8.4g}x")
            print(f"{label:38s} " + " ".join(f"{c:>18s}" for c in cells))
        print()
    for peer in ("sanger", "spatten"):
        print(f"## {peer} (normalised to vitcod)")
        rows = {"as shipped": [], "bracket": []}
        bracket_label = ""
        for m, t in traces.items():
            b = baseline_scoped(run_baseline(peer, t, hw))
            bracket_label, alt = run_bracket(peer, t, hw)
            a = baseline_scoped(alt)
            mine = acc[m]
            for key, s in (("as shipped", b), ("bracket", a)):
                speedup = s.latency_ms["attention"] / mine.latency_ms["attention"]
                efficiency = s.energy_mj["attention"] / mine.energy_mj["attention"]
                rows[key].append(f"{speedup:7.3g}x/{efficiency:6.3g}x")
        for key, cells in rows.items():
            label = bracket_label if key == "bracket" else key
            print(f"{label:38s} " + " ".join(f"{c:>18s}" for c in cells))
        print()


if __name__ == "__main__":
    main()
