"""One self-contained HTML page for a run directory or a sweep directory.

The page holds the configuration, the tables and the figures (embedded as base64 PNG), and
needs nothing beside itself: no scripts, no style sheets, no images on disk. A run directory
is what ``vitsim simulate --out`` writes (:mod:`vitsim.analysis.runs`); a sweep directory is
what ``vitsim sweep`` writes (:mod:`vitsim.analysis.sweeps.runner`).
"""

from __future__ import annotations

import html
import json
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from vitsim.analysis.figures import charts as figures
from vitsim.analysis.figures import columns
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
SHORT_TEXT = 24  # characters of a table cell that is never wrapped
MAX_HEATMAP_LEVELS = 12  # an axis with more values (a random sweep's) gets no heat map
# Metrics where more is better; every other metric is minimised.
_MAXIMISED = ("throughput_images_per_s", "roofline_fraction")


def maximised(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (throughput, utilizations, speedups
    and energy efficiencies over a baseline)."""
    return metric in _MAXIMISED or metric.endswith("utilization") or columns.is_ratio(metric)


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
        metrics = [m for m in doc.get("metrics", ()) if m in table]
        # the spec's baselines add speedup_* and energy_efficiency_* columns beside them
        metrics += [c for c in table.columns if columns.is_ratio(str(c)) and c not in metrics]
        return cls(table, tuple(a for a in doc.get("axes", ()) if a in table), tuple(metrics))

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> SweepView:
        from vitsim.analysis.sweeps.pareto import axis_columns
        from vitsim.analysis.sweeps.spec import is_metric_column

        metrics = tuple(m for m in table.columns if is_metric_column(m))
        return cls(table, tuple(axis_columns(table, metrics=metrics)), metrics)

    @property
    def ratios(self) -> tuple[str, ...]:
        """The metrics that are ratios over a baseline (speedup, energy efficiency)."""
        return tuple(m for m in self.metrics if columns.is_ratio(m))

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
    sparsity is an axis), ``utilization`` (against the axis that moves ``metric`` most),
    ``speedup`` (the speedup and energy efficiency over each baseline, when the sweep has
    baselines, against that axis)."""
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
    if view.ratios and len(ok_rows(table)):
        x_ratio = few[0] if few else None
        out["speedup"] = lambda: figures.plot_sweep_ratios(table, x_ratio,
                                                           columns=view.ratios)
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
.table-wrap { max-width: 100%; overflow-x: auto; margin: 0.6em 0; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left;
         vertical-align: top; }
th { background: #f3f3f3; font-weight: 600; min-width: 4em; }
td { max-width: 36em; overflow-wrap: break-word; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num, td.nw { white-space: nowrap; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; } .note { color: #555; font-size: 0.9em; }
"""


@dataclass(frozen=True)
class Cell:
    """A formatted table cell; ``number`` right-aligns it."""

    text: str
    number: bool = False


def cell(column: str, value: Any, *, unit: bool = False) -> Cell:
    """``value`` of ``column`` formatted for a reader (:func:`columns.format_value`)."""
    if isinstance(value, Cell):
        return value
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if isinstance(value, (dict, list, tuple)):
        return Cell(json.dumps(value, default=str))
    return Cell(columns.format_value(column, value, unit=unit), is_number)


def display_cells(frame: pd.DataFrame) -> list[list[Cell]]:
    """Each row of ``frame`` as formatted cells, by column name."""
    names = [str(c) for c in frame.columns]
    return [[cell(name, v) for name, v in zip(names, row, strict=True)]
            for row in frame.itertuples(index=False, name=None)]


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

    def grid(self, headers: Sequence[tuple[str, str]], rows: Sequence[Sequence[Cell]],
             *, total: int | None = None) -> None:
        """A table of ``(label, raw column name)`` headers and formatted rows, in a box
        that scrolls sideways when it is wider than the page; a column whose cells are all
        numbers (or empty) is right-aligned, header included."""
        # a column is right-aligned when every cell in it is a number (or empty); a short
        # text does not wrap (a baseline's name, a scope)
        numeric = [all(r[j].number or not r[j].text for r in rows) and
                   any(r[j].number for r in rows) for j in range(len(headers))]
        out = ['<div class="table-wrap"><table><thead><tr>']
        for (text, raw), num in zip(headers, numeric, strict=True):
            cls = ' class="num"' if num else ""
            title = f' title="{html.escape(raw)}"' if raw and raw != text else ""
            out.append(f"<th{cls}{title}>{html.escape(text)}</th>")
        out.append("</tr></thead><tbody>")
        for row in rows:
            out.append("<tr>" + "".join(
                ('<td class="num">' if num else '<td class="nw">' if len(c.text) <= SHORT_TEXT
                 else "<td>") + f"{html.escape(c.text)}</td>"
                for c, num in zip(row, numeric, strict=True)) + "</tr>")
        out.append("</tbody></table></div>")
        self.parts.append("".join(out))
        if total is not None and total > len(rows):
            self.p(f"({total - len(rows):,} more rows not shown; the full table is in "
                   "the directory.)", "note")

    def table(self, frame: pd.DataFrame, *, max_rows: int = MAX_TABLE_ROWS,
              labels: Mapping[str, str] | None = None) -> None:
        """``frame`` with readable column labels (``labels`` first, then
        :func:`columns.column_label`) and formatted values; at most ``max_rows`` rows."""
        labels = labels or {}
        headers = [(labels.get(str(c)) or columns.column_label(str(c)), str(c))
                   for c in frame.columns]
        self.grid(headers, display_cells(frame.head(max_rows)), total=len(frame))

    def pairs(self, items: Sequence[tuple[str, Any]], *,
              header: tuple[str, str] = ("", "Value")) -> None:
        """A two-column table of names and values; a value is a :class:`Cell` or any
        value, shown as it is (numbers with thousands separators)."""
        rows = [[Cell(name), v if isinstance(v, Cell) else cell("", v)] for name, v in items]
        self.grid([(header[0], ""), (header[1], "")], rows)

    def figure(self, fig: Figure, caption: str) -> None:
        uri = figures.figure_data_uri(fig, "png")
        self.parts.append(f'<figure><img src="{uri}" alt="{html.escape(caption)}">'
                          f"<figcaption>{html.escape(caption)}</figcaption></figure>")

    def render(self) -> str:
        body = "\n".join(self.parts)
        return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head>"
                f"<body>\n<h1>{html.escape(self.title)}</h1>\n{body}\n</body></html>\n")


def _metric_cells(items: Sequence[str], source: Mapping[str, Any]) -> list[tuple[str, Cell]]:
    """``(label, value with its unit)`` of each of ``items`` present in ``source``."""
    return [(columns.column_label(k, unit=False), cell(k, source[k], unit=True))
            for k in items if k in source]


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as err:
        raise VitsimError(f"cannot read ({type(err).__name__})", source=str(path)) from None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise VitsimError(f"cannot read: {err}", source=str(path)) from None


# --------------------------------------------------------------------------------------
# A run directory
# --------------------------------------------------------------------------------------


RUN_TOTALS = ("latency_ms", "energy_mj", "edp_mj_ms", "throughput_images_per_s",
              "average_power_mw", "total_cycles", "compute_cycles", "stall_cycles",
              "fill_cycles", "roofline_cycles", "roofline_fraction", "macs", "dram_bytes",
              "mac_utilization", "dense_engine_utilization", "sparse_engine_utilization",
              "attention_cycles", "attention_energy_mj")


def run_report(path: str | Path) -> str:
    """The HTML page of a ``vitsim simulate --out`` run directory."""
    from vitsim.hw_configs.loader import load_hardware

    path = Path(path)
    run = _read_json(path / "run.json")
    summary = _read_json(path / "summary.json")
    hw_text = (path / "hardware.yaml").read_text(encoding="utf-8")
    hw = load_hardware(path / "hardware.yaml")
    stages = _read_csv(path / "stages.csv")
    page = _Page(f"vitsim run: {summary.get('model')} on {summary.get('hardware')}")
    page.p(f"Run directory {path}.")
    inputs = run.get("inputs", {})
    if inputs:
        page.pairs([(k, ", ".join(map(str, v)) if isinstance(v, list) else v)
                    for k, v in inputs.items() if v not in (None, [], "")],
                   header=("Input", "Value"))

    page.h(2, "Totals")
    page.pairs(_metric_cells(RUN_TOTALS, summary))

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
        page.h(3, "Energy by component")
        total = sum(energy.values()) or 1.0
        page.table(pd.DataFrame({
            "component": [columns.component_label(c) for c in energy],
            "energy_mj": list(energy.values()),
            "share": [v / total for v in energy.values()]}), max_rows=100)
    util = pd.DataFrame([{k: summary[k] for k in figures.UTILIZATION_METRICS if k in summary}])
    if not util.empty and len(util.columns):
        page.figure(figures.plot_utilization(util),
                    "MAC utilization of the whole design and of each attention engine.")
    for build, caption in run_figures(stages, hw).values():
        page.figure(build(), caption)
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


def run_figures(stages: pd.DataFrame, hw: Any) -> dict[str, tuple[Callable[[], Figure], str]]:
    """The roofline, the per-layer/per-head breakdown and block 0's timeline of one run, by
    kind (``roofline``, ``layers_heads``, ``timeline``), each when the stage table has what
    it needs (stages with MACs; heads; a block 0): ``(build, caption)``, drawn at
    double-column width (7.16 in, 7-9 pt text) when built. ``hw`` is the run's
    :class:`~vitsim.hw_configs.schema.HardwareConfig` (its MACs, DRAM bandwidth, clock)."""
    out: dict[str, tuple[Callable[[], Figure], str]] = {}
    have = set(stages.columns)

    def double(build: Callable[[], Figure]) -> Callable[[], Figure]:
        def drawn() -> Figure:
            with figures.paper_style("double"):
                return build()
        return drawn

    if {"macs", "dram_read_bytes", "dram_write_bytes", "total_cycles"} <= have \
            and ((stages["macs"] > 0) & (stages["total_cycles"] > 0)).any():
        out["roofline"] = (double(lambda: figures.plot_roofline(
            stages, peak_macs_per_cycle=hw.total_macs,
            dram_bytes_per_cycle=hw.dram_bytes_per_cycle, clock_mhz=hw.clock_mhz)),
            f"Roofline: each stage's arithmetic intensity (MACs per DRAM byte) and achieved "
            f"throughput under the {hw.total_macs:,}-MAC compute roof and the "
            f"{hw.dram.bandwidth_gb_per_s:g} GB/s bandwidth roof.")
    if {"layer", "head", "stage", "total_cycles"} <= have and (stages["head"] >= 0).any():
        out["layers_heads"] = (double(lambda: figures.plot_layer_head(
            stages, clock_mhz=hw.clock_mhz)),
            "Latency per layer by stage group, and each head's attention latency (decoder, "
            "Q K^T, softmax, S V).")
    if {"layer", "stage", "compute_cycles", "fill_cycles", "stall_cycles",
            "total_cycles"} <= have and (stages["layer"] == 0).any():
        out["timeline"] = (double(lambda: figures.plot_block_timeline(
            stages, layer=0, total_macs=hw.total_macs, clock_mhz=hw.clock_mhz)),
            "Block 0's stages in execution order (compute, fill/drain, exposed memory "
            "stall) over the MAC utilization of the denser and sparser engines.")
    return out


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
        ("workload", ", ".join(f"{k}: {v}" for k, v in (spec.get("workload") or {}).items())),
        ("constraints", "; ".join(spec.get("constraints", [])) or "none"),
        ("metrics", ", ".join(m for m in view.metrics if not columns.is_ratio(m))),
    ]
    if spec.get("baselines"):
        items.append(("baselines (speedup and energy efficiency over each)",
                      ", ".join(spec["baselines"])))
    for i, r in enumerate(runs):
        items.append((f"run {i + 1}", f"{r.get('runner')} x{r.get('workers')}: "
                                      f"{r.get('evaluated'):,} points in {r.get('elapsed_s')} s "
                                      f"({r.get('points_per_s')} points/s), "
                                      f"{r.get('skipped'):,} already done"))
    page.pairs(items)
    axes_rows = [[Cell(columns.column_label(a["name"])),
                  Cell(", ".join(t[0] + (f" x {t[1]}" if t[1] is not None else "")
                                 for t in a.get("targets", []))),
                  Cell(_axis_values(a))]
                 for a in spec.get("axes", [])]
    if axes_rows:
        page.h(3, "Axes")
        page.grid([("Axis", ""), ("Sets (dotted path)", ""), ("Values", "")], axes_rows)

    shown = ["point", *view.axes]
    ok = ok_rows(table)
    if len(ok) and view.metrics:
        page.h(2, "Best points")
        best_rows = []
        for m in view.metrics:
            row = best_point(table, m, minimize=not maximised(m))
            if row is not None:
                best_rows.append({"metric": Cell(columns.column_label(m, unit=False)),
                                  "goal": "largest" if maximised(m) else "smallest",
                                  "value": cell(m, row[m], unit=True),
                                  **{c: row[c] for c in shown}})
        page.table(pd.DataFrame(best_rows), max_rows=100)
        if where:
            page.h(3, f"Best {metric} where {where}")
            row = best_point(table, metric, minimize=not maximised(metric), where=where)
            n = len(filter_rows(ok, where))
            if row is None:
                page.p(f"No successful point satisfies {where}.")
            else:
                page.p(f"{n:,} of {len(ok):,} successful points satisfy the condition.")
                page.table(pd.DataFrame([row[[*shown, *view.metrics]]]))

    if view.ratios and len(ok):
        page.h(2, "Speedup and energy efficiency")
        page.p("Each point's latency and energy against each baseline's on the same "
               "workload (ratios: the baseline's over the design's; above 1 the design is "
               "faster or more efficient), in the attention scope (the decoder, Q K^T, "
               "softmax and S V) and end to end. Geometric mean, smallest and largest over "
               f"the {len(ok):,} successful points.")
        page.grid(*_ratio_summary(ok, view.ratios))

    if all(c in table for c in ("latency_ms", "energy_mj")) and len(ok):
        objectives = [c for c in AREA_OBJECTIVES if c in table]
        front = pareto_front(table, objectives)
        page.h(2, "Pareto front")
        page.p(f"{len(front):,} of {len(ok):,} successful points are Pareto-optimal over "
               f"{', '.join(_lower(columns.column_label(o, unit=False)) for o in objectives)} "
               "(all minimised; the area proxy is the compute MACs and the on-chip SRAM "
               "bytes of the hardware description).")
        page.table(front[[*shown, *objectives,
                          *[m for m in view.metrics
                            if m not in objectives and not columns.is_ratio(m)]]])

    if metric and view.axes and len(ok):
        page.h(2, "Sensitivity")
        page.p(f"For each axis, the mean of {_lower(columns.column_label(metric, unit=False))}"
               f" ({metric}) at each of its values (over all other axes); the range of those "
               "means says how much the axis matters.")
        page.grid(*_sensitivity_cells(sensitivity(table, metric, view.axes), metric))

    figs = sweep_figures(view, metric=metric)
    if figs:
        page.h(2, "Figures")
        what = columns.column_label(metric, unit=False)
        captions = {
            "pareto": "Latency against energy; the Pareto-optimal points (over latency, "
                      "energy and the area proxy) in colour, the latency-energy front as a "
                      "step line.",
            "heatmap": f"{what} over the two axes that move it most (mean over the "
                       "other axes).",
            "sparsity": f"{what} against attention sparsity.",
            "utilization": "MAC utilization per engine against the axis that matters most.",
            "speedup": "Speedup and energy efficiency over each baseline (geometric mean "
                       "over the other axes), attention scope solid, end to end dashed.",
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


def _lower(text: str) -> str:
    """``text`` with a capital first letter lowered, unless it starts an acronym (MAC)."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _axis_values(axis: Mapping[str, Any]) -> str:
    values = axis.get("values")
    if values is None:
        return json.dumps(axis.get("sample"), default=str)
    name = str(axis.get("name"))
    return ", ".join(columns.format_value(name, v) if not isinstance(v, (dict, list))
                     else json.dumps(v, default=str) for v in values)


def _ratio_summary(ok: pd.DataFrame, ratios: Sequence[str]
                   ) -> tuple[list[tuple[str, str]], list[list[Cell]]]:
    """Headers and rows of the ratio table: one row per baseline and scope, the geometric
    mean, smallest and largest speedup and energy efficiency over the points."""
    import numpy as np

    keys: dict[tuple[str, str], dict[str, str]] = {}
    for c in ratios:
        kind, baseline, scope = columns.ratio_parts(c) or ("", c, "")
        keys.setdefault((baseline, scope), {})[kind] = c
    rows = []
    for (baseline, scope), by_kind in keys.items():
        row = [Cell(baseline), Cell(columns.SCOPE_LABELS.get(scope, scope))]
        for kind in ("speedup", "energy_efficiency"):
            col = by_kind.get(kind)
            values = ok[col].astype(np.float64) if col else pd.Series(dtype=np.float64)
            values = values[values > 0]
            stats = (float(np.exp(np.log(values).mean())), float(values.min()),
                     float(values.max())) if len(values) else (None, None, None)
            row += [cell(col or "speedup_x_attention", v) for v in stats]
        rows.append(row)
    headers = [("Baseline", ""), ("Scope", ""),
               ("Speedup, geometric mean", ""), ("Speedup, smallest", ""),
               ("Speedup, largest", ""), ("Energy efficiency, geometric mean", ""),
               ("Energy efficiency, smallest", ""), ("Energy efficiency, largest", "")]
    return headers, rows


def _sensitivity_cells(sens: pd.DataFrame, metric: str
                       ) -> tuple[list[tuple[str, str]], list[list[Cell]]]:
    """The sensitivity table with each axis's values formatted as that axis, the means in
    the metric's unit and the relative range as a percentage."""
    what = columns.column_label(metric)
    unit = what[what.rindex(" ("):] if what.endswith(")") and " (" in what else ""
    headers = [("Axis", "axis"), ("Values", "levels"), ("Best value", "best_value"),
               ("Worst value", "worst_value"), (f"Smallest mean{unit}", "min_mean"),
               (f"Largest mean{unit}", "max_mean"), (f"Range of means{unit}", "range"),
               ("Range / overall mean", "relative_range")]
    rows = []
    for r in sens.to_dict("records"):
        axis = str(r["axis"])
        rows.append([Cell(columns.column_label(axis)), cell("levels", r["levels"]),
                     cell(axis, r["best_value"]), cell(axis, r["worst_value"]),
                     cell(metric, r["min_mean"]), cell(metric, r["max_mean"]),
                     cell(metric, r["range"]), cell("relative_range", r["relative_range"])])
    return headers, rows


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
