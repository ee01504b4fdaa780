"""A random '90%-sparse-ish' DeiT-Tiny-shaped mask for extra exactness checks.

Convention of the released files: True = PRUNED.  Construction (seeded, numpy
PCG64 so it is stable across numpy versions):
  * background: each score kept with probability 0.08;
  * per (layer, head): k ~ U{0..12} random key columns made 'global-ish'
    (each score in them kept with probability 0.6, so ~118 of 197 > 50);
  * the CLS row and column are always kept (as in the real mask), so every head
    has at least one global token and the released code does not divide by zero.
"""
import sys

import numpy as np


def make_random_info(seed: int = 0, shape=(12, 3, 197, 197)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    L, H, N, _ = shape
    kept = rng.random(shape) < 0.08
    for l in range(L):
        for h in range(H):
            k = int(rng.integers(0, 13))
            cols = rng.choice(np.arange(1, N), size=k, replace=False)
            kept[l, h][:, cols] |= rng.random((N, k)) < 0.6
    kept[:, :, 0, :] = True
    kept[:, :, :, 0] = True
    return ~kept   # True = pruned, like info_0.95.npy


if __name__ == "__main__":
    out = sys.argv[1]
    m = make_random_info(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    np.save(out, m)
    print("random mask", out, m.shape, "kept density %.4f" % (1 - m.mean()))
