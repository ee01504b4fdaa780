"""Linear layers (and the densely computed attention of dense-only designs) with tiling.

A GEMM ``[m, k] x [k, n]`` is cut into column tiles whose weights fit the weight buffer (half
of it when double buffered, so the next tile can load while this one computes). The input
activations are loaded once when they fit the activation buffer, and re-loaded for every
column tile when they do not. Each tile's outputs are stored. The tile timeline (loads
overlapping compute only as the buffers allow) gives the stage's cycles.

Stages exchange activations through DRAM (no inter-layer fusion): every linear layer reads
its input and writes its output, as ViTCoD's released simulator does for Q, K and V.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from vitsim.hw_configs.errors import VitsimError
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


@functools.lru_cache(maxsize=4096)
def tiled_gemm(m: int, k: int, n: int, hw: HardwareConfig, *, a_in_dram: bool = True,
               b_in_dram: bool = True, name: str = "gemm") -> TiledGemm:
    """Simulate one GEMM stage on the whole dense engine, tiled by buffer capacity.

    ``a_in_dram``/``b_in_dram`` say whether the operands come from DRAM (an activation
    already on chip, e.g. softmax scores, does not). Results are memoised: a ViT repeats the
    same shapes in every block, and a sweep repeats them across design points.
    """
    bpe = hw.bytes_per_element
    db = hw.schedule.double_buffering
    w_cap = effective_capacity(hw.buffers.weight.size_bytes, db)
    a_cap = effective_capacity(hw.buffers.activation.size_bytes, db)
    o_cap = effective_capacity(hw.buffers.output.size_bytes, db)
    col_bytes = k * bpe
    if col_bytes > w_cap:
        raise VitsimError(f"weight buffer too small for one column of {name} "
                          f"({col_bytes:.0f} B > {w_cap} B usable)", field="buffers.weight")
    if m * bpe > o_cap:
        raise VitsimError(f"output buffer too small for one column of {name} "
                          f"({m * bpe:.0f} B > {o_cap} B usable)", field="buffers.output")
    n_tile = int(max(1, min(n, w_cap // col_bytes, o_cap // (m * bpe))))
    n_tiles = math.ceil(n / n_tile)
    a_fits = m * k * bpe <= a_cap
    widths = np.full(n_tiles, n_tile, dtype=np.int64)
    widths[-1] = n - n_tile * (n_tiles - 1)
    full = dense_gemm(m, k, n_tile, hw)
    last = full if widths[-1] == n_tile else dense_gemm(m, k, int(widths[-1]), hw)
    timings = [full] * (n_tiles - 1) + [last]
    a_bytes = m * k * bpe
    a_loads = np.zeros(n_tiles)
    if a_in_dram:
        a_loads[:] = 0.0 if a_fits else a_bytes
        a_loads[0] = a_bytes
    b_loads = widths * k * bpe if b_in_dram else np.zeros(n_tiles)
    stores = widths * m * bpe
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
