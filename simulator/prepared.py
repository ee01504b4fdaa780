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

from vitsim.hw_configs.schema import BUFFER_NAMES, DenseEngineKind, HardwareConfig
from vitsim.simulator.attention import AttentionCore, attention_core, attention_stalls
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
from vitsim.simulator.linear import TiledGemm, gemm_plan_key, tiled_gemm
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
    run) and the permutation from the order the groups' rows are made in."""

    order: np.ndarray | None  # permutation into table order; None when already in order
    layer: np.ndarray
    head: np.ndarray
    stage: np.ndarray
    engine: np.ndarray
    attention_rows: np.ndarray  # the qk and sv rows (utilization)
    scope_rows: np.ndarray  # decode, qk, softmax, sv (the attention scope)


@dataclass(frozen=True, eq=False)
class PreparedTrace:
    """A trace with everything its simulation needs that no hardware knob changes."""

    trace: WorkloadTrace
    groups: tuple[PreparedGroup, ...]
    stem_gemms: tuple[Gemm, ...]
    head_gemms: tuple[Gemm, ...]
    _layouts: dict = field(default_factory=dict, repr=False)
    memo: _Memo = field(default_factory=_Memo, repr=False)

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


def _roofline(hw: HardwareConfig, macs: float, dram_bytes: float) -> float:
    return max(macs / hw.dense_macs, dram_bytes / hw.dram_bytes_per_cycle)


def _row(values: dict[str, float]) -> list[float]:
    return [values.get(name, 0) for name in COLUMNS]


def _gemm_row(hw: HardwareConfig, gemms: Sequence[TiledGemm]) -> list[float]:
    """The row of one GEMM stage (usually one GEMM; LeViT's stem has four)."""
    g = gemms[0] if len(gemms) == 1 else TiledGemm(
        **{f.name: sum(getattr(x, f.name) for x in gemms) for f in dataclasses.fields(TiledGemm)})
    roofline = sum(_roofline(hw, x.macs, x.dram_read_bytes + x.dram_write_bytes) for x in gemms)
    return _row(dict(
        macs=g.macs, dense_macs=g.macs,
        dram_read_bytes=g.dram_read_bytes, dram_write_bytes=g.dram_write_bytes,
        sram_read_bytes_activation=g.sram_read_a, sram_read_bytes_weight=g.sram_read_b,
        sram_write_bytes_output=g.sram_write_c, sram_read_bytes_output=g.dram_write_bytes,
        sram_write_bytes_activation=g.sram_fill_a, sram_write_bytes_weight=g.sram_fill_b,
        compute_cycles=g.compute_cycles, fill_cycles=g.fill_cycles,
        stall_cycles=g.stall_cycles, total_cycles=g.total_cycles,
        roofline_cycles=roofline,
        dense_busy_cycles=g.compute_cycles + g.fill_cycles,
        dense_lines=hw.mac_array.n_lines,
    ))


def _vector_row(hw: HardwareConfig, parts: Sequence[tuple[int, int]]) -> list[float]:
    """The row of the vector ops of one stage: ``parts`` are (element ops, DRAM bytes read)
    of each occurrence, each bound by the slower of its compute and its reads."""
    ops = sum(p[0] for p in parts)
    dram_read_bytes = sum(p[1] for p in parts)
    compute = sum(float(np.ceil(o / hw.vector.ops_per_cycle)) for o, _ in parts)
    total = sum(max(float(np.ceil(o / hw.vector.ops_per_cycle)), r / hw.dram_bytes_per_cycle)
                for o, r in parts)
    return _row(dict(vector_ops=ops, dram_read_bytes=dram_read_bytes,
                     sram_write_bytes_activation=dram_read_bytes,
                     compute_cycles=compute, stall_cycles=total - compute, total_cycles=total,
                     roofline_cycles=total))


def _block_rows(hw: HardwareConfig, block: BlockSpec, gemm: Callable[[Gemm], TiledGemm],
                *, before: bool) -> list[tuple[str, list[float]]]:
    """(stage, row) of the linear and vector stages of one block, before the attention
    (``ln1``, ``qkv``) or after it (``proj``, ``ln2``, ``fc1``, ``fc2``, then the summed
    activation and residual rows), in execution order."""
    bpe = hw.bytes_per_element
    out: list[tuple[str, list[float]]] = []
    if before:
        if block.norm is Norm.LAYERNORM:
            ln_ops = LAYERNORM_OPS_PER_ELEMENT * block.n_k_tokens * block.in_dim
            out.append(("ln1", _vector_row(hw, [(ln_ops, 0)])))
        for g in block.linear_gemms():
            if g.name in ("qkv", "kv", "q"):
                out.append((g.name, _gemm_row(hw, [gemm(g)])))
        return out
    act_ops = ACTIVATION_OPS_PER_ELEMENT
    vector: dict[str, list[tuple[int, int]]] = {"activation": [], "residual": []}
    for g in block.linear_gemms():
        if g.name in ("qkv", "kv", "q"):
            continue
        if g.name == "fc1" and block.norm is Norm.LAYERNORM:
            out.append(("ln2", _vector_row(hw, [(LAYERNORM_OPS_PER_ELEMENT * g.m * g.k, 0)])))
        out.append((g.name, _gemm_row(hw, [gemm(g)])))
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
            out.append((stage, _vector_row(hw, parts)))
    return out


_HEAD_STAGES = ("decode", "qk", "softmax", "sv")


def _head_rows(hw: HardwareConfig, att: Any, codec: bool) -> np.ndarray:
    """``[column, stage, head]`` of the heads' rows: (decode,) qk, softmax, sv."""
    stages = _HEAD_STAGES if codec else _HEAD_STAGES[1:]
    n = att.dense_lines.shape[0]
    a = np.zeros((_N_COLUMNS, len(stages), n))
    at = {s: i for i, s in enumerate(stages)}
    rate = hw.total_macs  # the MAC lines, or the systolic array of a dense-only design
    bpc = hw.dram_bytes_per_cycle
    if codec:
        a[_C["codec_macs"], at["decode"]] = att.decode_macs
    for (buf, kind, stage), values in att.sram.items():
        a[_C[f"sram_{kind}_bytes_{buf}"], at[stage]] = values
    qk, sm, sv = at["qk"], at["softmax"], at["sv"]
    for s in (qk, sv):
        a[_C["dense_lines"], s] = att.dense_lines
        a[_C["sparse_lines"], s] = att.sparse_lines
    qk_macs = att.dense_macs_qk + att.sparse_macs_qk
    sv_macs = att.dense_macs_sv + att.sparse_macs_sv
    qk_busy = att.qk_cycles.astype(np.float64)
    a[_C["macs"], qk] = qk_macs
    a[_C["dense_macs"], qk] = att.dense_macs_qk
    a[_C["sparse_macs"], qk] = att.sparse_macs_qk
    a[_C["dram_read_bytes"], qk] = np.rint(att.dram_qk_bytes)
    a[_C["compute_cycles"], qk] = qk_busy
    a[_C["stall_cycles"], qk] = att.stall_cycles
    a[_C["total_cycles"], qk] = qk_busy + att.stall_cycles
    a[_C["roofline_cycles"], qk] = np.maximum(qk_macs / rate, att.dram_qk_bytes / bpc)
    a[_C["dense_busy_cycles"], qk] = att.dense_busy_qk
    a[_C["sparse_busy_cycles"], qk] = att.sparse_busy_qk
    a[_C["softmax_ops"], sm] = att.softmax_ops
    a[_C["compute_cycles"], sm] = att.softmax_cycles
    a[_C["total_cycles"], sm] = att.softmax_cycles
    a[_C["roofline_cycles"], sm] = att.softmax_cycles
    sv_dram = att.dram_v_bytes + att.dram_out_bytes
    sv_busy = att.sv_cycles.astype(np.float64)
    a[_C["macs"], sv] = sv_macs
    a[_C["dense_macs"], sv] = att.dense_macs_sv
    a[_C["sparse_macs"], sv] = att.sparse_macs_sv
    a[_C["dram_read_bytes"], sv] = np.rint(att.dram_v_bytes)
    a[_C["dram_write_bytes"], sv] = np.rint(att.dram_out_bytes)
    a[_C["compute_cycles"], sv] = sv_busy
    a[_C["total_cycles"], sv] = sv_busy
    a[_C["roofline_cycles"], sv] = np.maximum(sv_macs / rate, sv_dram / bpc)
    a[_C["dense_busy_cycles"], sv] = att.dense_busy_sv
    a[_C["sparse_busy_cycles"], sv] = att.sparse_busy_sv
    return a


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


def _group_core(hw: HardwareConfig, g: PreparedGroup) -> AttentionCore:
    """The group's attention before its stalls (memoised by :func:`attention_key`)."""
    polarized, n_global, s_nnz, rows_nnz, col_nnz, col_offsets = attention_inputs(hw, g)
    return attention_core(hw, g.block, g.layers.shape[0], n_global, s_nnz, rows_nnz,
                          g.row_offsets, g.max_row, col_nnz, col_offsets,
                          views=g.unit_views[polarized])


def _layout(p: PreparedTrace, scalar_stages: Sequence[Sequence[str]],
            codec: Sequence[bool]) -> _Layout:
    """The table's layout for these per-group scalar stages and codec flags (cached)."""
    key = (tuple(tuple(s) for s in scalar_stages), tuple(codec))
    cached = p._layouts.get(key)
    if cached is not None:
        return cached
    n_layers = p.trace.spec.n_layers
    pieces = []  # (layer, head, stage, engine) per row, in matrix order
    if p.stem_gemms:
        pieces.append(([-1], [-1], [STAGES.index("patch_embed")], [ENGINES.index("dense")]))
    for g, stages, has_codec in zip(p.groups, scalar_stages, codec, strict=True):
        h = g.block.n_heads
        head_stages = _HEAD_STAGES if has_codec else _HEAD_STAGES[1:]
        n_before = sum(1 for s in stages if s in ("ln1", "qkv", "kv", "q", "encode"))
        template = [(-1, s) for s in stages[:n_before]] \
            + [(j, s) for s in head_stages for j in range(h)] \
            + [(-1, s) for s in stages[n_before:]]
        engines = {"encode": "codec", "decode": "codec", "qk": "attention", "sv": "attention",
                   "softmax": "softmax", "ln1": "vector", "ln2": "vector",
                   "activation": "vector", "residual": "vector"}
        per_block = len(template)
        for layer in g.layers.tolist():
            pieces.append(([layer] * per_block, [j for j, _ in template],
                           [STAGES.index(s) for _, s in template],
                           [ENGINES.index(engines.get(s, "dense")) for _, s in template]))
    if p.head_gemms:
        pieces.append(([n_layers], [-1], [STAGES.index("classifier")], [ENGINES.index("dense")]))
    layer = np.concatenate([np.asarray(x[0], dtype=np.int32) for x in pieces])
    order = np.argsort(layer, kind="stable")
    in_order = bool(np.all(order == np.arange(layer.shape[0])))
    cols = [np.concatenate([np.asarray(x[i], dtype=dt) for x in pieces])
            for i, dt in ((0, np.int32), (1, np.int32), (2, np.int8), (3, np.int8))]
    if not in_order:
        cols = [c[order] for c in cols]
    for c in cols:
        c.flags.writeable = False
    layout = _Layout(
        order=None if in_order else order, layer=cols[0], head=cols[1], stage=cols[2],
        engine=cols[3], attention_rows=np.flatnonzero(cols[3] == ENGINES.index("attention")),
        scope_rows=np.flatnonzero(np.isin(cols[2], _ATTENTION_STAGES)))
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
        """One stage-table column as float64, in table order (a read-only view)."""
        view = self._values[_C[name]]
        view.flags.writeable = False
        return view

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


def _prices(hw: HardwareConfig) -> _Prices:
    """Per-action energies as vectors: (the four op prices, [2, buffers] SRAM read/write
    prices, DRAM per byte, leakage per cycle), pJ."""
    e = hw.energy
    ops = np.array([e.mac_pj, e.codec_mac_pj, e.softmax_op_pj, e.vector_op_pj])
    sram = np.array([[hw.sram_pj_per_byte(b, a) for b in BUFFER_NAMES] for a in ("read", "write")])
    return ops, sram, e.dram_pj_per_byte, hw.leakage_pj_per_cycle


def _energy_rows(values: np.ndarray, prices: _Prices) -> np.ndarray:
    """``[component, row]`` energy in pJ, as :func:`vitsim.simulator.energy.stage_energy_pj`
    prices a stage table (the same products, in the same order)."""
    ops, sram, dram, leakage = prices
    n_buf = len(BUFFER_NAMES)
    out = np.empty((len(COMPONENTS), values.shape[1]))
    out[0] = values[_C["macs"]] * ops[0]
    out[1:4] = values[_OTHER_OPS] * ops[1:, None]
    out[4:4 + n_buf] = values[_READS] * sram[0][:, None] + values[_WRITES] * sram[1][:, None]
    out[4 + n_buf] = (values[_C["dram_read_bytes"]] + values[_C["dram_write_bytes"]]) * dram
    out[5 + n_buf] = values[_C["total_cycles"]] * leakage
    return out


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
    linear_key = (plan_key, hw.dram_bytes_per_cycle, hw.vector.ops_per_cycle)
    memo: dict[tuple[int, int, int], TiledGemm] = {}

    def gemm(g: Gemm) -> TiledGemm:
        key = (g.m, g.k, g.n)
        t = memo.get(key)
        if t is None:
            t = memo[key] = tiled_gemm(g.m, g.k, g.n, hw, name=g.name, plan_key=plan_key)
        return t

    blocks: list[np.ndarray] = []  # [column, rows] pieces in layout order
    if p.stem_gemms:
        blocks.append(np.array(p.memo.get(("stem", linear_key), lambda: _gemm_row(
            hw, [gemm(g) for g in p.stem_gemms])))[:, None])
    att_key = attention_key(hw)
    bpc = hw.dram_bytes_per_cycle
    scalar_stages, codec_flags = [], []
    for gi, g in enumerate(p.groups):
        before = p.memo.get((gi, True, linear_key),
                            functools.partial(_block_rows, hw, g.block, gemm, before=True))
        core = g.memo.get(att_key, functools.partial(_group_core, hw, g))
        after = p.memo.get((gi, False, linear_key),
                           functools.partial(_block_rows, hw, g.block, gemm, before=False))
        att = dataclasses.replace(core.result, stall_cycles=attention_stalls(core, bpc))
        has_codec = bool(att.encode_macs)
        scalars = before + ([("encode", _row({"codec_macs": att.encode_macs}))]
                            if has_codec else []) + after
        scalar_stages.append([s for s, _ in scalars])
        codec_flags.append(has_codec)
        heads = _head_rows(hw, att, has_codec)  # [column, stage, head]
        n_blocks, h = g.layers.shape[0], g.block.n_heads
        n_before = len(before) + has_codec
        per_block = len(scalars) + heads.shape[1] * h
        m = np.empty((_N_COLUMNS, n_blocks, per_block))
        scalar_at = np.r_[0:n_before, n_before + heads.shape[1] * h:per_block]
        m[:, :, scalar_at] = np.array([r for _, r in scalars]).T[:, None, :]
        m[:, :, n_before:n_before + heads.shape[1] * h] = heads.reshape(
            _N_COLUMNS, heads.shape[1], n_blocks, h).transpose(0, 2, 1, 3).reshape(
            _N_COLUMNS, n_blocks, heads.shape[1] * h)
        blocks.append(m.reshape(_N_COLUMNS, n_blocks * per_block))
    if p.head_gemms:
        blocks.append(np.array(p.memo.get(("head", linear_key), lambda: _gemm_row(
            hw, [gemm(g) for g in p.head_gemms])))[:, None])
    layout = _layout(p, scalar_stages, codec_flags)
    values = np.concatenate(blocks, axis=1)
    if layout.order is not None:
        values = values[:, layout.order]
    # Integer columns hold what an integer column of the stage table would: truncated.
    np.trunc(values[_COUNTS], out=values[_COUNTS])
    np.trunc(values[_INFO], out=values[_INFO])
    prices = p.memo.get(("prices", _energy_key(hw)), lambda: _prices(hw))
    energy = _energy_rows(values, prices)
    return _evaluation(p, hw, values, energy, layout)


def _evaluation(p: PreparedTrace, hw: HardwareConfig, values: np.ndarray, energy: np.ndarray,
                layout: _Layout) -> Evaluation:
    """Totals from the stage rows, summed as ``SimulationResult.from_table`` sums them."""
    # Each row of a C-ordered matrix is summed as the 1-D column would be (pairwise).
    s = dict(zip(COLUMNS, values.sum(axis=1).tolist(), strict=True))
    component_pj = energy.sum(axis=1).tolist()
    cycles = s["total_cycles"]
    latency_s = cycles / hw.clock_hz
    energy_mj = sum(component_pj) * 1e-9
    att = layout.attention_rows
    att_cycles = values[_C["total_cycles"], att]
    width = hw.mac_array.macs_per_line
    if hw.engines.dense.kind is DenseEngineKind.SYSTOLIC:
        cap_dense = float(hw.engines.dense.n_systolic_macs * att_cycles.sum())
    else:
        cap_dense = float((values[_C["dense_lines"], att] * width * att_cycles).sum())
    cap_sparse = float((values[_C["sparse_lines"], att] * width * att_cycles).sum())
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
        dense_engine_utilization=(float(values[_C["dense_macs"], att].sum()) / cap_dense
                                  if cap_dense else 0.0),
        sparse_engine_utilization=(float(values[_C["sparse_macs"], att].sum()) / cap_sparse
                                   if cap_sparse else 0.0),
    )
    scope = layout.scope_rows
    # A row's energy adds its components in order (as a sum over the result's dict does).
    scope_energy = energy[:, scope]
    row_energy = scope_energy[0].copy()
    for i in range(1, energy.shape[0]):
        row_energy += scope_energy[i]
    return Evaluation(
        hardware=hw, prepared=p, totals=totals,
        energy_by_component_mj=MappingProxyType(
            {c: v * 1e-9 for c, v in zip(COMPONENTS, component_pj, strict=True)}),
        attention_latency_ms=float(values[_C["total_cycles"], scope].sum()) * (
            1e3 / hw.clock_hz),
        attention_energy_mj=float(row_energy.sum()) * 1e-9,
        attention_dram_bytes=float(values[_C["dram_read_bytes"], scope].sum()
                                   + values[_C["dram_write_bytes"], scope].sum()),
        _values=values, _energy=energy, _layout=layout)


def _from_result(p: PreparedTrace, hw: HardwareConfig) -> Evaluation:
    """An evaluation read from a full result (the released reference model's path)."""
    from vitsim.simulator.released import simulate_released

    r = simulate_released(p.trace, hw)
    t = r.stages
    values = np.array([np.asarray(t[c], dtype=np.float64) for c in COLUMNS])
    energy = np.array([np.asarray(r.energy_pj[c], dtype=np.float64) for c in COMPONENTS])
    layout = _Layout(
        order=None,
        layer=t.layer, head=t.head, stage=t.stage, engine=t.engine,
        attention_rows=np.flatnonzero(t.engine == ENGINES.index("attention")),
        scope_rows=np.flatnonzero(np.isin(t.stage, _ATTENTION_STAGES)))
    ev = _evaluation(p, hw, values, energy, layout)
    return dataclasses.replace(ev, totals=r.totals, _result=r)
