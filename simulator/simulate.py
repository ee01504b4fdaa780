"""``simulate(trace, hardware)``: the whole model on one accelerator, stage by stage.

Per block, in execution order: ``ln1`` (vector), ``qkv`` (or LeViT's ``kv`` and ``q``; the
encoder compresses Q and K on the store path: ``encode``), the attention of every head
(``decode`` on the load path, ``qk``, ``softmax``, ``sv``), ``proj``, ``residual``, ``ln2``,
``fc1``, ``gelu``, ``fc2``, ``residual``. The stem and classifier GEMMs run before and after.
Stages run one after another; within a stage, loads and compute overlap as the tile timeline
allows. See :mod:`vitsim.simulator.linear` and :mod:`vitsim.simulator.attention`.

The stage table has one row per (layer, head, stage): a stage that occurs more than once in a
block (the two residual adds; LeViT's two activations) or in the stem (LeViT's four
convolutions) is one row holding the sum of its occurrences, the vector rows placed after the
block's ``fc2``. Every count and cycle column adds, so no total depends on this.

Vector work (layer norm, GELU, residual adds) runs on the vector unit on data streaming
between the GEMMs, so it adds cycles but no DRAM traffic of its own, except that a residual
add reads its skip operand.

The work is done in two phases (:mod:`vitsim.simulator.prepared`): what depends on the trace
alone is prepared once per trace (and kept for the most recent traces), then the hardware
point is evaluated; ``simulate`` is ``evaluate(prepare(trace), hardware).result()``.
"""

from __future__ import annotations

from vitsim.hw_configs.schema import HardwareConfig, ReferenceModel
from vitsim.simulator.prepared import (
    ACTIVATION_OPS_PER_ELEMENT,
    LAYERNORM_OPS_PER_ELEMENT,
    RESIDUAL_OPS_PER_ELEMENT,
    evaluate,
    prepared,
)
from vitsim.simulator.results import SimulationResult
from vitsim.workloads.trace import WorkloadTrace

__all__ = ["ACTIVATION_OPS_PER_ELEMENT", "LAYERNORM_OPS_PER_ELEMENT", "RESIDUAL_OPS_PER_ELEMENT",
           "simulate"]


def simulate(trace: WorkloadTrace, hardware: HardwareConfig) -> SimulationResult:
    """Simulate every stage of ``trace`` on ``hardware``; see the module docstring.

    A hardware description with ``reference_model: vitcod_released`` is simulated with ViTCoD's
    released cost model instead (:mod:`vitsim.simulator.released`).
    """
    if hardware.reference_model is ReferenceModel.VITCOD_RELEASED:
        from vitsim.simulator.released import simulate_released

        return simulate_released(trace, hardware)
    return evaluate(prepared(trace), hardware).result()
