"""Fixed masks from captured attention maps, with the workloads' pruning policies.

The policies themselves live in :mod:`vitsim.workloads.prune` (numpy) and are not repeated
here; this module chooses their strength for a whole model and moves masks between files and
models. With a target sparsity it uses ViTCoD's info cut-off with one cut-off for every head,
found by :func:`~vitsim.workloads.prune.search_info_cutoff` exactly as ``vitsim trace --maps``
does, so the masks a model is fine-tuned with are the masks the simulator traces.

Mask files are written as ``.npz`` with one bool ``block_<i>`` array ``[n_heads, n_q, n_k]``
per block in the *kept* convention: ``vitsim trace --mask FILE --convention kept`` reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vitsim.atomic import atomic_output
from vitsim.errors import VitsimError
from vitsim.workloads.masks import MaskConvention, load_masks
from vitsim.workloads.model_spec import ModelSpec
from vitsim.workloads.prune import PruneMethod, PruningPolicy, search_info_cutoff


@dataclass(frozen=True, eq=False)
class PrunedMasks:
    """Kept masks of every block (bool ``[n_heads, n_q, n_k]``) and how they were made."""

    blocks: tuple[np.ndarray, ...]
    policy: PruningPolicy
    target_sparsity: float | None = None

    def kept_density(self) -> float:
        kept = sum(int(b.sum()) for b in self.blocks)
        return kept / sum(b.size for b in self.blocks)

    def describe(self) -> dict[str, Any]:
        return {"method": self.policy.method.value, "param": float(self.policy.param),
                "keep_cls": self.policy.keep_cls, "target_sparsity": self.target_sparsity,
                "kept_density": self.kept_density()}


def _check_maps(maps: Sequence[np.ndarray], spec: ModelSpec) -> None:
    if len(maps) != spec.n_layers:
        raise VitsimError(f"{len(maps)} map blocks, model {spec.name} has {spec.n_layers}",
                          field="maps")
    for i, (m, b) in enumerate(zip(maps, spec.blocks, strict=True)):
        if np.shape(m) != (b.n_heads, b.n_q_tokens, b.n_k_tokens):
            raise VitsimError(f"shape {np.shape(m)} does not fit model {spec.name}",
                              field=f"block_{i}")


def prune_maps(
    maps: Sequence[np.ndarray],
    spec: ModelSpec,
    *,
    sparsity: float | None = None,
    policy: PruningPolicy | None = None,
    keep_cls: bool = True,
    rng: np.random.Generator | None = None,
) -> PrunedMasks:
    """Fixed kept masks from per-block attention probabilities ``[n_heads, n_q, n_k]``.

    Give either ``sparsity`` (ViTCoD's info cut-off, one cut-off for the model, chosen so the
    model's attention reaches that sparsity; CLS row and column kept when ``keep_cls`` and the
    block has a CLS token) or an explicit ``policy`` (info cut-off, top-k, threshold or random,
    see :class:`~vitsim.workloads.prune.PruningPolicy`; ``rng`` for random).
    """
    if (sparsity is None) == (policy is None):
        raise VitsimError("give a target sparsity or a pruning policy, not both or neither",
                          field="sparsity")
    _check_maps(maps, spec)
    pairs = [(np.asarray(m), b.has_cls) for m, b in zip(maps, spec.blocks, strict=True)]
    if sparsity is not None:
        cutoff = search_info_cutoff(lambda: iter(pairs), sparsity, keep_cls=keep_cls)
        policy = PruningPolicy(PruneMethod.INFO, cutoff, keep_cls=keep_cls)
    assert policy is not None
    kept = tuple(policy.apply(p, rng=rng, has_cls=cls) for p, cls in pairs)
    return PrunedMasks(kept, policy, sparsity)


def save_masks(path: str | Path, kept_blocks: Sequence[np.ndarray]) -> None:
    """Write kept masks as ``block_<i>`` bool arrays (kept convention), atomically."""
    arrays: dict[str, Any] = {f"block_{i}": np.asarray(b, dtype=bool)
                              for i, b in enumerate(kept_blocks)}
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)


def load_kept_masks(path: str | Path, spec: ModelSpec, *,
                    convention: MaskConvention | str = MaskConvention.KEPT
                    ) -> tuple[np.ndarray, ...]:
    """Kept masks for ``spec`` from any mask file the workloads read (``.npy`` or ``.npz``)."""
    return tuple(load_masks(path, spec, convention=convention).blocks())
