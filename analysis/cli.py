"""The ``vitsim`` command line.

Every subcommand is a plain function of its parsed arguments that calls the pipeline; a
:class:`VitsimError` becomes one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from vitsim.hw_configs.atomic import check_writable
from vitsim.hw_configs.errors import VitsimError

log = logging.getLogger("vitsim")

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line, like every other vitsim error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _sparsity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return value


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


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
    p.add_argument("--sparsity", type=_sparsity, help="target attention sparsity in [0, 1) "
                   "(--synthetic, --maps)")
    p.add_argument("--seed", type=_nonnegative_int, default=0, help="seed for --synthetic")
    pol = p.add_mutually_exclusive_group()
    pol.add_argument("--polarize-threshold", type=_nonnegative_int, metavar="N",
                     help="a key column kept by more than N queries is global (default: "
                          "ViTCoD's 50 of 197, scaled to the token count)")
    pol.add_argument("--dense-fraction", type=_fraction, metavar="F",
                     help="choose global tokens to hold this fraction of the kept scores")
    pol.add_argument("--no-polarize", action="store_true",
                     help="no global tokens: every kept score in the sparser region")
    p.add_argument("--no-keep-cls", action="store_true",
                   help="do not force the CLS row and column to be kept (--synthetic, --maps)")
    p.add_argument("--out", required=True, metavar="TRACE.npz", help="output trace file")
    p.set_defaults(func=_cmd_trace)


def _cmd_trace(args: argparse.Namespace) -> int:
    from vitsim.workloads.model_spec import get_spec
    from vitsim.workloads.pipeline import trace_attention_maps, trace_mask_file, trace_synthetic
    from vitsim.workloads.trace import PolarizePolicy

    check_writable(args.out)
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
        json.dump(inspect_document(trace), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(inspect_text(trace))
    return 0


# ----------------------------------------------------------------------------- plot-mask


def _add_plot_mask(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot-mask", help="draw one head's mask before and after polarization")
    p.add_argument("trace", metavar="TRACE.npz")
    p.add_argument("--layer", type=_nonnegative_int, required=True)
    p.add_argument("--head", type=_nonnegative_int, required=True)
    p.add_argument("--out", required=True, metavar="FILE.png",
                   help="image file (.png, .pdf or .svg)")
    p.set_defaults(func=_cmd_plot_mask)


def _cmd_plot_mask(args: argparse.Namespace) -> int:
    from vitsim.analysis.plots import plot_mask, save_figure
    from vitsim.workloads.trace import WorkloadTrace

    check_writable(args.out)
    trace = WorkloadTrace.load(args.trace)
    save_figure(plot_mask(trace, args.layer, args.head), args.out)
    print(args.out)
    return 0


# ----------------------------------------------------------------------------- main

_SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_trace, _add_inspect, _add_plot_mask,
)


def _configure_logging(*, verbose: bool) -> None:
    """Route the ``vitsim`` loggers to stderr; the root logger (and pytest's) is left alone."""
    logger = logging.getLogger("vitsim")
    for handler in [h for h in logger.handlers if getattr(h, "_vitsim_cli", False)]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("vitsim: %(levelname)s: %(message)s"))
    handler._vitsim_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vitsim", description="Sparse Vision-Transformer accelerator "
                     "simulator (ViTCoD and its peers).")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(verbose=args.verbose)
    try:
        return int(args.func(args))
    except VitsimError as err:
        print(f"vitsim: error: {err.one_line()}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("vitsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
