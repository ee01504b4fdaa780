"""Polarization: split each head's kept mask into a denser and a sparser workload.

ViTCoD (You et al., HPCA 2023, Sec. 4.2) calls a key column kept by many queries a *global
token*. Global tokens are moved to the front by one permutation of the tokens (rows and
columns alike for square maps); the ``n_q x G`` block of global columns is the *denser*
workload, computed densely with its zeros, and the rest is the *sparser* workload, computed
from indices (CSR).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vitsim.errors import VitsimError


@dataclass(frozen=True)
class PolarizedHead:
    """One head after polarization, in the permuted token order.

    ``perm[i]`` is the original key index at position ``i``; global tokens are positions
    ``0 .. n_global - 1``. Rows follow the same permutation when the map is square (``row_perm``)
    and keep their order otherwise. Both regions are CSR over the permuted rows, with column
    indices in permuted coordinates: the denser one's are ``< n_global``, the sparser one's
    ``>= n_global``.
    """

    n_q: int
    n_k: int
    n_global: int
    perm: np.ndarray  # int32 [n_k]
    row_perm: np.ndarray  # int32 [n_q]
    dense_row_nnz: np.ndarray  # int32 [n_q]: kept entries in the global columns
    dense_indices: np.ndarray  # int32 [dense nnz]
    sparse_row_nnz: np.ndarray  # int32 [n_q]
    sparse_indices: np.ndarray  # int32 [sparse nnz]

    @property
    def dense_nnz(self) -> int:
        return int(self.dense_row_nnz.sum())

    @property
    def sparse_nnz(self) -> int:
        return int(self.sparse_row_nnz.sum())

    @property
    def kept(self) -> int:
        return self.dense_nnz + self.sparse_nnz

    def permuted_mask(self) -> np.ndarray:
        """The kept mask ``[n_q, n_k]`` in permuted order (for plots and checks)."""
        mask = np.zeros((self.n_q, self.n_k), dtype=bool)
        for nnz, idx in ((self.dense_row_nnz, self.dense_indices),
                         (self.sparse_row_nnz, self.sparse_indices)):
            rows = np.repeat(np.arange(self.n_q), nnz)
            mask[rows, idx] = True
        return mask


def global_tokens(kept: np.ndarray, threshold: int) -> np.ndarray:
    """Indices of key columns kept by *more than* ``threshold`` queries (ascending)."""
    kept = np.asarray(kept, dtype=bool)
    if kept.ndim != 2:
        raise VitsimError(f"expected a [n_q, n_k] mask, got shape {kept.shape}", field="mask")
    return np.flatnonzero(kept.sum(axis=0) > threshold).astype(np.int32)


def global_tokens_for_fraction(kept: np.ndarray, dense_fraction: float) -> np.ndarray:
    """The fewest most-kept columns holding at least ``dense_fraction`` of the kept entries."""
    if not 0.0 <= dense_fraction <= 1.0:
        raise VitsimError(f"dense fraction must be in [0, 1], got {dense_fraction}",
                          field="dense_fraction")
    counts = np.asarray(kept, dtype=bool).sum(axis=0)
    total = counts.sum()
    if total == 0 or dense_fraction == 0.0:
        return np.zeros(0, dtype=np.int32)
    order = np.argsort(-counts, kind="stable")
    n_global = int(np.searchsorted(np.cumsum(counts[order]), dense_fraction * total) + 1)
    return np.sort(order[:n_global]).astype(np.int32)


def polarize_head(kept: np.ndarray, global_idx: np.ndarray, *, square: bool) -> PolarizedHead:
    """Permute one head's kept mask so ``global_idx`` come first; split it into two regions."""
    kept = np.asarray(kept, dtype=bool)
    n_q, n_k = kept.shape
    is_global = np.zeros(n_k, dtype=bool)
    is_global[global_idx] = True
    perm = np.concatenate([np.flatnonzero(is_global), np.flatnonzero(~is_global)]).astype(np.int32)
    row_perm = perm if square else np.arange(n_q, dtype=np.int32)
    permuted = kept[np.ix_(row_perm, perm)]
    n_global = int(is_global.sum())
    rows, cols = np.nonzero(permuted)  # row-major: CSR order, columns ascending per row
    in_dense = cols < n_global
    dense_row_nnz = np.bincount(rows[in_dense], minlength=n_q).astype(np.int32)
    sparse_row_nnz = np.bincount(rows[~in_dense], minlength=n_q).astype(np.int32)
    return PolarizedHead(
        n_q=n_q, n_k=n_k, n_global=n_global, perm=perm, row_perm=row_perm,
        dense_row_nnz=dense_row_nnz, dense_indices=cols[in_dense].astype(np.int32),
        sparse_row_nnz=sparse_row_nnz, sparse_indices=cols[~in_dense].astype(np.int32),
    )
