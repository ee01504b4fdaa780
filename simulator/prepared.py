"""The two-phase form of :func:`~vitsim.simulator.simulate.simulate`: prepare a trace once,
evaluate hardware points against it.

:func:`prepare` computes what depends only on the trace and the model: per block group
(blocks of one shape, simulated together) the heads' region sizes (global tokens, kept
scores by region), the per-row and per-key-column kept counts with their offsets (the
schedule kernels' inputs), each head's longest row, the GEMM shapes, and the layout of the
stage table (which row holds which layer, head and stage). :func:`evaluate` simulates one
hardware point on it: the stage rows are filled into one ``[column, row]`` matrix laid out
once per model, and the totals (latency, energy, DRAM bytes, MACs, utilizations, the
attention scope) are column sums of it; the :class:`~vitsim.simulator.results.StageTable`
and :class:`~vitsim.simulator.results.SimulationResult` are built only when asked
(:meth:`Evaluation.result`). :func:`~vitsim.simulator.simulate.simulate` is
``evaluate(prepare(trace), hardware).result()``, so both give the same numbers, bit for bit.

What an evaluation computes is memoised on the prepared trace by the hardware fields it
reads: a block group's attention before its memory stalls (:func:`attention_key`: the
array, engines, allocation, codec, softmax, schedule and the attention buffers) and the
linear and vector rows (:func:`~vitsim.simulator.linear.gemm_plan_key`, the DRAM bytes per
cycle and the vector unit). A point that changes only the DRAM bandwidth recomputes the
tile timelines and nothing else; a point that changes nothing recomputes nothing but the
table fill. All sums are taken in the stage table's row order, as
:meth:`SimulationResult.from_table <vitsim.simulator.results.SimulationResult.from_table>`
takes them, so no total depends on whether the table is built.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from vitsim.errors import VitsimError
from vitsim.hw_configs.schema import BUFFER_NAMES, DenseEngineKind, HardwareConfig
from vitsim.simulator.attention import (
    HEAD_FIELDS,
    SRAM_ENTRIES,
    AttentionFields,
    AttentionTiles,
    attention_fields,
    attention_stalls,
)
from vitsim.simulator.counts import (
    COUNT_COLUMNS,
    CYCLE_COLUMNS,
    ENGINES,
    INFO_COLUMNS,
    STAGES,
    StageTable,
)
from vitsim.simulator.energy import COMPONENTS
from vitsim.simulator.kernels import head_column_counts
from vitsim.simulator.kernels.table import (
    linear_rows_at,
    place_group,
    place_head_bandwidth,
    price_rows,
    table_sums,
)
from vitsim.simulator.linear import TilePlan, gemm_plan_key, tile_plan
from vitsim.simulator.results import SimulationResult, Totals
from vitsim.workloads.model_spec import Activation, BlockSpec, Gemm, Norm
from vitsim.workloads.trace import WorkloadTrace

# Element operations per element on the vector unit (assumptions, one lane-cycle each):
LAYERNORM_OPS_PER_ELEMENT = 4  # accumulate mean, accumulate variance, normalize, scale+shift
ACTIVATION_OPS_PER_ELEMENT = 1  # GELU / hardswish by a piecewise unit, one element a cycle
RESIDUAL_OPS_PER_ELEMENT = 1  # one add

# The stage table's value columns, in its order: the rows of the evaluation matrix.
COLUMNS = (*COUNT_COLUMNS, *CYCLE_COLUMNS, *INFO_COLUMNS)
_C = {name: i for i, name in enumerate(COLUMNS)}
_N_COLUMNS = len(COLUMNS)
# Row blocks of the matrix (COUNT_COLUMNS lists the SRAM reads, then the writes, buffer by
# buffer in BUFFER_NAMES order), so that whole blocks are slices, not gathers.
_COUNTS = slice(0, len(COUNT_COLUMNS))
_INFO = slice(_N_COLUMNS - len(INFO_COLUMNS), _N_COLUMNS)
_READS = slice(_C[f"sram_read_bytes_{BUFFER_NAMES[0]}"],
               _C[f"sram_read_bytes_{BUFFER_NAMES[-1]}"] + 1)
_WRITES = slice(_C[f"sram_write_bytes_{BUFFER_NAMES[0]}"],
                _C[f"sram_write_bytes_{BUFFER_NAMES[-1]}"] + 1)
_OTHER_OPS = slice(_C["codec_macs"], _C["vector_ops"] + 1)  # codec MACs, softmax, vector ops
assert [COLUMNS[i] for i in range(_N_COLUMNS)[_READS]] == [
    f"sram_read_bytes_{b}" for b in BUFFER_NAMES]
assert [COLUMNS[i] for i in range(_N_COLUMNS)[_WRITES]] == [
    f"sram_write_bytes_{b}" for b in BUFFER_NAMES]
assert [COLUMNS[i] for i in range(_N_COLUMNS)[_OTHER_OPS]] == [
    "codec_macs", "softmax_ops", "vector_ops"]
# The attention scope of a run (vitsim.analysis.compare.ATTENTION_STAGES, in stage codes).
_ATTENTION_STAGES = np.array([STAGES.index(s) for s in ("decode", "qk", "softmax", "sv")],
                             dtype=np.int8)
MEMO_SIZE = 64  # memoised attention results per block group and linear-row sets per trace
PREPARED_CACHE_SIZE = 2  # prepared traces kept for simulate(trace, hardware); each holds
# its trace alive (a ViT-H trace is hundreds of MiB), so only the last two


# --------------------------------------------------------------------------------------
# What depends on the trace only
# --------------------------------------------------------------------------------------


def _column_counts(trace: WorkloadTrace, heads: np.ndarray, n_k: int, *,
                   dense: bool) -> tuple[np.ndarray, np.ndarray]:
    """Kept scores per key column (the CSC view) of the sparser region of ``heads``, every
    head's ``n_k`` columns in turn, with per-head offsets; ``dense`` adds the global columns
    (the no-polarization ablation, where every kept score is sparse)."""
    at = trace.attention
    regions = [(at.sparse_offsets, at.sparse_indices)]
    if dense:
        regions.append((at.dense_offsets, at.dense_indices))
    col_nnz = np.zeros(heads.shape[0] * n_k, dtype=np.int64)
    for offsets, indices in regions:
        head_column_counts(offsets, indices, np.ascontiguousarray(heads, dtype=np.int64),
                           n_k, col_nnz)
    return col_nnz, np.arange(0, heads.shape[0] * n_k + 1, n_k, dtype=np.int64)


class _Memo:
    """A small bounded memo (cleared when full), safe for a sweep's worker threads."""

    def __init__(self, size: int = MEMO_SIZE) -> None:
        self.size = size
        self.items: dict[Any, Any] = {}
        self.lock = threading.Lock()

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        value = self.items.get(key)
        if value is None:
            value = make()
            with self.lock:
                if len(self.items) >= self.size:
                    self.items.clear()
                self.items[key] = value
        return value


@dataclass(frozen=True, eq=False)
class PreparedGroup:
    """Blocks of one shape (their names aside), simulated together: the trace's statistics
    of all their heads, block-major, and the block's GEMMs around the attention."""

    block: BlockSpec
    layers: np.ndarray  # int64 [L]: the blocks
    n_heads: int  # L x h
    n_global: np.ndarray  # int64 [H]: global tokens of each head
    dense_nnz: np.ndarray  # [H] kept scores in the global columns
    sparse_nnz: np.ndarray  # [H] kept scores in the sparser region
    sparse_rows: np.ndarray  # per query row of every head: kept scores, sparser region
    kept_rows: np.ndarray  # per query row: all kept scores
    row_offsets: np.ndarray  # int64 [H + 1] into the per-row arrays
    max_row: np.ndarray  # [H] the longest kept row of each head
    trace: WorkloadTrace = field(repr=False)
    heads: np.ndarray = field(repr=False)  # model-wide head indices
    _columns: dict = field(default_factory=dict, repr=False)
    memo: _Memo = field(default_factory=_Memo, repr=False)
    # polarized -> g -> UnitView: the head groups' offsets and kernel inputs, per layout
    unit_views: dict = field(default_factory=lambda: {True: {}, False: {}}, repr=False)

    def columns(self, *, dense: bool) -> tuple[np.ndarray, np.ndarray]:
        """Per-key-column kept counts with per-head offsets (the CSC view): of the sparser
        region, or (``dense``) of all kept scores, for the no-polarization ablation."""
        cols = self._columns.get(dense)
        if cols is None:
            cols = self._columns[dense] = _column_counts(self.trace, self.heads,
                                                         self.block.n_k_tokens, dense=dense)
        return cols

    @property
    def pre_gemms(self) -> tuple[Gemm, ...]:
        """The GEMMs before the attention (``qkv``, or LeViT's ``kv`` and ``q``)."""
        return tuple(g for g in self.block.linear_gemms() if g.name in ("qkv", "kv", "q"))


@dataclass(frozen=True, eq=False)
class _Layout:
    """Where every stage row sits: the labels of the rows in table order (layer by layer,
    the stem first and the classifier last; within a block the order in which the stages
    run) and, per block group, the table rows its scalar and head rows go to."""

    layer: np.ndarray
    head: np.ndarray
    stage: np.ndarray
    engine: np.ndarray
    attention_rows: np.ndarray  # the qk and sv rows (utilization)
    scope_rows: np.ndarray  # decode, qk, softmax, sv (the attention scope)
    stem_row: int  # -1: none
    classifier_row: int  # -1: none
    scalar_dest: tuple[np.ndarray, ...] = ()  # per group: int64 [blocks, scalar stages]
    head_dest: tuple[np.ndarray, ...] = ()  # per group: int64 [head stages, heads]


@dataclass(frozen=True, eq=False)
class PreparedTrace:
    """A trace with everything its simulation needs that no hardware knob changes."""

    trace: WorkloadTrace
    groups: tuple[PreparedGroup, ...]
    stem_gemms: tuple[Gemm, ...]
    head_gemms: tuple[Gemm, ...]
    _layouts: dict = field(default_factory=dict, repr=False)
    memo: _Memo = field(default_factory=_Memo, repr=False)
    plans: _Memo = field(default_factory=_Memo, repr=False)  # linear rows by tile plan

    @property
    def model(self) -> str:
        return self.trace.spec.name


def prepare(trace: WorkloadTrace) -> PreparedTrace:
    """Everything of ``trace`` that :func:`evaluate` needs and no hardware changes."""
    at = trace.attention
    spec = trace.spec
    dense_nnz, sparse_nnz = at.dense_nnz(), at.sparse_nnz()
    head_start = np.concatenate(([0], np.cumsum([bl.n_heads for bl in spec.blocks])))
    groups = []
    for layer_tuple in spec.shape_groups:
        layers = np.asarray(layer_tuple, dtype=np.int64)
        block = spec.blocks[layers[0]]
        heads = (head_start[layers][:, None] + np.arange(block.n_heads)).reshape(-1)
        n_q = block.n_q_tokens
        rows = (at.row_offsets[heads][:, None] + np.arange(n_q)).reshape(-1)
        sparse_rows = at.sparse_row_nnz[rows]
        kept_rows = sparse_rows + at.dense_row_nnz[rows]
        max_row = kept_rows.reshape(-1, n_q).max(axis=1) if n_q else \
            np.zeros(heads.shape[0], dtype=np.int32)
        group = PreparedGroup(
            block=block, layers=layers, n_heads=int(heads.shape[0]),
            n_global=at.n_global[heads].astype(np.int64), dense_nnz=dense_nnz[heads],
            sparse_nnz=sparse_nnz[heads], sparse_rows=np.ascontiguousarray(sparse_rows),
            kept_rows=np.ascontiguousarray(kept_rows),
            row_offsets=np.arange(0, heads.shape[0] * n_q + 1, n_q, dtype=np.int64),
            max_row=max_row, trace=trace, heads=heads)
        group.columns(dense=False)  # the default (polarized) view, computed here once
        groups.append(group)
    return PreparedTrace(trace=trace, groups=tuple(groups), stem_gemms=tuple(spec.stem_gemms),
                         head_gemms=tuple(spec.head_gemms))


_PREPARED: dict[int, tuple[weakref.ref, PreparedTrace]] = {}
_PREPARED_LOCK = threading.Lock()


def prepared(trace: WorkloadTrace) -> PreparedTrace:
    """``prepare(trace)``, kept for the most recent traces (by identity) so that repeated
    ``simulate(trace, ...)`` calls prepare a trace once."""
    hit = _PREPARED.get(id(trace))
    if hit is not None and hit[0]() is trace:
        return hit[1]
    p = prepare(trace)
    with _PREPARED_LOCK:
        if len(_PREPARED) >= PREPARED_CACHE_SIZE:
            _PREPARED.clear()
        _PREPARED[id(trace)] = (weakref.ref(trace), p)
    return p


# --------------------------------------------------------------------------------------
# Rows of one hardware point
# --------------------------------------------------------------------------------------


def attention_key(hw: HardwareConfig) -> tuple:
    """The fields of ``hw`` a block's attention reads, the DRAM bandwidth aside (it only
    sets the stalls, :func:`~vitsim.simulator.attention.attention_stalls`)."""
    b = hw.buffers
    return (hw.data_bits, hw.mac_array, hw.engines, hw.allocation, hw.codec, hw.softmax,
            hw.schedule, b.q.size_bytes, b.k.size_bytes, b.v.size_bytes, b.output.size_bytes)


def _row(values: dict[str, float]) -> list[float]:
    return [values.get(name, 0) for name in COLUMNS]


_GEMM_SUMS = ("macs", "dram_read_bytes", "dram_write_bytes", "sram_read_a", "sram_read_b",
              "sram_write_c", "sram_fill_a", "sram_fill_b", "compute_cycles", "fill_cycles")
_BANDWIDTH_COLUMNS = (_C["stall_cycles"], _C["total_cycles"], _C["roofline_cycles"])
_BANDWIDTH_ARRAY = np.array(_BANDWIDTH_COLUMNS, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class _LinearRows:
    """The model's linear and vector stage rows at one tile plan (:func:`gemm_plan_key` and
    the vector unit): every entry but those the DRAM bandwidth sets (the stall, total and
    roofline cycles), which :meth:`at` fills, timing every distinct GEMM's tiles in one
    kernel call. ``pieces`` name runs of rows: ``"stem"``, ``(group, True)`` (before the
    attention), ``(group, False)`` (after it), ``"head"``."""

    pieces: MappingProxyType  # name -> (stages, slice of rows)
    base: np.ndarray  # [column, row], read-only
    loads: np.ndarray  # bytes loaded before each tile, the distinct GEMMs end to end
    compute: np.ndarray  # cycles of each tile
    stores: np.ndarray  # bytes stored after each tile
    offsets: np.ndarray  # int64 [GEMMs + 1]
    double_buffered: bool
    # Rows of one GEMM: row, GEMM, MACs / the dense engine's MACs per cycle, DRAM bytes
    gemm_row: np.ndarray
    gemm_of: np.ndarray
    gemm_bound: np.ndarray
    gemm_dram: np.ndarray
    # Rows of one vector occurrence: row, compute cycles, DRAM bytes read
    vector_row: np.ndarray
    vector_cycles: np.ndarray
    vector_dram: np.ndarray
    # Rows of several: (row, ((GEMM, bound, DRAM bytes), ...)) and (row, compute cycles,
    # ((cycles, DRAM bytes), ...)), summed in order as the stage's own figures are
    gemm_sums: tuple[tuple[int, tuple[tuple[int, float, int], ...]], ...]
    vector_sums: tuple[tuple[int, float, tuple[tuple[float, int], ...]], ...]

    def at(self, bytes_per_cycle: float) -> np.ndarray:
        """``[column, row]`` at ``bytes_per_cycle`` of DRAM bandwidth. Each GEMM is bound by
        the slower of its MACs and its DRAM bytes; each vector occurrence by the slower of its
        compute and its reads."""
        bpc = bytes_per_cycle
        stall_at, total_at, roof_at = _BANDWIDTH_COLUMNS
        rows, totals, stalls = linear_rows_at(
            self.base, self.loads, self.compute, self.stores, self.offsets,
            self.double_buffered, bpc, _BANDWIDTH_ARRAY, self.gemm_row, self.gemm_of,
            self.gemm_bound, self.gemm_dram, self.vector_row, self.vector_cycles,
            self.vector_dram)
        if self.gemm_sums:
            t, st = totals.tolist(), stalls.tolist()
            for row, parts in self.gemm_sums:
                rows[stall_at, row] = sum(st[i] for i, _, _ in parts)
                rows[total_at, row] = sum(t[i] for i, _, _ in parts)
                rows[roof_at, row] = sum(max(bound, dram / bpc) for _, bound, dram in parts)
        for row, compute, vparts in self.vector_sums:
            vtotal = sum(max(c, dram / bpc) for c, dram in vparts)
            rows[stall_at, row] = vtotal - compute
            rows[total_at, row] = vtotal
            rows[roof_at, row] = vtotal
        return rows


class _RowsBuilder:
    """Collects stage rows in order into a :class:`_LinearRows`."""

    def __init__(self, hw: HardwareConfig, plan_key: tuple) -> None:
        self.hw, self.plan_key = hw, plan_key
        self.stages: list[str] = []
        self.rows: list[list[float]] = []
        self.pieces: dict[Any, tuple[tuple[str, ...], slice]] = {}
        self.plans: dict[int, tuple[int, TilePlan]] = {}  # id -> (index, plan)
        self.gemm_parts: list[tuple[int, tuple[tuple[int, float, int], ...]]] = []
        self.vector_parts: list[tuple[int, float, tuple[tuple[float, int], ...]]] = []

    def piece(self, name: Any, add: Callable[[_RowsBuilder], None]) -> None:
        """Rows added by ``add(self)``, under ``name``."""
        start = len(self.rows)
        add(self)
        self.pieces[name] = (tuple(self.stages[start:]), slice(start, len(self.rows)))

    def gemm(self, stage: str, gemms: Sequence[Gemm]) -> None:
        """The row of one GEMM stage (usually one GEMM; LeViT's stem has four)."""
        hw = self.hw
        plans = [tile_plan(g.m, g.k, g.n, hw, name=g.name, plan_key=self.plan_key)
                 for g in gemms]
        t = {f: sum(getattr(x, f) for x in plans) for f in _GEMM_SUMS}
        parts = []
        for x in plans:
            index = self.plans.setdefault(id(x), (len(self.plans), x))[0]
            parts.append((index, x.macs / hw.dense_macs, x.dram_read_bytes + x.dram_write_bytes))
        self.gemm_parts.append((len(self.rows), tuple(parts)))
        self._add(stage, dict(
            macs=t["macs"], dense_macs=t["macs"],
            dram_read_bytes=t["dram_read_bytes"], dram_write_bytes=t["dram_write_bytes"],
            sram_read_bytes_activation=t["sram_read_a"], sram_read_bytes_weight=t["sram_read_b"],
            sram_write_bytes_output=t["sram_write_c"],
            sram_read_bytes_output=t["dram_write_bytes"],
            sram_write_bytes_activation=t["sram_fill_a"],
            sram_write_bytes_weight=t["sram_fill_b"],
            compute_cycles=t["compute_cycles"], fill_cycles=t["fill_cycles"],
            dense_busy_cycles=t["compute_cycles"] + t["fill_cycles"],
            dense_lines=hw.mac_array.n_lines))

    def vector(self, stage: str, parts: Sequence[tuple[int, int]]) -> None:
        """The row of the vector ops of one stage: ``parts`` are (element ops, DRAM bytes
        read) of each occurrence."""
        ops = sum(p[0] for p in parts)
        dram_read_bytes = sum(p[1] for p in parts)
        cycles = [(float(np.ceil(o / self.hw.vector.ops_per_cycle)), r) for o, r in parts]
        compute = sum(c for c, _ in cycles)
        self.vector_parts.append((len(self.rows), compute, tuple(cycles)))
        self._add(stage, dict(vector_ops=ops, dram_read_bytes=dram_read_bytes,
                              sram_write_bytes_activation=dram_read_bytes,
                              compute_cycles=compute))

    def _add(self, stage: str, values: dict[str, float]) -> None:
        self.stages.append(stage)
        self.rows.append(_row(values))

    def build(self) -> _LinearRows:
        base = np.array(self.rows, dtype=np.float64).reshape(len(self.rows), _N_COLUMNS).T
        base = np.ascontiguousarray(base)
        base.flags.writeable = False
        plans = [x for _, x in sorted(self.plans.values(), key=lambda e: e[0])]
        sizes = [x.loads.shape[0] for x in plans]
        cat = (lambda name: np.concatenate([getattr(x, name) for x in plans])  # noqa: E731
               if plans else np.zeros(0))
        one_gemm = [(r, *parts[0]) for r, parts in self.gemm_parts if len(parts) == 1]
        one_vector = [(r, *parts[0]) for r, _, parts in self.vector_parts if len(parts) == 1]
        column = (lambda items, i, dt: np.array([x[i] for x in items],  # noqa: E731
                                                dtype=dt).reshape(len(items)))
        return _LinearRows(
            pieces=MappingProxyType(self.pieces), base=base, loads=cat("loads"),
            compute=cat("compute"), stores=cat("stores"),
            offsets=np.concatenate(([0], np.cumsum(sizes))).astype(np.int64),
            double_buffered=self.hw.schedule.double_buffering,
            gemm_row=column(one_gemm, 0, np.int64), gemm_of=column(one_gemm, 1, np.int64),
            gemm_bound=column(one_gemm, 2, np.float64),
            gemm_dram=column(one_gemm, 3, np.int64),
            vector_row=column(one_vector, 0, np.int64),
            vector_cycles=column(one_vector, 1, np.float64),
            vector_dram=column(one_vector, 2, np.int64),
            gemm_sums=tuple(x for x in self.gemm_parts if len(x[1]) > 1),
            vector_sums=tuple(x for x in self.vector_parts if len(x[2]) > 1))


def _model_rows(hw: HardwareConfig, plan_key: tuple, p: PreparedTrace, *,
                attention: Callable[[PreparedGroup], Any] | None = None) -> _LinearRows:
    """Every linear and vector row of the model at this tile plan: the stem, each block
    group's rows before and after its attention, the classifier. ``attention``, when given,
    is called for each group between its two runs of rows (the order the stages run)."""
    b = _RowsBuilder(hw, plan_key)
    if p.stem_gemms:
        b.piece("stem", lambda x: x.gemm("patch_embed", p.stem_gemms))
    for gi, g in enumerate(p.groups):
        b.piece((gi, True), functools.partial(_block_rows, block=g.block, before=True))
        if attention is not None:
            attention(g)
        b.piece((gi, False), functools.partial(_block_rows, block=g.block, before=False))
    if p.head_gemms:
        b.piece("head", lambda x: x.gemm("classifier", p.head_gemms))
    return b.build()


def _block_rows(out: _RowsBuilder, *, block: BlockSpec, before: bool) -> None:
    """The linear and vector stages of one block, before the attention (``ln1``, ``qkv``)
    or after it (``proj``, ``ln2``, ``fc1``, ``fc2``, then the summed activation and
    residual rows), in execution order."""
    bpe = out.hw.bytes_per_element
    if before:
        if block.norm is Norm.LAYERNORM:
            out.vector("ln1", [(LAYERNORM_OPS_PER_ELEMENT * block.n_k_tokens * block.in_dim, 0)])
        for g in block.linear_gemms():
            if g.name in ("qkv", "kv", "q"):
                out.gemm(g.name, [g])
        return
    act_ops = ACTIVATION_OPS_PER_ELEMENT
    vector: dict[str, list[tuple[int, int]]] = {"activation": [], "residual": []}
    for g in block.linear_gemms():
        if g.name in ("qkv", "kv", "q"):
            continue
        if g.name == "fc1" and block.norm is Norm.LAYERNORM:
            out.vector("ln2", [(LAYERNORM_OPS_PER_ELEMENT * g.m * g.k, 0)])
        out.gemm(g.name, [g])
        if g.name == "proj" and block.activation is Activation.HARDSWISH:
            # LeViT applies hardswish to the attention output before the projection.
            vector["activation"].append((act_ops * g.m * g.k, 0))
        if g.name == "fc1":
            vector["activation"].append((act_ops * g.m * g.n, 0))
        if g.name in ("proj", "fc2") and (g.name == "fc2" or block.square):
            # LeViT's subsampling attention changes width: no skip connection around it.
            vector["residual"].append((RESIDUAL_OPS_PER_ELEMENT * g.m * g.n,
                                       int(g.m * g.n * bpe)))
    for stage, parts in vector.items():
        if parts:
            out.vector(stage, parts)


def _first_error(hw: HardwareConfig, plan_key: tuple, p: PreparedTrace) -> None:
    """Raise the error a run of ``hw`` meets first, taking the stages in execution order
    (the stem, then per block group its linear rows before the attention, the attention,
    its rows after it; the classifier): the one a stage-by-stage simulator would raise."""
    key = attention_key(hw)
    _model_rows(hw, plan_key, p, attention=lambda g: g.memo.get(
        key, functools.partial(_group_attention, hw, g)))


_HEAD_STAGES = ("decode", "qk", "softmax", "sv")


@dataclass(frozen=True, eq=False)
class _GroupAttention:
    """A block group's attention at one :func:`attention_key`: its tile sequence (the stalls
    still to come) and its head rows but for the entries the DRAM bandwidth sets (the stalls
    and total cycles of Q K^T, the rooflines of Q K^T and S V), which each point writes
    (:func:`~vitsim.simulator.kernels.table.place_head_bandwidth`)."""

    tiles: AttentionTiles
    has_codec: bool
    encode_row: np.ndarray  # [column, 1] (the codec's encoder), or [column, 0]
    heads: np.ndarray  # [column, stage, head], read-only
    qk_busy: np.ndarray  # [head] Q K^T cycles
    qk_bound: np.ndarray  # [head] Q K^T MACs / the design's MACs per cycle
    sv_bound: np.ndarray
    qk_dram: np.ndarray  # [head] bytes: Q, K and indices
    sv_dram: np.ndarray  # [head] bytes: V and the outputs


_F = {name: i for i, name in enumerate(HEAD_FIELDS)}


def _head_copies(codec: bool) -> tuple[np.ndarray, ...]:
    """(columns, stages, fields): the head rows' entries that are a field of
    :class:`~vitsim.simulator.attention.AttentionFields` as it is."""
    at = {s: i for i, s in enumerate(_HEAD_STAGES if codec else _HEAD_STAGES[1:])}
    copies: list[tuple[str, str, str | tuple[str, str, str]]] = \
        [("codec_macs", "decode", "decode_macs")] if codec else []
    copies += [(f"sram_{kind}_bytes_{buf}", stage, (buf, kind, stage))
               for buf, kind, stage in SRAM_ENTRIES]
    copies += [(c, s, c) for s in ("qk", "sv") for c in ("dense_lines", "sparse_lines")]
    copies += [("dense_macs", "qk", "dense_macs_qk"), ("sparse_macs", "qk", "sparse_macs_qk"),
               ("compute_cycles", "qk", "qk_cycles"), ("dense_busy_cycles", "qk", "dense_busy_qk"),
               ("sparse_busy_cycles", "qk", "sparse_busy_qk"),
               ("softmax_ops", "softmax", "softmax_ops")]
    copies += [(c, "softmax", "softmax_cycles")
               for c in ("compute_cycles", "total_cycles", "roofline_cycles")]
    copies += [("dense_macs", "sv", "dense_macs_sv"), ("sparse_macs", "sv", "sparse_macs_sv"),
               ("compute_cycles", "sv", "sv_cycles"), ("total_cycles", "sv", "sv_cycles"),
               ("dense_busy_cycles", "sv", "dense_busy_sv"),
               ("sparse_busy_cycles", "sv", "sparse_busy_sv")]
    return tuple(np.array(x, dtype=np.int64) for x in zip(
        *[(_C[c], at[s], _F[f]) for c, s, f in copies], strict=True))


_HEAD_COPIES = {codec: _head_copies(codec) for codec in (False, True)}


def _group_attention(hw: HardwareConfig, g: PreparedGroup) -> _GroupAttention:
    """The group's attention and its head rows but for the bandwidth's entries: (decode,)
    qk, softmax, sv."""
    af = _group_fields(hw, g)
    f = af.fields
    codec = bool(af.encode_macs)
    a = np.zeros((_N_COLUMNS, len(_HEAD_STAGES) - (not codec), f.shape[1]))
    columns, stages, fields = _HEAD_COPIES[codec]
    a[columns, stages] = f[fields]
    qk, sv = (1, 3) if codec else (0, 2)
    rate = hw.total_macs  # the MAC lines, or the systolic array of a dense-only design
    qk_macs = f[_F["dense_macs_qk"]] + f[_F["sparse_macs_qk"]]
    sv_macs = f[_F["dense_macs_sv"]] + f[_F["sparse_macs_sv"]]
    a[_C["macs"], qk] = qk_macs
    a[_C["macs"], sv] = sv_macs
    dram_qk, dram_v, dram_out = f[_F["dram_qk_bytes"]], f[_F["dram_v_bytes"]], \
        f[_F["dram_out_bytes"]]
    a[_C["dram_read_bytes"], qk] = np.rint(dram_qk)
    a[_C["dram_read_bytes"], sv] = np.rint(dram_v)
    a[_C["dram_write_bytes"], sv] = np.rint(dram_out)
    a.flags.writeable = False
    encode = np.array([_row({"codec_macs": af.encode_macs})] if codec else
                      np.zeros((0, _N_COLUMNS))).T
    return _GroupAttention(
        tiles=af.tiles, has_codec=codec, encode_row=np.ascontiguousarray(encode), heads=a,
        qk_busy=f[_F["qk_cycles"]], qk_bound=qk_macs / rate, sv_bound=sv_macs / rate,
        qk_dram=dram_qk, sv_dram=dram_v + dram_out)


def attention_inputs(hw: HardwareConfig, g: PreparedGroup
                     ) -> tuple[bool, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                np.ndarray]:
    """``(polarized, n_global, sparse_nnz, row_nnz, col_nnz, col_offsets)`` of the group's
    heads as ``hw``'s engines see them: the sparser region, or (no polarization, or no
    sparser engine) every kept score with no global tokens."""
    polarized = hw.schedule.polarization and hw.engines.sparse.enabled
    if polarized:
        n_global, rows_nnz, s_nnz = g.n_global, g.sparse_rows, g.sparse_nnz
    else:  # ablation: no global tokens, every kept score on the sparser engine
        n_global = np.zeros(g.n_heads, np.int64)
        rows_nnz, s_nnz = g.kept_rows, g.sparse_nnz + g.dense_nnz
    col_nnz, col_offsets = g.columns(dense=not polarized)
    return polarized, n_global, s_nnz, rows_nnz, col_nnz, col_offsets


def _group_fields(hw: HardwareConfig, g: PreparedGroup) -> AttentionFields:
    """The group's attention before its stalls (memoised by :func:`attention_key`)."""
    polarized, n_global, s_nnz, rows_nnz, col_nnz, col_offsets = attention_inputs(hw, g)
    return attention_fields(hw, g.block, g.layers.shape[0], n_global, s_nnz, rows_nnz,
                            g.row_offsets, g.max_row, col_nnz, col_offsets,
                            g.unit_views[polarized])


_ENGINE_OF = {"encode": "codec", "decode": "codec", "qk": "attention", "sv": "attention",
              "softmax": "softmax", "ln1": "vector", "ln2": "vector", "activation": "vector",
              "residual": "vector"}  # any other stage: the dense engine


def _layout(p: PreparedTrace, key: tuple) -> _Layout:
    """The table's layout (cached): ``key`` holds per group its stages before the heads'
    (``ln1``, the pre-attention GEMMs, ``encode``), whether it decodes, and its stages
    after them."""
    cached = p._layouts.get(key)
    if cached is not None:
        return cached
    n_layers = p.trace.spec.n_layers
    pieces = []  # (layer, head, stage, engine) per row, in the order the groups are made
    if p.stem_gemms:
        pieces.append(([-1], [-1], [STAGES.index("patch_embed")], [ENGINES.index("dense")]))
    where = []  # per group: its first matrix position, rows per block, scalar positions
    at = len(pieces)
    for g, (before, has_codec, after) in zip(p.groups, key, strict=True):
        h = g.block.n_heads
        head_stages = _HEAD_STAGES if has_codec else _HEAD_STAGES[1:]
        before = (*before, "encode") if has_codec else before
        template = [(-1, s) for s in before] + [(j, s) for s in head_stages for j in range(h)] \
            + [(-1, s) for s in after]
        per_block = len(template)
        scalar_at = np.r_[0:len(before), len(before) + len(head_stages) * h:per_block]
        where.append((at, per_block, scalar_at, len(before), len(head_stages), h))
        for layer in g.layers.tolist():
            pieces.append(([layer] * per_block, [j for j, _ in template],
                           [STAGES.index(s) for _, s in template],
                           [ENGINES.index(_ENGINE_OF.get(s, "dense")) for _, s in template]))
        at += g.layers.shape[0] * per_block
    if p.head_gemms:
        pieces.append(([n_layers], [-1], [STAGES.index("classifier")], [ENGINES.index("dense")]))
    layer = np.concatenate([np.asarray(x[0], dtype=np.int32) for x in pieces])
    order = np.argsort(layer, kind="stable")
    cols = [np.concatenate([np.asarray(x[i], dtype=dt) for x in pieces])[order]
            for i, dt in ((0, np.int32), (1, np.int32), (2, np.int8), (3, np.int8))]
    for c in cols:
        c.flags.writeable = False
    row_of = np.empty_like(order)  # matrix position -> table row
    row_of[order] = np.arange(order.shape[0])
    scalar_dest, head_dest = [], []
    for g, (start, per_block, scalar_at, n_before, n_stages, h) in zip(p.groups, where,
                                                                       strict=True):
        block_start = start + per_block * np.arange(g.layers.shape[0])
        scalar_dest.append(np.ascontiguousarray(row_of[block_start[:, None] + scalar_at]))
        heads_at = (block_start[None, :, None] + n_before
                    + (np.arange(n_stages) * h)[:, None, None] + np.arange(h)[None, None, :])
        head_dest.append(np.ascontiguousarray(
            row_of[heads_at].reshape(n_stages, g.layers.shape[0] * h)))
    layout = _Layout(
        layer=cols[0], head=cols[1], stage=cols[2], engine=cols[3],
        attention_rows=np.flatnonzero(cols[3] == ENGINES.index("attention")),
        scope_rows=np.flatnonzero(np.isin(cols[2], _ATTENTION_STAGES)),
        stem_row=int(row_of[0]) if p.stem_gemms else -1,
        classifier_row=int(row_of[-1]) if p.head_gemms else -1,
        scalar_dest=tuple(scalar_dest), head_dest=tuple(head_dest))
    p._layouts[key] = layout
    return layout


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Evaluation:
    """One hardware point on a prepared trace: the totals and the attention scope, and the
    stage rows as one matrix from which :meth:`result` builds the full record."""

    hardware: HardwareConfig
    prepared: PreparedTrace
    totals: Totals
    energy_by_component_mj: MappingProxyType  # component -> mJ
    attention_latency_ms: float  # decode, Q K^T, softmax and S V rows with their stalls
    attention_energy_mj: float
    attention_dram_bytes: float
    _values: np.ndarray = field(repr=False)  # [column, row] in table order
    _energy: np.ndarray = field(repr=False)  # [component, row], pJ
    _layout: _Layout = field(repr=False)
    _result: SimulationResult | None = field(default=None, repr=False)

    @property
    def stage(self) -> np.ndarray:
        """Stage code (into :data:`~vitsim.simulator.counts.STAGES`) of every row."""
        return self._layout.stage

    def column(self, name: str) -> np.ndarray:
        """One stage-table column as float64, in table order (read-only)."""
        i = _C[name]
        col = np.trunc(self._values[i]) if i in _INTEGER else self._values[i]
        col.flags.writeable = False
        return col

    def metrics(self) -> dict[str, float]:
        """:meth:`SimulationResult.metrics` and the attention-scope metrics, as
        :func:`vitsim.analysis.metrics.point_metrics` gives them for the full result."""
        from vitsim.simulator.results import _TOTALS_METRICS

        out = {name: float(getattr(self.totals, name)) for name in _TOTALS_METRICS}
        out.update({f"energy_{c}_mj": v for c, v in self.energy_by_component_mj.items()})
        out["attention_latency_ms"] = self.attention_latency_ms
        out["attention_energy_mj"] = self.attention_energy_mj
        out["attention_dram_bytes"] = self.attention_dram_bytes
        return out

    def result(self) -> SimulationResult:
        """The full record: the stage table, per-row energy by component, the totals."""
        if self._result is not None:
            return self._result
        lay = self._layout
        columns = {}
        for i, name in enumerate(COLUMNS):
            col = self._values[i]
            if name in CYCLE_COLUMNS:
                col = col.copy()
            else:
                col = col.astype(np.int32 if name in INFO_COLUMNS else np.int64)
            col.flags.writeable = False
            columns[name] = col
        table = StageTable(lay.layer, lay.head, lay.stage, lay.engine, MappingProxyType(columns))
        energy = {}
        for i, c in enumerate(COMPONENTS):
            arr = self._energy[i].copy()
            arr.flags.writeable = False
            energy[c] = arr
        return SimulationResult(self.hardware, self.prepared.model,
                                self.prepared.trace.content_hash(), table,
                                MappingProxyType(energy), self.totals)


_Prices = tuple[np.ndarray, np.ndarray, float, float]
_N_BUFFERS = len(BUFFER_NAMES)
# The columns the table kernels read (vitsim.simulator.kernels.table, ``cols``).
_KERNEL_COLUMNS = np.array([
    _C["macs"], _C["codec_macs"], _C["softmax_ops"], _C["vector_ops"], _C["dram_read_bytes"],
    _C["dram_write_bytes"], _C["total_cycles"], _READS.start, _WRITES.start, _C["dense_lines"],
    _C["sparse_lines"], _C["dense_macs"], _C["sparse_macs"]], dtype=np.int64)
# The columns the totals sum whole.
_TOTAL_SUMS = ("total_cycles", "compute_cycles", "stall_cycles", "fill_cycles", "roofline_cycles",
               "macs", "dram_read_bytes", "dram_write_bytes")
_TOTAL_SUM_COLUMNS = np.array([_C[c] for c in _TOTAL_SUMS], dtype=np.int64)
# Integer columns hold what an integer column of the stage table would: truncated; those
# priced or summed at once, the rest when the table or the column is asked for.
_INTEGER = frozenset(range(_N_COLUMNS)[_COUNTS]) | frozenset(range(_N_COLUMNS)[_INFO])
_PRICED_INTEGER_COLUMNS = np.array(sorted(
    {*_KERNEL_COLUMNS.tolist(), *range(_N_COLUMNS)[_READS], *range(_N_COLUMNS)[_WRITES]}
    - {_C["total_cycles"]}), dtype=np.int64)
assert set(_PRICED_INTEGER_COLUMNS.tolist()) <= _INTEGER


def _prices(hw: HardwareConfig) -> _Prices:
    """Per-action energies as vectors: (the four op prices, [2, buffers] SRAM read/write
    prices, DRAM per byte, leakage per cycle), pJ."""
    e = hw.energy
    ops = np.array([e.mac_pj, e.codec_mac_pj, e.softmax_op_pj, e.vector_op_pj], dtype=np.float64)
    sram = np.array(hw.sram_prices_pj_per_byte(), dtype=np.float64)
    return ops, sram, float(e.dram_pj_per_byte), float(hw.leakage_pj_per_cycle)


def _energy_key(hw: HardwareConfig) -> tuple:
    return (hw.energy, hw.buffers, hw.clock_mhz)


def evaluate(prepared: PreparedTrace, hardware: HardwareConfig) -> Evaluation:
    """Simulate ``hardware`` on a prepared trace: totals and the attention scope, the stage
    table only when :meth:`Evaluation.result` asks for it (see the module docstring).

    A ``reference_model: vitcod_released`` design is simulated by ViTCoD's released cost
    model (:mod:`vitsim.simulator.released`), as :func:`simulate` does, and its totals read
    from its table.
    """
    from vitsim.hw_configs.schema import ReferenceModel

    if hardware.reference_model is ReferenceModel.VITCOD_RELEASED:
        return _from_result(prepared, hardware)
    hw = hardware
    p = prepared
    plan_key = gemm_plan_key(hw)
    bpc = hw.dram_bytes_per_cycle
    rows_key = (plan_key, hw.vector.ops_per_cycle)

    def linear() -> tuple[MappingProxyType, np.ndarray]:
        """The pieces and rows of the model's linear stages at this point (memoised with
        the bandwidth; their tile plans without it)."""
        try:
            rows = p.plans.get(rows_key, functools.partial(_model_rows, hw, plan_key, p))
        except VitsimError:
            _first_error(hw, plan_key, p)
            raise
        return rows.pieces, rows.at(bpc)

    pieces, rows = p.memo.get(("linear", rows_key, bpc), linear)
    att_key = attention_key(hw)
    groups = [g.memo.get(att_key, functools.partial(_group_attention, hw, g)) for g in p.groups]
    layout = _layout(p, tuple((pieces[gi, True][0], ga.has_codec, pieces[gi, False][0])
                              for gi, ga in enumerate(groups)))
    values = np.empty((_N_COLUMNS, layout.layer.shape[0]))
    if p.stem_gemms:
        values[:, layout.stem_row] = rows[:, pieces["stem"][1].start]
    for gi, (ga, scalar_dest, head_dest) in enumerate(zip(groups, layout.scalar_dest,
                                                          layout.head_dest, strict=True)):
        scalars = np.concatenate((rows[:, pieces[gi, True][1]], ga.encode_row,
                                  rows[:, pieces[gi, False][1]]), axis=1)
        place_group(values, scalars, scalar_dest, ga.heads, head_dest)
        qk, sv = (1, 3) if ga.has_codec else (0, 2)
        place_head_bandwidth(values, head_dest[qk], head_dest[sv], _BANDWIDTH_ARRAY,
                             attention_stalls(ga.tiles, bpc), ga.qk_busy, ga.qk_bound,
                             ga.qk_dram, ga.sv_bound, ga.sv_dram, bpc)
    if p.head_gemms:
        values[:, layout.classifier_row] = rows[:, pieces["head"][1].start]
    ops, sram, dram, leakage = p.memo.get(("prices", _energy_key(hw)), lambda: _prices(hw))
    energy = price_rows(values, _PRICED_INTEGER_COLUMNS, _KERNEL_COLUMNS, _N_BUFFERS, ops, sram,
                        dram, leakage)
    return _evaluation(p, hw, values, energy, layout)


def _evaluation(p: PreparedTrace, hw: HardwareConfig, values: np.ndarray, energy: np.ndarray,
                layout: _Layout) -> Evaluation:
    """Totals from the stage rows, summed as ``SimulationResult.from_table`` sums them
    (numpy's pairwise sums, :func:`~vitsim.simulator.kernels.table.table_sums`)."""
    sums, component_sums, extra = table_sums(values, energy, _TOTAL_SUM_COLUMNS, _KERNEL_COLUMNS,
                                             hw.mac_array.macs_per_line, layout.attention_rows,
                                             layout.scope_rows)
    s = dict(zip(_TOTAL_SUMS, sums.tolist(), strict=True))
    component_pj = component_sums.tolist()
    (att_cycles, dense_cap, sparse_cap, dense_macs, sparse_macs, scope_cycles, scope_pj,
     scope_read, scope_write) = extra.tolist()
    cycles = s["total_cycles"]
    latency_s = cycles / hw.clock_hz
    energy_mj = sum(component_pj) * 1e-9
    if hw.engines.dense.kind is DenseEngineKind.SYSTOLIC:
        dense_cap = float(hw.engines.dense.n_systolic_macs * att_cycles)
    totals = Totals(
        total_cycles=cycles,
        compute_cycles=s["compute_cycles"],
        stall_cycles=s["stall_cycles"],
        fill_cycles=s["fill_cycles"],
        roofline_cycles=s["roofline_cycles"],
        latency_ms=latency_s * 1e3,
        energy_mj=energy_mj,
        edp_mj_ms=energy_mj * latency_s * 1e3,
        throughput_images_per_s=1.0 / latency_s if latency_s else float("inf"),
        macs=int(s["macs"]),
        dram_bytes=int(s["dram_read_bytes"] + s["dram_write_bytes"]),
        mac_utilization=s["macs"] / (cycles * hw.total_macs) if cycles else 0.0,
        dense_engine_utilization=dense_macs / dense_cap if dense_cap else 0.0,
        sparse_engine_utilization=sparse_macs / sparse_cap if sparse_cap else 0.0,
    )
    return Evaluation(
        hardware=hw, prepared=p, totals=totals,
        energy_by_component_mj=MappingProxyType(
            {c: v * 1e-9 for c, v in zip(COMPONENTS, component_pj, strict=True)}),
        attention_latency_ms=scope_cycles * (1e3 / hw.clock_hz),
        attention_energy_mj=scope_pj * 1e-9,
        attention_dram_bytes=scope_read + scope_write,
        _values=values, _energy=energy, _layout=layout)


def _from_result(p: PreparedTrace, hw: HardwareConfig) -> Evaluation:
    """An evaluation read from a full result (the released reference model's path)."""
    from vitsim.simulator.released import simulate_released

    r = simulate_released(p.trace, hw)
    t = r.stages
    values = np.array([np.asarray(t[c], dtype=np.float64) for c in COLUMNS])
    energy = np.array([np.asarray(r.energy_pj[c], dtype=np.float64) for c in COMPONENTS])
    layout = _Layout(
        layer=t.layer, head=t.head, stage=t.stage, engine=t.engine,
        attention_rows=np.flatnonzero(t.engine == ENGINES.index("attention")),
        scope_rows=np.flatnonzero(np.isin(t.stage, _ATTENTION_STAGES)),
        stem_row=-1, classifier_row=-1)
    ev = _evaluation(p, hw, values, energy, layout)
    return dataclasses.replace(ev, totals=r.totals, _result=r)
