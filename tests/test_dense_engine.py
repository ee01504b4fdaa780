"""The dense engine's GEMM timing: closed forms, SCALE-Sim v3 numbers, invariants, naive twins."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vitsim.errors import VitsimError
from vitsim.hw_configs.loader import apply_overrides, load_hardware
from vitsim.hw_configs.schema import Dataflow
from vitsim.simulator.dense_engine import (
    GemmTiming,
    dense_gemm,
    mac_lines_fill_cycles,
    mac_lines_gemm,
    systolic_fill_drain_per_fold,
    systolic_folds,
    systolic_gemm,
)

dims = st.integers(min_value=1, max_value=300)
array_dims = st.integers(min_value=1, max_value=64)
dataflows = st.sampled_from(["os", "ws"])


# --------------------------------------------------------------------------------------
# Closed forms, derived by hand
# --------------------------------------------------------------------------------------


def test_os_one_fold_4x4_array_4x4x4():
    # OS maps (M, N) = (4, 4) onto the 4 x 4 array: 1 fold. T = K = 4 streaming cycles;
    # skew + drain = rows + cols - 2 = 6. Total 10.
    t = systolic_gemm(4, 4, 4, rows=4, cols=4, dataflow="os")
    assert (t.compute_cycles, t.fill_drain_cycles, t.total_cycles) == (4, 6, 10)
    assert t.macs == 64
    assert t.mac_utilization == pytest.approx(64 / (10 * 16))
    # One fold reads A and B once, writes C once.
    assert (t.sram_reads_a_bytes, t.sram_reads_b_bytes, t.sram_writes_c_bytes) == (16, 16, 16)


def test_os_four_folds_4x4_array_8x8x8():
    # (M, N) = (8, 8) on 4 x 4: 2 x 2 = 4 folds of T = 8 + 6 cycles = 56.
    t = systolic_gemm(8, 8, 8, rows=4, cols=4, dataflow="os")
    assert (t.compute_cycles, t.fill_drain_cycles, t.total_cycles) == (32, 24, 56)
    # A (8 x 8) is streamed once per column fold (2), B once per row fold (2); C written once.
    assert (t.sram_reads_a_bytes, t.sram_reads_b_bytes, t.sram_writes_c_bytes) == (128, 128, 64)


def test_ws_one_fold_4x4_array_4x4x4():
    # WS maps (K, N) = (4, 4): 1 fold. T = M = 4; weight pre-load (rows) + skew (rows - 1)
    # + drain (cols - 1) = 2 * 4 + 4 - 2 = 10. Total 14.
    t = systolic_gemm(4, 4, 4, rows=4, cols=4, dataflow=Dataflow.WS)
    assert (t.compute_cycles, t.fill_drain_cycles, t.total_cycles) == (4, 10, 14)


def test_ws_four_folds_4x4_array_8x8x8():
    # (K, N) = (8, 8) on 4 x 4: 4 folds of T = M = 8 + 10 = 18 cycles = 72.
    t = systolic_gemm(8, 8, 8, rows=4, cols=4, dataflow="ws")
    assert (t.compute_cycles, t.fill_drain_cycles, t.total_cycles) == (32, 40, 72)
    # A (8 x 8) once per column fold (2); every weight loaded once (64); one partial-sum
    # write of C per K fold (2 x 64).
    assert (t.sram_reads_a_bytes, t.sram_reads_b_bytes, t.sram_writes_c_bytes) == (128, 64, 128)


# SCALE-Sim v3.0.0 runs (gemm topology, 64 MiB SRAMs, 1024 words/cycle, no stalls): its
# COMPUTE_REPORT "Total Cycles" is the index of the last busy cycle, i.e. our total - 1
# (see benchmarks/SCALESIM.md). Partial folds are padded to the full array, so the per-fold
# length uses rows and cols, not the fold's used dimensions.
@pytest.mark.parametrize(
    ("m", "k", "n", "rows", "cols", "dataflow", "scalesim_total"),
    [
        (4, 4, 4, 4, 4, "os", 9),
        (8, 8, 8, 4, 4, "os", 55),
        (5, 3, 7, 4, 4, "os", 35),
        (13, 9, 6, 4, 4, "os", 119),
        (4, 4, 4, 4, 4, "ws", 13),
        (8, 8, 8, 4, 4, "ws", 71),
        (5, 3, 7, 4, 4, "ws", 29),
        (13, 9, 6, 4, 4, "ws", 137),
        (197, 192, 576, 32, 32, "os", 32003),
        (197, 64, 197, 64, 8, "os", 13399),
        (197, 64, 197, 64, 8, "ws", 8274),
        (197, 64, 197, 32, 32, "ws", 4073),
    ],
)
def test_systolic_matches_scalesim_v3(m, k, n, rows, cols, dataflow, scalesim_total):
    t = systolic_gemm(m, k, n, rows=rows, cols=cols, dataflow=dataflow)
    assert t.total_cycles == scalesim_total + 1


def test_systolic_partial_fold_is_padded_to_the_full_array():
    # M = 5 on 4 rows: a full fold and a 1-row fold, both 4 + 4 - 2 fill cycles long.
    assert systolic_folds(5, 3, 7, rows=4, cols=4, dataflow="os") == (2, 2, 3)
    assert systolic_folds(5, 3, 7, rows=4, cols=4, dataflow="ws") == (1, 2, 5)
    assert systolic_fill_drain_per_fold(rows=4, cols=4, dataflow="os") == 6
    assert systolic_fill_drain_per_fold(rows=4, cols=4, dataflow="ws") == 10
    t = systolic_gemm(5, 3, 7, rows=4, cols=4, dataflow="os")
    assert (t.compute_cycles, t.fill_drain_cycles) == (4 * 3, 4 * 6)


def test_mac_lines_vitcod_qkv_deit_tiny():
    # DeiT-Tiny qkv, A [197, 192] x B [192, 576], on ViTCoD's 64 lines x 8 MACs:
    #   outputs           197 * 576           = 113,472
    #   passes            113,472 / 64        = 1,773 (exact)
    #   cycles per pass   ceil(192 / 8)       = 24
    #   compute           1,773 * 24          = 42,552
    #   fill/drain        1 + log2(8)         = 4  (multiplier + 3 adder-tree levels)
    #   total                                   42,556
    #   MACs              197 * 192 * 576     = 21,786,624
    #   utilization       21,786,624 / (42,556 * 512) = 0.99991
    #   A reads           576 / 64 = 9 passes per row, one 192-byte row broadcast each:
    #                     197 * 9 * 192       = 340,416 B
    #   B reads           one 192-long column per output: 113,472 * 192 = 21,786,624 B
    #   C writes          113,472 B
    t = mac_lines_gemm(197, 192, 576, n_lines=64, macs_per_line=8)
    assert t == GemmTiming(
        compute_cycles=42_552,
        fill_drain_cycles=4,
        total_cycles=42_556,
        macs=21_786_624,
        mac_utilization=21_786_624 / (42_556 * 512),
        sram_reads_a_bytes=340_416,
        sram_reads_b_bytes=21_786_624,
        sram_writes_c_bytes=113_472,
    )
    assert t.mac_utilization == pytest.approx(0.99991, abs=1e-5)


def test_mac_lines_pass_straddling_rows_broadcasts_both():
    # Q K^T per head, A [197, 64] x B [64, 197], 64 lines x 8 MACs:
    #   passes  ceil(197 * 197 / 64) = ceil(606.39) = 607, 8 cycles each: 4,856
    #   A rows  each pass starts one row run (607); of the 196 row boundaries, those at
    #           r * 197 with 64 | r * 197 (r = 64, 128, 192) are pass boundaries, the other
    #           193 fall inside a pass and add a second broadcast: 800 x 64 B = 51,200 B.
    t = mac_lines_gemm(197, 64, 197, n_lines=64, macs_per_line=8)
    assert (t.compute_cycles, t.fill_drain_cycles) == (4_856, 4)
    assert t.sram_reads_a_bytes == 800 * 64
    assert t.sram_reads_b_bytes == 197 * 197 * 64
    assert t.sram_writes_c_bytes == 197 * 197


@given(
    m=dims,
    k=dims,
    base=st.integers(1, 64),
    factor=st.integers(1, 8),
    lines_divide=st.booleans(),
)
def test_mac_lines_a_reads_row_aligned(m, k, base, factor, lines_divide):
    # Passes never straddle rows when n_lines divides N, and hold whole rows when N divides
    # n_lines: then A reads = M * K * ceil(N / n_lines).
    n, lines = (base * factor, base) if lines_divide else (base, base * factor)
    t = mac_lines_gemm(m, k, n, n_lines=lines, macs_per_line=8)
    assert t.sram_reads_a_bytes == m * k * math.ceil(n / lines)


@pytest.mark.parametrize(("macs_per_line", "fill"), [(1, 1), (2, 2), (5, 4), (8, 4), (16, 5)])
def test_mac_lines_fill_is_multiplier_plus_adder_tree(macs_per_line, fill):
    assert mac_lines_fill_cycles(macs_per_line) == fill


def test_bytes_per_element_scales_buffer_bytes_only():
    one = systolic_gemm(50, 40, 30, rows=8, cols=8, dataflow="ws")
    two = systolic_gemm(50, 40, 30, rows=8, cols=8, dataflow="ws", bytes_per_element=2)
    assert two.total_cycles == one.total_cycles
    assert two.sram_reads_a_bytes == 2 * one.sram_reads_a_bytes
    assert two.sram_reads_b_bytes == 2 * one.sram_reads_b_bytes
    assert two.sram_writes_c_bytes == 2 * one.sram_writes_c_bytes


# --------------------------------------------------------------------------------------
# Dispatch on the hardware description
# --------------------------------------------------------------------------------------


def test_dense_gemm_dispatches_on_engine_kind():
    vitcod = load_hardware("vitcod")
    acc = vitcod.mac_array.accumulators_per_line
    assert dense_gemm(197, 192, 576, vitcod) == mac_lines_gemm(
        197, 192, 576, n_lines=64, macs_per_line=8, accumulators_per_line=acc
    )
    assert dense_gemm(197, 192, 576, vitcod, n_lines=24) == mac_lines_gemm(
        197, 192, 576, n_lines=24, macs_per_line=8, accumulators_per_line=acc
    )
    for preset, dataflow in (("systolic-os", "os"), ("systolic-ws", "ws")):
        hw = load_hardware(preset)
        assert dense_gemm(197, 64, 197, hw) == systolic_gemm(
            197, 64, 197, rows=32, cols=32, dataflow=dataflow
        )


def test_dense_gemm_prices_bytes_at_data_bits():
    hw16 = apply_overrides(load_hardware("systolic-os"), ["data_bits=16"])
    assert dense_gemm(20, 30, 40, hw16) == systolic_gemm(
        20, 30, 40, rows=32, cols=32, dataflow="os", bytes_per_element=2
    )
    hw4 = apply_overrides(load_hardware("vitcod"), ["data_bits=4"])
    t4 = dense_gemm(3, 5, 7, hw4)
    t8 = mac_lines_gemm(3, 5, 7, n_lines=64, macs_per_line=8)
    assert t4.sram_writes_c_bytes == math.ceil(3 * 7 / 2)
    assert t4.sram_reads_b_bytes == math.ceil(t8.sram_reads_b_bytes / 2)


def test_dense_gemm_rejects_bad_line_counts():
    vitcod = load_hardware("vitcod")
    with pytest.raises(VitsimError, match="n_lines") as info:
        dense_gemm(8, 8, 8, vitcod, n_lines=65)
    assert "64" in str(info.value)
    with pytest.raises(VitsimError, match="n_lines"):
        dense_gemm(8, 8, 8, vitcod, n_lines=0)
    with pytest.raises(VitsimError, match=r"n_lines.*systolic"):
        dense_gemm(8, 8, 8, load_hardware("systolic-ws"), n_lines=8)


@pytest.mark.parametrize("field", ["m", "k", "n"])
@pytest.mark.parametrize("bad", [0, -3, 2.0, True, "4", None])
def test_bad_dimensions_name_the_field(field, bad):
    dims_ = {"m": 4, "k": 4, "n": 4, field: bad}
    calls = [
        lambda: systolic_gemm(**dims_, rows=4, cols=4, dataflow="os"),
        lambda: mac_lines_gemm(**dims_, n_lines=4, macs_per_line=4),
        lambda: dense_gemm(**dims_, hw=load_hardware("vitcod")),
    ]
    for call in calls:
        with pytest.raises(VitsimError) as info:
            call()
        assert info.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rows": 0}, "rows"),
        ({"cols": -1}, "cols"),
        ({"bytes_per_element": 0}, "bytes_per_element"),
        ({"dataflow": "is"}, "dataflow"),
    ],
)
def test_bad_systolic_parameters_name_the_field(kwargs, field):
    args = {"rows": 4, "cols": 4, "dataflow": "os", **kwargs}
    with pytest.raises(VitsimError) as info:
        systolic_gemm(4, 4, 4, **args)
    assert info.value.field == field
    if field == "dataflow":
        assert "os, ws" in str(info.value)


def test_numpy_integers_are_accepted():
    t = systolic_gemm(np.int64(8), np.int32(8), np.int64(8), rows=4, cols=4, dataflow="os")
    assert t.total_cycles == 56
    assert isinstance(t.total_cycles, int)


# --------------------------------------------------------------------------------------
# Invariants
# --------------------------------------------------------------------------------------


def _both_kinds(m, k, n, r, c, df) -> list[tuple[GemmTiming, int]]:
    return [
        (systolic_gemm(m, k, n, rows=r, cols=c, dataflow=df), r * c),
        (mac_lines_gemm(m, k, n, n_lines=r, macs_per_line=c), r * c),
    ]


@given(m=dims, k=dims, n=dims, r=array_dims, c=array_dims, df=dataflows)
def test_cycles_never_below_work_over_macs(m, k, n, r, c, df):
    for t, engine_macs in _both_kinds(m, k, n, r, c, df):
        assert t.macs == m * k * n
        assert t.total_cycles == t.compute_cycles + t.fill_drain_cycles
        assert t.total_cycles >= math.ceil(t.macs / engine_macs)
        assert t.compute_cycles >= math.ceil(t.macs / engine_macs)
        assert 0.0 < t.mac_utilization <= 1.0


@given(
    m=dims,
    k=dims,
    n=dims,
    r=array_dims,
    c=array_dims,
    df=dataflows,
    axis=st.sampled_from("mkn"),
    extra=st.integers(1, 100),
)
def test_cycles_monotone_in_each_dimension(m, k, n, r, c, df, axis, extra):
    bigger = {"m": m, "k": k, "n": n}
    bigger[axis] += extra
    for (small, _), (large, _) in zip(
        _both_kinds(m, k, n, r, c, df), _both_kinds(**bigger, r=r, c=c, df=df), strict=True
    ):
        assert large.total_cycles >= small.total_cycles
        assert large.compute_cycles >= small.compute_cycles


@given(m=dims, k=dims, n=dims, r=array_dims, c=array_dims)
def test_one_fold_per_dimension_fit(m, k, n, r, c):
    # Operands that fit the array spatially take exactly one fold: T + fill.
    t = systolic_gemm(min(m, r), k, min(n, c), rows=r, cols=c, dataflow="os")
    assert t.compute_cycles == k
    assert t.fill_drain_cycles == r + c - 2


# --------------------------------------------------------------------------------------
# Naive twins
# --------------------------------------------------------------------------------------


def _skewed_rows(n_rows: int, n_cols: int) -> int:
    """Rows of SCALE-Sim's skew_matrix output for an n_rows x n_cols demand matrix."""
    return n_rows + n_cols - 1


def naive_systolic(m, k, n, rows, cols, dataflow) -> GemmTiming:
    """Fold by fold, building each fold's demand-stream lengths the way SCALE-Sim v3 does."""
    if dataflow == "os":
        s_r, s_c, t = m, n, k
    else:
        s_r, s_c, t = k, n, m
    compute = fill = macs = reads_a = reads_b = writes_c = 0
    for c0 in range(0, s_c, cols):
        used_c = min(cols, s_c - c0)
        for r0 in range(0, s_r, rows):
            used_r = min(rows, s_r - r0)
            if dataflow == "os":
                # systolic_compute_os.create_{ifmap,filter,ofmap}_demand_mat
                ifmap = _skewed_rows(t + cols - 1, rows)
                filt = _skewed_rows(t + rows - 1, cols)
                ofmap = _skewed_rows(t - 1 + rows, cols)
                reads_a += used_r * t  # used_r rows of A, K long
                reads_b += used_c * t  # used_c columns of B, K long
                writes_c += used_r * used_c
            else:
                # systolic_compute_ws: weight pre-load prefix, drain suffix; filter unskewed
                ifmap = _skewed_rows(rows + t + cols - 1, rows)
                filt = rows + (rows + cols + t - 2)
                ofmap = _skewed_rows(2 * rows - 1 + t, cols)
                reads_a += t * used_r  # all M rows, used_r of K
                reads_b += used_r * used_c  # the fold's weights, once
                writes_c += t * used_c  # M x used_c partial sums
            assert ifmap == filt == ofmap
            compute += t
            fill += ifmap - t
            macs += used_r * used_c * t
    total = compute + fill
    return GemmTiming(
        compute, fill, total, macs, macs / (total * rows * cols), reads_a, reads_b, writes_c
    )


def naive_mac_lines(m, k, n, n_lines, macs_per_line) -> GemmTiming:
    """Deal outputs row-major to the lines, one pass of n_lines outputs at a time."""
    outputs = [(i, j) for i in range(m) for j in range(n)]
    compute = reads_a = reads_b = writes_c = 0
    for start in range(0, len(outputs), n_lines):
        group = outputs[start : start + n_lines]
        cycles = 0
        done = 0
        while done < k:  # the lines step through K, macs_per_line products a cycle
            done += macs_per_line
            cycles += 1
        compute += cycles
        reads_a += k * len({i for i, _ in group})  # one broadcast per distinct A row
        reads_b += k * len(group)
        writes_c += len(group)
    fill = 1
    width = 1
    while width < macs_per_line:  # adder-tree levels
        width *= 2
        fill += 1
    total = compute + fill
    macs = m * k * n
    return GemmTiming(
        compute,
        fill,
        total,
        macs,
        macs / (total * n_lines * macs_per_line),
        reads_a,
        reads_b,
        writes_c,
    )


@settings(max_examples=200, deadline=None)
@given(m=dims, k=dims, n=dims, r=array_dims, c=array_dims, df=dataflows)
def test_systolic_matches_naive_fold_schedule(m, k, n, r, c, df):
    assert systolic_gemm(m, k, n, rows=r, cols=c, dataflow=df) == naive_systolic(m, k, n, r, c, df)


@settings(max_examples=200, deadline=None)
@given(
    m=st.integers(1, 40),
    k=st.integers(1, 70),
    n=st.integers(1, 40),
    lines=st.integers(1, 80),
    width=st.integers(1, 20),
)
def test_mac_lines_matches_naive_pass_schedule(m, k, n, lines, width):
    got = mac_lines_gemm(m, k, n, n_lines=lines, macs_per_line=width)
    assert got == naive_mac_lines(m, k, n, lines, width)


def test_twins_agree_on_deit_shapes():
    for m, k, n in ((197, 192, 576), (197, 64, 197), (197, 197, 64)):
        for df in ("os", "ws"):
            for r, c in ((64, 8), (32, 32)):
                assert systolic_gemm(m, k, n, rows=r, cols=c, dataflow=df) == naive_systolic(
                    m, k, n, r, c, df
                )
    assert mac_lines_gemm(197, 64, 197, n_lines=64, macs_per_line=8) == naive_mac_lines(
        197, 64, 197, 64, 8
    )


# --------------------------------------------------------------------------------------
# MAC lines with weights held in registers over a stripe of rows
# --------------------------------------------------------------------------------------


def naive_mac_lines_striped(m, k, n, n_lines, macs_per_line, r) -> GemmTiming:
    """Tiles of r rows x 1 column dealt row-major, n_lines per pass in lock step; a line
    loads its B chunk once per tile and streams the tile's rows past it."""
    stripes = [(s, min(r, m - s)) for s in range(0, m, r)]
    tiles = [(s, h, j) for s, h in stripes for j in range(n)]
    chunks = -(-k // macs_per_line)
    compute = reads_a = reads_b = 0
    for start in range(0, len(tiles), n_lines):
        group = tiles[start : start + n_lines]
        compute += max(h for _, h, _ in group) * chunks
        reads_a += sum(h * k for _, h in {(s, h) for s, h, _ in group})  # one broadcast each
        reads_b += k * len(group)
    fill = 1 + (macs_per_line - 1).bit_length()
    total = compute + fill
    macs = m * k * n
    return GemmTiming(compute, fill, total, macs, macs / (total * n_lines * macs_per_line),
                      reads_a, reads_b, m * n, r)


def naive_mapper(m, k, n, n_lines, macs_per_line, accumulators) -> GemmTiming:
    """Every stripe tried; the fewest cycles, then the longest stripe."""
    options = [naive_mac_lines_striped(m, k, n, n_lines, macs_per_line, r)
               for r in range(1, min(accumulators, m) + 1)]
    return min(options, key=lambda t: (t.total_cycles, -t.stripe_rows))


@settings(max_examples=300, deadline=None)
@given(
    m=st.integers(1, 40),
    k=st.integers(1, 40),
    n=st.integers(1, 40),
    lines=st.integers(1, 70),
    width=st.integers(1, 12),
    acc=st.integers(1, 20),
)
def test_striped_mac_lines_match_naive_mapper(m, k, n, lines, width, acc):
    got = mac_lines_gemm(m, k, n, n_lines=lines, macs_per_line=width, accumulators_per_line=acc)
    assert got == naive_mapper(m, k, n, lines, width, acc)


@settings(max_examples=200, deadline=None)
@given(m=dims, k=dims, n=dims, lines=st.integers(1, 80), acc=st.integers(1, 32))
def test_stripes_never_cost_cycles_and_never_add_weight_reads(m, k, n, lines, acc):
    one = mac_lines_gemm(m, k, n, n_lines=lines, macs_per_line=8)
    striped = mac_lines_gemm(m, k, n, n_lines=lines, macs_per_line=8, accumulators_per_line=acc)
    assert striped.total_cycles == one.total_cycles
    assert striped.sram_reads_b_bytes <= one.sram_reads_b_bytes
    assert striped.sram_reads_b_bytes * striped.stripe_rows >= m * k * n  # one B byte, r MACs


def test_deit_tiny_qkv_weights_stay_in_registers_for_16_rows():
    # qkv of DeiT-Tiny, 197 x 192 x 576 on 64 lines x 8 MACs with 16 accumulators per line:
    #   64 | 576, so no pass mixes stripes and every stripe is free: r = 16.
    #   stripes    ceil(197 / 16) = 13 (12 of 16 rows, the last of 5)
    #   cycles     12 * 9 passes * 16 rows + 9 * 5 = 1,773 pass-rows, x 24 = 42,552 (as r = 1)
    #   B reads    13 * 576 * 192 = 1,437,696 B (r = 1: 21,786,624, 15.2x more)
    #   A reads    192 * (16 * 108 + 5 * 9) = 340,416 B (each row once per 9 column passes)
    t = mac_lines_gemm(197, 192, 576, n_lines=64, macs_per_line=8, accumulators_per_line=16)
    assert t.stripe_rows == 16
    assert t.compute_cycles == 42_552
    assert t.sram_reads_b_bytes == 1_437_696
    assert t.sram_reads_a_bytes == 340_416
    assert t.sram_writes_c_bytes == 197 * 576


def test_stripe_shrinks_when_a_long_one_would_idle_lines():
    # 20 columns on 32 lines: a stripe of 16 rows would put 197 = 12 * 16 + 5 rows in
    # 260 tiles over 9 passes of 16 rows (144 pass-rows) against ceil(197 * 20 / 32) = 124
    # for single rows, so the mapper keeps a stripe with no lost cycles.
    t = mac_lines_gemm(197, 64, 20, n_lines=32, macs_per_line=8, accumulators_per_line=16)
    one = mac_lines_gemm(197, 64, 20, n_lines=32, macs_per_line=8)
    assert t.total_cycles == one.total_cycles
    assert 1 <= t.stripe_rows < 16
