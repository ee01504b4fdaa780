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
from vitsim.simulator.dense_engine import GemmTiming, dense_gemm
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


@functools.lru_cache(maxsize=4096)
def tiled_gemm(m: int, k: int, n: int, hw: HardwareConfig, *,
               name: str = "gemm") -> TiledGemm:
    """Simulate one GEMM stage on the whole dense engine, tiled by buffer capacity.

    Both operands come from DRAM. Results are memoised: a ViT repeats the same shapes in
    every block, and a sweep repeats them across design points.
    """
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
    shapes: dict[tuple[int, int], GemmTiming] = {}
    timings: list[GemmTiming] = []
    for hm, wn in zip(heights[ii].tolist(), widths[jj].tolist(), strict=True):
        if (hm, wn) not in shapes:
            shapes[(hm, wn)] = dense_gemm(hm, k, wn, hw)
        timings.append(shapes[(hm, wn)])
    bpc = hw.dram_bytes_per_cycle
    compute = np.array([t.total_cycles for t in timings], dtype=np.float64)
    total, stall, _ = tile_timeline((a_loads + b_loads) / bpc, compute, stores / bpc, db)
    fill = float(sum(t.fill_drain_cycles for t in timings))
    return TiledGemm(
        compute_cycles=float(compute.sum()) - fill,
        fill_cycles=fill,
        stall_cycles=float(stall),
        total_cycles=float(total),
        macs=m * k * n,
        dram_read_bytes=round(a_loads.sum() + b_loads.sum()),
        dram_write_bytes=round(stores.sum()),
        sram_read_a=sum(t.sram_reads_a_bytes for t in timings),
        sram_read_b=sum(t.sram_reads_b_bytes for t in timings),
        sram_write_c=sum(t.sram_writes_c_bytes for t in timings),
        sram_fill_a=round(a_loads.sum()),
        sram_fill_b=round(b_loads.sum()),
    )
