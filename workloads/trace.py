"""The workload trace: the polarized attention of every head plus the model's GEMMs.

A :class:`WorkloadTrace` is what the simulator consumes. Its attention part is stored flat:
per-head scalars in arrays of length ``n_heads_total`` and the variable-length parts
(permutations, per-row counts, column indices) concatenated with offset arrays, so memory is
proportional to the kept scores and never holds a dense ``N x N`` map per head.

On disk it is one ``.npz`` (no pickle) with a JSON document under ``__meta__`` that carries
``schema_version``, the model spec's parameters, and how the trace was made.
"""

from __future__ import annotations

import functools
import hashlib
import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from vitsim.atomic import atomic_output
from vitsim.errors import TraceError, VitsimError
from vitsim.workloads.model_spec import ModelSpec, default_polarize_threshold, spec_from_dict
from vitsim.workloads.polarize import (
    PolarizedHead,
    global_tokens,
    global_tokens_for_fraction,
    polarize_head,
)

SCHEMA_VERSION = 1

# Per-head arrays (length n_heads_total) and ragged arrays with their offset arrays.
_HEAD_FIELDS = ("head_block", "head_index", "n_q", "n_k", "n_global")
_RAGGED = {
    # ragged field: offsets field
    "perm": "perm_offsets",
    "row_perm": "row_offsets",
    "dense_row_nnz": "row_offsets",
    "sparse_row_nnz": "row_offsets",
    "dense_indices": "dense_offsets",
    "sparse_indices": "sparse_offsets",
}
_OFFSETS = ("perm_offsets", "row_offsets", "dense_offsets", "sparse_offsets")
_ALL_FIELDS = (*_HEAD_FIELDS, *_OFFSETS, *_RAGGED)


@dataclass(frozen=True)
class PolarizePolicy:
    """How global tokens are chosen.

    ``threshold``: a key column is global when kept by more than this many queries (default:
    ViTCoD's 50 of 197, scaled to the block's query count). ``dense_fraction``: instead, the
    fewest columns that hold this fraction of the kept scores. ``enabled=False`` makes no
    global token (everything sparse), for ablations.
    """

    threshold: int | None = None
    dense_fraction: float | None = None
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.threshold is not None and self.dense_fraction is not None:
            raise VitsimError("give a polarization threshold or a dense fraction, not both",
                              field="polarize")
        if self.threshold is not None and self.threshold < 0:
            raise VitsimError(f"threshold must be >= 0, got {self.threshold}",
                              field="polarize_threshold")
        if self.dense_fraction is not None and not 0.0 <= self.dense_fraction <= 1.0:
            raise VitsimError(f"dense fraction must be in [0, 1], got {self.dense_fraction}",
                              field="dense_fraction")

    def select(self, kept: np.ndarray) -> np.ndarray:
        """Global key columns of one head's kept mask ``[n_q, n_k]``."""
        if not self.enabled:
            return np.zeros(0, dtype=np.int32)
        if self.dense_fraction is not None:
            return global_tokens_for_fraction(kept, self.dense_fraction)
        threshold = (default_polarize_threshold(kept.shape[0]) if self.threshold is None
                     else self.threshold)
        return global_tokens(kept, threshold)

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "dense_fraction": self.dense_fraction,
                "enabled": self.enabled}


@dataclass(frozen=True, eq=False)
class AttentionTrace:
    """The flat arrays of every head's polarized attention (read-only)."""

    head_block: np.ndarray  # int32 [H]: block (layer) of each head
    head_index: np.ndarray  # int32 [H]: head index within its block
    n_q: np.ndarray  # int32 [H]
    n_k: np.ndarray  # int32 [H]
    n_global: np.ndarray  # int32 [H]
    perm_offsets: np.ndarray  # int64 [H + 1] into perm
    row_offsets: np.ndarray  # int64 [H + 1] into the per-row arrays
    dense_offsets: np.ndarray  # int64 [H + 1] into dense_indices
    sparse_offsets: np.ndarray  # int64 [H + 1] into sparse_indices
    perm: np.ndarray  # int32: key permutation of each head, concatenated
    row_perm: np.ndarray  # int32: row permutation of each head, concatenated
    dense_row_nnz: np.ndarray  # int32: kept scores per row in the global columns
    sparse_row_nnz: np.ndarray  # int32: kept scores per row in the sparser region
    dense_indices: np.ndarray  # int32: permuted column of each kept denser score
    sparse_indices: np.ndarray  # int32: permuted column of each kept sparser score

    def __post_init__(self) -> None:
        for name in _ALL_FIELDS:
            getattr(self, name).flags.writeable = False

    @property
    def n_heads_total(self) -> int:
        return int(self.n_q.shape[0])

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in _ALL_FIELDS}

    def head(self, i: int) -> PolarizedHead:
        """Head ``i`` (in trace order) as a :class:`PolarizedHead` view; no copy."""
        p0, p1 = self.perm_offsets[i], self.perm_offsets[i + 1]
        r0, r1 = self.row_offsets[i], self.row_offsets[i + 1]
        d0, d1 = self.dense_offsets[i], self.dense_offsets[i + 1]
        s0, s1 = self.sparse_offsets[i], self.sparse_offsets[i + 1]
        return PolarizedHead(
            n_q=int(self.n_q[i]), n_k=int(self.n_k[i]), n_global=int(self.n_global[i]),
            perm=self.perm[p0:p1], row_perm=self.row_perm[r0:r1],
            dense_row_nnz=self.dense_row_nnz[r0:r1], dense_indices=self.dense_indices[d0:d1],
            sparse_row_nnz=self.sparse_row_nnz[r0:r1], sparse_indices=self.sparse_indices[s0:s1],
        )

    def dense_nnz(self) -> np.ndarray:
        """Kept scores in each head's denser (global-column) region, int64 [H]."""
        return np.diff(self.dense_offsets)

    def sparse_nnz(self) -> np.ndarray:
        """Kept scores in each head's sparser region, int64 [H]."""
        return np.diff(self.sparse_offsets)


def _check_structure(a: dict[str, np.ndarray], src: str) -> None:
    """Internal consistency of the flat arrays (catches damaged or hand-edited files)."""
    n_heads = a["n_q"].shape[0]

    def fail(field: str, msg: str) -> None:
        raise TraceError(msg, source=src, field=field)

    for name, arr in a.items():
        # Integers only: a permutation stored as floats would pass every value check below
        # and fail later, in whatever indexes with it.
        if arr.dtype.kind not in "iu" or arr.dtype.itemsize > 8:
            fail(name, f"expected an integer array, got dtype {arr.dtype}")
        if arr.ndim != 1:
            fail(name, f"expected a one-dimensional array, got shape {arr.shape}")
    for name in _HEAD_FIELDS:
        if a[name].shape != (n_heads,):
            fail(name, f"expected shape ({n_heads},), got {a[name].shape}")
    for name in _OFFSETS:
        off = a[name]
        if off.shape != (n_heads + 1,) or off[0] != 0 or np.any(np.diff(off) < 0):
            fail(name, "offsets must start at 0, be non-decreasing and have n_heads + 1 entries")
    for field, off_name in _RAGGED.items():
        if a[field].shape != (int(a[off_name][-1]),):
            fail(field, f"length {a[field].shape} does not match {off_name}")
    if not np.array_equal(np.diff(a["perm_offsets"]), a["n_k"]):
        fail("perm_offsets", "permutation lengths differ from n_k")
    if not np.array_equal(np.diff(a["row_offsets"]), a["n_q"]):
        fail("row_offsets", "row counts differ from n_q")
    if np.any(a["n_global"] > a["n_k"]) or np.any(a["n_global"] < 0):
        fail("n_global", "global-token counts must lie in [0, n_k]")
    for field, off_name, size in (("perm", "perm_offsets", "n_k"),
                                  ("row_perm", "row_offsets", "n_q")):
        if not _is_permutation_per_head(a[field], a[off_name], a[size]):
            fail(field, f"each head's {field} must be a permutation of 0..{size}-1")
    for field, off_name, lo, hi in (("dense_indices", "dense_offsets", None, "n_global"),
                                    ("sparse_indices", "sparse_offsets", "n_global", "n_k")):
        lo_v = np.zeros(n_heads, np.int64) if lo is None else a[lo].astype(np.int64)
        if not _within_per_head(a[field], a[off_name], lo_v, a[hi].astype(np.int64)):
            fail(field, f"column indices must lie in [{lo or 0}, {hi}) of their head")
    rows = np.diff(a["row_offsets"])
    for nnz_field, off_name in (("dense_row_nnz", "dense_offsets"),
                                ("sparse_row_nnz", "sparse_offsets")):
        per_head = np.add.reduceat(a[nnz_field].astype(np.int64), a["row_offsets"][:-1]) \
            if a[nnz_field].size else np.zeros(n_heads, dtype=np.int64)
        per_head = np.where(rows > 0, per_head, 0)
        if not np.array_equal(per_head, np.diff(a[off_name])):
            fail(nnz_field, f"row counts do not add up to {off_name}")


def _per_head_extremes(values: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, ...]:
    """(non-empty mask, min, max) of each head's slice of a ragged array."""
    counts = np.diff(offsets)
    nonempty = counts > 0
    starts = offsets[:-1][nonempty]
    if not values.size:
        return nonempty, np.zeros(0, np.int64), np.zeros(0, np.int64)
    return (nonempty, np.minimum.reduceat(values, starts).astype(np.int64),
            np.maximum.reduceat(values, starts).astype(np.int64))


def _within_per_head(values: np.ndarray, offsets: np.ndarray, lo: np.ndarray,
                     hi: np.ndarray) -> bool:
    """Every head's values lie in [lo, hi) of that head."""
    nonempty, vmin, vmax = _per_head_extremes(values, offsets)
    return bool(np.all(vmin >= lo[nonempty]) and np.all(vmax < hi[nonempty]))


def _is_permutation_per_head(values: np.ndarray, offsets: np.ndarray, sizes: np.ndarray) -> bool:
    """Every head's slice is a permutation of 0..size-1 (lengths checked elsewhere): in
    range, and no value twice (a sorted copy per head, one pass)."""
    sizes = sizes.astype(np.int64)
    if not _within_per_head(values, offsets, np.zeros_like(sizes), sizes):
        return False
    head = np.repeat(np.arange(sizes.shape[0], dtype=np.int64), np.diff(offsets))
    keyed = np.sort(head * (int(sizes.max(initial=0)) + 1) + values)
    return bool(keyed.size < 2 or np.all(np.diff(keyed) > 0))


@dataclass(frozen=True, eq=False)
class WorkloadTrace:
    """The polarized attention workload of a model, with the model's linear-layer shapes."""

    spec: ModelSpec
    attention: AttentionTrace
    meta: MappingProxyType

    @property
    def n_heads_total(self) -> int:
        return self.attention.n_heads_total

    def heads(self) -> Iterator[tuple[int, int, PolarizedHead]]:
        """(block index, head index, head) for every head, in execution order."""
        at = self.attention
        for i in range(at.n_heads_total):
            yield int(at.head_block[i]), int(at.head_index[i]), at.head(i)

    def kept_density(self) -> float:
        """Kept scores over all scores of all heads."""
        at = self.attention
        total = int(np.sum(at.n_q.astype(np.int64) * at.n_k))
        kept = int(at.dense_offsets[-1] + at.sparse_offsets[-1])
        return kept / total if total else 0.0

    def head_density(self) -> np.ndarray:
        """Kept density of each head, float64 [H]."""
        at = self.attention
        kept = at.dense_nnz() + at.sparse_nnz()
        return kept / (at.n_q.astype(np.int64) * at.n_k)

    @functools.cached_property
    def _hash(self) -> str:
        return self._compute_hash()

    def content_hash(self) -> str:
        """SHA-256 over the metadata and every array: the trace's identity in run records."""
        return self._hash

    def _compute_hash(self) -> str:
        h = hashlib.sha256(json.dumps(dict(self.meta), sort_keys=True).encode())
        for name, arr in sorted(self.attention.arrays().items()):
            h.update(name.encode())
            # the array's own buffer (a copy only if it is not C-contiguous): the same bytes
            # as tobytes() without a second copy of a ViT-H trace's hundreds of MiB
            h.update(np.ascontiguousarray(arr).data.cast("B"))
        return h.hexdigest()

    def save(self, path: str | Path) -> None:
        """Write the trace atomically: on failure the previous file (if any) is untouched."""
        arrays: dict[str, Any] = dict(self.attention.arrays())
        arrays["__meta__"] = np.frombuffer(
            json.dumps(dict(self.meta), sort_keys=True).encode(), dtype=np.uint8)
        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> WorkloadTrace:
        src = str(path)
        if not Path(path).is_file():
            raise TraceError("no such trace file", source=src)
        if not zipfile.is_zipfile(path):
            raise TraceError("not a vitsim trace (not an .npz archive)", source=src)
        try:
            with np.load(path, allow_pickle=False) as npz:
                if "__meta__" not in npz:
                    raise TraceError("not a vitsim trace (no __meta__)", source=src)
                meta = json.loads(bytes(npz["__meta__"]).decode())
                if not isinstance(meta, dict):
                    raise TraceError("metadata is not a JSON object", source=src,
                                     field="__meta__")
                missing = [f for f in _ALL_FIELDS if f not in npz]
                if missing:
                    raise TraceError(f"missing arrays {missing}", source=src)
                arrays = {f: np.asarray(npz[f]) for f in _ALL_FIELDS}
        except TraceError:
            raise
        except (ValueError, OSError, EOFError, KeyError, json.JSONDecodeError,
                zipfile.BadZipFile) as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise TraceError(f"not a readable trace file ({reason})", source=src) from None
        version = meta.get("schema_version")
        if version != SCHEMA_VERSION:
            raise TraceError(f"schema version {version!r}; this vitsim reads {SCHEMA_VERSION}",
                             source=src, field="schema_version")
        if "model" not in meta:
            raise TraceError("metadata has no model", source=src, field="model")
        try:
            spec = spec_from_dict(meta["model"], source=f"{src} (model)")
        except VitsimError as err:
            field = f"model.{err.field}" if err.field else "model"
            raise TraceError(err.message, source=src, field=field) from None
        _check_structure(arrays, src)
        _check_against_spec(arrays, spec, src)
        # The dtypes the rest of the code expects (a valid file may store narrower integers).
        arrays = {f: np.ascontiguousarray(a, dtype=np.int64 if f in _OFFSETS else np.int32)
                  for f, a in arrays.items()}
        return cls(spec, AttentionTrace(**arrays), MappingProxyType(meta))


def _check_against_spec(a: dict[str, np.ndarray], spec: ModelSpec, src: str) -> None:
    blocks = [(bi, hi) for bi, b in enumerate(spec.blocks) for hi in range(b.n_heads)]
    expected_block = np.array([bi for bi, _ in blocks], dtype=np.int32)
    expected_head = np.array([hi for _, hi in blocks], dtype=np.int32)
    if not (np.array_equal(a["head_block"], expected_block)
            and np.array_equal(a["head_index"], expected_head)):
        raise TraceError(f"heads do not match model {spec.name}", source=src, field="head_block")
    nq = np.array([spec.blocks[bi].n_q_tokens for bi, _ in blocks], dtype=np.int32)
    nk = np.array([spec.blocks[bi].n_k_tokens for bi, _ in blocks], dtype=np.int32)
    if not (np.array_equal(a["n_q"], nq) and np.array_equal(a["n_k"], nk)):
        raise TraceError(f"token counts do not match model {spec.name}", source=src, field="n_q")


def build_trace(
    spec: ModelSpec,
    kept_blocks: Iterable[np.ndarray],
    *,
    policy: PolarizePolicy | None = None,
    meta: dict[str, Any] | None = None,
) -> WorkloadTrace:
    """Polarize every head of ``kept_blocks`` (kept bool ``[n_heads, n_q, n_k]`` per block).

    Blocks are consumed one at a time, so a generator of masks keeps memory at one block's
    dense masks plus the kept scores of the trace.
    """
    policy = policy or PolarizePolicy()
    parts: dict[str, list[np.ndarray]] = {f: [] for f in _RAGGED}
    head_rows: list[tuple[int, int, int, int, int]] = []
    n_blocks = 0
    for bi, kept in enumerate(kept_blocks):
        if bi >= spec.n_layers:
            raise VitsimError(f"more mask blocks than the {spec.n_layers} model blocks",
                              field="blocks")
        block = spec.blocks[bi]
        n_blocks += 1
        kept = np.asarray(kept, dtype=bool)
        expected = (block.n_heads, block.n_q_tokens, block.n_k_tokens)
        if kept.shape != expected:
            raise VitsimError(f"mask shape {kept.shape}, expected {expected}",
                              field=f"block {bi}")
        for hi in range(block.n_heads):
            head = polarize_head(kept[hi], policy.select(kept[hi]), square=block.square)
            head_rows.append((bi, hi, head.n_q, head.n_k, head.n_global))
            for f in _RAGGED:
                parts[f].append(getattr(head, f))
    if n_blocks != spec.n_layers:
        raise VitsimError(f"{n_blocks} mask blocks for {spec.n_layers} model blocks",
                          field="blocks")
    heads = np.array(head_rows, dtype=np.int32).reshape(-1, 5)
    arrays: dict[str, np.ndarray] = {
        name: np.ascontiguousarray(heads[:, j]) for j, name in enumerate(_HEAD_FIELDS)
    }
    for f in _RAGGED:
        arrays[f] = np.concatenate(parts[f]).astype(np.int32) if parts[f] else \
            np.zeros(0, dtype=np.int32)
    arrays["perm_offsets"] = _offsets(parts["perm"])
    arrays["row_offsets"] = _offsets(parts["row_perm"])
    arrays["dense_offsets"] = _offsets(parts["dense_indices"])
    arrays["sparse_offsets"] = _offsets(parts["sparse_indices"])
    full_meta = {"schema_version": SCHEMA_VERSION, "model": spec.to_dict(),
                 "polarize": policy.to_dict(), **(meta or {})}
    return WorkloadTrace(spec, AttentionTrace(**arrays), MappingProxyType(full_meta))


def _offsets(pieces: list[np.ndarray]) -> np.ndarray:
    out = np.zeros(len(pieces) + 1, dtype=np.int64)
    np.cumsum([p.shape[0] for p in pieces], out=out[1:])
    return out
