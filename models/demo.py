"""The co-design demo: ViTCoD's algorithm end to end on a small ViT, then its accelerator.

On scikit-learn's handwritten digits (upsampled so that an image is 64 patches + CLS):

1. train a small ViT (dense) and measure its held-out accuracy;
2. capture its attention maps over the training images (streaming mean);
3. prune them with ViTCoD's info cut-off at each target sparsity (one cut-off per model);
4. fine-tune each pruned model with its fixed mask, with and without the Q/K auto-encoder
   (initialised by PCA along the head axis on the training images), distilling from the
   dense model; a sparsity-0 row fine-tunes the dense model the same way,
   so what fine-tuning alone gives is visible;
5. trace the model at ``traced_sparsity`` from its fixed masks, and simulate it and its dense
   counterpart on the ``vitcod`` hardware preset.

Everything is seeded (data split, initialisation, batch order) and the held-out split is never
used for any choice. Output files, when a run directory is given, are listed in
:func:`run_demo`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from vitsim.atomic import atomic_output_dir
from vitsim.errors import VitsimError
from vitsim.models.attention import set_codecs, set_masks
from vitsim.models.capture import capture_attention, fit_codecs, save_maps
from vitsim.models.checkpoint import save_checkpoint
from vitsim.models.digits import N_CLASSES, DigitsSplit, RandomAffine, load_digits_split
from vitsim.models.finetune import TrainConfig, evaluate, train
from vitsim.models.pruning import PrunedMasks, prune_maps, save_masks
from vitsim.models.zoo import build_model, resolve_device
from vitsim.workloads.model_spec import ModelSpec, build_vit
from vitsim.workloads.trace import WorkloadTrace, build_trace

log = logging.getLogger(__name__)

# simulate_trace(trace, hardware preset name) -> its summary (total_cycles, attention_cycles,
# latency_ms, energy_mj, ...); brought by the caller, so that models never imports the simulator.
SimulateTrace = Callable[[WorkloadTrace, str], Mapping[str, Any]]

# Training recipes of the demo. Chosen without the held-out split: the fine-tuning peak rate
# on a validation quarter of the training split (seed 0; mean validation accuracy over 90 and
# 95% sparsity, with and without the auto-encoder: 91.6% at 5e-4, 92.5% at 1e-3, 92.6% at
# 2e-3, a tie within one image; the lower rate kept). The dense model learns in 15 epochs;
# fine-tuning starts from it, distils from it, and is short so the demo takes minutes.
DENSE_RECIPE = TrainConfig(epochs=15, lr=2e-3, warmup_epochs=1.0, label_smoothing=0.1)
FINETUNE_RECIPE = TrainConfig(epochs=2, lr=1e-3, min_lr=1e-5, label_smoothing=0.1,
                              distill_weight=0.5, distill_temperature=2.0, recon_weight=1.0)


@dataclass(frozen=True)
class DemoConfig:
    """Sizes, training recipes and sparsities of one demo run."""

    embed_dim: int = 64
    depth: int = 4
    n_heads: int = 4
    mlp_ratio: float = 2.0
    image_size: int = 32  # 8 x 8 digits upsampled
    patch_size: int = 4  # (32 / 4)^2 = 64 patches + CLS = 65 tokens
    test_fraction: float = 0.3
    limit: int | None = None  # use only the first images (quick runs)
    batch_size: int = 16
    dense: TrainConfig = DENSE_RECIPE
    finetune: TrainConfig = FINETUNE_RECIPE
    sparsities: tuple[float, ...] = (0.0, 0.5, 0.7, 0.9, 0.95)
    traced_sparsity: float = 0.9
    augment: bool = False  # random small affine moves of the training images
    hardware: str = "vitcod"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.traced_sparsity not in self.sparsities:
            raise VitsimError(f"traced sparsity {self.traced_sparsity} is not among the "
                              f"sparsities {self.sparsities}", field="traced_sparsity")

    @classmethod
    def quick(cls, seed: int = 0) -> DemoConfig:
        """A tiny run for smoke tests: 17 tokens, 300 images, one epoch per stage."""
        return cls(embed_dim=16, depth=2, n_heads=2, image_size=16, patch_size=4, limit=300,
                   batch_size=32, dense=TrainConfig(epochs=1, lr=2e-3, seed=seed),
                   finetune=dataclasses.replace(FINETUNE_RECIPE, epochs=1, seed=seed),
                   sparsities=(0.0, 0.9), seed=seed)

    def with_seed(self, seed: int) -> DemoConfig:
        return dataclasses.replace(self, seed=seed,
                                   dense=dataclasses.replace(self.dense, seed=seed),
                                   finetune=dataclasses.replace(self.finetune, seed=seed))

    def spec(self) -> ModelSpec:
        return build_vit(f"digits-vit-{self.embed_dim}x{self.depth}", embed_dim=self.embed_dim,
                         depth=self.depth, n_heads=self.n_heads, image_size=self.image_size,
                         patch_size=self.patch_size, mlp_ratio=self.mlp_ratio,
                         n_classes=N_CLASSES, in_channels=1)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class DemoResult:
    """Accuracies, the trace and its simulation; ``to_dict`` is the ``--json`` document."""

    config: DemoConfig
    dense_accuracy: float
    rows: list[dict[str, Any]] = field(default_factory=list)
    trace: dict[str, Any] = field(default_factory=dict)
    simulation: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    n_train: int = 0
    n_test: int = 0
    n_capture_images: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "model": self.config.spec().to_dict(),
                "n_train": self.n_train, "n_test": self.n_test,
                "n_capture_images": self.n_capture_images,
                "dense_accuracy": self.dense_accuracy, "rows": self.rows,
                "trace": self.trace, "simulation": self.simulation,
                "timings_s": self.timings_s}


# ------------------------------------------------------------------------------ stages


def _train_dense(cfg: DemoConfig, spec: ModelSpec, data: DigitsSplit, device: torch.device,
                 progress: bool) -> nn.Module:
    torch.manual_seed(cfg.seed)
    model = build_model(spec).to(device)
    augment = RandomAffine(background=data.background, seed=cfg.seed) if cfg.augment else None
    train(model, data.train_loader(cfg.batch_size, seed=cfg.seed), cfg.dense,
          augment=augment, progress=progress, desc="dense")
    return model


def _finetune_variant(cfg: DemoConfig, dense: nn.Module, masks: PrunedMasks | None,
                      data: DigitsSplit, *, autoencoder: bool, progress: bool, desc: str
                      ) -> nn.Module:
    """A copy of ``dense`` with the fixed masks (and auto-encoders), fine-tuned."""
    model = copy.deepcopy(dense)
    set_masks(model, None if masks is None else masks.blocks)
    if autoencoder:
        set_codecs(model)
        fit_codecs(model, data.train_loader(256, shuffle=False))
    train(model, data.train_loader(cfg.batch_size, seed=cfg.seed), cfg.finetune,
          teacher=dense, progress=progress, desc=desc)
    return model


def _trace_summary(trace: WorkloadTrace) -> dict[str, Any]:
    at = trace.attention
    return {"kept_density": trace.kept_density(), "n_tokens": trace.spec.n_tokens,
            "n_heads_total": trace.n_heads_total,
            "global_tokens_per_head": [int(g) for g in at.n_global],
            "global_tokens_mean": float(np.mean(at.n_global)),
            "kept_in_dense_region": float(at.dense_offsets[-1]
                                          / max(1, at.dense_offsets[-1] + at.sparse_offsets[-1])),
            "content_hash": trace.content_hash()}


def _tag(sparsity: float) -> str:
    return f"s{sparsity:.2f}"


# ------------------------------------------------------------------------------ the run


def run_demo(cfg: DemoConfig, simulate_trace: SimulateTrace, out_dir: str | Path | None = None,
             *, device: str | torch.device | None = None, progress: bool = False
             ) -> DemoResult:
    """Run the demo; with ``out_dir`` (absent or empty) write its files there:

    ``model.yaml`` (the spec: ``vitsim trace --maps maps.npz --model model.yaml`` works),
    ``dense.pt``, ``maps.npz``, ``masks_s<S>.npz`` (kept convention), ``finetuned_s<S>.pt``,
    ``finetuned_ae_s<S>.pt``, ``trace_s<S>.npz`` (the traced sparsity), ``results.json`` and
    ``run.json`` (inputs, seeds, versions). Files appear only when the whole run succeeds.

    ``simulate_trace(trace, hardware)`` simulates a trace on the named accelerator and returns
    its summary (``total_cycles`` and ``attention_cycles`` at least); the demo trains, prunes
    and traces, and the caller (``vitsim codesign-demo``) brings the simulator, so this
    package never imports it.
    """
    if out_dir is None:
        work = Path(tempfile.mkdtemp(prefix=".vitsim-demo."))
        try:
            return _run_in(cfg, work, resolve_device(device), progress, simulate_trace)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    with atomic_output_dir(out_dir) as work:
        result = _run_in(cfg, work, resolve_device(device), progress, simulate_trace)
        _write_json(work / "run.json", {"argv": sys.argv, "config": cfg.to_dict(),
                                        "device": str(resolve_device(device)),
                                        "versions": _versions()})
    return result


def _run_in(cfg: DemoConfig, work: Path, device: torch.device, progress: bool,
            simulate_trace: SimulateTrace) -> DemoResult:
    timings: dict[str, float] = {}
    start = time.perf_counter()
    spec = cfg.spec()
    data = load_digits_split(image_size=cfg.image_size, test_fraction=cfg.test_fraction,
                             seed=cfg.seed, limit=cfg.limit)
    (work / "model.yaml").write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False),
                                     encoding="utf-8")
    test = data.test_loader(256)

    t0 = time.perf_counter()
    dense = _train_dense(cfg, spec, data, device, progress)
    timings["dense_training"] = time.perf_counter() - t0
    result = DemoResult(cfg, evaluate(dense, test), n_train=len(data.train_labels),
                        n_test=len(data.test_labels))
    save_checkpoint(work / "dense.pt", dense, meta={"stage": "dense", "seed": cfg.seed})
    log.info("dense accuracy %.4f", result.dense_accuracy)

    t0 = time.perf_counter()
    maps, n_images = capture_attention(dense, data.train_loader(256, shuffle=False),
                                       progress=progress)
    save_maps(work / "maps.npz", dense, maps, n_images=n_images,
              meta={"data": "sklearn digits, training split", "seed": cfg.seed})
    result.n_capture_images = n_images
    timings["capture"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    traced_masks = None
    for sparsity in cfg.sparsities:
        masks = prune_maps(maps, spec, sparsity=sparsity) if sparsity > 0 else None
        row: dict[str, Any] = {"target_sparsity": sparsity,
                               "sparsity": 0.0 if masks is None else 1 - masks.kept_density(),
                               "info_cutoff": None if masks is None else masks.policy.param}
        pruned = copy.deepcopy(dense)
        set_masks(pruned, None if masks is None else masks.blocks)
        row["accuracy_pruned"] = evaluate(pruned, test)
        for key, autoencoder in (("finetuned", False), ("finetuned_ae", True)):
            tuned = _finetune_variant(cfg, dense, masks, data, autoencoder=autoencoder,
                                      progress=progress, desc=f"{key} {_tag(sparsity)}")
            row[f"accuracy_{key}"] = evaluate(tuned, test)
            save_checkpoint(work / f"{key}_{_tag(sparsity)}.pt", tuned,
                            meta={"stage": key, "target_sparsity": sparsity,
                                  "seed": cfg.seed})
        if masks is not None:
            save_masks(work / f"masks_{_tag(sparsity)}.npz", masks.blocks)
        if sparsity == cfg.traced_sparsity:
            traced_masks = masks
        result.rows.append(row)
        log.info("sparsity %.2f: %s", sparsity, row)
    timings["prune_and_finetune"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    result.trace, result.simulation = _trace_and_simulate(cfg, spec, traced_masks, work,
                                                                simulate_trace)
    timings["trace_and_simulate"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - start
    result.timings_s = timings
    _write_json(work / "results.json", result.to_dict())
    return result


def _trace_and_simulate(cfg: DemoConfig, spec: ModelSpec, masks: PrunedMasks | None,
                        work: Path, simulate_trace: SimulateTrace
                        ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Trace the fixed masks of the traced sparsity and simulate them and the dense model."""
    kept: Sequence[np.ndarray]
    if masks is None:
        kept = [np.ones((b.n_heads, b.n_q_tokens, b.n_k_tokens), dtype=bool)
                for b in spec.blocks]
        pruning: dict[str, Any] = {"method": "none"}
    else:
        kept, pruning = masks.blocks, masks.describe()
    trace = build_trace(spec, kept, meta={
        "source": {"kind": "model", "checkpoint": f"finetuned_{_tag(cfg.traced_sparsity)}.pt"},
        "pruning": pruning})
    trace.save(work / f"trace_{_tag(cfg.traced_sparsity)}.npz")
    dense_kept = [np.ones((b.n_heads, b.n_q_tokens, b.n_k_tokens), dtype=bool)
                  for b in spec.blocks]
    dense_trace = build_trace(spec, dense_kept, meta={"source": {"kind": "dense"}})
    sparse_sim = dict(simulate_trace(trace, cfg.hardware))
    dense_sim = dict(simulate_trace(dense_trace, cfg.hardware))
    simulation = {"sparse": sparse_sim, "dense": dense_sim,
                  "speedup_total": dense_sim["total_cycles"] / sparse_sim["total_cycles"],
                  "speedup_attention": (dense_sim["attention_cycles"]
                                        / sparse_sim["attention_cycles"])}
    summary = {"file": f"trace_{_tag(cfg.traced_sparsity)}.npz",
               "target_sparsity": cfg.traced_sparsity, **_trace_summary(trace)}
    return summary, simulation


# ------------------------------------------------------------------------------ files


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("vitsim", "numpy", "torch", "scikit-learn"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def format_table(result: DemoResult) -> str:
    """The accuracy-vs-sparsity table and the simulated trace, as text."""
    lines = [f"dense accuracy (held-out, {result.n_test} images): "
             f"{result.dense_accuracy:.2%}",
             f"{'target':>7} {'sparsity':>9} {'pruned':>8} {'fine-tuned':>11} "
             f"{'+ auto-enc':>11}"]
    for r in result.rows:
        lines.append(f"{r['target_sparsity']:>7.0%} {r['sparsity']:>9.1%} "
                     f"{r['accuracy_pruned']:>8.2%} {r['accuracy_finetuned']:>11.2%} "
                     f"{r['accuracy_finetuned_ae']:>11.2%}")
    tr, sim = result.trace, result.simulation
    s, d = sim["sparse"], sim["dense"]
    lines += [
        f"trace at {tr['target_sparsity']:.0%}: kept density {tr['kept_density']:.2%}, "
        f"global tokens per head mean {tr['global_tokens_mean']:.2f} "
        f"(max {max(tr['global_tokens_per_head'])}), "
        f"{tr['kept_in_dense_region']:.0%} of kept scores in the denser region",
        f"on {s['hardware']}: {s['total_cycles']:,.0f} cycles ({s['latency_ms']:.4f} ms), "
        f"attention {s['attention_cycles']:,.0f} cycles; dense model "
        f"{d['total_cycles']:,.0f} cycles, attention {d['attention_cycles']:,.0f}: "
        f"speedup {sim['speedup_total']:.2f}x overall, {sim['speedup_attention']:.2f}x "
        f"on attention",
    ]
    return "\n".join(lines)
