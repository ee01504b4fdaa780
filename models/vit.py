"""ViT / DeiT in plain torch, built from a ``ModelSpec`` and laid out as timm lays it out.

Architecture and parameter names follow timm's ``VisionTransformer`` as DeiT uses it (Touvron
et al., ICML 2021; Dosovitskiy et al., ICLR 2021): a convolutional patch embedding, a CLS token
and learned position embeddings, pre-norm blocks (LayerNorm eps 1e-6, fused ``qkv`` with bias,
GELU MLP), a final LayerNorm and a linear classifier on the CLS token. The state-dict keys are
timm's (``cls_token``, ``pos_embed``, ``patch_embed.proj.weight``, ``blocks.0.attn.qkv.weight``,
``blocks.0.mlp.fc1.weight``, ``norm.weight``, ``head.weight`` ...), so a timm or DeiT
checkpoint of the same shape loads as is. Dropout and stochastic depth are not modelled.
"""

from __future__ import annotations

import torch
from torch import nn

from vitsim.errors import VitsimError
from vitsim.models.attention import MaskedAttention
from vitsim.workloads.model_spec import BlockSpec, ModelSpec

LAYERNORM_EPS = 1e-6  # timm's ViT / DeiT
INIT_STD = 0.02  # timm's truncated-normal init of weights, CLS token and position embeddings


class PatchEmbed(nn.Module):
    """Non-overlapping patches to tokens: ``[B, C, H, W]`` -> ``[B, n_patches, embed_dim]``."""

    def __init__(self, image_size: int, patch_size: int, in_channels: int, embed_dim: int
                 ) -> None:
        super().__init__()
        self.image_size = image_size
        self.n_patches = (image_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise VitsimError(f"image size {tuple(x.shape[-2:])}, the model takes "
                              f"{self.image_size} x {self.image_size}", field="images")
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(MaskedAttention):
    """Multi-head self-attention: ``[B, N, C]`` -> ``[B, N, C]`` (timm's ``attn``)."""

    def __init__(self, block: BlockSpec) -> None:
        super().__init__(block.n_heads, block.n_q_tokens, block.n_k_tokens, block.qk_dim)
        self.head_dim = block.qk_dim
        self.qkv = nn.Linear(block.in_dim, 3 * block.n_heads * block.qk_dim)
        self.proj = nn.Linear(block.n_heads * block.v_dim, block.out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        # [B, N, 3 * h * d] -> [3, B, h, N, d]
        qkv = self.qkv(x).reshape(b, n, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        out = self.attend(q, k, v)  # [B, h, N, d]
        return self.proj(out.transpose(1, 2).reshape(b, n, -1))


class Mlp(nn.Module):
    """``fc1`` -> GELU -> ``fc2`` (timm's ``mlp``)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, block: BlockSpec) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(block.in_dim, eps=LAYERNORM_EPS)
        self.attn = Attention(block)
        self.norm2 = nn.LayerNorm(block.out_dim, eps=LAYERNORM_EPS)
        self.mlp = Mlp(block.out_dim, block.mlp_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """ViT / DeiT from a ``family: vit`` :class:`ModelSpec`: images ``[B, C, H, W]`` -> logits
    ``[B, n_classes]``.

    The spec gives every shape: ``params`` (patch size, channels, classes) for the embedding
    and classifier, ``blocks`` for each block's heads, dims and MLP width.
    """

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        if spec.family != "vit":
            raise VitsimError(f"model {spec.name} is family {spec.family!r}, not vit",
                              field="family")
        p = spec.params
        embed_dim = int(p["embed_dim"])
        self.spec = spec
        self.patch_embed = PatchEmbed(spec.image_size, int(p["patch_size"]),
                                      int(p["in_channels"]), embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, spec.n_tokens, embed_dim))
        self.blocks = nn.ModuleList(Block(b) for b in spec.blocks)
        self.norm = nn.LayerNorm(embed_dim, eps=LAYERNORM_EPS)
        self.head = nn.Linear(embed_dim, int(p["n_classes"]))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """timm's init: truncated normal (std 0.02) weights, zero biases, unit LayerNorms."""
        nn.init.trunc_normal_(self.pos_embed, std=INIT_STD)
        nn.init.trunc_normal_(self.cls_token, std=INIT_STD)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=INIT_STD)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Tokens after the final norm, ``[B, n_tokens, embed_dim]`` (CLS first)."""
        x = self.patch_embed(images)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(images)[:, 0])
