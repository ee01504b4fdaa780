"""The attention of one block on ViTCoD-style engines, vectorised over its heads.

Per head (ViTCoD, You et al., HPCA 2023, Sec. V), in the polarized order:

- **Denser region** (``n_q x G`` global columns, zeros included) on the dense engine's
  ``L_d`` MAC lines: each line computes one score (or one score's S V accumulate) at a time,
  ``macs_per_line`` MACs per cycle along the head dim, so a score costs ``ceil(d / w)``
  cycles for Q K^T and ``ceil(d_v / w)`` for S V; the ``n_q G`` pairs spread evenly.
- **Sparser region** on the remaining ``L - L_d`` lines: rows are assigned to lines by the
  row policy and the most-loaded line sets the time, so the real mask's imbalance shows.
- The split ``L_d`` is the allocation policy's (static, proportional to the dense and sparse
  work, or the best split). Q K^T, softmax and S V run one after another per head; both
  engines work in parallel within Q K^T and within S V.
- **Memory**: Q, K, V, the sparse index and the output go through DRAM per head. Heads are
  split into query tiles that fit the Q and output buffers; K and V are re-loaded for every
  query tile when they do not fit theirs. The tile timeline overlaps the next tile's loads
  with this tile's compute when double buffered.

Compressed Q/K (the auto-encoder works along the head axis, ``h -> h'``): decoding any head
needs all ``h'`` compressed heads, so the Q and K buffers hold the compressed tensors of the
whole block and the decoder expands one head at a time on its way to the engines (its cycles
overlap Q K^T). The part of the compressed tensors that does not fit is streamed again for
every further head, so with small buffers and many heads the codec can cost more DRAM
traffic than it saves, and the simulation shows it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vitsim.errors import VitsimError
from vitsim.hw_configs.schema import AllocationPolicy, HardwareConfig, RowPolicy
from vitsim.simulator.dense_engine import dense_gemm
from vitsim.simulator.kernels import (
    GREEDY,
    INFEASIBLE_CYCLES,
    ROUND_ROBIN,
    best_split,
    heads_sparse_cycles,
    segment_stalls,
)
from vitsim.simulator.linear import effective_capacity
from vitsim.workloads.model_spec import BlockSpec

_ROW_POLICY = {RowPolicy.GREEDY: GREEDY, RowPolicy.ROUND_ROBIN: ROUND_ROBIN}


def index_bytes(n_values: int | np.ndarray) -> np.ndarray:
    """Bytes of one index able to address ``n_values`` positions (1, 2 or 4), elementwise."""
    return np.where(np.asarray(n_values) <= 1 << 8, 1,
                    np.where(np.asarray(n_values) <= 1 << 16, 2, 4))


@dataclass(frozen=True)
class BlockAttention:
    """Per-head arrays (length n_heads of the block) of one block's attention."""

    dense_lines: np.ndarray
    sparse_lines: np.ndarray
    qk_cycles: np.ndarray
    softmax_cycles: np.ndarray
    sv_cycles: np.ndarray
    stall_cycles: np.ndarray
    dense_busy_qk: np.ndarray  # cycles the dense engine's lines are busy in Q K^T
    dense_busy_sv: np.ndarray
    sparse_busy_qk: np.ndarray  # cycles the sparse engine's busiest line works in Q K^T
    sparse_busy_sv: np.ndarray
    dense_macs_qk: np.ndarray
    sparse_macs_qk: np.ndarray
    dense_macs_sv: np.ndarray
    sparse_macs_sv: np.ndarray
    softmax_ops: np.ndarray
    decode_macs: np.ndarray
    dram_qk_bytes: np.ndarray  # Q, K and index loads
    dram_v_bytes: np.ndarray
    dram_out_bytes: np.ndarray
    sram: dict  # (buffer, "read"|"write", stage) -> per-head bytes
    encode_macs: int
    heads_in_parallel: int  # heads per group on the array


def _sparse_line_load(hw: HardwareConfig, row_nnz: np.ndarray, row_offsets: np.ndarray,
                      sparse_lines: np.ndarray, sparse_nnz: np.ndarray) -> np.ndarray:
    """Scores on the busiest sparse line of each head (the head's sparse time in scores)."""
    policy = hw.engines.sparse.row_policy
    if policy is RowPolicy.BALANCED:
        safe = np.maximum(sparse_lines, 1)
        load = -(-sparse_nnz // safe)
        return np.where((sparse_lines == 0) & (sparse_nnz > 0), INFEASIBLE_CYCLES, load)
    load = heads_sparse_cycles(row_nnz, row_offsets, sparse_lines.astype(np.int64),
                               np.ones(sparse_lines.shape[0], dtype=np.int64),
                               _ROW_POLICY[policy])
    return np.asarray(load, dtype=np.int64)


def _split_lines(hw: HardwareConfig, dense_pairs: np.ndarray, sparse_nnz: np.ndarray,
                 row_nnz: np.ndarray, row_offsets: np.ndarray, cyc: int) -> np.ndarray:
    """Dense-engine MAC lines per head by the allocation policy."""
    n_lines = hw.mac_array.n_lines
    policy = hw.allocation.policy
    has_dense, has_sparse = dense_pairs > 0, sparse_nnz > 0
    if policy is AllocationPolicy.SEARCH and hw.engines.sparse.row_policy is RowPolicy.BALANCED:
        # Every split at once: [heads, dense lines 0..L].
        ld = np.arange(n_lines + 1)[None, :]
        dense_t = np.where(dense_pairs[:, None] > 0,
                           np.where(ld > 0, -(-dense_pairs[:, None] // np.maximum(ld, 1)),
                                    INFEASIBLE_CYCLES), 0)
        ls = n_lines - ld
        sparse_t = np.where(sparse_nnz[:, None] > 0,
                            np.where(ls > 0, -(-sparse_nnz[:, None] // np.maximum(ls, 1)),
                                     INFEASIBLE_CYCLES), 0)
        return np.argmin(np.maximum(dense_t, sparse_t), axis=1).astype(np.int64)
    if policy is AllocationPolicy.SEARCH:
        cyc_arr = np.full(dense_pairs.shape, cyc, dtype=np.int64)
        lines, _ = best_split(dense_pairs.astype(np.int64), row_nnz, row_offsets, n_lines,
                              cyc_arr, cyc_arr, _ROW_POLICY[hw.engines.sparse.row_policy])
        return np.asarray(lines, dtype=np.int64)
    if policy is AllocationPolicy.STATIC:
        share = np.full(dense_pairs.shape, hw.allocation.static_dense_fraction)
    else:  # proportional: ViTCoD's dynamic allocation, lines in proportion to the work
        work = dense_pairs + sparse_nnz
        share = np.divide(dense_pairs, work, out=np.zeros(dense_pairs.shape), where=work > 0)
    lines = np.rint(share * n_lines).astype(np.int64)
    both = has_dense & has_sparse
    lines = np.where(both, np.clip(lines, 1, n_lines - 1), lines)
    lines = np.where(has_dense & ~has_sparse, n_lines, lines)
    return np.where(~has_dense, 0, lines)


def heads_in_parallel(hw: HardwareConfig, block: BlockSpec) -> int:
    """Heads of ``block`` whose attention shares the array at once: the schedule's maximum,
    fewer when one query row of each of them would not fit the Q and output buffers."""
    bpe = hw.bytes_per_element
    db = hw.schedule.double_buffering
    q_cap = effective_capacity(hw.buffers.q.size_bytes, db)
    o_cap = effective_capacity(hw.buffers.output.size_bytes, db)
    row_out = (block.n_k_tokens + block.v_dim) * bpe  # a dense row bounds any sparse one
    fit = min(q_cap // (block.qk_dim * bpe), o_cap // row_out)
    return int(max(1, min(hw.schedule.max_heads_in_parallel, block.n_heads, fit)))


def simulate_attention(
    hw: HardwareConfig,
    block: BlockSpec,
    n_blocks: int,
    n_global: np.ndarray,
    sparse_nnz: np.ndarray,
    row_nnz: np.ndarray,
    row_offsets: np.ndarray,
    max_row_kept: np.ndarray,
) -> BlockAttention:
    """Cycles and counts of every head of ``n_blocks`` blocks shaped like ``block``.

    The per-head arrays (``n_global``, ``sparse_nnz``, ``max_row_kept``: length
    ``n_blocks x n_heads``, block-major) come from the trace; ``row_nnz``/``row_offsets`` are
    the sparser region's per-row kept counts of these heads (offsets relative to the first).
    Blocks are independent: each has its own query tiles, codec residency and tile timeline;
    they are computed together only because one call over all of them is fast.

    **Head groups**: the heads of a block run in groups of :func:`heads_in_parallel`
    consecutive heads. A group is one unit of work on the array: its denser regions share the
    dense lines, the rows of all its heads are pooled on the sparse lines (so one head's long
    row is balanced by the others' short ones), its query tiles hold a row of every head, and
    the line split is chosen for the group. A group's cycles are charged to its heads in
    proportion to their scores; its counts (MACs, bytes) are each head's own.
    """
    h = block.n_heads
    n_heads = n_blocks * h
    if n_global.shape[0] != n_heads:
        raise ValueError(f"expected {n_heads} heads, got {n_global.shape[0]}")
    n_q, n_k, d, dv = block.n_q_tokens, block.n_k_tokens, block.qk_dim, block.v_dim
    width = hw.mac_array.macs_per_line
    bpe = hw.bytes_per_element
    db = hw.schedule.double_buffering
    cq, cv = math.ceil(d / width), math.ceil(dv / width)
    sparse_on = hw.engines.sparse.enabled
    dense_pairs = (n_q * n_global).astype(np.int64)
    # Each block's longest kept row: it sizes the row pointers and the output tile rows.
    block_max_row = max_row_kept.reshape(n_blocks, h).max(axis=1)

    # Head groups ("units"): g consecutive heads of a block, the last one possibly smaller.
    g = heads_in_parallel(hw, block)
    unit_first = (np.arange(n_blocks)[:, None] * h + np.arange(0, h, g)).reshape(-1)
    n_units = unit_first.shape[0]
    units_per_block = n_units // n_blocks
    unit_of = np.repeat(np.arange(n_units),
                        np.diff(np.append(unit_first, n_heads)))  # head -> its unit

    def per_unit(x: npt.ArrayLike) -> np.ndarray:
        return np.add.reduceat(np.asarray(x), unit_first) if g > 1 else np.asarray(x)

    if not sparse_on:
        # A dense design: the masked attention is computed whole on the dense engine.
        qk = dense_gemm(n_q, d, n_k, hw)
        sv = dense_gemm(n_q, n_k, dv, hw)
        ones = np.ones(n_heads, dtype=np.int64)
        unit_dense_lines = np.full(n_units, hw.mac_array.n_lines, dtype=np.int64)
        unit_qk = per_unit(ones * qk.total_cycles)
        unit_sv = per_unit(ones * sv.total_cycles)
        unit_dense_qk, unit_dense_sv = unit_qk, unit_sv
        unit_sparse_qk = unit_sparse_sv = np.zeros(n_units, dtype=np.int64)
        scores = ones * n_q * n_k
        dense_macs_qk, dense_macs_sv = scores * d, scores * dv
        sparse_macs_qk = sparse_macs_sv = ones * 0
        index_load = ones * 0
    else:
        unit_pairs, unit_nnz = per_unit(dense_pairs), per_unit(sparse_nnz)
        unit_rows = row_offsets[np.append(unit_first, n_heads)]
        if hw.lines_shared:
            if hw.mac_array.n_lines < 2 and np.any((unit_pairs > 0) & (unit_nnz > 0)):
                # Both engines work at once on disjoint lines: one line cannot be split, and
                # giving it to either engine would leave the other's work uncounted.
                raise VitsimError(f"one MAC line cannot be split between the dense and sparse "
                                  f"engines (block {block.name}); use at least 2 lines or "
                                  f"schedule.polarization: false", field="mac_array.n_lines")
            unit_dense_lines = _split_lines(hw, unit_pairs, unit_nnz, row_nnz, unit_rows,
                                            cq + cv)
            per_line = np.divide(unit_pairs + unit_dense_lines - 1, unit_dense_lines,
                                 out=np.zeros(n_units),
                                 where=unit_dense_lines > 0).astype(np.int64)
            unit_dense_qk, unit_dense_sv = per_line * cq, per_line * cv
        else:
            # A separate dense array (systolic) takes the denser region, one head after
            # another; all lines are sparse.
            unit_dense_lines = np.zeros(n_units, dtype=np.int64)
            unit_dense_qk = per_unit([dense_gemm(n_q, d, int(x), hw).total_cycles if x else 0
                                      for x in n_global])
            unit_dense_sv = per_unit([dense_gemm(n_q, int(x), dv, hw).total_cycles if x else 0
                                      for x in n_global])
        unit_sparse_lines = hw.mac_array.n_lines - unit_dense_lines
        load = _sparse_line_load(hw, row_nnz, unit_rows, unit_sparse_lines, unit_nnz)
        unit_sparse_qk, unit_sparse_sv = load * cq, load * cv
        unit_qk = np.maximum(unit_dense_qk, unit_sparse_qk)
        unit_sv = np.maximum(unit_dense_sv, unit_sparse_sv)
        scores = dense_pairs + sparse_nnz
        dense_macs_qk, dense_macs_sv = dense_pairs * d, dense_pairs * dv
        sparse_macs_qk, sparse_macs_sv = sparse_nnz * d, sparse_nnz * dv
        row_pointer = np.repeat(index_bytes(block_max_row.astype(np.int64) + 1), h)
        index_load = sparse_nnz * index_bytes(n_k) + n_q * row_pointer

    softmax_ops = scores
    unit_softmax = np.ceil(per_unit(softmax_ops) / hw.softmax.ops_per_cycle).astype(np.int64)

    # --- memory: query tiles, re-loads, the codec on the load path ------------------------
    q_cap = effective_capacity(hw.buffers.q.size_bytes, db)
    k_cap = effective_capacity(hw.buffers.k.size_bytes, db)
    v_cap = effective_capacity(hw.buffers.v.size_bytes, db)
    o_cap = effective_capacity(hw.buffers.output.size_bytes, db)
    row_out = ((block_max_row if sparse_on else np.full(n_blocks, n_k)) * bpe
               + dv * bpe).astype(np.int64)
    rows_per_tile = np.minimum(min(n_q, q_cap // (g * d * bpe)), o_cap // (g * row_out))
    if np.any(rows_per_tile < 1):
        which = "q" if q_cap < d * bpe else "output"
        raise VitsimError(f"buffer too small for one query row of block {block.name}",
                          field=f"buffers.{which}")
    rows_per_tile = rows_per_tile.astype(np.int64)
    n_tiles = -(-n_q // rows_per_tile)  # per block
    k_bytes, v_bytes = n_k * d * bpe, n_k * dv * bpe  # one head's
    k_loads = np.repeat(n_tiles if g * k_bytes > k_cap else np.ones(n_blocks, np.int64), h)
    v_loads = np.repeat(n_tiles if g * v_bytes > v_cap else np.ones(n_blocks, np.int64), h)

    codec = hw.codec
    if codec.enabled:
        # The Q and K buffers hold the *compressed* tensors of all heads; the decoder sits
        # between them and the engines. What fits stays resident for every head; the rest
        # is streamed again for each further head of the block.
        hc = codec.compressed_heads(h)
        compressed = (n_q + n_k) * hc * d * bpe
        resident = min(1.0, (q_cap + k_cap) / compressed)
        qk_load_by_block = np.full((n_blocks, h), (1.0 - resident) * compressed)
        qk_load_by_block[:, 0] = compressed
        qk_load = qk_load_by_block.reshape(n_heads)
        decode_macs = np.full(n_heads, (n_q + n_k) * d * hc, dtype=np.int64)
        # One decoder expands the group's heads one after another.
        unit_decode = np.ceil(per_unit(decode_macs) / (codec.decoder_lines * width))
        encode_macs = (n_q + n_k) * d * h * hc
    else:
        qk_load = (n_q * d * bpe + k_loads * k_bytes).astype(np.float64)
        decode_macs = np.zeros(n_heads, dtype=np.int64)
        unit_decode = np.zeros(n_units)
        encode_macs = 0
    v_load = (v_loads * v_bytes).astype(np.float64)
    out_store = np.full(n_heads, n_q * dv * bpe, dtype=np.float64)
    bpc = hw.dram_bytes_per_cycle

    # Tiles: unit-major within each block, n_tiles per unit, each with 1/n_tiles of the
    # unit's work; one timeline per block.
    unit_tiles = np.repeat(n_tiles, units_per_block)
    per_tile = lambda x: np.repeat(np.asarray(x, dtype=np.float64) / unit_tiles,  # noqa: E731
                                   unit_tiles)
    # Decoding streams Q and K into the engines during Q K^T: that phase takes the longer.
    unit_qk = np.maximum(unit_qk, unit_decode)
    unit_compute = (unit_qk + unit_softmax + unit_sv).astype(np.float64)
    head_load = (qk_load + index_load + v_load) / bpc
    tile_offsets = np.concatenate(([0], np.cumsum(n_tiles * units_per_block))).astype(np.int64)
    stall = segment_stalls(per_tile(per_unit(head_load)), per_tile(unit_compute),
                           per_tile(per_unit(out_store)) / bpc, tile_offsets, db)
    # A block's stall is charged to its heads in proportion to the loads they wait for.
    weights = head_load.reshape(n_blocks, h)
    totals = weights.sum(axis=1, keepdims=True)
    share = np.divide(weights, totals, out=np.full((n_blocks, h), 1.0 / h), where=totals > 0)
    stall_cycles = (share * np.asarray(stall)[:, None]).reshape(n_heads)

    # A unit's cycles go to its heads in proportion to their scores (all of it when g = 1).
    if g > 1:
        unit_scores = per_unit(scores).astype(np.float64)
        members = np.diff(np.append(unit_first, n_heads))[unit_of]
        part = np.divide(scores, unit_scores[unit_of], out=1.0 / members,
                         where=unit_scores[unit_of] > 0)
    else:
        part = np.ones(n_heads)

    def to_heads(x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)[unit_of] * part

    dense_lines = unit_dense_lines[unit_of]
    scores_b = scores * bpe
    q_head, k_head = np.full(n_heads, n_q * d * bpe), k_loads * k_bytes  # one decoded head
    if codec.enabled:
        # DRAM fills the buffers with compressed Q and K (split by token count); for every
        # head the decoder reads all compressed heads and writes the head it expands back,
        # where the engines read it as without the codec.
        q_part = n_q / (n_q + n_k)
        dec_read = np.full(n_heads, compressed, dtype=np.float64)
        q_write, k_write = qk_load * q_part + q_head, qk_load * (1 - q_part) + k_head
        q_read, k_read = dec_read * q_part + q_head, dec_read * (1 - q_part) + scores * d * bpe
    else:
        q_write, k_write, q_read, k_read = q_head, k_head, q_head, scores * d * bpe
    sram = {
        ("q", "write", "qk"): np.rint(q_write),
        ("k", "write", "qk"): np.rint(k_write),
        ("index", "write", "qk"): index_load,
        ("q", "read", "qk"): np.rint(q_read),
        ("k", "read", "qk"): np.rint(k_read),
        ("index", "read", "qk"): index_load,
        ("output", "write", "qk"): scores_b,
        ("output", "read", "softmax"): scores_b,
        ("output", "write", "softmax"): scores_b,
        ("v", "write", "sv"): v_loads * v_bytes,
        ("v", "read", "sv"): scores * dv * bpe,
        ("output", "read", "sv"): scores_b + n_q * dv * bpe,
        ("output", "write", "sv"): np.full(n_heads, n_q * dv * bpe),
    }
    return BlockAttention(
        dense_lines=dense_lines,
        sparse_lines=(hw.mac_array.n_lines - dense_lines) if sparse_on
        else np.zeros(n_heads, dtype=np.int64),
        qk_cycles=to_heads(unit_qk), softmax_cycles=to_heads(unit_softmax),
        sv_cycles=to_heads(unit_sv), stall_cycles=stall_cycles,
        dense_busy_qk=to_heads(unit_dense_qk), dense_busy_sv=to_heads(unit_dense_sv),
        sparse_busy_qk=to_heads(unit_sparse_qk), sparse_busy_sv=to_heads(unit_sparse_sv),
        dense_macs_qk=dense_macs_qk, sparse_macs_qk=sparse_macs_qk,
        dense_macs_sv=dense_macs_sv, sparse_macs_sv=sparse_macs_sv,
        softmax_ops=softmax_ops, decode_macs=decode_macs,
        dram_qk_bytes=qk_load + index_load, dram_v_bytes=v_load, dram_out_bytes=out_store,
        sram=sram, encode_macs=int(encode_macs), heads_in_parallel=g,
    )
