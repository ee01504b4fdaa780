"""The flat metrics of one design point: what a sweep keeps per point.

A result's own :meth:`~vitsim.simulator.results.SimulationResult.metrics` are whole-run
figures. Sparsity changes attention only, and attention is a few percent of a ViT's latency
on an accelerator, so whole-run metrics hide what a sparsity sweep is after; the attention
scope (as :func:`vitsim.analysis.compare.accelerator_scoped` defines it: the decoder, Q K^T,
softmax and S V rows with their stalls) is kept beside them.
"""

from __future__ import annotations

import numpy as np

from vitsim.analysis.compare import ATTENTION_STAGES, accelerator_scoped
from vitsim.simulator.counts import STAGES
from vitsim.simulator.results import SimulationResult

# Attention-scope metrics: latency and energy (leakage over its cycles included) of the
# attention rows, and the DRAM bytes they read and write.
ATTENTION_METRICS = ("attention_latency_ms", "attention_energy_mj", "attention_dram_bytes")


def point_metrics(result: SimulationResult) -> dict[str, float]:
    """``result.metrics()`` and the attention-scope metrics (:data:`ATTENTION_METRICS`)."""
    out = result.metrics()
    scoped = accelerator_scoped(result)
    t = result.stages
    att = np.isin(t.stage, [STAGES.index(s) for s in ATTENTION_STAGES])
    out["attention_latency_ms"] = float(scoped.latency_ms["attention"])
    out["attention_energy_mj"] = float(scoped.energy_mj["attention"])
    out["attention_dram_bytes"] = float(t["dram_read_bytes"][att].sum()
                                        + t["dram_write_bytes"][att].sum())
    return out
