"""``vitsim baseline``: CPU/GPU platform baselines, predicted by a roofline or measured.

- ``vitsim baseline --platform NAME|FILE --model NAME [--batch B] [--sparsity S]
  [--attention dense_masked|sparse_kernel] [--profile PROFILE] [--json]`` prints the
  latency of one batch with its per-operator breakdown. With ``--profile`` (from
  ``baseline measure``) the result is the measured one, set beside the platform's roofline
  when ``--platform`` is given too.
- ``vitsim baseline measure --device cpu|cuda --model NAME [--batch B] [--repeats N]
  --out PROFILE`` times the same operators with torch on this machine and writes a
  platform profile (never over an existing file).

torch is imported only when ``measure`` runs, so building the parser stays light.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from typing import TYPE_CHECKING

from vitsim.analysis.cli import args as cli_args
from vitsim.errors import VitsimError

if TYPE_CHECKING:
    from vitsim.simulator.baselines.profile import PlatformProfile
    from vitsim.simulator.baselines.result import BaselineResult
    from vitsim.workloads.model_spec import ModelSpec

log = logging.getLogger(__name__)

_ATTENTION_MODES = ("dense_masked", "sparse_kernel")


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "baseline", help="CPU/GPU baseline latency: per-operator roofline or measured profile",
        description="Latency and energy of one batch of a model on a CPU/GPU platform, with "
                    "the per-operator breakdown: predicted by the platform's roofline "
                    "(--platform), or read from a measured profile (--profile; see "
                    "'vitsim baseline measure --help').")
    p.add_argument("--platform", metavar="NAME|FILE",
                   help="platform preset (xeon-gold-6230, jetson-tx2, rtx-2080ti, "
                        "a100-sxm4-40gb) or a platform YAML file")
    p.add_argument("--model", help="zoo name (deit-tiny, levit-128, ...) or a model spec .yaml")
    p.add_argument("--batch", type=cli_args.positive_int,
                   help="images per inference (default 1, or the profile's)")
    p.add_argument("--sparsity", type=cli_args.sparsity,
                   help="attention sparsity of the fixed mask in [0, 1) (default: dense, or "
                        "the profile's)")
    p.add_argument("--attention", choices=_ATTENTION_MODES,
                   help="how the framework runs the mask (default: the platform's, "
                        "dense_masked in every preset)")
    p.add_argument("--profile", metavar="PROFILE",
                   help="a profile from 'vitsim baseline measure': report measured times")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(func=_cmd_baseline)
    actions = p.add_subparsers(dest="baseline_action", metavar="ACTION",
                               parser_class=cli_args.Parser)
    m = actions.add_parser(
        "measure", help="time the operators with torch on this machine",
        description="Run the platform baseline's operators of one forward pass with torch "
                    "(warm-up passes, then timed passes; per operator the median) and write "
                    "a platform profile (YAML) for 'vitsim baseline --profile'.")
    m.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="where to run (default cpu)")
    m.add_argument("--dispatch", action="store_true",
                   help="instead of a model: time PyTorch eager's per-operator dispatch on "
                        "one-element operands and print dispatch_us_per_op (the platform "
                        "field; on cuda: max(dispatch, launch + device) per op)")
    m.add_argument("--model", help="zoo name or a model spec .yaml (required without "
                                   "--dispatch)")
    m.add_argument("--batch", type=cli_args.positive_int, default=1,
                   help="images per inference (default 1)")
    m.add_argument("--sparsity", type=cli_args.sparsity, default=0.0,
                   help="sparsity of the fixed mask applied with masked_fill (default 0: "
                        "no mask)")
    m.add_argument("--repeats", type=cli_args.positive_int, default=20,
                   help="timed passes (default 20)")
    m.add_argument("--warmup", type=cli_args.nonnegative_int, default=3,
                   help="untimed passes first (default 3)")
    m.add_argument("--threads", type=cli_args.positive_int,
                   help="torch.set_num_threads (default: torch's own default)")
    m.add_argument("--seed", type=cli_args.nonnegative_int, default=0,
                   help="seed of the weights and the mask (values do not change timing)")
    m.add_argument("--out", metavar="PROFILE.yaml",
                   help="profile file to write (must not exist; required without --dispatch)")
    m.set_defaults(func=_cmd_measure)


# ----------------------------------------------------------------------------- baseline


def _cmd_baseline(args: argparse.Namespace) -> int:
    from vitsim.hw_configs.platforms import load_platform
    from vitsim.simulator.baselines import load_profile, measured, roofline
    from vitsim.workloads.model_spec import get_spec

    if args.model is None:
        raise VitsimError("required: the model to run", source="--model")
    if args.platform is None and args.profile is None:
        raise VitsimError("give a platform (preset name or YAML file), or --profile",
                          source="--platform")
    spec = get_spec(args.model)
    platform = load_platform(args.platform) if args.platform else None
    if args.profile is None:
        assert platform is not None
        result = roofline(platform, spec, batch=args.batch or 1, sparsity=args.sparsity,
                          attention_mode=args.attention)
        _emit(args, result, None)
        return 0
    profile = load_profile(args.profile)
    w = profile.workload
    _check_matches(args.profile, "model", spec.name, w.model)
    if args.batch is not None:
        _check_matches(args.profile, "batch", args.batch, w.batch)
    if args.sparsity is not None:
        _check_matches(args.profile, "sparsity", args.sparsity, w.sparsity)
    if args.attention is not None:
        _check_matches(args.profile, "attention mode", args.attention, w.attention_mode.value)
    result = measured(profile, platform=platform)
    compare = None
    if platform is not None:
        compare = roofline(platform, spec, batch=w.batch, sparsity=w.sparsity or None,
                           attention_mode=w.attention_mode)
    _emit(args, result, compare)
    return 0


def _check_matches(source: str, what: str, given: object, profiled: object) -> None:
    if given != profiled:
        raise VitsimError(f"profile was measured with {what} {profiled}, not {given}",
                          source=source)


def _emit(args: argparse.Namespace, result: BaselineResult,
          roofline: BaselineResult | None) -> None:
    if args.json:
        doc = result.document()
        if roofline is not None:
            doc["roofline"] = roofline.document()
        cli_args.emit_json(doc)
        return
    sys.stdout.write(baseline_text(result, roofline))


def baseline_text(result: BaselineResult, roofline: BaselineResult | None = None) -> str:
    """The human-readable report: a summary line and one row per operator."""
    prov = result.provenance
    energy = ("energy unknown" if math.isnan(result.energy_mj)
              else f"{result.energy_mj:,.4g} mJ ({prov.get('energy', '')})")
    lines = [
        f"{result.model} on {result.baseline} ({result.kind.value}, "
        f"{prov.get('attention_mode', '')}, kept density {prov.get('kept_density', '')}, "
        f"{prov.get('precision', '')}, batch {result.batch}): {result.latency_ms:,.4f} ms, "
        f"{energy}",
    ]
    if "device_name" in prov:
        lines.append(f"measured on {prov['device']} ({prov['device_name']}), torch "
                     f"{prov['torch']}, {prov['threads']} threads; {prov['timing']}; whole "
                     f"forward pass without per-op synchronisation {prov['forward_ms']} ms")
    roof_ms: dict[str, float] = {}
    if roofline is not None:
        roof_ms = {o.name: o.latency_ms for o in roofline.operators}
        lines.append(f"roofline of {roofline.baseline}: {roofline.latency_ms:,.4f} ms "
                     f"(measured / roofline = {result.latency_ms / roofline.latency_ms:.2f})")
    header = (f"{'operator':22s} {'stage':11s} {'kernels':>7s} {'GFLOP':>9s} {'MB':>9s} "
              f"{'bound':>8s} {'latency_ms':>11s} {'share':>6s}")
    if roofline is not None:
        header += f" {'roofline_ms':>11s} {'ratio':>6s}"
    lines.append(header)
    total = result.latency_ms or 1.0
    for o in result.operators:
        row = (f"{o.name:22s} {o.stage:11s} {o.count:7d} {o.flops / 1e9:9.4f} "
               f"{o.dram_bytes / 1e6:9.3f} {o.bound:>8s} {o.latency_ms:11.4f} "
               f"{o.latency_ms / total:6.1%}")
        if roofline is not None:
            r = roof_ms.get(o.name, math.nan)
            row += f" {r:11.4f} {o.latency_ms / r if r else math.nan:6.2f}"
        lines.append(row)
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- measure


def measure_platform(
    spec: ModelSpec,
    *,
    device: str = "cpu",
    batch: int = 1,
    repeats: int = 20,
    warmup: int = 3,
    sparsity: float = 0.0,
    attention_mode: str = "dense_masked",
    precision: str = "fp32",
    threads: int | None = None,
    seed: int = 0,
) -> PlatformProfile:
    """Time every operator of one forward pass of ``spec`` on this machine with torch.

    The operator list is the roofline's (:func:`platform_operators`), timed by
    :func:`vitsim.models.measure.time_operators`; an operator's time is its median over the
    ``repeats`` timed passes. Only ``dense_masked`` attention is measured: it is what
    frameworks run for a fixed mask.
    """
    from vitsim.hw_configs.platforms import AttentionMode, Precision
    from vitsim.simulator.baselines.operators import platform_operators
    from vitsim.simulator.baselines.profile import profile_from_timings

    if AttentionMode(attention_mode) is not AttentionMode.DENSE_MASKED:
        raise VitsimError("measured mode runs what frameworks run for a fixed mask "
                          "(dense_masked); torch has no batched sparse attention path to time",
                          source="--attention")
    if not 0.0 <= sparsity < 1.0:
        raise VitsimError(f"must be in [0, 1), got {sparsity}", source="--sparsity")
    precision = Precision(precision).value
    ops = platform_operators(spec, batch=batch, kept_density=1.0 - sparsity,
                             precision=precision)
    try:
        # torch lives in vitsim.models; imported only when a measurement runs (the CLI
        # modules are the one place analysis may reach models, lazily: test_layering.py).
        from vitsim.models.measure import time_operators
    except ModuleNotFoundError as err:
        if err.name and err.name.split(".")[0] == "torch":
            raise VitsimError("measuring needs torch: pip install 'vitsim[models]'",
                              source="baseline measure") from None
        raise
    timings = time_operators(ops, device=device, precision=precision, repeats=repeats,
                             warmup=warmup, threads=threads, seed=seed)
    profile = profile_from_timings(spec, timings.samples_ns, timings.forward_ns,
                                   timings.machine, batch=batch, sparsity=sparsity,
                                   precision=precision, warmup=warmup, repeats=repeats)
    log.info("measured %s on %s: %.3f ms per-op sum, %.3f ms forward", spec.name,
             profile.machine.device_name, profile.latency_ms, profile.timing.forward_ms)
    return profile


def _cmd_measure(args: argparse.Namespace) -> int:
    from vitsim.atomic import check_new_file
    from vitsim.simulator.baselines.profile import write_profile
    from vitsim.workloads.model_spec import get_spec

    if args.dispatch:
        return _measure_dispatch(args)
    for flag, value in (("--model", args.model), ("--out", args.out)):
        if not value:
            raise VitsimError("required (or --dispatch)", source=flag)
    check_new_file(args.out)  # before minutes of measuring, not after
    spec = get_spec(args.model)
    profile = measure_platform(
        spec, device=args.device, batch=args.batch, repeats=args.repeats, warmup=args.warmup,
        sparsity=args.sparsity, threads=args.threads, seed=args.seed)
    write_profile(profile, args.out)
    m, t = profile.machine, profile.timing
    sys.stdout.write(
        f"{args.out}: {spec.name}, batch {args.batch}, on {m.device} ({m.device_name}), torch "
        f"{m.torch}, {m.threads} threads: {profile.latency_ms:,.4f} ms (sum of per-operator "
        f"medians over {t.repeats} passes), whole forward pass {t.forward_ms:,.4f} ms\n")
    return 0


def _measure_dispatch(args: argparse.Namespace) -> int:
    import statistics

    try:
        from vitsim.models.measure import load_average, time_dispatch
    except ImportError as err:
        raise VitsimError(f"measuring needs torch ({err}); pip install 'vitsim[models]'",
                          source="baseline measure") from None
    load = load_average()
    times = time_dispatch(args.device, threads=args.threads)
    lines = [f"{'operator':20s} {'median us':>10s} {'min us':>8s}"]
    lines += [f"{name:20s} {med:10.2f} {low:8.2f}" for name, (med, low) in times.items()]
    median = statistics.median(med for med, _ in times.values())
    lines.append(f"dispatch_us_per_op: {median:.2f}  (median over the operator kinds; "
                 f"{args.device}, load average {load})")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
