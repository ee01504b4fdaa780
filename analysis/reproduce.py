"""``vitsim reproduce``: ViTCoD's headline comparison, re-run with vitsim's models.

For each of the paper's models at 90% attention sparsity (synthetic attention by default, a
real mask where one is given), the ``vitcod`` preset is compared with the paper's five
baselines (a Xeon CPU, a Jetson TX2, an RTX 2080 Ti, SpAtten and Sanger) in both scopes. The
paper reports the largest speedup over its models ("up to"); the headline table sets vitsim's
largest beside it.
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
    comparison_rows,
    run_baseline,
)
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

    def document(self) -> dict[str, Any]:
        """The ``--json`` document: ``rows`` are ``{model, baseline, speedup,
        energy_efficiency, ...}``, one per model, baseline and scope."""
        return {
            "hardware": self.hardware, "sparsity": self.sparsity, "seed": self.seed,
            "sources": dict(self.sources),
            "rows": [r.as_dict() for r in self.rows],
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
              on_model: Callable[[str], None] | None = None) -> Reproduction:
    """Run the comparison; ``masks`` maps a model to a mask file (ViTCoD's convention:
    True = pruned) used instead of synthetic attention for that model. ``on_model(name)`` is
    called after each model (a progress bar's hook)."""
    from vitsim.analysis.frames import stages_frame
    from vitsim.simulator.simulate import simulate

    hardware = load_hardware(hw) if isinstance(hw, str) else hw
    masks = dict(masks or {})
    unknown = set(masks) - set(models)
    if unknown:
        raise VitsimError(f"masks given for models not compared: {sorted(unknown)}",
                          source="--mask")
    rows: list[ComparisonRow] = []
    sources: dict[str, str] = {}
    scoped: dict[str, Scoped] = {}
    frames: dict[str, Any] = {}
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
        baselines = [(PAPER_BASELINES[p], run_baseline(PAPER_BASELINES[p], trace, hardware))
                     for p in PAPER_SPEEDUP_UP_TO]
        rows += comparison_rows(model, hardware.name, acc, baselines)
        if on_model is not None:
            on_model(model)
    return Reproduction(hardware.name, sparsity, seed, sources, tuple(rows), scoped,
                        _headlines(rows), frames, hardware.clock_mhz, hardware)


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


def write_reproduction(out: str | os.PathLike[str], rep: Reproduction,
                       seeds: Sequence[Reproduction] = ()) -> Path:
    """Write table.csv, table.md, reproduce.json and the figures into a new directory,
    atomically; an existing non-empty ``out`` is an error. ``seeds``: runs at further
    seeds, drawn as error bars in the speedup figures."""
    with atomic_output_dir(out) as tmp:
        (tmp / "table.csv").write_text(rows_csv(rep.rows), encoding="utf-8")
        md = ["# vitsim reproduce: ViTCoD's comparison", "",
              f"Hardware `{rep.hardware}`, sparsity {rep.sparsity:g}.", "",
              "## Headline (largest speedup over the models)", "", headline_markdown(rep)]
        for scope in SCOPES:
            md += [f"## Per model, {scope.replace('_', '-')}", "", rows_markdown(rep, scope)]
        (tmp / "table.md").write_text("\n".join(md), encoding="utf-8")
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
