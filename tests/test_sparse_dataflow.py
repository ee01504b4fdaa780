"""The sparser engine's K-stationary dataflow: the S V split-rows kernel against its naive
twin and closed forms, and the property that no head's time is set by one long row when its
columns are short."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vitsim.hw_configs.loader import apply_overrides, load_hardware
from vitsim.simulator.counts import STAGES
from vitsim.simulator.kernels import (
    INFEASIBLE_CYCLES,
    heads_split_rows_cycles,
    split_rows_line_loads,
    units_row_ends,
    units_split_rows_max_load,
)
from vitsim.simulator.simulate import simulate
from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.trace import build_trace


def naive_split_loads(rows: list[int], n_lines: int) -> list[int]:
    """Lay the scores end to end, cut into n_lines shares of ceil(total / n_lines); a row
    cut into k pieces adds k - 1 reductions to the line holding its last score."""
    total = sum(rows)
    if total == 0:
        return [0] * n_lines
    share = math.ceil(total / n_lines)
    owner = [i // share for i in range(total)]  # the line of every score
    loads = [owner.count(j) for j in range(n_lines)]
    pos = 0
    for c in rows:
        if c:
            lines = set(owner[pos:pos + c])
            loads[owner[pos + c - 1]] += len(lines) - 1
        pos += c
    return loads


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=30), st.integers(1, 12))
def test_split_rows_matches_its_naive_twin(rows, n_lines):
    got = split_rows_line_loads(np.array(rows, dtype=np.int64), 0, len(rows), n_lines)
    assert got.tolist() == naive_split_loads(rows, n_lines)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 40), max_size=30), max_size=4),
       st.lists(st.integers(0, 40), min_size=4, max_size=4))
def test_split_rows_from_row_ends_matches_its_naive_twin(units, n_lines):
    """The bisection over the rows' running ends gives the busiest line of the naive split
    (0 without work, the sentinel without lines)."""
    rows = np.array([c for unit in units for c in unit], dtype=np.int64)
    offsets = np.cumsum([0] + [len(unit) for unit in units]).astype(np.int64)
    lines = np.array(n_lines[:len(units)], dtype=np.int64)
    got = units_split_rows_max_load(units_row_ends(rows, offsets), offsets, lines)
    want = [0 if sum(unit) == 0 else INFEASIBLE_CYCLES if n == 0
            else max(naive_split_loads(unit, n)) for unit, n in zip(units, lines, strict=True)]
    assert got.tolist() == want


def test_a_row_split_over_k_lines_costs_its_share_plus_the_reduction():
    # One row of 30 scores on 3 lines: shares of 10, the row spans 3 lines -> 2 reductions
    # on the last line.
    loads = split_rows_line_loads(np.array([30], dtype=np.int64), 0, 1, 3)
    assert loads.tolist() == [10, 10, 12]
    # Rows that fit their shares exactly are never split.
    loads = split_rows_line_loads(np.array([5, 5, 5, 5], dtype=np.int64), 0, 4, 2)
    assert loads.tolist() == [10, 10]


def test_split_rows_cycles_per_unit():
    rows = np.array([30, 0, 4, 4], dtype=np.int64)
    offsets = np.array([0, 1, 4], dtype=np.int64)
    cyc = heads_split_rows_cycles(rows, offsets, np.array([3, 0], dtype=np.int64),
                                  np.array([2, 2], dtype=np.int64))
    assert cyc[0] == 12 * 2
    assert cyc[1] == INFEASIBLE_CYCLES


def _one_long_row_trace():
    """Every head: the CLS row keeps every key, the other rows a short diagonal band, so no
    key column is kept by many queries apart from CLS's own."""
    from vitsim.workloads.model_spec import spec_from_dict

    spec = spec_from_dict({"name": "tiny", "family": "vit", "embed_dim": 128, "depth": 1,
                           "n_heads": 2, "image_size": 112, "patch_size": 14})
    m = spec.n_tokens
    kept = np.zeros((1, 2, m, m), dtype=bool)
    idx = np.arange(m)
    for off in (-1, 0, 1):
        kept[:, :, idx, np.clip(idx + off, 0, m - 1)] = True
    kept[:, :, 0, :] = True
    return build_trace(spec, list(kept))


def test_no_head_is_set_by_its_longest_row_when_columns_are_short():
    trace = _one_long_row_trace()
    hw = load_hardware("vitcod")
    k_stat = simulate(trace, hw)
    rows = simulate(trace, apply_overrides(hw, ["engines.sparse.dataflow=rows"]))

    from vitsim.simulator.counts import STAGES

    def sparse_busy(result):
        st_ = result.stages
        mask = np.isin(np.array(STAGES)[st_.stage], ["qk", "sv"])
        return st_["sparse_busy_cycles"][mask].sum()

    # Whole rows on lines: the CLS row sets the time; K-stationary: the work spreads.
    assert sparse_busy(k_stat) < 0.5 * sparse_busy(rows)


def test_codec_lowers_attention_dram_bytes():
    from vitsim.simulator.counts import STAGES
    from vitsim.workloads.pipeline import trace_synthetic

    hw = load_hardware("vitcod")
    # DeiT-Base at the preset's 53 KiB K/V buffers: 4 heads' K and V fit, so its 12 heads run
    # in 3 groups; the compressed K and Q mix all heads and must pass once per group, 3 x 6/12
    # of the uncompressed bytes, so there the codec costs traffic (9.29 vs 7.47 MB; README).
    # With K/V buffers for a layer's heads it saves them.
    roomy = apply_overrides(hw, ["buffers.k.size_kib=160", "buffers.v.size_kib=160"])
    for model, h in (("deit-tiny", hw), ("deit-small", hw), ("deit-base", roomy)):
        trace = trace_synthetic(get_spec(model), sparsity=0.9, seed=0)

        def attention_dram(x, trace=trace):
            st_ = simulate(trace, x).stages
            mask = np.isin(np.array(STAGES)[st_.stage], ["decode", "qk", "softmax", "sv"])
            return (st_["dram_read_bytes"][mask] + st_["dram_write_bytes"][mask]).sum()

        on = attention_dram(h)
        off = attention_dram(apply_overrides(h, ["codec.enabled=false"]))
        # Q and K are 2 of the 4 tensors crossing DRAM (Q, K, V, output); compressing them
        # by h'/h = 1/2 (DeiT-Small 3 of 6, Base 6 of 12) saves about a quarter; DeiT-Tiny
        # keeps 2 of 3 heads, about a sixth.
        assert on < off, model
        assert on / off < (0.9 if model != "deit-tiny" else 0.95), model


def test_search_split_never_starves_an_engine_and_never_loses_to_proportional():
    # Regression: an engine without lines costs INFEASIBLE_CYCLES; scaled by the cycles per
    # score it once wrapped to a negative time, so the search gave the dense engine 0 lines.
    from vitsim.workloads.pipeline import trace_synthetic

    trace = trace_synthetic(get_spec("deit-tiny"), sparsity=0.9, seed=0)
    hw = load_hardware("vitcod")
    search = simulate(trace, apply_overrides(hw, ["allocation.policy=search"]))
    proportional = simulate(trace, hw)
    st_ = search.stages
    qk = st_.stage == STAGES.index("qk")
    has_dense = st_["dense_macs"][qk] > 0
    assert np.all(st_["dense_lines"][qk][has_dense] > 0)

    def engines_cycles(result):
        st_ = result.stages
        return st_["compute_cycles"][np.isin(st_.stage, [STAGES.index("qk"),
                                                         STAGES.index("sv")])].sum()

    assert engines_cycles(search) <= engines_cycles(proportional)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.integers(0, 30), max_size=25), min_size=1, max_size=4),
       st.integers(0, 20))
def test_every_split_kernels_equal_one_call_per_line_count(units, max_lines):
    """The split search's kernels (each unit sorted once, every line count) against the
    per-line-count kernels they replace."""
    from vitsim.simulator.kernels import (
        GREEDY,
        heads_sparse_cycles,
        heads_sparse_every_split,
        heads_split_rows_cycles,
        heads_split_rows_every_split,
    )

    values = np.array([c for u in units for c in u], dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum([len(u) for u in units]))).astype(np.int64)
    ones = np.ones(len(units), dtype=np.int64)
    qk = heads_sparse_every_split(values, offsets, max_lines)
    sv = heads_split_rows_every_split(values, offsets, max_lines)
    assert qk.shape == sv.shape == (len(units), max_lines + 1)
    for n_lines in range(max_lines + 1):
        lines = np.full(len(units), n_lines, dtype=np.int64)
        assert qk[:, n_lines].tolist() == heads_sparse_cycles(
            values, offsets, lines, ones, GREEDY).tolist()
        assert sv[:, n_lines].tolist() == heads_split_rows_cycles(
            values, offsets, lines, ones).tolist()
