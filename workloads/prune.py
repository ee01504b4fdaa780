"""Pruning attention probabilities into fixed masks.

All functions take one block's probabilities ``probs[n_heads, n_q, n_k]`` (rows summing to
about 1) and return a kept mask of the same shape (True = kept). Policies:

- ``info``: ViTCoD's information cut-off (You et al., HPCA 2023, Sec. 4.1): in each row keep
  the largest entries until their cumulative mass reaches ``cutoff`` (the entry that crosses
  the cut-off is kept).
- ``topk``: keep the ``k`` largest entries of each row.
- ``threshold``: keep every entry >= a global probability threshold.
- ``random``: keep each entry independently with probability ``density`` (ablations only).

With ``keep_cls`` (the default, as in ViTCoD) the CLS row and column (token 0) are always kept,
for blocks that have a CLS token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

import numpy as np

from vitsim.errors import VitsimError


class PruneMethod(str, Enum):
    INFO = "info"
    TOPK = "topk"
    THRESHOLD = "threshold"
    RANDOM = "random"


def _check_probs(probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs)
    if probs.ndim != 3:
        raise VitsimError(f"expected probabilities [heads, n_q, n_k], got shape {probs.shape}",
                          field="probs")
    return probs


def _apply_cls(kept: np.ndarray, keep_cls: bool) -> np.ndarray:
    if keep_cls:
        kept[:, 0, :] = True
        kept[:, :, 0] = True
    return kept


def sorted_mass_before(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the entries' order by descending probability and the mass *before* each.

    Returns ``(order, before)`` with ``before[..., j]`` the summed probability of the ``j``
    largest entries of the row; entry ``order[..., j]`` is kept by the info policy at cut-off
    ``c`` exactly when ``before[..., j] < c``.
    """
    probs = _check_probs(probs)
    # Stable sort on the negated values: ties keep the lower column first, so results are
    # reproducible across platforms.
    order = np.argsort(-probs, axis=-1, kind="stable")
    ranked = np.take_along_axis(probs, order, axis=-1).astype(np.float64)
    before = np.cumsum(ranked, axis=-1) - ranked
    return order, before


def prune_info(probs: np.ndarray, cutoff: float, *, keep_cls: bool = True) -> np.ndarray:
    """ViTCoD's info cut-off: keep the largest entries until their mass reaches ``cutoff``."""
    if not 0.0 <= cutoff <= 1.0:
        raise VitsimError(f"info cut-off must be in [0, 1], got {cutoff}", field="cutoff")
    order, before = sorted_mass_before(probs)
    kept_sorted = before < cutoff
    kept = np.zeros(order.shape, dtype=bool)
    np.put_along_axis(kept, order, kept_sorted, axis=-1)
    return _apply_cls(kept, keep_cls)


def prune_topk(probs: np.ndarray, k: int, *, keep_cls: bool = True) -> np.ndarray:
    """Keep the ``k`` largest entries of each row (ties broken towards lower columns)."""
    probs = _check_probs(probs)
    k = int(min(max(k, 0), probs.shape[-1]))
    order = np.argsort(-probs, axis=-1, kind="stable")[..., :k]
    kept = np.zeros(probs.shape, dtype=bool)
    np.put_along_axis(kept, order, True, axis=-1)
    return _apply_cls(kept, keep_cls)


def prune_threshold(probs: np.ndarray, threshold: float, *, keep_cls: bool = True) -> np.ndarray:
    """Keep every entry whose probability is at least ``threshold``."""
    probs = _check_probs(probs)
    return _apply_cls(probs >= threshold, keep_cls)


def prune_random(
    shape: tuple[int, int, int], density: float, rng: np.random.Generator, *,
    keep_cls: bool = True,
) -> np.ndarray:
    """Keep each entry independently with probability ``density`` (an ablation baseline)."""
    if not 0.0 <= density <= 1.0:
        raise VitsimError(f"density must be in [0, 1], got {density}", field="density")
    return _apply_cls(rng.random(shape) < density, keep_cls)


@dataclass(frozen=True)
class PruningPolicy:
    """How to turn probabilities into a mask, and at which strength.

    ``param`` is the cut-off (info), k (topk), threshold (threshold) or density (random).
    """

    method: PruneMethod = PruneMethod.INFO
    param: float = 0.9
    keep_cls: bool = True

    def apply(self, probs: np.ndarray, rng: np.random.Generator | None = None,
              has_cls: bool = True) -> np.ndarray:
        keep_cls = self.keep_cls and has_cls
        if self.method is PruneMethod.INFO:
            return prune_info(probs, self.param, keep_cls=keep_cls)
        if self.method is PruneMethod.TOPK:
            return prune_topk(probs, int(self.param), keep_cls=keep_cls)
        if self.method is PruneMethod.THRESHOLD:
            return prune_threshold(probs, self.param, keep_cls=keep_cls)
        if rng is None:
            raise VitsimError("random pruning needs a seeded generator", field="rng")
        return prune_random(np.shape(probs), self.param, rng, keep_cls=keep_cls)


def search_info_cutoff(
    blocks: Callable[[], Iterable[tuple[np.ndarray, bool]]],
    target_sparsity: float,
    *,
    keep_cls: bool = True,
    n_bins: int = 1 << 20,
) -> float:
    """The info cut-off at which the whole model reaches ``target_sparsity``.

    ``blocks()`` yields ``(probs, has_cls)`` per block (it is called once, so large models are
    streamed block by block). One cut-off serves all heads, as in ViTCoD: heads with peaked
    attention end up sparser than heads with flat attention.

    Entry ``j`` of a sorted row is kept iff the mass before it is below the cut-off, so the
    kept count at cut-off ``c`` is the number of "mass before" values below ``c``: a quantile.
    The values are histogrammed on ``n_bins`` bins of [0, 1] (the cut-off is exact to
    1 / n_bins), counting the CLS row and column, which are kept whatever the cut-off, apart.
    """
    if not 0.0 <= target_sparsity < 1.0:
        raise VitsimError(f"sparsity must be in [0, 1), got {target_sparsity}",
                          field="sparsity")
    hist = np.zeros(n_bins + 1, dtype=np.int64)
    forced = 0
    total = 0
    for probs, has_cls in blocks():
        order, before = sorted_mass_before(probs)
        h, nq, nk = before.shape
        total += h * nq * nk
        if keep_cls and has_cls:
            # Exclude the forced entries from the quantile; they are kept at any cut-off.
            # ``before`` is in sorted order, so the CLS column is where ``order`` is 0.
            free = order != 0
            free[:, 0, :] = False
            forced += int(before.size - free.sum())
            values = before[free]
        else:
            values = before.ravel()
        bins = np.minimum((values * n_bins).astype(np.int64), n_bins)
        hist += np.bincount(bins, minlength=n_bins + 1)
    if total == 0:
        raise VitsimError("no attention blocks to prune", field="blocks")
    target_kept = (1.0 - target_sparsity) * total - forced
    if target_kept <= 0:
        return 0.0
    # kept(c = b / n_bins) counts values in bins < b; the first entry of every row has mass 0
    # before it, so a cut-off of exactly 0 keeps nothing but the forced entries.
    cumulative = np.concatenate([[0], np.cumsum(hist)])
    b = int(np.searchsorted(cumulative, target_kept, side="left"))
    if b > 0 and abs(cumulative[b - 1] - target_kept) < abs(cumulative[min(b, n_bins + 1)]
                                                            - target_kept):
        b -= 1
    return min(b / n_bins, 1.0)
