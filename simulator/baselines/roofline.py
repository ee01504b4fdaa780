"""The per-operator roofline of a CPU or GPU platform.

Per op of :func:`~vitsim.simulator.baselines.operators.platform_operators`, with ``k`` its
kernels (eager operator calls)::

    device = max(flops / (peak x eff_compute), bytes / (bandwidth x eff_memory))
    host   = dispatch_us_per_op x k                 (Python + ATen dispatcher per call)
    launch = kernel_launch_us x k                   (device-side fixed cost per kernel)
    CPU:  time = host + launch + device             (synchronous: the dispatching thread
                                                     runs the kernel)
    GPU:  time = max(host, launch + device)         (asynchronous: the host enqueues the
                                                     next kernel while the GPU runs this one)

``peak`` is the platform's peak at its precision for the op's class and ``eff_*`` the class's
achievable efficiency (assumptions stated in the platform preset). The GPU form is exact when
one side binds every op; when host-bound and device-bound ops alternate, the stream's queue
lets a long kernel hide the dispatch of the next ones, so the per-op ``max`` is an upper
bound on a pass (``max(sum host, sum launch + device)`` is the lower one). The ``bound`` of an
op is the largest of its compute, memory, dispatch and launch terms.

Energy per op is ``(idle_w + (power_w - idle_w) x u) x time`` (the platform's
:class:`~vitsim.hw_configs.platforms.Power`), with ``u = max(flops / peak, bytes /
bandwidth) / time`` the op's achieved fraction of the peak compute or bandwidth: a
dispatch-bound op draws about idle power, a GEMM at half the peak half the dynamic range.
Never below ``idle_w x time``. ``sparse_kernel`` attention runs at the ``sparse_kernel``
efficiency.
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

__all__ = ["energy_basis", "op_energy_j", "op_time_s", "op_utilisation", "roofline"]

def op_time_s(op: PlatformOp, platform: PlatformConfig) -> tuple[float, str]:
    """Seconds of one op on ``platform`` and which term bound it
    (compute, memory, dispatch or launch); see the module docstring."""
    eff = platform.efficiency.of(op.op_class)
    compute_s = op.flops / (platform.peak_flop_per_s(op.op_class) * eff.compute)
    memory_s = op.dram_bytes / (platform.dram_bytes_per_s * eff.memory)
    dispatch_s = platform.dispatch_us_per_op * 1e-6 * op.kernels
    launch_s = platform.kernel_launch_us * 1e-6 * op.kernels
    device_s = launch_s + max(compute_s, memory_s)
    terms = {"compute": compute_s, "memory": memory_s, "dispatch": dispatch_s,
             "launch": launch_s}
    bound = max(terms, key=lambda k: terms[k])
    if platform.asynchronous:
        return max(dispatch_s, device_s), bound
    return dispatch_s + device_s, bound


def op_utilisation(op: PlatformOp, platform: PlatformConfig, seconds: float) -> float:
    """The achieved fraction of peak compute or peak DRAM bandwidth of ``op`` over
    ``seconds`` (its time), in [0, 1]: ``max(flops / peak, bytes / bandwidth) / seconds``."""
    if seconds <= 0.0:
        return 0.0
    busy_s = max(op.flops / platform.peak_flop_per_s(op.op_class),
                 op.dram_bytes / platform.dram_bytes_per_s)
    return min(1.0, busy_s / seconds)


def op_energy_j(op: PlatformOp, platform: PlatformConfig, seconds: float) -> float:
    """Joules of ``op`` taking ``seconds`` on ``platform``: idle + utilisation-scaled dynamic
    power times its time (module docstring)."""
    return platform.power.at(op_utilisation(op, platform, seconds)) * seconds


def energy_basis(platform: PlatformConfig) -> str:
    """The provenance line saying how a platform's energy was obtained."""
    pw = platform.power
    if pw.idle_w is None:
        return f"power x latency, {pw.power_w:g} W ({pw.basis.value})"
    return (f"(idle + (max - idle) x utilisation) x latency per op, idle {pw.idle_w:g} W, "
            f"max {pw.power_w:g} W ({pw.basis.value})")


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
    Energy (mJ): per op, idle + utilisation-scaled dynamic power x its time.
    """
    mode = attention_mode_of(attention_mode) if attention_mode is not None \
        else platform.attention_mode
    if trace is not None:
        spec = trace.spec
    density, density_text = _resolve_density(sparsity, trace)
    ops = platform_operators(spec, batch=batch, attention_mode=mode, kept_density=density,
                             precision=platform.precision)
    times, bounds, energies = [], [], []
    for op in ops:
        seconds, bound = op_time_s(op, platform)
        times.append(seconds * 1e3)
        bounds.append(bound)
        energies.append(op_energy_j(op, platform, seconds) * 1e3)
    operators = aggregate_times(ops, times, bounds, energies)
    latency_ms = math.fsum(times)
    return BaselineResult(
        baseline=platform.name, kind=BaselineKind.ROOFLINE, model=spec.name, batch=batch,
        latency_ms=latency_ms, energy_mj=math.fsum(energies),
        operators=operators,
        provenance={
            "device": platform.device,
            "attention_mode": mode.value,
            "kept_density": density_text,
            "precision": platform.precision.value,
            "energy": energy_basis(platform),
            "dispatch": f"{platform.dispatch_us_per_op:g} us per op, launch "
                        f"{platform.kernel_launch_us:g} us per kernel, "
                        + ("overlapped (asynchronous)" if platform.asynchronous
                           else "added (synchronous)"),
            "efficiency": "assumed per operator class (see the platform preset)",
        },
    )


