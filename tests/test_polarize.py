"""Polarization: closed-form cases, naive twins, invariants, and ViTCoD's real DeiT-Tiny mask."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vitsim.errors import VitsimError
from vitsim.workloads.masks import load_masks
from vitsim.workloads.model_spec import default_polarize_threshold, get_spec
from vitsim.workloads.polarize import global_tokens, global_tokens_for_fraction, polarize_head
from vitsim.workloads.trace import PolarizePolicy, build_trace

SETTINGS = settings(max_examples=50, deadline=None)

square_masks = st.integers(1, 12).flatmap(lambda n: hnp.arrays(np.bool_, (n, n)))
any_masks = st.tuples(st.integers(1, 12), st.integers(1, 12)).flatmap(
    lambda shape: hnp.arrays(np.bool_, shape))


# ------------------------------------------------------------------------------ naive twins


def naive_global_tokens(kept, threshold):
    n_q, n_k = kept.shape
    out = []
    for j in range(n_k):
        count = sum(1 for i in range(n_q) if kept[i, j])
        if count > threshold:
            out.append(j)
    return out


def naive_global_tokens_for_fraction(kept, fraction):
    n_q, n_k = kept.shape
    counts = [sum(1 for i in range(n_q) if kept[i, j]) for j in range(n_k)]
    total = sum(counts)
    if total == 0 or fraction == 0:
        return []
    chosen, mass = [], 0
    for j in sorted(range(n_k), key=lambda j: (-counts[j], j)):
        chosen.append(j)
        mass += counts[j]
        if mass >= fraction * total:
            break
    return sorted(chosen)


def naive_polarize(kept, global_idx, square):
    """perm, row_perm, and per-row CSR lists of both regions, by plain loops."""
    n_q, n_k = kept.shape
    g = sorted(set(int(j) for j in global_idx))
    perm = g + [j for j in range(n_k) if j not in g]
    row_perm = perm if square else list(range(n_q))
    dense, sparse = [], []
    for i in row_perm:
        d_row, s_row = [], []
        for pos, j in enumerate(perm):
            if kept[i, j]:
                (d_row if pos < len(g) else s_row).append(pos)
        dense.append(d_row)
        sparse.append(s_row)
    return perm, row_perm, dense, sparse


def _csr_rows(row_nnz, indices):
    out, start = [], 0
    for n in row_nnz:
        out.append([int(x) for x in indices[start:start + n]])
        start += n
    assert start == len(indices)
    return out


# ------------------------------------------------------------------------------ closed form


def test_closed_form_two_global_columns():
    kept = np.zeros((6, 6), dtype=bool)
    kept[:, 2] = True  # columns 2 and 4 kept by every query
    kept[:, 4] = True
    kept[1, 1] = kept[3, 5] = kept[5, 0] = True
    g = global_tokens(kept, threshold=3)
    assert g.tolist() == [2, 4]
    assert g.dtype == np.int32
    head = polarize_head(kept, g, square=True)
    assert head.n_global == 2
    assert head.perm.tolist() == [2, 4, 0, 1, 3, 5]
    assert head.row_perm.tolist() == [2, 4, 0, 1, 3, 5]
    # every permuted row has both global columns in the denser region
    assert head.dense_row_nnz.tolist() == [2] * 6
    assert head.dense_indices.tolist() == [0, 1] * 6
    # sparser region, rows in permuted order 2, 4, 0, 1, 3, 5; permuted columns of 1, 5, 0:
    # original row 1 keeps column 1 (position 3), row 3 column 5 (5), row 5 column 0 (2)
    assert head.sparse_row_nnz.tolist() == [0, 0, 0, 1, 1, 1]
    assert head.sparse_indices.tolist() == [3, 5, 2]
    assert (head.dense_nnz, head.sparse_nnz, head.kept) == (12, 3, 15)
    np.testing.assert_array_equal(head.permuted_mask(), kept[np.ix_(head.perm, head.perm)])


def test_non_square_keeps_row_order():
    kept = np.array([[1, 0, 1], [0, 0, 1]], dtype=bool)
    head = polarize_head(kept, np.array([2]), square=False)
    assert head.perm.tolist() == [2, 0, 1]
    assert head.row_perm.tolist() == [0, 1]
    assert head.dense_row_nnz.tolist() == [1, 1]
    assert head.sparse_row_nnz.tolist() == [1, 0]
    assert head.sparse_indices.tolist() == [1]


def test_no_global_tokens_is_all_sparse():
    kept = np.eye(4, dtype=bool)
    head = polarize_head(kept, np.zeros(0, dtype=np.int32), square=True)
    assert head.n_global == 0 and head.dense_nnz == 0 and head.sparse_nnz == 4
    assert head.perm.tolist() == [0, 1, 2, 3]


def test_fraction_closed_form():
    kept = np.zeros((4, 4), dtype=bool)
    kept[:, 3] = True  # 4
    kept[:3, 1] = True  # 3
    kept[0, 0] = True  # 1; total 8
    assert global_tokens_for_fraction(kept, 0.5).tolist() == [3]
    assert global_tokens_for_fraction(kept, 0.51).tolist() == [1, 3]
    assert global_tokens_for_fraction(kept, 1.0).tolist() == [0, 1, 3]
    assert global_tokens_for_fraction(kept, 0.0).tolist() == []
    assert global_tokens_for_fraction(np.zeros((3, 3), bool), 0.5).tolist() == []
    with pytest.raises(VitsimError, match="dense fraction"):
        global_tokens_for_fraction(kept, 1.5)


def test_global_tokens_needs_2d():
    with pytest.raises(VitsimError, match="n_q, n_k"):
        global_tokens(np.ones((2, 2, 2), dtype=bool), 1)


def test_default_threshold_scales_with_tokens():
    assert default_polarize_threshold(197) == 50
    assert default_polarize_threshold(394) == 100
    assert default_polarize_threshold(49) == 12  # 12.44 -> 12
    assert default_polarize_threshold(1370) == 348  # 347.7 -> 348


# ------------------------------------------------------------------------------ naive twins


@SETTINGS
@given(kept=any_masks, threshold=st.integers(0, 13))
def test_global_tokens_matches_naive_twin(kept, threshold):
    assert global_tokens(kept, threshold).tolist() == naive_global_tokens(kept, threshold)


@SETTINGS
@given(kept=any_masks, fraction=st.integers(0, 20).map(lambda f: f / 20))
def test_global_tokens_for_fraction_matches_naive_twin(kept, fraction):
    got = global_tokens_for_fraction(kept, fraction)
    assert got.tolist() == naive_global_tokens_for_fraction(kept, fraction)
    counts = kept.sum(axis=0)
    assert counts[got].sum() >= fraction * counts.sum()


def _check_head(kept, global_idx, square):
    head = polarize_head(kept, global_idx, square=square)
    perm, row_perm, dense, sparse = naive_polarize(kept, global_idx, square)
    assert head.perm.tolist() == perm
    assert head.row_perm.tolist() == row_perm
    assert _csr_rows(head.dense_row_nnz, head.dense_indices) == dense
    assert _csr_rows(head.sparse_row_nnz, head.sparse_indices) == sparse
    for arr in (head.perm, head.row_perm, head.dense_row_nnz, head.dense_indices,
                head.sparse_row_nnz, head.sparse_indices):
        assert arr.dtype == np.int32
    # invariants
    assert head.n_global == len(set(int(j) for j in global_idx))
    assert head.dense_nnz + head.sparse_nnz == int(kept.sum())
    assert sorted(head.perm.tolist()) == list(range(kept.shape[1]))
    np.testing.assert_array_equal(head.permuted_mask(), kept[np.ix_(head.row_perm, head.perm)])
    assert (head.dense_indices < head.n_global).all()
    assert (head.sparse_indices >= head.n_global).all()
    assert (head.sparse_indices < kept.shape[1]).all()
    return head


@SETTINGS
@given(kept=square_masks, threshold=st.integers(0, 12))
def test_polarize_square_matches_naive_twin(kept, threshold):
    _check_head(kept, global_tokens(kept, threshold), square=True)


@SETTINGS
@given(kept=any_masks, data=st.data())
def test_polarize_non_square_matches_naive_twin(kept, data):
    n_k = kept.shape[1]
    global_idx = np.array(sorted(data.draw(st.sets(st.integers(0, n_k - 1)))), dtype=np.int32)
    _check_head(kept, global_idx, square=False)


# ------------------------------------------------------------------------------ the real mask


@pytest.fixture
def real_kept(real_mask_path):
    return ~np.load(real_mask_path, allow_pickle=False)


def test_real_mask_global_tokens_match_vitcod(real_kept, real_global_tokens):
    assert real_global_tokens.shape == (12, 3)
    counts = np.array([[global_tokens(real_kept[layer, h], 50).size for h in range(3)]
                       for layer in range(12)])
    np.testing.assert_array_equal(counts, real_global_tokens.astype(np.int64))


def test_real_mask_trace_matches_vitcod(real_mask_path, real_kept, real_global_tokens):
    spec = get_spec("deit-tiny")
    masks = load_masks(real_mask_path, spec, convention="pruned")
    trace = build_trace(spec, masks.blocks(), policy=PolarizePolicy())
    np.testing.assert_array_equal(trace.attention.n_global.reshape(12, 3),
                                  real_global_tokens.astype(np.int32))
    assert f"{trace.kept_density():.4g}" == "0.05325"
    assert f"{masks.kept_density():.4g}" == "0.05325"
    assert trace.kept_density() == pytest.approx(real_kept.mean(), abs=1e-15)
    for layer, h, head in trace.heads():
        kept = real_kept[layer, h]
        assert kept[0, :].all() and kept[:, 0].all()  # CLS row and column kept
        assert head.kept == int(kept.sum())
        assert 0 in head.perm[:head.n_global]  # the CLS column is always global
        np.testing.assert_array_equal(head.permuted_mask(),
                                      kept[np.ix_(head.row_perm, head.perm)])
