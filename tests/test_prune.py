"""Pruning policies: closed-form cases, slow naive twins, monotonicity, and the cut-off search.

The naive twins loop over rows in plain Python. Hypothesis draws probabilities on a dyadic grid
(multiples of 1/64), so every partial sum is exact in floating point and the twins agree with
the vectorised code bit for bit, ties and cut-offs that land exactly on a partial sum included.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vitsim.errors import VitsimError
from vitsim.workloads.prune import (
    PruneMethod,
    PruningPolicy,
    prune_info,
    prune_random,
    prune_threshold,
    prune_topk,
    search_info_cutoff,
    sorted_mass_before,
)

GRID = 64  # probabilities are multiples of 1 / GRID in the hypothesis tests

probs_arrays = st.tuples(
    st.integers(1, 3), st.integers(1, 12), st.integers(1, 12)
).flatmap(
    lambda shape: hnp.arrays(np.int64, shape, elements=st.integers(0, 8)).map(
        lambda w: w / GRID)
)
cutoffs = st.integers(0, GRID).map(lambda c: c / GRID)
SETTINGS = settings(max_examples=50, deadline=None)


# ------------------------------------------------------------------------------ naive twins


def _rank(row) -> list[int]:
    """Columns by descending probability, ties towards lower columns."""
    return sorted(range(len(row)), key=lambda j: (-row[j], j))


def _with_cls(kept: np.ndarray, keep_cls: bool) -> np.ndarray:
    if keep_cls:
        for h in range(kept.shape[0]):
            for i in range(kept.shape[1]):
                for j in range(kept.shape[2]):
                    if i == 0 or j == 0:
                        kept[h, i, j] = True
    return kept


def naive_info(probs, cutoff, keep_cls):
    kept = np.zeros(probs.shape, dtype=bool)
    for h in range(probs.shape[0]):
        for i in range(probs.shape[1]):
            row = [float(p) for p in probs[h, i]]
            mass = 0.0
            for j in _rank(row):
                if mass < cutoff:  # the entry that crosses the cut-off is kept
                    kept[h, i, j] = True
                mass += row[j]
    return _with_cls(kept, keep_cls)


def naive_topk(probs, k, keep_cls):
    kept = np.zeros(probs.shape, dtype=bool)
    for h in range(probs.shape[0]):
        for i in range(probs.shape[1]):
            for j in _rank([float(p) for p in probs[h, i]])[:max(k, 0)]:
                kept[h, i, j] = True
    return _with_cls(kept, keep_cls)


def naive_threshold(probs, threshold, keep_cls):
    kept = np.zeros(probs.shape, dtype=bool)
    for h in range(probs.shape[0]):
        for i in range(probs.shape[1]):
            for j in range(probs.shape[2]):
                kept[h, i, j] = probs[h, i, j] >= threshold
    return _with_cls(kept, keep_cls)


def _dirichlet(rng, n_heads, n_q, n_k, alpha=1.0):
    return rng.dirichlet(np.full(n_k, alpha), size=(n_heads, n_q))


# ------------------------------------------------------------------------------ closed form


def test_info_cutoff_closed_form():
    row = np.array([[[0.2, 0.5, 0.3]]])  # sorted: 0.5, 0.3, 0.2; mass before: 0, 0.5, 0.8
    keep = lambda c: prune_info(row, c, keep_cls=False)[0, 0].tolist()  # noqa: E731
    assert keep(0.6) == [False, True, True]  # 0.5 < 0.6: 0.3 crosses the cut-off, kept
    assert keep(0.5) == [False, True, False]  # 0.5 is not below 0.5
    assert keep(0.81) == [True, True, True]
    assert keep(0.0) == [False, False, False]
    assert keep(1.0) == [True, True, True]


def test_info_cutoff_zero_keeps_only_cls(rng):
    probs = _dirichlet(rng, 2, 6, 6)
    kept = prune_info(probs, 0.0)
    expected = np.zeros_like(kept)
    expected[:, 0, :] = expected[:, :, 0] = True
    np.testing.assert_array_equal(kept, expected)
    assert not prune_info(probs, 0.0, keep_cls=False).any()


def test_info_cutoff_one_keeps_every_positive_entry(rng):
    probs = _dirichlet(rng, 3, 9, 9)
    assert prune_info(probs, 1.0, keep_cls=False).all()


def test_info_cutoff_out_of_range():
    with pytest.raises(VitsimError, match="cut-off"):
        prune_info(np.ones((1, 2, 2)) / 2, 1.5)
    with pytest.raises(VitsimError, match="cut-off"):
        prune_info(np.ones((1, 2, 2)) / 2, -0.1)


def test_probs_must_be_3d():
    with pytest.raises(VitsimError, match="heads, n_q, n_k") as info:
        prune_topk(np.ones((4, 4)), 1)
    assert info.value.field == "probs"


def test_sorted_mass_before_closed_form():
    order, before = sorted_mass_before(np.array([[[0.2, 0.5, 0.3]]]))
    assert order[0, 0].tolist() == [1, 2, 0]
    np.testing.assert_allclose(before[0, 0], [0.0, 0.5, 0.8])


def test_topk_closed_form():
    probs = np.array([[[0.1, 0.4, 0.1, 0.4], [0.25, 0.25, 0.25, 0.25]]])
    kept = prune_topk(probs, 2, keep_cls=False)[0]
    assert kept.tolist() == [[False, True, False, True], [True, True, False, False]]
    assert not prune_topk(probs, 0, keep_cls=False).any()
    assert prune_topk(probs, 99, keep_cls=False).all()


def test_threshold_closed_form():
    probs = np.array([[[0.1, 0.5, 0.4], [0.3, 0.3, 0.4], [0.2, 0.2, 0.6]]])
    kept = prune_threshold(probs, 0.4, keep_cls=False)[0]
    assert kept.tolist() == [[False, True, True], [False, False, True], [False, False, True]]
    kept = prune_threshold(probs, 0.4)[0]
    assert kept.tolist() == [[True, True, True], [True, False, True], [True, False, True]]


def test_random_is_seeded_and_keeps_cls():
    shape = (2, 40, 40)
    a = prune_random(shape, 0.3, np.random.default_rng(7))
    b = prune_random(shape, 0.3, np.random.default_rng(7))
    c = prune_random(shape, 0.3, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a[:, 0, :].all() and a[:, :, 0].all()
    expected = np.random.default_rng(7).random(shape) < 0.3
    np.testing.assert_array_equal(a[:, 1:, 1:], expected[:, 1:, 1:])
    assert abs(a[:, 1:, 1:].mean() - 0.3) < 0.05
    assert not prune_random(shape, 0.0, np.random.default_rng(0), keep_cls=False).any()
    assert prune_random(shape, 1.0, np.random.default_rng(0), keep_cls=False).all()
    with pytest.raises(VitsimError, match="density"):
        prune_random(shape, 1.2, np.random.default_rng(0))


def test_keep_cls(rng):
    probs = _dirichlet(rng, 2, 8, 8, alpha=0.2)
    for kept in (prune_info(probs, 0.3), prune_topk(probs, 1), prune_threshold(probs, 0.9)):
        assert kept[:, 0, :].all() and kept[:, :, 0].all()
    without = prune_topk(probs, 1, keep_cls=False)
    assert without.sum() == 2 * 8  # one per row, CLS not forced


def test_policy_dispatch(rng):
    probs = _dirichlet(rng, 2, 6, 6)
    np.testing.assert_array_equal(PruningPolicy(PruneMethod.INFO, 0.7).apply(probs),
                                  prune_info(probs, 0.7))
    np.testing.assert_array_equal(PruningPolicy(PruneMethod.TOPK, 2).apply(probs),
                                  prune_topk(probs, 2))
    np.testing.assert_array_equal(PruningPolicy(PruneMethod.THRESHOLD, 0.2).apply(probs),
                                  prune_threshold(probs, 0.2))
    # a block without CLS (LeViT) is never forced, whatever keep_cls says
    np.testing.assert_array_equal(PruningPolicy(PruneMethod.TOPK, 1).apply(probs, has_cls=False),
                                  prune_topk(probs, 1, keep_cls=False))
    random = PruningPolicy(PruneMethod.RANDOM, 0.5)
    np.testing.assert_array_equal(random.apply(probs, np.random.default_rng(3)),
                                  prune_random(probs.shape, 0.5, np.random.default_rng(3)))
    with pytest.raises(VitsimError, match="seeded generator"):
        random.apply(probs)


# ------------------------------------------------------------------------------ naive twins


@SETTINGS
@given(probs=probs_arrays, cutoff=cutoffs, keep_cls=st.booleans())
def test_info_matches_naive_twin(probs, cutoff, keep_cls):
    np.testing.assert_array_equal(prune_info(probs, cutoff, keep_cls=keep_cls),
                                  naive_info(probs, cutoff, keep_cls))


@SETTINGS
@given(probs=probs_arrays, k=st.integers(0, 14), keep_cls=st.booleans())
def test_topk_matches_naive_twin(probs, k, keep_cls):
    np.testing.assert_array_equal(prune_topk(probs, k, keep_cls=keep_cls),
                                  naive_topk(probs, k, keep_cls))


@SETTINGS
@given(probs=probs_arrays, threshold=cutoffs, keep_cls=st.booleans())
def test_threshold_matches_naive_twin(probs, threshold, keep_cls):
    np.testing.assert_array_equal(prune_threshold(probs, threshold, keep_cls=keep_cls),
                                  naive_threshold(probs, threshold, keep_cls))


def test_info_matches_naive_twin_on_float_rows(rng):
    for _ in range(20):
        probs = _dirichlet(rng, 2, 10, 10, alpha=float(rng.uniform(0.1, 2.0)))
        cutoff = float(rng.uniform())
        np.testing.assert_array_equal(prune_info(probs, cutoff), naive_info(probs, cutoff, True))


# ------------------------------------------------------------------------------ monotonicity


@SETTINGS
@given(probs=probs_arrays, a=cutoffs, b=cutoffs, keep_cls=st.booleans())
def test_larger_cutoff_keeps_a_superset(probs, a, b, keep_cls):
    lo, hi = min(a, b), max(a, b)
    kept_lo = prune_info(probs, lo, keep_cls=keep_cls)
    kept_hi = prune_info(probs, hi, keep_cls=keep_cls)
    assert not (kept_lo & ~kept_hi).any()


@SETTINGS
@given(probs=probs_arrays, a=st.integers(0, 12), b=st.integers(0, 12))
def test_larger_k_and_lower_threshold_keep_supersets(probs, a, b):
    lo, hi = min(a, b), max(a, b)
    assert not (prune_topk(probs, lo) & ~prune_topk(probs, hi)).any()
    assert not (prune_threshold(probs, hi / GRID) & ~prune_threshold(probs, lo / GRID)).any()


# ------------------------------------------------------------------------------ cut-off search


def _sparsity(blocks, cutoff, keep_cls=True):
    kept = sum(int(prune_info(p, cutoff, keep_cls=keep_cls and cls).sum()) for p, cls in blocks)
    return 1.0 - kept / sum(p.size for p, _ in blocks)


@pytest.mark.parametrize("has_cls", [True, False])
@pytest.mark.parametrize("target", [0.3, 0.5, 0.7, 0.8, 0.9])
def test_search_reaches_target_sparsity(rng, target, has_cls):
    blocks = [(_dirichlet(rng, 4, 64, 64, alpha=a), has_cls) for a in (0.1, 0.5, 1.0)]
    cutoff = search_info_cutoff(lambda: iter(blocks), target)
    assert 0.0 <= cutoff <= 1.0
    assert _sparsity(blocks, cutoff) == pytest.approx(target, abs=1e-3)


def test_search_with_mixed_blocks(rng):
    # a square CLS block beside a non-square block without CLS (LeViT-like subsampling)
    blocks = [(_dirichlet(rng, 3, 50, 50), True), (_dirichlet(rng, 5, 16, 49), False)]
    for target in (0.4, 0.75):
        cutoff = search_info_cutoff(lambda: iter(blocks), target)
        assert _sparsity(blocks, cutoff) == pytest.approx(target, abs=1e-3)


def test_search_is_monotone_in_the_target(rng):
    blocks = [(_dirichlet(rng, 3, 40, 40, alpha=0.3), True)]
    targets = np.linspace(0.0, 0.9, 19)
    cutoffs_found = [search_info_cutoff(lambda: iter(blocks), float(t)) for t in targets]
    assert (np.diff(cutoffs_found) <= 0).all()
    achieved = [_sparsity(blocks, c) for c in cutoffs_found]
    assert (np.diff(achieved) >= 0).all()


def test_search_unreachable_target_gives_zero_cutoff(rng):
    # 8 x 8 with CLS forced: 15 of 64 entries per head are kept whatever the cut-off
    blocks = [(_dirichlet(rng, 2, 8, 8), True)]
    assert search_info_cutoff(lambda: iter(blocks), 0.95) == 0.0
    assert _sparsity(blocks, 0.0) == pytest.approx(1 - 15 / 64)


def test_search_rejects_bad_targets(rng):
    blocks = [(_dirichlet(rng, 1, 4, 4), True)]
    for bad in (1.0, -0.1):
        with pytest.raises(VitsimError, match="sparsity") as info:
            search_info_cutoff(lambda: iter(blocks), bad)
        assert info.value.field == "sparsity"
    with pytest.raises(VitsimError, match="no attention blocks"):
        search_info_cutoff(lambda: iter([]), 0.5)
