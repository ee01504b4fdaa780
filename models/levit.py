"""LeViT in plain torch, built from a ``family: levit`` ``ModelSpec``.

Follows the LeViT reference code (Graham et al., ICCV 2021, facebookresearch/LeViT
``levit.py``) at the level the simulator models:

- a 16x convolutional stem (four 3x3 stride-2 convolutions with batch norm, Hardswish between);
- per spec block, attention with learned per-head attention biases indexed by the relative
  offset of the two tokens, Q/K/V from a linear layer with batch norm, and a projection
  (Hardswish, linear, batch norm) wrapped in a residual; LeViT's subsampling attention between
  stages (queries from the stride-2 grid, no residual, width changes), both followed by a
  residual MLP (linear-BN, Hardswish, linear-BN);
- mean pooling and two batch-norm + linear classifiers (``head`` and ``head_dist``) whose
  logits are averaged, as LeViT does at inference.

Not modelled: dropout and drop path, the distillation-token training recipe (both heads are
trained on the same target here), folding batch norm into the linear layers for inference, and
the reference checkpoints' key layout (LeViT weights are trained here, not loaded from timm).
No CLS token: masks keep no forced row or column.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from vitsim.errors import VitsimError
from vitsim.models.attention import MaskedAttention
from vitsim.workloads.model_spec import BlockKind, BlockSpec, ModelSpec

SUBSAMPLE_STRIDE = 2  # LeViT's shrinking attention takes every other row and column


def _side(n_tokens: int) -> int:
    side = math.isqrt(n_tokens)
    if side * side != n_tokens:
        raise VitsimError(f"{n_tokens} tokens are not a square grid", field="n_tokens")
    return side


class LinearNorm(nn.Module):
    """Linear (no bias) then batch norm over channels: ``[B, N, a]`` -> ``[B, N, b]``."""

    def __init__(self, a: int, b: int, *, bn_weight_init: float = 1.0) -> None:
        super().__init__()
        self.linear = nn.Linear(a, b, bias=False)
        self.bn = nn.BatchNorm1d(b)
        nn.init.constant_(self.bn.weight, bn_weight_init)
        nn.init.zeros_(self.bn.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        return self.bn(y.flatten(0, 1)).reshape_as(y)


def _relative_offsets(q_side: int, k_side: int, stride: int) -> tuple[int, torch.Tensor]:
    """LeViT's attention-bias index: one bias per distinct |dy|, |dx| between a query (on the
    stride grid) and a key. Returns (number of offsets, idx ``[n_q, n_k]``)."""
    offsets: dict[tuple[int, int], int] = {}
    idxs = []
    keys = list(itertools.product(range(k_side), range(k_side)))
    for qy, qx in itertools.product(range(q_side), range(q_side)):
        for ky, kx in keys:
            off = (abs(qy * stride - ky), abs(qx * stride - kx))
            idxs.append(offsets.setdefault(off, len(offsets)))
    return len(offsets), torch.tensor(idxs, dtype=torch.long).view(q_side ** 2, k_side ** 2)


class LevitAttention(MaskedAttention):
    """LeViT attention with relative-position biases; self- or subsampling attention.

    ``[B, n_k, in_dim]`` -> ``[B, n_q, out_dim]``. For a subsampling block the queries are the
    tokens of the stride-2 grid.
    """

    attention_bias_idxs: torch.Tensor

    def __init__(self, block: BlockSpec) -> None:
        super().__init__(block.n_heads, block.n_q_tokens, block.n_k_tokens, block.qk_dim)
        self.subsample = block.kind is BlockKind.SUBSAMPLE
        self.qk_dim, self.v_dim = block.qk_dim, block.v_dim
        self.k_side, self.q_side = _side(block.n_k_tokens), _side(block.n_q_tokens)
        h = block.n_heads
        if self.subsample:
            self.kv = LinearNorm(block.in_dim, h * (block.qk_dim + block.v_dim))
            self.q = LinearNorm(block.in_dim, h * block.qk_dim)
        else:
            self.qkv = LinearNorm(block.in_dim, h * (2 * block.qk_dim + block.v_dim))
        self.proj = nn.Sequential(
            nn.Hardswish(),
            LinearNorm(h * block.v_dim, block.out_dim,
                       bn_weight_init=1.0 if self.subsample else 0.0))
        stride = SUBSAMPLE_STRIDE if self.subsample else 1
        n_offsets, idxs = _relative_offsets(self.q_side, self.k_side, stride)
        self.attention_biases = nn.Parameter(torch.zeros(h, n_offsets))
        self.register_buffer("attention_bias_idxs", idxs, persistent=False)

    def _queries(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        grid = x.view(b, self.k_side, self.k_side, c)
        grid = grid[:, ::SUBSAMPLE_STRIDE, ::SUBSAMPLE_STRIDE]
        return self.q(grid.reshape(b, -1, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        h = self.n_heads
        if self.subsample:
            k, v = self.kv(x).view(b, n, h, -1).split([self.qk_dim, self.v_dim], dim=3)
            q = self._queries(x).view(b, self.n_q_tokens, h, self.qk_dim)
        else:
            q, k, v = self.qkv(x).view(b, n, h, -1).split(
                [self.qk_dim, self.qk_dim, self.v_dim], dim=3)
        q, k, v = (t.permute(0, 2, 1, 3) for t in (q, k, v))  # [B, h, tokens, dim]
        bias = self.attention_biases[:, self.attention_bias_idxs]  # [h, n_q, n_k]
        out = self.attend(q, k, v, bias)
        return self.proj(out.transpose(1, 2).reshape(b, self.n_q_tokens, -1))


class LevitMlp(nn.Module):
    """LinearNorm -> Hardswish -> LinearNorm (the last batch norm starts at zero)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = LinearNorm(dim, hidden)
        self.act = nn.Hardswish()
        self.fc2 = LinearNorm(hidden, dim, bn_weight_init=0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class LevitBlock(nn.Module):
    """One spec block: attention (residual unless it subsamples), then a residual MLP."""

    def __init__(self, block: BlockSpec) -> None:
        super().__init__()
        self.residual_attn = block.kind is BlockKind.SELF
        self.attn = LevitAttention(block)
        self.mlp = LevitMlp(block.out_dim, block.mlp_hidden) if block.mlp_hidden else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x) if self.residual_attn else self.attn(x)
        return x + self.mlp(x) if self.mlp is not None else x


def _conv_bn(a: int, b: int) -> nn.Sequential:
    conv = nn.Conv2d(a, b, kernel_size=3, stride=2, padding=1, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(b))


class LeViT(nn.Module):
    """LeViT from a ``family: levit`` :class:`ModelSpec`: images ``[B, C, H, W]`` -> logits
    ``[B, n_classes]`` (mean of the two classifiers)."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        if spec.family != "levit":
            raise VitsimError(f"model {spec.name} is family {spec.family!r}, not levit",
                              field="family")
        p = spec.params
        dim0 = int(p["embed_dims"][0])
        self.spec = spec
        widths = [int(p["in_channels"]), dim0 // 8, dim0 // 4, dim0 // 2, dim0]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(widths)):
            layers.append(_conv_bn(a, b))
            if i < 3:
                layers.append(nn.Hardswish())
        self.stem = nn.Sequential(*layers)
        self.blocks = nn.ModuleList(LevitBlock(b) for b in spec.blocks)
        dim = spec.blocks[-1].out_dim
        n_classes = int(p["n_classes"])
        self.head = nn.Sequential(nn.BatchNorm1d(dim), nn.Linear(dim, n_classes))
        self.head_dist = nn.Sequential(nn.BatchNorm1d(dim), nn.Linear(dim, n_classes))
        self._check_stem()

    def _check_stem(self) -> None:
        size = self.spec.image_size
        for _ in range(4):
            size = (size - 1) // 2 + 1
        if size * size != self.spec.blocks[0].n_k_tokens:
            raise VitsimError(f"the stem gives {size} x {size} tokens at {self.spec.image_size} "
                              f"px, the spec's first block takes {self.spec.blocks[0].n_k_tokens}",
                              field="image_size")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.stem(images).flatten(2).transpose(1, 2)  # [B, N, dim0]
        for block in self.blocks:
            x = block(x)
        pooled = x.mean(dim=1)
        return (self.head(pooled) + self.head_dist(pooled)) / 2
