"""Capturing attention probabilities: per block and head, averaged over a data set.

Forward hooks on every attention module's ``attn_probs`` point see the probabilities
``[B, h, n_q, n_k]`` of each batch; :class:`AttentionRecorder` adds them into one float64
running sum per block on the model's device and counts the images. Memory stays at one
``[h, n_q, n_k]`` sum per block whatever the data set's size; no per-image map is kept.

    with AttentionRecorder(model) as rec:
        for images, _ in loader:
            model(images)
    maps = rec.mean()              # one float64 [h, n_q, n_k] per block
    save_maps("maps.npz", model, maps, n_images=rec.n_images)

The file is :mod:`vitsim.workloads.attention_maps`' format, so ``vitsim trace --maps`` reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vitsim.errors import VitsimError
from vitsim.models.attention import HeadMoments, MaskedAttention, attention_modules
from vitsim.models.zoo import model_spec
from vitsim.progress import ProgressBar
from vitsim.workloads.attention_maps import save_attention_maps


class AttentionRecorder:
    """Running sums of attention probabilities, one per attention block, while active.

    Use as a context manager; the hooks are removed on exit, so the model runs at full speed
    afterwards.
    """

    def __init__(self, model: nn.Module) -> None:
        self.modules: list[MaskedAttention] = attention_modules(model)
        if not self.modules:
            raise VitsimError("the model has no attention modules to capture", field="model")
        self._sums: list[torch.Tensor | None] = [None] * len(self.modules)
        self._counts = [0] * len(self.modules)
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def _hook(self, index: int):
        def add(_module: nn.Module, _inputs: Any, probs: torch.Tensor) -> None:
            batch = probs.detach().to(torch.float64).sum(dim=0)  # [h, n_q, n_k]
            current = self._sums[index]
            self._sums[index] = batch if current is None else current + batch
            self._counts[index] += int(probs.shape[0])
        return add

    def __enter__(self) -> AttentionRecorder:
        self._handles = [m.attn_probs.register_forward_hook(self._hook(i))
                         for i, m in enumerate(self.modules)]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    @property
    def n_images(self) -> int:
        return self._counts[0]

    def mean(self) -> list[np.ndarray]:
        """Per block, the mean probabilities over every image seen: float64 ``[h, n_q, n_k]``."""
        if any(c == 0 for c in self._counts):
            raise VitsimError("no images were seen; nothing to average", field="data")
        if len(set(self._counts)) != 1:
            raise VitsimError(f"blocks saw different image counts {self._counts}",
                              field="data")
        return [(s / c).cpu().numpy()
                for s, c in zip(self._sums, self._counts, strict=True) if s is not None]


def _images_of(batch: Any) -> torch.Tensor:
    """A loader's batch is images, or ``(images, labels, ...)``."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


@torch.no_grad()
def capture_attention(
    model: nn.Module,
    batches: Iterable[Any],
    *,
    max_images: int | None = None,
    progress: bool = False,
) -> tuple[list[np.ndarray], int]:
    """Average the attention probabilities of ``model`` over ``batches`` (a DataLoader or any
    iterable of image tensors ``[B, C, H, W]`` or ``(images, labels)`` pairs).

    The model runs in eval mode on the device of its parameters. ``max_images`` stops early
    (the last batch is cut). Returns the per-block means (float64 ``[h, n_q, n_k]``) and the
    number of images averaged.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = max_images if max_images is not None else _length(batches)
    bar = ProgressBar(total, label="capture", enabled=progress, unit="img")
    try:
        with AttentionRecorder(model) as rec:
            for batch in batches:
                images = _images_of(batch)
                if max_images is not None:
                    if rec.n_images >= max_images:
                        break
                    images = images[: max_images - rec.n_images]
                model(images.to(device))
                bar.update(int(images.shape[0]))
    finally:
        bar.close()
        model.train(was_training)
    return rec.mean(), rec.n_images


def _length(batches: Iterable[Any]) -> int | None:
    dataset = getattr(batches, "dataset", None)
    try:
        return len(dataset) if dataset is not None else None  # type: ignore[arg-type]
    except TypeError:
        return None


def save_maps(path: str | Path, model: nn.Module, maps: Sequence[np.ndarray], *,
              n_images: int, meta: dict[str, Any] | None = None) -> None:
    """Write captured maps in the workloads' attention-maps format, with the model's spec."""
    spec = model_spec(model)
    for i, (m, block) in enumerate(zip(maps, spec.blocks, strict=True)):
        expected = (block.n_heads, block.n_q_tokens, block.n_k_tokens)
        if m.shape != expected:
            raise VitsimError(f"shape {m.shape}, expected {expected}", field=f"block_{i}")
    save_attention_maps(path, maps, meta={"model": spec.to_dict(), "n_images": int(n_images),
                                          **(meta or {})})


@torch.no_grad()
def fit_codecs(model: nn.Module, batches: Iterable[Any], *,
               max_images: int | None = None) -> int:
    """Initialise every Q/K auto-encoder of ``model`` by PCA along the head axis.

    One pass over ``batches`` with the auto-encoders bypassed (the model computes as without
    them) collects each block's head-axis moments of Q and K; then
    :meth:`~vitsim.models.attention.QKAutoEncoder.init_pca` sets the weights. Fine-tuning
    then starts from the best linear compression instead of a random one. Returns the number
    of images used.
    """
    modules = [m for m in attention_modules(model) if m.qk_codec is not None]
    if not modules:
        raise VitsimError("the model has no auto-encoders to fit", field="model")
    moments = [(HeadMoments(m.n_heads), HeadMoments(m.n_heads)) for m in modules]
    handles = []
    for m, (q_mom, k_mom) in zip(modules, moments, strict=True):
        def record(_mod: nn.Module, args: tuple[torch.Tensor, ...], q_mom=q_mom, k_mom=k_mom
                   ) -> None:
            q_mom.add(args[0])
            k_mom.add(args[1])

        def bypass(_mod: nn.Module, args: tuple[torch.Tensor, ...], _out: Any) -> Any:
            return args[0], args[1], torch.zeros((), device=args[0].device)

        handles += [m.qk_codec.register_forward_pre_hook(record),
                    m.qk_codec.register_forward_hook(bypass)]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    seen = 0
    try:
        for batch in batches:
            images = _images_of(batch)
            if max_images is not None:
                if seen >= max_images:
                    break
                images = images[: max_images - seen]
            model(images.to(device))
            seen += int(images.shape[0])
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    for m, (q_mom, k_mom) in zip(modules, moments, strict=True):
        m.qk_codec.init_pca(q_mom, k_mom)  # type: ignore[union-attr]
    return seen
