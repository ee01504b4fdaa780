"""Model shapes: what every attention block and linear layer of a ViT computes.

A :class:`ModelSpec` is a tuple of :class:`BlockSpec` (one per attention block, in execution
order) plus the GEMMs outside the blocks (patch embedding or convolutional stem, classifier).
Every block knows its query and key token counts, its head count and per-head key and value
dims, its MLP, and gives its linear layers as :class:`Gemm` shapes in the one ViT vocabulary
(``qkv``, ``q``, ``kv``, ``proj``, ``fc1``, ``fc2``).

Sources for the zoo:
- DeiT-Tiny/Small/Base: Touvron et al., "Training data-efficient image transformers", ICML 2021,
  Table 1 (embed 192/384/768, heads 3/6/12, depth 12, MLP ratio 4, patch 16 at 224 px).
- ViT-L/16, ViT-H/14: Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021, Table 1
  (L: 1024, 16 heads, 24 layers, MLP 4096; H: 1280, 16 heads, 32 layers, MLP 5120).
- LeViT-128S/128/192/256: Graham et al., "LeViT", ICCV 2021, Table 1 and its reference code
  (key dim 16/16/32/32, stage dims and heads as below, attention value ratio 2 in the blocks
  and 4 in the subsampling attention, MLP ratio 2, a 16x convolutional stem, stage
  resolutions 14 -> 7 -> 4 at 224 px, no CLS token).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from vitsim.errors import ConfigError, VitsimError
from vitsim.strict_yaml import check_keys, load_strict


class BlockKind(str, Enum):
    """What an attention block's queries are."""

    SELF = "self"  # queries and keys are the same tokens (square attention map)
    SUBSAMPLE = "subsample"  # LeViT's shrinking block: queries from a strided grid


class Activation(str, Enum):
    GELU = "gelu"
    HARDSWISH = "hardswish"


class Norm(str, Enum):
    LAYERNORM = "layernorm"
    BATCHNORM = "batchnorm"  # folds into the preceding linear layer at inference (LeViT)


@dataclass(frozen=True)
class Gemm:
    """One matrix product ``[m, k] x [k, n]``, ``count`` times (e.g. once per head).

    ``m`` is the number of rows (tokens), ``k`` the reduction length, ``n`` the output width.
    ``operand`` says whether the right-hand side is a stored weight (``weight``) or an
    activation computed at run time (``activation``, e.g. K^T in attention).
    """

    name: str
    m: int
    k: int
    n: int
    count: int = 1
    operand: str = "weight"

    @property
    def macs(self) -> int:
        return self.m * self.k * self.n * self.count


@dataclass(frozen=True)
class BlockSpec:
    """One transformer block: attention (and its linear layers) followed by an MLP.

    Token counts: ``n_q_tokens`` queries attend over ``n_k_tokens`` keys. Dims: ``in_dim`` is
    the block input width, ``out_dim`` its output width (they differ only in LeViT's
    subsampling blocks), ``qk_dim`` and ``v_dim`` are per-head key and value dims.
    """

    name: str
    kind: BlockKind
    n_q_tokens: int
    n_k_tokens: int
    in_dim: int
    out_dim: int
    n_heads: int
    qk_dim: int
    v_dim: int
    mlp_hidden: int
    activation: Activation = Activation.GELU
    norm: Norm = Norm.LAYERNORM
    has_cls: bool = True
    # Compressed heads of ViTCoD's trained Q/K auto-encoder for this block (the hidden size of
    # its encoder_q/encoder_k in ViTCoD's model code); None where no source gives one.
    ae_heads: int | None = None

    @property
    def square(self) -> bool:
        return self.kind is BlockKind.SELF

    def linear_gemms(self) -> tuple[Gemm, ...]:
        """The block's weight GEMMs, in execution order."""
        nq, nk, h = self.n_q_tokens, self.n_k_tokens, self.n_heads
        qk_width, v_width = h * self.qk_dim, h * self.v_dim
        if self.kind is BlockKind.SELF:
            gemms = [Gemm("qkv", nq, self.in_dim, 2 * qk_width + v_width)]
        else:
            gemms = [
                Gemm("kv", nk, self.in_dim, qk_width + v_width),
                Gemm("q", nq, self.in_dim, qk_width),
            ]
        gemms.append(Gemm("proj", nq, v_width, self.out_dim))
        if self.mlp_hidden:
            gemms += [
                Gemm("fc1", nq, self.out_dim, self.mlp_hidden),
                Gemm("fc2", nq, self.mlp_hidden, self.out_dim),
            ]
        return tuple(gemms)

    def attention_gemms(self) -> tuple[Gemm, ...]:
        """The dense-equivalent attention products of all heads: Q K^T and S V."""
        nq, nk, h = self.n_q_tokens, self.n_k_tokens, self.n_heads
        return (
            Gemm("qk", nq, self.qk_dim, nk, count=h, operand="activation"),
            Gemm("sv", nq, nk, self.v_dim, count=h, operand="activation"),
        )


@dataclass(frozen=True)
class ModelSpec:
    """A whole model: its attention blocks and the GEMMs around them."""

    name: str
    family: str
    image_size: int
    blocks: tuple[BlockSpec, ...]
    stem_gemms: tuple[Gemm, ...]
    head_gemms: tuple[Gemm, ...]
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False)

    @property
    def n_layers(self) -> int:
        return len(self.blocks)

    @property
    def n_heads_total(self) -> int:
        return sum(b.n_heads for b in self.blocks)

    @property
    def uniform(self) -> bool:
        """True when every block has the same heads and a square map of the same size."""
        first = self.blocks[0]
        return all(
            b.square and (b.n_heads, b.n_q_tokens) == (first.n_heads, first.n_q_tokens)
            for b in self.blocks
        )

    @functools.cached_property
    def shape_groups(self) -> tuple[tuple[int, ...], ...]:
        """Indices of the blocks that differ only in name, grouped, in order of first use
        (a plain ViT is one group; LeViT has one per stage and one per subsampling block)."""
        groups: dict[BlockSpec, list[int]] = {}
        for i, b in enumerate(self.blocks):
            groups.setdefault(dataclasses.replace(b, name=""), []).append(i)
        return tuple(tuple(g) for g in groups.values())

    @property
    def n_tokens(self) -> int:
        """Token count of the first block (the model's sequence length)."""
        return self.blocks[0].n_q_tokens

    def linear_gemms(self) -> tuple[tuple[str, Gemm], ...]:
        """Every weight GEMM of the model, as (block name, gemm), in execution order."""
        out = [("stem", g) for g in self.stem_gemms]
        for b in self.blocks:
            out += [(b.name, g) for g in b.linear_gemms()]
        out += [("head", g) for g in self.head_gemms]
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        """The parameters this spec was built from; ``spec_from_dict`` rebuilds it exactly."""
        return {"name": self.name, "family": self.family, **dict(self.params)}


# ---------------------------------------------------------------------------------------------
# Builders


# Sizes a trace can hold. Tracing materialises one block's float32 probabilities (all its
# heads) and keeps the kept scores' column indices (int32) of every head, so a model is
# refused, from arithmetic on its shape and before anything is allocated, when one block's
# probabilities or the whole model's scores at density 1 pass these. ViT-H/14 at 518 px (the
# largest model the README traces) is 9.6e8 scores, 120 MB a block.
MAX_MODEL_SCORES = 1 << 34  # n_heads * n_q * n_k over all blocks (64 GiB of int32 at density 1)
MAX_BLOCK_BYTES = 8 << 30  # one block's float32 probabilities
MAX_LAYERS = 10_000
MAX_WIDTH = 1 << 20  # embed_dim, n_heads, key_dim, tokens per side


def check_attention_size(name: str, blocks: list[tuple[int, int, int, int]], *,
                         field: str = "image_size") -> None:
    """Refuse a model whose attention could not be traced in memory, from its shape only.

    ``blocks`` lists ``(count, n_heads, n_q, n_k)`` for each distinct block shape."""
    total = sum(c * h * q * k for c, h, q, k in blocks)
    largest = max((h * q * k for _, h, q, k in blocks), default=0)
    tokens = max((q for _, _, q, _ in blocks), default=0)
    physical = _physical_memory_bytes()
    block_limit = min(MAX_BLOCK_BYTES, physical // 2) if physical else MAX_BLOCK_BYTES
    if total > MAX_MODEL_SCORES or 4 * largest > block_limit:
        raise VitsimError(
            f"{name} with {tokens:,} tokens has {total:.3g} attention scores "
            f"({4 * total / 2**30:,.1f} GiB of indices at density 1; "
            f"{4 * largest / 2**30:,.1f} GiB for one block's probabilities); "
            f"the limits are {MAX_MODEL_SCORES:.3g} scores and "
            f"{block_limit / 2**30:,.1f} GiB a block: use a smaller image size or model",
            field=field)


def _physical_memory_bytes() -> int:
    """This machine's memory in bytes (0 when unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def _check_dims(**dims: int) -> None:
    for key, value in dims.items():
        limit = MAX_LAYERS if key in ("depth", "depths") else MAX_WIDTH
        if value > limit:
            raise VitsimError(f"{value:,} is above the limit of {limit:,}", field=key)


def build_vit(
    name: str,
    *,
    embed_dim: int,
    depth: int,
    n_heads: int,
    image_size: int = 224,
    patch_size: int = 16,
    mlp_ratio: float = 4.0,
    n_classes: int = 1000,
    in_channels: int = 3,
) -> ModelSpec:
    """A plain ViT/DeiT: a CLS token plus (image_size / patch_size)^2 patches, ``depth`` blocks."""
    _check_dims(embed_dim=embed_dim, depth=depth, n_heads=n_heads, image_size=image_size,
                patch_size=patch_size, n_classes=n_classes, in_channels=in_channels)
    if embed_dim % n_heads:
        raise VitsimError(f"embed_dim {embed_dim} is not divisible by n_heads {n_heads}",
                          field="embed_dim")
    if image_size % patch_size:
        raise VitsimError(f"image_size {image_size} is not a multiple of patch_size {patch_size}",
                          field="image_size")
    n_patches = (image_size // patch_size) ** 2
    n_tokens = n_patches + 1
    check_attention_size(name, [(depth, n_heads, n_tokens, n_tokens)])
    head_dim = embed_dim // n_heads
    hidden = round(embed_dim * mlp_ratio)
    blocks = tuple(
        BlockSpec(
            name=f"blocks.{i}", kind=BlockKind.SELF, n_q_tokens=n_tokens, n_k_tokens=n_tokens,
            in_dim=embed_dim, out_dim=embed_dim, n_heads=n_heads, qk_dim=head_dim,
            v_dim=head_dim, mlp_hidden=hidden, ae_heads=vit_ae_heads(n_heads),
        )
        for i in range(depth)
    )
    stem = (Gemm("patch_embed", n_patches, in_channels * patch_size * patch_size, embed_dim),)
    head = (Gemm("classifier", 1, embed_dim, n_classes),)
    params = dict(embed_dim=embed_dim, depth=depth, n_heads=n_heads, image_size=image_size,
                  patch_size=patch_size, mlp_ratio=mlp_ratio, n_classes=n_classes,
                  in_channels=in_channels)
    return ModelSpec(name, "vit", image_size, blocks, stem, head, params)


def vit_ae_heads(n_heads: int) -> int:
    """Compressed heads of ViTCoD's Q/K auto-encoder: ``ceil(h / 2)`` (ViTCoD's code,
    ``Algorithm/deit/timm/vision_transformer.py``: ``hidden = h // 2`` plus one when ``h`` is
    odd; the same rule in LeViT's subsampling attention, ``Algorithm/levit/levit.py``)."""
    return n_heads // 2 + n_heads % 2


# ViTCoD's LeViT attention overrides the rule for three head counts (Algorithm/levit/levit.py,
# class Attention, svd_type "mix_head_fc_qk"): 3 -> 2, 5 -> 3, 6 -> 4.
_LEVIT_AE_HEADS = {3: 2, 5: 3, 6: 4}


def levit_ae_heads(n_heads: int) -> int:
    """Compressed heads of ViTCoD's auto-encoder in a LeViT attention block."""
    return _LEVIT_AE_HEADS.get(n_heads, vit_ae_heads(n_heads))


def build_levit(
    name: str,
    *,
    embed_dims: tuple[int, ...],
    key_dim: int,
    n_heads: tuple[int, ...],
    depths: tuple[int, ...],
    image_size: int = 224,
    attn_ratio: float = 2.0,
    mlp_ratio: float = 2.0,
    down_attn_ratio: float = 4.0,
    down_mlp_ratio: float = 2.0,
    n_classes: int = 1000,
    in_channels: int = 3,
) -> ModelSpec:
    """A LeViT: a 16x convolutional stem, stages of blocks, subsampling attention in between.

    Follows the LeViT reference code: between stages, an attention block whose queries come
    from the stride-2 grid (resolution r -> (r - 1) // 2 + 1) and whose heads are
    ``in_dim // key_dim``, with value ratio ``down_attn_ratio``, then a residual MLP.
    """
    if not (len(embed_dims) == len(n_heads) == len(depths)):
        raise VitsimError("embed_dims, n_heads and depths must have one entry per stage",
                          field="embed_dims")
    _check_dims(key_dim=key_dim, image_size=image_size, n_classes=n_classes,
                in_channels=in_channels, depths=sum(depths), embed_dims=max(embed_dims),
                n_heads=max(n_heads))
    res = image_size // 16
    shapes, r = [], res
    for s, (heads, depth) in enumerate(zip(n_heads, depths, strict=True)):
        if s > 0:
            new_r = (r - 1) // 2 + 1
            shapes.append((1, embed_dims[s - 1] // key_dim, new_r * new_r, r * r))
            r = new_r
        shapes.append((depth, heads, r * r, r * r))
    check_attention_size(name, shapes)
    stem = []
    ch_in, size = in_channels, image_size
    for i, ch_out in enumerate((embed_dims[0] // 8, embed_dims[0] // 4, embed_dims[0] // 2,
                                embed_dims[0])):
        size = (size - 1) // 2 + 1  # 3x3 conv, stride 2, padding 1
        stem.append(Gemm(f"stem.conv{i + 1}", size * size, ch_in * 9, ch_out))
        ch_in = ch_out
    blocks: list[BlockSpec] = []
    common: dict[str, Any] = dict(activation=Activation.HARDSWISH, norm=Norm.BATCHNORM,
                                  has_cls=False)
    for s, (dim, heads, depth) in enumerate(zip(embed_dims, n_heads, depths, strict=True)):
        if s > 0:
            in_dim = embed_dims[s - 1]
            new_res = (res - 1) // 2 + 1
            blocks.append(BlockSpec(
                name=f"stages.{s}.downsample", kind=BlockKind.SUBSAMPLE,
                n_q_tokens=new_res * new_res, n_k_tokens=res * res, in_dim=in_dim, out_dim=dim,
                n_heads=in_dim // key_dim, qk_dim=key_dim,
                v_dim=int(down_attn_ratio * key_dim), mlp_hidden=int(dim * down_mlp_ratio),
                ae_heads=vit_ae_heads(in_dim // key_dim), **common,
            ))
            res = new_res
        for b in range(depth):
            blocks.append(BlockSpec(
                name=f"stages.{s}.blocks.{b}", kind=BlockKind.SELF, n_q_tokens=res * res,
                n_k_tokens=res * res, in_dim=dim, out_dim=dim, n_heads=heads, qk_dim=key_dim,
                v_dim=int(attn_ratio * key_dim), mlp_hidden=int(dim * mlp_ratio),
                ae_heads=levit_ae_heads(heads), **common,
            ))
    # The distilled LeViT has two classifiers (head and head_dist) on the pooled features.
    head = (Gemm("classifier", 1, embed_dims[-1], 2 * n_classes),)
    params = dict(embed_dims=list(embed_dims), key_dim=key_dim, n_heads=list(n_heads),
                  depths=list(depths), image_size=image_size, attn_ratio=attn_ratio,
                  mlp_ratio=mlp_ratio, down_attn_ratio=down_attn_ratio,
                  down_mlp_ratio=down_mlp_ratio, n_classes=n_classes, in_channels=in_channels)
    return ModelSpec(name, "levit", image_size, tuple(blocks), tuple(stem), head, params)


_VIT_ZOO: dict[str, dict[str, Any]] = {
    "deit-tiny": dict(embed_dim=192, depth=12, n_heads=3, patch_size=16),
    "deit-small": dict(embed_dim=384, depth=12, n_heads=6, patch_size=16),
    "deit-base": dict(embed_dim=768, depth=12, n_heads=12, patch_size=16),
    "vit-l16": dict(embed_dim=1024, depth=24, n_heads=16, patch_size=16),
    "vit-h14": dict(embed_dim=1280, depth=32, n_heads=16, patch_size=14),
}
_LEVIT_ZOO: dict[str, dict[str, Any]] = {
    "levit-128s": dict(embed_dims=(128, 256, 384), key_dim=16, n_heads=(4, 6, 8),
                       depths=(2, 3, 4)),
    "levit-128": dict(embed_dims=(128, 256, 384), key_dim=16, n_heads=(4, 8, 12),
                      depths=(4, 4, 4)),
    "levit-192": dict(embed_dims=(192, 288, 384), key_dim=32, n_heads=(3, 5, 6),
                      depths=(4, 4, 4)),
    "levit-256": dict(embed_dims=(256, 384, 512), key_dim=32, n_heads=(4, 6, 8),
                      depths=(4, 4, 4)),
}


def known_models() -> tuple[str, ...]:
    return (*_VIT_ZOO, *_LEVIT_ZOO)


def get_spec(name: str, *, image_size: int | None = None) -> ModelSpec:
    """A zoo model by name (``deit-tiny``, ``vit-h14``, ``levit-128`` ...), or a YAML spec file.

    ``image_size`` overrides the default 224 px (e.g. ViT-H/14 at 518 px has 1370 tokens).
    A name may carry the size as a suffix: ``vit-h14@518``.
    """
    if "@" in name:
        name, _, size_text = name.partition("@")
        try:
            image_size = int(size_text)
        except ValueError:
            raise VitsimError(f"image size {size_text!r} is not an integer",
                              source="--model") from None
        if image_size <= 0:
            raise VitsimError(f"image size must be a positive integer, got {image_size}",
                              source="--model")
    key = name.lower()
    extra: dict[str, Any] = {} if image_size is None else {"image_size": image_size}
    try:
        if key in _VIT_ZOO:
            return build_vit(key, **_VIT_ZOO[key], **extra)
        if key in _LEVIT_ZOO:
            return build_levit(key, **_LEVIT_ZOO[key], **extra)
    except VitsimError as err:
        raise err.with_source("--model") from None
    if key.endswith((".yaml", ".yml")):
        return load_spec(name)
    raise VitsimError(f"unknown model {name!r}; known: {', '.join(known_models())}, "
                      "or a spec .yaml file", source="--model")


_VIT_KEYS = ("embed_dim", "depth", "n_heads")
_VIT_OPTIONAL = ("image_size", "patch_size", "mlp_ratio", "n_classes", "in_channels")
_LEVIT_KEYS = ("embed_dims", "key_dim", "n_heads", "depths")
_LEVIT_OPTIONAL = ("image_size", "attn_ratio", "mlp_ratio", "down_attn_ratio",
                   "down_mlp_ratio", "n_classes", "in_channels")


def spec_from_dict(data: Any, *, source: str | None = None) -> ModelSpec:
    """Build a spec from its parameters (a user YAML file, or trace metadata).

    Strict: unknown keys, missing keys and wrong types are reported all at once with their key.
    """
    problems: list[tuple[str, str]] = []
    required: tuple[str, ...]
    optional: tuple[str, ...]
    ints: tuple[str, ...] = ()
    floats: tuple[str, ...] = ()
    tuples: tuple[str, ...] = ()
    family = data.get("family") if isinstance(data, dict) else None
    # Unknown keys are named against the family's own keys, so the allowed list is the one
    # that applies (and has no repeats); with no known family, against any family's keys.
    if family == "vit":
        required, optional = _VIT_KEYS, _VIT_OPTIONAL
        ints, floats, tuples = (*_VIT_KEYS, "image_size", "patch_size", "n_classes",
                                "in_channels"), ("mlp_ratio",), ()
    elif family == "levit":
        required, optional = _LEVIT_KEYS, _LEVIT_OPTIONAL
        ints = ("key_dim", "image_size", "n_classes", "in_channels")
        floats = ("attn_ratio", "mlp_ratio", "down_attn_ratio", "down_mlp_ratio")
        tuples = ("embed_dims", "n_heads", "depths")
    else:
        required = ()
        optional = tuple(dict.fromkeys((*_VIT_KEYS, *_VIT_OPTIONAL, *_LEVIT_KEYS,
                                        *_LEVIT_OPTIONAL)))
    base = check_keys(data, path="", required=("name", "family", *required), optional=optional,
                      problems=problems)
    if family not in ("vit", "levit"):
        if "family" in base:
            problems.append(("family", f"unknown family {family!r}; allowed: vit, levit"))
        raise ConfigError(problems, source=source)
    fields = {k: v for k, v in base.items() if k not in ("name", "family")}
    kwargs: dict[str, Any] = {}
    for key, value in fields.items():
        if key in ints:
            ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
            if not ok:
                problems.append((key, f"expected a positive integer, got {value!r}"))
            kwargs[key] = value
        elif key in floats:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
            if not ok:
                problems.append((key, f"expected a positive number, got {value!r}"))
            kwargs[key] = float(value) if ok else value
        elif key in tuples:
            ok = (isinstance(value, list) and bool(value)
                  and all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                          for v in value))
            if not ok:
                problems.append((key, f"expected a list of positive integers, got {value!r}"))
            kwargs[key] = tuple(value) if isinstance(value, list) else value
    if problems:
        raise ConfigError(problems, source=source)
    try:
        builder = build_vit if family == "vit" else build_levit
        return builder(str(base["name"]), **kwargs)
    except VitsimError as err:
        raise ConfigError([(err.field or "", err.message)], source=source) from None


def load_spec(path: str | Path) -> ModelSpec:
    """A user-defined model from a YAML file (``family: vit`` or ``family: levit``)."""
    return spec_from_dict(load_strict(path), source=str(path))


def default_polarize_threshold(n_q_tokens: int) -> int:
    """ViTCoD's global-token threshold, scaled to the query count.

    ViTCoD's released reorder marks a key column global when it is kept by more than 50 of
    DeiT's 197 queries; the same fraction is used for other token counts.
    """
    return math.floor(50 * n_q_tokens / 197 + 0.5)
