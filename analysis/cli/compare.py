"""``vitsim compare`` and ``vitsim reproduce``: an accelerator against its baselines."""

from __future__ import annotations

import argparse

from vitsim.analysis.cli.args import (
    emit_json,
    hardware_from_args,
    nonnegative_int,
    positive_int,
    sparsity,
    workload_from_args,
)


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    _add_compare(sub)
    _add_reproduce(sub)


# ----------------------------------------------------------------------------- compare


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare", help="an accelerator against CPU/GPU platforms and peer accelerators",
        description="Latency, energy, speedup and energy-efficiency ratio of a simulated "
                    "accelerator against each baseline, for the attention and end to end. "
                    "A baseline is a platform preset (roofline), a peer accelerator "
                    "(sanger, spatten; normalised to the accelerator unless --published), "
                    "or a file: a platform or peer YAML, or a profile from "
                    "`vitsim baseline measure`.")
    p.add_argument("--hw", required=True, metavar="NAME|FILE", help="the accelerator")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--trace", metavar="TRACE.npz")
    src.add_argument("--model", help="with --sparsity: a synthetic workload of this model")
    p.add_argument("--sparsity", type=sparsity)
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--baselines", nargs="+", metavar="NAME",
                   help="default: the paper's five (xeon-gold-6230 jetson-tx2 rtx-2080ti "
                        "spatten sanger)")
    p.add_argument("--batch", type=positive_int, default=1,
                   help="batch for the platforms (ratios are per image)")
    p.add_argument("--published", action="store_true",
                   help="peer accelerators at their published configuration, not normalised")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override an accelerator field by dotted path (repeatable)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(func=_cmd_compare)


def _cmd_compare(args: argparse.Namespace) -> int:
    from vitsim.analysis.compare import PAPER_BASELINES, compare

    hw = hardware_from_args(args)
    trace, _ = workload_from_args(args)
    baselines = args.baselines or list(PAPER_BASELINES.values())
    result, _, rows = compare(trace, hw, baselines, batch=args.batch,
                              normalise=not args.published)
    if args.json:
        emit_json({"model": trace.spec.name, "hardware": hw.name,
                   "latency_ms": result.totals.latency_ms,
                   "energy_mj": result.totals.energy_mj,
                   "rows": [r.as_dict() for r in rows]})
        return 0
    print(f"{trace.spec.name} on {hw.name}: {result.totals.latency_ms:.4g} ms, "
          f"{result.totals.energy_mj:.4g} mJ per image")
    print(f"{'baseline':28s} {'scope':10s} {'baseline ms':>12s} {'speedup':>9s} "
          f"{'baseline mJ':>12s} {'energy eff.':>11s}  bracket: speedup / energy eff.")
    for r in rows:
        bracket = (f"  {r.bracket_speedup:.3g}x / {r.bracket_energy_efficiency:.3g}x "
                   f"{r.bracket}" if r.bracket else "")
        print(f"{r.baseline_config:28s} {r.scope:10s} {r.baseline_latency_ms:12.4g} "
              f"{r.speedup:8.3g}x {r.baseline_energy_mj:12.4g} {r.energy_efficiency:10.3g}x"
              f"{bracket}")
    return 0


# ----------------------------------------------------------------------------- reproduce


def _model_mask(text: str) -> tuple[str, str]:
    model, sep, path = text.partition("=")
    if not sep or not model or not path:
        raise argparse.ArgumentTypeError(f"expected MODEL=MASK.npy, got {text!r}")
    return model, path


def _add_reproduce(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce", help="ViTCoD's headline comparison, with vitsim's models",
        description="DeiT-Tiny/Small/Base and LeViT-128/192/256 at 90% attention sparsity "
                    "on the vitcod preset against the paper's five baselines: the table "
                    "beside the paper's headline speedups, and the comparison figures.")
    p.add_argument("--out", metavar="DIR", help="write table.csv, table.md, reproduce.json "
                   "and the figures here (must not exist)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.add_argument("--hw", default="vitcod", metavar="NAME|FILE")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override an accelerator field by dotted path (repeatable)")
    p.add_argument("--models", nargs="+", metavar="NAME", help="default: the paper's six")
    p.add_argument("--sparsity", type=sparsity, default=0.9)
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of the synthetic attention")
    p.add_argument("--seeds", type=nonnegative_int, nargs="+", metavar="N",
                   help="several seeds: the tables are of the first, the speedup figures "
                        "show error bars (smallest to largest) across all")
    p.add_argument("--mask", action="append", default=[], type=_model_mask,
                   metavar="MODEL=MASK.npy",
                   help="a real mask (True = pruned) for one model (repeatable)")
    p.add_argument("--reference", default="vitcod-released", metavar="NAME|none",
                   help="reference mode run beside the hardware, with the decomposition "
                        "from it (default: %(default)s, ViTCoD's released simulator; none "
                        "to skip)")
    p.add_argument("--no-average", action="store_true",
                   help="skip the speedups averaged over 60, 70, 80 and 90%% sparsity")
    p.set_defaults(func=_cmd_reproduce)


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from vitsim.analysis.compare import PAPER_MODELS
    from vitsim.analysis.reproduce import (
        AVERAGE_SPARSITIES,
        report_markdown,
        reproduce,
        write_reproduction,
    )
    from vitsim.atomic import check_new_dir
    from vitsim.progress import ProgressBar

    if args.out:
        check_new_dir(args.out)
    hw = hardware_from_args(args)
    models = tuple(args.models or PAPER_MODELS)
    seeds = list(dict.fromkeys(args.seeds)) if args.seeds else [args.seed]
    runs = []
    with ProgressBar(len(models) * len(seeds), label="reproduce", unit="model") as bar:
        def done(model: str) -> None:
            bar.set_note(model)
            bar.update()

        for i, seed in enumerate(seeds):
            # The reference mode, the decomposition and the averages are of the first seed.
            first = i == 0
            reference = args.reference if first and args.reference != "none" else None
            averages = AVERAGE_SPARSITIES if first and not args.no_average else ()
            runs.append(reproduce(hw=hw, models=models, sparsity=args.sparsity, seed=seed,
                                  masks=dict(args.mask), on_model=done, reference=reference,
                                  average_sparsities=averages))
    rep = runs[0]
    if args.out:
        write_reproduction(args.out, rep, seeds=runs[1:])
    if args.json:
        emit_json(rep.document())
        return 0
    print(f"ViTCoD's comparison on {rep.hardware}\n")
    print(report_markdown(rep))
    if args.out:
        print(f"written: {args.out}")
    return 0
