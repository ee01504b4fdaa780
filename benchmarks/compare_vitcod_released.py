"""vitsim's attention cycles on ViTCoD's released DeiT-Tiny mask, set beside ViTCoD's simulator.

ViTCoD's released simulator (GATECH-EIC/ViTCoD, Hardware/Simulator/ViTCoD.py) reports 9,492
cycles for the attention of DeiT-Tiny at 95% on this mask. It simulates only the first head of
each layer (the three heads are assumed to run in parallel on 8/3 MACs of each line, all with
head 0's mask), spreads the sparse scores evenly over the lines, charges nothing for softmax,
and takes max(total loading, total compute) over the whole model, i.e. assumes loads and
compute always overlap. This script prints vitsim's figures for the same mask and preset, and
the same quantities restricted step by step towards ViTCoD's accounting.

    python benchmarks/compare_vitcod_released.py [--mask PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vitsim.analysis.frames import stages_frame
from vitsim.hw_configs.loader import apply_overrides, load_hardware
from vitsim.simulator.simulate import simulate
from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.pipeline import trace_mask_file

VITCOD_RELEASED_CYCLES = 9492  # Hardware/Simulator/masks/deit_tiny_lowrank/vitcod_atten_0.95_wo.txt
DEFAULT_MASK = Path(__file__).resolve().parents[2] / "shared" / "data" / "deit_tiny_info_0.95.npy"


def attention_rows(frame):
    return frame[frame["stage"].isin(["qk", "softmax", "sv"])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mask", type=Path, default=DEFAULT_MASK)
    args = parser.parse_args()
    trace = trace_mask_file(args.mask, get_spec("deit-tiny"), convention="pruned")
    hw = load_hardware("vitcod")
    print(f"ViTCoD's released simulator: {VITCOD_RELEASED_CYCLES:,} cycles "
          "(head 0 of each layer, heads in parallel, loads assumed hidden)")
    variants = {
        "vitcod preset (greedy rows)": [],
        "balanced scores (as ViTCoD's simulator)": ["engines.sparse.row_policy=balanced"],
        "balanced, decoder at full array rate": ["engines.sparse.row_policy=balanced",
                                                 "codec.decoder_lines=64"],
    }
    for label, overrides in variants.items():
        frame = stages_frame(simulate(trace, apply_overrides(hw, overrides)))
        att = attention_rows(frame)
        qk_sv = att[att["stage"].isin(["qk", "sv"])]
        softmax = att[att["stage"] == "softmax"]["total_cycles"].sum()
        compute = qk_sv["compute_cycles"].sum()
        stall = qk_sv["stall_cycles"].sum()
        head0 = att[att["head"] == 0]
        head0_compute = head0[head0["stage"].isin(["qk", "sv"])]["compute_cycles"].sum()
        dram = (att["dram_read_bytes"] + att["dram_write_bytes"]).sum()
        print(f"\n{label}:")
        print(f"  all 36 heads: {att['total_cycles'].sum():,.0f} cycles = Q K^T + S V compute "
              f"{compute:,.0f} + softmax {softmax:,.0f} + load stalls {stall:,.0f}; "
              f"DRAM {dram / 1e3:,.1f} kB")
        print(f"  head 0 of each layer, Q K^T + S V compute only: {head0_compute:,.0f} cycles "
              f"({head0_compute / VITCOD_RELEASED_CYCLES:.2f}x ViTCoD's figure)")
        per_head = att.groupby(["layer", "head"])["total_cycles"].sum().to_numpy()
        print(f"  per-head attention cycles: min {per_head.min():,.0f}, median "
              f"{np.median(per_head):,.0f}, max {per_head.max():,.0f}")


if __name__ == "__main__":
    main()
