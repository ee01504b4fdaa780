"""Plumbing shared by the peer accelerator models (:mod:`vitsim.simulator.peers.sanger`,
:mod:`vitsim.simulator.peers.spatten`): the per-stage tally that becomes a
:class:`~vitsim.simulator.baselines.result.BaselineResult`, the linear and vector stages on a peer's
engine, the per-head DRAM tiling, energy scaling by technology node, and provenance."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from vitsim.errors import VitsimError
from vitsim.hw_configs.loader import load_hardware
from vitsim.hw_configs.peers import PeerBufferEnergy, PeerBuffers
from vitsim.hw_configs.schema import (
    Buffer,
    Buffers,
    DenseEngine,
    Dram,
    Engines,
    HardwareConfig,
    MacArray,
    SparseEngine,
    SramModel,
)
from vitsim.simulator.baselines.result import BaselineKind, BaselineResult, OperatorTime
from vitsim.simulator.counts import STAGES
from vitsim.simulator.linear import effective_capacity, tiled_gemm
from vitsim.simulator.simulate import (
    ACTIVATION_OPS_PER_ELEMENT,
    LAYERNORM_OPS_PER_ELEMENT,
    RESIDUAL_OPS_PER_ELEMENT,
)
from vitsim.workloads.model_spec import Activation, BlockSpec, Gemm, Norm
from vitsim.workloads.trace import WorkloadTrace

BITS_PER_BYTE = 8


@dataclass
class _Op:
    stage: str
    compute_cycles: float = 0.0
    stall_cycles: float = 0.0
    count: int = 0
    macs: float = 0.0
    dram_bytes: float = 0.0
    actions: dict[str, float] = field(default_factory=dict)


@dataclass
class PeerTally:
    """Operators of one peer run: cycles and action counts by operator, priced at the end.

    Operators run one after another, so the run's cycles are the sum of the operators'
    compute and stall cycles. Actions are named ``mac``, ``prediction_mac``, ``softmax_op``,
    ``vector_op``, ``topk_op``, ``sram_read:<buffer>``, ``sram_write:<buffer>`` and
    ``dram_byte``; :meth:`result` prices them with a table that must name every action
    counted (a missing price is an error, never a silent zero), and adds leakage x time.
    """

    design: str
    clock_mhz: float
    ops: dict[str, _Op] = field(default_factory=dict)

    def add_op(self, name: str, stage: str, *, compute_cycles: float,
               stall_cycles: float = 0.0, count: int = 1, macs: float = 0.0,
               dram_bytes: float = 0.0, actions: Mapping[str, float] | None = None) -> None:
        """Add occurrences of operator ``<design>:<name>`` (``stage`` in counts.STAGES)."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}")
        op = self.ops.setdefault(f"{self.design}:{name}", _Op(stage))
        if op.stage != stage:
            raise ValueError(f"operator {name!r} is in stage {op.stage!r}, not {stage!r}")
        op.compute_cycles += float(compute_cycles)
        op.stall_cycles += float(stall_cycles)
        op.count += int(count)
        op.macs += float(macs)
        op.dram_bytes += float(dram_bytes)
        for action, n in (actions or {}).items():
            op.actions[action] = op.actions.get(action, 0.0) + float(n)

    @property
    def total_cycles(self) -> float:
        return math.fsum(op.compute_cycles + op.stall_cycles for op in self.ops.values())

    def actions(self) -> dict[str, float]:
        """Every action's count over the whole run."""
        out: dict[str, float] = {}
        for op in self.ops.values():
            for action, n in op.actions.items():
                out[action] = out.get(action, 0.0) + n
        return out

    def _op_energy_pj(self, op: _Op, prices: Mapping[str, float],
                      leakage_pj_per_cycle: float) -> dict[str, float]:
        out: dict[str, float] = {}
        for action, n in op.actions.items():
            component = action.split(":")[0]
            out[component] = out.get(component, 0.0) + n * prices[action]
        out["leakage"] = (op.compute_cycles + op.stall_cycles) * leakage_pj_per_cycle
        return out

    def energy_pj(self, prices: Mapping[str, float], leakage_mw: float) -> dict[str, float]:
        """Energy of the run by component (pJ): every counted action priced, plus leakage."""
        missing = sorted(a for a, n in self.actions().items() if n and a not in prices)
        if missing:
            raise VitsimError(f"no energy for actions {missing}", field="energy")
        leak = leakage_mw * 1e9 / (self.clock_mhz * 1e6)  # pJ per cycle
        out: dict[str, float] = {}
        for op in self.ops.values():
            for component, pj in self._op_energy_pj(op, prices, leak).items():
                out[component] = out.get(component, 0.0) + pj
        return out

    def result(self, *, model: str, prices: Mapping[str, float], leakage_mw: float,
               provenance: Mapping[str, str]) -> BaselineResult:
        energy = self.energy_pj(prices, leakage_mw)  # checks the prices first
        leak = leakage_mw * 1e9 / (self.clock_mhz * 1e6)
        ms_per_cycle = 1e-3 / self.clock_mhz
        operators = tuple(
            OperatorTime(
                name=name, stage=op.stage,
                latency_ms=(op.compute_cycles + op.stall_cycles) * ms_per_cycle,
                count=op.count, flops=2.0 * op.macs, dram_bytes=op.dram_bytes,
                bound="memory" if op.stall_cycles > op.compute_cycles else "compute",
                energy_mj=math.fsum(self._op_energy_pj(op, prices, leak).values()) * 1e-9)
            for name, op in self.ops.items()
        )
        prov = dict(provenance)
        for component, pj in sorted(energy.items()):
            prov[f"energy_mj:{component}"] = f"{pj * 1e-9:.6g}"
        return BaselineResult(
            baseline=self.design, kind=BaselineKind.ACCELERATOR, model=model, batch=1,
            latency_ms=self.total_cycles * ms_per_cycle,
            energy_mj=math.fsum(energy.values()) * 1e-9, operators=operators, provenance=prov)


def sram_prices(read: PeerBufferEnergy, write: PeerBufferEnergy) -> dict[str, float]:
    """``sram_read:<buffer>`` / ``sram_write:<buffer>`` prices from per-buffer tables."""
    out = {}
    for f in dataclasses.fields(PeerBuffers):
        out[f"sram_read:{f.name}"] = float(getattr(read, f.name))
        out[f"sram_write:{f.name}"] = float(getattr(write, f.name))
    return out


@functools.cache
def base_hardware() -> HardwareConfig:
    return load_hardware("vitcod")


@functools.lru_cache(maxsize=64)
def linear_engine(name: str, clock_mhz: float, data_bits: int, dense: DenseEngine,
                  mac_array: MacArray, buffers: PeerBuffers, dram: Dram,
                  double_buffering: bool) -> HardwareConfig:
    """A :class:`HardwareConfig` describing a peer's dense engine, so that vitsim's tiling
    (:func:`vitsim.simulator.linear.tiled_gemm`) times the peer's linear layers.

    Only what tiling reads is the peer's: clock, precision, dense engine, buffers, DRAM link,
    double buffering. The rest (sparse engine off, codec off) comes from the shipped
    ``vitcod`` preset and is never read; energies are priced by the peer's own table.
    """
    base = base_hardware()
    bufs = {n: buf for n, buf in buffers.items()}
    return dataclasses.replace(
        base, name=f"{name}-linear", clock_mhz=clock_mhz, data_bits=data_bits,
        mac_array=mac_array,
        engines=Engines(dense=dense, sparse=SparseEngine(enabled=False,
                                                         row_policy=base.engines.sparse.row_policy)),
        codec=dataclasses.replace(base.codec, enabled=False),
        buffers=Buffers(index=base.buffers.index, **bufs),
        dram=dram,
        schedule=dataclasses.replace(base.schedule, double_buffering=double_buffering,
                                     polarization=False),
    )


def add_linear(tally: PeerTally, hw: HardwareConfig, gemm: Gemm, *, stage: str,
               operand_reads: Callable[[Gemm], Mapping[str, float]] | None = None) -> None:
    """Time one weight GEMM tiled on ``hw``'s dense engine and count its actions.

    ``operand_reads(gemm)`` replaces the engine's own counts of the operand reads and output
    writes (``sram_read:activation``, ``sram_read:weight``, ``sram_write:output`` and
    ``sram_read:output`` for partial sums) where the peer's dataflow reuses operands
    differently from vitsim's MAC lines.
    """
    t = tiled_gemm(gemm.m, gemm.k, gemm.n, hw, name=gemm.name)
    reps = gemm.count
    operands = {"sram_read:activation": t.sram_read_a, "sram_read:weight": t.sram_read_b,
                "sram_write:output": t.sram_write_c, "sram_read:output": 0.0}
    if operand_reads is not None:
        operands = dict(operand_reads(gemm))
    actions = {name: reps * value for name, value in operands.items()}
    actions["sram_read:output"] = actions.get("sram_read:output", 0.0) + reps * t.dram_write_bytes
    actions.update({
        "mac": reps * t.macs,
        "sram_write:activation": reps * t.sram_fill_a,
        "sram_write:weight": reps * t.sram_fill_b,
        "dram_byte": reps * (t.dram_read_bytes + t.dram_write_bytes),
    })
    tally.add_op(stage, stage, compute_cycles=reps * (t.compute_cycles + t.fill_cycles),
                 stall_cycles=reps * t.stall_cycles, count=reps, macs=reps * t.macs,
                 dram_bytes=reps * (t.dram_read_bytes + t.dram_write_bytes), actions=actions)


def block_gemms(block: BlockSpec, n_tokens: int | None = None) -> tuple[Gemm, ...]:
    """The block's weight GEMMs; with ``n_tokens`` every one runs on that many tokens
    (a square block whose tokens were pruned)."""
    gemms = block.linear_gemms()
    if n_tokens is None:
        return gemms
    return tuple(dataclasses.replace(g, m=n_tokens) for g in gemms)


def block_vector_parts(block: BlockSpec, gemms: tuple[Gemm, ...],
                       bytes_per_element: float) -> dict[str, list[tuple[int, float]]]:
    """(element ops, DRAM bytes read) of the block's vector stages, as vitsim's own
    :mod:`vitsim.simulator.simulate` counts them (layer norms, activations, residual adds)."""
    parts: dict[str, list[tuple[int, float]]] = {"ln1": [], "ln2": [], "activation": [],
                                                 "residual": []}
    first = gemms[0]
    if block.norm is Norm.LAYERNORM:
        in_tokens = first.m  # the qkv (or kv) GEMM's rows: the block's input tokens
        parts["ln1"].append((LAYERNORM_OPS_PER_ELEMENT * in_tokens * block.in_dim, 0.0))
    for g in gemms:
        if g.name == "fc1" and block.norm is Norm.LAYERNORM:
            parts["ln2"].append((LAYERNORM_OPS_PER_ELEMENT * g.m * g.k, 0.0))
        if g.name == "proj" and block.activation is Activation.HARDSWISH:
            parts["activation"].append((ACTIVATION_OPS_PER_ELEMENT * g.m * g.k, 0.0))
        if g.name == "fc1":
            parts["activation"].append((ACTIVATION_OPS_PER_ELEMENT * g.m * g.n, 0.0))
        if g.name in ("proj", "fc2") and (g.name == "fc2" or block.square):
            parts["residual"].append((RESIDUAL_OPS_PER_ELEMENT * g.m * g.n,
                                      g.m * g.n * bytes_per_element))
    return {k: v for k, v in parts.items() if v}


def add_vector(tally: PeerTally, stage: str, parts: list[tuple[int, float]], *,
               ops_per_cycle: int, dram_bytes_per_cycle: float) -> None:
    """Vector ops of one stage: each occurrence the slower of its lanes and its reads."""
    compute = sum(math.ceil(ops / ops_per_cycle) for ops, _ in parts)
    total = sum(max(math.ceil(ops / ops_per_cycle), read / dram_bytes_per_cycle)
                for ops, read in parts)
    reads = sum(read for _, read in parts)
    tally.add_op(stage, stage, compute_cycles=compute, stall_cycles=total - compute,
                 count=len(parts), dram_bytes=reads,
                 actions={"vector_op": sum(ops for ops, _ in parts), "dram_byte": reads,
                          "sram_write:activation": reads})


def head_loads(q_bytes: float, k_bytes: float, v_bytes: float, buffers: PeerBuffers,
               double_buffering: bool) -> tuple[float, float, float]:
    """DRAM bytes of one head's Q, K and V loads: ``(q, k, v)``.

    Queries are cut into tiles that fit the Q buffer; when K or V does not fit its buffer,
    both are streamed again for every query tile. Each buffer holds half its size per tile
    when double buffered.
    """
    def cap(buf: Buffer) -> int:
        return max(1, effective_capacity(buf.size_bytes, double_buffering))

    q_tiles = max(1, math.ceil(q_bytes / cap(buffers.q)))
    fits = k_bytes <= cap(buffers.k) and v_bytes <= cap(buffers.v)
    reloads = 1 if fits else q_tiles
    return q_bytes, reloads * k_bytes, reloads * v_bytes


def energy_scale(peer_node_nm: float, hw: HardwareConfig) -> float:
    """Factor taking a peer's per-action energies to ``hw``'s technology node, E ~ C V^2 with
    C proportional to the feature size and V held (the rule of the vitcod preset)."""
    return hw.energy.technology_nm / peer_node_nm


def peer_buffers_of(hw: HardwareConfig) -> PeerBuffers:
    """The design's buffers, as a peer's (the index buffer has no counterpart)."""
    return PeerBuffers(**{f.name: hw.buffers[f.name] for f in dataclasses.fields(PeerBuffers)})


def base_provenance(trace: WorkloadTrace, configuration: str, clock_mhz: float,
                    bandwidth: float, normalise_to: HardwareConfig | None) -> dict[str, str]:
    prov = {
        "configuration": configuration,
        "clock_mhz": f"{clock_mhz:g}",
        "dram_bandwidth_gb_per_s": f"{bandwidth:g}",
        "trace_hash": trace.content_hash(),
        "energy": "action counts x the per-action table + leakage x latency",
    }
    if normalise_to is not None:
        prov["normalised_to"] = normalise_to.name
    return prov

def scaled_table(table: PeerBufferEnergy, s: float) -> PeerBufferEnergy:
    """Every entry of a per-buffer energy table times ``s``."""
    return dataclasses.replace(table, **{f.name: getattr(table, f.name) * s
                                         for f in dataclasses.fields(table)})


def normalised_sram(read: PeerBufferEnergy, write: PeerBufferEnergy, s: float,
                    hw: HardwareConfig) -> tuple[PeerBufferEnergy, PeerBufferEnergy, float]:
    """SRAM prices and SRAM leakage (mW) of a peer normalised to ``hw``, whose buffers it
    takes: with a size-dependent SRAM model on ``hw`` the peer's buffers are priced and leak
    exactly as ``hw``'s (one basis for both sides of a ratio); with a table, the peer's own
    table scaled to ``hw``'s node by ``s`` and no SRAM leakage beyond its leakage rule."""
    if hw.energy.sram_model is SramModel.TABLE:
        return scaled_table(read, s), scaled_table(write, s), 0.0
    names = [f.name for f in dataclasses.fields(PeerBufferEnergy)]
    priced = [dataclasses.replace(read, **{n: hw.sram_pj_per_byte(n, a) for n in names})
              for a in ("read", "write")]
    return priced[0], priced[1], hw.sram_leakage_mw_of(names)
