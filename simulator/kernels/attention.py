"""The attention of a block group in one kernel: what
:func:`vitsim.simulator.attention.attention_core` computes with numpy, for designs whose
dense and sparse engines share the MAC lines.

The numpy function is the twin (``tests/test_attention_kernel.py`` compares them bit for bit
on random designs and traces); this kernel exists because that function spends ~80 small
numpy calls per hardware point around its schedule kernels, which is most of a new point's
time. Every floating-point step here is the one numpy takes there, in the same order and on
the same types (``int64`` counts turned to ``float64`` where numpy turns them), so the
results are the same floats; the comments name the numpy helper each part mirrors.

Inputs are the heads of ``n_blocks`` blocks, block-major (``H = n_blocks x h``), grouped into
units of ``g`` consecutive heads of one block (``unit_first``: int64 [U]); per-unit views of
the rows and columns as :class:`~vitsim.simulator.attention.UnitView` keeps them.
"""

from __future__ import annotations

import numpy as np

from vitsim.simulator.kernels.jit import jit
from vitsim.simulator.kernels.sparse_rows import (
    INFEASIBLE_CYCLES,
    greedy_scratch,
    heads_sparse_cycles,
    unit_greedy_max_load,
)
from vitsim.simulator.kernels.split_rows import unit_split_rows_max_load
from vitsim.simulator.kernels.sums import pairwise_sum

# Allocation of the MAC lines (attention._split_lines), as integer codes.
SPLIT_STATIC = 0
SPLIT_PROPORTIONAL = 1
SPLIT_GIVEN = 2  # the caller's per-unit dense lines (the search policy)
# The sparser engine's schedule (attention._sparse_unit_cycles), as integer codes.
SPARSE_K_STATIONARY = 0  # Q K^T: columns longest first; S V: rows split evenly
SPARSE_ROWS_BALANCED = 1
SPARSE_ROWS_GREEDY = 2
SPARSE_ROWS_ROUND_ROBIN = 3

# Rows of the per-head result (BlockAttention's per-head fields, then the SRAM entries in
# attention.SRAM_ENTRIES order).
F_DENSE_LINES = 0
F_SPARSE_LINES = 1
F_QK_CYCLES = 2
F_SOFTMAX_CYCLES = 3
F_SV_CYCLES = 4
F_DENSE_BUSY_QK = 5
F_DENSE_BUSY_SV = 6
F_SPARSE_BUSY_QK = 7
F_SPARSE_BUSY_SV = 8
F_SPARSE_MEAN_QK = 9
F_SPARSE_MEAN_SV = 10
F_DENSE_MACS_QK = 11
F_SPARSE_MACS_QK = 12
F_DENSE_MACS_SV = 13
F_SPARSE_MACS_SV = 14
F_SOFTMAX_OPS = 15
F_DECODE_MACS = 16
F_DRAM_QK = 17
F_DRAM_V = 18
F_DRAM_OUT = 19
F_SRAM = 20  # 13 entries follow
N_SRAM = 13
N_FIELDS = F_SRAM + N_SRAM

OK = 0
ERR_ONE_LINE = 1  # one MAC line cannot be split between the engines
ERR_QUERY_ROW = 2  # a query row of a unit does not fit the Q and output buffers


@jit
def _index_bytes(n):
    """attention.index_bytes of one count."""
    if n <= 1 << 8:
        return 1
    if n <= 1 << 16:
        return 2
    return 4


@jit
def _scaled(load, cycles_per_score):
    """attention._scale_cycles of one load."""
    if load >= INFEASIBLE_CYCLES:
        return INFEASIBLE_CYCLES
    return load * cycles_per_score


@jit
def _unit_sum_float(x, start, stop):
    """np.add.reduceat of float64 over one segment: the first plus numpy's pairwise sum of
    the rest."""
    return x[start] + pairwise_sum(x[start + 1:stop])


@jit
def block_attention(
    n_global, sparse_nnz, max_row, h, g, unit_first,
    n_q, n_k, d, dv, width, n_lines, bpe, acc_per_line,
    split, static_fraction, given_dense_lines,
    sparse_mode, sorted_nnz, sorted_offsets, run_values, run_counts, run_offsets, col_total,
    col_largest, row_ends, row_nnz, row_unit_offsets, held_loads, qk_memo, sv_memo,
    softmax_per_cycle, q_rows, o_cap, k_stream, v_stream,
    q_bytes, k_bytes, v_bytes, out_bytes,
    codec, q_passes, q_c, k_c, k_c_fits, group_k, decode_per_head, decode_rate,
    decoder_on_array, q_part, k_part, compressed,
):
    """A block group's attention before its memory stalls (``attention_core``'s ``result``
    and tile sequence).

    Per head (``n_global``, ``sparse_nnz``, ``max_row``: [H]) and per unit (the views:
    ``sorted_*``/``run_*``/``col_*`` from ``units_sorted_nonzero`` of the columns,
    ``row_ends`` from ``units_row_ends``, ``row_nnz`` with ``row_unit_offsets``;
    ``held_loads``: [H] the stationary operand's chunk loads). ``qk_memo``/``sv_memo``:
    int64 [U, W], the K-stationary busiest-line loads of each unit on ``s < W`` sparse lines
    as far as known (-1: not yet), read and completed here. Scalars as the numpy function
    derives them from the hardware (``q_rows``: ``min(n_q, q_cap // (g d bpe))``;
    ``k_stream``/``v_stream``: whether a group's K (V) overflows its buffer; the codec's
    ``q_c``/``k_c`` compressed bytes, ``k_c_fits``, ``group_k``, ``q_passes``,
    ``decode_per_head`` MACs and ``decode_rate`` MACs per cycle).

    Returns ``(status, fields [N_FIELDS, H], head_load_bytes [H], unit_tiles [U],
    tile_compute [T], tile_store_bytes [T], tile_offsets [n_blocks + 1])``; ``status`` is
    :data:`OK` or the error the numpy function would raise (the arrays are then empty).
    """
    n_heads = n_global.shape[0]
    n_units = unit_first.shape[0]
    n_blocks = n_heads // h if h else 0
    per_block = n_units // n_blocks if n_blocks else 0
    cq = -(-d // width)
    cv = -(-dv // width)
    k_st = sparse_mode == SPARSE_K_STATIONARY
    empty = np.zeros((0, 0))
    none_f = np.zeros(0)
    none_i = np.zeros(0, dtype=np.int64)

    unit_stop = np.empty(n_units, dtype=np.int64)
    unit_of = np.empty(n_heads, dtype=np.int64)
    for u in range(n_units):
        unit_stop[u] = unit_first[u + 1] if u + 1 < n_units else n_heads
        for i in range(unit_first[u], unit_stop[u]):
            unit_of[i] = u

    # _engine_times: per-unit work, the line split, the engines' cycles.
    unit_pairs = np.zeros(n_units, dtype=np.int64)
    unit_nnz = np.zeros(n_units, dtype=np.int64)
    unit_scores = np.zeros(n_units, dtype=np.int64)
    unit_decode_macs = np.zeros(n_units, dtype=np.int64)
    for i in range(n_heads):
        u = unit_of[i]
        unit_pairs[u] += n_q * n_global[i]
        unit_nnz[u] += sparse_nnz[i]
        unit_scores[u] += n_q * n_global[i] + sparse_nnz[i]
        if codec:
            unit_decode_macs[u] += decode_per_head
    if n_lines < 2:
        for u in range(n_units):
            if unit_pairs[u] > 0 and unit_nnz[u] > 0:
                return ERR_ONE_LINE, empty, none_f, none_i, none_f, none_f, none_i
    dense_lines = np.empty(n_units, dtype=np.int64)
    for u in range(n_units):  # _split_lines
        if split == SPLIT_GIVEN:
            dense_lines[u] = given_dense_lines[u]
            continue
        has_dense = unit_pairs[u] > 0
        has_sparse = unit_nnz[u] > 0
        if split == SPLIT_STATIC:
            share = static_fraction
        else:
            work = unit_pairs[u] + unit_nnz[u]
            share = float(unit_pairs[u]) / float(work) if work > 0 else 0.0
        lines = np.int64(np.rint(share * n_lines))
        if has_dense and has_sparse:
            lines = min(max(lines, 1), n_lines - 1)
        if has_dense and not has_sparse:
            lines = n_lines
        dense_lines[u] = lines if has_dense else 0
    sparse_lines = np.empty(n_units, dtype=np.int64)
    dense_qk = np.empty(n_units, dtype=np.int64)
    dense_sv = np.empty(n_units, dtype=np.int64)
    for u in range(n_units):
        dl = dense_lines[u]
        per_line = np.int64(float(unit_pairs[u] + dl - 1) / float(dl)) if dl > 0 else 0
        dense_qk[u] = per_line * cq
        dense_sv[u] = per_line * cv
        sparse_lines[u] = n_lines - dl
    # _sparse_unit_cycles
    sparse_qk = np.empty(n_units, dtype=np.int64)
    sparse_sv = np.empty(n_units, dtype=np.int64)
    if k_st:
        qk_load = np.empty(n_units, dtype=np.int64)
        sv_load = np.empty(n_units, dtype=np.int64)
        scratch = (none_i, none_i, none_i)
        for u in range(n_units):
            sl = sparse_lines[u]
            known = 0 <= sl < qk_memo.shape[1]
            q = qk_memo[u, sl] if known else -1
            if q < 0:
                if scratch[0].shape[0] < n_lines:
                    scratch = greedy_scratch(sorted_offsets, n_lines)
                q = unit_greedy_max_load(sorted_nnz, sorted_offsets, run_values, run_counts,
                                         run_offsets, col_total, col_largest, u, sl,
                                         scratch[0], scratch[1], scratch[2])
                if known:
                    qk_memo[u, sl] = q
            v = sv_memo[u, sl] if known else -1
            if v < 0:
                v = unit_split_rows_max_load(row_ends, row_unit_offsets[u],
                                             row_unit_offsets[u + 1], sl)
                if known:
                    sv_memo[u, sl] = v
            qk_load[u] = q
            sv_load[u] = v
    elif sparse_mode == SPARSE_ROWS_BALANCED:
        qk_load = np.empty(n_units, dtype=np.int64)
        for u in range(n_units):
            sl = sparse_lines[u]
            if sl == 0 and unit_nnz[u] > 0:
                qk_load[u] = INFEASIBLE_CYCLES
            else:
                safe = max(sl, 1)
                qk_load[u] = -(-unit_nnz[u] // safe)
        sv_load = qk_load
    else:
        policy = 1 if sparse_mode == SPARSE_ROWS_GREEDY else 0  # sparse_rows.GREEDY / RR
        qk_load = heads_sparse_cycles(row_nnz, row_unit_offsets, sparse_lines,
                                      np.ones(n_units, dtype=np.int64), policy)
        sv_load = qk_load
    for u in range(n_units):
        sparse_qk[u] = _scaled(qk_load[u], cq)
        sparse_sv[u] = _scaled(sv_load[u], cv)

    # _memory: query tiles per block (a block's units share them), K/V loads, the codec.
    n_tiles = np.empty(n_blocks, dtype=np.int64)
    for b in range(n_blocks):
        block_max = max_row[b * h]
        for j in range(1, h):
            block_max = max(block_max, max_row[b * h + j])
        row_out = np.int64(float(block_max) * bpe + dv * bpe)
        rows = min(q_rows, float(o_cap // (g * row_out)))
        if rows < 1:
            return ERR_QUERY_ROW, empty, none_f, none_i, none_f, none_f, none_i
        n_tiles[b] = -(-n_q // np.int64(rows))
    head_pointer = 0
    if k_st:
        head_pointer = n_k * _index_bytes(n_q + 1)
    index_per_score = _index_bytes(n_q if k_st else n_k)

    f = np.empty((N_FIELDS, n_heads))
    head_load = np.empty(n_heads)
    qk_load_bytes = np.empty(n_heads)
    v_load_bytes = np.empty(n_heads)
    out_store = np.empty(n_heads)
    unit_decode = np.zeros(n_units)
    for u in range(n_units):
        if codec:
            unit_decode[u] = np.ceil(float(unit_decode_macs[u]) / float(decode_rate))
    r_q = -(-n_q // acc_per_line)
    r_dv = -(-dv // acc_per_line)
    for b in range(n_blocks):
        block_max = max_row[b * h]
        for j in range(1, h):
            block_max = max(block_max, max_row[b * h + j])
        row_pointer = _index_bytes(np.int64(block_max) + 1)
        pointers = head_pointer if k_st else n_q * row_pointer
        k_loads = n_tiles[b] if k_stream else 1
        v_loads = n_tiles[b] if v_stream else 1
        if codec:
            k_passes = 1 if k_c_fits else (per_block if group_k else n_tiles[b] * per_block)
            block_load = q_passes * q_c + float(k_passes) * k_c
        for j in range(h):
            i = b * h + j
            u = unit_of[i]
            ng = n_global[i]
            nnz = sparse_nnz[i]
            pairs = n_q * ng
            scores = pairs + nnz
            # _operand_reads
            lines_per_head = dense_lines[u] // g
            groups = -(-ng // max(lines_per_head, 1)) if ng > 0 else 0
            held = held_loads[i] * d
            streamed = nnz * d
            read_q = n_q * d * groups + (streamed if k_st else held)
            read_k = ng * d * r_q + (held if k_st else streamed)
            read_s = scores * r_dv
            read_v = scores * dv
            ops_q = float(read_q) * bpe
            ops_k = float(read_k) * bpe
            ops_s = float(read_s) * bpe
            ops_v = float(read_v) * bpe
            index_load = nnz * index_per_score + pointers
            if codec:
                qk = block_load / h
            else:
                qk = q_bytes + float(k_loads) * k_bytes
            v_load = float(v_loads) * v_bytes
            qk_load_bytes[i] = qk
            v_load_bytes[i] = v_load
            out_store[i] = out_bytes
            head_load[i] = (qk + float(index_load)) + v_load
            f[F_DENSE_LINES, i] = dense_lines[u]
            f[F_SPARSE_LINES, i] = n_lines - dense_lines[u]
            f[F_DENSE_MACS_QK, i] = pairs * d
            f[F_SPARSE_MACS_QK, i] = nnz * d
            f[F_DENSE_MACS_SV, i] = pairs * dv
            f[F_SPARSE_MACS_SV, i] = nnz * dv
            f[F_SOFTMAX_OPS, i] = scores
            f[F_DECODE_MACS, i] = decode_per_head if codec else 0
            f[F_DRAM_QK, i] = qk + float(index_load)
            f[F_DRAM_V, i] = v_load
            f[F_DRAM_OUT, i] = out_bytes
            # _sram_counts, in attention.SRAM_ENTRIES order
            k_head = float(k_loads) * k_bytes
            if codec:
                q_write = qk * q_part + q_bytes
                k_write = qk * k_part + k_head
                q_read = compressed * q_part + ops_q
                k_read = compressed * k_part + ops_k
            else:
                q_write, k_write, q_read, k_read = q_bytes, k_head, ops_q, ops_k
            scores_b = float(scores) * bpe
            s = F_SRAM
            f[s, i] = np.rint(q_write)
            f[s + 1, i] = np.rint(k_write)
            f[s + 2, i] = index_load
            f[s + 3, i] = np.rint(q_read)
            f[s + 4, i] = np.rint(k_read)
            f[s + 5, i] = index_load
            f[s + 6, i] = scores_b
            f[s + 7, i] = scores_b
            f[s + 8, i] = scores_b
            f[s + 9, i] = v_load
            f[s + 10, i] = np.rint(ops_v)
            f[s + 11, i] = np.rint(ops_s) + out_bytes
            f[s + 12, i] = out_bytes

    # attention_core: the units' phases, charged to their heads by score; the tiles.
    unit_qk = np.empty(n_units)
    unit_sv = np.empty(n_units, dtype=np.int64)
    unit_softmax = np.empty(n_units, dtype=np.int64)
    unit_compute = np.empty(n_units)
    unit_tiles = np.empty(n_units, dtype=np.int64)
    for u in range(n_units):
        busy = float(max(dense_qk[u], sparse_qk[u]))
        if decoder_on_array:
            unit_qk[u] = busy + unit_decode[u]
        else:
            unit_qk[u] = max(busy, unit_decode[u])
        unit_sv[u] = max(dense_sv[u], sparse_sv[u])
        unit_softmax[u] = np.int64(np.ceil(float(unit_scores[u]) / softmax_per_cycle))
        unit_compute[u] = (unit_qk[u] + float(unit_softmax[u])) + float(unit_sv[u])
        unit_tiles[u] = n_tiles[u // per_block]
    for u in range(n_units):
        start, stop = unit_first[u], unit_stop[u]
        mean = float(unit_nnz[u]) / float(sparse_lines[u]) if sparse_lines[u] > 0 else 0.0
        for i in range(start, stop):
            if g > 1:
                total = float(unit_scores[u])
                scores = float(n_q * n_global[i] + sparse_nnz[i])
                part = scores / total if total > 0 else 1.0 / float(stop - start)
            else:
                part = 1.0
            f[F_QK_CYCLES, i] = unit_qk[u] * part
            f[F_SOFTMAX_CYCLES, i] = float(unit_softmax[u]) * part
            f[F_SV_CYCLES, i] = float(unit_sv[u]) * part
            f[F_DENSE_BUSY_QK, i] = float(dense_qk[u]) * part
            f[F_DENSE_BUSY_SV, i] = float(dense_sv[u]) * part
            f[F_SPARSE_BUSY_QK, i] = float(sparse_qk[u]) * part
            f[F_SPARSE_BUSY_SV, i] = float(sparse_sv[u]) * part
            f[F_SPARSE_MEAN_QK, i] = (mean * cq) * part
            f[F_SPARSE_MEAN_SV, i] = (mean * cv) * part
    tile_offsets = np.zeros(n_blocks + 1, dtype=np.int64)
    for b in range(n_blocks):
        tile_offsets[b + 1] = tile_offsets[b] + n_tiles[b] * per_block
    n_all = tile_offsets[n_blocks]
    tile_compute = np.empty(n_all)
    tile_store = np.empty(n_all)
    k = 0
    for u in range(n_units):
        stored = _unit_sum_float(out_store, unit_first[u], unit_stop[u]) if g > 1 \
            else out_store[u]
        compute = unit_compute[u] / float(unit_tiles[u])
        store = stored / float(unit_tiles[u])
        for _ in range(unit_tiles[u]):
            tile_compute[k] = compute
            tile_store[k] = store
            k += 1
    return OK, f, head_load, unit_tiles, tile_compute, tile_store, tile_offsets
