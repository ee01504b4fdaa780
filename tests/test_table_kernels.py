"""The stage-table kernels (vitsim.simulator.kernels.table) against their twins: numpy itself
for the sums (the kernel must give ``ndarray.sum``'s floats, bit for bit), and plain numpy
expressions for the placing and the pricing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vitsim.simulator.kernels.sums import pairwise_sum
from vitsim.simulator.kernels.table import (
    linear_rows_at,
    place_group,
    place_head_bandwidth,
    price_rows,
    table_sums,
)
from vitsim.simulator.kernels.timeline import tile_timeline

HYPOTHESIS = settings(max_examples=200, deadline=None)
finite = st.floats(-1e12, 1e12, allow_nan=False, allow_infinity=False)


def same(x: float, y: float) -> bool:
    """The same float, bit for bit (0.0 and -0.0 differ)."""
    return float(x).hex() == float(y).hex()


@HYPOTHESIS
@given(values=st.lists(finite, max_size=700))
def test_pairwise_sum_is_numpy_sum(values):
    a = np.array(values, dtype=np.float64)
    assert same(pairwise_sum(a), a.sum())


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 127, 128, 129, 255, 256, 257, 686, 1000,
                               4097, 20_001])
def test_pairwise_sum_is_numpy_sum_at_the_block_edges(n):
    rng = np.random.default_rng(n)
    a = rng.standard_normal(n) * 10.0 ** rng.uniform(-6, 9, n)
    assert same(pairwise_sum(a), a.sum())
    m = np.ascontiguousarray(np.stack([a, -a * 3.7, a * a]))
    for row, want in zip(m, m.sum(axis=1), strict=True):  # a matrix's rows, as axis=1 sums
        assert same(pairwise_sum(row), want)
    strided = m[:, ::2] if n else m
    for row, want in zip(strided, strided.sum(axis=1), strict=True):
        assert same(pairwise_sum(row), want)


def test_pairwise_sum_differs_from_a_running_sum():
    """The test above could not tell the kernel from a plain loop if both rounded alike."""
    a = np.full(1000, 0.1)
    running = 0.0
    for x in a:
        running += x
    assert pairwise_sum(a) == a.sum() != running


@HYPOTHESIS
@given(n_col=st.integers(1, 6), n_blocks=st.integers(0, 4), n_scalar=st.integers(0, 4),
       n_stage=st.integers(0, 3), n_heads=st.integers(0, 5), seed=st.integers(0, 2**16))
def test_place_group_is_fancy_assignment(n_col, n_blocks, n_scalar, n_stage, n_heads, seed):
    rng = np.random.default_rng(seed)
    n_rows = n_blocks * n_scalar + n_stage * n_heads
    dest = rng.permutation(n_rows)
    scalar_dest = dest[:n_blocks * n_scalar].reshape(n_blocks, n_scalar).astype(np.int64)
    head_dest = dest[n_blocks * n_scalar:].reshape(n_stage, n_heads).astype(np.int64)
    scalars = rng.standard_normal((n_col, n_scalar))
    heads = rng.standard_normal((n_col, n_stage, n_heads))
    got = np.full((n_col, n_rows), np.nan)
    place_group(got, scalars, scalar_dest, heads, head_dest)
    want = np.full((n_col, n_rows), np.nan)
    for b in range(n_blocks):
        want[:, scalar_dest[b]] = scalars
    want[:, head_dest.reshape(-1)] = heads.reshape(n_col, -1)
    assert np.array_equal(got, want)


def _matrix(rng, n_rows):
    """A stage matrix of 16 columns: 0-3 ops, 4-5 DRAM, 6 cycles, 7-9 reads, 10-12 writes,
    13-14 lines, 15 spare; columns 0-5 and 7-14 integer-valued after truncation."""
    m = rng.uniform(0, 1e6, (16, n_rows))
    m[13:15] = rng.integers(0, 64, (2, n_rows))
    return m


COLS = np.array([0, 1, 2, 3, 4, 5, 6, 7, 10, 13, 14, 0, 1], dtype=np.int64)
INTEGER = np.array([*range(6), *range(7, 15)], dtype=np.int64)


@pytest.mark.parametrize("n_rows", [0, 1, 9, 130, 686])
def test_price_rows_and_table_sums_match_numpy(n_rows):
    rng = np.random.default_rng(n_rows)
    values = _matrix(rng, n_rows)
    ops = rng.uniform(0.1, 5, 4)
    sram = rng.uniform(0.01, 2, (2, 3))
    want_values = values.copy()
    want_values[INTEGER] = np.trunc(want_values[INTEGER])
    energy = price_rows(values, INTEGER, COLS, 3, ops, sram, 12.5, 0.3)
    assert np.array_equal(values, want_values)  # truncated in place
    v = want_values
    want = np.empty((9, n_rows))
    want[0] = v[0] * ops[0]
    want[1:4] = v[1:4] * ops[1:, None]
    want[4:7] = v[7:10] * sram[0][:, None] + v[10:13] * sram[1][:, None]
    want[7] = (v[4] + v[5]) * 12.5
    want[8] = v[6] * 0.3
    assert energy.tobytes() == want.tobytes()

    att = np.flatnonzero(rng.random(n_rows) < 0.4)
    scope = np.flatnonzero(rng.random(n_rows) < 0.5)
    every = np.arange(16, dtype=np.int64)
    sums, comp, extra = table_sums(values, energy, every, COLS, 8, att, scope)
    assert sums.tobytes() == v.sum(axis=1).tobytes()
    some = np.array([6, 0, 4], dtype=np.int64)
    assert table_sums(values, energy, some, COLS, 8, att, scope)[0].tolist() == [
        v[6].sum(), v[0].sum(), v[4].sum()]
    assert comp.tobytes() == energy.sum(axis=1).tobytes()
    row_energy = energy[0, scope].copy()
    for k in range(1, energy.shape[0]):
        row_energy += energy[k, scope]
    want_extra = [v[6, att].sum(), (v[13, att] * 8 * v[6, att]).sum(),
                  (v[14, att] * 8 * v[6, att]).sum(), v[0, att].sum(), v[1, att].sum(),
                  v[6, scope].sum(), row_energy.sum(), v[4, scope].sum(), v[5, scope].sum()]
    assert extra.tolist() == want_extra


@HYPOTHESIS
@given(n_gemms=st.integers(0, 4), seed=st.integers(0, 2**16), bpc=st.floats(0.05, 200.0),
       double_buffered=st.booleans())
def test_linear_rows_at_matches_per_gemm_timelines(n_gemms, seed, bpc, double_buffered):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 6, n_gemms)
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    n_tiles = int(offsets[-1])
    loads, stores = rng.uniform(0, 1e5, n_tiles), rng.uniform(0, 1e4, n_tiles)
    compute = rng.uniform(0, 1e4, n_tiles)
    n_rows = 3 + n_gemms + 2
    base = rng.uniform(0, 1e6, (6, n_rows))
    gemm_row = np.arange(n_gemms, dtype=np.int64)
    gemm_of = rng.permutation(n_gemms).astype(np.int64)
    bound = rng.uniform(0, 1e5, n_gemms)
    dram = rng.integers(0, 10**7, n_gemms)
    vector_row = np.array([n_gemms, n_gemms + 2], dtype=np.int64)
    cycles = rng.uniform(0, 1e4, 2).round()
    vdram = rng.integers(0, 10**6, 2)
    cols = np.array([1, 2, 4], dtype=np.int64)
    rows, totals, stalls = linear_rows_at(base, loads, compute, stores, offsets,
                                          double_buffered, bpc, cols, gemm_row, gemm_of, bound,
                                          dram, vector_row, cycles, vdram)
    want = base.copy()
    for i in range(n_gemms):
        a, b = offsets[gemm_of[i]], offsets[gemm_of[i] + 1]
        total, stall, _ = tile_timeline(loads[a:b] / bpc, compute[a:b], stores[a:b] / bpc,
                                        double_buffered)
        want[1, i], want[2, i], want[4, i] = stall, total, max(bound[i], dram[i] / bpc)
        assert (totals[gemm_of[i]], stalls[gemm_of[i]]) == (total, stall)
    for r, c, d in zip(vector_row, cycles, vdram, strict=True):
        total = max(float(c), int(d) / bpc)
        want[1, r], want[2, r], want[4, r] = total - c, total, total
    assert rows.tobytes() == want.tobytes()
    assert not np.shares_memory(rows, base)


@HYPOTHESIS
@given(n_heads=st.integers(0, 20), seed=st.integers(0, 2**16), bpc=st.floats(0.05, 200.0))
def test_place_head_bandwidth_is_the_array_expression(n_heads, seed, bpc):
    rng = np.random.default_rng(seed)
    dest = rng.permutation(2 * n_heads).astype(np.int64)
    qk_dest, sv_dest = dest[:n_heads].copy(), dest[n_heads:].copy()
    stall, busy = rng.uniform(0, 1e4, n_heads), rng.integers(0, 10**6, n_heads).astype(float)
    qk_bound, sv_bound = rng.uniform(0, 1e5, n_heads), rng.uniform(0, 1e5, n_heads)
    qk_dram, sv_dram = rng.uniform(0, 1e7, n_heads), rng.integers(0, 10**7, n_heads)
    cols = np.array([0, 2, 3], dtype=np.int64)
    got = rng.uniform(0, 1, (5, 2 * n_heads))
    want = got.copy()
    place_head_bandwidth(got, qk_dest, sv_dest, cols, stall, busy, qk_bound, qk_dram,
                         sv_bound, sv_dram, bpc)
    want[0, qk_dest] = stall
    want[2, qk_dest] = busy + stall
    want[3, qk_dest] = np.maximum(qk_bound, qk_dram / bpc)
    want[3, sv_dest] = np.maximum(sv_bound, sv_dram / bpc)
    assert got.tobytes() == want.tobytes()
