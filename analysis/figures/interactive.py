"""An interactive view of a sweep: one self-contained HTML file (plotly, its JavaScript
embedded, nothing fetched) in which every successful point is a marker and hovering shows
the point's design knobs and metrics.

Two menus choose the quantities on the x and y axes (any metric or numeric axis of the
sweep); the legend toggles the colour groups and the Pareto-optimal points. Needs plotly,
the ``interactive`` extra: ``pip install "vitsim[interactive]"``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vitsim.analysis.figures import charts, columns
from vitsim.analysis.sweeps.pareto import AREA_OBJECTIVES, ok_rows, pareto_mask
from vitsim.atomic import atomic_output
from vitsim.errors import VitsimError

EXTRA = "interactive"
MAX_COLOUR_LEVELS = len(charts.OKABE_ITO)  # more values than this: a continuous colour scale


def _plotly() -> Any:
    """plotly.graph_objects, or a VitsimError naming the extra that installs it."""
    try:
        import plotly.graph_objects as go
    except ModuleNotFoundError:
        raise VitsimError(f'needs plotly, which is not installed: pip install "vitsim[{EXTRA}]"',
                          source="--kind interactive") from None
    return go


def _numeric(frame: pd.DataFrame, column: str) -> bool:
    series = frame[column]
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _hover(rows: pd.DataFrame, knobs: Sequence[str], metrics: Sequence[str]) -> list[str]:
    """Each point's hover text: its number, design knobs, then metrics with units."""
    out = []
    for _, row in rows.iterrows():
        lines = [f"<b>point {columns.format_value('point', row['point'])}</b>"
                 if "point" in row else "<b>point</b>"]
        lines += [f"{html.escape(columns.column_label(c))}: "
                  f"{html.escape(columns.format_value(c, row[c]))}" for c in knobs]
        lines.append("")
        lines += [f"{html.escape(columns.column_label(c, unit=False))}: "
                  f"{html.escape(columns.format_value(c, row[c], unit=True))}"
                  for c in metrics]
        out.append("<br>".join(lines))
    return out


def _axis_type(values: pd.Series) -> str:
    return "log" if charts._scale(values.to_numpy(dtype=np.float64)) == "log" else "linear"


def sweep_view_html(table: pd.DataFrame, *, axes: Sequence[str], metrics: Sequence[str],
                    x: str = "latency_ms", y: str = "energy_mj", colour: str | None = None,
                    title: str = "vitsim sweep") -> str:
    """The interactive view of a sweep's ``table`` as one HTML page: ``x`` against ``y``
    (menus switch them among the numeric ``metrics`` and ``axes``), coloured by ``colour``
    (default: the first axis), Pareto-optimal points over latency, energy and the area
    proxy circled; hovering a point shows its ``axes`` and ``metrics``."""
    go = _plotly()
    rows = ok_rows(table).reset_index(drop=True)
    if rows.empty:
        raise VitsimError("no successful points to show")
    knobs = [a for a in axes if a in rows]
    shown = [m for m in metrics if m in rows]
    for extra in ("total_macs", "sram_bytes"):  # the area proxy
        if extra in rows and extra not in shown:
            shown.append(extra)
    choices = [c for c in [*shown, *knobs] if _numeric(rows, c)]
    for name, flag in ((x, "--x"), (y, "--y")):
        if name not in choices:
            raise VitsimError(f"no numeric column {name!r} among the sweep's metrics and axes; "
                              f"choose from: {', '.join(choices)}", source=flag)
    colour = colour if colour is not None else (knobs[0] if knobs else None)
    if colour is not None and colour not in rows:
        raise VitsimError(f"no column {colour!r} in the table; axes: {', '.join(knobs)}",
                          source="--hue")
    hover = np.array(_hover(rows, knobs, shown), dtype=object)

    # one trace per colour level (legend entries that toggle), or one with a colour scale
    groups: list[tuple[str, np.ndarray, dict[str, Any]]] = []
    if colour is None:
        groups.append(("points", np.ones(len(rows), dtype=bool),
                       {"color": charts.OKABE_ITO[0]}))
    elif rows[colour].nunique() <= MAX_COLOUR_LEVELS or not _numeric(rows, colour):
        for j, level in enumerate(charts._levels(rows[colour])):
            groups.append((f"{columns.column_label(colour, unit=False)}: "
                           f"{columns.format_value(colour, level, unit=True)}",
                           (rows[colour] == level).to_numpy(),
                           {"color": charts.OKABE_ITO[j % len(charts.OKABE_ITO)],
                            "symbol": j % 8}))
    else:
        groups.append(("points", np.ones(len(rows), dtype=bool),
                       {"color": rows[colour].astype(np.float64).tolist(),
                        "colorscale": "Cividis", "showscale": True,
                        "colorbar": {"title": {"text": columns.column_label(colour)}}}))
    objectives = [c for c in AREA_OBJECTIVES if c in rows]
    front = pareto_mask(rows, objectives) if set(("latency_ms", "energy_mj")) <= set(objectives) \
        else np.zeros(len(rows), dtype=bool)
    front = np.asarray(front, dtype=bool)

    fig = go.Figure()
    masks = []
    for name, mask, marker in groups:
        if not mask.any():
            continue
        masks.append(mask)
        fig.add_trace(go.Scatter(
            x=rows.loc[mask, x], y=rows.loc[mask, y], mode="markers", name=name,
            marker={"size": 8, "opacity": 0.85, "line": {"width": 0.5, "color": "white"},
                    **{k: ([v[i] for i in np.flatnonzero(mask)] if k == "color"
                           and isinstance(v, list) else v) for k, v in marker.items()}},
            hovertext=hover[mask].tolist(), hoverinfo="text"))
    if front.any():
        masks.append(front)
        fig.add_trace(go.Scatter(
            x=rows.loc[front, x], y=rows.loc[front, y], mode="markers",
            name=f"Pareto-optimal ({int(front.sum())})",
            marker={"size": 14, "symbol": "circle-open", "color": "black",
                    "line": {"width": 1.5}},
            hovertext=hover[front].tolist(), hoverinfo="text"))

    def menu(axis: str, current: str, where: float) -> dict[str, Any]:
        buttons = []
        for c in choices:
            values = [rows.loc[m, c].tolist() for m in masks]
            buttons.append({"label": columns.column_label(c), "method": "update",
                            "args": [{axis: values},
                                     {f"{axis}axis.title.text": columns.column_label(c),
                                      f"{axis}axis.type": _axis_type(rows[c])}]})
        return {"buttons": buttons, "direction": "down", "showactive": True,
                "active": choices.index(current), "x": where, "xanchor": "left",
                "y": 1.13, "yanchor": "top"}

    fig.update_layout(
        title={"text": html.escape(title), "x": 0.0, "xanchor": "left"},
        template="plotly_white", hovermode="closest", height=640,
        margin={"t": 110, "r": 30},
        xaxis={"title": {"text": columns.column_label(x)}, "type": _axis_type(rows[x])},
        yaxis={"title": {"text": columns.column_label(y)}, "type": _axis_type(rows[y])},
        legend={"title": {"text": "click to hide or show"}},
        updatemenus=[menu("x", x, 0.05), menu("y", y, 0.5)],
        annotations=[{"text": "x:", "x": 0.0, "xref": "paper", "y": 1.11, "yref": "paper",
                      "showarrow": False, "xanchor": "left"},
                     {"text": "y:", "x": 0.45, "xref": "paper", "y": 1.11, "yref": "paper",
                      "showarrow": False, "xanchor": "left"}])
    text: str = fig.to_html(include_plotlyjs=True, full_html=True,
                            config={"displaylogo": False, "responsive": True})
    return text


def write_sweep_view(table: pd.DataFrame, out: str | Path, *, overwrite: bool = False,
                     **kwargs: Any) -> Path:
    """Write :func:`sweep_view_html` to ``out`` atomically; an existing file is an error
    unless ``overwrite``."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise VitsimError("exists; choose another --out or pass --overwrite", source=str(out))
    page = sweep_view_html(table, **kwargs)
    with atomic_output(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
