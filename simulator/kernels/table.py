"""The stage table of one hardware point, filled and summed in two kernel calls.

:func:`place_group` writes a block group's rows into the ``[column, row]`` matrix at their
table positions; :func:`price_rows` truncates the integer columns and prices every row
(energy by component); :func:`table_sums` takes the sums the totals are made of. Every sum is
:func:`pairwise_sum`, numpy's own summation of a float64 vector (``ndarray.sum``), so the
totals are the very floats that summing the stage table's columns with numpy gives.
"""

from __future__ import annotations

import numpy as np

from vitsim.simulator.kernels.jit import jit

PAIRWISE_BLOCK = 128  # numpy's PW_BLOCKSIZE: below it, eight running sums
UNROLL = 8  # numpy's unroll factor of the blocked sum


@jit
def pairwise_sum(a):
    """``a.sum()`` of a float64 vector (any stride) as numpy computes it, bit for bit.

    numpy's ``add.reduce`` over a contiguous run (``loops_utils.h.src``, ``pairwise_sum``):
    under 8 elements a plain running sum from 0; up to 128, eight interleaved running sums
    combined as ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))`` and the remainder
    added in order; above, the two halves (the first a multiple of 8 long) summed the same
    way and added.
    """
    n = a.shape[0]
    if n < UNROLL:
        res = 0.0
        for i in range(n):
            res += a[i]
        return res
    if n <= PAIRWISE_BLOCK:
        r0, r1, r2, r3 = a[0], a[1], a[2], a[3]
        r4, r5, r6, r7 = a[4], a[5], a[6], a[7]
        i = UNROLL
        stop = n - n % UNROLL
        while i < stop:
            r0 += a[i]
            r1 += a[i + 1]
            r2 += a[i + 2]
            r3 += a[i + 3]
            r4 += a[i + 4]
            r5 += a[i + 5]
            r6 += a[i + 6]
            r7 += a[i + 7]
            i += UNROLL
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[i]
            i += 1
        return res
    half = n // 2
    half -= half % UNROLL
    return pairwise_sum(a[:half]) + pairwise_sum(a[half:])


@jit
def place_group(values, scalars, scalar_dest, heads, head_dest):
    """Write one block group's rows into ``values`` (float64 ``[column, row]``).

    ``scalars``: ``[column, S]``, the rows every block of the group repeats (its linear,
    vector and encoder stages); ``scalar_dest``: int64 ``[blocks, S]``, their rows in the
    table. ``heads``: ``[column, stage, H]``, the per-head rows of all the group's heads;
    ``head_dest``: int64 ``[stage, H]``.
    """
    n_col = values.shape[0]
    for b in range(scalar_dest.shape[0]):
        for s in range(scalar_dest.shape[1]):
            r = scalar_dest[b, s]
            for c in range(n_col):
                values[c, r] = scalars[c, s]
    for st in range(head_dest.shape[0]):
        for j in range(head_dest.shape[1]):
            r = head_dest[st, j]
            for c in range(n_col):
                values[c, r] = heads[c, st, j]


@jit
def _gathered_sum(row, rows):
    buf = np.empty(rows.shape[0])
    for i in range(rows.shape[0]):
        buf[i] = row[rows[i]]
    return pairwise_sum(buf)


@jit
def price_rows(values, integer_columns, cols, n_buf, op_prices, sram_prices, dram_price,
               leakage):
    """Truncate a filled stage matrix's integer columns in place and price its rows.

    ``values``: float64 ``[column, row]`` in table order; the columns ``integer_columns``
    (int64) are truncated toward zero, as an integer column of the table holds them.
    ``cols``: int64 column indices ``[macs, codec MACs, softmax ops, vector ops, DRAM read
    bytes, DRAM write bytes, total cycles, first SRAM read, first SRAM write, ...]`` (the
    ``n_buf`` buffers' reads and writes are consecutive). Prices in pJ: ``op_prices`` [4]
    (MAC, codec MAC, softmax op, vector op), ``sram_prices`` [2, n_buf] (read, write per
    byte), ``dram_price`` per byte, ``leakage`` per cycle.

    Returns the energy ``[component, row]`` in pJ: MAC, codec, softmax, vector, the buffers,
    DRAM, leakage (the products of :func:`vitsim.simulator.energy.stage_energy_pj`).
    """
    n_row = values.shape[1]
    for c in integer_columns:
        for r in range(n_row):
            values[c, r] = np.trunc(values[c, r])
    macs, codec, softmax, vector = cols[0], cols[1], cols[2], cols[3]
    dram_r, dram_w, total = cols[4], cols[5], cols[6]
    reads, writes = cols[7], cols[8]
    energy = np.empty((6 + n_buf, n_row))
    for r in range(n_row):
        energy[0, r] = values[macs, r] * op_prices[0]
        energy[1, r] = values[codec, r] * op_prices[1]
        energy[2, r] = values[softmax, r] * op_prices[2]
        energy[3, r] = values[vector, r] * op_prices[3]
        for b in range(n_buf):
            energy[4 + b, r] = (values[reads + b, r] * sram_prices[0, b]
                                + values[writes + b, r] * sram_prices[1, b])
        energy[4 + n_buf, r] = (values[dram_r, r] + values[dram_w, r]) * dram_price
        energy[5 + n_buf, r] = values[total, r] * leakage
    return energy


@jit
def table_sums(values, energy, cols, width, attention_rows, scope_rows):
    """The sums a run's totals are made of, each :func:`pairwise_sum` (numpy's).

    ``values``: float64 ``[column, row]``; ``energy``: ``[component, row]``; ``cols`` as
    for :func:`price_rows`, then ``[..., dense lines, sparse lines, dense MACs, sparse
    MACs]`` at 9 to 12. ``width``: MACs per line.

    Returns ``(column_sums, component_sums, extra)``: the sum of every column and of every
    component, and ``extra`` [9]: over ``attention_rows`` the sums of total cycles, of dense
    lines x width x cycles, of sparse lines x width x cycles, of dense MACs and of sparse
    MACs; over ``scope_rows`` of total cycles, of the rows' energy (the components added in
    order), of DRAM read and of DRAM write bytes.
    """
    n_col = values.shape[0]
    n_comp = energy.shape[0]
    dram_r, dram_w, total = cols[4], cols[5], cols[6]
    column_sums = np.empty(n_col)
    for c in range(n_col):
        column_sums[c] = pairwise_sum(values[c])
    component_sums = np.empty(n_comp)
    for k in range(n_comp):
        component_sums[k] = pairwise_sum(energy[k])
    extra = np.empty(9)
    n_att = attention_rows.shape[0]
    dense_cap = np.empty(n_att)
    sparse_cap = np.empty(n_att)
    for i in range(n_att):
        r = attention_rows[i]
        dense_cap[i] = values[cols[9], r] * width * values[total, r]
        sparse_cap[i] = values[cols[10], r] * width * values[total, r]
    extra[0] = _gathered_sum(values[total], attention_rows)
    extra[1] = pairwise_sum(dense_cap)
    extra[2] = pairwise_sum(sparse_cap)
    extra[3] = _gathered_sum(values[cols[11]], attention_rows)
    extra[4] = _gathered_sum(values[cols[12]], attention_rows)
    extra[5] = _gathered_sum(values[total], scope_rows)
    row_energy = np.empty(scope_rows.shape[0])
    for i in range(scope_rows.shape[0]):
        r = scope_rows[i]
        e = energy[0, r]
        for k in range(1, n_comp):
            e += energy[k, r]
        row_energy[i] = e
    extra[6] = pairwise_sum(row_energy)
    extra[7] = _gathered_sum(values[dram_r], scope_rows)
    extra[8] = _gathered_sum(values[dram_w], scope_rows)
    return column_sums, component_sums, extra
