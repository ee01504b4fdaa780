"""Comparison and sweep figures. Each function takes a DataFrame and returns a Figure.

Colours are the Okabe-Ito palette (distinguishable with the common colour-vision
deficiencies), lines also differ by marker, and the heat map uses ``cividis``. Every axis is
labelled with its unit, read from the column name's unit suffix (``_ms``, ``_mj``,
``_gb_per_s``, ``_kib`` ...). Nothing here simulates: the tables come from
:mod:`vitsim.analysis.frames`, a run directory or a sweep.
"""

from __future__ import annotations

import base64
import contextlib
import io
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from vitsim.analysis.sweeps.pareto import AREA_OBJECTIVES, ok_rows, pareto_mask
from vitsim.atomic import atomic_output
from vitsim.errors import VitsimError

# Okabe & Ito, "Color Universal Design" (2008): blue, orange, bluish green, vermillion,
# sky blue, reddish purple, yellow, black (yellow late: it is faint on white).
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442",
             "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
HATCHES = ("", "//", "..", "xx", "\\\\", "--", "++", "oo")
SEQUENTIAL_CMAP = "cividis"
IMAGE_FORMATS = ("png", "pdf", "svg")
SPEEDUP_COLUMNS = ("model", "baseline", "speedup", "energy_efficiency")
UTILIZATION_METRICS = {"mac_utilization": "all MACs",
                       "dense_engine_utilization": "denser engine",
                       "sparse_engine_utilization": "sparser engine"}

# Column-name unit suffixes and what the axis label says (longest suffix first).
_UNITS = (("_images_per_s", "images/s"), ("_gb_per_s", "GB/s"), ("_mj_ms", "mJ·ms"),
          ("_pj_per_byte", "pJ/byte"), ("_kib", "KiB"), ("_mhz", "MHz"), ("_mw", "mW"),
          ("_ms", "ms"), ("_mj", "mJ"), ("_pj", "pJ"), ("_bytes", "bytes"),
          ("_cycles", "cycles"), ("_nm", "nm"))
# Whole labels of well-known leaf names.
_LABELS = {
    "n_lines": "MAC lines", "macs_per_line": "MACs per line", "sparsity": "attention sparsity",
    "edp_mj_ms": "energy-delay product (mJ·ms)", "total_macs": "compute MACs",
    "sram_bytes": "on-chip SRAM (bytes)", "throughput_images_per_s": "throughput (images/s)",
    "macs": "MACs", "model": "model",
}
_ACRONYMS = {"dram": "DRAM", "sram": "SRAM", "mac": "MAC", "qkv": "Q/K/V", "edp": "EDP"}
# Stage groups for comparing runs (17 stages are too many colours to tell apart).
STAGE_GROUPS = {
    "stem and classifier": ("patch_embed", "classifier"),
    "QKV and projection": ("qkv", "q", "kv", "proj"),
    "Q/K codec": ("encode", "decode"),
    "attention (QK, softmax, SV)": ("qk", "softmax", "sv"),
    "MLP": ("fc1", "fc2"),
    "vector (norm, GELU, residual)": ("ln1", "ln2", "activation", "residual"),
}


def label(column: str) -> str:
    """An axis label for a column: its name without ``hardware.``/``workload.``, in words,
    with the unit from its suffix (utilizations are drawn in percent)."""
    parts = str(column).removeprefix("hardware.").removeprefix("workload.").split(".")
    leaf = parts[-1]
    if leaf in _LABELS:
        return _LABELS[leaf]
    unit = "%" if leaf.endswith("utilization") else ""
    for suffix, unit_text in _UNITS:
        if leaf.endswith(suffix):
            leaf, unit = leaf[: -len(suffix)], unit_text
            break
    words = leaf.split("_")
    if words[0] == "energy" and len(words) > 1:  # energy_<component>_mj
        words = [*words[1:], "energy"]
    if len(parts) >= 3 and parts[0] == "buffers":
        words = [parts[1], "buffer", *words]
    elif len(parts) >= 2 and parts[-2] != "mac_array":
        words = [*parts[-2].split("_"), *words]
    text = " ".join(_ACRONYMS.get(w, w) for w in words if w)
    return f"{text} ({unit})" if unit else text


# Column widths of the common two-column paper templates (IEEE, ACM): inches.
COLUMN_WIDTH_IN = {"single": 3.5, "double": 7.16}
# Text sizes a printed column reads at (points).
PAPER_RC = {"font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "xtick.labelsize": 7,
            "ytick.labelsize": 7, "legend.fontsize": 7, "legend.title_fontsize": 7,
            "figure.titlesize": 9, "lines.markersize": 4, "axes.linewidth": 0.6,
            "pdf.fonttype": 42, "ps.fonttype": 42}
# Embedded fonts as TrueType (Type 42), never Type 3: publishers' checkers reject Type 3.
FONT_RC = {"pdf.fonttype": 42, "ps.fonttype": 42}
_PAPER_WIDTH: list[float] = []  # the active paper_style's width, innermost last


@contextlib.contextmanager
def paper_style(width: str | float = "single") -> Iterator[float]:
    """Figures made inside are ``width`` wide (``"single"``: 3.5 in, ``"double"``: 7.16 in,
    or inches) with 7-9 pt text and Type 42 fonts; yields the width in inches."""
    inches = COLUMN_WIDTH_IN[width] if isinstance(width, str) else float(width)
    _PAPER_WIDTH.append(inches)
    try:
        with mpl.rc_context(PAPER_RC):
            yield inches
    finally:
        _PAPER_WIDTH.pop()


def _figure(ncols: int = 1, *, width: float = 6.4, height: float = 4.2,
            nrows: int = 1) -> tuple[Figure, list]:
    """A constrained-layout figure of ``ncols`` x ``nrows`` panels, each ``width`` x
    ``height`` in; inside :func:`paper_style` the whole figure is the column's width and
    the height follows the panels' aspect, within [0.45, 1.1] of that width per row."""
    total_w, total_h = width * ncols, height * nrows
    if _PAPER_WIDTH:
        col = _PAPER_WIDTH[-1]
        per_row = min(max(height / width * col / ncols, 0.45 * col / max(1, ncols)), 1.1 * col)
        total_w, total_h = col, max(1.6, per_row * nrows)
    fig = Figure(figsize=(total_w, total_h), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    return fig, list(axes)


def _legend_outside(fig: Figure, axes: Sequence, *, title: str | None = None,
                    where: str = "outside lower center") -> None:
    """One legend for ``axes`` outside the plotting area (constrained layout makes room), so
    it never covers data; entries of the same label appear once."""
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels and not lab.startswith("_"):
                handles.append(h)
                labels.append(lab)
    if not handles:
        return
    if "right" in where or "left" in where:
        # A legend beside the axes is one column: several columns side by side there take
        # the axes' width, and constrained layout collapses them (it warns and gives up).
        ncols = 1
    else:
        # about 0.07 in a character at legend size, plus the handle and the gap
        entry_in = max(1.3, 0.07 * max(len(lab) for lab in labels) + 0.6)
        ncols = max(1, min(len(labels), int(fig.get_figwidth() / entry_in)))
    fig.legend(handles, labels, loc=where, ncols=ncols, title=title, frameon=False)


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame]
    if missing:
        raise VitsimError(f"{what} needs the column(s) {', '.join(missing)}; the table has "
                          f"{', '.join(map(str, frame.columns))}")


def _levels(series: pd.Series) -> list:
    values = series.dropna().unique().tolist()
    try:
        return sorted(values)
    except TypeError:
        return values


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _times(ratio: float) -> str:
    if not np.isfinite(ratio):
        return ""
    return f"{ratio:,.0f}×" if ratio >= 100 else f"{ratio:.3g}×"


def _scale(values: np.ndarray) -> str:
    v = values[np.isfinite(values) & (values > 0)]
    return "log" if v.size and v.max() / v.min() > 30 else "linear"


def _set_scale(axis, scale: str) -> None:
    """Set a linear or log scale; log ticks read as plain numbers (20, 50, 100), with the
    in-between ticks labelled too when the axis spans less than a decade and a half."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    getattr(axis.axes, f"set_{axis.axis_name}scale")(scale)
    if scale != "log":
        return
    from matplotlib.ticker import LogLocator

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    lo, hi = axis.get_view_interval()
    decades = np.log10(hi / lo) if lo > 0 and hi > lo else 1.0
    # 1-2-5 ticks up to about three decades (1, 2, 5, 10, 20, 50, ...), decades beyond.
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades <= 3.2
                                      else (1.0,)))
    axis.set_major_formatter(plain)
    narrow = decades < 1.2
    axis.set_minor_formatter(plain if narrow else NullFormatter())


# ----------------------------------------------------------------------------- speedup


GEOMEAN = "geomean"


def plot_speedup(table: pd.DataFrame, *, geomean: bool = True,
                 reference: Mapping[str, float] | None = None,
                 reference_label: str = "paper (up to)",
                 metrics: Sequence[str] = ("speedup", "energy_efficiency")) -> Figure:
    """Speedup and energy efficiency of a design over its baselines: grouped bars (one
    group per model, one bar per baseline) on log axes, and a geometric-mean group.

    ``table`` has the columns ``model``, ``baseline``, ``speedup`` and ``energy_efficiency``
    (ratios: baseline latency or energy over the design's). Several rows of one model and
    baseline that differ in ``seed`` are averaged (geometric mean), with error bars from
    their smallest to their largest value. ``reference`` maps a baseline to a published
    speedup, drawn as a black diamond over the baseline's largest bar ("up to"), labelled
    ``reference_label``. Bars are labelled ``12.3x`` when there are few of them.
    """
    _require(table, ("model", "baseline", *metrics), "the speedup figure")
    if table.empty:
        raise VitsimError("the speedup table has no rows")
    for col in metrics:
        bad = table[~(table[col] > 0)]
        if len(bad):
            raise VitsimError(f"{col} must be positive for a log axis; row "
                              f"{bad.index[0]} has {bad[col].iloc[0]!r}")
    repeated = table.duplicated(["model", "baseline"])
    by_seed = "seed" in table and not table.duplicated(["model", "baseline", "seed"]).any()
    if repeated.any() and not by_seed:
        others = [c for c in table.columns if c not in SPEEDUP_COLUMNS
                  and table[c].nunique() > 1]
        raise VitsimError(f"more than one row for model {table['model'][repeated].iloc[0]!r} "
                          f"and baseline {table['baseline'][repeated].iloc[0]!r}; keep one "
                          f"(rows differ in: {', '.join(map(str, others)) or 'nothing'})")
    models = list(dict.fromkeys(table["model"].astype(str)))
    baselines = list(dict.fromkeys(table["baseline"].astype(str)))
    logs = table.assign(model=table["model"].astype(str),
                        baseline=table["baseline"].astype(str))
    for col in metrics:
        logs[col] = np.log(logs[col].astype(np.float64))
    per_model = logs.groupby(["model", "baseline"], sort=False)[list(metrics)]
    mean, lo, hi = (np.exp(per_model.mean()), np.exp(per_model.min()), np.exp(per_model.max()))
    groups = list(models)
    if geomean and len(models) > 1:
        # geometric mean over the models (of each model's mean over seeds)
        g = np.exp(np.log(mean).groupby(level="baseline", sort=False).mean())
        seed_g = None
        if by_seed and repeated.any():
            seed_g = np.exp(logs.groupby(["seed", "baseline"])[list(metrics)].mean())
        for base in baselines:
            mean.loc[(GEOMEAN, base), :] = g.loc[base].to_numpy()
            if seed_g is not None:
                sub = seed_g.xs(base, level="baseline")
                lo.loc[(GEOMEAN, base), :] = sub.min().to_numpy()
                hi.loc[(GEOMEAN, base), :] = sub.max().to_numpy()
            else:
                lo.loc[(GEOMEAN, base), :] = g.loc[base].to_numpy()
                hi.loc[(GEOMEAN, base), :] = g.loc[base].to_numpy()
        groups.append(GEOMEAN)
    n_bars = len(groups) * len(baselines)
    fig, axes = _figure(1, nrows=len(metrics), width=max(3.5, 1.0 + 0.16 * n_bars), height=2.4)
    width = 0.8 / len(baselines)
    x = np.arange(len(groups), dtype=np.float64)
    if GEOMEAN in groups:
        x[-1] += 0.35  # a gap sets the summary group apart
    label_bars = n_bars <= 24
    for ax, col in zip(axes, metrics, strict=True):
        title = col.replace("_", " ")
        for j, base in enumerate(baselines):
            keys = [(m, base) for m in groups]
            heights = np.array([float(mean[col].get(k, np.nan)) for k in keys])
            low = np.array([float(lo[col].get(k, np.nan)) for k in keys])
            high = np.array([float(hi[col].get(k, np.nan)) for k in keys])
            pos = x + (j - (len(baselines) - 1) / 2) * width
            spread = np.nan_to_num(np.vstack([heights - low, high - heights]))
            bars = ax.bar(pos, heights, width, label=str(base),
                          color=OKABE_ITO[j % len(OKABE_ITO)],
                          hatch=HATCHES[j // len(OKABE_ITO) % len(HATCHES)],
                          edgecolor="white", linewidth=0.4,
                          yerr=spread if spread.any() else None,
                          error_kw={"elinewidth": 0.6, "capsize": 1.5, "ecolor": "black"})
            if label_bars:
                ax.bar_label(bars, labels=[_times(h) for h in heights],
                             fontsize=6, padding=1)
            if reference and col == "speedup" and base in reference:
                best = int(np.nanargmax(np.where(np.array(groups) == GEOMEAN, np.nan,
                                                 heights)))
                ax.plot([pos[best]], [reference[base]], marker="D", color="black",
                        markersize=3.5, linestyle="none", label=reference_label, zorder=4)
        ax.axhline(1.0, color="black", linewidth=0.6)
        ax.set_xticks(x, groups)
        ax.set_ylabel(f"{title} (×, log scale)")
        ax.autoscale_view()
        _set_scale(ax.yaxis, "log")
        ax.grid(True, axis="y", which="major", alpha=0.3, linewidth=0.5)
    _legend_outside(fig, axes, title=None)
    return fig


# ----------------------------------------------------------------------------- breakdowns


def _stage_order(stages: pd.Series) -> list[str]:
    from vitsim.simulator.counts import STAGES

    present = set(map(str, stages.dropna().unique()))
    ordered = [s for s in STAGES if s in present]
    return ordered + sorted(present - set(ordered))


def _components(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """Energy by component (pJ per row), SRAM buffers summed into one ``sram`` component."""
    cols = [c for c in frame.columns if str(c).startswith("energy_pj_")]
    if not cols:
        raise VitsimError("the stage table has no energy_pj_<component> columns")
    out: dict[str, pd.Series] = {}
    for c in cols:
        comp = str(c).removeprefix("energy_pj_")
        key = "sram" if comp.startswith("sram_") else comp
        out[key] = out[key] + frame[c] if key in out else frame[c].astype(np.float64)
    return out


def _time_scale(clock_mhz: float | None) -> tuple[float, str]:
    if clock_mhz:
        return 1.0 / (clock_mhz * 1e3), "latency (ms)"  # cycles -> ms
    return 1e-6, "cycles (millions)"


def plot_breakdown(stages: pd.DataFrame, *, clock_mhz: float | None = None,
                   title: str | None = None) -> Figure:
    """Where one run's time and energy go, by stage: latency stacked as compute, fill/drain
    and memory stall; energy stacked by component (MACs, codec, softmax, vector, SRAM, DRAM,
    leakage). ``stages`` is :func:`vitsim.analysis.frames.stages_frame` or a run directory's
    ``stages.csv``; ``clock_mhz`` turns cycles into milliseconds."""
    _require(stages, ("stage", "compute_cycles", "fill_cycles", "stall_cycles"),
             "the breakdown figure")
    frame = stages.assign(stage=stages["stage"].astype(str))
    order = _stage_order(frame["stage"])
    scale, ylabel = _time_scale(clock_mhz)
    comps = _components(frame)
    energy = pd.DataFrame({k: v for k, v in comps.items()}).groupby(frame["stage"]).sum()
    energy = energy.reindex(order).fillna(0.0) * 1e-9  # pJ -> mJ
    energy = energy.loc[:, energy.sum() > 0]
    cycles = frame.groupby("stage")[["compute_cycles", "fill_cycles", "stall_cycles"]].sum()
    cycles = cycles.reindex(order).fillna(0.0) * scale
    keep = [s for s in order if cycles.loc[s].sum() > 0 or energy.loc[s].sum() > 0]
    cycles, energy = cycles.loc[keep], energy.loc[keep]
    fig, axes = _figure(1, nrows=2, width=max(6.4, 0.45 * len(keep) + 1.5), height=3.6)
    x = np.arange(len(keep))
    _stacked(axes[0], x, cycles, {"compute_cycles": "compute", "fill_cycles": "fill/drain",
                                  "stall_cycles": "memory stall"})
    axes[0].set_ylabel(ylabel)
    axes[0].set_title("latency by stage")
    _stacked(axes[1], x, energy, {c: c.upper() if c in ("mac", "sram", "dram") else c
                                  for c in energy.columns})
    axes[1].set_ylabel("energy (mJ)")
    axes[1].set_title("energy by stage and component")
    for ax in axes:
        ax.set_xticks(x, keep, rotation=45, ha="right")
        ax.set_xlabel("stage")
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def _stacked(ax, x: np.ndarray, parts: pd.DataFrame, names: Mapping[str, str]) -> None:
    bottom = np.zeros(len(x))
    for j, col in enumerate(parts.columns):
        h = parts[col].to_numpy(dtype=np.float64)
        ax.bar(x, h, 0.75, bottom=bottom, label=names.get(col, col),
               color=OKABE_ITO[j % len(OKABE_ITO)], hatch=HATCHES[j // len(OKABE_ITO)],
               edgecolor="white", linewidth=0.5)
        bottom += h


def plot_breakdown_compare(runs: Mapping[str, pd.DataFrame], *,
                           clock_mhz: Mapping[str, float] | float | None = None) -> Figure:
    """Several runs side by side: latency stacked by stage group, energy by component.

    ``runs`` maps a label (design or model) to its stage table; ``clock_mhz`` is one clock
    for all, or one per label.
    """
    if not runs:
        raise VitsimError("no runs to compare")
    labels = list(runs)
    lat_rows, en_rows = {}, {}
    ylabel = ""
    for name, frame in runs.items():
        _require(frame, ("stage", "total_cycles"), "the breakdown figure")
        clock = clock_mhz.get(name) if isinstance(clock_mhz, Mapping) else clock_mhz
        scale, ylabel = _time_scale(clock)
        stage = frame["stage"].astype(str)
        group = stage.map({s: g for g, ss in STAGE_GROUPS.items() for s in ss}).fillna("other")
        lat_rows[name] = frame["total_cycles"].groupby(group).sum() * scale
        en_rows[name] = pd.DataFrame(_components(frame)).sum() * 1e-9
    latency = pd.DataFrame(lat_rows).T.fillna(0.0)
    latency = latency[[g for g in (*STAGE_GROUPS, "other") if g in latency]]
    energy = pd.DataFrame(en_rows).T.fillna(0.0)
    energy = energy.loc[:, energy.sum() > 0]
    fig, axes = _figure(2, width=max(4.5, 1.0 * len(labels) + 2.5))
    x = np.arange(len(labels))
    _stacked(axes[0], x, latency, {})
    axes[0].set_ylabel(ylabel)
    axes[0].set_title("latency by stage")
    _stacked(axes[1], x, energy, {c: c.upper() if c in ("mac", "sram", "dram") else c
                                  for c in energy.columns})
    axes[1].set_ylabel("energy (mJ)")
    axes[1].set_title("energy by component")
    for ax in axes:
        ax.set_xticks(x, labels, rotation=30 if len(labels) > 3 else 0, ha="right"
                      if len(labels) > 3 else "center")
        ax.legend(fontsize=7)
    return fig


# ----------------------------------------------------------------------------- roofline


def plot_roofline(stages: pd.DataFrame, *, peak_macs_per_cycle: float,
                  dram_bytes_per_cycle: float, clock_mhz: float,
                  title: str | None = None) -> Figure:
    """Each stage (summed over layers and heads) as a point of arithmetic intensity (MACs
    per DRAM byte) and achieved throughput (GMAC/s = MACs / its cycles), under the design's
    compute roof (``peak_macs_per_cycle`` x clock) and bandwidth roof
    (``dram_bytes_per_cycle`` x clock x intensity). Stages without MACs (vector, softmax)
    have no point; a stage with MACs but no DRAM traffic sits at the right edge."""
    _require(stages, ("stage", "macs", "dram_read_bytes", "dram_write_bytes", "total_cycles"),
             "the roofline")
    frame = stages.assign(stage=stages["stage"].astype(str),
                          dram=stages["dram_read_bytes"] + stages["dram_write_bytes"])
    agg = frame.groupby("stage", sort=False)[["macs", "dram", "total_cycles"]].sum()
    agg = agg.loc[[s for s in _stage_order(frame["stage"]) if s in agg.index]]
    agg = agg[(agg["macs"] > 0) & (agg["total_cycles"] > 0)]
    if agg.empty:
        raise VitsimError("no stage with MACs to place on the roofline")
    ghz = clock_mhz * 1e-3
    achieved = agg["macs"] / agg["total_cycles"] * ghz  # GMAC/s
    finite = agg["dram"] > 0
    intensity = (agg["macs"] / agg["dram"].where(finite)).astype(np.float64)
    ridge = peak_macs_per_cycle / dram_bytes_per_cycle
    lo = min(float(intensity.min()) if finite.any() else ridge, ridge) / 4
    hi = max(float(intensity.max()) if finite.any() else ridge, ridge) * 4
    intensity = intensity.fillna(hi / 1.5)
    fig, axes = _figure(1, width=5.0, height=3.6)
    ax = axes[0]
    xs = np.geomspace(lo, hi, 200)
    roof = np.minimum(peak_macs_per_cycle * ghz, xs * dram_bytes_per_cycle * ghz)
    ax.plot(xs, roof, color="black", linewidth=1.0, label="roofline")
    ax.axvline(ridge, color="#999999", linewidth=0.6, linestyle=":")
    for j, (stage, x) in enumerate(intensity.items()):
        ax.scatter([x], [achieved[stage]], s=22, color=OKABE_ITO[j % len(OKABE_ITO)],
                   marker=MARKERS[j % len(MARKERS)], edgecolors="black", linewidths=0.3,
                   label=str(stage), zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(min(float(achieved.min()), float(roof.min())) / 3,
                peak_macs_per_cycle * ghz * 2)
    ax.set_xlabel("arithmetic intensity (MACs / DRAM byte)")
    ax.set_ylabel("throughput (GMAC/s)")
    ax.grid(True, which="major", alpha=0.3, linewidth=0.5)
    if title:
        ax.set_title(title)
    _legend_outside(fig, [ax])
    return fig


# ----------------------------------------------------------------------------- layers, heads

ATTENTION_STAGE_NAMES = ("decode", "qk", "softmax", "sv")


def plot_layer_head(stages: pd.DataFrame, *, clock_mhz: float | None = None,
                    title: str | None = None) -> Figure:
    """Where the time goes per layer (stacked by stage group) and per attention head (a
    heat map of each (layer, head)'s attention latency: decoder, Q K^T, softmax, S V)."""
    _require(stages, ("layer", "head", "stage", "total_cycles"), "the layer/head figure")
    frame = stages.assign(stage=stages["stage"].astype(str))
    scale, ylabel = _time_scale(clock_mhz)
    # the blocks: layers that have heads (not the stem's -1 nor the classifier's n_layers)
    blocks = frame[frame["layer"].isin(frame.loc[frame["head"] >= 0, "layer"].unique())]
    group = blocks["stage"].map({s: g for g, ss in STAGE_GROUPS.items() for s in ss})
    per_layer = (blocks["total_cycles"].groupby([blocks["layer"], group.fillna("other")])
                 .sum().unstack(fill_value=0.0) * scale)
    per_layer = per_layer[[g for g in (*STAGE_GROUPS, "other") if g in per_layer]]
    per_layer = per_layer.loc[:, per_layer.sum() > 0]
    heads = frame[frame["stage"].isin(ATTENTION_STAGE_NAMES) & (frame["head"] >= 0)]
    grid = heads.pivot_table(index="head", columns="layer", values="total_cycles",
                             aggfunc="sum", fill_value=np.nan) * scale
    fig, axes = _figure(1, nrows=2, width=6.0, height=2.6)
    x = per_layer.index.to_numpy()
    _stacked(axes[0], x, per_layer, {})
    axes[0].set_xlabel("layer (block)")
    axes[0].set_ylabel(ylabel)
    axes[0].set_title("per layer, by stage group")
    image = axes[1].imshow(grid.to_numpy(dtype=np.float64), cmap=SEQUENTIAL_CMAP,
                           aspect="auto", origin="lower", interpolation="nearest")
    fig.colorbar(image, ax=axes[1]).set_label("attention " + ylabel)
    axes[1].set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns])
    axes[1].set_yticks(range(grid.shape[0]), [str(i) for i in grid.index])
    axes[1].set_xlabel("layer (block)")
    axes[1].set_ylabel("head")
    axes[1].set_title("attention per head (decode, QK, softmax, SV)")
    if title:
        fig.suptitle(title)
    # below the figure: beside the axes, the stage groups' names take half a column's width
    _legend_outside(fig, [axes[0]])
    return fig


# ----------------------------------------------------------------------------- line loads


def plot_line_loads(groups: Sequence, *, clock_mhz: float | None = None,
                    title: str | None = None) -> Figure:
    """The sparser engine's per-line load balance of one block: for Q K^T (top) and S V
    (bottom), every sparse line's busy time, head group after head group, with each group's
    mean line (dashed) and its dense lines' time (solid grey: the denser engine runs beside
    it, on the group's other lines). The busiest line sets the group's time; the text over
    each group is its busiest-over-mean ratio. ``groups``: objects with ``heads``, ``qk``,
    ``sv``, ``dense_lines``, ``dense_qk`` and ``dense_sv``
    (:func:`vitsim.simulator.line_loads.sparse_line_loads`)."""
    if not groups:
        raise VitsimError("no head groups to draw")
    scale, ylabel = (1.0 / clock_mhz, "busy time (us)") if clock_mhz else (1.0, "cycles")
    fig, axes = _figure(1, nrows=2, width=6.4, height=1.9)
    for ax, phase in zip(axes, ("qk", "sv"), strict=True):
        start = 0
        for i, g in enumerate(groups):
            loads = np.asarray(getattr(g, phase), dtype=np.float64) * scale
            x = start + np.arange(loads.shape[0])
            color = OKABE_ITO[i % len(OKABE_ITO)]
            heads = ",".join(str(h) for h in g.heads)
            ax.bar(x, loads, width=1.0, color=color, edgecolor="white", linewidth=0.3,
                   label=f"heads {heads}" if phase == "qk" else "_")
            if loads.size:
                mean = float(loads.mean())
                ax.hlines(mean, x[0] - 0.5, x[-1] + 0.5, colors="black", linestyles="dashed",
                          linewidth=0.8, label="mean line" if i == 0 and phase == "qk" else "_")
                dense = float(getattr(g, f"dense_{phase}")) * scale
                if g.dense_lines:
                    ax.hlines(dense, x[0] - 0.5, x[-1] + 0.5, colors="0.5", linewidth=1.2,
                              label="dense lines" if i == 0 and phase == "qk" else "_")
                if mean > 0:
                    ax.annotate(f"{loads.max() / mean:.2f}x", (x.mean(), loads.max()),
                                ha="center", va="bottom", fontsize="x-small")
            start += loads.shape[0] + 2
        ax.set_ylabel(ylabel)
        ax.set_title("Q K^T" if phase == "qk" else "S V (reductions included)")
        ax.set_xticks([])
        ax.margins(y=0.15)
    axes[1].set_xlabel("sparser-engine MAC lines, head group after head group")
    if title:
        fig.suptitle(title)
    _legend_outside(fig, [axes[0]])
    return fig


# ----------------------------------------------------------------------------- timeline


def plot_block_timeline(stages: pd.DataFrame, *, layer: int = 0, total_macs: int,
                        clock_mhz: float | None = None) -> Figure:
    """One block's stages in execution order as a timeline (compute, fill/drain and
    memory stall of each stage, one after another as the simulator runs them), above the
    MAC utilization of the denser and sparser engines over the same time (each stage's MACs
    over its cycles x the design's ``total_macs``). Stage granularity: within a stage the
    tile timeline overlaps loads and compute, and its stall is what remains exposed."""
    _require(stages, ("layer", "stage", "compute_cycles", "fill_cycles", "stall_cycles",
                      "total_cycles"), "the timeline")
    frame = stages[stages["layer"] == layer].assign(stage=lambda f: f["stage"].astype(str))
    if frame.empty:
        raise VitsimError(f"no stage rows of layer {layer}")
    order = _stage_order(frame["stage"])
    cols = ["compute_cycles", "fill_cycles", "stall_cycles", "total_cycles"]
    extra = [c for c in ("dense_macs", "sparse_macs", "macs") if c in frame]
    per = frame.groupby("stage")[cols + extra].sum().reindex(order).fillna(0.0)
    per = per[per["total_cycles"] > 0]
    scale, xlabel = _time_scale(clock_mhz)
    start = np.concatenate(([0.0], np.cumsum(per["total_cycles"].to_numpy())[:-1])) * scale
    fig, axes = _figure(1, nrows=2, width=6.4, height=1.9)
    ax = axes[0]
    parts = (("compute_cycles", "compute"), ("fill_cycles", "fill/drain"),
             ("stall_cycles", "memory stall"))
    y = np.arange(len(per))[::-1]
    for j, (col, name) in enumerate(parts):
        offset = start + sum(per[c].to_numpy() for c, _ in parts[:j]) * scale \
            if j else start
        ax.barh(y, per[col].to_numpy() * scale, left=offset, height=0.7,
                color=OKABE_ITO[j], label=name, edgecolor="none")
    ax.set_yticks(y, list(per.index))
    ax.set_title(f"block {layer}: stages in execution order")
    end = float(per["total_cycles"].sum()) * scale
    ax.set_xlim(0, end)
    ut = axes[1]
    cycles = per["total_cycles"].to_numpy()
    for j, (col, name) in enumerate((("dense_macs", "denser engine"),
                                     ("sparse_macs", "sparser engine"), ("macs", "all MACs"))):
        if col not in per:
            continue
        util = per[col].to_numpy(dtype=np.float64) / (cycles * total_macs) * 100.0
        ut.stairs(util, np.append(start, end), color=OKABE_ITO[j + 3 if j < 2 else 7],
                  linewidth=1.0 if col == "macs" else 0.8, label=name,
                  linestyle="-" if col == "macs" else "--")
    ut.set_xlim(0, end)
    ut.set_ylim(0, 105)
    ut.set_ylabel("MAC utilization (%)")
    ut.set_xlabel(xlabel)
    ut.grid(True, alpha=0.3, linewidth=0.5)
    _legend_outside(fig, axes)
    return fig


# ----------------------------------------------------------------------------- utilization


def plot_utilization(table: pd.DataFrame, x: str | None = None) -> Figure:
    """MAC utilization of the whole design and of the denser and sparser engines (percent),
    grouped by the values of column ``x`` (the mean over every other column). Without ``x``
    (or with a one-row table) there is one group."""
    rows = ok_rows(table)
    metrics = [m for m in UTILIZATION_METRICS if m in rows]
    if not metrics:
        raise VitsimError("the utilization figure needs a column among "
                          f"{', '.join(UTILIZATION_METRICS)}")
    if x is not None:
        _require(rows, (x,), "the utilization figure")
        levels = _levels(rows[x])
        means = rows.groupby(x, sort=True)[metrics].mean().reindex(levels)
    else:
        levels = ["all points" if len(rows) > 1 else "run"]
        means = pd.DataFrame([rows[metrics].mean()], index=levels)
    fig, axes = _figure(1, width=max(5.0, 0.9 * len(levels) + 2.5))
    ax = axes[0]
    pos = np.arange(len(levels))
    width = 0.8 / len(metrics)
    for j, m in enumerate(metrics):
        h = means[m].to_numpy(dtype=np.float64) * 100.0
        bars = ax.bar(pos + (j - (len(metrics) - 1) / 2) * width, h, width,
                      label=UTILIZATION_METRICS[m], color=OKABE_ITO[j], hatch=HATCHES[j],
                      edgecolor="white", linewidth=0.5)
        if len(levels) <= 6:
            ax.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    ax.set_xticks(pos, [_fmt(v) for v in levels])
    ax.set_xlabel(label(x) if x else "")
    ax.set_ylabel("MAC utilization (%)")
    ax.set_ylim(0, 105)
    ax.set_title("utilization per engine" + (" (mean over the other axes)"
                                             if x and len(rows) > len(levels) else ""))
    ax.legend(fontsize=8)
    return fig


# ----------------------------------------------------------------------------- sweeps

RATIO_KINDS = {"speedup": "speedup", "energy_efficiency": "energy efficiency"}
MAX_TICKED_LEVELS = 12  # a numeric axis with at most this many values gets a tick at each


def _ratio_columns(table: pd.DataFrame, columns: Sequence[str] | None
                   ) -> dict[tuple[str, str], dict[str, str]]:
    """``{(baseline, scope): {kind: column}}`` of a sweep's ratio columns."""
    from vitsim.analysis.figures.columns import ratio_parts

    out: dict[tuple[str, str], dict[str, str]] = {}
    for c in (columns if columns is not None else map(str, table.columns)):
        parts = ratio_parts(c)
        if parts is not None and c in table:
            kind, baseline, scope = parts
            out.setdefault((baseline, scope), {})[kind] = c
    return out


def plot_sweep_ratios(table: pd.DataFrame, x: str | None = None, *,
                      columns: Sequence[str] | None = None) -> Figure:
    """A sweep's speedup and energy efficiency over each of its baselines (the
    ``speedup_<baseline>_<scope>`` and ``energy_efficiency_<baseline>_<scope>`` columns, or
    ``columns``) against column ``x``: one line per baseline (colour) and scope (attention
    solid, end to end dashed), each point the geometric mean over the other axes, on log
    axes with the break-even line at 1. Without ``x``, one bar per baseline and scope (the
    geometric mean over all points)."""
    from vitsim.analysis.figures.columns import SCOPE_LABELS

    rows = ok_rows(table)
    groups = _ratio_columns(rows, columns)
    if not groups:
        raise VitsimError("the speedup figure needs speedup_<baseline>_<scope> or "
                          "energy_efficiency_<baseline>_<scope> columns (a sweep with "
                          "baselines)")
    if rows.empty:
        raise VitsimError("no successful points to plot")
    if x is not None:
        _require(rows, (x,), "the speedup figure")
    kinds = [k for k in RATIO_KINDS if any(k in g for g in groups.values())]
    baselines = list(dict.fromkeys(b for b, _ in groups))
    scopes = list(dict.fromkeys(s for _, s in groups))
    fig, axes = _figure(1, nrows=len(kinds), width=6.4 if x else max(4.5, 0.6 * len(groups)
                                                                      + 2.5), height=2.8)
    for ax, kind in zip(axes, kinds, strict=True):
        if x is None:
            bars = []
            for (baseline, scope), cols in groups.items():
                v = rows[cols[kind]].astype(np.float64) if kind in cols else None
                v = v[v > 0] if v is not None else None
                bars.append((f"{baseline}\n{SCOPE_LABELS.get(scope, scope)}",
                             float(np.exp(np.log(v).mean())) if v is not None and len(v)
                             else np.nan, OKABE_ITO[baselines.index(baseline)
                                                    % len(OKABE_ITO)],
                             HATCHES[scopes.index(scope) % len(HATCHES)]))
            pos = np.arange(len(bars))
            drawn = ax.bar(pos, [b[1] for b in bars], 0.7, color=[b[2] for b in bars],
                           hatch=[b[3] for b in bars], edgecolor="white", linewidth=0.5)
            ax.bar_label(drawn, labels=[_times(b[1]) for b in bars], fontsize=7, padding=1)
            ax.set_xticks(pos, [b[0] for b in bars], fontsize=7)
        else:
            for (baseline, scope), cols in groups.items():
                if kind not in cols:
                    continue
                v = rows[cols[kind]].astype(np.float64)
                sub = rows.assign(_log=np.log(v.where(v > 0)))
                curve = np.exp(sub.groupby(x, sort=True)["_log"].mean())
                j = baselines.index(baseline)
                ax.plot(curve.index.to_numpy(), curve.to_numpy(),
                        color=OKABE_ITO[j % len(OKABE_ITO)], marker=MARKERS[j % len(MARKERS)],
                        linestyle="-" if scope == "attention" else "--",
                        label=f"{baseline}, {SCOPE_LABELS.get(scope, scope)}")
            ax.set_xlabel(label(x))
            levels = _levels(rows[x])
            if pd.api.types.is_numeric_dtype(rows[x]) and len(levels) <= MAX_TICKED_LEVELS:
                ax.set_xticks(levels, [_fmt(v) for v in levels])
            elif not pd.api.types.is_numeric_dtype(rows[x]):
                ax.tick_params(axis="x", labelrotation=30)
        ax.axhline(1.0, color="black", linewidth=0.6)
        ax.set_ylabel(f"{RATIO_KINDS[kind]} (×, log scale)")
        ax.autoscale_view()
        _set_scale(ax.yaxis, "log")
        ax.grid(True, axis="y", alpha=0.3, linewidth=0.5)
    _legend_outside(fig, axes)
    return fig



def plot_sparsity_curves(table: pd.DataFrame, metric: str = "latency_ms", *,
                         x: str = "workload.sparsity", hue: str | None = None) -> Figure:
    """``metric`` against attention sparsity (or another column ``x``), one line per value
    of ``hue``; each point is the mean over the other axes."""
    rows = ok_rows(table)
    _require(rows, [c for c in (x, metric, hue) if c], "the sparsity figure")
    fig, axes = _figure(1)
    ax = axes[0]
    groups = [(None, rows)] if hue is None else [
        (level, rows[rows[hue] == level]) for level in _levels(rows[hue])]
    for j, (level, sub) in enumerate(groups):
        curve = sub.groupby(x, sort=True)[metric].mean()
        ax.plot(curve.index.to_numpy(), curve.to_numpy(), marker=MARKERS[j % len(MARKERS)],
                color=OKABE_ITO[j % len(OKABE_ITO)], linestyle="-" if j < 8 else "--",
                label=None if hue is None else _fmt(level))
    ax.autoscale_view()
    _set_scale(ax.yaxis, _scale(rows[metric].to_numpy(dtype=np.float64)))
    ax.set_xlabel(label(x))
    averaged = len(rows) > rows[x].nunique() * max(1, len(groups))
    ax.set_ylabel(("mean " if averaged else "") + label(metric))
    ax.grid(True, alpha=0.3)
    if hue is not None:
        ax.legend(title=label(hue), fontsize=8)
    ax.set_title(f"{label(metric).split(' (')[0]} vs {label(x).split(' (')[0]}")
    return fig


def plot_heatmap(table: pd.DataFrame, x: str, y: str, metric: str = "latency_ms", *,
                 agg: str = "mean") -> Figure:
    """``metric`` over two axes, ``agg`` (mean, min, max, median) over the other axes, each
    cell annotated with its value."""
    rows = ok_rows(table)
    _require(rows, (x, y, metric), "the heat map")
    if agg not in ("mean", "min", "max", "median"):
        raise VitsimError(f"unknown aggregate {agg!r}; use mean, min, max or median")
    grid = rows.pivot_table(index=y, columns=x, values=metric, aggfunc=agg, observed=True)
    grid = grid.reindex(index=_levels(rows[y]), columns=_levels(rows[x]))
    fig, axes = _figure(1, width=max(5.0, 0.8 * grid.shape[1] + 3.0),
                        height=max(3.5, 0.5 * grid.shape[0] + 2.0))
    ax = axes[0]
    data = grid.to_numpy(dtype=np.float64)
    image = ax.imshow(data, cmap=SEQUENTIAL_CMAP, aspect="auto", origin="lower")
    colorbar = fig.colorbar(image, ax=ax)
    colorbar.set_label(label(metric) + ("" if agg == "mean" and len(rows) == data.size
                                        else f" ({agg} over the other axes)"))
    lo, hi = np.nanmin(data), np.nanmax(data)
    if data.size <= 150:
        for (i, j), v in np.ndenumerate(data):
            if np.isfinite(v):
                light = (v - lo) / (hi - lo) > 0.6 if hi > lo else False
                ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=7,
                        color="black" if light else "white")
    ax.set_xticks(range(grid.shape[1]), [_fmt(v) for v in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [_fmt(v) for v in grid.index])
    ax.set_xlabel(label(x))
    ax.set_ylabel(label(y))
    ax.set_title(label(metric).split(" (")[0])
    return fig


def plot_pareto(table: pd.DataFrame, x: str = "latency_ms", y: str = "energy_mj", *,
                objectives: Mapping[str, str] | Sequence[str] = tuple(AREA_OBJECTIVES),
                colour: str = "total_macs") -> Figure:
    """Every successful point in ``x`` against ``y`` (grey), the Pareto-optimal ones over
    ``objectives`` (default latency, energy and the area proxy) coloured by ``colour``,
    and the two-dimensional front of ``x`` and ``y`` as a step line."""
    rows = ok_rows(table)
    objective_cols = list(objectives) if not isinstance(objectives, Mapping) else \
        list(objectives.keys())
    _require(rows, [x, y, *[c for c in objective_cols if c not in (x, y)]], "the Pareto plot")
    if rows.empty:
        raise VitsimError("no successful points to plot")
    front = pareto_mask(rows, objectives)
    front2 = pareto_mask(rows, [x, y])
    fig, axes = _figure(1, width=6.8, height=4.8)
    ax = axes[0]
    ax.scatter(rows.loc[~front, x], rows.loc[~front, y], s=10, color="#BBBBBB",
               label="dominated", linewidths=0)
    on = rows[front]
    if colour in rows and rows[colour].nunique() <= len(OKABE_ITO):
        for j, level in enumerate(_levels(rows[colour])):
            sub = on[on[colour] == level]
            if len(sub):
                ax.scatter(sub[x], sub[y], s=28, color=OKABE_ITO[j],
                           marker=MARKERS[j % len(MARKERS)], edgecolors="black",
                           linewidths=0.4, label=f"{label(colour)} = {_fmt(level)}")
    elif colour in rows:
        points = ax.scatter(on[x], on[y], s=28, c=on[colour].astype(np.float64),
                            cmap=SEQUENTIAL_CMAP, edgecolors="black", linewidths=0.4,
                            label="Pareto-optimal")
        fig.colorbar(points, ax=ax).set_label(label(colour))
    else:
        ax.scatter(on[x], on[y], s=28, color=OKABE_ITO[0], edgecolors="black",
                   linewidths=0.4, label="Pareto-optimal")
    stair = rows[front2].sort_values(x)
    ax.step(stair[x], stair[y], where="post", color="black", linewidth=0.9,
            label=f"front of {label(x).split(' (')[0]} and {label(y).split(' (')[0]}")
    ax.autoscale_view()
    _set_scale(ax.xaxis, _scale(rows[x].to_numpy(dtype=np.float64)))
    _set_scale(ax.yaxis, _scale(rows[y].to_numpy(dtype=np.float64)))
    ax.set_xlabel(label(x))
    ax.set_ylabel(label(y))
    names = ", ".join(label(c).split(" (")[0] for c in objective_cols)
    ax.set_title(f"{int(front.sum())} Pareto-optimal of {len(rows)} points ({names})",
                 fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return fig


# ----------------------------------------------------------------------------- output


def save_figure_as(fig: Figure, out_dir: str | Path, stem: str, *,
                   formats: Sequence[str] = ("png", "pdf"), overwrite: bool = False,
                   dpi: int = 150) -> list[Path]:
    """Write ``fig`` as ``out_dir/stem.<format>`` for each format, atomically; an existing
    file is an error unless ``overwrite`` (nothing is written then)."""
    out_dir = Path(out_dir)
    bad = [f for f in formats if f not in IMAGE_FORMATS]
    if bad:
        raise VitsimError(f"unknown image format {bad[0]!r}; use {', '.join(IMAGE_FORMATS)}",
                          source="--format")
    paths = [out_dir / f"{stem}.{f}" for f in formats]
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise VitsimError("exists; choose another --out or pass --overwrite",
                          source=str(existing[0]))
    for path, fmt in zip(paths, formats, strict=True):
        with atomic_output(path) as tmp, mpl.rc_context(FONT_RC):
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=_metadata(fmt))
    return paths


def _metadata(fmt: str) -> dict | None:
    # No creation date or software version in the files, so the same figure writes the
    # same bytes (PNG, SVG) and committed figures do not churn.
    if fmt == "png":
        return {"Software": None}
    if fmt == "svg":
        return {"Date": None, "Creator": None}
    if fmt == "pdf":
        return {"CreationDate": None, "Creator": None, "Producer": None}
    return None


def figure_data_uri(fig: Figure, fmt: str = "png", dpi: int = 110) -> str:
    """The figure as a ``data:`` URI (base64), for a self-contained HTML page."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, metadata=_metadata(fmt))
    mime = {"png": "image/png", "svg": "image/svg+xml"}[fmt]
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"
