"""Reading a sweep's table: Pareto fronts, the best point under a constraint, and how much
each axis matters.

Every function takes the table :func:`vitsim.analysis.sweeps.runner.run_sweep` writes (one row
per point) and looks only at its successful rows (``status == "ok"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from vitsim.analysis.sweeps.expr import Expression, ExpressionError, parse_expression
from vitsim.errors import VitsimError

# The objectives of the default front: latency, energy, and the area proxy (compute MACs and
# on-chip SRAM bytes of the hardware description), all minimised.
AREA_OBJECTIVES: dict[str, str] = {
    "latency_ms": "min", "energy_mj": "min", "total_macs": "min", "sram_bytes": "min"}
# Axis columns of the sweep tables are dotted paths or named axes; these are not axes.
NON_AXIS_COLUMNS = ("point", "status", "error", "trace_hash", "point_hash", "total_macs",
                    "sram_bytes")
_CELLS = 16_000_000  # comparisons held in memory at once by the dominance test


def ok_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of points that simulated (all rows when the table has no status)."""
    if "status" not in frame:
        return frame
    return frame[frame["status"] == "ok"]


def _objectives(objectives: Mapping[str, str] | Sequence[str]) -> dict[str, str]:
    if isinstance(objectives, Mapping):
        out = dict(objectives)
    else:
        out = {name: "min" for name in objectives}
    bad = {k: v for k, v in out.items() if v not in ("min", "max")}
    if bad:
        raise VitsimError(f"objective directions must be min or max, got {bad}")
    return out


def pareto_mask(frame: pd.DataFrame,
                objectives: Mapping[str, str] | Sequence[str] = tuple(AREA_OBJECTIVES)) \
        -> pd.Series:
    """True for the rows no other row dominates (at least as good in every objective and
    better in one). ``objectives`` maps a column to ``min`` or ``max`` (a list: all ``min``).
    Rows with a missing objective are never on the front."""
    objectives = _objectives(objectives)
    missing = [c for c in objectives if c not in frame]
    if missing:
        raise VitsimError(f"no column {', '.join(missing)} in the table; columns: "
                          f"{', '.join(map(str, frame.columns))}")
    values = np.column_stack([
        frame[c].to_numpy(dtype=np.float64, na_value=np.nan) * (1.0 if d == "min" else -1.0)
        for c, d in objectives.items()]) if len(frame) else np.empty((0, len(objectives)))
    valid = ~np.isnan(values).any(axis=1)
    on_front = valid.copy()
    v = values[valid]
    keep = np.ones(len(v), dtype=bool)
    step = max(1, _CELLS // max(1, len(v) * v.shape[1]))  # bounds the comparison's memory
    for start in range(0, len(v), step):
        block = v[start:start + step]
        # dominated[i] = some row j is <= block[i] everywhere and < somewhere
        le = (v[None, :, :] <= block[:, None, :]).all(axis=2)
        lt = (v[None, :, :] < block[:, None, :]).any(axis=2)
        keep[start:start + step] = ~(le & lt).any(axis=1)
    on_front[np.flatnonzero(valid)] = keep
    return pd.Series(on_front, index=frame.index, name="pareto")


def pareto_front(frame: pd.DataFrame,
                 objectives: Mapping[str, str] | Sequence[str] = tuple(AREA_OBJECTIVES)) \
        -> pd.DataFrame:
    """The successful rows on the Pareto front, sorted by the first objective."""
    rows = ok_rows(frame)
    front = rows[pareto_mask(rows, objectives)]
    first = next(iter(_objectives(objectives)))
    return front.sort_values(first, kind="stable")


def row_lookup(row: Mapping[str, Any]):
    """A name lookup over one table row for :mod:`vitsim.analysis.sweeps.expr` (numpy scalars
    become Python values; a missing column is an error naming the columns)."""
    def lookup(name: str) -> Any:
        if name not in row:
            raise ExpressionError(f"no column {name!r}; columns: {', '.join(map(str, row))}")
        value = row[name]
        if isinstance(value, np.generic):
            value = value.item()
        if value is pd.NA:
            return None
        return value
    return lookup


def filter_rows(frame: pd.DataFrame, where: str | Expression) -> pd.DataFrame:
    """The rows for which the condition ``where`` (the sweep expression language over the
    table's columns, e.g. ``latency_ms <= 50 and total_macs <= 512``) holds."""
    expr = parse_expression(where) if isinstance(where, str) else where
    keep = [expr.test(row_lookup(row)) for row in frame.to_dict("records")]
    return frame[np.asarray(keep, dtype=bool)] if len(frame) else frame


def best_point(frame: pd.DataFrame, metric: str, *, minimize: bool = True,
               where: str | Expression | None = None) -> pd.Series | None:
    """The successful row with the lowest (or highest) ``metric``, among the rows where
    ``where`` holds; None when no row qualifies. Ties go to the lowest point index."""
    rows = ok_rows(frame)
    if metric not in rows:
        raise VitsimError(f"no metric column {metric!r} in the table")
    if where is not None:
        rows = filter_rows(rows, where)
    rows = rows[rows[metric].notna()]
    if rows.empty:
        return None
    order = rows.sort_values(metric, ascending=minimize, kind="stable")
    return order.iloc[0]


def axis_columns(frame: pd.DataFrame, axes: Sequence[str] | None = None,
                 metrics: Sequence[str] = ()) -> list[str]:
    """The sweep's axes: given, or the columns that are neither bookkeeping nor metrics (of
    the simulate totals) and take more than one value."""
    if axes is not None:
        return [a for a in axes if a in frame]
    from vitsim.analysis.sweeps.spec import is_metric_column

    skip = {*NON_AXIS_COLUMNS, *metrics}
    return [c for c in frame.columns
            if c not in skip and not is_metric_column(c) and frame[c].nunique(dropna=False) > 1]


def _groups(series: pd.Series, max_levels: int) -> pd.Series:
    """Group keys of an axis: its values, or quantile bins when a numeric axis has many
    (random sweeps draw a new value for every point)."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series) \
            and series.nunique() > max_levels:
        return pd.qcut(series, q=max_levels, duplicates="drop")
    return series


def sensitivity(frame: pd.DataFrame, metric: str, axes: Sequence[str] | None = None,
                *, max_levels: int = 8) -> pd.DataFrame:
    """How much each axis moves ``metric``: the mean of the metric at each of the axis's
    values (over every other axis), and the range of those means, absolute and relative to
    the overall mean. Sorted by that range, largest first.

    Columns: ``axis``, ``levels``, ``best_value`` and ``worst_value`` (the axis values with
    the lowest and highest mean), ``min_mean``, ``max_mean``, ``range``, ``relative_range``.
    """
    rows = ok_rows(frame)
    if metric not in rows:
        raise VitsimError(f"no metric column {metric!r} in the table")
    records = []
    overall = float(rows[metric].mean()) if len(rows) else float("nan")
    for axis in axis_columns(rows, axes, metrics=(metric,)):
        keys = _groups(rows[axis], max_levels)
        means = rows[metric].groupby(keys, observed=True, dropna=False, sort=True).mean()
        if means.empty:
            continue
        lo, hi = float(means.min()), float(means.max())
        records.append({
            "axis": axis, "levels": len(means),
            "best_value": _plain(means.idxmin()), "worst_value": _plain(means.idxmax()),
            "min_mean": lo, "max_mean": hi, "range": hi - lo,
            "relative_range": (hi - lo) / abs(overall) if overall else float("nan"),
        })
    out = pd.DataFrame.from_records(records, columns=[
        "axis", "levels", "best_value", "worst_value", "min_mean", "max_mean", "range",
        "relative_range"])
    return out.sort_values("range", ascending=False, kind="stable").reset_index(drop=True)


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Interval):
        return f"{value.left:.4g}..{value.right:.4g}"
    if isinstance(value, np.generic):
        return value.item()
    return value
