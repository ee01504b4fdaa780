"""One self-contained HTML page for a run directory or a sweep directory.

The page holds the configuration, the tables and the figures (embedded as base64 PNG), and
needs nothing beside itself: no scripts, no style sheets, no images on disk. A run directory
is what ``vitsim simulate --out`` writes (:mod:`vitsim.analysis.runs`); a sweep directory is
what ``vitsim sweep`` writes (:mod:`vitsim.analysis.sweeps.runner`).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from vitsim.analysis.figures import charts as figures
from vitsim.analysis.sweeps.pareto import (
    AREA_OBJECTIVES,
    best_point,
    filter_rows,
    ok_rows,
    pareto_front,
    sensitivity,
)
from vitsim.analysis.sweeps.runner import MANIFEST, SPEC_COPY, SweepDir
from vitsim.atomic import atomic_output
from vitsim.errors import VitsimError

RUN_FILES = ("run.json", "summary.json", "hardware.yaml", "stages.csv")
MAX_TABLE_ROWS = 30  # rows of a long table shown on the page (the count says how many more)
MAX_HEATMAP_LEVELS = 12  # an axis with more values (a random sweep's) gets no heat map
# Metrics where more is better; every other metric is minimised.
_MAXIMISED = ("throughput_images_per_s", "roofline_fraction")


def maximised(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (throughput, utilizations)."""
    return metric in _MAXIMISED or metric.endswith("utilization")


def kind_of(path: str | Path) -> str:
    """``"sweep"`` or ``"run"`` for a directory written by vitsim, else a VitsimError."""
    path = Path(path)
    if not path.is_dir():
        raise VitsimError("no such directory (give a run or sweep directory)", source=str(path))
    if (path / MANIFEST).is_file():
        return "sweep"
    if all((path / f).is_file() for f in RUN_FILES):
        return "run"
    raise VitsimError(f"neither a sweep directory (no {MANIFEST}) nor a run directory "
                      f"({', '.join(RUN_FILES)})", source=str(path))


# --------------------------------------------------------------------------------------
# Choosing the sweep figures
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepView:
    """A sweep's table with what the figures need to know about it."""

    table: pd.DataFrame
    axes: tuple[str, ...]
    metrics: tuple[str, ...]

    @classmethod
    def from_dir(cls, path: str | Path) -> SweepView:
        sweep = SweepDir(path)
        doc = sweep.manifest()
        table = sweep.read_results()
        metrics = tuple(m for m in doc.get("metrics", ()) if m in table)
        return cls(table, tuple(a for a in doc.get("axes", ()) if a in table), metrics)

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> SweepView:
        from vitsim.analysis.sweeps.pareto import axis_columns
        from vitsim.analysis.sweeps.spec import is_metric_column

        metrics = tuple(m for m in table.columns if is_metric_column(m))
        return cls(table, tuple(axis_columns(table, metrics=metrics)), metrics)

    @property
    def metric(self) -> str:
        """The headline metric: latency when kept, else the first kept metric."""
        return "latency_ms" if "latency_ms" in self.metrics else (self.metrics or ("",))[0]

    def ranked_axes(self, metric: str) -> list[str]:
        """Axes with more than one value, the one that moves ``metric`` most first."""
        if not self.axes or metric not in self.table:
            return []
        sens = sensitivity(self.table, metric, self.axes)
        return [a for a, n in zip(sens["axis"], sens["levels"], strict=True) if n > 1]


def sweep_figures(view: SweepView, *, metric: str | None = None,
                  kinds: Sequence[str] | None = None) -> dict[str, Callable[[], Figure]]:
    """The figures that apply to a sweep, by kind (each built when called): ``pareto``,
    ``heatmap`` (the two axes that move ``metric`` most), ``sparsity`` (when attention
    sparsity is an axis), ``utilization`` (against the axis that moves ``metric`` most)."""
    metric = metric or view.metric
    table = view.table
    ranked = view.ranked_axes(metric) if metric else []
    few = [a for a in ranked if ok_rows(table)[a].nunique() <= MAX_HEATMAP_LEVELS]
    out: dict[str, Callable[[], Figure]] = {}
    if all(c in table for c in ("latency_ms", "energy_mj")) and len(ok_rows(table)):
        objectives = [c for c in AREA_OBJECTIVES if c in table]
        out["pareto"] = lambda: figures.plot_pareto(table, objectives=objectives)
    if len(few) >= 2 and metric:
        out["heatmap"] = lambda: figures.plot_heatmap(table, few[0], few[1], metric)
    if "workload.sparsity" in view.axes and metric:
        others = [a for a in few if a != "workload.sparsity"]
        hue = others[0] if others else None
        out["sparsity"] = lambda: figures.plot_sparsity_curves(table, metric, hue=hue)
    if any(m.endswith("utilization") for m in view.metrics) and len(ok_rows(table)):
        x = few[0] if few else None
        out["utilization"] = lambda: figures.plot_utilization(table, x)
    if kinds is not None:
        out = {k: v for k, v in out.items() if k in kinds}
    return out


# --------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; font-size: 1.25em;
border-bottom: 1px solid #ccc; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; } .note { color: #555; font-size: 0.9em; }
"""


class _Page:
    def __init__(self, title: str) -> None:
        self.title = title
        self.parts: list[str] = []

    def h(self, level: int, text: str) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def p(self, text: str, cls: str | None = None) -> None:
        attr = f' class="{cls}"' if cls else ""
        self.parts.append(f"<p{attr}>{html.escape(text)}</p>")

    def pre(self, text: str) -> None:
        self.parts.append(f"<pre>{html.escape(text)}</pre>")

    def table(self, frame: pd.DataFrame, *, max_rows: int = MAX_TABLE_ROWS) -> None:
        shown = frame.head(max_rows)
        self.parts.append(shown.to_html(index=False, escape=True, na_rep="",
                                        float_format=lambda v: f"{v:,.6g}", border=0))
        if len(frame) > max_rows:
            self.p(f"({len(frame) - max_rows} more rows not shown; the full table is in "
                   "the directory.)", "note")

    def pairs(self, items: Sequence[tuple[str, Any]]) -> None:
        self.table(pd.DataFrame({"": [k for k, _ in items],
                                 "value": [_text(v) for _, v in items]}), max_rows=10_000)

    def figure(self, fig: Figure, caption: str) -> None:
        uri = figures.figure_data_uri(fig, "png")
        self.parts.append(f'<figure><img src="{uri}" alt="{html.escape(caption)}">'
                          f"<figcaption>{html.escape(caption)}</figcaption></figure>")

    def render(self) -> str:
        body = "\n".join(self.parts)
        return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head>"
                f"<body>\n<h1>{html.escape(self.title)}</h1>\n{body}\n</body></html>\n")


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise VitsimError(f"cannot read: {err}", source=str(path)) from None


# --------------------------------------------------------------------------------------
# A run directory
# --------------------------------------------------------------------------------------


def run_report(path: str | Path) -> str:
    """The HTML page of a ``vitsim simulate --out`` run directory."""
    from vitsim.hw_configs.loader import load_hardware

    path = Path(path)
    run = _read_json(path / "run.json")
    summary = _read_json(path / "summary.json")
    hw_text = (path / "hardware.yaml").read_text(encoding="utf-8")
    hw = load_hardware(path / "hardware.yaml")
    stages = pd.read_csv(path / "stages.csv")
    page = _Page(f"vitsim run: {summary.get('model')} on {summary.get('hardware')}")
    page.p(f"Run directory {path}. Inputs: {json.dumps(run.get('inputs', {}), default=str)}.")

    page.h(2, "Totals")
    keys = ("total_cycles", "latency_ms", "energy_mj", "edp_mj_ms", "throughput_images_per_s",
            "macs", "dram_bytes", "mac_utilization", "dense_engine_utilization",
            "sparse_engine_utilization", "compute_cycles", "stall_cycles", "fill_cycles",
            "roofline_cycles", "roofline_fraction")
    page.pairs([(figures.label(k), summary[k]) for k in keys if k in summary])

    page.h(2, "By stage")
    by_stage = pd.DataFrame(summary.get("stages", []))
    if not by_stage.empty:
        by_stage.insert(2, "latency_ms", by_stage["cycles"] / (hw.clock_mhz * 1e3))
        page.table(by_stage, max_rows=100)
    page.figure(figures.plot_breakdown(stages, clock_mhz=hw.clock_mhz),
                "Latency by stage (compute, fill/drain, memory stall) and energy by stage "
                "and component.")
    energy = summary.get("energy_by_component_mj", {})
    if energy:
        page.h(3, "Energy by component (mJ)")
        page.table(pd.DataFrame({"component": list(energy), "energy_mj": list(energy.values())}),
                   max_rows=100)
    util = pd.DataFrame([{k: summary[k] for k in figures.UTILIZATION_METRICS if k in summary}])
    if not util.empty and len(util.columns):
        page.figure(figures.plot_utilization(util),
                    "MAC utilization of the whole design and of each attention engine.")
    mask = _mask_figure(run)
    if mask is not None:
        page.figure(*mask)

    page.h(2, "Configuration")
    page.h(3, "Hardware (resolved)")
    page.pre(hw_text)
    page.h(3, "Provenance")
    page.pairs([("trace hash", run.get("trace_hash", "")),
                ("command", " ".join(map(str, run.get("argv", [])))),
                *[(k, v) for k, v in run.get("versions", {}).items()]])
    return page.render()


def _mask_figure(run: dict[str, Any]) -> tuple[Figure, str] | None:
    """The mask of the run's densest-polarized head, when the run read a trace file that is
    still there."""
    trace_path = run.get("inputs", {}).get("trace")
    if not trace_path or not Path(trace_path).is_file():
        return None
    import numpy as np

    from vitsim.analysis.figures.masks import plot_mask
    from vitsim.workloads.trace import WorkloadTrace

    trace = WorkloadTrace.load(trace_path)
    at = trace.attention
    i = int(np.argmax(at.n_global))
    layer, head = int(at.head_block[i]), int(at.head_index[i])
    return (plot_mask(trace, layer, head),
            f"Layer {layer} head {head} (the most global tokens) before and after "
            "polarization.")


# --------------------------------------------------------------------------------------
# A sweep directory
# --------------------------------------------------------------------------------------


def sweep_report(path: str | Path, *, metric: str | None = None,
                 where: str | None = None) -> str:
    """The HTML page of a sweep directory: summary, best points, the Pareto front, each
    axis's sensitivity, figures, failed points and the spec. ``where`` adds the best point
    under that condition (the sweep expression language over the table's columns)."""
    path = Path(path)
    sweep = SweepDir(path)
    doc = sweep.manifest()
    view = SweepView.from_dir(path)
    table = view.table
    metric = metric or view.metric
    if metric and metric not in table:
        raise VitsimError(f"no metric {metric!r} in the sweep's table; metrics: "
                          f"{', '.join(view.metrics)}", source="--metric")
    page = _Page(f"vitsim sweep: {doc.get('name')}")
    spec = doc.get("spec", {})
    if spec.get("description"):
        page.p(spec["description"])
    n_failed = int((table["status"] != "ok").sum())
    page.h(2, "Summary")
    runs = doc.get("runs", [])
    items: list[tuple[str, Any]] = [
        ("directory", str(path)),
        ("points", len(table)),
        ("dropped by constraints", doc.get("n_dropped", 0)),
        ("failed", n_failed),
        ("combine", spec.get("combine")),
        ("hardware", f"{spec.get('hardware')} {spec.get('hardware_overrides') or ''}".strip()),
        ("workload", spec.get("workload")),
        ("constraints", "; ".join(spec.get("constraints", [])) or "none"),
        ("metrics", ", ".join(view.metrics)),
    ]
    if spec.get("baselines"):
        items.append(("baselines (kept for comparisons)", ", ".join(spec["baselines"])))
    for i, r in enumerate(runs):
        items.append((f"run {i + 1}", f"{r.get('runner')} x{r.get('workers')}: "
                                      f"{r.get('evaluated')} points in {r.get('elapsed_s')} s "
                                      f"({r.get('points_per_s')} points/s), "
                                      f"{r.get('skipped')} already done"))
    page.pairs(items)
    axes_rows = [{"axis": a["name"],
                  "sets": ", ".join(t[0] + (f" x {t[1]}" if t[1] is not None else "")
                                    for t in a.get("targets", [])),
                  "values": _text(a.get("values") if a.get("values") is not None
                                  else a.get("sample"))}
                 for a in spec.get("axes", [])]
    if axes_rows:
        page.h(3, "Axes")
        page.table(pd.DataFrame(axes_rows), max_rows=100)

    shown = ["point", *view.axes]
    ok = ok_rows(table)
    if len(ok) and view.metrics:
        page.h(2, "Best points")
        best_rows = []
        for m in view.metrics:
            row = best_point(table, m, minimize=not maximised(m))
            if row is not None:
                best_rows.append({"metric": m, "goal": "max" if maximised(m) else "min",
                                  "value": row[m], **{c: row[c] for c in shown}})
        page.table(pd.DataFrame(best_rows), max_rows=100)
        if where:
            page.h(3, f"Best {metric} where {where}")
            row = best_point(table, metric, minimize=not maximised(metric), where=where)
            n = len(filter_rows(ok, where))
            if row is None:
                page.p(f"No successful point satisfies {where}.")
            else:
                page.p(f"{n} of {len(ok)} successful points satisfy the condition.")
                page.table(pd.DataFrame([row[[*shown, *view.metrics]]]))

    if all(c in table for c in ("latency_ms", "energy_mj")) and len(ok):
        objectives = [c for c in AREA_OBJECTIVES if c in table]
        front = pareto_front(table, objectives)
        page.h(2, "Pareto front")
        page.p(f"{len(front)} of {len(ok)} successful points are Pareto-optimal over "
               f"{', '.join(objectives)} (all minimised; the area proxy is the compute MACs "
               "and the on-chip SRAM bytes of the hardware description).")
        page.table(front[[*shown, *objectives,
                          *[m for m in view.metrics if m not in objectives]]])

    if metric and view.axes and len(ok):
        page.h(2, "Sensitivity")
        page.p(f"For each axis, the mean of {metric} at each of its values (over all other "
               "axes); the range of those means says how much the axis matters.")
        page.table(sensitivity(table, metric, view.axes), max_rows=100)

    figs = sweep_figures(view, metric=metric)
    if figs:
        page.h(2, "Figures")
        captions = {
            "pareto": "Latency against energy; the Pareto-optimal points (over latency, "
                      "energy and the area proxy) in colour, the latency-energy front as a "
                      "step line.",
            "heatmap": f"{metric} over the two axes that move it most (mean over the "
                       "other axes).",
            "sparsity": f"{metric} against attention sparsity.",
            "utilization": "MAC utilization per engine against the axis that matters most.",
        }
        for kind, build in figs.items():
            page.figure(build(), captions[kind])

    if n_failed:
        page.h(2, "Failed points")
        failed = table[table["status"] != "ok"]
        counts = failed["error"].value_counts().rename_axis("error").reset_index(name="points")
        page.table(counts, max_rows=50)
        page.table(failed[[*shown, "error"]])

    page.h(2, "Configuration")
    spec_text = (path / SPEC_COPY).read_text(encoding="utf-8") \
        if (path / SPEC_COPY).is_file() else json.dumps(spec, indent=1)
    page.h(3, "Sweep spec")
    page.pre(spec_text)
    page.h(3, "Provenance")
    page.pairs([("points digest", doc.get("points_digest")), ("created", doc.get("created")),
                *[(k, v) for k, v in doc.get("versions", {}).items()]])
    return page.render()


def build_report(path: str | Path, *, metric: str | None = None,
                 where: str | None = None) -> str:
    """The HTML page of a run or sweep directory."""
    if kind_of(path) == "run":
        if where or metric:
            raise VitsimError("--metric and --where apply to sweep directories",
                              source=str(path))
        return run_report(path)
    return sweep_report(path, metric=metric, where=where)


def write_report(path: str | Path, out: str | Path, *, metric: str | None = None,
                 where: str | None = None, overwrite: bool = False) -> Path:
    """Write the report of ``path`` to ``out`` atomically; an existing ``out`` is an error
    unless ``overwrite``."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise VitsimError("exists; choose another --out or pass --overwrite", source=str(out))
    text = build_report(path, metric=metric, where=where)
    with atomic_output(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return out
