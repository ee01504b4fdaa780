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


# Rows are pruned in slices of about this many entries, so that the temporaries of a large
# block (ViT-H/14 at 518 px: 16 x 1370 x 1370) stay a few MB and in cache.
_SLICE_ENTRIES = 1 << 20
# First guess of how many of a row's largest entries the info cut-off needs (a fraction of
# the row, at least _MIN_TOP); rows whose mass is not reached try 4x as many, then sort fully.
_TOP_FRACTION = 8
_MIN_TOP = 32
# Relative rounding slack of a float64 running sum: past the first m entries, every "mass
# before" is at least the sum of the m largest times (1 - this).
_SUM_SLACK = 1e-12


def _info_rows_sorted(rows: np.ndarray, cutoff: float) -> np.ndarray:
    """The info policy on rows ``[r, n]`` by a full stable sort (the reference)."""
    order = np.argsort(-rows, axis=-1, kind="stable")
    ranked = np.take_along_axis(rows, order, axis=-1).astype(np.float64)
    before = np.cumsum(ranked, axis=-1) - ranked
    kept = np.zeros(rows.shape, dtype=bool)
    np.put_along_axis(kept, order, before < cutoff, axis=-1)
    return kept


def _info_rows(rows: np.ndarray, cutoff: float) -> np.ndarray:
    """Kept entries of rows ``[r, n]`` under the info cut-off, as :func:`_info_rows_sorted`
    gives them, bit for bit, without sorting whole rows.

    The ``m`` largest values of a row (``np.partition``, then sorted) are the first ``m`` of
    its sorted order, whatever the ties, so their running sum and "mass before" are the
    sorted order's own. A row is settled when the kept positions among them are a prefix
    of length ``k`` and the mass of all ``m`` reaches the cut-off (every later entry has at
    least that much before it). Its kept set is then the ``k`` largest entries with ties
    at the boundary broken towards lower columns, as the stable sort breaks them. Other
    rows try a larger ``m``, and at last the full sort.
    """
    n_rows, n = rows.shape
    kept = np.zeros((n_rows, n), dtype=bool)
    todo = np.arange(n_rows)
    m = min(n, max(_MIN_TOP, -(-n // _TOP_FRACTION)))
    while todo.size and m < n:
        sub = rows[todo]
        neg_top = np.partition(-sub, m - 1, axis=1)[:, :m]
        neg_top.sort(axis=1)
        ranked = -neg_top.astype(np.float64)
        running = np.cumsum(ranked, axis=1)
        kept_sorted = (running - ranked) < cutoff
        k = kept_sorted.sum(axis=1)
        # a prefix: no kept position after the first dropped one
        first_dropped = np.where(kept_sorted.all(axis=1), m, np.argmin(kept_sorted, axis=1))
        settled = (k == first_dropped) & (k < m) & (running[:, -1] * (1 - _SUM_SLACK) >= cutoff)
        idx = np.flatnonzero(settled & (k > 0))
        if idx.size:
            vals = sub[idx]
            kk = k[idx]
            t = -neg_top[idx, kk - 1]  # the k-th largest value
            above = vals > t[:, None]
            ties = vals == t[:, None]
            need = kk - above.sum(axis=1)
            crowded = np.flatnonzero(ties.sum(axis=1) > need)
            if crowded.size:  # more ties than places: the lowest columns win
                rank = np.cumsum(ties[crowded], axis=1)
                ties[crowded] &= rank <= need[crowded, None]
            kept[todo[idx]] = above | ties
        todo = todo[~settled]
        m = min(n, 4 * m)
    if todo.size:
        kept[todo] = _info_rows_sorted(rows[todo], cutoff)
    return kept


def prune_info(probs: np.ndarray, cutoff: float, *, keep_cls: bool = True) -> np.ndarray:
    """ViTCoD's info cut-off: keep the largest entries until their mass reaches ``cutoff``.

    Exactly the kept set of a stable descending sort of each row (ties towards lower
    columns), found by partial selection (:func:`_info_rows`)."""
    if not 0.0 <= cutoff <= 1.0:
        raise VitsimError(f"info cut-off must be in [0, 1], got {cutoff}", field="cutoff")
    probs = _check_probs(probs)
    n = probs.shape[-1]
    flat = probs.reshape(-1, n)
    kept = np.empty(flat.shape, dtype=bool)
    step = max(1, _SLICE_ENTRIES // max(n, 1))
    for r0 in range(0, flat.shape[0], step):
        kept[r0:r0 + step] = _info_rows(flat[r0:r0 + step], cutoff)
    return _apply_cls(kept.reshape(probs.shape), keep_cls)


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
        probs = _check_probs(probs)
        h, nq, nk = probs.shape
        total += h * nq * nk
        # The "mass before" values need the sorted values only, not the order: a plain
        # (unstable) sort of each row gives the same values as the stable argsort, at a
        # fraction of the cost. One head at a time keeps the temporaries small.
        for hi in range(h):
            head = probs[hi]
            ranked = -np.sort(-head, axis=-1).astype(np.float64)
            before = np.cumsum(ranked, axis=-1) - ranked
            if keep_cls and has_cls:
                # Exclude the forced entries from the quantile; they are kept at any
                # cut-off: the CLS row, and in every other row the CLS column, which the
                # stable order puts first among its ties, i.e. after the larger entries.
                free = np.ones(before.shape, dtype=bool)
                free[0, :] = False
                cls_pos = np.count_nonzero(head > head[:, :1], axis=1)
                free[np.arange(1, nq), cls_pos[1:]] = False
                forced += int(before.size - np.count_nonzero(free))
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
