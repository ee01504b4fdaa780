"""S V on the sparser engine, output-stationary with long rows split across MAC lines.

ViTCoD's sparser engine (You et al., HPCA 2023, Sec. V: "intra- and inter-PE accumulation")
computes ``S V`` output-stationary: a line accumulates output rows, and a long row is split
across lines whose partial sums are then reduced. The schedule modelled here lays a unit's
rows end to end in their stored order and cuts the stream of kept scores into ``n_lines``
contiguous shares of ``ceil(total / n_lines)`` scores (the even split of ViTCoD's released
simulator, ``ceil(nnz / lines)``). A row cut into ``k`` pieces costs ``k - 1`` reductions:
each adds one partial ``d_v``-wide output into the line holding the row's last piece (an
inter-line accumulation chain), and one reduction costs what one kept score costs (one
``d_v``-wide accumulate, ``ceil(d_v / macs_per_line)`` cycles). Loads are in score-times;
the caller scales them to cycles.

So a unit's time is ``ceil(total / n_lines)`` score-times plus the reductions on its busiest
line; the reductions are real work the even split of the released simulator leaves out.
A unit with work and no line takes :data:`INFEASIBLE_CYCLES`.
"""

from __future__ import annotations

import numpy as np

from vitsim.simulator.kernels.jit import jit
from vitsim.simulator.kernels.sparse_rows import INFEASIBLE_CYCLES


@jit
def split_rows_line_loads(row_nnz, start, stop, n_lines):
    """Score-times on each of ``n_lines`` lines for the rows ``start:stop`` (see the module
    docstring). ``row_nnz``: int [rows] >= 0. Returns int64 [n_lines]."""
    if n_lines < 0:
        raise ValueError("n_lines must be >= 0")
    total = 0
    for r in range(start, stop):
        if row_nnz[r] < 0:
            raise ValueError("row_nnz must be >= 0")
        total += row_nnz[r]
    loads = np.zeros(n_lines, dtype=np.int64)
    if total == 0:
        return loads
    if n_lines == 0:
        raise ValueError("rows with work need at least one line")
    share = (total + n_lines - 1) // n_lines
    for j in range(n_lines):
        rest = total - j * share
        if rest > 0:
            loads[j] = min(share, rest)
    pos = 0
    for r in range(start, stop):
        c = row_nnz[r]
        if c == 0:
            continue
        first = pos // share
        last = (pos + c - 1) // share
        loads[last] += last - first
        pos += c
    return loads


@jit
def heads_split_rows_cycles(row_nnz, row_offsets, n_lines, cycles_per_score):
    """Per unit ``u`` (rows ``row_offsets[u]:row_offsets[u + 1]``), the busiest line's load
    times ``cycles_per_score[u]``: int64 [U]; 0 without work, the sentinel without lines."""
    n_units = n_lines.shape[0]
    if row_offsets.shape[0] != n_units + 1 or cycles_per_score.shape[0] != n_units:
        raise ValueError("row_offsets needs U + 1 entries and cycles_per_score U")
    out = np.zeros(n_units, dtype=np.int64)
    for u in range(n_units):
        start, stop = row_offsets[u], row_offsets[u + 1]
        if stop < start:
            raise ValueError("row_offsets must be non-decreasing")
        total = 0
        for r in range(start, stop):
            total += row_nnz[r]
        if total == 0 or cycles_per_score[u] == 0:
            continue
        if n_lines[u] <= 0:
            out[u] = INFEASIBLE_CYCLES
            continue
        loads = split_rows_line_loads(row_nnz, start, stop, n_lines[u])
        out[u] = loads.max() * cycles_per_score[u]
    return out


@jit
def heads_split_rows_every_split(row_nnz, row_offsets, max_lines):
    """int64 [U, max_lines + 1]: entry ``[u, L]`` is the busiest line's score-times of unit
    ``u`` on ``L`` lines (:func:`heads_split_rows_cycles` at one cycle per score), for every
    ``L`` in ``0..max_lines``: the rows' running ends once, then the bisecting schedule of
    :func:`units_split_rows_max_load` per line count."""
    if max_lines < 0:
        raise ValueError("max_lines must be >= 0")
    n_units = row_offsets.shape[0] - 1
    ends = units_row_ends(row_nnz, row_offsets)
    out = np.zeros((n_units, max_lines + 1), dtype=np.int64)
    lines = np.empty(n_units, dtype=np.int64)
    for n_lines in range(max_lines + 1):
        lines[:] = n_lines
        out[:, n_lines] = units_split_rows_max_load(ends, row_offsets, lines)
    return out


@jit
def units_row_ends(row_nnz, row_offsets):
    """Per unit, the running kept-score count at the end of each of its rows (restarting at
    every unit), int64 [rows]: the hardware-independent input of
    :func:`units_split_rows_max_load`."""
    n_units = row_offsets.shape[0] - 1
    ends = np.zeros(row_nnz.shape[0], dtype=np.int64)
    for u in range(n_units):
        start, stop = row_offsets[u], row_offsets[u + 1]
        if stop < start or start < 0 or stop > row_nnz.shape[0]:
            raise ValueError("row_offsets must be non-decreasing and inside row_nnz")
        pos = 0
        for r in range(start, stop):
            if row_nnz[r] < 0:
                raise ValueError("row_nnz must be >= 0")
            pos += row_nnz[r]
            ends[r] = pos
    return ends


@jit
def unit_split_rows_max_load(row_ends, start, stop, lines):
    """One unit of :func:`units_split_rows_max_load`: rows ``start:stop`` on ``lines``
    lines."""
    total = row_ends[stop - 1] if stop > start else 0
    if total == 0:
        return 0
    if lines <= 0:
        return INFEASIBLE_CYCLES
    share = (total + lines - 1) // lines
    worst = 0
    lo = start
    for j in range(lines):
        first = j * share
        if first >= total:
            break
        # The first row whose end passes ``first``: at or after the previous line's,
        # found by galloping from it, then bisecting.
        step = 1
        while lo + step < stop and row_ends[lo + step - 1] <= first:
            step *= 2
        hi = min(lo + step, stop) - 1
        lo += step // 2
        while lo < hi:
            mid = (lo + hi) // 2
            if row_ends[mid] > first:
                hi = mid
            else:
                lo = mid + 1
        row_start = row_ends[lo - 1] if lo > start else 0
        load = min(share, total - first)
        if row_ends[lo] - 1 < first + share:  # the row ends on line j
            load += j - row_start // share
        worst = max(worst, load)
    return worst


@jit
def units_split_rows_max_load(row_ends, row_offsets, n_lines):
    """:func:`heads_split_rows_cycles` at one cycle per score from the rows' running ends
    (:func:`units_row_ends`), in ``O(lines log rows)`` per unit instead of ``O(rows)``.

    Line ``j`` holds ``min(share, total - j share)`` scores plus the reductions of the row
    whose last piece it holds and that began on an earlier line; only the row covering the
    line's first score ``j share`` can be that row (every later row ending on line ``j``
    also starts there), and it is found by bisection in the running ends."""
    n_units = n_lines.shape[0]
    if row_offsets.shape[0] != n_units + 1:
        raise ValueError("row_offsets needs U + 1 entries")
    out = np.zeros(n_units, dtype=np.int64)
    for u in range(n_units):
        out[u] = unit_split_rows_max_load(row_ends, row_offsets[u], row_offsets[u + 1],
                                          n_lines[u])
    return out
