"""``vitsim sweep``, ``vitsim plot`` and ``vitsim report``: design-space sweeps, their figures
and reports.

Building these parsers imports nothing heavy: the sweep machinery (numba through the
simulator, pandas, matplotlib, and Dask for ``--scheduler``/``--dask-local``) is imported
inside the command functions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vitsim.analysis.cli import args as cli_args
from vitsim.errors import VitsimError

PLOT_KINDS = ("pareto", "heatmap", "sparsity", "utilization", "breakdown", "roofline",
              "layers_heads", "timeline", "speedup", "mask", "all", "interactive")
DEFAULT_SWEEP_ROOT = Path("runs") / "sweeps"


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")


def _tell(line: str) -> None:
    sys.stderr.write(f"vitsim: {line}\n")


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    _add_sweep(sub)
    _add_plot(sub)
    _add_report(sub)


# ----------------------------------------------------------------------------- sweep


def _formats(text: str) -> tuple[str, ...]:
    items = tuple(t.strip().lower().lstrip(".") for t in text.split(",") if t.strip())
    bad = [t for t in items if t not in ("png", "pdf", "svg")]
    if not items or bad:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of png, pdf, svg; "
                                         f"got {text!r}")
    return items


def _add_sweep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep", help="run a design-space sweep from a YAML spec",
        description="Expand a sweep spec (a YAML file, or a shipped example: quick, "
                    "deit_base_1000) into design points and simulate them, on local "
                    "processes (default: all cores), serially, or on Dask. Results arrive in "
                    "DIR/parts as they finish; DIR/results.parquet (CSV without pyarrow) is "
                    "the final table, one row per point.")
    p.add_argument("spec", metavar="SWEEP.yaml", help="sweep spec file or shipped sweep name")
    p.add_argument("--out", metavar="DIR",
                   help=f"sweep directory (default: {DEFAULT_SWEEP_ROOT}/<spec name>); must "
                        "not hold another sweep")
    p.add_argument("--resume", action="store_true",
                   help="continue the sweep in --out, skipping the points already done")
    runner = p.add_mutually_exclusive_group()
    runner.add_argument("--serial", action="store_true", help="run in this process")
    runner.add_argument("--scheduler", metavar="ADDR",
                        help="run on an existing Dask cluster (tcp://HOST:PORT)")
    runner.add_argument("--dask-local", type=cli_args.positive_int, metavar="N",
                        help="start a local Dask cluster of N worker processes")
    p.add_argument("--workers", type=cli_args.positive_int, metavar="N",
                   help="local worker processes (default: all cores)")
    p.add_argument("--limit", type=cli_args.nonnegative_int, metavar="N",
                   help="simulate at most N new points, then stop (continue with --resume)")
    p.add_argument("--chunk-size", type=cli_args.positive_int, metavar="N",
                   help="points per task (default: about 4 tasks per worker, at most 32)")
    p.add_argument("--max-points", type=cli_args.positive_int, metavar="N",
                   help="refuse a spec of more than N points before expanding it "
                        "(default: 100,000)")
    p.add_argument("--retries", type=cli_args.nonnegative_int, default=3, metavar="N",
                   help="times a task lost with its worker is retried (default: 3)")
    p.add_argument("--format", choices=("parquet", "csv"),
                   help="table format (default: parquet when pyarrow is installed)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=_cmd_sweep)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from vitsim.analysis.sweeps.runner import SweepAborted, run_sweep
    from vitsim.analysis.sweeps.spec import DEFAULT_MAX_POINTS, expand_sweep, load_sweep

    if args.workers is not None and (args.serial or args.scheduler or args.dask_local):
        raise VitsimError("applies to local processes only (with Dask, --dask-local N sets "
                          "the workers)", source="--workers")
    spec = load_sweep(args.spec)
    out = Path(args.out) if args.out else DEFAULT_SWEEP_ROOT / spec.name
    runner = "serial" if args.serial else "dask" if (args.scheduler or args.dask_local) \
        else "processes"
    expansion = expand_sweep(spec, max_points=args.max_points or DEFAULT_MAX_POINTS)
    resume_command = f"vitsim sweep {args.spec} --out {out} --resume"
    try:
        outcome = run_sweep(expansion, out, runner=runner, workers=args.workers,
                            scheduler=args.scheduler, dask_local=args.dask_local,
                            resume=args.resume, limit=args.limit, chunk_size=args.chunk_size,
                            fmt=args.format, progress=not args.no_progress,
                            retries=args.retries, announce=_tell)
    except SweepAborted as err:
        sys.stderr.write(f"vitsim: error: {err.one_line()}: {resume_command}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write(f"vitsim: sweep interrupted; finished points are saved in {out}; "
                         "continue with --resume\n")
        return 130
    _say(f"{spec.name}: {outcome.n_points} points ({outcome.n_dropped} dropped by "
         f"constraints); simulated {outcome.n_evaluated} in {outcome.elapsed_s:.1f} s "
         f"({outcome.points_per_s:.1f} points/s, {outcome.runner} x{outcome.workers})"
         + (f", {outcome.n_skipped} already done" if outcome.n_skipped else ""))
    if outcome.complete:
        _say(f"{outcome.n_failed} failed; results: {outcome.results}")
    else:
        _say(f"stopped before the end; continue with: vitsim sweep {args.spec} --out {out} "
             "--resume")
    return 0


# ----------------------------------------------------------------------------- plot


def _add_plot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot", help="draw figures from a sweep, a run, a table or a trace",
        description="Draw figures into --out as PNG and PDF (see --format). RESULTS is a "
                    "sweep directory or its results table (pareto, heatmap, sparsity, "
                    "utilization, and speedup when the sweep has baselines), run "
                    "directories (breakdown, utilization, roofline, layers_heads, timeline) "
                    "or stages.csv files (breakdown), a table with "
                    "columns model, baseline, speedup, energy_efficiency (speedup), or a "
                    "trace .npz (mask, with --layer and --head). --kind all draws every "
                    "figure that applies. --kind interactive writes DIR/interactive.html "
                    "from a sweep: one self-contained page (plotly, JavaScript embedded) "
                    "where hovering a point shows its design knobs and metrics and menus "
                    "choose the axes (--x, --y: the initial ones, default latency_ms and "
                    "energy_mj; --hue: the colour); it needs the interactive extra "
                    "(pip install \"vitsim[interactive]\") and is not part of --kind all.")
    p.add_argument("results", nargs="+", metavar="RESULTS")
    p.add_argument("--kind", required=True, choices=PLOT_KINDS, metavar="KIND",
                   help=f"one of {', '.join(PLOT_KINDS)}")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--metric", help="metric column (default: latency_ms)")
    p.add_argument("--x", metavar="COLUMN", help="x axis column (heatmap, sparsity, "
                   "utilization, a sweep's speedup; interactive: the initial one, default "
                   "latency_ms)")
    p.add_argument("--y", metavar="COLUMN", help="y axis column (heatmap; interactive: "
                   "the initial one, default energy_mj)")
    p.add_argument("--hue", metavar="COLUMN", help="one line per value (sparsity); the "
                   "colour (interactive)")
    p.add_argument("--where", metavar="EXPR", help="plot only the table rows where EXPR "
                   "holds, e.g. 'scope == \"end_to_end\"' or 'workload.sparsity >= 0.8'")
    p.add_argument("--layer", type=cli_args.nonnegative_int, help="layer (mask)")
    p.add_argument("--head", type=cli_args.nonnegative_int, help="head (mask)")
    p.add_argument("--format", type=_formats, default=("png", "pdf"), metavar="png,pdf",
                   help="image formats, comma-separated (png, pdf, svg)")
    p.add_argument("--overwrite", action="store_true", help="replace existing figures")
    p.set_defaults(func=_cmd_plot)


def _load_input(path_text: str):
    """(kind, object): a sweep view, a run (stages, clock, summary, hardware: the last three
    None for a bare stage table), a table or a trace."""
    from vitsim.analysis.figures.report import SweepView, kind_of
    from vitsim.analysis.sweeps.runner import read_frame

    path = Path(path_text)
    if path.is_dir():
        kind = kind_of(path)
        if kind == "sweep":
            return "sweep", SweepView.from_dir(path)
        import json

        import pandas as pd

        from vitsim.hw_configs.loader import load_hardware

        summary_path, stages_path = path / "summary.json", path / "stages.csv"
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise VitsimError(f"cannot read this run's summary ({type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''})",
                              source=str(summary_path)) from None
        hw = load_hardware(path / "hardware.yaml")
        try:
            stages = pd.read_csv(stages_path)
        except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as err:
            raise VitsimError(f"cannot read this run's stage table ({type(err).__name__})",
                              source=str(stages_path)) from None
        return "run", (stages, hw.clock_mhz, summary, hw)
    if not path.is_file():
        raise VitsimError("no such file or directory", source=str(path))
    if path.suffix == ".npz":
        from vitsim.workloads.trace import WorkloadTrace

        return "trace", WorkloadTrace.load(path)
    table = read_frame(path)
    if {"stage", "total_cycles"} <= set(table.columns):
        return "run", (table, None, None, None)
    from vitsim.analysis.figures.charts import SPEEDUP_COLUMNS

    if set(SPEEDUP_COLUMNS) <= set(table.columns):
        return "speedup", table
    return "sweep", SweepView.from_table(table)


def _filtered(kind: str, obj, where: str):
    """The input with only the table rows where ``where`` holds."""
    import dataclasses

    from vitsim.analysis.sweeps.pareto import filter_rows

    if kind == "sweep":
        return dataclasses.replace(obj, table=filter_rows(obj.table, where))
    if kind == "speedup":
        return filter_rows(obj, where)
    if kind == "run":
        stages, clock, _, hw = obj
        return filter_rows(stages, where), clock, None, hw
    raise VitsimError("applies to tables, not to a trace", source="--where")


def _cmd_plot(args: argparse.Namespace) -> int:
    from vitsim.analysis.figures import charts as figures
    from vitsim.analysis.figures.report import sweep_figures

    inputs = [(p, *_load_input(p)) for p in args.results]
    kinds = {k for _, k, _ in inputs}
    if len(kinds) > 1 or (len(inputs) > 1 and kinds != {"run"}):
        raise VitsimError("give one sweep, table or trace, or several runs (to compare)",
                          source=args.results[1] if len(inputs) > 1 else args.results[0])
    if args.where:
        inputs = [(p, k, _filtered(k, o, args.where)) for p, k, o in inputs]
    kind, obj = inputs[0][1], inputs[0][2]
    if args.kind == "interactive":
        return _plot_interactive(args, kind, obj)
    builders: dict[str, object] = {}
    if kind == "sweep":
        view = obj
        metric = args.metric or view.metric
        if metric not in view.table:
            raise VitsimError(f"no column {metric!r} in the table", source="--metric")
        builders = dict(sweep_figures(view, metric=metric))
        if args.x or args.y or args.hue:  # explicit columns replace the automatic choice
            table = view.table
            if args.kind == "heatmap":
                if not (args.x and args.y):
                    raise VitsimError("give both --x and --y", source="--kind heatmap")
                builders["heatmap"] = lambda: figures.plot_heatmap(table, args.x, args.y,
                                                                   metric)
            elif args.kind == "sparsity":
                builders["sparsity"] = lambda: figures.plot_sparsity_curves(
                    table, metric, x=args.x or "workload.sparsity", hue=args.hue)
            elif args.kind == "utilization":
                builders["utilization"] = lambda: figures.plot_utilization(table, args.x)
            elif args.kind == "speedup" and view.ratios and not (args.y or args.hue):
                builders["speedup"] = lambda: figures.plot_sweep_ratios(
                    table, args.x, columns=view.ratios)
            else:
                raise VitsimError("--x, --y and --hue apply to --kind heatmap, sparsity and "
                                  "utilization (--x also to speedup, in a sweep with "
                                  "baselines)", source=f"--kind {args.kind}")
    elif kind == "run":
        runs = {Path(p).name if Path(p).is_dir() else Path(p).stem: o for p, _, o in inputs}
        if len(runs) > 1:
            builders["breakdown"] = lambda: figures.plot_breakdown_compare(
                {k: v[0] for k, v in runs.items()},
                clock_mhz={k: v[1] for k, v in runs.items() if v[1]} or None)
        else:
            stages, clock, _, hw = obj
            builders["breakdown"] = lambda: figures.plot_breakdown(stages, clock_mhz=clock)
            if hw is not None:  # a run directory: the figures that need its hardware
                from vitsim.analysis.figures.report import run_figures

                builders.update({k: b for k, (b, _) in run_figures(stages, hw).items()})
        summaries = [(k, v[2]) for k, v in runs.items() if v[2]]
        if summaries:
            import pandas as pd

            util = pd.DataFrame([{"run": k, **{m: s[m] for m in figures.UTILIZATION_METRICS
                                               if m in s}} for k, s in summaries])
            builders["utilization"] = lambda: figures.plot_utilization(
                util, "run" if len(util) > 1 else None)
    elif kind == "speedup":
        builders["speedup"] = lambda: figures.plot_speedup(obj)
    elif kind == "trace":
        if args.kind in ("mask", "all"):
            if args.layer is None or args.head is None:
                raise VitsimError("a mask figure needs --layer and --head", source="--kind mask")
            from vitsim.analysis.figures.masks import plot_mask

            builders["mask"] = lambda: plot_mask(obj, args.layer, args.head)
    if args.kind != "all":
        if args.kind not in builders:
            applies = ", ".join(builders) or "none"
            raise VitsimError(f"does not apply to {args.results[0]} ({kind}); kinds that do: "
                              f"{applies}", source=f"--kind {args.kind}")
        builders = {args.kind: builders[args.kind]}
    if not builders:
        raise VitsimError("no figure applies to this input", source=args.results[0])
    out = _output_dir(args, [f"{k}.{f}" for k in builders for f in args.format])
    for name, build in builders.items():
        fig = build()  # type: ignore[operator]
        for path in figures.save_figure_as(fig, out, name, formats=args.format,
                                           overwrite=args.overwrite):
            _say(str(path))
    return 0


def _output_dir(args: argparse.Namespace, names: list[str]) -> Path:
    """--out, created; a VitsimError when it is a file or holds one of ``names`` (unless
    --overwrite)."""
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise VitsimError("exists and is not a directory", source=str(out))
    existing = [out / n for n in names if (out / n).exists()]
    if existing and not args.overwrite:
        raise VitsimError("exists; choose another --out or pass --overwrite",
                          source=str(existing[0]))
    out.mkdir(parents=True, exist_ok=True)
    return out


def _plot_interactive(args: argparse.Namespace, kind: str, view) -> int:
    from vitsim.analysis.figures.interactive import sweep_view_html
    from vitsim.atomic import atomic_output

    if kind != "sweep":
        raise VitsimError(f"applies to a sweep directory or its results table, not to "
                          f"{args.results[0]} ({kind})", source="--kind interactive")
    metric = args.metric or view.metric
    if args.metric and args.metric not in view.table:
        raise VitsimError(f"no column {metric!r} in the table", source="--metric")
    hue = args.hue or next(iter(view.ranked_axes(metric) or view.axes), None)
    title = f"vitsim sweep: {Path(args.results[0]).name}"
    page = sweep_view_html(view.table, axes=view.axes, metrics=view.metrics,
                           x=args.x or "latency_ms", y=args.y or "energy_mj", colour=hue,
                           title=title)
    out = _output_dir(args, ["interactive.html"])
    with atomic_output(out / "interactive.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    _say(str(out / "interactive.html"))
    return 0


# ----------------------------------------------------------------------------- report


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="one self-contained HTML page for a run or sweep directory",
        description="Write an HTML page with the configuration, tables and figures (embedded) "
                    "of a vitsim simulate --out run directory or a vitsim sweep directory.")
    p.add_argument("directory", metavar="RUN_OR_SWEEP_DIR")
    p.add_argument("--out", required=True, metavar="report.html")
    p.add_argument("--metric", help="sweep: the metric of the sensitivity table and figures "
                                    "(default: latency_ms)")
    p.add_argument("--where", metavar="EXPR", help="sweep: also report the best point where "
                   "EXPR holds, e.g. 'total_macs <= 512 and energy_mj < 80'")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report")
    p.set_defaults(func=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from vitsim.analysis.figures.report import write_report
    from vitsim.atomic import check_writable

    if Path(args.out).exists() and not args.overwrite:
        raise VitsimError("exists; choose another --out or pass --overwrite", source=args.out)
    check_writable(args.out)
    path = write_report(args.directory, args.out, metric=args.metric, where=args.where,
                        overwrite=args.overwrite)
    _say(str(path))
    return 0
