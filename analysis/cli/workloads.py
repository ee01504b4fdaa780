"""``vitsim trace``, ``vitsim inspect`` and ``vitsim plot-mask``: workloads from masks, maps
or synthetic attention, and what they contain."""

from __future__ import annotations

import argparse
from pathlib import Path

from vitsim.analysis.cli import args as cli_args
from vitsim.atomic import check_writable
from vitsim.errors import VitsimError


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    _add_trace(sub)
    _add_inspect(sub)
    _add_plot_mask(sub)


# ----------------------------------------------------------------------------- trace


def _add_trace(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "trace", help="prune and polarize attention into a workload trace",
        description="Build a WorkloadTrace from a mask file, attention maps, or synthetic "
                    "attention, and write it as .npz.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--mask", metavar="FILE", help="fixed mask (.npy [layers, heads, N, N] "
                     "or .npz with block_<i> arrays)")
    src.add_argument("--maps", metavar="FILE", help="attention probabilities captured from a "
                     "model (.npz, see vitsim.workloads.attention_maps); pruned to --sparsity")
    src.add_argument("--synthetic", action="store_true",
                     help="synthetic attention with ViT structure, pruned to --sparsity")
    p.add_argument("--model", required=True, help="zoo name (deit-tiny, vit-h14@518, "
                   "levit-128, ...) or a model spec .yaml")
    p.add_argument("--convention", choices=("pruned", "kept"), default="pruned",
                   help="what True means in --mask (default: pruned, as in ViTCoD's files)")
    p.add_argument("--sparsity", type=cli_args.sparsity, help="target attention sparsity in [0, 1) "
                   "(--synthetic, --maps)")
    p.add_argument("--seed", type=cli_args.nonnegative_int, default=0, help="seed for --synthetic")
    pol = p.add_mutually_exclusive_group()
    pol.add_argument("--polarize-threshold", type=cli_args.nonnegative_int, metavar="N",
                     help="a key column kept by more than N queries is global (default: "
                          "ViTCoD's 50 of 197, scaled to the token count)")
    pol.add_argument("--dense-fraction", type=cli_args.fraction, metavar="F",
                     help="choose global tokens to hold this fraction of the kept scores")
    pol.add_argument("--no-polarize", action="store_true",
                     help="no global tokens: every kept score in the sparser region")
    p.add_argument("--no-keep-cls", action="store_true",
                   help="do not force the CLS row and column to be kept (--synthetic, --maps)")
    p.add_argument("--out", required=True, metavar="TRACE.npz", help="output trace file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=_cmd_trace)


def _cmd_trace(args: argparse.Namespace) -> int:
    from vitsim.workloads.model_spec import get_spec
    from vitsim.workloads.pipeline import trace_attention_maps, trace_mask_file, trace_synthetic
    from vitsim.workloads.trace import PolarizePolicy

    check_writable(args.out)
    if Path(args.out).exists() and not args.overwrite:
        raise VitsimError("exists; choose another --out or pass --overwrite", source=args.out)
    spec = get_spec(args.model)
    policy = PolarizePolicy(threshold=args.polarize_threshold,
                            dense_fraction=args.dense_fraction, enabled=not args.no_polarize)
    if args.mask:
        if args.sparsity is not None:
            raise VitsimError("a fixed mask has its own sparsity; drop --sparsity",
                              source="--sparsity")
        trace = trace_mask_file(args.mask, spec, convention=args.convention, policy=policy)
    else:
        if args.sparsity is None:
            raise VitsimError("required with --synthetic and --maps", source="--sparsity")
        if args.maps:
            trace = trace_attention_maps(args.maps, spec, sparsity=args.sparsity,
                                         keep_cls=not args.no_keep_cls, policy=policy)
        else:
            trace = trace_synthetic(spec, sparsity=args.sparsity, seed=args.seed,
                                    keep_cls=not args.no_keep_cls, policy=policy)
    trace.save(args.out)
    print(f"{args.out}: {spec.name}, {spec.n_layers} layers, {spec.n_heads_total} heads, "
          f"kept density {trace.kept_density():.2%}")
    return 0


# ----------------------------------------------------------------------------- inspect


def _add_inspect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="summarize a workload trace",
                       description="Print a trace's model, density and per-head workload.")
    p.add_argument("trace", metavar="TRACE.npz")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(func=_cmd_inspect)


def _cmd_inspect(args: argparse.Namespace) -> int:
    from vitsim.analysis.inspect import inspect_document, inspect_text
    from vitsim.workloads.trace import WorkloadTrace

    trace = WorkloadTrace.load(args.trace)
    if args.json:
        cli_args.emit_json(inspect_document(trace))
    else:
        print(inspect_text(trace))
    return 0


# ----------------------------------------------------------------------------- plot-mask


def _add_plot_mask(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot-mask", help="draw one head's mask before and after polarization")
    p.add_argument("trace", metavar="TRACE.npz")
    p.add_argument("--layer", type=cli_args.nonnegative_int, required=True)
    p.add_argument("--head", type=cli_args.nonnegative_int, required=True)
    p.add_argument("--out", required=True, metavar="FILE.png",
                   help="image file (.png, .pdf or .svg)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=_cmd_plot_mask)


def _cmd_plot_mask(args: argparse.Namespace) -> int:
    from vitsim.analysis.figures.masks import plot_mask, save_figure
    from vitsim.workloads.trace import WorkloadTrace

    if Path(args.out).exists() and not args.overwrite:
        raise VitsimError("exists; choose another --out or pass --overwrite", source=args.out)
    check_writable(args.out)
    trace = WorkloadTrace.load(args.trace)
    save_figure(plot_mask(trace, args.layer, args.head), args.out)
    print(args.out)
    return 0
