"""The ``vitsim`` command line.

Every subcommand is a plain function of its parsed arguments that calls the pipeline; a
:class:`VitsimError` becomes one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

from vitsim.analysis import cli_args
from vitsim.hw_configs.atomic import check_writable
from vitsim.hw_configs.errors import VitsimError

log = logging.getLogger("vitsim")

EXIT_USAGE = cli_args.EXIT_USAGE
_Parser = cli_args.Parser
_sparsity = cli_args.sparsity
_fraction = cli_args.fraction
_nonnegative_int = cli_args.nonnegative_int
_positive_int = cli_args.positive_int


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
        cli_args.emit_json(inspect_document(trace))
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


# ----------------------------------------------------------------------------- simulate


def _add_simulate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate a workload on an accelerator",
                       description="Simulate a trace (or a synthetic workload) on a hardware "
                                   "preset or YAML file; print totals and a stage breakdown.")
    p.add_argument("--hw", required=True, metavar="NAME|FILE",
                   help="hardware preset (vitcod, systolic-os, ...) or YAML file")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--trace", metavar="TRACE.npz", help="a trace from vitsim trace")
    src.add_argument("--model", help="with --sparsity: a synthetic workload of this model")
    p.add_argument("--sparsity", type=_sparsity, help="attention sparsity for --model")
    p.add_argument("--seed", type=_nonnegative_int, default=0, help="seed for --model")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a hardware field by dotted path, e.g. "
                        "dram.bandwidth_gb_per_s=153.6 (repeatable)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.add_argument("--out", metavar="DIR", help="write a run directory (must not exist)")
    p.set_defaults(func=_cmd_simulate)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from vitsim.analysis.frames import by_stage
    from vitsim.analysis.runs import summary_document, write_run_dir
    from vitsim.hw_configs.atomic import check_new_dir
    from vitsim.simulator.simulate import simulate

    hw = cli_args.hardware_from_args(args)
    if args.out:
        check_new_dir(args.out)
    trace, inputs = cli_args.workload_from_args(args)
    inputs.update(hw=args.hw, overrides=list(args.set))
    result = simulate(trace, hw)
    if args.out:
        write_run_dir(args.out, result, inputs)
    if args.json:
        cli_args.emit_json(summary_document(result))
        return 0
    t = result.totals
    print(f"{result.model} on {hw.name}: {t.total_cycles:,.0f} cycles, "
          f"{t.latency_ms:.4f} ms, {t.energy_mj:.4f} mJ, "
          f"MAC utilization {t.mac_utilization:.1%}, DRAM {t.dram_bytes / 1e6:.2f} MB, "
          f"{t.roofline_fraction:.0%} of its roofline bound")
    table = by_stage(result)
    table["share"] = (table["cycles"] / table["cycles"].sum()).map(lambda x: f"{x:.1%}")
    print(table.to_string(index=False, float_format=lambda x: f"{x:,.4g}"))
    if args.out:
        print(f"run directory: {args.out}")
    return 0


# ----------------------------------------------------------------------------- gemm


def _array_shape(text: str) -> tuple[int, int]:
    rows, sep, cols = text.lower().partition("x")
    try:
        r, c = int(rows), int(cols)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected RxC (e.g. 32x32), got {text!r}") from None
    if not sep or r < 1 or c < 1:
        raise argparse.ArgumentTypeError(f"expected RxC with R, C >= 1, got {text!r}")
    return r, c


def _add_gemm(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gemm", help="one dense GEMM on a systolic array",
                       description="Cycles of [M, K] x [K, N] on an R x C systolic array "
                                   "(ideal memory unless --hw gives one).")
    p.add_argument("--array", type=_array_shape, required=True, metavar="RxC")
    p.add_argument("--dataflow", choices=("os", "ws"), required=True)
    p.add_argument("--m", type=_positive_int, required=True)
    p.add_argument("--k", type=_positive_int, required=True)
    p.add_argument("--n", type=_positive_int, required=True)
    p.add_argument("--hw", metavar="NAME|FILE", help="take buffers and DRAM from this design")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_gemm)


def _cmd_gemm(args: argparse.Namespace) -> int:
    from vitsim.simulator.dense_engine import systolic_gemm

    rows, cols = args.array
    ideal = systolic_gemm(args.m, args.k, args.n, rows=rows, cols=cols, dataflow=args.dataflow)
    doc = {"m": args.m, "k": args.k, "n": args.n, "array": f"{rows}x{cols}",
           "dataflow": args.dataflow, "compute_cycles": ideal.compute_cycles,
           "fill_drain_cycles": ideal.fill_drain_cycles, "total_cycles": ideal.total_cycles,
           "macs": ideal.macs, "mac_utilization": ideal.mac_utilization}
    if args.hw:
        from vitsim.hw_configs.loader import apply_overrides, load_hardware
        from vitsim.simulator.linear import tiled_gemm

        hw = apply_overrides(load_hardware(args.hw), {
            "engines.dense.kind": "systolic", "engines.dense.rows": rows,
            "engines.dense.cols": cols, "engines.dense.dataflow": args.dataflow})
        tiled = tiled_gemm(args.m, args.k, args.n, hw)
        doc.update(hw=hw.name, total_cycles=tiled.total_cycles,
                   stall_cycles=tiled.stall_cycles,
                   dram_bytes=tiled.dram_read_bytes + tiled.dram_write_bytes,
                   mac_utilization=ideal.macs / (tiled.total_cycles * rows * cols))
    if args.json:
        cli_args.emit_json(doc)
    else:
        for key, value in doc.items():
            print(f"{key:18s} {value}")
    return 0


# ----------------------------------------------------------------------------- validate


def _add_validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a hardware YAML file",
                       description="Print the resolved hardware description, or all its "
                                   "errors.")
    p.add_argument("file", metavar="FILE")
    p.set_defaults(func=_cmd_validate)


def _cmd_validate(args: argparse.Namespace) -> int:
    from vitsim.hw_configs.loader import dump_hardware, load_hardware

    print(dump_hardware(load_hardware(args.file)), end="")
    return 0


# ----------------------------------------------------------------------------- main

_SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_trace, _add_inspect, _add_plot_mask, _add_simulate, _add_gemm, _add_validate,
)

# Subcommands that live in their own modules, one per line; each module defines
# ``add_subcommands(sub)`` and imports its heavy dependencies (torch, dask) only inside the
# command functions, so ``vitsim --help`` stays fast and torch stays optional.
_COMMAND_MODULES: tuple[str, ...] = (
    "vitsim.analysis.cli_baseline",
    "vitsim.analysis.cli_compare",
    "vitsim.analysis.cli_sweep",
    "vitsim.models.commands",
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
    for name in _COMMAND_MODULES:
        importlib.import_module(name).add_subcommands(sub)
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
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as Unix tools do.
        sys.stdout = open(os.devnull, "w")
        return 141


if __name__ == "__main__":
    sys.exit(main())
