"""Attention-probability files: what the torch side captures and the pruning side reads.

An attention-maps file is an ``.npz`` with one float array ``[n_heads, n_q, n_k]`` per block
under ``block_0``, ``block_1``, ... (probabilities averaged over a data set; rows sum to 1) and a
JSON document under ``__meta__`` (the model spec's parameters, how many images were averaged).
No pickle is used.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vitsim.atomic import atomic_output
from vitsim.errors import MaskError
from vitsim.workloads.model_spec import ModelSpec

MAPS_SCHEMA_VERSION = 1


@dataclass(frozen=True, eq=False)
class AttentionMaps:
    """Per-block attention probabilities (float32 ``[n_heads, n_q, n_k]``) and metadata."""

    blocks: tuple[np.ndarray, ...]
    meta: dict[str, Any]


def save_attention_maps(path: str | Path, blocks: Sequence[np.ndarray],
                        meta: dict[str, Any] | None = None) -> None:
    meta = {"schema_version": MAPS_SCHEMA_VERSION, **(meta or {})}
    # Any: numpy's stub types **kwds of savez as its own keyword arguments
    arrays: dict[str, Any] = {f"block_{i}": np.asarray(b, dtype=np.float32)
                              for i, b in enumerate(blocks)}
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def load_attention_maps(path: str | Path, spec: ModelSpec | None = None) -> AttentionMaps:
    """Read an attention-maps file; with ``spec``, check every block's shape against it."""
    src = str(path)
    if Path(path).is_file() and not zipfile.is_zipfile(path):
        raise MaskError("not an attention-maps file (not an .npz archive)", source=src)
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(bytes(npz["__meta__"]).decode()) if "__meta__" in npz else {}
            n = sum(1 for k in npz if k.startswith("block_"))
            blocks = tuple(np.asarray(npz[f"block_{i}"], dtype=np.float32) for i in range(n))
    except FileNotFoundError:
        raise MaskError("no such file", source=src) from None
    except (ValueError, OSError, EOFError, KeyError, json.JSONDecodeError,
            zipfile.BadZipFile) as err:
        raise MaskError(f"not a readable attention-maps file ({err})", source=src) from None
    if not blocks:
        raise MaskError("no block_<i> arrays", source=src)
    if spec is not None:
        if len(blocks) != spec.n_layers:
            raise MaskError(f"{len(blocks)} blocks, model {spec.name} has {spec.n_layers}",
                            source=src, field="blocks")
        for i, (b, bs) in enumerate(zip(blocks, spec.blocks, strict=True)):
            if b.shape != (bs.n_heads, bs.n_q_tokens, bs.n_k_tokens):
                raise MaskError(f"shape {b.shape} does not fit model {spec.name}",
                                source=src, field=f"block_{i}")
    return AttentionMaps(blocks, meta)
