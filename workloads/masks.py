"""Attention masks from files: loading, conventions, validation against a model.

A mask file holds, per attention block, a boolean (or 0/1) array ``[n_heads, n_q, n_k]``:

- ``.npy``: one array ``[n_layers, n_heads, N, N]`` (models whose blocks all have the same
  shape, e.g. ViT/DeiT). This is the format ViTCoD released.
- ``.npz``: either one such 4-D array (any key), or one 3-D array per block under the keys
  ``block_0``, ``block_1``, ... (models whose blocks differ, e.g. LeViT).

The convention must be explicit: ``pruned`` (True = removed, ViTCoD's files) or ``kept``.
"""

from __future__ import annotations

import logging
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from vitsim.errors import MaskError
from vitsim.workloads.model_spec import ModelSpec

log = logging.getLogger(__name__)

_BLOCK_KEY = re.compile(r"^block_(\d+)$")


class MaskConvention(str, Enum):
    PRUNED = "pruned"  # True = the score is removed (ViTCoD's released masks)
    KEPT = "kept"  # True = the score is computed


@dataclass(frozen=True, eq=False)
class AttentionMasks:
    """Per-block kept masks of one model, read lazily from the file they came from.

    ``raw`` holds the arrays as stored (possibly memory-mapped); :meth:`block` converts one
    block to a kept bool array, so a large model is never held dense all at once.
    """

    raw: tuple[np.ndarray, ...]
    convention: MaskConvention
    source: str

    @property
    def n_blocks(self) -> int:
        return len(self.raw)

    def block(self, i: int) -> np.ndarray:
        """Block ``i`` as a kept mask, bool ``[n_heads, n_q, n_k]``."""
        arr = np.asarray(self.raw[i])
        if arr.dtype != np.bool_:
            arr = arr != 0
        return ~arr if self.convention is MaskConvention.PRUNED else arr.copy()

    def blocks(self) -> Iterator[np.ndarray]:
        for i in range(self.n_blocks):
            yield self.block(i)

    def kept_density(self) -> float:
        kept = sum(int(b.sum()) for b in self.blocks())
        total = sum(int(np.prod(r.shape)) for r in self.raw)
        return kept / total if total else 0.0


def _read_arrays(path: Path) -> list[np.ndarray]:
    src = str(path)
    if not path.exists():
        raise MaskError("no such file", source=src)
    if path.is_dir():
        raise MaskError("is a directory, not a mask file", source=src)
    try:
        if path.suffix == ".npz" or zipfile.is_zipfile(path):
            with np.load(path, allow_pickle=False) as npz:
                keys = list(npz.keys())
                if not keys:
                    raise MaskError("the .npz archive holds no array", source=src)
                numbered = sorted((int(m.group(1)), k) for k in keys
                                  if (m := _BLOCK_KEY.match(k)))
                if numbered:
                    if [i for i, _ in numbered] != list(range(len(numbered))):
                        raise MaskError("block keys must be block_0 .. block_{n-1} without gaps",
                                        source=src, field="block_*")
                    return [npz[k] for _, k in numbered]
                if len(keys) != 1:
                    raise MaskError(f"expected one array or block_<i> keys, found {keys}",
                                    source=src)
                arr = npz[keys[0]]
                return _split_4d(arr, src, keys[0])
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except MaskError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise MaskError(f"not a readable .npy/.npz array file ({reason})", source=src) from None
    if not isinstance(arr, np.ndarray):
        raise MaskError("not an array file", source=src)
    return _split_4d(arr, src, "array")


def _split_4d(arr: np.ndarray, src: str, field: str) -> list[np.ndarray]:
    if arr.ndim != 4:
        raise MaskError(f"expected a 4-D array [layers, heads, N, N], got shape {arr.shape}",
                        source=src, field=field)
    return [arr[i] for i in range(arr.shape[0])]


def _check_values(arr: np.ndarray, src: str, field: str) -> None:
    if arr.dtype == np.bool_:
        return
    if arr.dtype.kind not in "iuf":
        raise MaskError(f"expected a bool or 0/1 array, got dtype {arr.dtype}",
                        source=src, field=field)
    values = np.asarray(arr)
    if not np.isin(values, (0, 1)).all():
        raise MaskError("values other than 0 and 1; pass a bool or 0/1 mask "
                        "(probabilities go through pruning first)", source=src, field=field)


def load_masks(
    path: str | Path,
    spec: ModelSpec,
    *,
    convention: MaskConvention | str = MaskConvention.PRUNED,
) -> AttentionMasks:
    """Load and validate a mask file for ``spec``; every problem names the file and field."""
    path = Path(path)
    src = str(path)
    try:
        convention = MaskConvention(convention)
    except ValueError:
        allowed = ", ".join(c.value for c in MaskConvention)
        raise MaskError(f"unknown convention {convention!r}; allowed: {allowed}",
                        source="--convention") from None
    arrays = _read_arrays(path)
    if len(arrays) != spec.n_layers:
        raise MaskError(f"{len(arrays)} layers in the file, model {spec.name} has "
                        f"{spec.n_layers}", source=src, field="layers")
    for i, (arr, block) in enumerate(zip(arrays, spec.blocks, strict=True)):
        field = f"block {i}"
        if arr.ndim != 3:
            raise MaskError(f"expected [heads, n_q, n_k], got shape {arr.shape}",
                            source=src, field=field)
        if block.square and arr.shape[1] != arr.shape[2]:
            raise MaskError(f"mask is not square: {arr.shape[1]} x {arr.shape[2]}",
                            source=src, field=field)
        expected = (block.n_heads, block.n_q_tokens, block.n_k_tokens)
        if arr.shape != expected:
            raise MaskError(f"shape {arr.shape} does not fit model {spec.name} "
                            f"(expected {expected})", source=src, field=field)
        _check_values(arr, src, field)
    masks = AttentionMasks(tuple(arrays), convention, src)
    for i, (kept, block) in enumerate(zip(masks.blocks(), spec.blocks, strict=True)):
        if block.has_cls and not (kept[:, 0, :].all() and kept[:, :, 0].all()):
            log.warning("%s: block %d: the CLS row or column is not fully kept "
                        "(is the convention right?)", src, i)
    return masks
