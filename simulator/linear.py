"""Linear layers (and the densely computed attention of dense-only designs) with tiling.

A GEMM ``[m, k] x [k, n]`` is cut into tiles: columns whose weights fit the weight buffer,
rows whose activations fit the activation buffer (each half of its buffer when double
buffered, so the next tile can load while this one computes), and outputs that fit the output
buffer. Of the two loop orders, the one that moves fewer DRAM bytes is taken: the operand that
does not fit on chip is re-loaded for every tile of the other. Each tile's outputs are
stored. The tile timeline (loads overlapping compute only as the buffers allow) gives the
stage's cycles.

Stages exchange activations through DRAM (no inter-layer fusion): every linear layer reads
its input and writes its output, as ViTCoD's released simulator does for Q, K and V.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from vitsim.errors import VitsimError
from vitsim.hw_configs.schema import HardwareConfig
from vitsim.simulator.dense_engine import dense_gemm
from vitsim.simulator.kernels import tile_timeline


@dataclass(frozen=True)
class TiledGemm:
    """The cycles and counts of one tiled GEMM stage."""

    compute_cycles: float
    fill_cycles: float
    stall_cycles: float
    total_cycles: float
    macs: int
    dram_read_bytes: int
    dram_write_bytes: int
    sram_read_a: int  # activation-side operand reads
    sram_read_b: int  # weight-side operand reads
    sram_write_c: int  # output writes
    sram_fill_a: int  # bytes written into the activation buffer from DRAM
    sram_fill_b: int  # bytes written into the weight buffer from DRAM


def effective_capacity(size_bytes: int, double_buffered: bool) -> int:
    """Bytes one tile may use: half the buffer when double buffering."""
    return size_bytes // 2 if double_buffered else size_bytes


def _dram_bytes(m: int, n: int, m_t: int, n_t: int, row_bytes: float,
                cols_outer: bool) -> float:
    """DRAM bytes of the A and B loads for tiles ``m_t x n_t`` in one loop order."""
    n_rows, n_cols = math.ceil(m / m_t), math.ceil(n / n_t)
    a_all, b_all = m * row_bytes, n * row_bytes
    if cols_outer:  # A re-loaded for every column tile when it spans several row tiles
        return b_all + a_all * (n_cols if n_rows > 1 else 1)
    return a_all + b_all * (n_rows if n_cols > 1 else 1)


def _plan_tiles(m: int, n: int, row_bytes: float, bpe: float, w_cap: int, a_cap: int,
                o_cap: int) -> tuple[int, int, bool]:
    """Tile shape and loop order moving the fewest DRAM bytes.

    Candidates: the tallest row tile the activation buffer takes with the widest column tile
    the output buffer then allows, and the widest column tile the weight buffer takes with the
    tallest row tile the output then allows; each in both loop orders (the operand that does
    not fit is re-loaded once per tile of the other).
    """
    candidates = []
    m_t = int(min(m, a_cap // row_bytes))
    n_t = int(max(1, min(n, w_cap // row_bytes, o_cap // (m_t * bpe))))
    candidates.append((m_t, n_t))
    n_t = int(min(n, w_cap // row_bytes, o_cap // bpe))
    m_t = int(max(1, min(m, a_cap // row_bytes, o_cap // (n_t * bpe))))
    candidates.append((m_t, n_t))
    best = min(((_dram_bytes(m, n, mt, nt, row_bytes, order), -mt * nt, mt, nt, order)
                for mt, nt in candidates for order in (True, False)))
    return best[2], best[3], best[4]


def gemm_plan_key(hw: HardwareConfig) -> tuple:
    """The fields of ``hw`` a GEMM's tile plan depends on (everything but the DRAM bandwidth,
    which only the tile timeline reads): operand width, buffering, the three buffers' sizes
    and the dense engine. Hashing this tuple costs a fraction of hashing the whole config."""
    dense = hw.engines.dense
    arr = hw.mac_array
    b = hw.buffers
    return (hw.data_bits, hw.schedule.double_buffering, b.weight.size_bytes,
            b.activation.size_bytes, b.output.size_bytes, dense.kind, dense.rows, dense.cols,
            dense.dataflow, arr.n_lines, arr.macs_per_line, arr.accumulators_per_line)


@dataclass(frozen=True, eq=False)
class TilePlan:
    """A GEMM's tiles in loop order: per-tile DRAM load and store bytes and engine cycles
    (read-only arrays), and the counts that do not depend on the DRAM bandwidth."""

    loads: np.ndarray  # bytes of A and B loaded before each tile
    compute: np.ndarray  # engine cycles of each tile, fill and drain included
    stores: np.ndarray  # bytes of each tile's outputs
    double_buffered: bool
    compute_cycles: float
    fill_cycles: float
    macs: int
    dram_read_bytes: int
    dram_write_bytes: int
    sram_read_a: int
    sram_read_b: int
    sram_write_c: int
    sram_fill_a: int
    sram_fill_b: int


_PLANS: dict[tuple, TilePlan] = {}
PLAN_CACHE_SIZE = 4096  # plans kept (a plan is a few arrays of tens of tiles)


def _tile_plan(m: int, k: int, n: int, key: tuple, hw: HardwareConfig, name: str) -> TilePlan:
    """The tile plan of one GEMM, memoised by shape and :func:`gemm_plan_key` (not by ``hw``,
    whose hash walks the whole config; any config with the same key gives the same plan)."""
    full_key = (m, k, n, key)
    plan = _PLANS.get(full_key)
    if plan is None:
        if len(_PLANS) >= PLAN_CACHE_SIZE:
            _PLANS.clear()
        plan = _PLANS[full_key] = _make_tile_plan(m, k, n, hw, name)
    return plan


def _make_tile_plan(m: int, k: int, n: int, hw: HardwareConfig, name: str) -> TilePlan:
    bpe = hw.bytes_per_element
    db = hw.schedule.double_buffering
    w_cap = effective_capacity(hw.buffers.weight.size_bytes, db)
    a_cap = effective_capacity(hw.buffers.activation.size_bytes, db)
    o_cap = effective_capacity(hw.buffers.output.size_bytes, db)
    row_bytes = k * bpe  # one row of A, one column of B
    for buf, cap in (("weight", w_cap), ("activation", a_cap)):
        if row_bytes > cap:
            raise VitsimError(f"{buf} buffer too small for one {k}-long operand of {name} "
                              f"({row_bytes:.0f} B > {cap} B usable)", field=f"buffers.{buf}")
    if bpe > o_cap:
        raise VitsimError(f"output buffer too small for one output of {name}",
                          field="buffers.output")
    m_t, n_t, cols_outer = _plan_tiles(m, n, row_bytes, bpe, w_cap, a_cap, o_cap)
    n_rows, n_cols = math.ceil(m / m_t), math.ceil(n / n_t)
    heights = np.full(n_rows, m_t, dtype=np.int64)
    heights[-1] = m - m_t * (n_rows - 1)
    widths = np.full(n_cols, n_t, dtype=np.int64)
    widths[-1] = n - n_t * (n_cols - 1)
    if cols_outer:
        grid_i, grid_j = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="xy")
    else:
        grid_j, grid_i = np.meshgrid(np.arange(n_cols), np.arange(n_rows), indexing="xy")
    ii, jj = grid_i.ravel(), grid_j.ravel()
    # Each operand tile is loaded on its first use; the operand of the outer loop stays, the
    # inner one is loaded again on every pass when it spans several tiles (see _dram_bytes).
    if cols_outer:
        load_a = (jj == 0) | (n_rows > 1)
        load_b = ii == 0
    else:
        load_a = jj == 0
        load_b = (ii == 0) | (n_cols > 1)
    a_loads = np.where(load_a, heights[ii] * row_bytes, 0.0)
    b_loads = np.where(load_b, widths[jj] * row_bytes, 0.0)
    stores = (heights[ii] * widths[jj] * bpe).astype(np.float64)
    # At most two tile heights and two widths: time each shape once, count its tiles.
    tall = (ii == n_rows - 1).astype(np.int64)
    wide = (jj == n_cols - 1).astype(np.int64)
    shape_of = 2 * tall + wide
    n_of = np.bincount(shape_of, minlength=4)
    timings = [dense_gemm(int(heights[-1] if s >= 2 else heights[0]), k,
                          int(widths[-1] if s % 2 else widths[0]), hw) if n_of[s] else None
               for s in range(4)]
    compute = np.array([t.total_cycles if t else 0 for t in timings],
                       dtype=np.float64)[shape_of]

    def total(attr: str) -> int:
        return sum(int(n_of[s]) * getattr(t, attr) for s, t in enumerate(timings) if t)

    fill = float(total("fill_drain_cycles"))
    loads = a_loads + b_loads
    for arr in (loads, compute, stores):
        arr.flags.writeable = False
    return TilePlan(
        loads=loads, compute=compute, stores=stores, double_buffered=db,
        compute_cycles=float(compute.sum()) - fill, fill_cycles=fill, macs=m * k * n,
        dram_read_bytes=round(a_loads.sum() + b_loads.sum()),
        dram_write_bytes=round(stores.sum()),
        sram_read_a=total("sram_reads_a_bytes"), sram_read_b=total("sram_reads_b_bytes"),
        sram_write_c=total("sram_writes_c_bytes"),
        sram_fill_a=round(a_loads.sum()), sram_fill_b=round(b_loads.sum()))


@functools.lru_cache(maxsize=4096)
def _timed(plan: TilePlan, bytes_per_cycle: float) -> TiledGemm:
    total, stall, _ = tile_timeline(plan.loads / bytes_per_cycle, plan.compute,
                                    plan.stores / bytes_per_cycle, plan.double_buffered)
    return TiledGemm(
        compute_cycles=plan.compute_cycles, fill_cycles=plan.fill_cycles,
        stall_cycles=float(stall), total_cycles=float(total), macs=plan.macs,
        dram_read_bytes=plan.dram_read_bytes, dram_write_bytes=plan.dram_write_bytes,
        sram_read_a=plan.sram_read_a, sram_read_b=plan.sram_read_b,
        sram_write_c=plan.sram_write_c, sram_fill_a=plan.sram_fill_a,
        sram_fill_b=plan.sram_fill_b)


def tiled_gemm(m: int, k: int, n: int, hw: HardwareConfig, *, name: str = "gemm",
               plan_key: tuple | None = None) -> TiledGemm:
    """Simulate one GEMM stage on the whole dense engine, tiled by buffer capacity.

    Both operands come from DRAM. Memoised in two steps: the tile plan (shapes, bytes and
    engine cycles per tile) by the few fields it reads (:func:`gemm_plan_key`, which a
    caller timing many GEMMs on one config may pass in), and the tile timeline by the plan
    and the DRAM bytes per cycle. A ViT repeats its shapes in every block, and a sweep
    repeats them across design points that differ elsewhere.
    """
    return _timed(tile_plan(m, k, n, hw, name=name, plan_key=plan_key),
                  hw.dram_bytes_per_cycle)


def tile_plan(m: int, k: int, n: int, hw: HardwareConfig, *, name: str = "gemm",
              plan_key: tuple | None = None) -> TilePlan:
    """The tile plan of one GEMM (what :func:`tiled_gemm` times at the DRAM bandwidth),
    memoised by shape and :func:`gemm_plan_key` (``plan_key``, when the caller has it)."""
    key = gemm_plan_key(hw) if plan_key is None else plan_key
    return _tile_plan(m, k, n, key, hw, name)
