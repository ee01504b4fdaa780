"""How loads, compute and stores of a sequence of tiles overlap: computed, not assumed.

Two resources: one DRAM channel that performs loads and stores one at a time, and one compute
engine that processes tiles in order. Every tile ``i`` has a load ``L_i``, a compute ``C_i``
and a store ``S_i`` (cycles, any of them may be 0).
"""

from __future__ import annotations

import numpy as np

from vitsim.simulator.kernels.jit import jit
from vitsim.simulator.kernels.sums import pairwise_sum


@jit
def tile_timeline(load_cycles, compute_cycles, store_cycles, double_buffered):
    """Total, stall and DRAM-busy cycles of a tile sequence.

    ``load_cycles``, ``compute_cycles``, ``store_cycles``: float64 [T], cycles of each tile's
    DRAM load, computation and DRAM store (>= 0). ``double_buffered``: whether the input and
    the output buffers each have two slots.

    Returns ``(total_cycles, stall_cycles, dram_busy_cycles)`` as floats: the end of the
    last store (never before the last compute ends), ``total - sum(compute)`` (cycles in
    which the engine does not compute) and ``sum(load) + sum(store)``. An empty sequence
    takes 0.

    **Single buffer**: strictly serial, ``L0 C0 S0 L1 C1 S1 ...``; the total is the sum of
    all three arrays.

    **Double buffer** (ping-pong input and output buffers):

    * load ``i`` needs load ``i-1`` finished and input slot ``i % 2`` free, i.e. compute
      ``i-2`` ended (its ready time is the later of the two);
    * compute ``i`` needs load ``i`` finished, compute ``i-1`` ended and output slot
      ``i % 2`` free, i.e. store ``i-2`` finished;
    * store ``i`` needs compute ``i`` ended (its ready time);
    * the channel is non-preemptive and first come, first served: whenever it is free it
      starts, of the next load and the next store, the one with the earlier ready time (even
      if that time is still to come), and on a tie the **store** (it belongs to the older
      tile and frees an output slot). Loads and stores each stay in tile order.

    Under this channel order store ``i-2`` (ready when compute ``i-2`` ends) always goes
    before load ``i`` (ready no earlier), so the output-slot condition never actually delays
    a compute; it is kept so the model stays right if the channel rule changes.

    Four tiles with ``L = S = 1`` and ``C = 3`` (one column per cycle)::

        cycle    0  1  2  3  4  5  6  7  8  9 10 11 12 13
        DRAM    L0 L1  .  . S0 L2  . S1 L3  . S2  .  . S3
        engine   . C0 C0 C0 C1 C1 C1 C2 C2 C2 C3 C3 C3  .

    ``L1`` overlaps ``C0``; ``L2`` needs slot 0, freed when ``C0`` ends at 4, when ``S0``
    becomes ready too: the tie goes to ``S0``. Total 14 cycles, 2 of them stalls (the first
    load and the last store), against 20 serial cycles.

    The schedule is built in one pass over the channel's operations in order, O(T).
    """
    n_tiles = load_cycles.shape[0]
    if compute_cycles.shape[0] != n_tiles or store_cycles.shape[0] != n_tiles:
        raise ValueError("load, compute and store cycles must have the same length")
    compute_sum = 0.0
    dram_busy = 0.0
    for i in range(n_tiles):
        if not (load_cycles[i] >= 0.0 and compute_cycles[i] >= 0.0 and store_cycles[i] >= 0.0):
            raise ValueError("cycles must be >= 0 (and not NaN)")
        compute_sum += compute_cycles[i]
        dram_busy += load_cycles[i]
        dram_busy += store_cycles[i]
    if n_tiles == 0:
        return 0.0, 0.0, 0.0

    if not double_buffered:
        t = 0.0
        for i in range(n_tiles):
            t += load_cycles[i]
            t += compute_cycles[i]
            t += store_cycles[i]
        return t, t - compute_sum, dram_busy

    load_end = np.empty(n_tiles)
    compute_end = np.empty(n_tiles)
    store_end = np.empty(n_tiles)
    next_load = 0
    next_compute = 0
    next_store = 0
    channel_free = 0.0
    while next_store < n_tiles:
        # Every compute whose inputs are known is placed at once; the engine never waits for
        # the channel's choice beyond these dependencies.
        while next_compute < next_load and (next_compute < 2 or next_compute - 2 < next_store):
            c = next_compute
            start = load_end[c]
            if c >= 1:
                start = max(start, compute_end[c - 1])
            if c >= 2:
                start = max(start, store_end[c - 2])
            compute_end[c] = start + compute_cycles[c]
            next_compute += 1
        # The next load's ready time is known once compute next_load-2 is placed; the next
        # store's once its compute is. At least one of them always is (a store that is not
        # known waits for the next load; a load that is not known waits, through compute
        # next_load-2, for the next store).
        load_known = next_load < n_tiles and (next_load < 2 or next_load - 2 < next_compute)
        store_known = next_store < next_compute
        load_ready = 0.0
        if load_known:
            if next_load >= 1:
                load_ready = load_end[next_load - 1]
            if next_load >= 2:
                load_ready = max(load_ready, compute_end[next_load - 2])
        if store_known and (not load_known or compute_end[next_store] <= load_ready):
            b = next_store
            store_end[b] = max(compute_end[b], channel_free) + store_cycles[b]
            channel_free = store_end[b]
            next_store += 1
        else:
            a = next_load
            load_end[a] = max(load_ready, channel_free) + load_cycles[a]
            channel_free = load_end[a]
            next_load += 1
    total = store_end[n_tiles - 1]  # a store never ends before its compute
    return total, total - compute_sum, dram_busy


@jit
def segment_timelines(load_cycles, compute_cycles, store_cycles, offsets, double_buffered):
    """:func:`tile_timeline` of several independent tile sequences laid end to end.

    Segment ``s`` is tiles ``offsets[s]:offsets[s + 1]`` (``offsets``: int64 [S + 1],
    non-decreasing, from 0 to T); each gets its own timeline (it starts with empty buffers
    and an idle channel). Returns float64 ``(total, stall)``, each [S].
    """
    n_seg = offsets.shape[0] - 1
    if n_seg < 0 or offsets[0] != 0 or offsets[n_seg] != load_cycles.shape[0]:
        raise ValueError("offsets must run from 0 to the number of tiles")
    totals = np.empty(n_seg)
    stalls = np.empty(n_seg)
    for s in range(n_seg):
        a, b = offsets[s], offsets[s + 1]
        if b < a:
            raise ValueError("offsets must be non-decreasing")
        total, stall, _ = tile_timeline(load_cycles[a:b], compute_cycles[a:b],
                                        store_cycles[a:b], double_buffered)
        totals[s] = total
        stalls[s] = stall
    return totals, stalls


@jit
def segment_stalls(load_cycles, compute_cycles, store_cycles, offsets, double_buffered):
    """The stall cycles of :func:`segment_timelines`: float64 [S]."""
    return segment_timelines(load_cycles, compute_cycles, store_cycles, offsets,
                             double_buffered)[1]


@jit
def head_stalls(head_load_bytes, unit_first, unit_tiles, tile_compute, tile_store_bytes,
                tile_offsets, n_blocks, heads_per_unit, double_buffered, bytes_per_cycle):
    """Stall cycles of every head of a block group's attention at ``bytes_per_cycle``.

    ``head_load_bytes``: float64 [H], the bytes each head loads (``H = n_blocks x h``,
    block-major); ``unit_first``: int64 [U], the first head of each unit (a group of
    ``heads_per_unit`` consecutive heads of a block on the array at once); ``unit_tiles``:
    int64 [U], the unit's query tiles, which share its loads equally; ``tile_compute`` and
    ``tile_store_bytes``: float64 [T], every tile's cycles and stored bytes;
    ``tile_offsets``: int64 [n_blocks + 1], one tile timeline per block
    (:func:`segment_stalls`). A block's stall goes to its heads in proportion to their
    loads (equally when it loads nothing).

    Every sum is the one numpy takes (a unit's: ``np.add.reduceat``, the first head plus
    the pairwise sum of the rest; a block's: the pairwise sum), so the stalls are those of
    the array expression in ``tests/test_kernels.py`` bit for bit. Returns float64 [H].
    """
    n_heads = head_load_bytes.shape[0]
    n_units = unit_first.shape[0]
    head_load = np.empty(n_heads)
    for i in range(n_heads):
        head_load[i] = head_load_bytes[i] / bytes_per_cycle
    n_tiles = tile_compute.shape[0]
    loads = np.empty(n_tiles)
    stores = np.empty(n_tiles)
    k = 0
    for u in range(n_units):
        if heads_per_unit > 1:
            start = unit_first[u]
            stop = unit_first[u + 1] if u + 1 < n_units else n_heads
            unit_load = head_load[start] + pairwise_sum(head_load[start + 1:stop])
        else:
            unit_load = head_load[u]
        per_tile = unit_load / unit_tiles[u]
        for _ in range(unit_tiles[u]):
            loads[k] = per_tile
            k += 1
    if k != n_tiles:
        raise ValueError("the units' tiles must add up to the tiles")
    for t in range(n_tiles):
        stores[t] = tile_store_bytes[t] / bytes_per_cycle
    stall = segment_stalls(loads, tile_compute, stores, tile_offsets, double_buffered)
    out = np.empty(n_heads)
    h = n_heads // n_blocks if n_blocks else 0
    for b in range(n_blocks):
        total = pairwise_sum(head_load[b * h:(b + 1) * h])
        for j in range(h):
            share = head_load[b * h + j] / total if total > 0 else 1.0 / h
            out[b * h + j] = share * stall[b]
    return out
