"""From ViTCoD's released simulator to vitsim's default, one factor at a time.

Every step is measured: the released formulas re-evaluated under a changed reading
(:class:`~vitsim.simulator.released.ReleasedReading`), then vitsim itself re-simulated with
one setting changed at a time, ending at the ``vitcod`` preset. The gap between the two
families (the released formulas read honestly, against vitsim's engines configured as those
formulas assume) is a step of its own, so nothing is left unexplained. Attention scope
(decode, Q K^T, softmax, S V and their stalls), cycles at the design's clock.

Steps (:data:`RELEASED_STEPS`, then :data:`VITSIM_STEPS`):

1. the released simulator, exactly (4,096 MACs for attention, head 0 for every head);
2. 512 MACs (64 lines x 8, the paper's array and the one ``ViT_FFN.py`` times the linear
   layers on), heads one after another;
3. every head with its own mask;
4. no per-row rounding (a head's own bytes at the bandwidth, its decoder MACs unrounded);
5. vitsim's engines read as the released formulas assume (whole rows, balanced, heads one
   after another), softmax free and DRAM unbounded: vitsim's own cycle formulas (its line
   split rounding, the dense engine's pairs spread over its lines, fill);
6. + softmax units;
7. + DRAM at the preset's bandwidth, stalls per query tile (compressed Q/K once per head
   group);
8. + the sparser engine's K-stationary schedule (columns longest first, long S V rows split
   across lines and reduced);
9. + the heads of a layer in parallel: the default.

What-ifs beside the default (not steps): the codec off; the decoder on its own lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vitsim.analysis.compare import ATTENTION_STAGES
from vitsim.hw_configs.loader import apply_overrides, load_hardware
from vitsim.hw_configs.schema import HardwareConfig
from vitsim.simulator.counts import STAGES
from vitsim.simulator.released import ReleasedReading, released_attention
from vitsim.workloads.trace import WorkloadTrace

# Overrides standing for "free" in the vitsim steps: far above any work a ViT block has.
_FREE_SOFTMAX = "softmax.ops_per_cycle=1000000"
_FREE_DRAM = "dram.bandwidth_gb_per_s=1000000"
_AS_RELEASED = ["engines.sparse.dataflow=rows", "engines.sparse.row_policy=balanced",
                "schedule.max_heads_in_parallel=1"]

RELEASED_STEPS: tuple[tuple[str, ReleasedReading], ...] = (
    ("released simulator, exact (4,096 MACs for attention, head 0 for all)",
     ReleasedReading()),
    ("512 MACs (64 lines x 8), heads one after another",
     ReleasedReading(array_cols=8, heads_parallel=False)),
    ("every head's own mask",
     ReleasedReading(array_cols=8, heads_parallel=False, every_head=True)),
    ("no per-row rounding of loads and decoder rows",
     ReleasedReading(array_cols=8, heads_parallel=False, every_head=True, row_rounding=False)),
)
VITSIM_STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("vitsim's engines as the released formulas (whole rows balanced, heads serial; "
     "softmax free, DRAM unbounded)", (*_AS_RELEASED, _FREE_SOFTMAX, _FREE_DRAM)),
    ("+ softmax units", (*_AS_RELEASED, _FREE_DRAM)),
    ("+ DRAM at the preset's bandwidth (stalls per query tile; compressed Q/K once a head "
     "group)", tuple(_AS_RELEASED)),
    ("+ K-stationary sparser engine (columns longest first, S V rows split and reduced)",
     ("schedule.max_heads_in_parallel=1",)),
    ("+ the heads of a layer in parallel (the default)", ()),
)
WHAT_IFS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("what-if: codec off", ("codec.enabled=false",)),
    ("what-if: decoder on its own 64 lines, overlapped with Q K^T",
     ("codec.decoder_placement=dedicated",)),
)


@dataclass(frozen=True)
class Step:
    label: str
    family: str  # "released" | "vitsim" | "what-if"
    attention_cycles: float
    factor: float  # this step's cycles / the previous step's (NaN for the first, what-ifs
    # against the default)


def attention_cycles(result: object) -> float:
    """Attention-scope cycles of a simulation result (its decode, qk, softmax, sv rows)."""
    table = result.stages  # type: ignore[attr-defined]
    codes = [STAGES.index(s) for s in ATTENTION_STAGES]
    return float(table["total_cycles"][np.isin(table.stage, codes)].sum())


def decompose(trace: WorkloadTrace, hw: str | HardwareConfig = "vitcod",
              released: str | HardwareConfig = "vitcod-released") -> tuple[Step, ...]:
    """Measure every step on ``trace``: the released formulas (with ``released``'s codec
    ratio), then ``hw`` re-simulated with the steps' settings."""
    from vitsim.simulator.simulate import simulate

    base = load_hardware(hw) if isinstance(hw, str) else hw
    rel = load_hardware(released) if isinstance(released, str) else released
    steps: list[Step] = []
    previous = float("nan")
    for label, reading in RELEASED_STEPS:
        cycles = released_attention(trace, rel, reading).total
        steps.append(Step(label, "released", cycles, cycles / previous))
        previous = cycles
    for label, overrides in VITSIM_STEPS:
        cycles = attention_cycles(simulate(trace, apply_overrides(base, list(overrides))))
        steps.append(Step(label, "vitsim", cycles, cycles / previous))
        previous = cycles
    for label, overrides in WHAT_IFS:
        cycles = attention_cycles(simulate(trace, apply_overrides(base, list(overrides))))
        steps.append(Step(label, "what-if", cycles, cycles / previous))
    return tuple(steps)


def decomposition_markdown(by_model: dict[str, Sequence[Step]]) -> str:
    """One row per step, a cycles column and a factor column per model."""
    models = list(by_model)
    head = "| step | " + " | ".join(f"{m}: cycles (x prev.)" for m in models) + " |"
    lines = [head, "| --- | " + " | ".join("---" for _ in models) + " |"]
    first = next(iter(by_model.values()))
    for i, step in enumerate(first):
        cells = []
        for m in models:
            s = by_model[m][i]
            factor = "" if np.isnan(s.factor) else f" ({s.factor:.2f}x)"
            cells.append(f"{s.attention_cycles:,.0f}{factor}")
        lines.append(f"| {step.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
