"""``vitsim simulate``, ``vitsim gemm`` and ``vitsim validate``: one design point, one GEMM,
one hardware description."""

from __future__ import annotations

import argparse

from vitsim.analysis.cli import args as cli_args


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    _add_simulate(sub)
    _add_gemm(sub)
    _add_validate(sub)


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
    p.add_argument("--sparsity", type=cli_args.sparsity, help="attention sparsity for --model")
    p.add_argument("--seed", type=cli_args.nonnegative_int, default=0, help="seed for --model")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a hardware field by dotted path, e.g. "
                        "dram.bandwidth_gb_per_s=153.6 (repeatable)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.add_argument("--out", metavar="DIR", help="write a run directory (must not exist)")
    p.set_defaults(func=_cmd_simulate)


def _cmd_simulate(args: argparse.Namespace) -> int:
    from vitsim.analysis.runs import summary_document, write_run_dir
    from vitsim.atomic import check_new_dir
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
    power = t.energy_mj / t.latency_ms * 1e3 if t.latency_ms else 0.0
    print(f"{result.model} on {hw.name}: {t.total_cycles:,.0f} cycles, "
          f"{t.latency_ms:.4f} ms, {t.energy_mj:.4f} mJ ({power:,.0f} mW on average), "
          f"MAC utilization {t.mac_utilization:.1%}, DRAM {t.dram_bytes / 1e6:.2f} MB, "
          f"{t.roofline_fraction:.0%} of its roofline bound")
    from vitsim.analysis.frames import by_stage  # pandas, for the printed table only

    table = by_stage(result)
    table["share"] = (table["cycles"] / table["cycles"].sum()).map(lambda x: f"{x:.1%}")
    from vitsim.analysis.figures.columns import format_number

    # thousands separators, about four significant digits, never an exponent
    numeric = table.select_dtypes("number").columns
    print(table.to_string(index=False, formatters=dict.fromkeys(numeric, format_number)))
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
    p.add_argument("--m", type=cli_args.positive_int, required=True)
    p.add_argument("--k", type=cli_args.positive_int, required=True)
    p.add_argument("--n", type=cli_args.positive_int, required=True)
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
