"""The stage-table assembly as it was before the prepared form: a slow, obviously-correct twin
of :func:`vitsim.simulator.prepared.evaluate` (``tests/test_prepared.py`` compares them).

Each stage is added to a :class:`~vitsim.simulator.counts.StageTableBuilder` by name and the
totals are :meth:`SimulationResult.from_table`'s column sums; the attention of a group is
:func:`~vitsim.simulator.attention.simulate_attention` and the GEMMs
:func:`~vitsim.simulator.linear.tiled_gemm`, as in the simulator.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from vitsim.hw_configs.schema import HardwareConfig, ReferenceModel
from vitsim.simulator.attention import simulate_attention
from vitsim.simulator.counts import StageTableBuilder
from vitsim.simulator.linear import TiledGemm, tiled_gemm
from vitsim.simulator.results import SimulationResult
from vitsim.workloads.model_spec import Activation, BlockSpec, Gemm, Norm
from vitsim.workloads.trace import WorkloadTrace

LAYERNORM_OPS_PER_ELEMENT = 4
ACTIVATION_OPS_PER_ELEMENT = 1
RESIDUAL_OPS_PER_ELEMENT = 1


Layers = int | np.ndarray  # one layer, or the layers of a group of same-shaped blocks


def _n_rows(layers: Layers) -> int:
    return 1 if isinstance(layers, int) else int(layers.shape[0])


def _add_gemm(b: StageTableBuilder, hw: HardwareConfig, layers: Layers, stage: str,
              gemms: Sequence[TiledGemm]) -> None:
    """One row per layer for the GEMMs of one stage (usually one; LeViT's stem has four)."""
    g = gemms[0] if len(gemms) == 1 else TiledGemm(
        **{f.name: sum(getattr(x, f.name) for x in gemms) for f in dataclasses.fields(TiledGemm)})
    roofline = sum(_roofline(hw, x.macs, x.dram_read_bytes + x.dram_write_bytes) for x in gemms)
    b.add(
        layer=layers, head=-1, stage=stage, engine="dense", n=_n_rows(layers),
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
    )


def _roofline(hw: HardwareConfig, macs: float, dram_bytes: float) -> float:
    return max(macs / hw.dense_macs, dram_bytes / hw.dram_bytes_per_cycle)


def _add_vector(b: StageTableBuilder, hw: HardwareConfig, layers: Layers, stage: str,
                parts: Sequence[tuple[int, int]]) -> None:
    """One row per layer for the vector ops of one stage: ``parts`` are (element ops, DRAM
    bytes read) of each occurrence, each bound by the slower of its compute and its reads."""
    ops = sum(p[0] for p in parts)
    dram_read_bytes = sum(p[1] for p in parts)
    compute = sum(float(np.ceil(o / hw.vector.ops_per_cycle)) for o, _ in parts)
    total = sum(max(float(np.ceil(o / hw.vector.ops_per_cycle)), r / hw.dram_bytes_per_cycle)
                for o, r in parts)
    b.add(layer=layers, head=-1, stage=stage, engine="vector", n=_n_rows(layers),
          vector_ops=ops, dram_read_bytes=dram_read_bytes,
          sram_write_bytes_activation=dram_read_bytes,
          compute_cycles=compute, stall_cycles=total - compute, total_cycles=total,
          roofline_cycles=total)


def _column_counts(trace: WorkloadTrace, heads: np.ndarray, n_k: int, *,
                   dense: bool) -> tuple[np.ndarray, np.ndarray]:
    """Kept scores per key column (the CSC view) of the sparser region of ``heads``, every
    head's ``n_k`` columns in turn, with per-head offsets; ``dense`` adds the global columns
    (the no-polarization ablation, where every kept score is sparse)."""
    at = trace.attention
    parts, owners = [], []
    regions = [(at.sparse_offsets, at.sparse_indices)]
    if dense:
        regions.append((at.dense_offsets, at.dense_indices))
    for offsets, indices in regions:
        start, stop = offsets[heads], offsets[heads + 1]
        counts = stop - start
        idx = np.repeat(start - np.cumsum(np.concatenate(([0], counts[:-1]))), counts) \
            + np.arange(int(counts.sum()))
        parts.append(indices[idx].astype(np.int64))
        owners.append(np.repeat(np.arange(heads.shape[0], dtype=np.int64), counts))
    cols = np.concatenate(parts) + np.concatenate(owners) * n_k
    col_nnz = np.bincount(cols, minlength=heads.shape[0] * n_k).astype(np.int64)
    return col_nnz, np.arange(0, heads.shape[0] * n_k + 1, n_k, dtype=np.int64)


class _GemmMemo:
    """The tiled GEMMs of one run, by shape: a ViT repeats its shapes in every block, and
    looking them up here hashes the hardware description once per shape, not once per use."""

    def __init__(self, hw: HardwareConfig) -> None:
        self.hw = hw
        self.cache: dict[tuple[int, int, int], TiledGemm] = {}

    def __call__(self, g: Gemm) -> TiledGemm:
        key = (g.m, g.k, g.n)
        if key not in self.cache:
            self.cache[key] = tiled_gemm(g.m, g.k, g.n, self.hw, name=g.name)
        return self.cache[key]


def _group_stages(b: StageTableBuilder, gemm: _GemmMemo, hw: HardwareConfig,
                  trace: WorkloadTrace, block: BlockSpec, layers: np.ndarray,
                  head_start: np.ndarray, dense_nnz: np.ndarray,
                  sparse_nnz: np.ndarray) -> None:
    """Rows of the blocks ``layers``, all shaped like ``block`` (a uniform ViT is one group):
    the linear and vector stages are computed once and repeated per layer, the attention of
    all their heads in one call. ``head_start``: the first head of every block, model-wide;
    ``dense_nnz``/``sparse_nnz``: every head's kept scores by region."""
    at = trace.attention
    bpe = hw.bytes_per_element
    n_heads = block.n_heads
    ln_ops = LAYERNORM_OPS_PER_ELEMENT * block.n_k_tokens * block.in_dim
    if block.norm is Norm.LAYERNORM:
        _add_vector(b, hw, layers, "ln1", [(ln_ops, 0)])
    for g in block.linear_gemms():
        if g.name in ("qkv", "kv", "q"):
            _add_gemm(b, hw, layers, g.name, [gemm(g)])

    # --- attention of every head ----------------------------------------------------------
    heads = (head_start[layers][:, None] + np.arange(n_heads)).reshape(-1)
    row_at = at.row_offsets[heads]
    n_q = block.n_q_tokens
    rows = (row_at[:, None] + np.arange(n_q)).reshape(-1)
    sparse_rows = at.sparse_row_nnz[rows]
    kept_rows = sparse_rows + at.dense_row_nnz[rows]
    row_offsets = np.arange(0, heads.shape[0] * n_q + 1, n_q, dtype=np.int64)
    max_row = kept_rows.reshape(-1, n_q).max(axis=1) if n_q else \
        np.zeros(heads.shape[0], dtype=np.int32)
    polarized = hw.schedule.polarization and hw.engines.sparse.enabled
    d_nnz, s_nnz = dense_nnz[heads], sparse_nnz[heads]
    if polarized:
        n_global, rows_nnz = at.n_global[heads].astype(np.int64), sparse_rows
    else:  # ablation: no global tokens, every kept score on the sparser engine
        n_global, rows_nnz, s_nnz = np.zeros(heads.shape[0], np.int64), kept_rows, s_nnz + d_nnz
    col_nnz, col_offsets = _column_counts(trace, heads, block.n_k_tokens, dense=not polarized)
    att = simulate_attention(hw, block, layers.shape[0], n_global, s_nnz,
                             np.ascontiguousarray(rows_nnz), row_offsets, max_row,
                             col_nnz, col_offsets)
    layer_of = np.repeat(layers, n_heads)
    head_idx = np.tile(np.arange(n_heads), layers.shape[0])
    n = heads.shape[0]
    if att.encode_macs:
        b.add(layer=layers, head=-1, stage="encode", engine="codec", n=layers.shape[0],
              codec_macs=att.encode_macs)
        b.add(layer=layer_of, head=head_idx, stage="decode", engine="codec", n=n,
              codec_macs=att.decode_macs)
    # Any: the arrays go to StageTableBuilder.add as keyword columns beside its typed keys.
    sram: dict[str, dict[str, Any]] = {}
    for (buf, kind, stage), values in att.sram.items():
        sram.setdefault(stage, {})[f"sram_{kind}_bytes_{buf}"] = values
    rate = hw.total_macs  # the MAC lines, or the systolic array of a dense-only design
    bpc = hw.dram_bytes_per_cycle
    qk_macs = att.dense_macs_qk + att.sparse_macs_qk
    sv_macs = att.dense_macs_sv + att.sparse_macs_sv
    common = dict(layer=layer_of, head=head_idx, engine="attention", n=n,
                  dense_lines=att.dense_lines, sparse_lines=att.sparse_lines)
    qk_busy = att.qk_cycles.astype(np.float64)
    b.add(stage="qk", macs=qk_macs, dense_macs=att.dense_macs_qk,
          sparse_macs=att.sparse_macs_qk, dram_read_bytes=np.rint(att.dram_qk_bytes),
          compute_cycles=qk_busy, stall_cycles=att.stall_cycles,
          total_cycles=qk_busy + att.stall_cycles,
          roofline_cycles=np.maximum(qk_macs / rate, att.dram_qk_bytes / bpc),
          dense_busy_cycles=att.dense_busy_qk, sparse_busy_cycles=att.sparse_busy_qk,
          **sram.get("qk", {}), **common)
    b.add(layer=layer_of, head=head_idx, stage="softmax", engine="softmax", n=n,
          softmax_ops=att.softmax_ops, compute_cycles=att.softmax_cycles,
          total_cycles=att.softmax_cycles, roofline_cycles=att.softmax_cycles,
          **sram.get("softmax", {}))
    sv_dram = att.dram_v_bytes + att.dram_out_bytes
    sv_busy = att.sv_cycles.astype(np.float64)
    b.add(stage="sv", macs=sv_macs, dense_macs=att.dense_macs_sv,
          sparse_macs=att.sparse_macs_sv, dram_read_bytes=np.rint(att.dram_v_bytes),
          dram_write_bytes=np.rint(att.dram_out_bytes), compute_cycles=sv_busy,
          total_cycles=sv_busy, roofline_cycles=np.maximum(sv_macs / rate, sv_dram / bpc),
          dense_busy_cycles=att.dense_busy_sv, sparse_busy_cycles=att.sparse_busy_sv,
          **sram.get("sv", {}), **common)

    # --- projection and MLP ---------------------------------------------------------------
    act_ops = ACTIVATION_OPS_PER_ELEMENT
    vector: dict[str, list[tuple[int, int]]] = {"activation": [], "residual": []}
    for g in block.linear_gemms():
        if g.name in ("qkv", "kv", "q"):
            continue
        if g.name == "fc1" and block.norm is Norm.LAYERNORM:
            _add_vector(b, hw, layers, "ln2", [(LAYERNORM_OPS_PER_ELEMENT * g.m * g.k, 0)])
        _add_gemm(b, hw, layers, g.name, [gemm(g)])
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
            _add_vector(b, hw, layers, stage, parts)


def simulate_twin(trace: WorkloadTrace, hardware: HardwareConfig) -> SimulationResult:
    """Every stage of ``trace`` on ``hardware``, assembled row by row."""
    if hardware.reference_model is ReferenceModel.VITCOD_RELEASED:
        from vitsim.simulator.released import simulate_released

        return simulate_released(trace, hardware)
    b = StageTableBuilder()
    gemm = _GemmMemo(hardware)
    spec = trace.spec
    if spec.stem_gemms:
        _add_gemm(b, hardware, -1, "patch_embed",
                  [gemm(g) for g in spec.stem_gemms])
    dense_nnz, sparse_nnz = trace.attention.dense_nnz(), trace.attention.sparse_nnz()
    head_start = np.concatenate(([0], np.cumsum([bl.n_heads for bl in spec.blocks])))
    # Blocks of one shape (their names aside) are simulated together.
    for layers in spec.shape_groups:
        _group_stages(b, gemm, hardware, trace, spec.blocks[layers[0]],
                      np.asarray(layers, dtype=np.int64), head_start, dense_nnz, sparse_nnz)
    if spec.head_gemms:
        _add_gemm(b, hardware, spec.n_layers, "classifier",
                  [gemm(g) for g in spec.head_gemms])
    return SimulationResult.from_table(b.build(), hardware, trace)
