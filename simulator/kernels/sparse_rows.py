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
def _heap_less(load, idx, i, j):
    """Heap order: lower load first, then lower line index."""
    return load[i] < load[j] or (load[i] == load[j] and idx[i] < idx[j])


@jit
def _lpt_heap(sorted_work, n_rows, n_lines, heap_load, heap_idx):
    """LPT over ``sorted_work[:n_rows]`` (descending) on ``n_lines`` lines.

    Leaves the final loads in ``heap_load[:n_lines]`` with their line in ``heap_idx``.
    O(n_rows log n_lines): the least-loaded line is the heap's top; adding work to it only
    moves it down.
    """
    for k in range(n_lines):
        heap_load[k] = 0
        heap_idx[k] = k
    for r in range(n_rows):
        heap_load[0] += sorted_work[r]
        pos = 0
        while True:
            left = 2 * pos + 1
            if left >= n_lines:
                break
            child = left
            right = left + 1
            if right < n_lines and _heap_less(heap_load, heap_idx, right, left):
                child = right
            if _heap_less(heap_load, heap_idx, child, pos):
                tmp_load = heap_load[pos]
                heap_load[pos] = heap_load[child]
                heap_load[child] = tmp_load
                tmp_idx = heap_idx[pos]
                heap_idx[pos] = heap_idx[child]
                heap_idx[child] = tmp_idx
                pos = child
            else:
                break


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
        for i in range(row_work.shape[0]):
            loads[i % n_lines] += row_work[i]
        return loads
    sorted_work = _descending_nonzero(row_work)
    heap_load = np.empty(n_lines, dtype=np.int64)
    heap_idx = np.empty(n_lines, dtype=np.int64)
    _lpt_heap(sorted_work, sorted_work.shape[0], n_lines, heap_load, heap_idx)
    for k in range(n_lines):
        loads[heap_idx[k]] = heap_load[k]
    return loads


@jit
def _sparse_time(row_work, sorted_work, total, max_work, n_lines, policy, buf_load, buf_idx):
    """Max line load of one head's rows on ``n_lines`` lines (see :func:`line_loads`).

    ``sorted_work`` holds the nonzero row work in descending order, ``total`` and ``max_work``
    its sum and maximum; the buffers hold at least ``n_lines`` entries.
    """
    if total == 0:
        return 0
    if n_lines == 0:
        return INFEASIBLE_CYCLES
    if n_lines == 1:
        return total
    if policy == ROUND_ROBIN:
        if n_lines >= row_work.shape[0]:
            return max_work
        for k in range(n_lines):
            buf_load[k] = 0
        for i in range(row_work.shape[0]):
            buf_load[i % n_lines] += row_work[i]
        worst = 0
        for k in range(n_lines):
            worst = max(worst, buf_load[k])
        return worst
    n_nonzero = sorted_work.shape[0]
    if n_nonzero <= n_lines:
        # every row lands on an empty line
        return max_work
    _lpt_heap(sorted_work, n_nonzero, n_lines, buf_load, buf_idx)
    worst = 0
    for k in range(n_lines):
        worst = max(worst, buf_load[k])
    return worst


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
def _head_work(row_nnz, start, stop, cycles_per_score):
    """Row work (int64 cycles) of one head, its nonzero rows sorted descending, sum and max."""
    row_work = np.empty(stop - start, dtype=np.int64)
    total = 0
    max_work = 0
    for i in range(stop - start):
        w = np.int64(row_nnz[start + i]) * cycles_per_score
        row_work[i] = w
        total += w
        max_work = max(max_work, w)
    return row_work, _descending_nonzero(row_work), total, max_work


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
    buf_load = np.empty(max_lines, dtype=np.int64)
    buf_idx = np.empty(max_lines, dtype=np.int64)
    cycles = np.zeros(n_heads, dtype=np.int64)
    for h in range(n_heads):
        row_work, sorted_work, total, max_work = _head_work(
            row_nnz, row_offsets[h], row_offsets[h + 1], cycles_per_score[h]
        )
        cycles[h] = _sparse_time(
            row_work, sorted_work, total, max_work, n_lines[h], policy, buf_load, buf_idx
        )
    return cycles


@jit
def _dense_time(pairs, cycles_per_pair, n_lines):
    """Denser-engine cycles: ``ceil(pairs / n_lines) * cycles_per_pair``."""
    if pairs == 0 or cycles_per_pair == 0:
        return 0
    if n_lines == 0:
        return INFEASIBLE_CYCLES
    return ((pairs + n_lines - 1) // n_lines) * cycles_per_pair


@jit
def _ceil_div(a, b):
    return (a + b - 1) // b


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

    Exact, with no monotonicity assumed (greedy LPT is not monotone in its line count). The
    search prunes instead: ``max(dense(L_d), max(max_row, ceil(sparse_total / L_s)))`` is a
    lower bound on a split's cycles and costs O(1); splits are tried in ascending bound order
    and the search stops once the bound exceeds the best exact time found, so usually only
    one or two splits per head run the O(rows log lines) schedule.
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
    buf_load = np.empty(n_split, dtype=np.int64)
    buf_idx = np.empty(n_split, dtype=np.int64)
    bound = np.empty(n_split, dtype=np.int64)
    dense_lines = np.zeros(n_heads, dtype=np.int64)
    cycles = np.zeros(n_heads, dtype=np.int64)
    for h in range(n_heads):
        row_work, sorted_work, total, max_work = _head_work(
            row_nnz, row_offsets[h], row_offsets[h + 1], sparse_cycles_per_score[h]
        )
        pairs = dense_pairs[h]
        per_pair = dense_cycles_per_pair[h]
        if pairs == 0 or per_pair == 0:
            dense_lines[h] = 0
            cycles[h] = _sparse_time(
                row_work, sorted_work, total, max_work, n_lines_total, policy, buf_load, buf_idx
            )
            continue
        if total == 0:
            dense_lines[h] = n_lines_total
            cycles[h] = _dense_time(pairs, per_pair, n_lines_total)
            continue
        for n_dense in range(n_split):
            n_sparse = n_lines_total - n_dense
            if n_sparse == 0:
                sparse_bound = INFEASIBLE_CYCLES
            else:
                sparse_bound = max(max_work, _ceil_div(total, n_sparse))
            bound[n_dense] = max(_dense_time(pairs, per_pair, n_dense), sparse_bound)
        order = np.argsort(bound, kind="mergesort")  # stable: smaller L_d first on ties
        best = INFEASIBLE_CYCLES + 1
        best_dense = -1
        for k in range(n_split):
            n_dense = order[k]
            if bound[n_dense] > best:
                break
            if bound[n_dense] == best and n_dense > best_dense:
                continue
            sparse = _sparse_time(
                row_work,
                sorted_work,
                total,
                max_work,
                n_lines_total - n_dense,
                policy,
                buf_load,
                buf_idx,
            )
            t = max(_dense_time(pairs, per_pair, n_dense), sparse)
            if t < best or (t == best and n_dense < best_dense):
                best = t
                best_dense = n_dense
        dense_lines[h] = best_dense
        cycles[h] = best
    return dense_lines, cycles
