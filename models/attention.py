"""Attention with ViTCoD's two algorithm knobs: a fixed mask and the Q/K auto-encoder.

Every attention module of :mod:`vitsim.models.vit` and :mod:`vitsim.models.levit` derives from
:class:`MaskedAttention`, which owns the part they share:

- **Fixed mask** (You et al., ViTCoD, HPCA 2023, Sec. 4.1): a kept mask, bool
  ``[n_heads, n_q, n_k]`` (True = kept), identical for every input. Pruned scores are set to
  ``-inf`` after scaling and before the softmax, as in ViTCoD's released DeiT code, so they
  get exactly zero probability and the kept ones renormalise among themselves.
- **Q/K auto-encoder** (Sec. 4.3): :class:`QKAutoEncoder` compresses Q and K along the head axis
  (``n_heads -> n_latent``) with a linear encoder and restores them with a linear decoder; the
  attention is computed from the decoded Q and K, and the reconstruction error is kept on the
  module for the training loss.
- **Capture**: the probabilities pass through ``attn_probs`` (an ``nn.Identity``), the hook
  point that :mod:`vitsim.models.capture` uses. It holds no state and adds no checkpoint key.

The mask is a non-persistent buffer: checkpoints keep timm's key layout, and masks travel
beside the weights (see :mod:`vitsim.models.checkpoint`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vitsim.errors import VitsimError


def default_latent_heads(n_heads: int) -> int:
    """ViTCoD's latent head count: ``ceil(n_heads / 2)`` (3 -> 2 for DeiT-Tiny, 12 -> 6)."""
    return math.ceil(n_heads / 2)


class HeadMoments:
    """Running first and second moments of a tensor along its head axis (float64).

    ``add(x)`` takes ``x [B, h, N, d]`` and treats every (image, token, channel) position as
    one sample of an ``h``-vector; memory is ``O(h^2)`` whatever the data.
    """

    def __init__(self, n_heads: int) -> None:
        self.n = 0
        self.sum = torch.zeros(n_heads, dtype=torch.float64)
        self.outer = torch.zeros(n_heads, n_heads, dtype=torch.float64)

    def add(self, x: torch.Tensor) -> None:
        samples = x.detach().movedim(1, -1).reshape(-1, x.shape[1]).to("cpu", torch.float64)
        self.n += samples.shape[0]
        self.sum += samples.sum(dim=0)
        self.outer += samples.T @ samples

    def mean_and_covariance(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.n == 0:
            raise VitsimError("no samples to fit the auto-encoder on", field="data")
        mean = self.sum / self.n
        return mean, self.outer / self.n - torch.outer(mean, mean)


class QKAutoEncoder(nn.Module):
    """Linear encoders and decoders for Q and K along the head axis.

    Follows ViTCoD's released ``mix_head_fc_qk`` variant: Q and K each get an encoder
    ``Linear(n_heads, n_latent)`` and a decoder ``Linear(n_latent, n_heads)`` (with biases),
    applied at every (token, channel) position. The reconstruction loss is the mean squared
    error of the decoded Q and K (ViTCoD uses the unnormalised L2 distance, which grows with
    the batch size; the mean keeps one weight valid for any batch).

    Parameters
    ----------
    n_heads
        Heads of the attention it serves (``h``).
    n_latent
        Heads after compression (``h'``); default ``ceil(h / 2)``.
    """

    def __init__(self, n_heads: int, n_latent: int | None = None) -> None:
        super().__init__()
        n_latent = default_latent_heads(n_heads) if n_latent is None else n_latent
        if not 1 <= n_latent <= n_heads:
            raise VitsimError(f"latent heads must be in [1, {n_heads}], got {n_latent}",
                              field="n_latent")
        self.n_heads = n_heads
        self.n_latent = n_latent
        self.encoder_q = nn.Linear(n_heads, n_latent)
        self.decoder_q = nn.Linear(n_latent, n_heads)
        self.encoder_k = nn.Linear(n_heads, n_latent)
        self.decoder_k = nn.Linear(n_latent, n_heads)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Orthonormal encoder rows with the transposed decoder and zero biases.

        Decoding then projects onto the encoder's row space, so training starts from the best
        reconstruction that subspace allows (the identity when ``n_latent == n_heads``).
        """
        for enc, dec in ((self.encoder_q, self.decoder_q), (self.encoder_k, self.decoder_k)):
            nn.init.orthogonal_(enc.weight)
            with torch.no_grad():
                dec.weight.copy_(enc.weight.t())
            nn.init.zeros_(enc.bias)
            nn.init.zeros_(dec.bias)

    @torch.no_grad()
    def init_pca(self, q_moments: HeadMoments, k_moments: HeadMoments) -> None:
        """Set Q's and K's encoder and decoder to PCA along the head axis.

        With mean ``mu`` and the ``n_latent`` leading eigenvectors ``U [h, h']`` of the
        head-axis covariance, the encoder is ``U^T (x - mu)`` and the decoder ``mu + U z``:
        the best affine reconstruction of that rank (ViTCoD's released code also tried PCA of
        the heads, ``torch.pca_lowrank``, before its learned linear layers).
        """
        for enc, dec, moments in ((self.encoder_q, self.decoder_q, q_moments),
                                  (self.encoder_k, self.decoder_k, k_moments)):
            mean, cov = moments.mean_and_covariance()
            _, vectors = torch.linalg.eigh(cov)  # ascending eigenvalues
            u = vectors[:, -self.n_latent:].flip(-1)  # [h, h'], leading first
            enc.weight.copy_(u.T.to(enc.weight))
            enc.bias.copy_((-(u.T @ mean)).to(enc.bias))
            dec.weight.copy_(u.to(dec.weight))
            dec.bias.copy_(mean.to(dec.bias))

    @staticmethod
    def _along_heads(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        # x [B, h, N, d] -> heads last [B, N, d, h] -> linear -> back to [B, h', N, d]
        return layer(x.movedim(1, -1)).movedim(-1, 1)

    def encode(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, h, N, d]`` -> ``[B, h', N, d]``: what would go to DRAM."""
        return self._along_heads(self.encoder_q, q), self._along_heads(self.encoder_k, k)

    def decode(self, q_lat: torch.Tensor, k_lat: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, h', N, d]`` -> ``[B, h, N, d]``: what the on-chip decoder restores."""
        return self._along_heads(self.decoder_q, q_lat), self._along_heads(self.decoder_k, k_lat)

    def forward(self, q: torch.Tensor, k: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Decoded Q and K (shapes of the inputs) and the reconstruction loss (a scalar)."""
        q_hat, k_hat = self.decode(*self.encode(q, k))
        loss = F.mse_loss(q_hat, q) + F.mse_loss(k_hat, k)
        return q_hat, k_hat, loss


class MaskedAttention(nn.Module):
    """Scaled dot-product attention with an optional fixed mask and Q/K auto-encoder.

    Subclasses project their inputs to per-head ``q [B, h, n_q, d_qk]``, ``k [B, h, n_k, d_qk]``
    and ``v [B, h, n_k, d_v]`` and call :meth:`attend`.
    """

    kept_mask: torch.Tensor | None

    def __init__(self, n_heads: int, n_q_tokens: int, n_k_tokens: int, qk_dim: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.n_q_tokens = n_q_tokens
        self.n_k_tokens = n_k_tokens
        self.scale = qk_dim ** -0.5
        self.attn_probs = nn.Identity()  # hook point for capture
        self.register_buffer("kept_mask", None, persistent=False)
        self.qk_codec: QKAutoEncoder | None = None
        self.recon_loss: torch.Tensor | None = None  # set by the last forward with a codec

    # -- the fixed mask

    def set_mask(self, kept: np.ndarray | torch.Tensor | None) -> None:
        """Fix the kept mask, bool ``[n_heads, n_q, n_k]`` (True = kept), or clear it (None).

        Every row must keep at least one score: a row of ``-inf`` has no softmax.
        """
        if kept is None:
            self.kept_mask = None
            return
        mask = torch.as_tensor(np.asarray(kept) if not torch.is_tensor(kept) else kept)
        expected = (self.n_heads, self.n_q_tokens, self.n_k_tokens)
        if tuple(mask.shape) != expected:
            raise VitsimError(f"mask shape {tuple(mask.shape)}, expected {expected}",
                              field="mask")
        mask = mask.to(dtype=torch.bool)
        empty = ~mask.any(dim=-1)
        if bool(empty.any()):
            head, row = (int(i) for i in torch.nonzero(empty)[0])
            raise VitsimError(f"head {head} row {row} keeps no score", field="mask")
        device = next((p.device for p in self.parameters()), mask.device)
        self.kept_mask = mask.to(device)

    # -- the auto-encoder

    def set_codec(self, n_latent: int | None) -> QKAutoEncoder | None:
        """Attach a fresh Q/K auto-encoder with ``n_latent`` heads, or remove it (None)."""
        if n_latent is None:
            self.qk_codec = None
        else:
            codec = QKAutoEncoder(self.n_heads, n_latent)
            device = next((p.device for p in self.parameters()), None)
            self.qk_codec = codec.to(device) if device is not None else codec
        self.recon_loss = None
        return self.qk_codec

    # -- the computation

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               bias: torch.Tensor | None = None) -> torch.Tensor:
        """``softmax(mask(q k^T * scale + bias)) v`` per head: ``[B, h, n_q, d_v]``.

        ``bias`` (``[h, n_q, n_k]``) is LeViT's learned attention bias, added before masking.
        """
        if self.qk_codec is not None:
            q, k, self.recon_loss = self.qk_codec(q, k)
        scores = (q @ k.transpose(-2, -1)) * self.scale
        if bias is not None:
            scores = scores + bias
        if self.kept_mask is not None:
            scores = scores.masked_fill(~self.kept_mask, float("-inf"))
        probs = self.attn_probs(scores.softmax(dim=-1))
        return probs @ v


def attention_modules(model: nn.Module) -> list[MaskedAttention]:
    """The model's attention modules in execution order (one per ``ModelSpec`` block)."""
    return [m for m in model.modules() if isinstance(m, MaskedAttention)]


def set_masks(model: nn.Module, kept_blocks: list[np.ndarray] | tuple[np.ndarray, ...] | None
              ) -> None:
    """Fix one kept mask per attention block (``[n_heads, n_q, n_k]`` each), or clear all."""
    modules = attention_modules(model)
    if kept_blocks is None:
        for m in modules:
            m.set_mask(None)
        return
    if len(kept_blocks) != len(modules):
        raise VitsimError(f"{len(kept_blocks)} mask blocks for {len(modules)} attention "
                          "blocks", field="masks")
    for i, (m, kept) in enumerate(zip(modules, kept_blocks, strict=True)):
        try:
            m.set_mask(kept)
        except VitsimError as err:
            raise VitsimError(err.message, field=f"block_{i}") from None


def get_masks(model: nn.Module) -> tuple[np.ndarray, ...] | None:
    """The fixed kept masks of every block (bool numpy), or None for a dense model."""
    masks = [m.kept_mask for m in attention_modules(model)]
    if all(mk is None for mk in masks):
        return None
    if any(mk is None for mk in masks):
        raise VitsimError("only some blocks have a fixed mask", field="masks")
    return tuple(mk.cpu().numpy() for mk in masks if mk is not None)


def set_codecs(model: nn.Module, n_latent: int | None = None, *, enabled: bool = True) -> None:
    """Attach a fresh Q/K auto-encoder to every attention block (``n_latent`` default:
    ``ceil(h / 2)`` of each block), or remove them all (``enabled=False``)."""
    for m in attention_modules(model):
        m.set_codec((default_latent_heads(m.n_heads) if n_latent is None else n_latent)
                    if enabled else None)


def codec_latent_heads(model: nn.Module) -> list[int | None]:
    """Per block, the latent heads of its auto-encoder, or None where it has none."""
    return [m.qk_codec.n_latent if m.qk_codec is not None else None
            for m in attention_modules(model)]


def restore_codecs(model: nn.Module, latent_per_block: list[int | None]) -> None:
    """Attach auto-encoders as :func:`codec_latent_heads` described them (weights follow)."""
    modules = attention_modules(model)
    if len(latent_per_block) != len(modules):
        raise VitsimError(f"{len(latent_per_block)} codec entries for {len(modules)} "
                          "attention blocks", field="codecs")
    for m, n_latent in zip(modules, latent_per_block, strict=True):
        m.set_codec(n_latent)


def reconstruction_loss(model: nn.Module) -> torch.Tensor | None:
    """Sum over blocks of the auto-encoders' losses from the last forward, or None."""
    losses = [m.recon_loss for m in attention_modules(model)
              if m.qk_codec is not None and m.recon_loss is not None]
    return torch.stack(losses).sum() if losses else None
