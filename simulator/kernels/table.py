"""The stage table of one hardware point, filled, priced and summed by kernels.

:func:`linear_rows_at` times the model's linear and vector rows at a DRAM bandwidth;
:func:`place_group` writes a block group's rows into the ``[column, row]`` matrix at their
table positions; :func:`price_rows` truncates the integer columns and prices every row
(energy by component); :func:`table_sums` takes the sums the totals are made of. Every sum
is :func:`~vitsim.simulator.kernels.sums.pairwise_sum`, numpy's own summation of a float64
vector (``ndarray.sum``), so the totals are the very floats that summing the stage table's
columns with numpy gives.
"""

from __future__ import annotations

import numpy as np

from vitsim.simulator.kernels.jit import jit
from vitsim.simulator.kernels.sums import pairwise_sum
from vitsim.simulator.kernels.timeline import segment_timelines


@jit
def place_group(values, scalars, scalar_dest, heads, head_dest):
    """Write one block group's rows into ``values`` (float64 ``[column, row]``).

    ``scalars``: ``[column, S]``, the rows every block of the group repeats (its linear,
    vector and encoder stages); ``scalar_dest``: int64 ``[blocks, S]``, their rows in the
    table. ``heads``: ``[column, stage, H]``, the per-head rows of all the group's heads;
    ``head_dest``: int64 ``[stage, H]``.
    """
    n_col = values.shape[0]
    for c in range(n_col):
        for b in range(scalar_dest.shape[0]):
            for s in range(scalar_dest.shape[1]):
                values[c, scalar_dest[b, s]] = scalars[c, s]
        for st in range(head_dest.shape[0]):
            for j in range(head_dest.shape[1]):
                values[c, head_dest[st, j]] = heads[c, st, j]


@jit
def place_head_bandwidth(values, qk_dest, sv_dest, cols, stall, qk_busy, qk_bound, qk_dram,
                         sv_bound, sv_dram, bytes_per_cycle):
    """Write the entries of the heads' rows that the DRAM bandwidth sets (``cols``: the
    stall, total and roofline columns) at rows ``qk_dest`` (Q K^T) and ``sv_dest`` (S V),
    int64 [H]: Q K^T's stall ``stall`` and total ``qk_busy + stall``; each stage's roofline,
    the larger of its compute bound and its DRAM bytes over ``bytes_per_cycle``."""
    stall_at, total_at, roof_at = cols[0], cols[1], cols[2]
    for j in range(qk_dest.shape[0]):
        r = qk_dest[j]
        values[stall_at, r] = stall[j]
        values[total_at, r] = qk_busy[j] + stall[j]
        values[roof_at, r] = max(qk_bound[j], qk_dram[j] / bytes_per_cycle)
        values[roof_at, sv_dest[j]] = max(sv_bound[j], sv_dram[j] / bytes_per_cycle)


@jit
def linear_rows_at(base, loads, compute, stores, offsets, double_buffered, bytes_per_cycle,
                   cols, gemm_row, gemm_of, gemm_bound, gemm_dram, vector_row, vector_cycles,
                   vector_dram):
    """Linear and vector stage rows at one DRAM bandwidth: ``base`` (``[column, row]``)
    copied, with the stall, total and roofline cycles (``cols``: their columns) of the rows
    of one GEMM and of one vector occurrence filled in.

    The GEMMs' tiles (``loads`` and ``stores`` in bytes, ``compute`` in cycles) are laid end
    to end by ``offsets`` and timed by :func:`~vitsim.simulator.kernels.timeline.
    segment_timelines`. GEMM row ``gemm_row[i]`` is GEMM ``gemm_of[i]``, its roofline the
    larger of ``gemm_bound[i]`` (MACs over the engine's MACs per cycle) and its DRAM bytes
    ``gemm_dram[i]`` over ``bytes_per_cycle``; vector row ``vector_row[i]`` takes the
    larger of its compute ``vector_cycles[i]`` and its reads ``vector_dram[i]`` over
    ``bytes_per_cycle``, all of it stall beyond the compute.

    Returns ``(rows, totals, stalls)``: the rows and every GEMM's total and stall cycles.
    """
    rows = base.copy()
    stall_at, total_at, roof_at = cols[0], cols[1], cols[2]
    n_tiles = loads.shape[0]
    load_cycles = np.empty(n_tiles)
    store_cycles = np.empty(n_tiles)
    for t in range(n_tiles):
        load_cycles[t] = loads[t] / bytes_per_cycle
        store_cycles[t] = stores[t] / bytes_per_cycle
    totals, stalls = segment_timelines(load_cycles, compute, store_cycles, offsets,
                                       double_buffered)
    for i in range(gemm_row.shape[0]):
        r = gemm_row[i]
        rows[stall_at, r] = stalls[gemm_of[i]]
        rows[total_at, r] = totals[gemm_of[i]]
        rows[roof_at, r] = max(gemm_bound[i], gemm_dram[i] / bytes_per_cycle)
    for i in range(vector_row.shape[0]):
        r = vector_row[i]
        total = max(vector_cycles[i], vector_dram[i] / bytes_per_cycle)
        rows[stall_at, r] = total - vector_cycles[i]
        rows[total_at, r] = total
        rows[roof_at, r] = total
    return rows, totals, stalls


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
    (int64; those priced and summed) are truncated toward zero, as an integer column of the
    table holds them.
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
def table_sums(values, energy, sum_columns, cols, width, attention_rows, scope_rows):
    """The sums a run's totals are made of, each
    :func:`~vitsim.simulator.kernels.sums.pairwise_sum` (numpy's).

    ``values``: float64 ``[column, row]``; ``energy``: ``[component, row]``;
    ``sum_columns``: int64, the columns to sum whole; ``cols`` as for :func:`price_rows`,
    then ``[..., dense lines, sparse lines, dense MACs, sparse MACs]`` at 9 to 12.
    ``width``: MACs per line.

    Returns ``(column_sums, component_sums, extra)``: the sum of each of ``sum_columns``
    and of every component, and ``extra`` [9]: over ``attention_rows`` the sums of total
    cycles, of dense lines x width x cycles, of sparse lines x width x cycles, of dense MACs
    and of sparse MACs; over ``scope_rows`` of total cycles, of the rows' energy (the
    components added in order), of DRAM read and of DRAM write bytes.
    """
    n_comp = energy.shape[0]
    dram_r, dram_w, total = cols[4], cols[5], cols[6]
    column_sums = np.empty(sum_columns.shape[0])
    for i in range(sum_columns.shape[0]):
        column_sums[i] = pairwise_sum(values[sum_columns[i]])
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
