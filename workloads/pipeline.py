"""The workload pipeline as plain calls: masks or probabilities in, a WorkloadTrace out.

    spec = get_spec("deit-tiny")
    trace = trace_mask_file("info_0.95.npy", spec, convention="pruned")
    trace = trace_synthetic(spec, sparsity=0.9, seed=0)
"""

from __future__ import annotations

from pathlib import Path

from vitsim.errors import VitsimError
from vitsim.workloads.attention_maps import load_attention_maps
from vitsim.workloads.masks import MaskConvention, load_masks
from vitsim.workloads.model_spec import ModelSpec
from vitsim.workloads.prune import prune_info, search_info_cutoff
from vitsim.workloads.trace import PolarizePolicy, WorkloadTrace, build_trace


def check_sparsity(sparsity: float, *, source: str = "--sparsity") -> float:
    if not (isinstance(sparsity, (int, float)) and 0.0 <= float(sparsity) < 1.0):
        raise VitsimError(f"sparsity must be in [0, 1), got {sparsity}", source=source)
    return float(sparsity)


def trace_mask_file(
    path: str | Path,
    spec: ModelSpec,
    *,
    convention: MaskConvention | str = MaskConvention.PRUNED,
    policy: PolarizePolicy | None = None,
) -> WorkloadTrace:
    """Trace a fixed mask from a file (ViTCoD's ``.npy`` or vitsim's ``.npz``)."""
    masks = load_masks(path, spec, convention=convention)
    meta = {"source": {"kind": "mask_file", "path": str(path),
                       "convention": MaskConvention(convention).value}}
    return build_trace(spec, masks.blocks(), policy=policy, meta=meta)


def trace_attention_maps(
    path: str | Path,
    spec: ModelSpec,
    *,
    sparsity: float,
    keep_cls: bool = True,
    policy: PolarizePolicy | None = None,
) -> WorkloadTrace:
    """Prune captured attention probabilities with ViTCoD's info cut-off at ``sparsity``."""
    sparsity = check_sparsity(sparsity)
    maps = load_attention_maps(path, spec)
    pairs = list(zip(maps.blocks, (b.has_cls for b in spec.blocks), strict=True))
    cutoff = search_info_cutoff(lambda: iter(pairs), sparsity, keep_cls=keep_cls)
    kept = (prune_info(p, cutoff, keep_cls=keep_cls and cls) for p, cls in pairs)
    meta = {"source": {"kind": "attention_maps", "path": str(path)},
            "pruning": {"method": "info", "cutoff": cutoff, "target_sparsity": sparsity,
                        "keep_cls": keep_cls}}
    return build_trace(spec, kept, policy=policy, meta=meta)


def trace_synthetic(
    spec: ModelSpec,
    *,
    sparsity: float,
    seed: int = 0,
    keep_cls: bool = True,
    policy: PolarizePolicy | None = None,
) -> WorkloadTrace:
    """Trace synthetic attention (see :mod:`vitsim.workloads.synthetic`) pruned to ``sparsity``."""
    from vitsim.workloads.synthetic import SyntheticParams, synthetic_masks

    sparsity = check_sparsity(sparsity)
    params = SyntheticParams()
    cutoff, kept = synthetic_masks(spec, sparsity, seed, params=params, keep_cls=keep_cls)
    meta = {"source": {"kind": "synthetic", "seed": int(seed)},
            "pruning": {"method": "info", "cutoff": float(cutoff),
                        "target_sparsity": sparsity, "keep_cls": keep_cls}}
    return build_trace(spec, kept, policy=policy, meta=meta)


__all__ = ["check_sparsity", "trace_attention_maps", "trace_mask_file", "trace_synthetic"]
