"""vitsim's ViTCoD beside ViTCoD's released simulator, factor by factor, on any mask.

Prints, for the attention of a DeiT-Tiny mask (default: the released 95% mask) and for
synthetic DeiT masks at 90%:

1. the released simulator as vitsim's ``vitcod-released`` reference mode (exact);
2. the "honest 512-MAC reading" of the released formulas: 64 lines x 8 MACs shared by the
   heads, every head with its own mask, heads one after another (the clean-room twin in
   ``benchmarks/released/released_model.py``), literally and without the per-row ceiling of
   the decoder's pre-processing (one Q/K row of one head is ``h' d`` MACs, a quarter of a
   cycle on 512 MACs, which the released formula rounds up to a whole cycle per row);
3. vitsim's default ``vitcod`` preset, and the walk from one to the other, one setting at a
   time, each step measured by re-simulating.

    python benchmarks/compare_vitcod_released.py [--mask PATH] [--models deit-small ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from vitsim.hw_configs.loader import apply_overrides, load_hardware
from vitsim.simulator.counts import STAGES
from vitsim.simulator.released import released_totals
from vitsim.simulator.simulate import simulate
from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.pipeline import trace_mask_file, trace_synthetic

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "released"))
import released_model  # noqa: E402  (the standalone clean-room twin)

DEFAULT_MASK = HERE.parents[1] / "shared" / "data" / "deit_tiny_info_0.95.npy"
ATTENTION = ["decode", "qk", "softmax", "sv"]

# From the released model's assumptions to vitsim's default, one setting at a time.
STEPS = [
    ("released formulas at 512 MACs, every head, serial (vitsim: balanced rows, heads serial, "
     "decoder on the array, no stalls modelled away)",
     ["engines.sparse.dataflow=rows", "engines.sparse.row_policy=balanced",
      "schedule.max_heads_in_parallel=1"]),
    ("+ K-stationary Q K^T, split-row S V with reductions",
     ["schedule.max_heads_in_parallel=1"]),
    ("+ the heads of a layer in parallel (vitcod default)", []),
    ("  what-if: decoder on its own lines, overlapped", ["codec.decoder_placement=dedicated"]),
    ("  what-if: codec off", ["codec.enabled=false"]),
    ("  what-if: whole rows, greedy (the old default)", ["engines.sparse.dataflow=rows"]),
]


def attention(result) -> dict[str, float]:
    st = result.stages
    names = np.array(STAGES)[st.stage]
    sel = np.isin(names, ATTENTION)
    by = {s: float(st["total_cycles"][names == s].sum()) for s in ATTENTION}
    return {"total": float(st["total_cycles"][sel].sum()),
            "stall": float(st["stall_cycles"][sel].sum()),
            "dram_kb": float((st["dram_read_bytes"][sel] + st["dram_write_bytes"][sel]).sum())
            / 1e3, **by}


def honest(kept: np.ndarray) -> dict[str, float]:
    t = released_model.honest_512_attention_cycles(kept)["totals"]
    n_layers, n_heads, n, _ = kept.shape
    # Without the per-row ceiling: h' d MACs per Q/K row of one head on 512 MACs.
    hc = int(np.ceil(n_heads / 2))
    pre = n_layers * n_heads * 2 * n * hc * 64 / 512
    return {"literal": t["attention"], "loads": t["loads"], "pre": t["preprocessing"],
            "compute": t["compute"],
            "unrounded": max(t["loads"], pre + t["compute"]), "pre_unrounded": pre}


def report(label: str, trace, kept: np.ndarray | None) -> None:
    print(f"\n== {label}")
    rel = released_totals(trace, load_hardware("vitcod-released"))
    print(f"released simulator (vitcod-released, exact): attention {rel.attention:,.0f} "
          f"= max(loads {rel.attention_loads:,.0f}, pre {rel.attention_pre:,.0f} + compute "
          f"{rel.attention_compute:,.0f}); end to end {rel.total:,.0f}")
    base = None
    if kept is not None:
        h = honest(kept)
        base = h["unrounded"]
        print(f"honest 512-MAC reading: literal {h['literal']:,.0f} (pre {h['pre']:,.0f} + "
              f"compute {h['compute']:,.0f}; loads {h['loads']:,.0f}); without the decoder's "
              f"per-row ceiling {h['unrounded']:,.0f} (pre {h['pre_unrounded']:,.0f})")
    hw = load_hardware("vitcod")
    for name, overrides in STEPS:
        a = attention(simulate(trace, apply_overrides(hw, overrides)))
        rel_txt = f" ({a['total'] / base - 1:+.1%} vs honest unrounded)" if base else ""
        print(f"  {a['total']:>10,.0f} cycles{rel_txt}  decode {a['decode']:,.0f} qk "
              f"{a['qk']:,.0f} softmax {a['softmax']:,.0f} sv {a['sv']:,.0f} (stalls "
              f"{a['stall']:,.0f}), DRAM {a['dram_kb']:,.1f} kB  <- {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mask", type=Path, default=DEFAULT_MASK)
    parser.add_argument("--models", nargs="*", default=["deit-tiny", "deit-small", "deit-base"])
    parser.add_argument("--sparsity", type=float, default=0.9)
    args = parser.parse_args()
    if args.mask.is_file():
        pruned = np.load(args.mask)
        trace = trace_mask_file(args.mask, get_spec("deit-tiny"), convention="pruned")
        report(f"DeiT-Tiny, {args.mask.name}", trace, ~pruned)
    for model in args.models:
        spec = get_spec(model)
        trace = trace_synthetic(spec, sparsity=args.sparsity, seed=0)
        kept = np.zeros((spec.n_layers, spec.blocks[0].n_heads, spec.n_tokens, spec.n_tokens),
                        dtype=bool)
        for head in range(trace.n_heads_total):
            layer, index = trace.attention.head_block[head], trace.attention.head_index[head]
            # the released formulas read only g and S, which no permutation changes
            kept[layer, index] = trace.attention.head(head).permuted_mask()
        report(f"{model}, synthetic {args.sparsity:.0%} (seed 0)", trace, kept)


if __name__ == "__main__":
    main()
