"""Rows of a sparse attention head spread over MAC lines; the slowest line sets the time.

ViTCoD's sparser engine (ViTCoD, HPCA 2023) gives each MAC line whole query rows of the
sparse attention map; a row with ``nnz`` kept scores keeps its line busy for
``nnz * cycles_per_score`` cycles, and a head is done when its most loaded line is done. The
denser engine handles the global-token columns, and the MAC lines of the array are split
between the two engines per head; :func:`best_split` searches that split.

Two assignment policies, given as integer codes so the kernels take scalars only:

``ROUND_ROBIN``
    Row ``i`` (index within its head) goes to line ``i % n_lines``.
``GREEDY``
    Longest processing time first (LPT, Graham 1969): rows in descending work order, each to
    the currently least-loaded line, ties to the lowest line index. Rows of equal work are
    taken lowest row index first; since such rows are interchangeable, this never changes a
    line's load, only which row sits where.

Rows with zero work cost nothing under either policy. Work and times are integer cycles
(int64). A head that has work but no line to run it on takes :data:`INFEASIBLE_CYCLES`, a
huge sentinel (``int64 max // 4``, so a few of them still add without overflow); callers
treat any result ``>= INFEASIBLE_CYCLES`` as "cannot be scheduled".

Neither policy is known to be monotone in the number of lines. Round robin is not: rows
of work ``[2, 1, 1, 2]`` take 3 cycles on 2 lines and 4 on 3 (rows 0 and 3 meet on line 0).
For LPT no counterexample turned up in an exhaustive search (every multiset of 8 rows of
1..30 cycles, 10 of 1..20, 12 of 1..14, 14 of 1..10, 16 of 1..8, 20 of 1..5, on any number
of lines) nor in 40 million random instances, but no proof is known to us.
:func:`best_split` is therefore exact and never assumes monotonicity.

Internally a head's rows are scheduled in kept scores and scaled by ``cycles_per_score``
afterwards (both policies commute with one positive scale). GREEDY's max load comes from a
bucket queue over the integer loads when they are small, as a ViT head's are, and from a
binary heap otherwise; the tests compare both paths with a naive twin.
"""

from __future__ import annotations

import numpy as np

from vitsim.simulator.kernels.jit import jit

ROUND_ROBIN = 0
GREEDY = 1

INFEASIBLE_CYCLES = np.iinfo(np.int64).max // 4
"""Cycles reported for work that has no line to run on (see the module docstring)."""


@jit
def _check_policy(policy):
    if policy != ROUND_ROBIN and policy != GREEDY:
        raise ValueError("policy must be ROUND_ROBIN (0) or GREEDY (1)")


@jit
def _lpt_heap(sorted_work, n_rows, n_lines, heap_load, heap_idx):
    """LPT over ``sorted_work[:n_rows]`` (descending) on ``n_lines`` lines.

    Leaves the final loads in ``heap_load[:n_lines]`` with their line in ``heap_idx``.
    O(n_rows log n_lines): a binary min-heap ordered by (load, line index) keeps the
    least-loaded line on top; adding work to it only moves it down, so it sinks as a hole
    (children move up, the top entry is written once where it lands).
    """
    for k in range(n_lines):
        heap_load[k] = 0
        heap_idx[k] = k
    for r in range(n_rows):
        load = heap_load[0] + sorted_work[r]
        line = heap_idx[0]
        pos = 0
        while True:
            child = 2 * pos + 1
            if child >= n_lines:
                break
            child_load = heap_load[child]
            child_line = heap_idx[child]
            if child + 1 < n_lines:
                right_load = heap_load[child + 1]
                right_line = heap_idx[child + 1]
                if right_load < child_load or (
                    right_load == child_load and right_line < child_line
                ):
                    child += 1
                    child_load = right_load
                    child_line = right_line
            if child_load < load or (child_load == load and child_line < line):
                heap_load[pos] = child_load
                heap_idx[pos] = child_line
                pos = child
            else:
                break
        heap_load[pos] = load
        heap_idx[pos] = line


@jit
def _descending_nonzero(row_work):
    """The nonzero entries of ``row_work``, largest first."""
    n_nonzero = 0
    for w in row_work:
        if w > 0:
            n_nonzero += 1
    out = np.empty(n_nonzero, dtype=np.int64)
    k = 0
    for w in row_work:
        if w > 0:
            out[k] = w
            k += 1
    out.sort()
    return out[::-1].copy()


@jit
def line_loads(row_work, n_lines, policy):
    """Cycles of work on each MAC line when one head's rows are assigned by ``policy``.

    ``row_work``: int64 [n_rows], cycles of each row (>= 0). ``n_lines``: number of MAC lines
    (>= 1; 0 is accepted only when there is no work, and gives an empty result).
    ``policy``: :data:`ROUND_ROBIN` or :data:`GREEDY`. Returns int64 [n_lines], cycles per line.
    """
    _check_policy(policy)
    if n_lines < 0:
        raise ValueError("n_lines must be >= 0")
    for w in row_work:
        if w < 0:
            raise ValueError("row work must be >= 0")
        if w > 0 and n_lines == 0:
            raise ValueError("rows with work need at least one line")
    loads = np.zeros(n_lines, dtype=np.int64)
    if n_lines == 0:
        return loads
    if policy == ROUND_ROBIN:
        line = 0
        for w in row_work:
            loads[line] += w
            line += 1
            if line == n_lines:
                line = 0
        return loads
    sorted_work = _descending_nonzero(row_work)
    heap_load = np.empty(n_lines, dtype=np.int64)
    heap_idx = np.empty(n_lines, dtype=np.int64)
    _lpt_heap(sorted_work, sorted_work.shape[0], n_lines, heap_load, heap_idx)
    for k in range(n_lines):
        loads[heap_idx[k]] = heap_load[k]
    return loads


@jit
def _lpt_max_buckets(sorted_nnz, n_lines, buckets):
    """The max line load LPT reaches, from a bucket queue over the (integer) loads.

    Only the multiset of loads matters for the max, and LPT's smallest load never decreases,
    so a pointer that only moves up finds it. A load never exceeds
    ``sum // n_lines + max``: a row goes on a line at or below the average of the rows
    before it. ``buckets`` must be zero and longer than that; it is left zero.
    O(rows + sum / lines), with few unpredictable branches, several times faster than a heap
    for a ViT head's rows.
    """
    buckets[0] = n_lines
    low = 0
    worst = 0
    for w in sorted_nnz:
        while buckets[low] == 0:
            low += 1
        buckets[low] -= 1
        load = low + w
        buckets[load] += 1
        worst = max(worst, load)
    for k in range(worst + 1):
        buckets[k] = 0
    return worst


@jit
def _head_summary(row_nnz, start, stop):
    """Total and largest kept scores of rows ``start:stop`` and how many rows have any."""
    total = 0
    largest = 0
    n_nonzero = 0
    for i in range(start, stop):
        v = np.int64(row_nnz[i])
        total += v
        largest = max(largest, v)
        if v > 0:
            n_nonzero += 1
    return total, largest, n_nonzero


@jit
def _sorted_nnz(row_nnz, start, stop, largest, n_nonzero):
    """The nonzero counts of rows ``start:stop``, largest first (a counting sort when the
    counts are small, as kept scores per row are: at most the number of keys)."""
    out = np.empty(n_nonzero, dtype=np.int64)
    if largest > 4 * (stop - start) + 64:
        k = 0
        for i in range(start, stop):
            if row_nnz[i] > 0:
                out[k] = row_nnz[i]
                k += 1
        out.sort()
        return out[::-1].copy()
    histogram = np.zeros(largest + 1, dtype=np.int64)
    for i in range(start, stop):
        histogram[row_nnz[i]] += 1
    k = 0
    for v in range(largest, 0, -1):
        for _ in range(histogram[v]):
            out[k] = v
            k += 1
    return out


@jit
def _max_line_nnz(row_nnz, start, stop, sorted_nnz, total, largest, n_lines, policy, bufs):
    """Kept scores on the most loaded of ``n_lines >= 1`` lines for rows ``start:stop``.

    ``sorted_nnz``: the rows' nonzero counts, descending (used by :data:`GREEDY` only);
    ``total``, ``largest``: their sum and maximum. ``bufs``: ``(line_buf, idx_buf, buckets)``
    scratch arrays, the first two of at least ``n_lines`` entries, ``buckets`` all zero.
    """
    line_buf, idx_buf, buckets = bufs
    if n_lines == 1:
        return total
    if policy == ROUND_ROBIN:
        if n_lines >= stop - start:
            return largest
        for k in range(n_lines):
            line_buf[k] = 0
        line = 0
        for i in range(start, stop):
            line_buf[line] += row_nnz[i]
            line += 1
            if line == n_lines:
                line = 0
        worst = 0
        for k in range(n_lines):
            worst = max(worst, line_buf[k])
        return worst
    if sorted_nnz.shape[0] <= n_lines:
        return largest  # every row lands on an empty line
    if total // n_lines + largest < buckets.shape[0]:
        return _lpt_max_buckets(sorted_nnz, n_lines, buckets)
    _lpt_heap(sorted_nnz, sorted_nnz.shape[0], n_lines, line_buf, idx_buf)
    worst = 0
    for k in range(n_lines):
        worst = max(worst, line_buf[k])
    return worst


@jit
def _sparse_cycles(
    row_nnz, start, stop, sorted_nnz, total, largest, n_lines, cycles_per_score, policy, bufs
):
    """Cycles of one head's sparse rows on ``n_lines`` lines (0 without work, the sentinel
    without lines)."""
    if total == 0 or cycles_per_score == 0:
        return 0
    if n_lines == 0:
        return INFEASIBLE_CYCLES
    scores = _max_line_nnz(row_nnz, start, stop, sorted_nnz, total, largest, n_lines, policy, bufs)
    return scores * cycles_per_score


@jit
def _check_heads(row_nnz, row_offsets, n_heads, cycles_per_score):
    if row_offsets.shape[0] != n_heads + 1:
        raise ValueError("row_offsets must have one entry more than there are heads")
    if cycles_per_score.shape[0] != n_heads:
        raise ValueError("cycles_per_score must have one entry per head")
    if n_heads > 0 and (row_offsets[0] < 0 or row_offsets[n_heads] > row_nnz.shape[0]):
        raise ValueError("row_offsets point outside row_nnz")
    for h in range(n_heads):
        if row_offsets[h + 1] < row_offsets[h]:
            raise ValueError("row_offsets must be non-decreasing")
        if cycles_per_score[h] < 0:
            raise ValueError("cycles_per_score must be >= 0")
    for v in row_nnz:
        if v < 0:
            raise ValueError("row_nnz must be >= 0")


@jit
def _scratch(row_offsets, n_heads, max_lines):
    """Scratch arrays shared by all heads: per-line loads and indices, zeroed buckets."""
    max_rows = 0
    for h in range(n_heads):
        max_rows = max(max_rows, row_offsets[h + 1] - row_offsets[h])
    line_buf = np.empty(max_lines, dtype=np.int64)
    idx_buf = np.empty(max_lines, dtype=np.int64)
    buckets = np.zeros(4 * max_rows + 64, dtype=np.int64)
    return line_buf, idx_buf, buckets


@jit
def _head_rows(row_nnz, start, stop, policy):
    """Summary of one head's rows and, for :data:`GREEDY`, their sorted nonzero counts."""
    total, largest, n_nonzero = _head_summary(row_nnz, start, stop)
    if policy == GREEDY:
        sorted_nnz = _sorted_nnz(row_nnz, start, stop, largest, n_nonzero)
    else:
        sorted_nnz = np.empty(0, dtype=np.int64)
    return sorted_nnz, total, largest


@jit
def heads_sparse_cycles(row_nnz, row_offsets, n_lines, cycles_per_score, policy):
    """Sparse-engine cycles of every head: the max line load of its rows.

    ``row_nnz``: int32 or int64 [total_rows], kept scores per row, all heads concatenated.
    ``row_offsets``: int64 [H + 1]; head ``h`` owns rows ``row_offsets[h]:row_offsets[h+1]``.
    ``n_lines``: int64 [H], MAC lines given to each head. ``cycles_per_score``: int64 [H],
    cycles a line spends per kept score. ``policy``: :data:`ROUND_ROBIN` or :data:`GREEDY`.

    Returns int64 [H] cycles: 0 for a head without work, :data:`INFEASIBLE_CYCLES` for a head
    with work and no line.
    """
    _check_policy(policy)
    n_heads = n_lines.shape[0]
    _check_heads(row_nnz, row_offsets, n_heads, cycles_per_score)
    max_lines = 0
    for h in range(n_heads):
        if n_lines[h] < 0:
            raise ValueError("n_lines must be >= 0")
        max_lines = max(max_lines, n_lines[h])
    bufs = _scratch(row_offsets, n_heads, max_lines)
    cycles = np.zeros(n_heads, dtype=np.int64)
    for h in range(n_heads):
        start = row_offsets[h]
        stop = row_offsets[h + 1]
        sorted_nnz, total, largest = _head_rows(row_nnz, start, stop, policy)
        cycles[h] = _sparse_cycles(
            row_nnz,
            start,
            stop,
            sorted_nnz,
            total,
            largest,
            n_lines[h],
            cycles_per_score[h],
            policy,
            bufs,
        )
    return cycles


@jit
def heads_sparse_every_split(row_nnz, row_offsets, max_lines):
    """int64 [H, max_lines + 1]: entry ``[h, L]`` is :func:`heads_sparse_cycles` of head ``h``
    on ``L`` lines with :data:`GREEDY` at one cycle per score, for every ``L`` in
    ``0..max_lines`` (a split search's inner loop): each head's rows are sorted once and
    their runs of equal counts scheduled per line count (:func:`units_greedy_max_load`)."""
    if max_lines < 0:
        raise ValueError("max_lines must be >= 0")
    n_heads = row_offsets.shape[0] - 1
    (sorted_nnz, sorted_offsets, run_values, run_counts, run_offsets, total,
     largest) = units_sorted_nonzero(row_nnz, row_offsets)
    out = np.zeros((n_heads, max_lines + 1), dtype=np.int64)
    lines = np.empty(n_heads, dtype=np.int64)
    for n_lines in range(max_lines + 1):
        lines[:] = n_lines
        out[:, n_lines] = units_greedy_max_load(sorted_nnz, sorted_offsets, run_values,
                                                run_counts, run_offsets, total, largest,
                                                lines)
    return out


@jit
def _dense_cycles(pairs, cycles_per_pair, n_lines):
    """Denser-engine cycles: ``ceil(pairs / n_lines) * cycles_per_pair``."""
    if pairs == 0 or cycles_per_pair == 0:
        return 0
    if n_lines == 0:
        return INFEASIBLE_CYCLES
    return ((pairs + n_lines - 1) // n_lines) * cycles_per_pair


@jit
def best_split(
    dense_pairs,
    row_nnz,
    row_offsets,
    n_lines_total,
    dense_cycles_per_pair,
    sparse_cycles_per_score,
    policy,
):
    """Per head, the split of ``n_lines_total`` MAC lines between the two engines.

    ``dense_pairs``: int64 [H], work items of the denser engine (kept scores in the global
    columns); ``dense_cycles_per_pair``: int64 [H], cycles one line spends on one item; it
    takes ``ceil(dense_pairs / L_d) * dense_cycles_per_pair`` cycles on ``L_d`` lines.
    ``row_nnz``, ``row_offsets``, ``sparse_cycles_per_score``, ``policy``: the sparser
    engine's rows as in :func:`heads_sparse_cycles`; it gets the other
    ``n_lines_total - L_d`` lines. Both engines run at once, so a head takes
    ``max(dense, sparse)`` cycles.

    Returns ``(dense_lines, cycles)``, int64 [H] each: ``L_d`` and the head's cycles.

    * No dense work (``dense_pairs * dense_cycles_per_pair == 0``): ``L_d = 0`` (this rule
      wins when the head has no work at all, giving 0 cycles).
    * Dense work but no sparse work: ``L_d = n_lines_total``.
    * Otherwise the ``L_d`` in ``[0, n_lines_total]`` with the fewest cycles; among equals,
      the smallest ``L_d``. With fewer than two lines there is no feasible split and the
      head takes :data:`INFEASIBLE_CYCLES` (with ``L_d = 0``).

    Exact, with no monotonicity assumed. The search prunes instead: with ``L_s`` sparse
    lines, ``max(dense(L_d), cps * max(max_row_nnz, ceil(total_nnz / L_s)))`` is a lower
    bound on a split's cycles and costs O(1); splits are tried in ascending bound order (ties:
    smaller ``L_d`` first) and the search stops once the bound exceeds the best exact time
    found, so a head typically schedules its rows only a few times.
    """
    _check_policy(policy)
    n_heads = dense_pairs.shape[0]
    _check_heads(row_nnz, row_offsets, n_heads, sparse_cycles_per_score)
    if dense_cycles_per_pair.shape[0] != n_heads:
        raise ValueError("dense_cycles_per_pair must have one entry per head")
    if n_lines_total < 0:
        raise ValueError("n_lines_total must be >= 0")
    for h in range(n_heads):
        if dense_pairs[h] < 0 or dense_cycles_per_pair[h] < 0:
            raise ValueError("dense_pairs and dense_cycles_per_pair must be >= 0")
    n_split = n_lines_total + 1
    bufs = _scratch(row_offsets, n_heads, n_split)
    bound = np.empty(n_split, dtype=np.int64)
    dense_lines = np.zeros(n_heads, dtype=np.int64)
    cycles = np.zeros(n_heads, dtype=np.int64)
    for h in range(n_heads):
        start = row_offsets[h]
        stop = row_offsets[h + 1]
        per_score = sparse_cycles_per_score[h]
        sorted_nnz, total, largest = _head_rows(row_nnz, start, stop, policy)
        pairs = dense_pairs[h]
        per_pair = dense_cycles_per_pair[h]
        if pairs == 0 or per_pair == 0:
            dense_lines[h] = 0
            cycles[h] = _sparse_cycles(
                row_nnz,
                start,
                stop,
                sorted_nnz,
                total,
                largest,
                n_lines_total,
                per_score,
                policy,
                bufs,
            )
            continue
        if total == 0 or per_score == 0:
            dense_lines[h] = n_lines_total
            cycles[h] = _dense_cycles(pairs, per_pair, n_lines_total)
            continue
        for n_dense in range(n_split):
            n_sparse = n_lines_total - n_dense
            if n_sparse == 0:
                sparse_bound = INFEASIBLE_CYCLES
            else:
                sparse_bound = max(largest, (total + n_sparse - 1) // n_sparse) * per_score
            bound[n_dense] = max(_dense_cycles(pairs, per_pair, n_dense), sparse_bound)
        order = np.argsort(bound, kind="mergesort")  # stable: smaller L_d first on ties
        best = INFEASIBLE_CYCLES + 1
        best_dense = -1
        for k in range(n_split):
            n_dense = order[k]
            if bound[n_dense] > best:
                break
            if bound[n_dense] == best and n_dense > best_dense:
                continue
            sparse = _sparse_cycles(
                row_nnz,
                start,
                stop,
                sorted_nnz,
                total,
                largest,
                n_lines_total - n_dense,
                per_score,
                policy,
                bufs,
            )
            t = max(_dense_cycles(pairs, per_pair, n_dense), sparse)
            if t < best or (t == best and n_dense < best_dense):
                best = t
                best_dense = n_dense
        dense_lines[h] = best_dense
        cycles[h] = best
    return dense_lines, cycles


@jit
def units_sorted_nonzero(row_nnz, row_offsets):
    """Each unit's nonzero counts, largest first (the hardware-independent part of
    :data:`GREEDY` scheduling, sorted once per unit layout and reused for every line count):
    ``(sorted_nnz, sorted_offsets [U + 1], run_values, run_counts, run_offsets [U + 1],
    total [U], largest [U])``; the runs are ``sorted_nnz`` run-length encoded."""
    n_units = row_offsets.shape[0] - 1
    _check_heads(row_nnz, row_offsets, n_units, np.ones(n_units, dtype=np.int64))
    total = np.zeros(n_units, dtype=np.int64)
    largest = np.zeros(n_units, dtype=np.int64)
    sorted_offsets = np.zeros(n_units + 1, dtype=np.int64)
    parts = []
    for u in range(n_units):
        sorted_nnz, unit_total, unit_largest = _head_rows(row_nnz, row_offsets[u],
                                                          row_offsets[u + 1], GREEDY)
        total[u] = unit_total
        largest[u] = unit_largest
        sorted_offsets[u + 1] = sorted_offsets[u] + sorted_nnz.shape[0]
        parts.append(sorted_nnz)
    out = np.empty(sorted_offsets[n_units], dtype=np.int64)
    run_values = np.empty(sorted_offsets[n_units], dtype=np.int64)
    run_counts = np.empty(sorted_offsets[n_units], dtype=np.int64)
    run_offsets = np.zeros(n_units + 1, dtype=np.int64)
    n_runs = 0
    for u in range(n_units):
        out[sorted_offsets[u]:sorted_offsets[u + 1]] = parts[u]
        for w in parts[u]:
            if n_runs > run_offsets[u] and run_values[n_runs - 1] == w:
                run_counts[n_runs - 1] += 1
            else:
                run_values[n_runs] = w
                run_counts[n_runs] = 1
                n_runs += 1
        run_offsets[u + 1] = n_runs
    return (out, sorted_offsets, run_values[:n_runs].copy(), run_counts[:n_runs].copy(),
            run_offsets, total, largest)


@jit
def _lpt_max_bucket_runs(run_values, run_counts, start, stop, n_lines, buckets):
    """:func:`_lpt_max_buckets` over run-length encoded work (descending values with their
    counts): the equal items of a run go, as many at once as there are lines at the lowest
    load, onto those lines (each item of the run would pick one of them in turn, since a
    line that took one is no longer the lowest)."""
    buckets[0] = n_lines
    low = 0
    worst = 0
    for r in range(start, stop):
        w = run_values[r]
        left = run_counts[r]
        while left > 0:
            while buckets[low] == 0:
                low += 1
            k = min(left, buckets[low])
            buckets[low] -= k
            buckets[low + w] += k
            worst = max(worst, low + w)
            left -= k
    for k in range(worst + 1):
        buckets[k] = 0
    return worst


@jit
def greedy_scratch(sorted_offsets, max_lines):
    """Scratch buffers of :func:`unit_greedy_max_load` for any unit of ``sorted_offsets`` on
    up to ``max_lines`` lines: ``(line_buf, idx_buf, buckets)``."""
    max_sorted = 0
    for u in range(sorted_offsets.shape[0] - 1):
        max_sorted = max(max_sorted, sorted_offsets[u + 1] - sorted_offsets[u])
    return (np.empty(max_lines, dtype=np.int64), np.empty(max_lines, dtype=np.int64),
            np.zeros(4 * max_sorted + 64, dtype=np.int64))


@jit
def unit_greedy_max_load(sorted_nnz, sorted_offsets, run_values, run_counts, run_offsets,
                         total, largest, u, lines, line_buf, idx_buf, buckets):
    """Unit ``u`` of :func:`units_greedy_max_load` on ``lines`` lines, with the buffers of
    :func:`greedy_scratch` (``buckets`` all zero, and left so)."""
    if total[u] == 0:
        return 0
    if lines == 0:
        return INFEASIBLE_CYCLES
    if lines == 1:
        return total[u]
    if sorted_offsets[u + 1] - sorted_offsets[u] <= lines:
        return largest[u]  # every count lands on an empty line
    if total[u] // lines + largest[u] < buckets.shape[0]:
        return _lpt_max_bucket_runs(run_values, run_counts, run_offsets[u], run_offsets[u + 1],
                                    lines, buckets)
    work = sorted_nnz[sorted_offsets[u]:sorted_offsets[u + 1]]
    _lpt_heap(work, work.shape[0], lines, line_buf, idx_buf)
    worst = 0
    for k in range(lines):
        worst = max(worst, line_buf[k])
    return worst


@jit
def units_greedy_max_load(sorted_nnz, sorted_offsets, run_values, run_counts, run_offsets,
                          total, largest, n_lines):
    """:func:`heads_sparse_cycles` with :data:`GREEDY` at one cycle per score, from the
    output of :func:`units_sorted_nonzero`: int64 [U], the busiest line's kept scores of each
    unit on ``n_lines[u]`` lines (0 without work, the sentinel without lines)."""
    n_units = n_lines.shape[0]
    if sorted_offsets.shape[0] != n_units + 1 or run_offsets.shape[0] != n_units + 1:
        raise ValueError("the offsets must have one entry more than there are units")
    max_lines = 0
    for u in range(n_units):
        if n_lines[u] < 0:
            raise ValueError("n_lines must be >= 0")
        max_lines = max(max_lines, n_lines[u])
    line_buf, idx_buf, buckets = greedy_scratch(sorted_offsets, max_lines)
    out = np.zeros(n_units, dtype=np.int64)
    for u in range(n_units):
        out[u] = unit_greedy_max_load(sorted_nnz, sorted_offsets, run_values, run_counts,
                                      run_offsets, total, largest, u, n_lines[u], line_buf,
                                      idx_buf, buckets)
    return out


@jit
def head_column_counts(offsets, indices, heads, n_k, out):
    """Add to ``out`` (int64 [len(heads) * n_k]) the entries of every head of ``heads`` per
    key column: head ``heads[i]``'s column indices are ``indices[offsets[h]:offsets[h + 1]]``
    (a CSR region of the trace), counted at ``out[i * n_k + column]``. One pass, no
    temporaries (a ViT-H trace holds ~10^8 kept scores)."""
    for i in range(heads.shape[0]):
        h = heads[i]
        base = i * n_k
        for e in range(offsets[h], offsets[h + 1]):
            c = indices[e]
            if c < 0 or c >= n_k:
                raise ValueError("a column index is outside its head's key tokens")
            out[base + c] += 1
    return out
