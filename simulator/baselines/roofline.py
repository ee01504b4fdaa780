"""The per-operator roofline of a CPU or GPU platform.

Per op of :func:`~vitsim.simulator.baselines.operators.platform_operators`::

    time = max(flops / (peak x eff_compute), bytes / (bandwidth x eff_memory))
           + kernel_launch x kernels

with ``peak`` the platform's peak at its precision for the op's class and ``eff_*`` the
class's achievable efficiency (assumptions stated in the platform preset). The ``bound`` of
an op is the largest of its compute, memory and launch terms. Energy is the platform's
power x latency (its ``power.basis`` says what that power is). ``sparse_kernel`` attention
runs at the ``sparse_kernel`` efficiency.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from vitsim.errors import VitsimError
from vitsim.hw_configs.platforms import AttentionMode, PlatformConfig
from vitsim.simulator.baselines.operators import (
    PlatformOp,
    aggregate_times,
    attention_mode_of,
    block_densities,
    platform_operators,
)
from vitsim.simulator.baselines.result import BaselineKind, BaselineResult
from vitsim.workloads.model_spec import ModelSpec

if TYPE_CHECKING:
    from vitsim.workloads.trace import WorkloadTrace

__all__ = ["op_time_s", "roofline"]

def op_time_s(op: PlatformOp, platform: PlatformConfig) -> tuple[float, str]:
    """Seconds of one op on ``platform`` and which term bound it (compute/memory/launch)."""
    eff = platform.efficiency.of(op.op_class)
    compute_s = op.flops / (platform.peak_flop_per_s(op.op_class) * eff.compute)
    memory_s = op.dram_bytes / (platform.dram_bytes_per_s * eff.memory)
    launch_s = platform.kernel_launch_us * 1e-6 * op.kernels
    terms = {"compute": compute_s, "memory": memory_s, "launch": launch_s}
    bound = max(terms, key=lambda k: terms[k])
    return max(compute_s, memory_s) + launch_s, bound


def _resolve_density(sparsity: float | None,
                     trace: WorkloadTrace | None) -> tuple[float | tuple[float, ...], str]:
    if trace is not None:
        if sparsity is not None:
            raise VitsimError("a trace has its own sparsity; give one or the other",
                              source="sparsity")
        return block_densities(trace), f"{trace.kept_density():.6g} (trace, per block)"
    if sparsity is None:
        return 1.0, "1"
    if not (isinstance(sparsity, (int, float)) and 0.0 <= sparsity < 1.0):
        raise VitsimError(f"must be in [0, 1), got {sparsity!r}", source="sparsity")
    return 1.0 - float(sparsity), f"{1.0 - float(sparsity):.6g}"


def roofline(
    platform: PlatformConfig,
    spec: ModelSpec,
    *,
    batch: int = 1,
    sparsity: float | None = None,
    trace: WorkloadTrace | None = None,
    attention_mode: AttentionMode | str | None = None,
) -> BaselineResult:
    """The per-operator roofline latency and energy of one batch of ``spec`` on ``platform``.

    ``sparsity`` (in [0, 1)) or ``trace`` gives the kept attention density; with neither the
    attention is dense. With a ``trace``, its model is the one priced (``spec`` is ignored)
    and each block gets its own kept density. ``attention_mode`` overrides the platform's.
    Energy (mJ) is ``platform.power.power_w`` x latency (ms).
    """
    mode = attention_mode_of(attention_mode) if attention_mode is not None \
        else platform.attention_mode
    if trace is not None:
        spec = trace.spec
    density, density_text = _resolve_density(sparsity, trace)
    ops = platform_operators(spec, batch=batch, attention_mode=mode, kept_density=density,
                             precision=platform.precision)
    times, bounds = [], []
    for op in ops:
        seconds, bound = op_time_s(op, platform)
        times.append(seconds * 1e3)
        bounds.append(bound)
    operators = aggregate_times(ops, times, bounds)
    latency_ms = math.fsum(times)
    return BaselineResult(
        baseline=platform.name, kind=BaselineKind.ROOFLINE, model=spec.name, batch=batch,
        latency_ms=latency_ms, energy_mj=platform.power.power_w * latency_ms,
        operators=operators,
        provenance={
            "device": platform.device,
            "attention_mode": mode.value,
            "kept_density": density_text,
            "precision": platform.precision.value,
            "energy": f"power x latency, {platform.power.power_w:g} W "
                      f"({platform.power.basis.value})",
            "efficiency": "assumed per operator class (see the platform preset)",
        },
    )


