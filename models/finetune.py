"""Training and fine-tuning: task loss, optional distillation, the auto-encoders' loss.

One loop serves dense training and ViTCoD's fine-tuning of a pruned model (You et al., HPCA
2023, Sec. 4): the model's fixed masks and Q/K auto-encoders are part of the model, so the same
call trains whatever the model is. The loss per batch is

    (1 - distill_weight) * cross_entropy(logits, labels)
    + distill_weight * T^2 * KL(softmax(teacher / T) || softmax(logits / T))   (with a teacher)
    + recon_weight * sum over blocks of the auto-encoders' reconstruction loss (when present)

with AdamW and a per-step cosine learning-rate schedule after a linear warm-up (DeiT's recipe,
Touvron et al., ICML 2021, without its augmentations).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vitsim.errors import VitsimError
from vitsim.models.attention import reconstruction_loss
from vitsim.models.checkpoint import save_checkpoint
from vitsim.progress import ProgressBar


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (learning rates in 1/step units of AdamW)."""

    epochs: int = 10
    lr: float = 1e-3  # peak learning rate
    min_lr: float = 1e-5  # floor of the cosine schedule
    warmup_epochs: float = 0.0  # linear warm-up from 0 to lr
    weight_decay: float = 0.05
    label_smoothing: float = 0.0
    distill_weight: float = 0.0  # 0: no distillation; needs a teacher when > 0
    distill_temperature: float = 1.0
    recon_weight: float = 1.0  # weight of the Q/K auto-encoders' reconstruction loss
    max_grad_norm: float | None = 1.0  # gradient clipping; None: off
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise VitsimError(f"epochs must be >= 1, got {self.epochs}", field="epochs")
        if not 0.0 <= self.distill_weight <= 1.0:
            raise VitsimError(f"distill weight must be in [0, 1], got {self.distill_weight}",
                              field="distill_weight")
        if self.lr <= 0 or self.min_lr < 0 or self.min_lr > self.lr:
            raise VitsimError(f"need 0 <= min_lr <= lr and lr > 0, got {self.min_lr}, "
                              f"{self.lr}", field="lr")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EpochLog:
    """What one epoch did: mean losses per batch, training accuracy, the last learning rate."""

    epoch: int
    lr: float
    loss: float
    task_loss: float
    distill_loss: float
    recon_loss: float
    train_accuracy: float
    seconds: float


def cosine_lr(step: int, total_steps: int, *, lr: float, min_lr: float,
              warmup_steps: int) -> float:
    """Learning rate at ``step`` (0-based): linear warm-up, then half a cosine to ``min_lr``."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def _batch_loss(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                config: TrainConfig, teacher: nn.Module | None
                ) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
    logits = model(images)
    task = F.cross_entropy(logits, labels, label_smoothing=config.label_smoothing)
    loss = task
    distill = torch.zeros((), device=logits.device)
    if teacher is not None and config.distill_weight > 0:
        with torch.no_grad():
            target = teacher(images)
        t = config.distill_temperature
        distill = F.kl_div(F.log_softmax(logits / t, dim=-1), F.softmax(target / t, dim=-1),
                           reduction="batchmean") * t * t
        loss = (1 - config.distill_weight) * task + config.distill_weight * distill
    recon = reconstruction_loss(model)
    if recon is not None:
        loss = loss + config.recon_weight * recon
    parts = {"task_loss": task.item(), "distill_loss": distill.item(),
             "recon_loss": recon.item() if recon is not None else 0.0}
    return loss, logits, parts


def train(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    config: TrainConfig,
    *,
    teacher: nn.Module | None = None,
    checkpoint_path: str | Path | None = None,
    checkpoint_meta: dict[str, Any] | None = None,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    progress: bool = False,
    desc: str = "train",
) -> list[EpochLog]:
    """Train ``model`` in place on ``loader`` (``(images, labels)`` batches) for
    ``config.epochs`` epochs; returns one :class:`EpochLog` per epoch.

    ``teacher`` (kept in eval mode, no gradients) enables distillation when
    ``config.distill_weight > 0``. With ``checkpoint_path`` the model is saved there after
    every epoch (atomically; the file always holds the latest finished epoch). ``augment``
    maps each training batch of images to an augmented one (on the CPU, before the device).
    """
    if config.distill_weight > 0 and teacher is None:
        raise VitsimError("distillation needs a teacher model", field="distill_weight")
    device = next(model.parameters()).device
    torch.manual_seed(config.seed)
    steps_per_epoch = len(loader)  # type: ignore[arg-type]
    total_steps = config.epochs * steps_per_epoch
    warmup_steps = round(config.warmup_epochs * steps_per_epoch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    if teacher is not None:
        teacher.eval()
    history: list[EpochLog] = []
    step = 0
    for epoch in range(config.epochs):
        model.train()
        start = time.perf_counter()
        sums = {"loss": 0.0, "task_loss": 0.0, "distill_loss": 0.0, "recon_loss": 0.0}
        correct = seen = n_batches = 0
        lr = config.lr
        bar = ProgressBar(steps_per_epoch, label=f"{desc} {epoch + 1}/{config.epochs}",
                          enabled=progress, unit="batches")
        for images, labels in loader:
            if augment is not None:
                images = augment(images)
            images, labels = images.to(device), labels.to(device)
            lr = cosine_lr(step, total_steps, lr=config.lr, min_lr=config.min_lr,
                           warmup_steps=warmup_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, logits, parts = _batch_loss(model, images, labels, config, teacher)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.max_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            step += 1
            n_batches += 1
            sums["loss"] += loss.item()
            for key, value in parts.items():
                sums[key] += value
            correct += int((logits.argmax(dim=-1) == labels).sum())
            seen += int(labels.shape[0])
            bar.update(1, loss=sums["loss"] / n_batches)
        bar.close()
        means = {k: v / max(1, n_batches) for k, v in sums.items()}
        history.append(EpochLog(epoch=epoch + 1, lr=lr, train_accuracy=correct / max(1, seen),
                                seconds=time.perf_counter() - start, **means))
        if checkpoint_path is not None:
            meta = {**(checkpoint_meta or {}), "epoch": epoch + 1,
                    "train_config": config.to_dict()}
            save_checkpoint(checkpoint_path, model, meta=meta)
    model.eval()
    return history


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Top-1 accuracy of ``model`` (eval mode) over ``(images, labels)`` batches."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = seen = 0
    for images, labels in loader:
        logits = model(images.to(device))
        correct += int((logits.argmax(dim=-1).cpu() == labels).sum())
        seen += int(labels.shape[0])
    model.train(was_training)
    if seen == 0:
        raise VitsimError("no images to evaluate", field="data")
    return correct / seen
