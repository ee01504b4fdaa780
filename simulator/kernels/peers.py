"""Kernels of the peer-accelerator models (:mod:`vitsim.simulator.peers.sanger`).

Sanger's pack-and-split (Lu et al., MICRO 2021; its released ``_eval_load_balance`` in
``modeling_sanger_spattn.py``): every row of a head's mask is cut into ``port_width``-wide
vectors of consecutive key columns (the keys broadcast to the PE array at once); the kept
scores of a vector are packed to the left and split into sub-rows of at most ``pes_per_row``
scores, one sub-row per PE row. All PE rows work on the same vector of keys at a time (the
keys flow down the rows), so a head takes, per key vector, ``ceil(sub-rows / pe_rows)``
passes of the array.
"""

from __future__ import annotations

import numpy as np

from vitsim.simulator.kernels.jit import jit


@jit
def sanger_pack_split(perm, perm_offsets, n_k, row_offsets, dense_row_nnz, dense_indices,
                      dense_offsets, sparse_row_nnz, sparse_indices, sparse_offsets,
                      port_width, pes_per_row, pe_rows, density_factor, skip_empty):
    """Kept scores, packed sub-rows and array passes of every head of a trace.

    Inputs are the flat arrays of :class:`vitsim.workloads.trace.AttentionTrace` (``perm``
    maps a permuted key position to the original key column; ``dense_*``/``sparse_*`` are the
    per-row CSR of the global-column and sparser regions, columns in permuted positions).
    ``port_width``, ``pes_per_row``, ``pe_rows``: ints >= 1. ``density_factor`` (float > 0):
    a vector holding ``c > 0`` kept scores holds ``min(width, ceil(c * density_factor))`` in
    the predicted mask (``width``: its columns, the last vector of a row may be narrower).
    ``skip_empty``: a vector with no kept score takes no PE row (else it takes one).

    Returns ``(kept, sub_rows, passes, key_columns)``, int64 [H] each: kept scores of the
    predicted mask, packed sub-rows, array passes, and the key columns broadcast over all
    passes (``sum over vectors of passes x width``; what the K and V reads follow).
    """
    n_heads = n_k.shape[0]
    kept = np.zeros(n_heads, dtype=np.int64)
    sub_rows = np.zeros(n_heads, dtype=np.int64)
    passes = np.zeros(n_heads, dtype=np.int64)
    key_columns = np.zeros(n_heads, dtype=np.int64)
    max_vectors = 1
    for h in range(n_heads):
        nv = (n_k[h] + port_width - 1) // port_width
        if nv > max_vectors:
            max_vectors = nv
    counts = np.zeros(max_vectors, dtype=np.int64)
    vector_rows = np.zeros(max_vectors, dtype=np.int64)
    for h in range(n_heads):
        nk = n_k[h]
        n_vectors = (nk + port_width - 1) // port_width
        p0 = perm_offsets[h]
        d_ptr = dense_offsets[h]
        s_ptr = sparse_offsets[h]
        for b in range(n_vectors):
            vector_rows[b] = 0
        head_kept = 0
        for r in range(row_offsets[h], row_offsets[h + 1]):
            for b in range(n_vectors):
                counts[b] = 0
            for j in range(dense_row_nnz[r]):
                counts[perm[p0 + dense_indices[d_ptr + j]] // port_width] += 1
            d_ptr += dense_row_nnz[r]
            for j in range(sparse_row_nnz[r]):
                counts[perm[p0 + sparse_indices[s_ptr + j]] // port_width] += 1
            s_ptr += sparse_row_nnz[r]
            for b in range(n_vectors):
                c = counts[b]
                if c > 0:
                    width = min(port_width, nk - b * port_width)
                    if density_factor != 1.0:
                        c = min(width, int(np.ceil(c * density_factor)))
                    head_kept += c
                    vector_rows[b] += (c + pes_per_row - 1) // pes_per_row
                elif not skip_empty:
                    vector_rows[b] += 1
        head_rows = 0
        head_passes = 0
        head_columns = 0
        for b in range(n_vectors):
            vector_passes = (vector_rows[b] + pe_rows - 1) // pe_rows
            head_rows += vector_rows[b]
            head_passes += vector_passes
            head_columns += vector_passes * min(port_width, nk - b * port_width)
        kept[h] = head_kept
        sub_rows[h] = head_rows
        passes[h] = head_passes
        key_columns[h] = head_columns
    return kept, sub_rows, passes, key_columns
