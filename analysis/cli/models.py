"""``vitsim`` subcommands of the torch side: ``codesign-demo``, ``extract``, ``prune``,
``finetune``.

Building the parser imports no torch: every command imports what it needs when it runs, so
``vitsim --help`` stays fast and works where torch is not installed.

    vitsim codesign-demo --out runs/demo            # the whole co-design loop on digits
    vitsim extract --checkpoint deit_tiny.pth --model deit-tiny --images val.npy --out maps.npz
    vitsim prune --maps maps.npz --sparsity 0.9 --out masks.npz
    vitsim finetune --checkpoint dense.pt --masks masks.npz --digits --autoencoder --out ft.pt
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from vitsim.analysis.cli.args import emit_json, nonnegative_int, positive_int, sparsity
from vitsim.atomic import check_writable
from vitsim.errors import VitsimError

if TYPE_CHECKING:
    from vitsim.workloads.trace import WorkloadTrace


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", help="torch device (default: cuda when present, else cpu)")


def _add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar (it is drawn only when stderr is a terminal)")


def _progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


# ----------------------------------------------------------------------------- codesign-demo


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "codesign-demo", help="ViTCoD's algorithm on a small ViT, then its accelerator",
        description="Train a small ViT on scikit-learn's digits, capture its attention, prune "
                    "it at several sparsities, fine-tune with and without the Q/K "
                    "auto-encoder, report held-out accuracy, and simulate the 90% model on "
                    "the vitcod preset. Nothing is downloaded.")
    p.add_argument("--out", metavar="DIR", help="write models, maps, masks, the trace and "
                   "results here (must not exist or be empty); default: keep nothing")
    p.add_argument("--quick", action="store_true",
                   help="tiny model and data, one epoch per stage (a smoke test)")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of the data split, initialisation and batch order")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    _add_device(p)
    _add_quiet(p)
    p.set_defaults(func=_cmd_demo)


# Stages of the attention itself in the simulator's stage table (the rest are linear layers
# and vector ops, which pruning the attention does not change).
DEMO_ATTENTION_STAGES = ("encode", "decode", "qk", "softmax", "sv")


def _demo_simulation(trace: WorkloadTrace, hardware: str) -> dict[str, Any]:
    """The demo's summary of ``trace`` simulated on the preset ``hardware``."""
    import numpy as np

    from vitsim.hw_configs.loader import load_hardware
    from vitsim.simulator.counts import STAGES
    from vitsim.simulator.simulate import simulate

    result = simulate(trace, load_hardware(hardware))
    stage_names = np.array(STAGES)[result.stages.stage]
    attention = np.isin(stage_names, DEMO_ATTENTION_STAGES)
    t = result.totals
    return {"hardware": hardware, "total_cycles": float(t.total_cycles),
            "attention_cycles": float(result.stages["total_cycles"][attention].sum()),
            "latency_ms": float(t.latency_ms), "energy_mj": float(t.energy_mj),
            "macs": int(t.macs), "dram_bytes": int(t.dram_bytes),
            "mac_utilization": float(t.mac_utilization)}


def _cmd_demo(args: argparse.Namespace) -> int:
    from vitsim.atomic import check_new_dir
    from vitsim.models.demo import DemoConfig, format_table, run_demo

    if args.out:
        check_new_dir(args.out)
    cfg = DemoConfig.quick(args.seed) if args.quick else DemoConfig().with_seed(args.seed)
    result = run_demo(cfg, _demo_simulation, args.out, device=args.device,
                      progress=_progress(args))
    if args.json:
        emit_json(result.to_dict())
        return 0
    print(format_table(result))
    print(f"wall time {result.timings_s['total']:.1f} s")
    if args.out:
        print(f"run directory: {args.out}")
    return 0


# ----------------------------------------------------------------------------- shared inputs


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, metavar="FILE",
                   help="a vitsim checkpoint, or a timm-layout state dict (then --model)")
    p.add_argument("--model", help="zoo name or spec .yaml; needed for timm checkpoints")


def _add_data_args(p: argparse.ArgumentParser, *, labels: bool) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--digits", action="store_true",
                     help="scikit-learn's digits (training split), upsampled to the model's "
                          "image size; the model must take 1 channel")
    src.add_argument("--images", metavar="FILE.npy",
                     help="float images [n, channels, size, size], already normalised")
    if labels:
        p.add_argument("--labels", metavar="FILE.npy", help="int labels [n] for --images")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of the digits split and of the batch order")


def _load_model(args: argparse.Namespace, *, device: Any = None) -> tuple[Any, Any]:
    """(model, its spec) from --checkpoint and --model."""
    from vitsim.models.checkpoint import load_checkpoint
    from vitsim.models.zoo import model_spec
    from vitsim.workloads.model_spec import get_spec

    spec = get_spec(args.model) if args.model else None
    model = load_checkpoint(args.checkpoint, spec=spec, device=device)
    return model, model_spec(model)


def _read_array(path: str, *, kinds: str, field: str):
    import numpy as np

    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise VitsimError("no such file", source=path) from None
    except (ValueError, OSError, EOFError) as err:
        raise VitsimError(f"not a readable .npy array ({err})", source=path) from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in kinds:
        raise VitsimError(f"expected a numeric .npy array for {field}", source=path)
    return arr


def _image_tensor(path: str, spec) -> Any:
    import torch

    arr = _read_array(path, kinds="fiu", field="images")
    channels = int(spec.params.get("in_channels", 3))
    expected = (channels, spec.image_size, spec.image_size)
    if arr.ndim != 4 or tuple(arr.shape[1:]) != expected:
        raise VitsimError(f"shape {arr.shape}, model {spec.name} takes [n, "
                          f"{', '.join(map(str, expected))}]", source=path)
    return torch.from_numpy(arr.astype("float32"))


def _training_data(args: argparse.Namespace, spec, *, labels: bool):
    """(training loader, held-out loader or None) for the chosen data source."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    if args.digits:
        from vitsim.models.digits import load_digits_split

        if int(spec.params.get("in_channels", 3)) != 1:
            raise VitsimError(f"model {spec.name} takes {spec.params.get('in_channels')} "
                              "channels; the digits have 1", source="--digits")
        split = load_digits_split(image_size=spec.image_size, seed=args.seed)
        return (split.train_loader(args.batch_size, shuffle=labels, seed=args.seed),
                split.test_loader(256))
    images = _image_tensor(args.images, spec)
    if not labels:
        return DataLoader(TensorDataset(images), batch_size=args.batch_size), None
    if not args.labels:
        raise VitsimError("required with --images", source="--labels")
    y = torch.from_numpy(_read_array(args.labels, kinds="iu", field="labels").astype("int64"))
    if y.shape != (images.shape[0],):
        raise VitsimError(f"shape {tuple(y.shape)}, expected ({images.shape[0]},) for the "
                          "images", source=args.labels)
    gen = torch.Generator().manual_seed(args.seed)
    return DataLoader(TensorDataset(images, y), batch_size=args.batch_size, shuffle=True,
                      generator=gen), None


# ----------------------------------------------------------------------------- extract


def _add_extract(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract", help="capture a model's mean attention maps over images",
        description="Average every head's attention probabilities over a data set (streaming, "
                    "bounded memory) and write them for `vitsim trace --maps` and "
                    "`vitsim prune`.")
    _add_model_args(p)
    _add_data_args(p, labels=False)
    p.add_argument("--limit", type=positive_int, metavar="N", help="use at most N images")
    p.add_argument("--out", required=True, metavar="MAPS.npz")
    _add_device(p)
    _add_quiet(p)
    p.set_defaults(func=_cmd_extract)


def _cmd_extract(args: argparse.Namespace) -> int:
    from vitsim.models.capture import capture_attention, save_maps

    check_writable(args.out)
    model, spec = _load_model(args, device=args.device)
    loader, _ = _training_data(args, spec, labels=False)
    maps, n_images = capture_attention(model, loader, max_images=args.limit,
                                       progress=_progress(args))
    source = "sklearn digits, training split" if args.digits else args.images
    save_maps(args.out, model, maps, n_images=n_images,
              meta={"checkpoint": args.checkpoint, "data": source})
    print(f"{args.out}: {spec.name}, {len(maps)} blocks, mean over {n_images} images")
    return 0


# ----------------------------------------------------------------------------- prune


def _add_prune(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prune", help="fixed masks from attention maps (ViTCoD's info cut-off)",
        description="Prune captured attention maps to a target sparsity with one info "
                    "cut-off for the whole model, as `vitsim trace --maps` does, and write the "
                    "kept masks (.npz, block_<i>; read with --convention kept).")
    p.add_argument("--maps", required=True, metavar="MAPS.npz")
    p.add_argument("--model", help="zoo name or spec .yaml (default: the spec stored in the "
                   "maps file)")
    p.add_argument("--sparsity", type=sparsity, required=True,
                   help="target attention sparsity in [0, 1)")
    p.add_argument("--no-keep-cls", action="store_true",
                   help="do not force the CLS row and column to be kept")
    p.add_argument("--out", required=True, metavar="MASKS.npz")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_prune)


def _cmd_prune(args: argparse.Namespace) -> int:
    from vitsim.models.pruning import prune_maps, save_masks
    from vitsim.workloads.attention_maps import load_attention_maps
    from vitsim.workloads.model_spec import get_spec, spec_from_dict

    check_writable(args.out)
    if args.model:
        spec = get_spec(args.model)
    else:
        meta = load_attention_maps(args.maps).meta
        if "model" not in meta:
            raise VitsimError("the maps file names no model; give --model", source=args.maps)
        spec = spec_from_dict(meta["model"], source=f"{args.maps} (model)")
    maps = load_attention_maps(args.maps, spec)
    masks = prune_maps(maps.blocks, spec, sparsity=args.sparsity,
                       keep_cls=not args.no_keep_cls)
    save_masks(args.out, masks.blocks)
    doc = {"out": args.out, "model": spec.name, **masks.describe()}
    if args.json:
        emit_json(doc)
    else:
        print(f"{args.out}: {spec.name}, info cut-off {masks.policy.param:.6f}, kept density "
              f"{masks.kept_density():.2%}")
    return 0


# ----------------------------------------------------------------------------- finetune


def _add_finetune(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune", help="fine-tune a model with fixed masks (and the Q/K auto-encoder)",
        description="Load a model, fix its attention masks, optionally add ViTCoD's Q/K "
                    "auto-encoder, and fine-tune with a cosine schedule (optionally distilling "
                    "from the unmasked model). Writes a vitsim checkpoint after every epoch.")
    _add_model_args(p)
    p.add_argument("--masks", metavar="FILE", help="mask file (.npz from vitsim prune, or "
                   "ViTCoD's .npy); without it the model stays dense")
    p.add_argument("--convention", choices=("kept", "pruned"), default="kept",
                   help="what True means in --masks (default: kept, as vitsim prune writes)")
    _add_data_args(p, labels=True)
    p.add_argument("--epochs", type=positive_int, default=5)
    p.add_argument("--lr", type=_positive_float, default=5e-4, help="peak learning rate")
    p.add_argument("--autoencoder", action="store_true",
                   help="add the Q/K auto-encoder along the head axis (initialised by PCA "
                        "on the training images)")
    p.add_argument("--latent-heads", type=positive_int, metavar="N",
                   help="heads after compression (default: ceil(heads / 2))")
    p.add_argument("--distill", action="store_true",
                   help="distil from the loaded model without masks (weight 0.5, T = 2)")
    p.add_argument("--out", required=True, metavar="CKPT.pt")
    p.add_argument("--json", action="store_true")
    _add_device(p)
    _add_quiet(p)
    p.set_defaults(func=_cmd_finetune)


def _cmd_finetune(args: argparse.Namespace) -> int:
    import copy

    from vitsim.models.attention import set_codecs, set_masks
    from vitsim.models.capture import fit_codecs
    from vitsim.models.finetune import TrainConfig, evaluate, train
    from vitsim.models.pruning import load_kept_masks

    check_writable(args.out)
    if args.latent_heads is not None and not args.autoencoder:
        raise VitsimError("only with --autoencoder", source="--latent-heads")
    model, spec = _load_model(args, device=args.device)
    teacher = copy.deepcopy(model) if args.distill else None
    if teacher is not None:
        set_masks(teacher, None)
    if args.masks:
        set_masks(model, load_kept_masks(args.masks, spec, convention=args.convention))
    train_loader, test_loader = _training_data(args, spec, labels=True)
    if args.autoencoder:
        set_codecs(model, args.latent_heads)
        fit_codecs(model, train_loader)
    config = TrainConfig(epochs=args.epochs, lr=args.lr, min_lr=min(1e-5, args.lr),
                         distill_weight=0.5 if args.distill else 0.0,
                         distill_temperature=2.0, seed=args.seed)
    history = train(model, train_loader, config, teacher=teacher, checkpoint_path=args.out,
                    checkpoint_meta={"from": args.checkpoint, "masks": args.masks},
                    progress=_progress(args), desc="finetune")
    doc: dict[str, Any] = {"out": args.out, "model": spec.name,
                           "train_accuracy": history[-1].train_accuracy,
                           "loss": history[-1].loss}
    if test_loader is not None:
        doc["heldout_accuracy"] = evaluate(model, test_loader)
    if args.json:
        emit_json(doc)
    else:
        held = (f", held-out accuracy {doc['heldout_accuracy']:.2%}"
                if "heldout_accuracy" in doc else "")
        print(f"{args.out}: {spec.name}, {args.epochs} epochs, train accuracy "
              f"{doc['train_accuracy']:.2%}{held}")
    return 0


# ----------------------------------------------------------------------------- registry


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    """Register this module's subcommands on the ``vitsim`` parser."""
    for add in (_add_demo, _add_extract, _add_prune, _add_finetune):
        add(sub)
