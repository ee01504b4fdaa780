"""Sanger (Lu et al., "Sanger", MICRO 2021) as an accelerator model in vitsim's framework.

Sanger predicts each input's attention mask at run time and computes only the kept scores on
a score-stationary reconfigurable PE array. Per block, in execution order, the model charges:

- **linear layers** (``qkv``, ``proj``, ``fc1``, ``fc2``, the stem and the classifier) densely
  on the same PE array, run as its SpMM with every score kept: a PE row holds
  ``pes_per_row`` elements of a row of A and reduces their products with a streamed column
  of B into one output element a cycle, so the array is ``pe_rows`` MAC lines of
  ``pes_per_row`` MACs (vitsim's MAC-line engine, :mod:`vitsim.simulator.dense_engine`),
  tiled by the buffers like vitsim's own linear layers
  (:func:`vitsim.simulator.linear.tiled_gemm`). (Timing the array as an output-stationary
  systolic array instead would, with tiles cut by the buffers, leave most of it idle on
  DeiT-Base's 3072-deep fc2: its tiles are narrower than 64 x 16 outputs.);
- **mask prediction** per head: Q and K quantized to ``quant_bits``, ``Q K^T`` over *all*
  ``n_q x n_k`` scores on the dense low-bit prediction array (timed as an output-stationary
  systolic GEMM, the structure of Sanger's released ``mask.scala``), softmax and threshold.
  With ``overlap_with_attention`` the prediction of head ``h + 1`` overlaps the sparse
  array's work on head ``h`` (a two-stage pipeline over the heads of a block); only the part
  the sparse work does not hide appears, as the operator ``sanger:predict``. With
  ``prediction.enabled`` false nothing of it is charged (Sanger given the mask for free, as
  ViTCoD's fixed mask is: the lower bracket of Sanger's attention time);
- **the predicted mask** is the trace's kept mask (the assumption that Sanger's threshold
  keeps about what the fixed mask keeps), optionally scaled by ``mask_density_factor``;
- **pack and split** (:func:`vitsim.simulator.kernels.sanger_pack_split`): each mask row cut
  into ``port_width``-wide vectors, each non-empty vector's kept scores packed into sub-rows
  of ``pes_per_row``; one sub-row per PE row, all rows on the same key vector, so a head
  takes ``sum over vectors of ceil(sub-rows / pe_rows)`` passes;
- **SDDMM** (Q K^T on the kept scores): ``head_dim`` cycles per pass (every PE accumulates its
  own score), plus the ``pe_rows - 1`` cycles the keys take to reach the last row;
  **softmax** in the PEs: ``softmax_cycles_per_pass`` per pass; **SpMM** (S V):
  ``v_dim`` cycles per pass (one output element per row per cycle, partial sums flowing
  along the row), plus ``pe_rows - 1 + pes_per_row - 1`` fill;
- **DRAM**: per head, Q, K and V at ``data_bits`` in (K and V again for every query tile when
  they do not fit their buffers), the output out; loads of the next head overlap this head's
  compute when double buffered (:func:`vitsim.simulator.kernels.tile_timeline`).

Energy is action counts x the preset's per-action energies plus leakage x time, as vitsim's
own energy model prices them; every counted action must have a price.

``normalise_to`` (a :class:`~vitsim.hw_configs.schema.HardwareConfig`) rescales the array to
the design's MAC count (``pe_rows = total_macs / pes_per_row``; the prediction array by the
same factor), and takes the design's clock, DRAM bandwidth, buffers, vector lanes, technology
node (energies scaled by the node ratio) and DRAM energy; Sanger's 16-bit precision and its
dataflow stay. :func:`resolve_sanger` gives the configuration a run uses.

The plumbing both peer models share is in :mod:`vitsim.simulator.peers.common`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vitsim.errors import VitsimError
from vitsim.hw_configs.peers import SangerConfig
from vitsim.hw_configs.schema import (
    Dataflow,
    DenseEngine,
    DenseEngineKind,
    HardwareConfig,
    MacArray,
    Vector,
)
from vitsim.simulator.baselines.result import BaselineResult
from vitsim.simulator.dense_engine import systolic_gemm
from vitsim.simulator.kernels import sanger_pack_split, tile_timeline
from vitsim.simulator.linear import effective_capacity
from vitsim.simulator.peers.common import (
    BITS_PER_BYTE,
    PeerTally,
    add_linear,
    add_vector,
    base_provenance,
    block_gemms,
    block_vector_parts,
    energy_scale,
    head_loads,
    linear_engine,
    normalised_sram,
    peer_buffers_of,
    sram_prices,
)
from vitsim.workloads.model_spec import BlockSpec, Gemm
from vitsim.workloads.trace import WorkloadTrace

__all__ = [
    "SangerHeads",
    "resolve_sanger",
    "sanger_heads",
    "simulate_sanger",
]

# ======================================================================================
# Sanger
# ======================================================================================


@dataclass(frozen=True)
class SangerHeads:
    """Pack-and-split of every head of a trace (arrays of length n_heads_total, int64)."""

    kept: np.ndarray  # kept scores of the predicted mask
    sub_rows: np.ndarray  # packed sub-rows (PE-row loads)
    passes: np.ndarray  # passes of the PE array
    key_columns: np.ndarray  # key columns broadcast over all passes (K and V reads)


def sanger_heads(trace: WorkloadTrace, cfg: SangerConfig) -> SangerHeads:
    """Run Sanger's pack and split over every head of ``trace`` (see the kernel)."""
    at = trace.attention
    arr, pred = cfg.array, cfg.prediction
    kept, sub_rows, passes, key_columns = sanger_pack_split(
        at.perm, at.perm_offsets, at.n_k, at.row_offsets, at.dense_row_nnz, at.dense_indices,
        at.dense_offsets, at.sparse_row_nnz, at.sparse_indices, at.sparse_offsets,
        arr.port_width, arr.pes_per_row, arr.pe_rows, float(pred.mask_density_factor),
        arr.skip_empty_subrows)
    return SangerHeads(kept, sub_rows, passes, key_columns)


def resolve_sanger(cfg: SangerConfig, normalise_to: HardwareConfig | None = None
                   ) -> SangerConfig:
    """The configuration a run uses: ``cfg`` as published, or normalised to a design.

    Normalised: ``pe_rows = total_macs // pes_per_row`` (sub-rows keep Sanger's 16 PEs and
    64-wide ports), the prediction array's rows scaled by the same factor; clock, DRAM
    bandwidth and energy per byte, buffers and vector lanes of ``normalise_to``; logic and
    SRAM energies scaled to its node (:func:`energy_scale`); leakage by the MAC, node and
    clock ratios (the 10%-of-peak-dynamic-power rule of the presets).
    """
    if normalise_to is None:
        return cfg
    hw = normalise_to
    pe_rows = hw.total_macs // cfg.array.pes_per_row
    if pe_rows < 1:
        raise VitsimError(f"{hw.name} has {hw.total_macs} MACs, fewer than one Sanger PE row "
                          f"of {cfg.array.pes_per_row}", field="normalise_to")
    ratio = pe_rows / cfg.array.pe_rows
    pred_rows = max(1, round(cfg.prediction.rows * ratio))
    s = energy_scale(cfg.energy.technology_nm, hw)
    e = cfg.energy
    sram_read, sram_write, sram_leak = normalised_sram(e.sram_read_pj_per_byte,
                                                       e.sram_write_pj_per_byte, s, hw)
    mac_ratio = (pe_rows * cfg.array.pes_per_row * e.mac_pj
                 + pred_rows * cfg.prediction.cols * e.prediction_mac_pj) / (
        cfg.array.n_pes * e.mac_pj + cfg.prediction.n_macs * e.prediction_mac_pj)
    energy = dataclasses.replace(
        e, technology_nm=hw.energy.technology_nm, mac_pj=e.mac_pj * s,
        prediction_mac_pj=e.prediction_mac_pj * s, softmax_op_pj=e.softmax_op_pj * s,
        vector_op_pj=e.vector_op_pj * s,
        sram_read_pj_per_byte=sram_read, sram_write_pj_per_byte=sram_write,
        dram_pj_per_byte=hw.energy.dram_pj_per_byte,
        leakage_mw=e.leakage_mw * mac_ratio * s * hw.clock_mhz / cfg.clock_mhz + sram_leak)
    return dataclasses.replace(
        cfg, name=f"{cfg.name}@{hw.name}", clock_mhz=hw.clock_mhz,
        array=dataclasses.replace(cfg.array, pe_rows=pe_rows),
        prediction=dataclasses.replace(cfg.prediction, rows=pred_rows),
        vector=Vector(ops_per_cycle=hw.vector.ops_per_cycle),
        buffers=peer_buffers_of(hw),
        dram=dataclasses.replace(cfg.dram, bandwidth_gb_per_s=hw.dram.bandwidth_gb_per_s),
        energy=energy)



def _sanger_linear_engine(cfg: SangerConfig) -> HardwareConfig:
    """The PE array in its SpMM mode with every score kept: each PE row holds
    ``pes_per_row`` elements of a row of A and reduces their products with a streamed
    column of B into one output a cycle (the partial sums flow along the row), i.e.
    ``pe_rows`` MAC lines of ``pes_per_row`` MACs."""
    arr = cfg.array
    return linear_engine(
        cfg.name, cfg.clock_mhz, cfg.data_bits,
        DenseEngine(kind=DenseEngineKind.MAC_LINES),
        MacArray(n_lines=arr.pe_rows, macs_per_line=arr.pes_per_row),
        cfg.buffers, cfg.dram, cfg.schedule.double_buffering)


def _sanger_linear_reads(cfg: SangerConfig) -> Callable[[Gemm], dict[str, float]]:
    """SRAM operand traffic of a dense GEMM ``[m, k] x [k, n]`` in the array's SpMM mode.

    A row of A is cut like a mask row into ``port_width``-wide vectors and sub-rows of
    ``pes_per_row``; a sub-row's elements stay in its PE row (read once per weight tile,
    ``ceil(n / columns per weight tile)`` tiles) while the vector's rows of B stream down all
    PE rows (``passes x n x width`` elements read); each sub-row emits one partial sum per
    output, merged in the output buffer (a write each, a read for all but the first).
    """
    arr = cfg.array
    bpe = cfg.data_bits / BITS_PER_BYTE
    w_cap = effective_capacity(cfg.buffers.weight.size_bytes, cfg.schedule.double_buffering)

    def reads(g: Gemm) -> dict[str, float]:
        m, k, n = g.m, g.k, g.n
        b_elements = 0
        chunks = 0
        for start in range(0, k, arr.port_width):
            width = min(arr.port_width, k - start)
            per_row = -(-width // arr.pes_per_row)
            chunks += per_row
            b_elements += -(-(m * per_row) // arr.pe_rows) * n * width
        weight_tiles = -(-n // max(1, int(w_cap // (k * bpe))))
        return {"sram_read:activation": weight_tiles * m * k * bpe,
                "sram_read:weight": b_elements * bpe,
                "sram_write:output": m * n * chunks * bpe,
                "sram_read:output": m * n * (chunks - 1) * bpe}

    return reads


def _sanger_prices(cfg: SangerConfig) -> dict[str, float]:
    e = cfg.energy
    return {"mac": e.mac_pj, "prediction_mac": e.prediction_mac_pj,
            "softmax_op": e.softmax_op_pj, "vector_op": e.vector_op_pj,
            "dram_byte": e.dram_pj_per_byte,
            **sram_prices(e.sram_read_pj_per_byte, e.sram_write_pj_per_byte)}


def _sanger_attention(tally: PeerTally, cfg: SangerConfig, block: BlockSpec,
                      heads: SangerHeads, sl: slice) -> None:
    arr, pred_cfg = cfg.array, cfg.prediction
    n_heads = block.n_heads
    nq, nk, d, dv = block.n_q_tokens, block.n_k_tokens, block.qk_dim, block.v_dim
    kept = heads.kept[sl].astype(np.float64)
    sub_rows = heads.sub_rows[sl].astype(np.float64)
    passes = heads.passes[sl].astype(np.float64)
    key_columns = heads.key_columns[sl].astype(np.float64)

    pred = systolic_gemm(nq, d, nk, rows=pred_cfg.rows, cols=pred_cfg.cols,
                         dataflow=Dataflow.OS, bytes_per_element=1)
    p_cycles = float(pred.total_cycles) if pred_cfg.enabled else 0.0
    busy = passes > 0
    qk = passes * d + np.where(busy, arr.pe_rows - 1, 0)
    sv = passes * dv + np.where(busy, arr.pe_rows - 1 + arr.pes_per_row - 1, 0)
    softmax = passes * arr.softmax_cycles_per_pass
    sparse = qk + softmax + sv
    if pred_cfg.overlap_with_attention:
        # Two stages over the heads: predict(h + 1) runs beside sparse(h).
        compute = np.empty(n_heads)
        compute[:-1] = np.maximum(p_cycles, sparse[:-1])
        compute[-1] = sparse[-1]
        compute[0] += p_cycles
    else:
        compute = p_cycles + sparse

    bpe = cfg.data_bits / BITS_PER_BYTE
    q_load, k_load, v_load = head_loads(nq * d * bpe, nk * d * bpe, nk * dv * bpe,
                                        cfg.buffers, cfg.schedule.double_buffering)
    out_bytes = nq * dv * bpe
    bpc = cfg.dram.bandwidth_gb_per_s * 1e3 / cfg.clock_mhz
    load = q_load + k_load + v_load
    _, stall, _ = tile_timeline(np.full(n_heads, load / bpc), compute,
                                    np.full(n_heads, out_bytes / bpc),
                                    cfg.schedule.double_buffering)
    pred_macs = n_heads * nq * nk * d
    quant = pred_cfg.quant_bits / BITS_PER_BYTE
    if pred_cfg.enabled:
        tally.add_op("predict", "qk", compute_cycles=compute.sum() - sparse.sum(),
                     count=n_heads, macs=pred_macs, actions={
                         "prediction_mac": pred_macs,
                         # the threshold is on probabilities: exp and row sum of every score
                         "softmax_op": n_heads * nq * nk,
                         "sram_read:q": n_heads * pred.sram_reads_a_bytes * quant,
                         "sram_read:k": n_heads * pred.sram_reads_b_bytes * quant})
    tally.add_op("qk", "qk", compute_cycles=qk.sum(), stall_cycles=stall, count=n_heads,
                 macs=kept.sum() * d, dram_bytes=n_heads * load, actions={
                     "mac": kept.sum() * d,
                     "sram_read:q": sub_rows.sum() * d * bpe,  # a sub-row streams its query
                     "sram_read:k": key_columns.sum() * d * bpe,  # a pass broadcasts its keys
                     "sram_write:q": n_heads * q_load,
                     "sram_write:k": n_heads * k_load,
                     "sram_write:v": n_heads * v_load,
                     "dram_byte": n_heads * load})
    tally.add_op("softmax", "softmax", compute_cycles=softmax.sum(), count=n_heads,
                 actions={"softmax_op": kept.sum()})
    tally.add_op("sv", "sv", compute_cycles=sv.sum(), count=n_heads, macs=kept.sum() * dv,
                 dram_bytes=n_heads * out_bytes, actions={
                     "mac": kept.sum() * dv,
                     "sram_read:v": key_columns.sum() * dv * bpe,
                     "sram_write:output": sub_rows.sum() * dv * bpe,  # a sub-row's partials
                     "sram_read:output": n_heads * out_bytes,
                     "dram_byte": n_heads * out_bytes})


def simulate_sanger(trace: WorkloadTrace, peer: SangerConfig, *,
                    normalise_to: HardwareConfig | None = None) -> BaselineResult:
    """Latency and energy of ``trace``'s model on Sanger (see the module docstring).

    ``peer``: a Sanger description (``load_sanger()`` for the published preset).
    ``normalise_to``: a design to normalise MACs, clock and bandwidth to (``None``: as
    published). Returns a :class:`BaselineResult` of kind ``ACCELERATOR`` whose operators
    are named ``<design>:<stage>`` (plus ``<design>:predict``) with vitsim's stage names.
    """
    cfg = resolve_sanger(peer, normalise_to)
    heads = sanger_heads(trace, cfg)
    hw = _sanger_linear_engine(cfg)
    reads = _sanger_linear_reads(cfg)
    tally = PeerTally(cfg.name, cfg.clock_mhz)
    spec = trace.spec
    bpe = cfg.data_bits / BITS_PER_BYTE
    # The vector unit's rates, bound once (typed, unlike a **kwargs dict of mixed values).
    vector = functools.partial(add_vector, ops_per_cycle=cfg.vector.ops_per_cycle,
                               dram_bytes_per_cycle=(cfg.dram.bandwidth_gb_per_s * 1e3
                                                     / cfg.clock_mhz))
    for g in spec.stem_gemms:
        add_linear(tally, hw, g, stage="patch_embed", operand_reads=reads)
    start = 0
    for block in spec.blocks:
        gemms = block_gemms(block)
        vparts = block_vector_parts(block, gemms, bpe)
        if "ln1" in vparts:
            vector(tally, "ln1", vparts["ln1"])
        for g in gemms:
            if g.name in ("qkv", "kv", "q"):
                add_linear(tally, hw, g, stage=g.name, operand_reads=reads)
        _sanger_attention(tally, cfg, block, heads, slice(start, start + block.n_heads))
        start += block.n_heads
        for g in gemms:
            if g.name in ("qkv", "kv", "q"):
                continue
            if g.name == "fc1" and "ln2" in vparts:
                vector(tally, "ln2", vparts["ln2"])
            add_linear(tally, hw, g, stage=g.name, operand_reads=reads)
        for stage in ("activation", "residual"):
            if stage in vparts:
                vector(tally, stage, vparts[stage])
    for g in spec.head_gemms:
        add_linear(tally, hw, g, stage="classifier", operand_reads=reads)

    configuration = "published" if normalise_to is None else "normalised"
    prov = base_provenance(trace, configuration, cfg.clock_mhz, cfg.dram.bandwidth_gb_per_s,
                           normalise_to)
    arr, pred = cfg.array, cfg.prediction
    prov.update({
        "pe_array": f"{arr.pe_rows} x {arr.pes_per_row} PEs, {cfg.data_bits}-bit, "
                    f"{arr.port_width}-wide ports",
        "macs": str(arr.n_pes),
        "mask": "the trace's kept positions stand in for Sanger's predicted mask "
                f"(assumption; mask_density_factor {pred.mask_density_factor:g})",
        "prediction": (f"{pred.quant_bits}-bit Q K^T over all scores on a {pred.rows} x "
                       f"{pred.cols} output-stationary array"
                       + (", one head ahead of the sparse array"
                          if pred.overlap_with_attention else ", before the sparse array"))
                      if pred.enabled else
                      "not charged (prediction.enabled false: the mask is given, as ViTCoD's "
                      "fixed mask is; the lower bracket of Sanger's time)",
        "linear_layers": f"dense on the same array in SpMM mode ({arr.pe_rows} lines of "
                         f"{arr.pes_per_row} MACs), tiled by the buffers",
        "kept_scores": str(int(heads.kept.sum())),
        "pe_utilization": f"{_utilization(heads, arr.pes_per_row):.4f}",
    })
    if normalise_to is not None:
        prov["normalisation"] = (f"{normalise_to.total_macs} MACs as {arr.pe_rows} PE rows, "
                                 f"{normalise_to.clock_mhz:g} MHz, "
                                 f"{normalise_to.dram.bandwidth_gb_per_s:g} GB/s, buffers and "
                                 f"vector lanes of {normalise_to.name}, energies at "
                                 f"{normalise_to.energy.technology_nm:g} nm; "
                                 f"{cfg.data_bits}-bit data kept")
    return tally.result(model=spec.name, prices=_sanger_prices(cfg),
                        leakage_mw=cfg.energy.leakage_mw, provenance=prov)


def _utilization(heads: SangerHeads, pes_per_row: int) -> float:
    """Kept scores / PE slots of the packed sub-rows (Sanger's load-balance metric)."""
    slots = float(heads.sub_rows.sum()) * pes_per_row
    return float(heads.kept.sum()) / slots if slots else 1.0
