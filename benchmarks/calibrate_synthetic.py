"""Compare synthetic DeiT-Tiny masks with ViTCoD's released real one.

Prints, for the real mask (95%) and for synthetic masks at 95% and 90% sparsity: kept density,
global tokens per (layer, head) after ViTCoD's polarization (a key column kept by more than 50
of the 197 queries), the share of kept entries in the dense (global) region, the sparse
region's row lengths, and two structural shares (diagonal kept, local neighbours).

    .venv/bin/python benchmarks/calibrate_synthetic.py [--seeds 0 1 2] [--mask PATH]

The results of the shipped defaults are in ``benchmarks/CALIBRATION.md``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitsim.workloads.model_spec import default_polarize_threshold, get_spec
from vitsim.workloads.polarize import global_tokens, polarize_head
from vitsim.workloads.synthetic import SyntheticParams, synthetic_masks

REAL_MASK = Path(__file__).resolve().parents[2] / "shared" / "data" / "deit_tiny_info_0.95.npy"
# A kept off-diagonal patch entry within this Chebyshev distance (patches) counts as local.
LOCAL_RADIUS_PATCHES = 1


@dataclass(frozen=True)
class MaskStats:
    """Summary of one model's kept masks (True = kept), DeiT layout (token 0 = CLS)."""

    density: float  # kept / all entries
    n_global: np.ndarray  # int [layers, heads], CLS included
    dense_share: float  # kept entries in the global columns / all kept
    sparse_row_mean: float  # mean over heads of the per-head mean sparse row nnz
    sparse_row_std: float  # mean over heads of the per-head std
    sparse_row_max: int  # over all heads
    sparse_row_cv: float  # mean over heads of std / mean
    diag_share: float  # patch queries whose own key is kept
    local_share: float  # kept off-diagonal patch-patch entries that are grid neighbours


def mask_stats(layers: Iterable[np.ndarray]) -> MaskStats:
    """Statistics of per-layer kept masks ``[heads, N, N]``.

    Row statistics are over the patch queries (rows 1..N-1) of the sparse region: the CLS row is
    kept whole by construction in both real and synthetic masks and would only add a constant.
    """
    kept_total = entries = dense_total = 0
    n_global: list[list[int]] = []
    means, stds, cvs, maxima, diags, locals_ = [], [], [], [], [], []
    for kept in layers:
        n_q = kept.shape[1]
        side = math.isqrt(n_q - 1)
        pos = np.stack(np.divmod(np.arange(n_q - 1), side), axis=1)
        threshold = default_polarize_threshold(n_q)
        layer_g = []
        for head in kept:
            g_idx = global_tokens(head, threshold)
            pol = polarize_head(head, g_idx, square=True)
            layer_g.append(pol.n_global)
            kept_total += pol.kept
            dense_total += pol.dense_nnz
            entries += head.size
            # Rows in permuted order: the CLS row is wherever perm put token 0.
            rows = np.delete(pol.sparse_row_nnz, int(np.flatnonzero(pol.row_perm == 0)[0]))
            mean = float(rows.mean())
            means.append(mean)
            stds.append(float(rows.std()))
            cvs.append(float(rows.std()) / mean if mean > 0 else 0.0)
            maxima.append(int(rows.max()))
            patch = head[1:, 1:]
            diags.append(float(np.diag(patch).mean()))
            off = patch & ~np.eye(n_q - 1, dtype=bool)
            r, c = np.nonzero(off)
            cheb = np.abs(pos[r] - pos[c]).max(axis=1)
            locals_.append(float((cheb <= LOCAL_RADIUS_PATCHES).mean()) if r.size else 0.0)
        n_global.append(layer_g)
    return MaskStats(
        density=kept_total / entries, n_global=np.array(n_global),
        dense_share=dense_total / kept_total, sparse_row_mean=float(np.mean(means)),
        sparse_row_std=float(np.mean(stds)), sparse_row_max=int(max(maxima)),
        sparse_row_cv=float(np.mean(cvs)), diag_share=float(np.mean(diags)),
        local_share=float(np.mean(locals_)),
    )


def summary_row(name: str, s: MaskStats) -> str:
    g = s.n_global
    half = g.shape[0] // 2
    return (f"| {name} | {100 * s.density:.2f} | {g.mean():.1f} | {np.median(g):.0f} | "
            f"{g.max()} | {(g == 1).mean():.2f} | {g[:half].mean():.1f} / {g[half:].mean():.1f} | "
            f"{100 * s.dense_share:.1f} | "
            f"{s.sparse_row_mean:.1f} | {s.sparse_row_std:.2f} | {s.sparse_row_max} | "
            f"{s.sparse_row_cv:.2f} | {s.diag_share:.2f} | {s.local_share:.2f} |")


HEADER = (
    "| mask | kept % | G mean | G median | G max | frac G=1 | G mean 1st / 2nd half | "
    "dense share % | sparse row mean | row std | row max | row CV | diag kept | local share |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def g_table(name: str, g: np.ndarray) -> str:
    lines = [f"{name}: global tokens, rows = heads, columns = layers 0..{g.shape[0] - 1}"]
    lines += [f"  head{h}: " + " ".join(f"{v:3d}" for v in g[:, h]) for h in range(g.shape[1])]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mask", type=Path, default=REAL_MASK,
                        help="real mask, bool [layers, heads, N, N], True = pruned")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5],
                        help="synthetic seeds (0-2 were used to tune the defaults)")
    parser.add_argument("--sparsities", type=float, nargs="+", default=[0.95, 0.90])
    args = parser.parse_args(argv)

    spec = get_spec("deit-tiny")
    params = SyntheticParams()
    rows, tables = [], []
    if args.mask.exists():
        real = mask_stats(~np.load(args.mask))
        rows.append(summary_row("real 0.95", real))
        tables.append(g_table("real 0.95", real.n_global))
    else:
        print(f"real mask not found at {args.mask}; synthetic only")
    for sparsity in args.sparsities:
        for seed in args.seeds:
            cutoff, masks = synthetic_masks(spec, sparsity, seed, params)
            stats = mask_stats(masks)
            name = f"synthetic {sparsity:.2f} seed {seed} (cut-off {cutoff:.3f})"
            rows.append(summary_row(name, stats))
            if seed == args.seeds[0]:
                tables.append(g_table(name, stats.n_global))
    print(params)
    print()
    print(HEADER)
    print("\n".join(rows))
    print()
    print("\n\n".join(tables))


if __name__ == "__main__":
    main()
