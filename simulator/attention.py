"""The attention of one block on ViTCoD-style engines, vectorised over its heads.

Per head group (ViTCoD, You et al., HPCA 2023, Sec. V; its loop nest runs the heads of a
layer in parallel): ``g`` heads (:func:`heads_in_parallel`: as many as the schedule allows and
the Q, output, K and V buffers hold) pool their work on the MAC lines, in the polarized order:

- **Denser region** (``n_q x G`` global columns, zeros included) on the dense engine's
  ``L_d`` MAC lines: each line computes one score (or one score's S V accumulate) at a time,
  ``macs_per_line`` MACs per cycle along the head dim, so a score costs ``ceil(d / w)``
  cycles for Q K^T and ``ceil(d_v / w)`` for S V; the pairs spread evenly.
- **Sparser region** on the remaining ``L - L_d`` lines, K-stationary by default: Q K^T by
  key columns of the CSC view (longest first onto the least-loaded line), S V by rows split
  evenly across lines with their reductions; ``dataflow: rows`` puts whole rows on lines by
  the row policy (an ablation). The most-loaded line sets the time.
- The split ``L_d`` is the allocation policy's (static, proportional to the dense and sparse
  work, or the best split). The decoder (array placement), Q K^T, softmax and S V run one
  after another per group; both engines work in parallel within Q K^T and within S V.
- **Memory**: query tiles fit the Q and output buffers; K and V are loaded once per group
  when they fit their buffers and again for every query tile when not. Compressed Q/K (the
  auto-encoder along the head axis, ``h -> h'``) cross DRAM once per group (or once per block
  when the whole compressed tensor fits); decoding any head needs all ``h'`` compressed heads,
  so with several groups the compressed rows pass several times and the codec can cost
  traffic, which the simulation shows. The tile timeline overlaps the next tile's loads with
  this tile's compute when double buffered.
- **Operand reads** follow the register level of :func:`_operand_reads`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vitsim.errors import VitsimError
from vitsim.hw_configs.schema import (
    AllocationPolicy,
    DecoderPlacement,
    HardwareConfig,
    RowPolicy,
    SparseDataflow,
)
from vitsim.simulator.dense_engine import dense_gemm
from vitsim.simulator.kernels import (
    GREEDY,
    INFEASIBLE_CYCLES,
    ROUND_ROBIN,
    best_split,
    head_stalls,
    heads_sparse_cycles,
    heads_sparse_every_split,
    heads_split_rows_cycles,
    heads_split_rows_every_split,
    units_greedy_max_load,
    units_row_ends,
    units_sorted_nonzero,
    units_split_rows_max_load,
)
from vitsim.simulator.kernels import attention as kernel
from vitsim.simulator.linear import effective_capacity
from vitsim.workloads.model_spec import BlockSpec

_ROW_POLICY = {RowPolicy.GREEDY: GREEDY, RowPolicy.ROUND_ROBIN: ROUND_ROBIN}
# The SRAM counts of a head, (buffer, "read"|"write", stage), in the order
# BlockAttention.sram and the attention kernel list them.
SRAM_ENTRIES = (
    ("q", "write", "qk"), ("k", "write", "qk"), ("index", "write", "qk"), ("q", "read", "qk"),
    ("k", "read", "qk"), ("index", "read", "qk"), ("output", "write", "qk"),
    ("output", "read", "softmax"), ("output", "write", "softmax"), ("v", "write", "sv"),
    ("v", "read", "sv"), ("output", "read", "sv"), ("output", "write", "sv"),
)


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
    sparse_mean_qk: np.ndarray  # the sparse engine's mean line load in Q K^T, cycles
    sparse_mean_sv: np.ndarray
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
    fewer when one query row of each of them would not fit the Q and output buffers, and
    fewer when their keys and values would not fit the K and V buffers while one head's
    do (a group whose K and V stay on chip loads them once; a larger group would stream
    them again for every query tile, which costs more DRAM traffic than pooling the heads'
    work on the lines saves)."""
    bpe = hw.bytes_per_element
    db = hw.schedule.double_buffering
    q_cap = effective_capacity(hw.buffers.q.size_bytes, db)
    o_cap = effective_capacity(hw.buffers.output.size_bytes, db)
    row_out = (block.n_k_tokens + block.v_dim) * bpe  # a dense row bounds any sparse one
    fit = min(q_cap // (block.qk_dim * bpe), o_cap // row_out)
    k_head, v_head = block.n_k_tokens * block.qk_dim * bpe, block.n_k_tokens * block.v_dim * bpe
    kv_fit = min(hw.buffers.k.size_bytes // k_head, hw.buffers.v.size_bytes // v_head)
    if kv_fit >= 1:
        fit = min(fit, kv_fit)
    return int(max(1, min(hw.schedule.max_heads_in_parallel, block.n_heads, fit)))


@dataclass(frozen=True)
class _Units:
    """Head groups ("units"): ``g`` consecutive heads of a block that share the array at once
    (the last group of a block possibly smaller); arrays over the ``n_blocks x h`` heads."""

    g: int
    first: np.ndarray  # int64 [U]: first head of each unit
    of: np.ndarray  # int64 [H]: unit of each head
    per_block: int

    def sum(self, x: np.ndarray | list) -> np.ndarray:
        """Per-unit sums of a per-head array."""
        return np.add.reduceat(np.asarray(x), self.first) if self.g > 1 else np.asarray(x)

    @property
    def n(self) -> int:
        return int(self.first.shape[0])

    def offsets(self, per_head_offsets: np.ndarray) -> np.ndarray:
        """Offsets of each unit's items from per-head offsets ``[H + 1]``."""
        return per_head_offsets[np.append(self.first, per_head_offsets.shape[0] - 1)]


def _units(hw: HardwareConfig, block: BlockSpec, n_blocks: int) -> _Units:
    h = block.n_heads
    n_heads = n_blocks * h
    g = heads_in_parallel(hw, block)
    first = (np.arange(n_blocks)[:, None] * h + np.arange(0, h, g)).reshape(-1)
    of = np.repeat(np.arange(first.shape[0]), np.diff(np.append(first, n_heads)))
    return _Units(g=g, first=first, of=of, per_block=first.shape[0] // n_blocks)


@dataclass(eq=False)
class UnitView:
    """What one head-group layout (:class:`_Units`) of fixed per-row and per-column counts
    implies whatever the hardware: the units' offsets into the rows and columns, and, made on
    first use, the inputs of the K-stationary kernels (each unit's column counts sorted, its
    rows' running ends). A prepared trace keeps one per group, polarization and ``g``."""

    units: _Units
    rows: tuple[np.ndarray, np.ndarray]  # per-row kept counts, per-unit offsets
    cols: tuple[np.ndarray, np.ndarray]  # per-column kept counts, per-unit offsets
    _sorted_cols: tuple | None = None
    _row_ends: np.ndarray | None = None
    _held: dict = dataclasses.field(default_factory=dict)
    _loads: tuple[np.ndarray, np.ndarray] | None = None

    def held(self, stationary: tuple[np.ndarray, np.ndarray], k_stationary: bool,
             r: int) -> np.ndarray:
        """Per head, the stationary operand's chunk loads of :func:`_operand_reads`
        (``stationary``: the per-head counts of that dataflow), kept by dataflow and ``R``."""
        held = self._held.get((k_stationary, r))
        if held is None:
            held = self._held[k_stationary, r] = _segment_sums(-(-stationary[0] // r),
                                                               stationary[1])
        return held

    def sorted_cols(self) -> tuple:
        """:func:`~vitsim.simulator.kernels.units_sorted_nonzero` of the columns."""
        if self._sorted_cols is None:
            self._sorted_cols = units_sorted_nonzero(*self.cols)
        return self._sorted_cols

    def row_ends(self) -> np.ndarray:
        """:func:`~vitsim.simulator.kernels.units_row_ends` of the rows."""
        if self._row_ends is None:
            self._row_ends = units_row_ends(*self.rows)
        return self._row_ends

    def load_memo(self, n_lines: int) -> tuple[np.ndarray, np.ndarray]:
        """The K-stationary dataflow's busiest sparse line per unit and sparse line count, in
        kept scores, for Q K^T (the columns longest first) and S V (the rows split evenly):
        int64 ``[U, W]`` with ``W > n_lines``, -1 where not yet known. They depend on the
        trace and the line count only, so every hardware point with the same split reads
        what an earlier one computed (the attention kernel completes them as it goes)."""
        memo = self._loads
        if memo is None or memo[0].shape[1] <= n_lines:
            grown = tuple(np.full((self.units.n, n_lines + 1), -1, dtype=np.int64)
                          for _ in range(2))
            if memo is not None:
                for new, old in zip(grown, memo, strict=True):
                    new[:, :old.shape[1]] = old
            memo = self._loads = (grown[0], grown[1])
        return memo

    def every_split(self, n_lines: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`load_memo` for every sparse line count ``0..n_lines`` (``[U, n_lines + 1]``
        each), computed where missing by the every-split kernels."""
        qk, sv = (x[:, :n_lines + 1] for x in self.load_memo(n_lines))
        if (qk < 0).any():
            qk[...] = heads_sparse_every_split(self.cols[0], self.cols[1], n_lines)
        if (sv < 0).any():
            sv[...] = heads_split_rows_every_split(self.rows[0], self.rows[1], n_lines)
        return qk, sv


def unit_view(hw: HardwareConfig, block: BlockSpec, n_blocks: int, row_nnz: np.ndarray,
               row_offsets: np.ndarray, col_nnz: np.ndarray, col_offsets: np.ndarray,
               views: dict[int, UnitView]) -> UnitView:
    """The :class:`UnitView` of ``hw``'s head groups, from ``views`` (by ``g``), made and kept
    there when missing."""
    view = views.get(heads_in_parallel(hw, block))
    if view is None:
        u = _units(hw, block, n_blocks)
        view = views[u.g] = UnitView(units=u, rows=(row_nnz, u.offsets(row_offsets)),
                                     cols=(col_nnz, u.offsets(col_offsets)))
    return view


@dataclass(frozen=True)
class _EngineTimes:
    """Per-unit engine cycles of Q K^T and S V, and per-head MACs and index bytes."""

    dense_lines: np.ndarray  # [U]
    dense_qk: np.ndarray  # [U] cycles of the denser engine
    dense_sv: np.ndarray
    sparse_qk: np.ndarray  # [U] cycles of the sparser engine's busiest line
    sparse_sv: np.ndarray
    sparse_mean_qk: np.ndarray  # [U] the sparser engine's mean line load, cycles
    sparse_mean_sv: np.ndarray
    scores: np.ndarray  # [H] kept scores
    dense_macs_qk: np.ndarray  # [H]
    dense_macs_sv: np.ndarray
    sparse_macs_qk: np.ndarray
    sparse_macs_sv: np.ndarray
    index_load: np.ndarray  # [H] index bytes from DRAM
    operand_reads: dict  # "q" | "k" | "s" | "v" -> [H] elements the engines read from SRAM


def _segment_sums(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sums of ``values`` over the segments ``offsets[i]:offsets[i + 1]`` (empty ones: 0)."""
    cum = np.concatenate(([0], np.cumsum(values, dtype=np.int64)))
    return cum[offsets[1:]] - cum[offsets[:-1]]


def _operand_reads(hw: HardwareConfig, block: BlockSpec, n_global: np.ndarray,
                   sparse_nnz: np.ndarray, lines_per_head: np.ndarray,
                   stationary: tuple[np.ndarray, np.ndarray],
                   held_loads: np.ndarray | None = None) -> dict:
    """Elements of Q, K, S and V the MAC lines read from SRAM per head (register level).

    A line holds one ``macs_per_line``-long chunk of an operand in its multipliers' registers
    and streams up to ``accumulators_per_line`` (``R``) partners past it, keeping their
    partial sums in its accumulators (the loop nest of :func:`mac_lines_gemm`):

    * Q K^T, denser region: a global key's chunk stays while a stripe of ``R`` queries
      streams past; the query chunks are broadcast to the head's lines that hold other
      global keys, once per group of ``lines per head`` keys.
    * Q K^T, sparser region, K-stationary: a key column's chunk stays while its kept queries
      stream past, ``R`` at a time (``sum_j ceil(c_j / R)`` key loads); every score reads its
      query chunk (lines are not in step, so nothing is broadcast). The ``rows`` dataflow
      is the mirror image: a query row stays, its kept keys stream.
    * S V (output stationary): a score chunk stays while ``R`` of the ``d_v`` outputs
      accumulate (``ceil(d_v / R)`` reads per score); every score reads its V row.

    ``stationary`` is the per-item kept counts and per-head offsets of the sparser region's
    stationary operand (key columns for K-stationary, query rows for ``rows``);
    ``held_loads``, when given, their ``sum_j ceil(c_j / R)`` per head, computed before.
    """
    n_q, d, dv = block.n_q_tokens, block.qk_dim, block.v_dim
    r = hw.mac_array.accumulators_per_line
    pairs = n_q * n_global
    groups = np.where(n_global > 0, -(-n_global // np.maximum(lines_per_head, 1)), 0)
    if held_loads is None:
        held_loads = _segment_sums(-(-stationary[0] // r), stationary[1])
    held = held_loads * d
    streamed = sparse_nnz * d
    k_stationary = hw.engines.sparse.dataflow is SparseDataflow.K_STATIONARY
    scores = pairs + sparse_nnz
    reads = {
        "q": n_q * d * groups + (streamed if k_stationary else held),
        "k": n_global * d * -(-n_q // r) + (held if k_stationary else streamed),
        "s": scores * -(-dv // r),
        "v": scores * dv,
    }
    return {name: x * hw.bytes_per_element for name, x in reads.items()}


def _dense_design_times(hw: HardwareConfig, block: BlockSpec, u: _Units,
                        n_heads: int) -> _EngineTimes:
    """A dense design: the masked attention is computed whole on the dense engine."""
    n_q, n_k, d, dv = block.n_q_tokens, block.n_k_tokens, block.qk_dim, block.v_dim
    qk = dense_gemm(n_q, d, n_k, hw)
    sv = dense_gemm(n_q, n_k, dv, hw)
    ones = np.ones(n_heads, dtype=np.int64)
    zeros_u = np.zeros(u.n, dtype=np.int64)
    scores = ones * n_q * n_k
    unit_qk, unit_sv = u.sum(ones * qk.total_cycles), u.sum(ones * sv.total_cycles)
    return _EngineTimes(
        dense_lines=np.full(u.n, hw.mac_array.n_lines, dtype=np.int64),
        dense_qk=unit_qk, dense_sv=unit_sv, sparse_qk=zeros_u, sparse_sv=zeros_u,
        sparse_mean_qk=zeros_u.astype(np.float64), sparse_mean_sv=zeros_u.astype(np.float64),
        scores=scores, dense_macs_qk=scores * d, dense_macs_sv=scores * dv,
        sparse_macs_qk=ones * 0, sparse_macs_sv=ones * 0, index_load=ones * 0,
        operand_reads={"q": ones * qk.sram_reads_a_bytes, "k": ones * qk.sram_reads_b_bytes,
                       "s": ones * sv.sram_reads_a_bytes, "v": ones * sv.sram_reads_b_bytes})


def _sparse_unit_cycles(hw: HardwareConfig, sparse_lines: np.ndarray, unit_nnz: np.ndarray,
                        rows: tuple[np.ndarray, np.ndarray],
                        cols: tuple[np.ndarray, np.ndarray], cq: int, cv: int,
                        view: UnitView | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cycles of the busiest sparse line in Q K^T and in S V, per unit, for ``sparse_lines``
    lines; ``rows``/``cols``: per-row and per-column kept counts with per-unit offsets;
    ``view``: the same units' precomputed kernel inputs, if any (same results, faster)."""
    if hw.engines.sparse.dataflow is SparseDataflow.K_STATIONARY and view is not None:
        nnz, offsets, run_values, run_counts, run_offsets, total, largest = view.sorted_cols()
        qk = units_greedy_max_load(nnz, offsets, run_values, run_counts, run_offsets, total,
                                   largest, sparse_lines)
        sv = units_split_rows_max_load(view.row_ends(), view.rows[1], sparse_lines)
        return _scale_cycles(qk, cq), _scale_cycles(sv, cv)
    if hw.engines.sparse.dataflow is SparseDataflow.K_STATIONARY:
        ones = np.ones(sparse_lines.shape[0], dtype=np.int64)
        qk = heads_sparse_cycles(cols[0], cols[1], sparse_lines.astype(np.int64), ones, GREEDY)
        sv = heads_split_rows_cycles(rows[0], rows[1], sparse_lines.astype(np.int64), ones)
        return _scale_cycles(qk, cq), _scale_cycles(sv, cv)
    load = _sparse_line_load(hw, rows[0], rows[1], sparse_lines, unit_nnz)
    return _scale_cycles(load, cq), _scale_cycles(load, cv)


def _scale_cycles(load: npt.ArrayLike, cycles_per_score: int) -> np.ndarray:
    """``load x cycles_per_score``, keeping :data:`INFEASIBLE_CYCLES` as it is: the sentinel
    times a few cycles would overflow int64 and wrap to a negative, i.e. 'cheapest', time."""
    load = np.asarray(load, dtype=np.int64)
    return np.where(load >= INFEASIBLE_CYCLES, INFEASIBLE_CYCLES, load * cycles_per_score)


def _search_split_k_stationary(hw: HardwareConfig, unit_pairs: np.ndarray,
                               rows: tuple[np.ndarray, np.ndarray],
                               cols: tuple[np.ndarray, np.ndarray], cq: int, cv: int,
                               view: UnitView | None = None) -> np.ndarray:
    """The dense-line count minimising each unit's Q K^T + S V time, by trying every split
    (the sparse loads of every split from ``view``'s memo, when given)."""
    n_lines = hw.mac_array.n_lines
    n_units = unit_pairs.shape[0]
    ld = np.tile(np.arange(n_lines + 1, dtype=np.int64), n_units)
    unit_idx = np.repeat(np.arange(n_units), n_lines + 1)
    # [unit, sparse lines 0..L] in score-times, each unit's columns sorted once; reversed to
    # [unit, dense lines 0..L] (sparse = L - dense).
    if view is None:
        every = (heads_sparse_every_split(cols[0], cols[1], n_lines),
                 heads_split_rows_every_split(rows[0], rows[1], n_lines))
    else:
        every = view.every_split(n_lines)
    qk, sv = (x[:, ::-1].reshape(-1) for x in every)
    sparse_qk, sparse_sv = _scale_cycles(qk, cq), _scale_cycles(sv, cv)
    pairs = unit_pairs[unit_idx]
    per_line = np.where(pairs > 0, np.where(ld > 0, -(-pairs // np.maximum(ld, 1)),
                                            INFEASIBLE_CYCLES), 0)
    total = (np.maximum(_scale_cycles(per_line, cq), sparse_qk).astype(np.float64)
             + np.maximum(_scale_cycles(per_line, cv), sparse_sv))
    return np.argmin(total.reshape(n_units, n_lines + 1), axis=1).astype(np.int64)


def _engine_times(hw: HardwareConfig, block: BlockSpec, u: _Units, n_global: np.ndarray,
                  sparse_nnz: np.ndarray, row_nnz: np.ndarray, row_offsets: np.ndarray,
                  col_nnz: np.ndarray, col_offsets: np.ndarray,
                  max_row_kept: np.ndarray, view: UnitView | None = None) -> _EngineTimes:
    """The denser engine on the global columns and the sparser engine on the rest, with the
    MAC lines split between them per unit by the allocation policy (``view``: the units'
    precomputed offsets and kernel inputs, if any)."""
    n_q, n_k, d, dv = block.n_q_tokens, block.n_k_tokens, block.qk_dim, block.v_dim
    h = block.n_heads
    width = hw.mac_array.macs_per_line
    cq, cv = math.ceil(d / width), math.ceil(dv / width)
    dense_pairs = (n_q * n_global).astype(np.int64)
    unit_pairs, unit_nnz = u.sum(dense_pairs), u.sum(sparse_nnz)
    rows = view.rows if view is not None else (row_nnz, u.offsets(row_offsets))
    cols = view.cols if view is not None else (col_nnz, u.offsets(col_offsets))
    k_stationary = hw.engines.sparse.dataflow is SparseDataflow.K_STATIONARY
    if hw.lines_shared:
        if hw.mac_array.n_lines < 2 and np.any((unit_pairs > 0) & (unit_nnz > 0)):
            # Both engines work at once on disjoint lines: one line cannot be split, and
            # giving it to either engine would leave the other's work uncounted.
            raise VitsimError(f"one MAC line cannot be split between the dense and sparse "
                              f"engines (block {block.name}); use at least 2 lines or "
                              f"schedule.polarization: false", field="mac_array.n_lines")
        if k_stationary and hw.allocation.policy is AllocationPolicy.SEARCH:
            dense_lines = _search_split_k_stationary(hw, unit_pairs, rows, cols, cq, cv, view)
        else:
            dense_lines = _split_lines(hw, unit_pairs, unit_nnz, rows[0], rows[1], cq + cv)
        per_line = np.divide(unit_pairs + dense_lines - 1, dense_lines,
                             out=np.zeros(u.n), where=dense_lines > 0).astype(np.int64)
        dense_qk, dense_sv = per_line * cq, per_line * cv
    else:
        # A separate dense array (systolic) takes the denser region, one head after
        # another; all lines are sparse.
        dense_lines = np.zeros(u.n, dtype=np.int64)
        qk_gemms = [dense_gemm(n_q, d, int(x), hw) if x else None for x in n_global]
        sv_gemms = [dense_gemm(n_q, int(x), dv, hw) if x else None for x in n_global]
        dense_qk = u.sum([t.total_cycles if t else 0 for t in qk_gemms])
        dense_sv = u.sum([t.total_cycles if t else 0 for t in sv_gemms])
    sparse_lines = hw.mac_array.n_lines - dense_lines
    sparse_qk, sparse_sv = _sparse_unit_cycles(hw, sparse_lines, unit_nnz, rows, cols, cq, cv,
                                               view)
    stationary = (col_nnz, col_offsets) if k_stationary else (row_nnz, row_offsets)
    held = None if view is None else view.held(stationary, k_stationary,
                                               hw.mac_array.accumulators_per_line)
    reads = _operand_reads(hw, block, n_global, sparse_nnz, dense_lines[u.of] // u.g,
                           stationary, held)
    if not hw.lines_shared:  # the denser region's operands as the systolic array reads them
        no_global = np.zeros_like(n_global)
        reads = _operand_reads(hw, block, no_global, sparse_nnz, no_global, stationary)
        for name, gemms, side in (("q", qk_gemms, "a"), ("k", qk_gemms, "b"),
                                  ("s", sv_gemms, "a"), ("v", sv_gemms, "b")):
            reads[name] = reads[name] + np.array(
                [getattr(t, f"sram_reads_{side}_bytes") if t else 0 for t in gemms])
    mean = np.divide(unit_nnz, sparse_lines, out=np.zeros(u.n), where=sparse_lines > 0)
    # Each block's longest kept row sizes the row pointers.
    block_max_row = max_row_kept.reshape(-1, h).max(axis=1)
    row_pointer = np.repeat(index_bytes(block_max_row.astype(np.int64) + 1), h)
    # K-stationary reads the CSC view: a row index per score and a pointer per key column.
    pointers = n_k * index_bytes(int(n_q) + 1) if k_stationary else n_q * row_pointer
    index_load = sparse_nnz * index_bytes(n_q if k_stationary else n_k) + pointers
    return _EngineTimes(
        dense_lines=dense_lines, dense_qk=dense_qk, dense_sv=dense_sv,
        sparse_qk=sparse_qk, sparse_sv=sparse_sv,
        sparse_mean_qk=mean * cq, sparse_mean_sv=mean * cv,
        scores=dense_pairs + sparse_nnz,
        dense_macs_qk=dense_pairs * d, dense_macs_sv=dense_pairs * dv,
        sparse_macs_qk=sparse_nnz * d, sparse_macs_sv=sparse_nnz * dv,
        index_load=np.asarray(index_load, dtype=np.int64), operand_reads=reads)


@dataclass(frozen=True)
class _Memory:
    """Query tiles and per-head DRAM traffic of one group of blocks."""

    n_tiles: np.ndarray  # [n_blocks] query tiles per unit
    k_loads: np.ndarray  # [H] times each head's (decoded-size) K tile goes through the buffer
    v_loads: np.ndarray  # [H]
    qk_load: np.ndarray  # [H] bytes of Q and K from DRAM (compressed with the codec)
    v_load: np.ndarray  # [H]
    out_store: np.ndarray  # [H]
    decode_macs: np.ndarray  # [H]
    encode_macs: int  # per block
    compressed_bytes: float  # per block: compressed Q and K of all heads (0 without codec)


def _memory(hw: HardwareConfig, block: BlockSpec, u: _Units, n_blocks: int,
            max_row_kept: np.ndarray) -> _Memory:
    """Query tiles that fit the Q and output buffers, K/V re-loads, and the codec.

    Compressed Q/K (the auto-encoder along the head axis, ``h -> h'``) cross DRAM once per
    block: the decoder rebuilds every head of a token from its ``h'`` compressed values on
    chip. Q goes tile by tile; compressed K stays in the K buffer when it fits and is
    otherwise streamed again for every query tile.
    """
    h = block.n_heads
    n_heads = n_blocks * h
    n_q, n_k, d, dv = block.n_q_tokens, block.n_k_tokens, block.qk_dim, block.v_dim
    bpe = hw.bytes_per_element
    db = hw.schedule.double_buffering
    sparse_on = hw.engines.sparse.enabled
    g = u.g
    q_cap = effective_capacity(hw.buffers.q.size_bytes, db)
    o_cap = effective_capacity(hw.buffers.output.size_bytes, db)
    block_max_row = max_row_kept.reshape(n_blocks, h).max(axis=1)
    row_out = ((block_max_row if sparse_on else np.full(n_blocks, n_k)) * bpe
               + dv * bpe).astype(np.int64)
    rows_per_tile = np.minimum(min(n_q, q_cap // (g * d * bpe)), o_cap // (g * row_out))
    if np.any(rows_per_tile < 1):
        which = "q" if q_cap < d * bpe else "output"
        raise VitsimError(f"buffer too small for one query row of block {block.name}",
                          field=f"buffers.{which}")
    n_tiles = -(-n_q // rows_per_tile.astype(np.int64))  # per unit, per block
    # K and V are loaded once per group and serve all its query tiles: they stay when the
    # group's K (V) fits the whole buffer, and are loaded again for every query tile when not.
    k_full, v_full = hw.buffers.k.size_bytes, hw.buffers.v.size_bytes
    k_bytes, v_bytes = n_k * d * bpe, n_k * dv * bpe  # one head's
    k_loads = np.repeat(n_tiles if g * k_bytes > k_full else np.ones(n_blocks, np.int64), h)
    v_loads = np.repeat(n_tiles if g * v_bytes > v_full else np.ones(n_blocks, np.int64), h)
    codec = hw.codec
    if codec.enabled:
        hc = codec.compressed_heads(h, block.ae_heads)
        q_c, k_c = n_q * hc * d * bpe, n_k * hc * d * bpe  # one block's compressed Q, K
        # Compressed K stays whole when it fits the K buffer; otherwise it streams past the
        # decoder once per group when the group's decoded K fits (it stays), and once per
        # query tile when not. Compressed Q goes tile by tile, once per group unless all of
        # it fits the Q buffer.
        group_k = g * k_bytes <= k_full
        k_passes = np.where(k_c <= k_full, np.ones_like(n_tiles),
                            u.per_block if group_k else n_tiles * u.per_block)  # per block
        q_passes = 1 if q_c <= hw.buffers.q.size_bytes else u.per_block
        block_load = q_passes * q_c + k_passes * k_c
        qk_load = np.repeat(block_load / h, h).astype(np.float64)
        decode_macs = np.full(n_heads, (n_q + n_k) * d * hc, dtype=np.int64)
        encode_macs = (n_q + n_k) * d * h * hc
        compressed = float(q_c + k_c)
    else:
        qk_load = (n_q * d * bpe + k_loads * k_bytes).astype(np.float64)
        decode_macs = np.zeros(n_heads, dtype=np.int64)
        encode_macs = 0
        compressed = 0.0
    return _Memory(
        n_tiles=n_tiles, k_loads=k_loads, v_loads=v_loads, qk_load=qk_load,
        v_load=(v_loads * v_bytes).astype(np.float64),
        out_store=np.full(n_heads, n_q * dv * bpe, dtype=np.float64),
        decode_macs=decode_macs, encode_macs=int(encode_macs), compressed_bytes=compressed)


def _sram_counts(hw: HardwareConfig, block: BlockSpec, e: _EngineTimes, m: _Memory,
                 n_heads: int) -> dict:
    """SRAM bytes per (buffer, read|write, stage) and head, following the dataflow."""
    n_q, n_k, d, dv = block.n_q_tokens, block.n_k_tokens, block.qk_dim, block.v_dim
    bpe = hw.bytes_per_element
    scores = e.scores
    scores_b = scores * bpe
    k_bytes = n_k * d * bpe
    q_head, k_head = np.full(n_heads, n_q * d * bpe), m.k_loads * k_bytes  # one decoded head
    ops = e.operand_reads  # the engines' reads (register level, see _operand_reads)
    if hw.codec.enabled:
        # DRAM fills the buffers with compressed Q and K (split by token count); for every
        # head the decoder reads all compressed heads of its tokens and writes the head it
        # expands, where the engines read it as without the codec.
        q_part = n_q / (n_q + n_k)
        dec_read = np.full(n_heads, m.compressed_bytes, dtype=np.float64)
        q_write = m.qk_load * q_part + q_head
        k_write = m.qk_load * (1 - q_part) + k_head
        q_read, k_read = dec_read * q_part + ops["q"], dec_read * (1 - q_part) + ops["k"]
    else:
        q_write, k_write, q_read, k_read = q_head, k_head, ops["q"], ops["k"]
    values = (np.rint(q_write), np.rint(k_write), e.index_load, np.rint(q_read), np.rint(k_read),
              e.index_load, scores_b, scores_b, scores_b, m.v_load, np.rint(ops["v"]),
              np.rint(ops["s"]) + n_q * dv * bpe, np.full(n_heads, n_q * dv * bpe))
    return dict(zip(SRAM_ENTRIES, values, strict=True))


def simulate_attention(
    hw: HardwareConfig,
    block: BlockSpec,
    n_blocks: int,
    n_global: np.ndarray,
    sparse_nnz: np.ndarray,
    row_nnz: np.ndarray,
    row_offsets: np.ndarray,
    max_row_kept: np.ndarray,
    col_nnz: np.ndarray | None = None,
    col_offsets: np.ndarray | None = None,
) -> BlockAttention:
    """Cycles and counts of every head of ``n_blocks`` blocks shaped like ``block``.

    The per-head arrays (``n_global``, ``sparse_nnz``, ``max_row_kept``: length
    ``n_blocks x n_heads``, block-major) come from the trace; ``row_nnz``/``row_offsets`` are
    the sparser region's per-row kept counts of these heads (offsets relative to the first),
    ``col_nnz``/``col_offsets`` its per-key-column counts (needed by the K-stationary
    dataflow). Blocks are independent: each has its own query tiles, codec traffic and tile
    timeline; they are computed together only because one call over all of them is fast.

    The steps: head groups (:func:`heads_in_parallel`), the engines' cycles with the line
    split (:func:`_engine_times`), softmax, memory and the codec (:func:`_memory`), the tile
    timeline's stalls, and the SRAM counts (:func:`_sram_counts`).

    **Head groups**: the heads of a block run in groups of :func:`heads_in_parallel`
    consecutive heads. A group is one unit of work on the array: its denser regions share the
    dense lines, the columns and rows of all its heads are pooled on the sparse lines, its
    query tiles hold a row of every head, and the line split is chosen for the group. A
    group's cycles are charged to its heads in proportion to their scores; its counts (MACs,
    bytes) are each head's own.
    """
    core = attention_core(hw, block, n_blocks, n_global, sparse_nnz, row_nnz, row_offsets,
                          max_row_kept, col_nnz, col_offsets)
    return dataclasses.replace(core.result, stall_cycles=attention_stalls(
        core.tiles, hw.dram_bytes_per_cycle))


def attention_core(
    hw: HardwareConfig,
    block: BlockSpec,
    n_blocks: int,
    n_global: np.ndarray,
    sparse_nnz: np.ndarray,
    row_nnz: np.ndarray,
    row_offsets: np.ndarray,
    max_row_kept: np.ndarray,
    col_nnz: np.ndarray | None = None,
    col_offsets: np.ndarray | None = None,
    views: dict[int, UnitView] | None = None,
) -> AttentionCore:
    """:func:`simulate_attention` without the memory stalls, which are all that depends on
    the DRAM bandwidth: a sweep over bandwidths (or the prepared form) keeps this and calls
    :func:`attention_stalls` per point.

    ``views``: a dict (``g`` -> :class:`UnitView`) that a caller keeps for these very arrays
    across hardware points; what depends on the head groups only is made once per ``g`` and
    read from it afterwards (the results are the same with or without it)."""
    h = block.n_heads
    n_heads = n_blocks * h
    if n_global.shape[0] != n_heads:
        raise ValueError(f"expected {n_heads} heads, got {n_global.shape[0]}")
    if hw.engines.sparse.enabled:
        if col_nnz is None or col_offsets is None:
            if hw.engines.sparse.dataflow is SparseDataflow.K_STATIONARY:
                raise ValueError("the K-stationary dataflow needs the per-column counts")
            col_nnz, col_offsets = row_nnz, row_offsets
            views = None  # a view is kept for the column counts the caller passes
        view = None if views is None else unit_view(hw, block, n_blocks, row_nnz, row_offsets,
                                                     col_nnz, col_offsets, views)
        u = _units(hw, block, n_blocks) if view is None else view.units
        e = _engine_times(hw, block, u, n_global, sparse_nnz, row_nnz, row_offsets, col_nnz,
                          col_offsets, max_row_kept, view)
    else:
        u = _units(hw, block, n_blocks)
        e = _dense_design_times(hw, block, u, n_heads)
    softmax_ops = e.scores
    unit_softmax = np.ceil(u.sum(softmax_ops) / hw.softmax.ops_per_cycle).astype(np.int64)
    m = _memory(hw, block, u, n_blocks, max_row_kept)
    width = hw.mac_array.macs_per_line
    unit_decode = (np.ceil(u.sum(m.decode_macs) / (hw.codec.decoder_lines * width))
                   if hw.codec.enabled else np.zeros(u.n))
    unit_qk = np.maximum(e.dense_qk, e.sparse_qk)
    if hw.codec.decoder_placement is DecoderPlacement.ARRAY:
        # Decoding occupies the array's lines before the group's Q K^T can start.
        unit_qk = unit_qk + unit_decode
    else:
        # A dedicated decoder streams Q and K into the engines during Q K^T: that phase
        # takes the longer of the two.
        unit_qk = np.maximum(unit_qk, unit_decode)
    unit_sv = np.maximum(e.dense_sv, e.sparse_sv)

    # Tiles: unit-major within each block, n_tiles per unit, each with 1/n_tiles of the
    # unit's work; one timeline per block. Only the stalls depend on the DRAM bandwidth:
    # they are computed from these by attention_stalls.
    unit_tiles = np.repeat(m.n_tiles, u.per_block)
    per_tile = lambda x: np.repeat(np.asarray(x, dtype=np.float64) / unit_tiles,  # noqa: E731
                                   unit_tiles)
    unit_compute = (unit_qk + unit_softmax + unit_sv).astype(np.float64)
    tile_offsets = np.concatenate(([0], np.cumsum(m.n_tiles * u.per_block))).astype(np.int64)

    # A unit's cycles go to its heads in proportion to their scores (all of it when g = 1).
    if u.g > 1:
        unit_scores = u.sum(e.scores).astype(np.float64)
        members = np.diff(np.append(u.first, n_heads))[u.of]
        part = np.divide(e.scores, unit_scores[u.of], out=1.0 / members,
                         where=unit_scores[u.of] > 0)
    else:
        part = np.ones(n_heads)

    def to_heads(x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)[u.of] * part

    dense_lines = e.dense_lines[u.of]
    result = BlockAttention(
        dense_lines=dense_lines,
        sparse_lines=(hw.mac_array.n_lines - dense_lines) if hw.engines.sparse.enabled
        else np.zeros(n_heads, dtype=np.int64),
        qk_cycles=to_heads(unit_qk), softmax_cycles=to_heads(unit_softmax),
        sv_cycles=to_heads(unit_sv), stall_cycles=np.zeros(n_heads),
        dense_busy_qk=to_heads(e.dense_qk), dense_busy_sv=to_heads(e.dense_sv),
        sparse_busy_qk=to_heads(e.sparse_qk), sparse_busy_sv=to_heads(e.sparse_sv),
        sparse_mean_qk=to_heads(e.sparse_mean_qk), sparse_mean_sv=to_heads(e.sparse_mean_sv),
        dense_macs_qk=e.dense_macs_qk, sparse_macs_qk=e.sparse_macs_qk,
        dense_macs_sv=e.dense_macs_sv, sparse_macs_sv=e.sparse_macs_sv,
        softmax_ops=softmax_ops, decode_macs=m.decode_macs,
        dram_qk_bytes=m.qk_load + e.index_load, dram_v_bytes=m.v_load,
        dram_out_bytes=m.out_store, sram=_sram_counts(hw, block, e, m, n_heads),
        encode_macs=m.encode_macs, heads_in_parallel=u.g,
    )
    tiles = AttentionTiles(
        unit_first=u.first, heads_per_unit=u.g, n_blocks=n_blocks,
        head_load_bytes=m.qk_load + e.index_load + m.v_load, unit_tiles=unit_tiles,
        tile_compute=per_tile(unit_compute), tile_store_bytes=per_tile(u.sum(m.out_store)),
        tile_offsets=tile_offsets, double_buffered=hw.schedule.double_buffering)
    return AttentionCore(result=result, tiles=tiles)


@dataclass(frozen=True, eq=False)
class AttentionTiles:
    """A block group's attention as a sequence of query tiles, all the memory stalls depend
    on besides the DRAM bandwidth (:func:`attention_stalls`)."""

    unit_first: np.ndarray  # [U] the first head of each unit (head group)
    heads_per_unit: int
    n_blocks: int
    head_load_bytes: np.ndarray  # [H] bytes each head loads: Q and K, indices, V
    unit_tiles: np.ndarray  # [U] query tiles of each unit
    tile_compute: np.ndarray  # [T] cycles
    tile_store_bytes: np.ndarray  # [T]
    tile_offsets: np.ndarray  # [n_blocks + 1]: one tile timeline per block
    double_buffered: bool


@dataclass(frozen=True, eq=False)
class AttentionCore:
    """A block group's attention before its memory stalls: everything that does not depend
    on the DRAM bandwidth (``result``, whose ``stall_cycles`` are zeros) and the tile
    sequence the stalls come from."""

    result: BlockAttention
    tiles: AttentionTiles


def attention_stalls(tiles: AttentionTiles, bytes_per_cycle: float) -> np.ndarray:
    """Stall cycles of every head at ``bytes_per_cycle`` of DRAM bandwidth: one tile
    timeline per block (the next tile's loads overlap this tile's compute when double
    buffered), a block's stall charged to its heads in proportion to the loads they wait
    for (:func:`~vitsim.simulator.kernels.timeline.head_stalls`)."""
    t = tiles
    return head_stalls(t.head_load_bytes, t.unit_first, t.unit_tiles, t.tile_compute,
                       t.tile_store_bytes, t.tile_offsets, t.n_blocks, t.heads_per_unit,
                       t.double_buffered, bytes_per_cycle)


# --------------------------------------------------------------------------------------
# The same in one kernel, as a matrix of per-head fields
# --------------------------------------------------------------------------------------

# The rows of AttentionFields.fields: BlockAttention's per-head fields (stall_cycles aside),
# then its SRAM counts in SRAM_ENTRIES order (vitsim.simulator.kernels.attention's F_*).
_PER_HEAD_FIELDS = (
    "dense_lines", "sparse_lines", "qk_cycles", "softmax_cycles", "sv_cycles",
    "dense_busy_qk", "dense_busy_sv", "sparse_busy_qk", "sparse_busy_sv", "sparse_mean_qk",
    "sparse_mean_sv", "dense_macs_qk", "sparse_macs_qk", "dense_macs_sv", "sparse_macs_sv",
    "softmax_ops", "decode_macs", "dram_qk_bytes", "dram_v_bytes", "dram_out_bytes",
)
HEAD_FIELDS: tuple[str | tuple[str, str, str], ...] = (*_PER_HEAD_FIELDS, *SRAM_ENTRIES)
assert len(HEAD_FIELDS) == kernel.N_FIELDS and len(_PER_HEAD_FIELDS) == kernel.F_SRAM


@dataclass(frozen=True, eq=False)
class AttentionFields:
    """A block group's attention before its memory stalls as one float64 matrix
    ``fields[HEAD_FIELDS index, head]``, with its tile sequence, the encoder's MACs per block
    and the heads per group."""

    fields: np.ndarray
    tiles: AttentionTiles
    encode_macs: int
    heads_in_parallel: int

    @classmethod
    def of(cls, core: AttentionCore) -> AttentionFields:
        """The fields of :func:`attention_core`'s result."""
        att = core.result
        rows = [getattr(att, name) for name in _PER_HEAD_FIELDS]
        rows += [att.sram[entry] for entry in SRAM_ENTRIES]
        return cls(fields=np.array(rows, dtype=np.float64), tiles=core.tiles,
                   encode_macs=att.encode_macs, heads_in_parallel=att.heads_in_parallel)


_SPARSE_MODE = {RowPolicy.BALANCED: kernel.SPARSE_ROWS_BALANCED,
                RowPolicy.GREEDY: kernel.SPARSE_ROWS_GREEDY,
                RowPolicy.ROUND_ROBIN: kernel.SPARSE_ROWS_ROUND_ROBIN}
_SPLIT = {AllocationPolicy.STATIC: kernel.SPLIT_STATIC,
          AllocationPolicy.PROPORTIONAL: kernel.SPLIT_PROPORTIONAL}
_NO_INTS = np.zeros(0, dtype=np.int64)
_NO_MEMO = np.zeros((0, 0), dtype=np.int64)


def attention_fields(
    hw: HardwareConfig,
    block: BlockSpec,
    n_blocks: int,
    n_global: np.ndarray,
    sparse_nnz: np.ndarray,
    row_nnz: np.ndarray,
    row_offsets: np.ndarray,
    max_row_kept: np.ndarray,
    col_nnz: np.ndarray,
    col_offsets: np.ndarray,
    views: dict[int, UnitView],
) -> AttentionFields:
    """:func:`attention_core` (same arguments; the column counts and ``views`` required) as
    :class:`AttentionFields`: by :func:`kernel_fields` where it models the design, by the
    numpy function otherwise (and for its errors)."""
    if hw.lines_shared:
        view = unit_view(hw, block, n_blocks, row_nnz, row_offsets, col_nnz, col_offsets, views)
        k_stationary = hw.engines.sparse.dataflow is SparseDataflow.K_STATIONARY
        stationary = (col_nnz, col_offsets) if k_stationary else (row_nnz, row_offsets)
        fields = kernel_fields(hw, block, n_blocks, n_global, sparse_nnz, max_row_kept, view,
                               stationary)
        if fields is not None:
            return fields
    return AttentionFields.of(attention_core(hw, block, n_blocks, n_global, sparse_nnz, row_nnz,
                                             row_offsets, max_row_kept, col_nnz, col_offsets,
                                             views))


def kernel_fields(hw: HardwareConfig, block: BlockSpec, n_blocks: int,
                  n_global: np.ndarray, sparse_nnz: np.ndarray, max_row_kept: np.ndarray,
                  view: UnitView, stationary: tuple[np.ndarray, np.ndarray]
                  ) -> AttentionFields | None:
    """:func:`attention_core` of a design whose engines share the MAC lines, computed by one
    kernel (:func:`vitsim.simulator.kernels.attention.block_attention`) from the head
    groups' ``view`` (:func:`unit_view`) and the sparser region's ``stationary`` operand
    (per-item kept counts and per-head offsets: the key columns for the K-stationary
    dataflow, the query rows for ``rows``). The same numbers, bit for bit
    (``tests/test_attention_kernel.py``).

    None for what the kernel does not model (a separate dense array, a design without the
    sparser engine) and for a design the numpy function rejects: call it then, for its
    numbers or its error."""
    if not hw.lines_shared:
        return None
    u = view.units
    g = u.g
    n_q, n_k, d, dv = block.n_q_tokens, block.n_k_tokens, block.qk_dim, block.v_dim
    h = block.n_heads
    n_lines = hw.mac_array.n_lines
    bpe = hw.bytes_per_element
    db = hw.schedule.double_buffering
    r = hw.mac_array.accumulators_per_line
    width = hw.mac_array.macs_per_line
    k_stationary = hw.engines.sparse.dataflow is SparseDataflow.K_STATIONARY
    sparse_mode = (kernel.SPARSE_K_STATIONARY if k_stationary
                   else _SPARSE_MODE[hw.engines.sparse.row_policy])
    policy = hw.allocation.policy
    given = _NO_INTS
    if policy is AllocationPolicy.SEARCH:
        if n_lines < 2:
            return None
        cq, cv = math.ceil(d / width), math.ceil(dv / width)
        unit_pairs = u.sum((n_q * n_global).astype(np.int64))
        if k_stationary:
            given = _search_split_k_stationary(hw, unit_pairs, view.rows, view.cols, cq, cv,
                                               view)
        else:
            given = _split_lines(hw, unit_pairs, u.sum(sparse_nnz), view.rows[0],
                                 view.rows[1], cq + cv)
        split = kernel.SPLIT_GIVEN
    else:
        split = _SPLIT[policy]
    if k_stationary:
        sorted_cols, row_ends = view.sorted_cols(), view.row_ends()
    else:  # the rows dataflow reads neither
        sorted_cols, row_ends = (_NO_INTS,) * 7, _NO_INTS
    (sorted_nnz, sorted_offsets, run_values, run_counts, run_offsets, col_total,
     col_largest) = sorted_cols
    held = view.held(stationary, k_stationary, r)
    qk_memo, sv_memo = view.load_memo(n_lines) if k_stationary else (_NO_MEMO, _NO_MEMO)
    q_cap = effective_capacity(hw.buffers.q.size_bytes, db)
    k_full, v_full = hw.buffers.k.size_bytes, hw.buffers.v.size_bytes
    k_bytes, v_bytes = n_k * d * bpe, n_k * dv * bpe  # one head's, as _memory has them
    codec = hw.codec
    q_passes, q_c, k_c, hc, compressed = 1, 0.0, 0.0, 0, 0.0
    if codec.enabled:
        hc = codec.compressed_heads(h, block.ae_heads)
        q_c, k_c = n_q * hc * d * bpe, n_k * hc * d * bpe
        q_passes = 1 if q_c <= hw.buffers.q.size_bytes else u.per_block
        compressed = float(q_c + k_c)
    q_part = n_q / (n_q + n_k)
    status, fields, head_load, unit_tiles, tile_compute, tile_store, tile_offsets = \
        kernel.block_attention(
            n_global, sparse_nnz, max_row_kept, h, g, u.first,
            n_q, n_k, d, dv, width, n_lines, float(bpe), r,
            split, float(hw.allocation.static_dense_fraction), given,
            sparse_mode, sorted_nnz, sorted_offsets, run_values, run_counts, run_offsets,
            col_total, col_largest, row_ends, view.rows[0], view.rows[1], held, qk_memo, sv_memo,
            float(hw.softmax.ops_per_cycle), float(min(n_q, q_cap // (g * d * bpe))),
            effective_capacity(hw.buffers.output.size_bytes, db),
            g * k_bytes > k_full, g * v_bytes > v_full,
            float(n_q * d * bpe), float(k_bytes), float(v_bytes), float(n_q * dv * bpe),
            codec.enabled, q_passes, float(q_c), float(k_c), k_c <= k_full,
            g * k_bytes <= k_full, (n_q + n_k) * d * hc,
            float(codec.decoder_lines * width),
            hw.codec.decoder_placement is DecoderPlacement.ARRAY, q_part, 1 - q_part,
            compressed)
    if status != kernel.OK:
        return None
    tiles = AttentionTiles(
        unit_first=u.first, heads_per_unit=g, n_blocks=n_blocks, head_load_bytes=head_load,
        unit_tiles=unit_tiles, tile_compute=tile_compute, tile_store_bytes=tile_store,
        tile_offsets=tile_offsets, double_buffered=db)
    encode = (n_q + n_k) * d * h * hc if codec.enabled else 0
    return AttentionFields(fields=fields, tiles=tiles, encode_macs=int(encode),
                           heads_in_parallel=g)
