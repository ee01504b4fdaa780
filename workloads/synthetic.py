"""Seeded synthetic attention probabilities with the structure of trained ViTs.

When no trained model is at hand, vitsim draws per-head attention *probabilities*
``[n_heads, n_q, n_k]`` (rows summing to 1) and prunes them with the same info cut-off as real
maps (:func:`vitsim.workloads.prune.prune_info`), so the masks inherit the structure that
matters to a sparse accelerator: a few dense global columns, a local band, and a spread of
row lengths. Each head's logits are the sum of

- a **local term**: a 2-D Gaussian bump around the query's position in the patch grid, strong
  in early layers and fading with depth (Raghu et al., "Do Vision Transformers See Like
  Convolutional Neural Networks?", NeurIPS 2021, Sec. 4: lower layers mix local and global
  heads, higher layers are global);
- a **diagonal term**: the extra weight a patch gives itself;
- **sink columns**: a few key tokens that every query attends to (Darcet et al., "Vision
  Transformers Need Registers", ICLR 2024, Sec. 2: high-norm "artifact" tokens appear in the
  later layers and absorb much of the attention); the fraction of heads with sinks and their
  number grow with depth. The released ViTCoD DeiT-Tiny mask at 95% sparsity has CLS as its
  only global token in most early heads and 5-31 global tokens in the heads of the last
  layers (data in ``benchmarks/CALIBRATION.md``); ViTCoD's Fig. 3 (You et al., HPCA 2023)
  shows such polarized maps;
- a **CLS bias** on the CLS key column: how much mass every patch gives the CLS token, which
  ViTCoD keeps whatever the cut-off (You et al., HPCA 2023, Sec. 4.1), and so how much is
  left to the other keys;
- a **key saliency** bias shared by all queries of a head (content-dependent attention averaged
  over a data set leaves a per-key preference; it makes diffuse heads polarize too);
- Gaussian **noise** per entry, so unnormalised weights ``exp(logit)`` are log-normal (heavy
  tailed).

The sum is scaled by a per-head and per-row sharpness (inverse temperature, log-normal), which
spreads row lengths after pruning between heads (as in the real mask, where one head keeps 2
entries per row and another 38) and, less, between rows of a head. All logit parameters are in
nats (natural-log units of unnormalised probability).

Blocks are generated one at a time from ``np.random.default_rng([seed, block_idx])``, so any
block can be regenerated alone and a model as large as ViT-H/14 at 518 px streams in
``O(n_heads * n_q * n_k)`` memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, fields

import numpy as np

from vitsim.errors import VitsimError
from vitsim.workloads.model_spec import BlockKind, BlockSpec, ModelSpec, check_attention_size
from vitsim.workloads.prune import prune_info, search_info_cutoff

# The CLS token has no grid position: its squared distance (patches^2) to every token is set
# this large, so the local Gaussian exp(-d2 / (2 sigma^2)) underflows to 0 there.
_NO_POSITION_D2 = np.float32(1e9)


@dataclass(frozen=True)
class SyntheticParams:
    """The structural knobs of the generator; the defaults are calibrated (see below).

    Depth-dependent values are given at the first and the last layer and interpolated over the
    depth fraction ``t = layer_idx / (n_layers - 1)``: linearly for fractions and logits,
    geometrically for counts. Spreads named ``*_log_sd`` are standard deviations of a natural
    log (a log-normal factor), the others of an additive normal.

    Calibrated with ``benchmarks/calibrate_synthetic.py`` against ViTCoD's released DeiT-Tiny
    mask at 95% sparsity (``benchmarks/CALIBRATION.md``); a few structural parameters, no
    per-layer tables.

    Attributes
    ----------
    sink_head_fraction_first, sink_head_fraction_last
        Probability (0..1) that a head has sink columns besides CLS, at the first and the last
        layer.
    sink_count_first, sink_count_last
        Median number of sink columns (tokens) in a head that has sinks, at the first and the
        last layer.
    sink_count_log_sd
        Per-head log-normal spread of the sink count (dimensionless).
    sink_logit
        Median logit bonus of a sink column (nats), added for every query.
    sink_logit_sd
        Per-sink spread of that bonus (nats): weaker sinks are kept by only some queries.
    local_logit_first, local_logit_last
        Peak logit of the local Gaussian at the first and the last layer (nats).
    local_width_patches
        Median standard deviation of the local Gaussian (patches of the key grid).
    local_width_log_sd
        Per-head log-normal spread of that width (dimensionless).
    diag_logit
        Median extra logit of a patch attending to itself (nats).
    diag_logit_sd
        Per-head spread of the diagonal logit (nats).
    cls_logit
        Logit bias of the CLS key column (nats), for blocks with a CLS token.
    cls_logit_sd
        Per-head spread of the CLS bias (nats).
    key_saliency_sd
        Spread of the per-head, per-key bias shared by all queries (nats).
    noise_sd
        Spread of the independent per-entry logit noise (nats).
    head_sharpness_log_sd
        Per-head log-normal spread of the inverse temperature (dimensionless; median 1).
    row_sharpness_log_sd
        Per-row log-normal spread of the inverse temperature (dimensionless; median 1).
    """

    sink_head_fraction_first: float = 0.0
    sink_head_fraction_last: float = 1.0
    sink_count_first: float = 3.0
    sink_count_last: float = 7.0
    sink_count_log_sd: float = 0.35
    sink_logit: float = 2.8
    sink_logit_sd: float = 0.7
    local_logit_first: float = 7.2
    local_logit_last: float = 1.4
    local_width_patches: float = 1.2
    local_width_log_sd: float = 0.3
    diag_logit: float = 2.3
    diag_logit_sd: float = 0.5
    cls_logit: float = 4.4
    cls_logit_sd: float = 1.3
    key_saliency_sd: float = 0.9
    noise_sd: float = 1.25
    head_sharpness_log_sd: float = 1.2
    row_sharpness_log_sd: float = 0.1

    def __post_init__(self) -> None:
        for name in ("sink_head_fraction_first", "sink_head_fraction_last"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise VitsimError(f"must be in [0, 1], got {value}", field=name)
        for name in ("sink_count_first", "sink_count_last", "local_width_patches"):
            value = getattr(self, name)
            if not value > 0.0:
                raise VitsimError(f"must be > 0, got {value}", field=name)
        for f in fields(self):
            if f.name.endswith("_sd") and not getattr(self, f.name) >= 0.0:
                raise VitsimError(f"must be >= 0, got {getattr(self, f.name)}", field=f.name)


def _grid_positions(n_tokens: int, has_cls: bool, what: str) -> tuple[int, np.ndarray]:
    """The side of a token set's square patch grid and each patch token's (row, col)."""
    n_patches = n_tokens - 1 if has_cls else n_tokens
    side = math.isqrt(n_patches)
    if side * side != n_patches or side == 0:
        raise VitsimError(f"{n_patches} patch tokens do not form a square grid", field=what)
    idx = np.arange(n_patches)
    return side, np.stack([idx // side, idx % side], axis=1)


def _squared_distances(block: BlockSpec) -> np.ndarray:
    """Squared grid distance (patches^2) from each query to each key; CLS is far from all.

    For LeViT's subsampling blocks the query grid is the stride-2 subgrid of the key grid:
    query (i, j) sits at key (2i, 2j) (LeViT reference code, ``Subsample``).
    """
    off = 1 if block.has_cls else 0
    k_side, k_pos = _grid_positions(block.n_k_tokens, block.has_cls, "n_k_tokens")
    if block.kind is BlockKind.SUBSAMPLE:
        q_side, q_pos = _grid_positions(block.n_q_tokens, block.has_cls, "n_q_tokens")
        if q_side != (k_side - 1) // 2 + 1:
            raise VitsimError(f"query grid {q_side} is not the stride-2 subgrid of {k_side}",
                              field="n_q_tokens")
        q_pos = 2 * q_pos
    else:
        if block.n_q_tokens != block.n_k_tokens:
            raise VitsimError("a self-attention block needs as many queries as keys",
                              field="n_q_tokens")
        q_pos = k_pos
    diff = q_pos[:, None, :].astype(np.float32) - k_pos[None, :, :].astype(np.float32)
    d2 = np.full((block.n_q_tokens, block.n_k_tokens), _NO_POSITION_D2, dtype=np.float32)
    d2[off:, off:] = (diff * diff).sum(axis=-1)
    return d2


def _depth_fraction(layer_idx: int, n_layers: int) -> float:
    if not 0 <= layer_idx < n_layers:
        raise VitsimError(f"layer {layer_idx} is outside 0..{n_layers - 1}", field="layer_idx")
    return layer_idx / (n_layers - 1) if n_layers > 1 else 0.0


def _lerp(first: float, last: float, t: float) -> float:
    return first + (last - first) * t


def _geomerp(first: float, last: float, t: float) -> float:
    return first * (last / first) ** t


def generate_block_probs(
    block: BlockSpec,
    layer_idx: int,
    n_layers: int,
    rng: np.random.Generator,
    params: SyntheticParams,
) -> np.ndarray:
    """One block's synthetic attention probabilities, float32 ``[n_heads, n_q, n_k]``.

    ``layer_idx`` (0-based) of ``n_layers`` sets the depth-dependent terms (sinks, locality).
    Token 0 is CLS when ``block.has_cls``; the other tokens form a square patch grid. Rows sum
    to 1 (a softmax of the logits described in the module docstring).
    """
    check_attention_size(block.name, [(1, block.n_heads, block.n_q_tokens, block.n_k_tokens)],
                         field=block.name)
    t = _depth_fraction(layer_idx, n_layers)
    d2 = _squared_distances(block)
    n_h, n_q, n_k = block.n_heads, block.n_q_tokens, block.n_k_tokens
    off = 1 if block.has_cls else 0
    is_diag = d2 == 0.0
    if block.has_cls:
        is_diag[0, 0] = True
    patch_keys = np.arange(off, n_k)

    sink_fraction = _lerp(params.sink_head_fraction_first, params.sink_head_fraction_last, t)
    sink_count = _geomerp(params.sink_count_first, params.sink_count_last, t)
    local_logit = _lerp(params.local_logit_first, params.local_logit_last, t)

    probs = np.empty((n_h, n_q, n_k), dtype=np.float32)
    for h in range(n_h):
        # Per-head draws come first, in a fixed order, so the stream is reproducible.
        has_sinks = rng.random() < sink_fraction
        n_sinks = round(sink_count * math.exp(params.sink_count_log_sd * rng.standard_normal()))
        width = params.local_width_patches * math.exp(params.local_width_log_sd
                                                      * rng.standard_normal())
        diag = params.diag_logit + params.diag_logit_sd * rng.standard_normal()
        cls = params.cls_logit + params.cls_logit_sd * rng.standard_normal()
        sharpness = math.exp(params.head_sharpness_log_sd * rng.standard_normal())

        key_bias = params.key_saliency_sd * rng.standard_normal(n_k, dtype=np.float32)
        if has_sinks and n_sinks > 0:
            sinks = rng.choice(patch_keys, size=min(n_sinks, patch_keys.size), replace=False)
            key_bias[sinks] += (params.sink_logit + params.sink_logit_sd
                                * rng.standard_normal(sinks.size)).astype(np.float32)
        if block.has_cls:
            key_bias[0] += np.float32(cls)

        logits = rng.standard_normal((n_q, n_k), dtype=np.float32)
        logits *= np.float32(params.noise_sd)
        logits += key_bias[None, :]
        logits += np.float32(local_logit) * np.exp(d2 * np.float32(-0.5 / width**2))
        logits[is_diag] += np.float32(diag)
        row_sharpness = sharpness * np.exp(params.row_sharpness_log_sd
                                           * rng.standard_normal(n_q))
        logits *= row_sharpness.astype(np.float32)[:, None]

        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        probs[h] = logits
    return probs


def _block_rng(seed: int, block_idx: int) -> np.random.Generator:
    return np.random.default_rng([seed, block_idx])


def iter_block_probs(
    spec: ModelSpec, seed: int, params: SyntheticParams = SyntheticParams()
) -> Iterator[tuple[BlockSpec, np.ndarray]]:
    """Each block of ``spec`` with its synthetic probabilities, one block at a time.

    Block ``i`` is drawn from ``np.random.default_rng([seed, i])``: the same seed gives the
    same arrays, and any block can be regenerated without the others.
    """
    n_layers = len(spec.blocks)
    for idx, block in enumerate(spec.blocks):
        yield block, generate_block_probs(block, idx, n_layers, _block_rng(seed, idx), params)


def synthetic_masks(
    spec: ModelSpec,
    sparsity: float,
    seed: int,
    params: SyntheticParams = SyntheticParams(),
    *,
    keep_cls: bool = True,
) -> tuple[float, Iterator[np.ndarray]]:
    """The model-wide info cut-off reaching ``sparsity``, and each block's kept mask.

    ``sparsity`` is the target fraction (0..1) of pruned attention entries over the whole
    model. One cut-off serves every head, as in ViTCoD (You et al., HPCA 2023, Sec. 4.1), so
    peaked heads end up sparser than diffuse ones. The cut-off is found by one streaming pass
    (:func:`vitsim.workloads.prune.search_info_cutoff`); the masks, bool
    ``[n_heads, n_q, n_k]`` with True = kept, come from a second pass that regenerates the
    probabilities block by block, in ``spec.blocks`` order.
    """

    def blocks() -> Iterator[tuple[np.ndarray, bool]]:
        for block, probs in iter_block_probs(spec, seed, params):
            yield probs, block.has_cls

    cutoff = search_info_cutoff(blocks, sparsity, keep_cls=keep_cls)

    def masks() -> Iterator[np.ndarray]:
        for block, probs in iter_block_probs(spec, seed, params):
            yield prune_info(probs, cutoff, keep_cls=keep_cls and block.has_cls)

    return cutoff, masks()
