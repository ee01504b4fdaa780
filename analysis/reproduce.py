"""``vitsim reproduce``: ViTCoD's headline comparison, re-run with vitsim's models.

For each of the paper's models at 90% attention sparsity (synthetic attention by default, a
real mask where one is given), the accelerator (``vitcod`` by default, any preset with
``--hw``) is compared with the paper's five baselines (a Xeon Gold 6230R, a Jetson Xavier NX,
an RTX 2080 Ti, SpAtten and Sanger) in both scopes. Beside it:

- the same comparison on the ``vitcod-released`` reference mode (ViTCoD's released
  simulator reproduced exactly), so every ratio reads three ways: the paper's, the released
  simulator's, vitsim's;
- the decomposition of the attention cycles from the released simulator to the default,
  one factor at a time, each measured (:mod:`vitsim.analysis.decompose`), with the
  baselines' conditions (host dispatch of eager frameworks; the peers' brackets) as ratios;
- the paper's other setting: speedups averaged over 60, 70, 80 and 90% sparsity.

The paper reports the largest speedup over its models ("up to"); the headline table sets
vitsim's largest beside it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vitsim.analysis.cli.args import json_safe
from vitsim.analysis.compare import (
    PAPER_BASELINES,
    PAPER_MODELS,
    PAPER_SPARSITY,
    PAPER_SPEEDUP_UP_TO,
    SCOPES,
    ComparisonRow,
    Scoped,
    accelerator_scoped,
    baseline_scoped,
    comparison_rows,
    run_baseline,
)
from vitsim.analysis.decompose import Step, decompose, decomposition_markdown
from vitsim.atomic import atomic_output_dir
from vitsim.errors import VitsimError
from vitsim.hw_configs.loader import load_hardware
from vitsim.hw_configs.schema import HardwareConfig
from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.pipeline import trace_mask_file, trace_synthetic

# Beyond this relative difference from the paper the README must explain the gap.
EXPLAIN_ABOVE = 0.30


@dataclass(frozen=True)
class Headline:
    paper_baseline: str  # cpu, edge_gpu, gpu, spatten, sanger
    baseline: str  # the vitsim baseline standing for it
    scope: str
    paper_up_to: float
    vitsim_up_to: float
    at_model: str

    @property
    def ratio(self) -> float:
        """vitsim / paper."""
        return self.vitsim_up_to / self.paper_up_to

    @property
    def needs_explaining(self) -> bool:
        return abs(self.ratio - 1.0) > EXPLAIN_ABOVE


REFERENCE = "vitcod-released"
AVERAGE_SPARSITIES = (0.6, 0.7, 0.8, 0.9)  # ViTCoD Sec. VI: speedups averaged over these


@dataclass(frozen=True)
class Reproduction:
    hardware: str
    sparsity: float
    seed: int
    sources: Mapping[str, str]  # model -> "synthetic" or the mask file
    rows: tuple[ComparisonRow, ...]
    accelerator: Mapping[str, Scoped]  # model -> its scoped figures
    headlines: tuple[Headline, ...] = field(default=())
    stage_frames: Mapping[str, Any] = field(default_factory=dict, repr=False)  # model -> frame
    clock_mhz: float = 0.0
    hardware_config: HardwareConfig | None = field(default=None, repr=False)
    # The same comparison on the reference mode (empty when it was not run).
    reference: str = ""
    reference_rows: tuple[ComparisonRow, ...] = ()
    # model -> the measured steps from the released simulator to this hardware
    decomposition: Mapping[str, tuple[Step, ...]] = field(default_factory=dict)
    # model -> {baseline: speedup with the baseline's host dispatch removed} (platforms)
    no_dispatch: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    # (model, baseline, scope) -> mean speedup and energy efficiency over AVERAGE_SPARSITIES
    averages: Mapping[tuple[str, str, str], tuple[float, float]] = field(default_factory=dict)
    average_sparsities: tuple[float, ...] = ()
    # (model, block) -> the sparser engine's per-line loads of that block's head groups
    line_loads: Mapping[tuple[str, int], Any] = field(default_factory=dict, repr=False)

    def document(self) -> dict[str, Any]:
        """The ``--json`` document: ``rows`` are ``{model, baseline, speedup,
        energy_efficiency, ...}``, one per model, baseline and scope."""
        return {
            "hardware": self.hardware, "sparsity": self.sparsity, "seed": self.seed,
            "sources": dict(self.sources),
            "rows": [r.as_dict() for r in self.rows],
            "reference": self.reference,
            "reference_rows": [r.as_dict() for r in self.reference_rows],
            "decomposition": {
                m: [{"step": s.label, "family": s.family, "attention_cycles": s.attention_cycles,
                     "factor": s.factor} for s in steps]
                for m, steps in self.decomposition.items()},
            "speedup_without_dispatch": {m: dict(v) for m, v in self.no_dispatch.items()},
            "sparsity_average": {
                "sparsities": list(self.average_sparsities),
                "rows": [{"model": m, "baseline": b, "scope": sc, "speedup": v[0],
                          "energy_efficiency": v[1]}
                         for (m, b, sc), v in self.averages.items()]},
            "headline": [
                {"paper_baseline": h.paper_baseline, "baseline": h.baseline, "scope": h.scope,
                 "paper_up_to": h.paper_up_to, "vitsim_up_to": h.vitsim_up_to,
                 "at_model": h.at_model, "vitsim_over_paper": h.ratio}
                for h in self.headlines
            ],
        }


def reproduce(*, hw: str | HardwareConfig = "vitcod", models: Sequence[str] = PAPER_MODELS,
              sparsity: float = PAPER_SPARSITY, seed: int = 0,
              masks: Mapping[str, str] | None = None,
              on_model: Callable[[str], None] | None = None,
              reference: str | None = REFERENCE,
              average_sparsities: Sequence[float] = AVERAGE_SPARSITIES) -> Reproduction:
    """Run the comparison; ``masks`` maps a model to a mask file (ViTCoD's convention:
    True = pruned) used instead of synthetic attention for that model. ``on_model(name)`` is
    called after each model (a progress bar's hook). ``reference`` (a preset, None to skip)
    runs the same comparison and the decomposition against it; ``average_sparsities`` (empty
    to skip) the speedups averaged over synthetic attention at those sparsities."""
    from vitsim.analysis.frames import stages_frame
    from vitsim.simulator.simulate import simulate

    hardware = load_hardware(hw) if isinstance(hw, str) else hw
    ref_hw = load_hardware(reference) if reference else None
    masks = dict(masks or {})
    unknown = set(masks) - set(models)
    if unknown:
        raise VitsimError(f"masks given for models not compared: {sorted(unknown)}",
                          source="--mask")
    rows: list[ComparisonRow] = []
    ref_rows: list[ComparisonRow] = []
    sources: dict[str, str] = {}
    scoped: dict[str, Scoped] = {}
    frames: dict[str, Any] = {}
    steps: dict[str, tuple[Step, ...]] = {}
    no_dispatch: dict[str, dict[str, float]] = {}
    averages: dict[tuple[str, str, str], tuple[float, float]] = {}
    line_loads: dict[tuple[str, int], Any] = {}
    for model in models:
        spec = get_spec(model)
        if model in masks:
            trace = trace_mask_file(masks[model], spec, convention="pruned")
            sources[model] = str(masks[model])
        else:
            trace = trace_synthetic(spec, sparsity=sparsity, seed=seed)
            sources[model] = f"synthetic, sparsity {sparsity:g}, seed {seed}"
        result = simulate(trace, hardware)
        acc = accelerator_scoped(result)
        scoped[model] = acc
        frames[model] = stages_frame(result)
        if not line_loads and hardware.engines.sparse.enabled and hardware.lines_shared:
            from vitsim.simulator.line_loads import sparse_line_loads

            block = len(spec.blocks) // 2
            line_loads[model, block] = sparse_line_loads(trace, hardware, block)
        baselines = _baselines(trace, hardware)
        rows += comparison_rows(model, hardware.name, acc, baselines)
        no_dispatch[model] = _without_dispatch(trace, acc)
        if ref_hw is not None:
            ref_acc = accelerator_scoped(simulate(trace, ref_hw))
            ref_baselines = [(name, b if _is_platform(name) else run_baseline(name, trace, ref_hw))
                             for name, b in baselines]
            ref_rows += comparison_rows(model, ref_hw.name, ref_acc, ref_baselines)
            steps[model] = decompose(trace, hardware, ref_hw)
        if average_sparsities:
            averages.update(_sparsity_average(model, hardware, average_sparsities, seed,
                                              {sparsity: rows[-len(baselines) * len(SCOPES):]}))
        if on_model is not None:
            on_model(model)
    return Reproduction(hardware.name, sparsity, seed, sources, tuple(rows), scoped,
                        _headlines(rows), frames, hardware.clock_mhz, hardware,
                        reference=ref_hw.name if ref_hw else "", reference_rows=tuple(ref_rows),
                        decomposition=steps, no_dispatch=no_dispatch, averages=averages,
                        average_sparsities=tuple(average_sparsities), line_loads=line_loads)


def _is_platform(name: str) -> bool:
    from vitsim.hw_configs.platforms import known_platforms

    return name in known_platforms()


def _baselines(trace: Any, hardware: HardwareConfig) -> list[tuple[str, Any]]:
    return [(PAPER_BASELINES[p], run_baseline(PAPER_BASELINES[p], trace, hardware))
            for p in PAPER_SPEEDUP_UP_TO]


def _without_dispatch(trace: Any, acc: Scoped) -> dict[str, float]:
    """Attention speedup over each paper platform with its host dispatch removed: the
    share of the speedup that the framework's per-operator cost (batch 1, eager) makes."""
    import dataclasses

    from vitsim.hw_configs.platforms import load_platform
    from vitsim.simulator import baselines as plat

    out = {}
    for name in PAPER_BASELINES.values():
        if not _is_platform(name):
            continue
        platform = dataclasses.replace(load_platform(name), dispatch_us_per_op=0.0)
        b = baseline_scoped(plat.roofline(platform, trace.spec, trace=trace))
        out[name] = b.latency_ms["attention"] / acc.latency_ms["attention"]
    return out


def _sparsity_average(model: str, hardware: HardwareConfig, sparsities: Sequence[float],
                      seed: int, done: Mapping[float, Sequence[ComparisonRow]]
                      ) -> dict[tuple[str, str, str], tuple[float, float]]:
    """Mean speedup and energy efficiency per (baseline, scope) over synthetic attention at
    ``sparsities`` (rows already computed at a sparsity are reused from ``done``)."""
    from vitsim.simulator.simulate import simulate

    spec = get_spec(model)
    per: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for s in sparsities:
        rows = done.get(s)
        if rows is None:
            trace = trace_synthetic(spec, sparsity=s, seed=seed)
            acc = accelerator_scoped(simulate(trace, hardware))
            rows = comparison_rows(model, hardware.name, acc, _baselines(trace, hardware))
        for r in rows:
            per.setdefault((model, r.baseline, r.scope), []).append(
                (r.speedup, r.energy_efficiency))
    return {k: (math.fsum(v[0] for v in vals) / len(vals),
                math.fsum(v[1] for v in vals) / len(vals)) for k, vals in per.items()}


def _headlines(rows: Sequence[ComparisonRow]) -> tuple[Headline, ...]:
    out = []
    for paper, name in PAPER_BASELINES.items():
        for scope in SCOPES:
            mine = [r for r in rows if r.baseline == name and r.scope == scope]
            if not mine:
                continue
            best = max(mine, key=lambda r: r.speedup)
            out.append(Headline(paper, name, scope, PAPER_SPEEDUP_UP_TO[paper], best.speedup,
                                best.model))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Tables and the output directory

ROW_FIELDS = ("model", "baseline", "baseline_config", "kind", "scope", "accelerator",
              "accelerator_latency_ms", "baseline_latency_ms", "speedup",
              "accelerator_energy_mj", "baseline_energy_mj", "energy_efficiency",
              "configuration")


def rows_csv(rows: Sequence[ComparisonRow]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=ROW_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(r.as_dict())
    return buf.getvalue()


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "inf"
    return f"{x:.3g}" if x < 100 else f"{x:,.0f}"


def headline_markdown(rep: Reproduction) -> str:
    lines = [
        "| paper's baseline | vitsim baseline | scope | paper: up to | vitsim: up to (model) "
        "| vitsim / paper |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for h in rep.headlines:
        flag = " **>30%**" if h.needs_explaining else ""
        lines.append(f"| {h.paper_baseline} | {h.baseline} | {h.scope} | {h.paper_up_to:g}x | "
                     f"{_fmt(h.vitsim_up_to)}x ({h.at_model}) | {h.ratio:.2f}{flag} |")
    return "\n".join(lines) + "\n"


def rows_markdown(rep: Reproduction, scope: str) -> str:
    models = list(dict.fromkeys(r.model for r in rep.rows))
    names = list(dict.fromkeys(r.baseline for r in rep.rows))
    cell = {(r.model, r.baseline): r for r in rep.rows if r.scope == scope}
    lines = ["| model | vitsim ms | " + " | ".join(f"{b}: speedup / energy eff." for b in names)
             + " |", "| --- | --- | " + " | ".join("---" for _ in names) + " |"]
    for m in models:
        acc_ms = rep.accelerator[m].latency_ms[scope]
        parts = [f"{_fmt(cell[m, b].speedup)}x / {_fmt(cell[m, b].energy_efficiency)}x"
                 for b in names]
        lines.append(f"| {m} | {acc_ms:.4g} | " + " | ".join(parts) + " |")
    return "\n".join(lines) + "\n"


def three_way_markdown(rep: Reproduction, scope: str) -> str:
    """Per model and baseline: the paper's number, the reference mode's ratio, this
    hardware's ratio (speedups; energy efficiency after the slash)."""
    ref = {(r.model, r.baseline): r for r in rep.reference_rows if r.scope == scope}
    paper = {v: PAPER_SPEEDUP_UP_TO[k] for k, v in PAPER_BASELINES.items()}
    lines = [f"| model | baseline | paper (up to) | {rep.reference or 'reference'} | "
             f"{rep.hardware} |", "| --- | --- | --- | --- | --- |"]
    for r in rep.rows:
        if r.scope != scope:
            continue
        p = f"{paper[r.baseline]:g}x" if scope == "attention" and r.baseline in paper else ""
        x = ref.get((r.model, r.baseline))
        ref_cell = (f"{_fmt(x.speedup)}x / {_fmt(x.energy_efficiency)}x" if x else "")
        lines.append(f"| {r.model} | {r.baseline} | {p} | {ref_cell} | "
                     f"{_fmt(r.speedup)}x / {_fmt(r.energy_efficiency)}x |")
    return "\n".join(lines) + "\n"


def conditions_markdown(rep: Reproduction) -> str:
    """The baselines' conditions: attention speedup with and without the platforms' host
    dispatch (eager framework at batch 1)."""
    names = list(dict.fromkeys(b for v in rep.no_dispatch.values() for b in v))
    cell = {(r.model, r.baseline): r.speedup for r in rep.rows if r.scope == "attention"}
    lines = ["| model | " + " | ".join(f"{b}: with / without dispatch" for b in names) + " |",
             "| --- | " + " | ".join("---" for _ in names) + " |"]
    for m, v in rep.no_dispatch.items():
        lines.append(f"| {m} | " + " | ".join(
            f"{_fmt(cell[m, b])}x / {_fmt(v[b])}x" for b in names) + " |")
    return "\n".join(lines) + "\n"


def averages_markdown(rep: Reproduction, scope: str) -> str:
    """Speedup / energy efficiency averaged over the sparsities, per model and baseline."""
    models = list(dict.fromkeys(m for m, _, _ in rep.averages))
    names = list(dict.fromkeys(b for _, b, _ in rep.averages))
    lines = ["| model | " + " | ".join(f"{b}" for b in names) + " |",
             "| --- | " + " | ".join("---" for _ in names) + " |"]
    for m in models:
        cells = []
        for b in names:
            sp, ee = rep.averages[m, b, scope]
            cells.append(f"{_fmt(sp)}x / {_fmt(ee)}x")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def report_markdown(rep: Reproduction) -> str:
    """Every table of the reproduction, as printed and written to table.md."""
    md = [f"Hardware `{rep.hardware}`, sparsity {rep.sparsity:g} (speedup / energy "
          f"efficiency per image).", "",
          "## Headline (largest speedup over the models)", "", headline_markdown(rep)]
    for scope in SCOPES:
        md += [f"## Per model, {scope.replace('_', '-')}", "", rows_markdown(rep, scope)]
    if rep.reference_rows:
        for scope in SCOPES:
            md += [f"## Three ways, {scope.replace('_', '-')}: the paper, the released "
                   f"simulator ({rep.reference}), vitsim ({rep.hardware})", "",
                   three_way_markdown(rep, scope)]
    if rep.decomposition:
        md += ["## From the released simulator to vitsim, attention cycles, one factor at "
               "a time (each measured)", "", decomposition_markdown(dict(rep.decomposition))]
    if rep.no_dispatch:
        md += ["## The baselines' conditions: attention speedup with the platforms' host "
               "dispatch (eager, batch 1) and without", "", conditions_markdown(rep)]
    if rep.averages:
        label = ", ".join(f"{s:.0%}" for s in rep.average_sparsities)
        for scope in SCOPES:
            md += [f"## Averaged over {label} sparsity, {scope.replace('_', '-')}", "",
                   averages_markdown(rep, scope)]
    return "\n".join(md)


def write_reproduction(out: str | os.PathLike[str], rep: Reproduction,
                       seeds: Sequence[Reproduction] = ()) -> Path:
    """Write table.csv, table.md, reproduce.json and the figures into a new directory,
    atomically; an existing non-empty ``out`` is an error. ``seeds``: runs at further
    seeds, drawn as error bars in the speedup figures."""
    with atomic_output_dir(out) as tmp:
        (tmp / "table.csv").write_text(rows_csv(rep.rows), encoding="utf-8")
        if rep.reference_rows:
            (tmp / "table_reference.csv").write_text(rows_csv(rep.reference_rows),
                                                     encoding="utf-8")
        md = "# vitsim reproduce: ViTCoD's comparison\n\n" + report_markdown(rep)
        (tmp / "table.md").write_text(md, encoding="utf-8")
        doc = json.dumps(json_safe(rep.document()), indent=1, allow_nan=False)
        (tmp / "reproduce.json").write_text(doc, encoding="utf-8")
        _figures(tmp, rep, seeds)
    return Path(out)


FIGURE_FORMATS = ("pdf", "png", "svg")


def _figures(out: Path, rep: Reproduction, seeds: Sequence[Reproduction] = ()) -> None:
    """Speedup and energy efficiency per model and baseline (log scale), one figure per
    scope, with a geometric-mean group, the paper's "up to" numbers drawn beside the
    attention speedups, and error bars across ``seeds`` (further runs at other seeds);
    the accelerator's breakdown per model; and, for the first model, its roofline, its
    per-layer/per-head breakdown and one block's timeline. Double-column width, PDF (Type 42
    fonts), PNG and SVG."""
    import pandas as pd

    from vitsim.analysis.figures import charts as figures

    runs = [rep, *seeds]
    table = pd.DataFrame([{**r.as_dict(), "seed": run.seed} for run in runs for r in run.rows])
    paper = {PAPER_BASELINES[k]: v for k, v in PAPER_SPEEDUP_UP_TO.items()}

    def save(fig: Any, stem: str) -> None:
        figures.save_figure_as(fig, out, stem, formats=FIGURE_FORMATS)

    with figures.paper_style("double"):
        for scope in SCOPES:
            sub = table[table["scope"] == scope].reset_index(drop=True)
            save(figures.plot_speedup(sub, reference=paper if scope == "attention" else None,
                                      reference_label="ViTCoD paper (up to)"),
                 f"speedup_{scope}")
        if rep.stage_frames:
            save(figures.plot_breakdown_compare(dict(rep.stage_frames),
                                                clock_mhz=rep.clock_mhz), "breakdown")
            model, frame = next(iter(rep.stage_frames.items()))
            hw = rep.hardware_config
            if hw is not None:
                save(figures.plot_roofline(frame, peak_macs_per_cycle=hw.total_macs,
                                           dram_bytes_per_cycle=hw.dram_bytes_per_cycle,
                                           clock_mhz=hw.clock_mhz,
                                           title=f"{model} on {hw.name}"), "roofline")
                save(figures.plot_block_timeline(frame, layer=0, total_macs=hw.total_macs,
                                                 clock_mhz=hw.clock_mhz), "timeline")
            save(figures.plot_layer_head(frame, clock_mhz=rep.clock_mhz,
                                         title=f"{model}: per layer and head"), "layers_heads")
        for (model, block), groups in rep.line_loads.items():
            save(figures.plot_line_loads(groups, clock_mhz=rep.clock_mhz,
                                         title=f"{model}, block {block}: sparser-engine "
                                               f"lines ({rep.hardware})"),
                 "line_loads")
