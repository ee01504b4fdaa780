"""Summaries of a workload trace: per-head tables and the JSON document of ``vitsim inspect``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from vitsim.workloads.trace import WorkloadTrace


def heads_frame(trace: WorkloadTrace) -> pd.DataFrame:
    """One row per head: layer, head, tokens, global tokens, kept scores by region, density."""
    at = trace.attention
    dense = at.dense_nnz()
    sparse = at.sparse_nnz()
    frame = pd.DataFrame({
        "layer": at.head_block.astype(np.int64),
        "block": [trace.spec.blocks[b].name for b in at.head_block],
        "head": at.head_index.astype(np.int64),
        "n_q": at.n_q.astype(np.int64),
        "n_k": at.n_k.astype(np.int64),
        "n_global": at.n_global.astype(np.int64),
        "dense_nnz": dense,
        "sparse_nnz": sparse,
        "kept_density": trace.head_density(),
    })
    rows = np.split(at.sparse_row_nnz, at.row_offsets[1:-1])
    frame["sparse_row_nnz_max"] = [int(r.max()) if r.size else 0 for r in rows]
    frame["sparse_row_nnz_mean"] = [float(r.mean()) if r.size else 0.0 for r in rows]
    return frame


def inspect_document(trace: WorkloadTrace) -> dict[str, Any]:
    """The ``vitsim inspect --json`` document."""
    spec = trace.spec
    heads_per_block = [b.n_heads for b in spec.blocks]
    frame = heads_frame(trace)
    return {
        "model": spec.name,
        "family": spec.family,
        "n_layers": spec.n_layers,
        "n_heads": heads_per_block[0] if len(set(heads_per_block)) == 1 else heads_per_block,
        "n_heads_total": spec.n_heads_total,
        "n_tokens": spec.n_tokens,
        "kept_density": trace.kept_density(),
        "dense_nnz": int(frame["dense_nnz"].sum()),
        "sparse_nnz": int(frame["sparse_nnz"].sum()),
        "source": dict(trace.meta.get("source", {})),
        "pruning": dict(trace.meta.get("pruning", {})),
        "polarize": dict(trace.meta.get("polarize", {})),
        "heads": [
            {"layer": int(r.layer), "head": int(r.head), "n_global": int(r.n_global),
             "dense_nnz": int(r.dense_nnz), "sparse_nnz": int(r.sparse_nnz),
             "kept_density": float(r.kept_density)}
            for r in frame.itertuples(index=False)
        ],
    }


def inspect_text(trace: WorkloadTrace) -> str:
    """A readable summary and per-head table."""
    doc = inspect_document(trace)
    frame = heads_frame(trace)
    lines = [
        f"model         {doc['model']} ({doc['family']})",
        f"layers        {doc['n_layers']}",
        f"heads         {doc['n_heads']} per layer, {doc['n_heads_total']} in all",
        f"tokens        {doc['n_tokens']}",
        f"kept density  {doc['kept_density']:.2%}",
        f"kept scores   {doc['dense_nnz']:,} denser (global columns) + "
        f"{doc['sparse_nnz']:,} sparser",
        f"source        {doc['source']}",
        "",
    ]
    table = frame[["layer", "head", "n_q", "n_k", "n_global", "dense_nnz", "sparse_nnz",
                   "sparse_row_nnz_max", "kept_density"]].copy()
    table["kept_density"] = table["kept_density"].map(lambda d: f"{d:.2%}")
    lines.append(table.to_string(index=False))
    return "\n".join(lines)
