"""Size-dependent SRAM energy and leakage at 28 nm, from CACTI 7 (``energy.sram_model``).

The points are CACTI's own output, run by ``benchmarks/sram/run_cacti.py`` (CACTI 7,
github.com/HewlettPackard/cacti @ 1ffd8df; the table is ``benchmarks/sram/cacti_28nm.csv``
and its provenance ``benchmarks/sram/NOTES.md``): a single-bank, single-port scratchpad RAM
with a 64-bit port, 8-byte accesses, at CACTI's 28 nm (interpolated by CACTI between its
32 and 22 nm ITRS tables), 350 K, low-standby-power cells with high-performance periphery,
the least read energy among the organisations whose access fits a 2 ns (500 MHz) cycle.

Between the points, energy and leakage are interpolated linearly in log(size); outside
them, the nearest segment's log-log slope is extended (an extrapolation: say so when a
design leaves 2 KiB - 2 MiB). CACTI models the array, its decoders, sense amplifiers and
H-tree, not clocking, control or I/O latches: its energies are 2.3-3.1x below Horowitz's
(ISSCC 2014) 45 nm figures scaled to 28 nm (see NOTES.md), which is what separates this model
from the ``table`` model's Horowitz-derived numbers.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

# (size KiB, read pJ per 8-byte access, write pJ per 8-byte access, leakage mW: subthreshold
# + gate), CACTI 7 at 28 nm, "energy@500MHz", lstp cells with hp periphery.
CACTI_28NM: tuple[tuple[float, float, float, float], ...] = (
    (2, 0.917021, 1.64189, 0.15317),
    (4, 1.2939, 2.44899, 0.40007),
    (8, 1.98669, 3.14178, 0.80014),
    (16, 3.31557, 3.82575, 1.20595),
    (20, 3.80191, 4.10412, 1.56971),
    (32, 4.90906, 5.41924, 2.41192),
    (53, 6.34359, 6.75845, 4.03137),
    (64, 6.99176, 7.50194, 4.82383),
    (108, 9.47571, 9.89924, 8.19461),
    (128, 10.1165, 10.6267, 9.64765),
    (159, 10.9318, 11.5763, 11.6916),
    (256, 12.5242, 17.2446, 23.0327),
    (512, 18.6534, 23.3738, 46.0653),
    (1024, 27.1363, 29.4798, 95.239),
    (2048, 39.4125, 38.6328, 107.092),
)
ACCESS_BYTES = 8  # CACTI's block size: one 64-bit word per access


@dataclass(frozen=True)
class SramCost:
    """One SRAM array's per-byte access energies (pJ) and leakage power (mW)."""

    read_pj_per_byte: float
    write_pj_per_byte: float
    leakage_mw: float


def _loglog(size_kib: float, column: int) -> float:
    sizes = [p[0] for p in CACTI_28NM]
    i = 1
    while i < len(sizes) - 1 and sizes[i] < size_kib:
        i += 1
    (s0, *a), (s1, *b) = CACTI_28NM[i - 1], CACTI_28NM[i]
    y0, y1 = a[column], b[column]
    t = math.log(size_kib / s0) / math.log(s1 / s0)
    return math.exp(math.log(y0) + t * (math.log(y1) - math.log(y0)))


@functools.lru_cache(maxsize=256)
def cacti_28nm(size_kib: float) -> SramCost:
    """Per-byte read/write energy and leakage of one ``size_kib`` SRAM array at 28 nm.

    At a tabulated size the CACTI point itself (bit for bit); between points log-log
    interpolation. Memoised: every energy and leakage price of a design asks for it.
    """
    if not size_kib > 0:
        raise ValueError(f"an SRAM array needs a positive size, got {size_kib!r} KiB")
    for s, read, write, leak in CACTI_28NM:
        if s == size_kib:
            return SramCost(read / ACCESS_BYTES, write / ACCESS_BYTES, leak)
    return SramCost(_loglog(size_kib, 0) / ACCESS_BYTES, _loglog(size_kib, 1) / ACCESS_BYTES,
                    _loglog(size_kib, 2))
