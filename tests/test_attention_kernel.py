"""The attention kernel (vitsim.simulator.kernels.attention, through
``attention.kernel_fields``) against its twin, ``attention.attention_core`` in numpy, bit for
bit: every per-head field and the tile sequence, on random designs and on traces of three
shapes; a design the numpy function rejects is one the kernel hands back (None)."""

from __future__ import annotations

import numpy as np
import pytest
from test_prepared import random_hardware

from vitsim.errors import VitsimError
from vitsim.hw_configs.loader import apply_overrides, load_hardware
from vitsim.hw_configs.schema import SparseDataflow
from vitsim.simulator.attention import (
    HEAD_FIELDS,
    AttentionFields,
    attention_core,
    kernel_fields,
    unit_view,
)
from vitsim.simulator.kernels import heads_sparse_every_split, heads_split_rows_every_split
from vitsim.simulator.prepared import attention_inputs, prepare
from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.pipeline import trace_synthetic


@pytest.fixture(scope="module")
def prepared_traces() -> dict:
    return {name: prepare(trace_synthetic(get_spec(name), sparsity=s, seed=seed))
            for name, s, seed in (("deit-tiny", 0.9, 0), ("levit-128", 0.7, 1),
                                  ("deit-small", 0.95, 3))}


def _both(hw, g):
    """(kernel's fields or None, numpy's fields or its error) of one block group."""
    _, n_global, s_nnz, rows, cols, col_offsets = attention_inputs(hw, g)
    n_blocks = g.layers.shape[0]
    try:
        want = AttentionFields.of(attention_core(hw, g.block, n_blocks, n_global, s_nnz, rows,
                                                 g.row_offsets, g.max_row, cols, col_offsets))
    except VitsimError as err:
        want = err
    view = unit_view(hw, g.block, n_blocks, rows, g.row_offsets, cols, col_offsets, {})
    k_stationary = hw.engines.sparse.dataflow is SparseDataflow.K_STATIONARY
    stationary = (cols, col_offsets) if k_stationary else (rows, g.row_offsets)
    got = kernel_fields(hw, g.block, n_blocks, n_global, s_nnz, g.max_row, view, stationary)
    return got, want


def _assert_same(got: AttentionFields, want: AttentionFields) -> None:
    assert got.fields.shape == want.fields.shape
    for name, x, y in zip(HEAD_FIELDS, got.fields, want.fields, strict=True):
        assert x.tobytes() == y.tobytes(), name
    assert (got.encode_macs, got.heads_in_parallel) == (want.encode_macs, want.heads_in_parallel)
    a, b = got.tiles, want.tiles
    assert (a.heads_per_unit, a.n_blocks, a.double_buffered) == \
        (b.heads_per_unit, b.n_blocks, b.double_buffered)
    for name in ("unit_first", "unit_tiles", "tile_offsets"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    for name in ("head_load_bytes", "tile_compute", "tile_store_bytes"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name


@pytest.mark.parametrize("model", ["deit-tiny", "levit-128", "deit-small"])
def test_kernel_matches_numpy_on_random_designs(prepared_traces, model) -> None:
    rng = np.random.default_rng(7)
    p = prepared_traces[model]
    modelled = rejected = 0
    for hw in random_hardware(rng, 80):
        for g in p.groups:
            got, want = _both(hw, g)
            if not hw.lines_shared:
                assert got is None
                continue
            if isinstance(want, VitsimError):
                assert got is None, str(want)
                rejected += 1
                continue
            assert got is not None
            _assert_same(got, want)
            modelled += 1
    assert modelled >= 40  # most designs share their lines; the test must exercise them


@pytest.mark.parametrize("overrides", [
    ["allocation.policy=search"],
    ["allocation.policy=search", "engines.sparse.dataflow=rows",
     "engines.sparse.row_policy=balanced"],
    ["allocation.policy=search", "engines.sparse.dataflow=rows",
     "engines.sparse.row_policy=greedy"],
    ["engines.sparse.dataflow=rows", "engines.sparse.row_policy=round_robin",
     "schedule.max_heads_in_parallel=2"],
    ["codec.decoder_placement=dedicated", "buffers.k.size_kib=8", "buffers.q.size_kib=8"],
    ["codec.enabled=false", "schedule.double_buffering=false", "data_bits=12"],
    ["schedule.polarization=false", "allocation.policy=static",
     "allocation.static_dense_fraction=0.3"],
])
def test_kernel_matches_numpy_on_each_policy(prepared_traces, overrides) -> None:
    hw = apply_overrides(load_hardware("vitcod"), overrides)
    for p in prepared_traces.values():
        for g in p.groups:
            got, want = _both(hw, g)
            assert got is not None and not isinstance(want, VitsimError)
            _assert_same(got, want)


@pytest.mark.parametrize("overrides", [
    ["buffers.q.size_kib=0.05"],  # not one query row fits
    ["mac_array.n_lines=1"],  # one line cannot be split between the engines
])
def test_kernel_hands_back_what_numpy_rejects(prepared_traces, overrides) -> None:
    hw = apply_overrides(load_hardware("vitcod"), overrides)
    g = prepared_traces["deit-tiny"].groups[0]
    got, want = _both(hw, g)
    assert isinstance(want, VitsimError) and got is None


def test_memoised_loads_are_the_every_split_kernels(prepared_traces) -> None:
    """The loads the kernel memoises point by point (any split, any order) are those the
    split search's every-split kernels give for the same line counts, and a point read from
    the memo equals the same point on a fresh view."""
    p = prepared_traces["deit-small"]
    g = p.groups[0]
    _, n_global, s_nnz, rows, cols, col_offsets = attention_inputs(load_hardware("vitcod"), g)
    views: dict = {}
    rng = np.random.default_rng(3)
    for hw in random_hardware(rng, 60):
        if not hw.lines_shared or not hw.schedule.polarization:
            continue
        hw = apply_overrides(hw, ["engines.sparse.dataflow=k_stationary"])
        n_blocks = g.layers.shape[0]
        view = unit_view(hw, g.block, n_blocks, rows, g.row_offsets, cols, col_offsets, views)
        got = kernel_fields(hw, g.block, n_blocks, n_global, s_nnz, g.max_row, view,
                            (cols, col_offsets))
        fresh = unit_view(hw, g.block, n_blocks, rows, g.row_offsets, cols, col_offsets, {})
        want = kernel_fields(hw, g.block, n_blocks, n_global, s_nnz, g.max_row, fresh,
                             (cols, col_offsets))
        assert (got is None) == (want is None)
        if got is not None:
            _assert_same(got, want)
    assert views
    for view in views.values():
        qk, sv = view.load_memo(0)
        n_lines = qk.shape[1] - 1
        every_qk = heads_sparse_every_split(view.cols[0], view.cols[1], n_lines)
        every_sv = heads_split_rows_every_split(view.rows[0], view.rows[1], n_lines)
        known = qk >= 0
        assert known.any() and np.array_equal(qk[known], every_qk[known])
        known = sv >= 0
        assert known.any() and np.array_equal(sv[known], every_sv[known])
