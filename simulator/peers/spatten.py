"""SpAtten (Wang, Zhang, Han, "SpAtten", HPCA 2021) as an accelerator model in vitsim's framework.

SpAtten prunes whole tokens and heads on the fly and computes dense attention over what
survives, fetching keys at low precision first. Per block, in execution order:

- **cascade token pruning**: block ``l`` runs on ``n_l = ceil(token_keep_ratios[l] x N)``
  tokens (the CLS token always survives); a token pruned once stays pruned, so every later
  linear layer, layer norm and attention shrinks with it. A model whose depth differs from
  the schedule's reads it by relative depth. Only models of square, equal-size blocks (ViT,
  DeiT) are pruned; others (LeViT's subsampling blocks) run unpruned, as provenance says.
  The top-k engine picks the survivors after each block whose successor keeps fewer tokens;
- **cascade head pruning**: ``ceil(head_keep_ratio x h)`` heads per block compute attention
  (the pruned heads' Q, K, V are neither fetched nor used; their projections are still
  computed, a conservative reading), picked by a top-k over the ``h`` head scores;
- **attention** on the survivors, dense: the Q·K unit takes ``qk_multipliers / head_dim``
  keys per cycle for one query, the probability·V unit ``sv_multipliers / v_dim``; the units
  and the softmax between them form one pipeline, so a head costs
  ``n_q x ceil(n_k / keys per cycle)`` cycles of the slower unit, and a block pays the
  pipeline's latency once (the behaviour model ``bert.cpp`` of SpAtten's repository). The
  pipelined time is split between the stages ``qk`` and ``sv`` by the units' busy cycles;
- **progressive quantization**: keys arrive with ``key_msb_bits``; a fraction
  ``lsb_refetch_fraction`` of the heads fetches the ``key_lsb_bits`` too and recomputes its
  attention (operator ``spatten:requant``);
- **top-k engine**: quick-select over the ranked scores, ``parallelism`` elements compared a
  cycle plus a fixed cost per round, with each pivot halving the candidates (the best case;
  the random pivots of SpAtten's own latency model compare about 1.7x more elements on
  average), plus filling and draining its buffer at the units' rate;
- **linear layers** (SpAtten accelerates attention only): for an end-to-end comparison they
  are charged on the same multipliers, both units working as lines of ``line_width``
  multipliers (vitsim's MAC-line dense engine, tiled by the buffers), at ``linear.data_bits``;
- **DRAM**: per head Q, K (MSBs; LSBs on a re-fetch) and V in, the output out, overlapped
  with the previous head's compute when double buffered.

Energy is action counts x the preset's per-action energies plus leakage x time.

``normalise_to`` rescales both units by the design's MAC count over SpAtten's multipliers
(keeping their split), and takes the design's clock, DRAM bandwidth and energy per byte,
buffers, vector lanes and technology node (energies scaled by the node ratio);
:func:`resolve_spatten` gives the configuration a run uses.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from vitsim.errors import VitsimError
from vitsim.hw_configs.peers import SpAttenConfig
from vitsim.hw_configs.schema import DenseEngine, DenseEngineKind, HardwareConfig, MacArray, Vector
from vitsim.simulator.baselines.result import BaselineResult
from vitsim.simulator.kernels import tile_timeline
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
from vitsim.workloads.model_spec import BlockSpec, ModelSpec
from vitsim.workloads.trace import WorkloadTrace

__all__ = [
    "keys_per_cycle",
    "resolve_spatten",
    "simulate_spatten",
    "token_schedule",
    "topk_cycles",
]



def resolve_spatten(cfg: SpAttenConfig, normalise_to: HardwareConfig | None = None
                    ) -> SpAttenConfig:
    """The configuration a run uses: ``cfg`` as published, or normalised to a design.

    Normalised: each unit's multipliers scaled by ``total_macs / (qk + sv multipliers)``;
    clock, DRAM bandwidth and energy per byte, buffers and vector lanes of ``normalise_to``;
    logic and SRAM energies scaled to its node, leakage by the multiplier, node and clock
    ratios (the 10%-of-peak-dynamic-power rule of the presets).
    """
    if normalise_to is None:
        return cfg
    hw = normalise_to
    units = cfg.units
    ratio = hw.total_macs / units.n_multipliers
    qk = max(1, round(units.qk_multipliers * ratio))
    sv = max(1, round(units.sv_multipliers * ratio))
    s = energy_scale(cfg.energy.technology_nm, hw)
    e = cfg.energy
    sram_read, sram_write, sram_leak = normalised_sram(e.sram_read_pj_per_byte,
                                                       e.sram_write_pj_per_byte, s, hw)
    energy = dataclasses.replace(
        e, technology_nm=hw.energy.technology_nm, mac_pj=e.mac_pj * s,
        softmax_op_pj=e.softmax_op_pj * s, vector_op_pj=e.vector_op_pj * s,
        topk_op_pj=e.topk_op_pj * s,
        sram_read_pj_per_byte=sram_read, sram_write_pj_per_byte=sram_write,
        dram_pj_per_byte=hw.energy.dram_pj_per_byte,
        leakage_mw=e.leakage_mw * (qk + sv) / units.n_multipliers * s
        * hw.clock_mhz / cfg.clock_mhz + sram_leak)
    return dataclasses.replace(
        cfg, name=f"{cfg.name}@{hw.name}", clock_mhz=hw.clock_mhz,
        units=dataclasses.replace(units, qk_multipliers=qk, sv_multipliers=sv),
        vector=Vector(ops_per_cycle=hw.vector.ops_per_cycle),
        buffers=peer_buffers_of(hw),
        dram=dataclasses.replace(cfg.dram, bandwidth_gb_per_s=hw.dram.bandwidth_gb_per_s),
        energy=energy)


def token_schedule(spec: ModelSpec, token_keep_ratios: tuple[float, ...]) -> tuple[int, ...] | None:
    """Tokens entering each block under cascade token pruning, or None when the model is not
    prunable (its blocks are not all square with the same token count).

    Block ``l`` of ``L`` reads ratio ``token_keep_ratios[floor(l x len / L)]``;
    ``n_l = max(1, ceil(ratio x N))`` (the CLS token always survives).
    """
    if not spec.uniform:
        return None
    n = spec.n_tokens
    depth, count = spec.n_layers, len(token_keep_ratios)
    return tuple(max(1, math.ceil(token_keep_ratios[min(count - 1, li * count // depth)] * n
                                  - 1e-9))
                 for li in range(depth))


def keys_per_cycle(multipliers: int, dim: int) -> int:
    """Keys a unit of ``multipliers`` takes per cycle for ``dim``-long rows (>= 1)."""
    return max(1, multipliers // dim)


def _cycles_per_query(n_keys: int, dim: int, multipliers: int) -> int:
    """Cycles one query spends on ``n_keys`` keys in a unit of ``multipliers``."""
    if multipliers >= dim:
        return math.ceil(n_keys / (multipliers // dim))
    return n_keys * math.ceil(dim / multipliers)


def topk_cycles(n: int, k: int, *, parallelism: int, round_overhead_cycles: int,
                io_per_cycle: int) -> tuple[int, int]:
    """Cycles and compared elements of the top-k engine selecting ``k`` of ``n`` scores.

    Quick-select (SpAtten's TopK.scala with QuickSelect.scala; cycle counts of its behaviour
    model bert.cpp ``simTopK``): the buffer fills at ``io_per_cycle`` scores a cycle; every
    round compares the candidates ``parallelism`` a cycle plus ``round_overhead_cycles``;
    each pivot halves the candidates, so ``ceil(log2 n)`` rounds (the best case); the ``k``
    survivors drain at ``io_per_cycle``. ``(0, 0)`` when nothing is pruned (``k >= n``).
    """
    if k >= n or n <= 1:
        return 0, 0
    cycles = math.ceil(n / io_per_cycle) + math.ceil(k / io_per_cycle)
    compared = 0
    m = n
    while m > 1:
        cycles += math.ceil(m / parallelism) + round_overhead_cycles
        compared += m
        m = math.ceil(m / 2)
    return cycles, compared


def _linear_engine(cfg: SpAttenConfig) -> HardwareConfig:
    units = cfg.units
    width = min(units.line_width, units.n_multipliers)
    lines = max(1, units.n_multipliers // width)
    return linear_engine(
        cfg.name, cfg.clock_mhz, cfg.linear.data_bits,
        DenseEngine(kind=DenseEngineKind.MAC_LINES), MacArray(n_lines=lines, macs_per_line=width),
        cfg.buffers, cfg.dram, cfg.schedule.double_buffering)


def _prices(cfg: SpAttenConfig) -> dict[str, float]:
    e = cfg.energy
    return {"mac": e.mac_pj, "softmax_op": e.softmax_op_pj, "vector_op": e.vector_op_pj,
            "topk_op": e.topk_op_pj, "dram_byte": e.dram_pj_per_byte,
            **sram_prices(e.sram_read_pj_per_byte, e.sram_write_pj_per_byte)}


def _attention(tally: PeerTally, cfg: SpAttenConfig, block: BlockSpec, n_q: int, n_k: int,
               n_heads: int) -> None:
    """Dense attention of ``n_heads`` surviving heads over ``n_q`` queries and ``n_k`` keys."""
    units, quant = cfg.units, cfg.quantization
    d, dv = block.qk_dim, block.v_dim
    f = quant.lsb_refetch_fraction
    c_qk = _cycles_per_query(n_k, d, units.qk_multipliers)
    c_sv = _cycles_per_query(n_k, dv, units.sv_multipliers)
    head_cycles = n_q * max(c_qk, c_sv)  # the units run side by side, the slower one sets it
    qk_share = c_qk / (c_qk + c_sv)

    q_bytes = n_q * d * quant.query_bits / BITS_PER_BYTE
    k_msb = n_k * d * quant.key_msb_bits / BITS_PER_BYTE
    k_lsb = n_k * d * quant.key_lsb_bits / BITS_PER_BYTE
    v_bytes = n_k * dv * quant.value_bits / BITS_PER_BYTE
    out_bytes = n_q * dv * quant.output_bits / BITS_PER_BYTE
    q_load, k_load, v_load = head_loads(q_bytes, k_msb + f * k_lsb, v_bytes, cfg.buffers,
                                        cfg.schedule.double_buffering)
    k_lsb_load = k_load * (f * k_lsb / (k_msb + f * k_lsb)) if k_load else 0.0
    load = q_load + k_load + v_load
    bpc = cfg.dram.bandwidth_gb_per_s * 1e3 / cfg.clock_mhz
    compute = np.full(n_heads, (1.0 + f) * head_cycles)
    _, stall, _ = tile_timeline(np.full(n_heads, load / bpc), compute,
                                np.full(n_heads, out_bytes / bpc),
                                cfg.schedule.double_buffering)
    scores = n_heads * n_q * n_k
    msb = quant.key_msb_bits / BITS_PER_BYTE
    tally.add_op("qk", "qk", compute_cycles=n_heads * head_cycles * qk_share,
                 stall_cycles=stall, count=n_heads, macs=scores * d,
                 dram_bytes=n_heads * (load - k_lsb_load), actions={
                     "mac": scores * d,
                     "sram_read:q": n_heads * q_bytes,  # a query is broadcast to the lines
                     "sram_read:k": scores * d * msb,
                     "sram_write:q": n_heads * q_load,
                     "sram_write:k": n_heads * (k_load - k_lsb_load),
                     "sram_write:v": n_heads * v_load,
                     "dram_byte": n_heads * (load - k_lsb_load)})
    tally.add_op("softmax", "softmax", compute_cycles=0.0, count=n_heads,
                 actions={"softmax_op": scores})
    latency = units.pipeline_latency_cycles + math.ceil(n_k / keys_per_cycle(
        units.qk_multipliers, d))
    tally.add_op("sv", "sv", compute_cycles=n_heads * head_cycles * (1 - qk_share) + latency,
                 count=n_heads, macs=scores * dv, dram_bytes=n_heads * out_bytes, actions={
                     "mac": scores * dv,
                     "sram_read:v": scores * dv * quant.value_bits / BITS_PER_BYTE,
                     "sram_write:output": n_heads * out_bytes,
                     "sram_read:output": n_heads * out_bytes,
                     "dram_byte": n_heads * out_bytes})
    if f > 0:
        full_k = (quant.key_msb_bits + quant.key_lsb_bits) / BITS_PER_BYTE
        tally.add_op("requant", "qk", compute_cycles=n_heads * f * head_cycles, count=n_heads,
                     macs=f * scores * (d + dv), dram_bytes=n_heads * k_lsb_load, actions={
                         "mac": f * scores * (d + dv),
                         "softmax_op": f * scores,
                         "sram_read:q": f * n_heads * q_bytes,
                         "sram_read:k": f * scores * d * full_k,
                         "sram_read:v": f * scores * dv * quant.value_bits / BITS_PER_BYTE,
                         "sram_write:k": n_heads * k_lsb_load,
                         "dram_byte": n_heads * k_lsb_load})


def _add_topk(tally: PeerTally, cfg: SpAttenConfig, n: int, k: int, io_per_cycle: int) -> None:
    cycles, compared = topk_cycles(n, k, parallelism=cfg.topk.parallelism,
                                   round_overhead_cycles=cfg.topk.round_overhead_cycles,
                                   io_per_cycle=io_per_cycle)
    if cycles:
        # the engine ranks attention probabilities (token or head importance): stage softmax
        tally.add_op("topk", "softmax", compute_cycles=cycles, count=1,
                     actions={"topk_op": compared})


def simulate_spatten(trace: WorkloadTrace, peer: SpAttenConfig, *,
                     normalise_to: HardwareConfig | None = None) -> BaselineResult:
    """Latency and energy of ``trace``'s model on SpAtten (see the module docstring).

    ``peer``: a SpAtten description (``load_spatten()`` for the published preset).
    ``normalise_to``: a design to normalise multipliers, clock and bandwidth to (``None``:
    as published). The trace supplies the model and its token and head counts; SpAtten's
    attention is dense over the tokens it keeps, so the trace's mask is not used.
    """
    cfg = resolve_spatten(peer, normalise_to)
    hw = _linear_engine(cfg)
    tally = PeerTally(cfg.name, cfg.clock_mhz)
    spec = trace.spec
    tokens = token_schedule(spec, cfg.pruning.token_keep_ratios)
    bpe = cfg.linear.data_bits / BITS_PER_BYTE
    # The vector unit's rates, bound once (typed, unlike a **kwargs dict of mixed values).
    vector = functools.partial(add_vector, ops_per_cycle=cfg.vector.ops_per_cycle,
                               dram_bytes_per_cycle=(cfg.dram.bandwidth_gb_per_s * 1e3
                                                     / cfg.clock_mhz))
    for g in spec.stem_gemms:
        add_linear(tally, hw, g, stage="patch_embed")
    for li, block in enumerate(spec.blocks):
        n = None if tokens is None else tokens[li]
        gemms = block_gemms(block, n)
        n_q = block.n_q_tokens if n is None else n
        n_k = block.n_k_tokens if n is None else n
        heads = max(1, math.ceil(cfg.pruning.head_keep_ratio * block.n_heads - 1e-9))
        vparts = block_vector_parts(block, gemms, bpe)
        if "ln1" in vparts:
            vector(tally, "ln1", vparts["ln1"])
        for g in gemms:
            if g.name in ("qkv", "kv", "q"):
                add_linear(tally, hw, g, stage=g.name)
        _attention(tally, cfg, block, n_q, n_k, heads)
        io = keys_per_cycle(cfg.units.qk_multipliers, block.qk_dim)
        _add_topk(tally, cfg, block.n_heads, heads, io)
        if tokens is not None and li + 1 < len(tokens):
            _add_topk(tally, cfg, tokens[li], tokens[li + 1], io)
        for g in gemms:
            if g.name in ("qkv", "kv", "q"):
                continue
            if g.name == "fc1" and "ln2" in vparts:
                vector(tally, "ln2", vparts["ln2"])
            add_linear(tally, hw, g, stage=g.name)
        for stage in ("activation", "residual"):
            if stage in vparts:
                vector(tally, stage, vparts[stage])
    for g in spec.head_gemms:
        add_linear(tally, hw, g, stage="classifier")

    configuration = "published" if normalise_to is None else "normalised"
    prov = base_provenance(trace, configuration, cfg.clock_mhz, cfg.dram.bandwidth_gb_per_s,
                           normalise_to)
    units, quant = cfg.units, cfg.quantization
    linear = _linear_engine(cfg).mac_array
    prov.update({
        "units": f"Q·K {units.qk_multipliers} + prob·V {units.sv_multipliers} multipliers",
        "macs": str(units.n_multipliers),
        "token_pruning": ("tokens per block " + ",".join(map(str, tokens))
                          if tokens is not None else
                          "none: the model's blocks are not all square and equal in size"),
        "head_pruning": f"head_keep_ratio {cfg.pruning.head_keep_ratio:g}",
        "progressive_quantization": (f"keys {quant.key_msb_bits} MSBs + {quant.key_lsb_bits} "
                                     f"LSBs re-fetched by {quant.lsb_refetch_fraction:g} of "
                                     "the heads"),
        "linear_layers": (f"charged on the same {units.n_multipliers} multipliers as "
                          f"{linear.n_lines} lines x {linear.macs_per_line} "
                          f"({cfg.linear.data_bits}-bit), tiled by the buffers; SpAtten "
                          "itself accelerates attention only"),
        "mask": "not used: attention is dense over the surviving tokens",
    })
    if normalise_to is not None:
        prov["normalisation"] = (f"{normalise_to.total_macs} multipliers "
                                 f"({units.qk_multipliers} Q·K + {units.sv_multipliers} "
                                 f"prob·V), {normalise_to.clock_mhz:g} MHz, "
                                 f"{normalise_to.dram.bandwidth_gb_per_s:g} GB/s, buffers and "
                                 f"vector lanes of {normalise_to.name}, energies at "
                                 f"{normalise_to.energy.technology_nm:g} nm")
    if tally.total_cycles <= 0:
        raise VitsimError("the model has no work", source=spec.name)
    return tally.result(model=spec.name, prices=_prices(cfg), leakage_mw=cfg.energy.leakage_mw,
                        provenance=prov)
