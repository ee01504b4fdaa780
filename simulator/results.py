"""The result of one simulation: the stage table, its energy, and the totals.

Totals follow from the stage rows: stages run one after another, so the run's cycles are the
sum of the stages' ``total_cycles``; energy is the sum over rows and components.
"""

from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from vitsim.hw_configs.schema import DenseEngineKind, HardwareConfig
from vitsim.simulator.counts import (
    COUNT_COLUMNS,
    CYCLE_COLUMNS,
    ENGINES,
    INFO_COLUMNS,
    STAGES,
    StageTable,
)
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

    # --- for notebooks and tables: a short repr, an HTML summary, flat metrics, a frame ----
    # (Display only: nothing below changes a number.)

    def metrics(self) -> dict[str, float]:
        """Every whole-run figure as a flat ``{name: float}``: the numeric fields and
        properties of :class:`Totals` and ``energy_<component>_mj`` per energy component
        (the names a sweep's ``metrics`` list accepts)."""
        out = {name: float(getattr(self.totals, name)) for name in _TOTALS_METRICS}
        out.update({f"energy_{c}_mj": v for c, v in self.energy_by_component_mj().items()})
        return out

    def by_stage(self) -> list[dict[str, Any]]:
        """Per stage name, in execution order: cycles, their share, energy (mJ), DRAM bytes
        and MACs; stages with neither cycles nor energy are left out."""
        t = self.stages
        n = len(STAGES)
        cycles = np.bincount(t.stage, weights=t["total_cycles"], minlength=n)
        energy = np.bincount(t.stage, weights=sum(np.asarray(v, dtype=np.float64)
                                                  for v in self.energy_pj.values()),
                             minlength=n) * 1e-9
        dram = np.bincount(t.stage, weights=(t["dram_read_bytes"] + t["dram_write_bytes"])
                           .astype(np.float64), minlength=n)
        macs = np.bincount(t.stage, weights=t["macs"].astype(np.float64), minlength=n)
        total = float(cycles.sum()) or 1.0
        return [{"stage": STAGES[i], "cycles": float(cycles[i]),
                 "share": float(cycles[i]) / total, "energy_mj": float(energy[i]),
                 "dram_bytes": int(dram[i]), "macs": int(macs[i])}
                for i in range(n) if cycles[i] > 0 or energy[i] > 0]

    def __repr__(self) -> str:
        t = self.totals
        return (f"<SimulationResult {self.model} on {self.hardware.name}: "
                f"{t.latency_ms:.4g} ms, {t.energy_mj:.4g} mJ, {t.total_cycles:,.0f} cycles\n"
                f"  MAC utilization {t.mac_utilization:.1%}, DRAM {t.dram_bytes / 1e6:,.3g} MB, "
                f"{t.roofline_fraction:.0%} of its roofline bound\n"
                f"  {len(self.stages.layer):,} stage rows; .metrics(), .by_stage(), "
                f".to_frame() for the details>")

    def _repr_html_(self) -> str:
        """The totals and the stage breakdown as two small tables (Jupyter's rich display)."""
        t = self.totals
        totals = [("latency", f"{t.latency_ms:,.4g} ms"), ("energy", f"{t.energy_mj:,.4g} mJ"),
                  ("cycles", f"{t.total_cycles:,.0f}"), ("MACs", f"{t.macs:,}"),
                  ("DRAM traffic", f"{t.dram_bytes / 1e6:,.3f} MB"),
                  ("MAC utilization", f"{t.mac_utilization:.1%}"),
                  ("of the roofline bound", f"{t.roofline_fraction:.0%}"),
                  ("throughput", f"{t.throughput_images_per_s:,.0f} images/s")]
        cell = 'style="text-align:{};padding:1px 8px"'
        rows = "".join(f"<tr><td {cell.format('left')}>{k}</td>"
                       f"<td {cell.format('right')}>{v}</td></tr>" for k, v in totals)
        head = "".join(f"<th {cell.format(a)}>{h}</th>" for h, a in (
            ("stage", "left"), ("cycles", "right"), ("share", "right"),
            ("energy (mJ)", "right"), ("DRAM (bytes)", "right")))
        stage_rows = "".join(
            f"<tr><td {cell.format('left')}>{r['stage']}</td>"
            f"<td {cell.format('right')}>{r['cycles']:,.0f}</td>"
            f"<td {cell.format('right')}>{r['share']:.1%}</td>"
            f"<td {cell.format('right')}>{r['energy_mj']:,.4g}</td>"
            f"<td {cell.format('right')}>{r['dram_bytes']:,}</td></tr>"
            for r in self.by_stage())
        title = html.escape(f"{self.model} on {self.hardware.name}")
        return (f'<div class="vitsim-result"><strong>{title}</strong>'
                f'<table style="border-collapse:collapse">{rows}</table>'
                f'<table style="border-collapse:collapse;margin-top:4px">'
                f"<thead><tr>{head}</tr></thead><tbody>{stage_rows}</tbody></table></div>")

    def to_frame(self) -> Any:
        """A tidy pandas DataFrame, one row per (layer, head, stage): cycles, counts and
        energy by component (``energy_pj_<component>``, and their sum ``energy_pj``).
        ``layer`` is -1 for the stem and ``n_layers`` for the classifier, ``head`` -1 for
        rows of no single head. pandas is imported here
        only: the simulator itself runs without it."""
        import pandas as pd

        t = self.stages
        frame = pd.DataFrame({
            "layer": t.layer, "head": t.head,
            # Categories in execution-order vocabulary, so group-bys list stages in order.
            "stage": pd.Categorical.from_codes(t.stage, categories=STAGES),
            "engine": pd.Categorical.from_codes(t.engine, categories=ENGINES),
        })
        for name in (*CYCLE_COLUMNS, *COUNT_COLUMNS, *INFO_COLUMNS):
            frame[name] = t[name]
        for comp in COMPONENTS:
            frame[f"energy_pj_{comp}"] = self.energy_pj[comp]
        frame["energy_pj"] = frame[[f"energy_pj_{c}" for c in COMPONENTS]].sum(axis=1)
        return frame


# The numeric fields and properties of Totals, in declaration order: the metric names.
_TOTALS_METRICS = (
    *(f.name for f in dataclasses.fields(Totals) if str(f.type) in ("float", "int")),
    *(n for n, v in vars(Totals).items() if isinstance(v, property)),
)

