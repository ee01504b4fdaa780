"""The sparser engine's per-line loads: how evenly each head group's work spreads.

:func:`simulate` keeps, per head, the busiest sparse line's cycles (``sparse_busy_cycles``,
the time) and needs nothing more; this module re-derives the whole load vector of every head
group of one block, for the load-balance figure and for inspection. It schedules exactly as
the engine does (the same line split, the same kernels): Q K^T K-stationary by key columns
longest first onto the least-loaded line, S V by rows laid end to end and cut into even
shares with their reductions; with ``engines.sparse.dataflow: rows``, whole rows by the row
policy. Loads are in cycles (score-times x ``ceil(d / macs_per_line)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vitsim.errors import VitsimError
from vitsim.hw_configs.schema import HardwareConfig, RowPolicy, SparseDataflow
from vitsim.simulator.attention import _engine_times, _units
from vitsim.simulator.kernels import GREEDY, ROUND_ROBIN, line_loads, split_rows_line_loads
from vitsim.simulator.prepared import attention_inputs, prepared
from vitsim.workloads.trace import WorkloadTrace

__all__ = ["GroupLineLoads", "sparse_line_loads"]


@dataclass(frozen=True)
class GroupLineLoads:
    """One head group of one block: its line split and each sparser-engine line's cycles."""

    layer: int
    heads: tuple[int, ...]  # head indices within the block
    dense_lines: int
    qk: np.ndarray  # int64 [sparse lines]: Q K^T cycles of each sparser-engine line
    sv: np.ndarray  # int64 [sparse lines]: S V cycles (reductions included)
    dense_qk: int  # cycles of each dense line in Q K^T (the pairs spread evenly)
    dense_sv: int

    @property
    def sparse_lines(self) -> int:
        return int(self.qk.shape[0])

    def imbalance(self, phase: str = "qk") -> float:
        """Busiest line over the mean line (1 = perfectly even; NaN without sparse work)."""
        loads = self.qk if phase == "qk" else self.sv
        mean = loads.mean() if loads.size else 0.0
        return float(loads.max() / mean) if mean > 0 else math.nan


def sparse_line_loads(trace: WorkloadTrace, hw: HardwareConfig,
                      layer: int) -> tuple[GroupLineLoads, ...]:
    """Every head group of block ``layer``: its dense lines and its sparse lines' loads."""
    spec = trace.spec
    if not 0 <= layer < len(spec.blocks):
        raise VitsimError(f"layer {layer} is not a block of {spec.name} "
                          f"(0..{len(spec.blocks) - 1})", field="layer")
    if not (hw.engines.sparse.enabled and hw.lines_shared):
        raise VitsimError("per-line loads need a sparser engine sharing the MAC lines",
                          field="engines.sparse.enabled")
    # The group of same-shaped blocks holding this one, with the inputs simulate gives the
    # engines; units are block-major, so this block's are a contiguous slice.
    p = prepared(trace)
    g = next(g for g in p.groups if layer in g.layers)
    at = int(np.flatnonzero(g.layers == layer)[0])  # this block's place in the group
    block = g.block
    _, n_global, sparse_nnz, row_nnz, col_nnz, col_offsets = attention_inputs(hw, g)
    u = _units(hw, block, g.layers.shape[0])
    e = _engine_times(hw, block, u, n_global, sparse_nnz, row_nnz, g.row_offsets, col_nnz,
                      col_offsets, g.max_row)
    width = hw.mac_array.macs_per_line
    cq, cv = -(-block.qk_dim // width), -(-block.v_dim // width)
    k_stationary = hw.engines.sparse.dataflow is SparseDataflow.K_STATIONARY
    policy = hw.engines.sparse.row_policy
    out = []
    unit_rows, unit_cols = u.offsets(g.row_offsets), u.offsets(col_offsets)
    for i in range(at * u.per_block, (at + 1) * u.per_block):
        dense = int(e.dense_lines[i])
        lines = hw.mac_array.n_lines - dense
        r0, r1 = int(unit_rows[i]), int(unit_rows[i + 1])
        c0, c1 = int(unit_cols[i]), int(unit_cols[i + 1])
        if k_stationary:
            qk = line_loads(col_nnz[c0:c1], lines, GREEDY)
            sv = split_rows_line_loads(row_nnz, r0, r1, lines)
        elif policy is RowPolicy.BALANCED:
            total = int(row_nnz[r0:r1].sum())
            share = -(-total // lines) if lines else 0
            qk = np.array([min(share, max(0, total - j * share)) for j in range(lines)],
                          dtype=np.int64)
            sv = qk.copy()
        else:
            code = GREEDY if policy is RowPolicy.GREEDY else ROUND_ROBIN
            qk = line_loads(row_nnz[r0:r1], lines, code)
            sv = qk.copy()
        members = np.flatnonzero(u.of == i) % block.n_heads
        out.append(GroupLineLoads(
            layer=layer, heads=tuple(int(h) for h in members), dense_lines=dense,
            qk=np.asarray(qk, dtype=np.int64) * cq, sv=np.asarray(sv, dtype=np.int64) * cv,
            dense_qk=int(e.dense_qk[i]), dense_sv=int(e.dense_sv[i])))
    return tuple(out)
