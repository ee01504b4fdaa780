"""scikit-learn's handwritten digits as a small image-classification task (nothing downloaded).

``sklearn.datasets.load_digits`` ships 1,797 grey 8 x 8 images of the digits 0-9 (UCI optical
recognition of handwritten digits, test part). They are upsampled bilinearly to
``image_size`` so that a ViT with a small patch sees a few dozen patches (32 px with patch 4:
64 patches + CLS = 65 tokens), split into a stratified training and held-out test set, and
normalised with the training set's mean and standard deviation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from vitsim.errors import VitsimError

DIGITS_SIDE = 8  # pixels of the original images
DIGITS_MAX = 16.0  # their grey levels are 0..16
N_CLASSES = 10


@dataclass(frozen=True, eq=False)
class DigitsSplit:
    """Images ``[n, 1, image_size, image_size]`` (float32, normalised) and labels ``[n]``."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    background: float  # the normalised value of a blank pixel
    seed: int
    test_fraction: float

    def train_loader(self, batch_size: int, *, shuffle: bool = True,
                     seed: int | None = None) -> DataLoader:
        """Training batches; shuffled with a generator seeded by ``seed`` (default: the
        split's seed), so a run is reproducible."""
        gen = torch.Generator().manual_seed(self.seed if seed is None else seed)
        return DataLoader(TensorDataset(self.train_images, self.train_labels),
                          batch_size=batch_size, shuffle=shuffle, generator=gen)

    def test_loader(self, batch_size: int) -> DataLoader:
        return DataLoader(TensorDataset(self.test_images, self.test_labels),
                          batch_size=batch_size, shuffle=False)


def load_digits_split(*, image_size: int = 32, test_fraction: float = 0.3, seed: int = 0,
                      limit: int | None = None) -> DigitsSplit:
    """The digits, upsampled to ``image_size`` px and split with a fixed seed.

    ``limit`` keeps only the first ``limit`` images (before splitting), for quick runs.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if image_size < DIGITS_SIDE:
        raise VitsimError(f"image size must be >= {DIGITS_SIDE}, got {image_size}",
                          field="image_size")
    if not 0.0 < test_fraction < 1.0:
        raise VitsimError(f"test fraction must be in (0, 1), got {test_fraction}",
                          field="test_fraction")
    data = load_digits()
    images = np.asarray(data.images, dtype=np.float32) / DIGITS_MAX
    labels = np.asarray(data.target, dtype=np.int64)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    idx_train, idx_test = train_test_split(np.arange(len(labels)), test_size=test_fraction,
                                           random_state=seed, stratify=labels)
    x = torch.from_numpy(images).unsqueeze(1)  # [n, 1, 8, 8]
    x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    train_x = x[idx_train]
    mean, std = train_x.mean(), train_x.std()
    y = torch.from_numpy(labels)
    return DigitsSplit(((train_x - mean) / std).contiguous(), y[idx_train],
                       ((x[idx_test] - mean) / std).contiguous(), y[idx_test],
                       float(-mean / std), seed, test_fraction)


class RandomAffine:
    """Batch augmentation: a random small rotation, scale and shift per image.

    ``images [B, C, H, W] -> [B, C, H, W]``; pixels moved in from outside are ``background``.
    Angles in degrees, shifts as a fraction of the image side.
    """

    def __init__(self, *, background: float, max_degrees: float = 10.0,
                 max_scale: float = 0.1, max_shift: float = 0.1, seed: int = 0) -> None:
        self.background = background
        self.max_degrees = max_degrees
        self.max_scale = max_scale
        self.max_shift = max_shift
        self.generator = torch.Generator().manual_seed(seed)

    def _uniform(self, n: int, bound: float) -> torch.Tensor:
        return (torch.rand(n, generator=self.generator) * 2 - 1) * bound

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        n = images.shape[0]
        angle = torch.deg2rad(self._uniform(n, self.max_degrees))
        scale = 1 + self._uniform(n, self.max_scale)
        # affine_grid maps output to input coordinates in [-1, 1], so a shift of 2 * f is f of
        # the side.
        shift = 2 * torch.stack([self._uniform(n, self.max_shift),
                                 self._uniform(n, self.max_shift)], dim=1)
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], dim=1),
                             torch.stack([sin, cos, shift[:, 1]], dim=1)], dim=1)
        grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
        moved = F.grid_sample(images - self.background, grid, align_corners=False)
        return moved + self.background
