"""Figures. Plot functions return a matplotlib Figure; they never call ``plt.show()``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from vitsim.atomic import atomic_output
from vitsim.errors import VitsimError
from vitsim.workloads.trace import WorkloadTrace


def _head_position(trace: WorkloadTrace, layer: int, head: int) -> int:
    at = trace.attention
    hits = np.flatnonzero((at.head_block == layer) & (at.head_index == head))
    if hits.size == 0:
        n_layers = trace.spec.n_layers
        if not 0 <= layer < n_layers:
            raise VitsimError(f"layer {layer} out of range 0..{n_layers - 1}", field="--layer")
        n_heads = trace.spec.blocks[layer].n_heads
        raise VitsimError(f"head {head} out of range 0..{n_heads - 1} in layer {layer}",
                          field="--head")
    return int(hits[0])


def plot_mask(trace: WorkloadTrace, layer: int, head: int) -> Figure:
    """One head's kept mask before polarization and after it (global tokens first)."""
    ph = trace.attention.head(_head_position(trace, layer, head))
    after = ph.permuted_mask()
    before = np.zeros_like(after)
    before[np.ix_(ph.row_perm, ph.perm)] = after
    fig = Figure(figsize=(10, 5), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, mask, title in ((axes[0], before, "before polarization"),
                            (axes[1], after, f"after: {ph.n_global} global tokens first")):
        ax.imshow(mask, cmap="Greys", interpolation="nearest", aspect="equal")
        ax.set_title(title)
        ax.set_xlabel("key token")
        ax.set_ylabel("query token")
    if ph.n_global:
        axes[1].axvline(ph.n_global - 0.5, color="#d55e00", linewidth=1.0)
    fig.suptitle(f"{trace.spec.name} layer {layer} head {head}: "
                 f"kept {after.mean():.2%}, denser {ph.dense_nnz:,} / sparser {ph.sparse_nnz:,}")
    return fig


_FORMATS = (".png", ".pdf", ".svg")


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 150) -> None:
    """Write ``fig`` atomically; the format comes from the suffix (.png, .pdf or .svg)."""
    path = Path(path)
    if path.suffix.lower() not in _FORMATS:
        raise VitsimError(f"unknown image format {path.suffix!r}; use one of "
                          f"{', '.join(_FORMATS)}", source=str(path))
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lower().lstrip("."))
