"""The info cut-off by partial selection equals the full stable sort, bit for bit, and the
cut-off search by value sorts equals the search by stable argsort (naive twins here)."""

from __future__ import annotations

import numpy as np
import pytest

from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.prune import _info_rows_sorted, prune_info, search_info_cutoff
from vitsim.workloads.synthetic import iter_block_probs


def _prune_info_naive(probs, cutoff, keep_cls):
    kept = _info_rows_sorted(probs.reshape(-1, probs.shape[-1]), cutoff).reshape(probs.shape)
    if keep_cls:
        kept[:, 0, :] = True
        kept[:, :, 0] = True
    return kept


def _search_naive(blocks, target, keep_cls=True, n_bins=1 << 20):
    hist = np.zeros(n_bins + 1, dtype=np.int64)
    forced = total = 0
    for probs, has_cls in blocks:
        order = np.argsort(-probs, axis=-1, kind="stable")
        ranked = np.take_along_axis(probs, order, axis=-1).astype(np.float64)
        before = np.cumsum(ranked, axis=-1) - ranked
        total += before.size
        if keep_cls and has_cls:
            free = order != 0
            free[:, 0, :] = False
            forced += int(before.size - free.sum())
            values = before[free]
        else:
            values = before.ravel()
        hist += np.bincount(np.minimum((values * n_bins).astype(np.int64), n_bins),
                            minlength=n_bins + 1)
    target_kept = (1.0 - target) * total - forced
    if target_kept <= 0:
        return 0.0
    cumulative = np.concatenate([[0], np.cumsum(hist)])
    b = int(np.searchsorted(cumulative, target_kept, side="left"))
    if b > 0 and abs(cumulative[b - 1] - target_kept) < abs(cumulative[min(b, n_bins + 1)]
                                                            - target_kept):
        b -= 1
    return min(b / n_bins, 1.0)


def _tied_probs(rng, shape, levels):
    """Rows summing to 1 with many exact ties (values on a coarse grid)."""
    w = rng.integers(1, levels + 1, size=shape).astype(np.float32) ** 3
    w[rng.random(shape) < 0.3] = 0
    w[..., 0] += 1
    return (w / w.sum(axis=-1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("levels", [2, 5, 50])
@pytest.mark.parametrize("n", [3, 40, 197, 700])
def test_partial_selection_equals_the_stable_sort_with_ties(rng, levels, n):
    probs = _tied_probs(rng, (3, min(n, 64), n), levels)
    for cutoff in (0.0, 0.05, 0.3, 0.5, 0.9, 0.999, 1.0):
        for keep_cls in (True, False):
            assert np.array_equal(prune_info(probs, cutoff, keep_cls=keep_cls),
                                  _prune_info_naive(probs.copy(), cutoff, keep_cls))


@pytest.mark.parametrize(("model", "sparsity", "seed"), [
    ("deit-tiny", 0.9, 0), ("deit-small", 0.8, 1), ("levit-128", 0.95, 2),
    ("deit-tiny", 0.5, 3), ("deit-tiny", 0.99, 4),
])
def test_synthetic_blocks_prune_and_search_as_the_sorts_do(model, sparsity, seed):
    spec = get_spec(model)
    pairs = [(p, b.has_cls) for b, p in iter_block_probs(spec, seed)]
    cutoff = search_info_cutoff(lambda: iter(pairs), sparsity)
    assert cutoff == _search_naive(pairs, sparsity)
    for probs, has_cls in pairs:
        assert np.array_equal(prune_info(probs, cutoff, keep_cls=has_cls),
                              _prune_info_naive(probs.copy(), cutoff, has_cls))


def test_cutoff_search_with_ties_equals_the_stable_argsort(rng):
    pairs = [(_tied_probs(rng, (2, 17, 17), 3), True), (_tied_probs(rng, (2, 9, 9), 4), False)]
    for target in (0.0, 0.3, 0.6, 0.9, 0.97):
        assert search_info_cutoff(lambda: iter(pairs), target) == _search_naive(pairs, target)
