"""The dense engine's timing for one GEMM ``C[M, N] = A[M, K] @ B[K, N]``, with no memory stalls.

Two engine kinds (``engines.dense.kind`` in :mod:`vitsim.hw_configs.schema`):

* ``systolic``: an ``R x C`` systolic array, output or weight stationary, timed as SCALE-Sim
  v3 times it (:func:`systolic_gemm`);
* ``mac_lines``: ViTCoD's MAC lines, each computing one output element at a time as a
  ``macs_per_line``-wide dot product (:func:`mac_lines_gemm`).

Operand naming throughout: A is ``[M, K]`` (activations, queries, attention scores), B is
``[K, N]`` (weights, ``K^T``, ``V``), C is ``[M, N]``. The result counts cycles and on-chip
buffer actions (SRAM bytes read and written); pricing them is the energy model's job, and
DRAM traffic, tiling and stalls are the caller's (:mod:`vitsim.simulator.linear`).

Everything is integer arithmetic on Python ints: exact, and cheap enough to call per tile.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

from vitsim.errors import VitsimError
from vitsim.hw_configs.schema import Dataflow, DenseEngineKind, HardwareConfig

__all__ = [
    "GemmTiming",
    "dense_gemm",
    "mac_lines_fill_cycles",
    "mac_lines_gemm",
    "mac_lines_stripe",
    "systolic_fill_drain_per_fold",
    "systolic_folds",
    "systolic_gemm",
]

_BITS_PER_BYTE = 8


@dataclass(frozen=True)
class GemmTiming:
    """Cycles and buffer actions of one GEMM on the dense engine (no memory stalls).

    Attributes
    ----------
    compute_cycles
        Cycles in which operands stream through the engine (systolic: the ``T``-long
        temporal part of every fold; MAC lines: one ``ceil(K / macs_per_line)``-cycle pass
        per group of ``n_lines`` outputs).
    fill_drain_cycles
        Pipeline fill and drain: the systolic skew, weight pre-load (WS) and output drain
        of every fold; the MAC lines' multiplier + adder-tree latency, once per GEMM.
    total_cycles
        ``compute_cycles + fill_drain_cycles``.
    macs
        Useful multiply-accumulates, ``M * K * N``.
    mac_utilization
        ``macs / (total_cycles * engine MACs)``, in ``(0, 1]``.
    sram_reads_a_bytes, sram_reads_b_bytes, sram_writes_c_bytes
        Bytes read from the buffers holding A and B, and written to the one holding C.
    """

    compute_cycles: int
    fill_drain_cycles: int
    total_cycles: int
    macs: int
    mac_utilization: float
    sram_reads_a_bytes: int
    sram_reads_b_bytes: int
    sram_writes_c_bytes: int
    stripe_rows: int = 1  # MAC lines: rows over which a line keeps its weights in registers


# --------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------


def _positive_int(value: object, name: str) -> int:
    """``value`` as an int, or a :class:`VitsimError` naming ``name``.

    Any integer type is accepted (a trace hands out ``np.int64``); bools and floats are not.
    """
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise VitsimError(f"must be a positive integer, got {value!r}", field=name)
    index = operator.index(value)
    if index <= 0:
        raise VitsimError(f"must be a positive integer, got {value!r}", field=name)
    return index


def _dataflow(value: Dataflow | str) -> Dataflow:
    if isinstance(value, Dataflow):
        return value
    try:
        return Dataflow(value)
    except ValueError:
        allowed = ", ".join(d.value for d in Dataflow)
        raise VitsimError(f"{value!r} is not one of: {allowed}", field="dataflow") from None


def _bytes(n_elements: int, bits_per_element: int) -> int:
    """Bytes of ``n_elements`` packed elements of ``bits_per_element`` bits, rounded up."""
    return -(-n_elements * bits_per_element // _BITS_PER_BYTE)


def _timing(
    compute: int,
    fill: int,
    macs: int,
    engine_macs: int,
    reads_a: int,
    reads_b: int,
    writes_c: int,
    bits: int,
    stripe_rows: int = 1,
) -> GemmTiming:
    total = compute + fill
    return GemmTiming(
        compute_cycles=compute,
        fill_drain_cycles=fill,
        total_cycles=total,
        macs=macs,
        mac_utilization=macs / (total * engine_macs),
        sram_reads_a_bytes=_bytes(reads_a, bits),
        sram_reads_b_bytes=_bytes(reads_b, bits),
        sram_writes_c_bytes=_bytes(writes_c, bits),
        stripe_rows=stripe_rows,
    )


# --------------------------------------------------------------------------------------
# Systolic array (SCALE-Sim v3)
# --------------------------------------------------------------------------------------


def systolic_folds(
    m: int, k: int, n: int, *, rows: int, cols: int, dataflow: Dataflow | str
) -> tuple[int, int, int]:
    """``(row folds, column folds, T)`` of a GEMM on an ``rows x cols`` array.

    SCALE-Sim's spatio-temporal mapping (Samajdar et al., ISPASS 2020, Sec. III-A;
    ``scalesim/topology_utils.py``, ``calc_spatio_temporal_params``): output stationary maps
    ``(S_R, S_C) = (M, N)`` onto the array and streams ``T = K``; weight stationary maps
    ``(S_R, S_C) = (K, N)`` and streams ``T = M``. Folds are ``ceil(S_R / rows)`` by
    ``ceil(S_C / cols)``.
    """
    return _folds(
        _positive_int(m, "m"),
        _positive_int(k, "k"),
        _positive_int(n, "n"),
        _positive_int(rows, "rows"),
        _positive_int(cols, "cols"),
        _dataflow(dataflow),
    )


def _folds(m: int, k: int, n: int, rows: int, cols: int, df: Dataflow) -> tuple[int, int, int]:
    if df is Dataflow.OS:
        s_r, s_c, t = m, n, k
    else:
        s_r, s_c, t = k, n, m
    return -(-s_r // rows), -(-s_c // cols), t


def systolic_fill_drain_per_fold(*, rows: int, cols: int, dataflow: Dataflow | str) -> int:
    """Cycles of one fold that are not the ``T``-long operand stream (SCALE-Sim v3 code).

    SCALE-Sim v3 (``scalesim/compute/systolic_compute_{os,ws}.py``, the
    ``create_*_demand_mat`` methods) gives every fold the same length, built from the
    *full* array dimensions (a partly used fold is padded with null requests), not from the
    fold's used rows and columns as the paper's per-fold formula does:

    * OS: ``T`` operand rows + ``cols - 1`` drain rows (``inter_fold_gap_suffix``), skewed
      across ``rows`` array rows (``skew_matrix`` adds ``rows - 1``): ``T + rows + cols - 2``.
      The ofmap demand (``T - 1`` prefix + ``rows`` outputs, skewed across ``cols``) has the
      same length. Fill/drain per fold: ``rows + cols - 2``.
    * WS: ``rows`` cycles of weight pre-load (``inter_fold_gap_prefix = arr_row``, "cycles
      for weights to load") + ``T`` + ``cols - 1`` drain, skewed across ``rows``:
      ``2 * rows + cols + T - 2``, the paper's Eq. (1) with ``S_R = rows, S_C = cols``.
      Fill/drain per fold: ``2 * rows + cols - 2``.
    """
    return _fill_per_fold(
        _positive_int(rows, "rows"), _positive_int(cols, "cols"), _dataflow(dataflow)
    )


def _fill_per_fold(rows: int, cols: int, df: Dataflow) -> int:
    if df is Dataflow.OS:
        return rows + cols - 2
    return 2 * rows + cols - 2


def systolic_gemm(
    m: int,
    k: int,
    n: int,
    *,
    rows: int,
    cols: int,
    dataflow: Dataflow | str,
    bytes_per_element: int = 1,
) -> GemmTiming:
    """Time one GEMM on an ``rows x cols`` systolic array as SCALE-Sim v3 does.

    Parameters
    ----------
    m, k, n
        GEMM dimensions (elements): A is ``[m, k]``, B is ``[k, n]``, C is ``[m, n]``.
    rows, cols
        Array height and width (PEs).
    dataflow
        ``os`` (output stationary) or ``ws`` (weight stationary), as a :class:`Dataflow`
        or its string value.
    bytes_per_element
        Bytes of one operand or output element (1 for 8-bit data).

    Model
    -----
    Samajdar et al., "A Systematic Methodology for Characterizing Scalability of DNN
    Accelerators using SCALE-Sim", ISPASS 2020, Sec. III, with the constants of the SCALE-Sim
    v3.0.0 code (see :func:`systolic_fill_drain_per_fold`)::

        n_folds      = ceil(S_R / rows) * ceil(S_C / cols)
        compute      = n_folds * T
        fill/drain   = n_folds * (rows + cols - 2)        (os)
                       n_folds * (2 * rows + cols - 2)    (ws)

    Folds run back to back; each drains before the next starts (SCALE-Sim: "we are allowing
    the generated outputs to drain out before starting the next fold"). SCALE-Sim's
    COMPUTE_REPORT "Total Cycles" is this ``total_cycles - 1`` when it has no stalls: it
    reports the index of the last busy cycle, counted from 0
    (``double_buffered_scratchpad.service_memory_requests``: ``max(ofmap_serviced_cycles)``).

    SRAM actions follow SCALE-Sim's request counts (``ifmap_reads``, ``filter_reads``,
    ``ofmap_writes`` in the same files): every fold re-reads the operand slice it needs.

    * OS: A ``M*K*ceil(N/cols)``, B ``K*N*ceil(M/rows)``, C ``M*N`` written once.
    * WS: A ``M*K*ceil(N/cols)``, B ``K*N`` (each weight loaded once), C ``M*N*ceil(K/rows)``
      (one partial-sum write per K fold; as in SCALE-Sim, the read-back of partial sums
      for accumulation is not counted). SCALE-Sim's OS ``ofmap_writes`` also adds
      ``rows + cols`` per fold (a counting artefact, ``this_fold_demand.shape[0] +
      shape[1]``), which is not reproduced here.
    """
    m = _positive_int(m, "m")
    k = _positive_int(k, "k")
    n = _positive_int(n, "n")
    rows = _positive_int(rows, "rows")
    cols = _positive_int(cols, "cols")
    bpe = _positive_int(bytes_per_element, "bytes_per_element")
    df = _dataflow(dataflow)
    return _systolic(m, k, n, rows, cols, df, bpe * _BITS_PER_BYTE)


def _systolic(m: int, k: int, n: int, rows: int, cols: int, df: Dataflow, bits: int) -> GemmTiming:
    row_folds, col_folds, t = _folds(m, k, n, rows, cols, df)
    n_folds = row_folds * col_folds
    compute = n_folds * t
    fill = n_folds * _fill_per_fold(rows, cols, df)
    reads_a = m * k * -(-n // cols)
    if df is Dataflow.OS:
        reads_b = k * n * -(-m // rows)
        writes_c = m * n
    else:
        reads_b = k * n
        writes_c = m * n * -(-k // rows)
    return _timing(compute, fill, m * k * n, rows * cols, reads_a, reads_b, writes_c, bits)


# --------------------------------------------------------------------------------------
# MAC lines (ViTCoD)
# --------------------------------------------------------------------------------------


def mac_lines_fill_cycles(macs_per_line: int) -> int:
    """Pipeline latency of one MAC line: a multiplier stage plus its adder tree.

    Assumption (ViTCoD, HPCA 2023, Sec. V draws each line as ``macs_per_line`` multipliers
    feeding an adder tree, without a latency): one cycle for the multipliers and one per
    adder-tree level, ``ceil(log2(macs_per_line))``, so ``1 + ceil(log2(macs_per_line))``
    (4 for ViTCoD's 8-MAC lines). The accumulator that sums the tree's outputs over the
    ``ceil(K / macs_per_line)`` passes sits behind the tree and is pipelined with it.
    Outputs stream back to back, so the latency is paid once per GEMM (fill at the start,
    drain at the end together).
    """
    return _adder_tree_latency(_positive_int(macs_per_line, "macs_per_line"))


def _adder_tree_latency(macs_per_line: int) -> int:
    return 1 + (macs_per_line - 1).bit_length()


def _stripe_passes(m: int, n: int, n_lines: int, r: int) -> tuple[int, int, int, int]:
    """Stripes of ``r`` rows dealt to the lines: ``(pass-rows, pass-stripe pairs, pairs
    touching the last stripe, rows of the last stripe)``.

    The ``M x N`` outputs are cut into ``ceil(M / r) x N`` tiles of ``r`` rows by one column
    (the last stripe has ``M - r (ceil(M/r) - 1)`` rows), dealt row-major, ``n_lines`` tiles
    per pass. The lines of a pass step in lock step, so a pass lasts its tallest tile: ``r``
    rows unless every tile in it is in the last stripe. Pass ``p`` covers tiles
    ``[p L, p L + L)``; the last stripe starts at tile ``(nb - 1) N``, so the passes from
    ``ceil((nb - 1) N / L)`` on lie wholly in it::

        pass-rows = p0 * r + (P - p0) * h_last,   P = ceil(nb N / L),  p0 = ceil((nb-1) N / L)

    Each (pass, stripe) pair is one broadcast of the stripe's A rows. Every pass starts one
    stripe run and every stripe boundary strictly inside a pass adds one; boundary ``s`` (at
    tile ``s N``) is a pass boundary exactly when ``L / gcd(L, N)`` divides ``s``::

        pairs = P + (nb - 1) - floor((nb - 1) / (L / gcd(L, N)))

    The last stripe's tiles span the passes from ``floor((nb - 1) N / L)`` to ``P - 1``.
    With ``r = 1`` the tiles are the outputs themselves.
    """
    nb = -(-m // r)
    h_last = m - r * (nb - 1)
    passes = -(-nb * n // n_lines)
    if nb == 1:
        return passes * h_last, passes, passes, h_last
    p0 = -(-(nb - 1) * n // n_lines)
    period = n_lines // math.gcd(n_lines, n)
    pairs = passes + (nb - 1) - (nb - 1) // period
    last_pairs = passes - (nb - 1) * n // n_lines
    return p0 * r + (passes - p0) * h_last, pairs, last_pairs, h_last


def mac_lines_stripe(m: int, n: int, n_lines: int, max_stripe: int) -> int:
    """The stripe a mapper picks: the most rows (at most ``max_stripe``, the accumulators of
    a line) among those that give the fewest cycles, so weight reuse never costs time."""
    best_r, best_rows = 1, _stripe_passes(m, n, n_lines, 1)[0]
    for r in range(2, min(max_stripe, m) + 1):
        rows = _stripe_passes(m, n, n_lines, r)[0]
        if rows <= best_rows:
            best_r, best_rows = r, rows
    return best_r


def mac_lines_gemm(
    m: int,
    k: int,
    n: int,
    *,
    n_lines: int,
    macs_per_line: int,
    bytes_per_element: int = 1,
    accumulators_per_line: int = 1,
) -> GemmTiming:
    """Time one GEMM on ``n_lines`` ViTCoD MAC lines of ``macs_per_line`` MACs each.

    Parameters
    ----------
    m, k, n
        GEMM dimensions (elements): A is ``[m, k]``, B is ``[k, n]``, C is ``[m, n]``.
    n_lines
        MAC lines given to this GEMM.
    macs_per_line
        MACs in one line (elements of K consumed per cycle per line).
    bytes_per_element
        Bytes of one operand or output element (1 for 8-bit data).
    accumulators_per_line
        Partial-sum registers of a line: the longest stripe of A rows over which a line
        keeps one B chunk in its operand registers (1: no weight reuse in registers).

    Model
    -----
    ViTCoD (You et al., HPCA 2023, Sec. V): each line is a ``macs_per_line``-wide dot
    product (multipliers, adder tree, accumulator), so one output costs
    ``ceil(K / macs_per_line)`` cycles. Register level (the loop nest inside a line, as
    Timeloop/ZigZag count accesses per level):

    * **B (weights, K^T, V) stationary in registers**: a line takes a tile of ``r`` rows by
      one column of C; for each ``macs_per_line``-long chunk of its B column it loads the
      chunk into the multipliers' operand registers once and streams the tile's ``r`` A
      chunks past it, accumulating ``r`` partial sums in its accumulators (C output
      stationary over K). One B byte serves ``r`` MACs.
    * **A broadcast**: the lines of a pass working on the same stripe of rows need the same
      A chunk in the same cycle; it is read once and broadcast to them (up to ``n_lines``
      MACs per A byte).
    * C: every output is written once, after its last chunk.

    ``r`` is the mapper's: the longest stripe (at most ``accumulators_per_line``) that adds
    no cycles (:func:`mac_lines_stripe`); with ``n_lines`` dividing ``N`` every stripe is free
    and ``r = accumulators_per_line``. Timing and counts (:func:`_stripe_passes`)::

        compute  = pass-rows * ceil(K / macs_per_line)      (= ceil(M N / L) ceil(K / w)
                                                              for r = 1)
        fill     = 1 + ceil(log2(macs_per_line))            (once per GEMM, see
                                                             mac_lines_fill_cycles)
        A reads  = K * (r * pairs of the full stripes + h_last * pairs of the last one)
        B reads  = ceil(M / r) * N * K
        C writes = M * N
    """
    m = _positive_int(m, "m")
    k = _positive_int(k, "k")
    n = _positive_int(n, "n")
    n_lines = _positive_int(n_lines, "n_lines")
    macs_per_line = _positive_int(macs_per_line, "macs_per_line")
    bpe = _positive_int(bytes_per_element, "bytes_per_element")
    acc = _positive_int(accumulators_per_line, "accumulators_per_line")
    return _mac_lines(m, k, n, n_lines, macs_per_line, bpe * _BITS_PER_BYTE, acc)


def _mac_lines(m: int, k: int, n: int, n_lines: int, macs_per_line: int, bits: int,
               accumulators: int = 1) -> GemmTiming:
    r = mac_lines_stripe(m, n, n_lines, accumulators) if accumulators > 1 else 1
    pass_rows, pairs, last_pairs, h_last = _stripe_passes(m, n, n_lines, r)
    compute = pass_rows * -(-k // macs_per_line)
    fill = _adder_tree_latency(macs_per_line)
    reads_a = k * (r * (pairs - last_pairs) + h_last * last_pairs)
    reads_b = -(-m // r) * n * k
    return _timing(compute, fill, m * k * n, n_lines * macs_per_line, reads_a, reads_b,
                   m * n, bits, r)


# --------------------------------------------------------------------------------------
# Dispatch on the hardware description
# --------------------------------------------------------------------------------------


def dense_gemm(
    m: int, k: int, n: int, hw: HardwareConfig, *, n_lines: int | None = None
) -> GemmTiming:
    """Time one GEMM on ``hw``'s dense engine (``hw.engines.dense.kind``).

    ``mac_lines``: on ``n_lines`` of ``hw.mac_array``'s lines (all of them when None; at
    most ``hw.mac_array.n_lines``). ``systolic``: on the ``rows x cols`` array with its
    dataflow; ``n_lines`` must then be None (the array has MACs of its own). Elements are
    ``hw.data_bits`` wide; byte counts are rounded up to whole bytes.
    """
    m = _positive_int(m, "m")
    k = _positive_int(k, "k")
    n = _positive_int(n, "n")
    dense = hw.engines.dense
    bits = hw.data_bits
    if dense.kind is DenseEngineKind.SYSTOLIC:
        if n_lines is not None:
            raise VitsimError(
                "only applies to a mac_lines dense engine (this one is systolic)",
                field="n_lines",
            )
        assert dense.rows is not None and dense.cols is not None and dense.dataflow is not None
        return _systolic(m, k, n, dense.rows, dense.cols, dense.dataflow, bits)
    total_lines = hw.mac_array.n_lines
    lines = total_lines if n_lines is None else _positive_int(n_lines, "n_lines")
    if lines > total_lines:
        raise VitsimError(
            f"must be at most mac_array.n_lines = {total_lines}, got {lines}", field="n_lines"
        )
    return _mac_lines(m, k, n, lines, hw.mac_array.macs_per_line, bits,
                      hw.mac_array.accumulators_per_line)
