"""The result of one simulation: the stage table, its energy, and the totals.

Totals follow from the stage rows: stages run one after another, so the run's cycles are the
sum of the stages' ``total_cycles``; energy is the sum over rows and components.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from vitsim.hw_configs.schema import DenseEngineKind, HardwareConfig
from vitsim.simulator.counts import ENGINES, StageTable
from vitsim.simulator.energy import COMPONENTS, stage_energy_pj
from vitsim.workloads.trace import WorkloadTrace


@dataclass(frozen=True, eq=False)
class Totals:
    """Whole-run figures. Units in the names; utilization in [0, 1]."""

    total_cycles: float
    compute_cycles: float
    stall_cycles: float
    fill_cycles: float
    roofline_cycles: float  # sum of the stages' own bounds
    latency_ms: float
    energy_mj: float
    edp_mj_ms: float  # energy-delay product
    throughput_images_per_s: float
    macs: int
    dram_bytes: int
    mac_utilization: float  # MACs / (cycles x the design's MACs)
    dense_engine_utilization: float  # attention stages: dense MACs / dense lines' capacity
    sparse_engine_utilization: float  # attention stages: sparse MACs / sparse lines' capacity

    @property
    def roofline_fraction(self) -> float:
        """How close the run comes to its own bound (1 = at the roofline)."""
        return self.roofline_cycles / self.total_cycles if self.total_cycles else 1.0


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """A frozen record of one design point: per-stage rows, energy by component, totals."""

    hardware: HardwareConfig
    model: str
    trace_hash: str
    stages: StageTable
    energy_pj: MappingProxyType  # component -> per-row pJ
    totals: Totals

    @classmethod
    def from_table(cls, table: StageTable, hw: HardwareConfig,
                   trace: WorkloadTrace) -> SimulationResult:
        energy = stage_energy_pj(table, hw)
        for arr in energy.values():
            arr.flags.writeable = False
        cycles = table.total("total_cycles")
        latency_s = cycles / hw.clock_hz
        energy_mj = sum(float(v.sum()) for v in energy.values()) * 1e-9
        att = table.engine == ENGINES.index("attention")  # the qk and sv rows
        width = hw.mac_array.macs_per_line
        # Engine capacity over the attention stages' time: lines x MACs per line x cycles,
        # or, for a systolic dense engine, its whole array (it takes no share of the lines).
        if hw.engines.dense.kind is DenseEngineKind.SYSTOLIC:
            cap_dense = float(hw.engines.dense.n_systolic_macs * table["total_cycles"][att].sum())
        else:
            cap_dense = float((table["dense_lines"][att] * width
                               * table["total_cycles"][att]).sum())
        cap_sparse = float((table["sparse_lines"][att] * width
                            * table["total_cycles"][att]).sum())
        totals = Totals(
            total_cycles=cycles,
            compute_cycles=table.total("compute_cycles"),
            stall_cycles=table.total("stall_cycles"),
            fill_cycles=table.total("fill_cycles"),
            roofline_cycles=table.total("roofline_cycles"),
            latency_ms=latency_s * 1e3,
            energy_mj=energy_mj,
            edp_mj_ms=energy_mj * latency_s * 1e3,
            throughput_images_per_s=1.0 / latency_s if latency_s else float("inf"),
            macs=int(table.total("macs")),
            dram_bytes=int(table.total("dram_read_bytes") + table.total("dram_write_bytes")),
            mac_utilization=table.total("macs") / (cycles * hw.total_macs) if cycles else 0.0,
            dense_engine_utilization=(float(table["dense_macs"][att].sum()) / cap_dense
                                      if cap_dense else 0.0),
            sparse_engine_utilization=(float(table["sparse_macs"][att].sum()) / cap_sparse
                                       if cap_sparse else 0.0),
        )
        return cls(hw, trace.spec.name, trace.content_hash(), table,
                   MappingProxyType(energy), totals)

    def energy_by_component_mj(self) -> dict[str, float]:
        return {c: float(self.energy_pj[c].sum()) * 1e-9 for c in COMPONENTS}
