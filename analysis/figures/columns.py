"""Readable names and formatted values of vitsim's table columns, for pages people read
(the HTML report, the interactive sweep view).

A column's raw name stays what code and ``--where``/``--metric`` use
(``hardware.dram.bandwidth_gb_per_s``); a page shows :func:`column_label` ("DRAM bandwidth
(GB/s)") and :func:`format_value`: thousands separators, a few significant digits,
fractions such as utilizations as percentages (0.95 -> "95%"), ratios over a baseline as
"2.31×". Well-known columns have a label in :data:`COLUMN_LABELS`; any other column gets one
built from its name and unit suffix (:func:`vitsim.analysis.figures.charts.label`).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import pandas as pd

from vitsim.analysis.figures import charts

# Labels of the columns a run or sweep table holds (raw name -> what a reader sees).
COLUMN_LABELS: dict[str, str] = {
    # design knobs a sweep sets most often
    "hardware.dram.bandwidth_gb_per_s": "DRAM bandwidth (GB/s)",
    "hardware.mac_array.n_lines": "MAC lines",
    "hardware.mac_array.macs_per_line": "MACs per line",
    "hardware.clock_mhz": "Clock (MHz)",
    "hardware.allocation.policy": "Line allocation policy",
    "workload.sparsity": "Attention sparsity",
    "workload.model": "Model",
    "workload.seed": "Seed",
    "workload.source": "Workload source",
    # bookkeeping
    "point": "Point",
    "status": "Status",
    "error": "Error",
    "total_macs": "Compute MACs",
    "sram_bytes": "On-chip SRAM (bytes)",
    # totals of a run
    "latency_ms": "Latency (ms)",
    "energy_mj": "Energy (mJ)",
    "edp_mj_ms": "Energy-delay product (mJ·ms)",
    "throughput_images_per_s": "Throughput (images/s)",
    "average_power_mw": "Average power (mW)",
    "total_cycles": "Total cycles",
    "compute_cycles": "Compute cycles",
    "stall_cycles": "Memory stall cycles",
    "fill_cycles": "Fill/drain cycles",
    "roofline_cycles": "Roofline cycles",
    "roofline_fraction": "Roofline cycles / total cycles",
    "attention_cycles": "Attention cycles",
    "macs": "MACs",
    "dram_bytes": "DRAM traffic (bytes)",
    "mac_utilization": "MAC utilization",
    "dense_engine_utilization": "Denser engine utilization",
    "sparse_engine_utilization": "Sparser engine utilization",
    "attention_latency_ms": "Attention latency (ms)",
    "attention_energy_mj": "Attention energy (mJ)",
    "attention_dram_bytes": "Attention DRAM traffic (bytes)",
    # a run's stage and component tables
    "name": "Stage",
    "stage": "Stage",
    "cycles": "Cycles",
    "component": "Component",
    "share": "Share",
    # a sweep's sensitivity table
    "axis": "Axis",
    "levels": "Values",
    "best_value": "Best value",
    "worst_value": "Worst value",
    "min_mean": "Smallest mean",
    "max_mean": "Largest mean",
    "range": "Range of means",
    "relative_range": "Range / overall mean",
    "metric": "Metric",
    "goal": "Goal",
    "value": "Value",
    "points": "Points",
}

# Energy components (simulator.energy.COMPONENTS) as a reader names them.
COMPONENT_LABELS: dict[str, str] = {
    "mac": "MACs", "codec": "Q/K codec", "softmax": "softmax", "vector": "vector units",
    "dram": "DRAM", "leakage": "leakage",
}

# Fractions in [0, 1] that read as percentages.
_PERCENT = frozenset({"roofline_fraction", "relative_range", "workload.sparsity", "share"})
# Counts: whole numbers with thousands separators, whatever their dtype.
_COUNT_SUFFIXES = ("_cycles", "_bytes", "macs", "_ops")
_COUNTS = frozenset({"point", "cycles", "levels", "points", "total_macs", "n_points"})
# Ratios over a baseline (a sweep's ``speedup_<baseline>_<scope>`` and
# ``energy_efficiency_<baseline>_<scope>``).
RATIO_PREFIXES = {"speedup_": "Speedup", "energy_efficiency_": "Energy efficiency"}
SCOPE_LABELS = {"attention": "attention", "end_to_end": "end to end"}


def ratio_parts(column: str) -> tuple[str, str, str] | None:
    """``(kind, baseline, scope)`` of a ratio column (``speedup_sanger_attention`` ->
    ``("speedup", "sanger", "attention")``), or None for any other column."""
    for prefix in RATIO_PREFIXES:
        if column.startswith(prefix):
            rest = column.removeprefix(prefix)
            for scope in SCOPE_LABELS:
                if rest.endswith("_" + scope) and len(rest) > len(scope) + 1:
                    return prefix.rstrip("_"), rest[: -len(scope) - 1], scope
    return None


def is_percent(column: str) -> bool:
    """Whether the column holds a fraction shown as a percentage (utilizations, shares)."""
    return column in _PERCENT or column.endswith("utilization")


def is_ratio(column: str) -> bool:
    return ratio_parts(column) is not None


def is_count(column: str) -> bool:
    return column in _COUNTS or column.endswith(_COUNT_SUFFIXES)


def column_label(column: str, *, unit: bool = True) -> str:
    """What a reader sees for ``column``: ``"DRAM bandwidth (GB/s)"``; ``unit=False`` drops
    the bracketed unit (for a cell that carries the unit itself)."""
    column = str(column)
    parts = ratio_parts(column)
    if parts is not None:
        kind, baseline, scope = parts
        text = f"{RATIO_PREFIXES[kind + '_']} over {baseline}, {SCOPE_LABELS[scope]}"
        return f"{text} (×)" if unit else text
    if column.startswith("energy_") and column.endswith("_mj"):  # energy_<component>_mj
        comp = column.removeprefix("energy_").removesuffix("_mj")
        if comp in COMPONENT_LABELS or comp.startswith("sram_"):
            text = f"{component_label(comp)} energy"
            return f"{text} (mJ)" if unit else text
    text = COLUMN_LABELS.get(column)
    if text is None:
        text = charts.label(column)
        text = text[:1].upper() + text[1:]
    if not unit and text.endswith(")") and " (" in text:
        text = text[: text.rindex(" (")]
    return text


def component_label(component: str) -> str:
    """An energy component as a reader names it (``sram_q`` -> ``"SRAM, Q buffer"``)."""
    if component.startswith("sram_"):
        buffer = component.removeprefix("sram_")
        return f"SRAM, {buffer.upper() if len(buffer) == 1 else buffer} buffer"
    return COMPONENT_LABELS.get(component, component.replace("_", " "))


def unit_of(column: str) -> str:
    """The unit a cell of ``column`` carries when the header does not: ``"ms"``, ``"%"``,
    ``"×"``, ``""``."""
    if is_percent(column):
        return "%"
    if is_ratio(column):
        return "×"
    label = column_label(column)
    if label.endswith(")") and " (" in label:
        return label[label.rindex(" (") + 2: -1]
    return ""


def _missing(value: Any) -> bool:
    """None, NaN, NaT or pandas' NA (not a list or another container)."""
    if value is None:
        return True
    missing = pd.isna(value)
    return missing if isinstance(missing, bool) else False


def format_number(value: float, significant: int = 4) -> str:
    """``value`` to about ``significant`` digits with thousands separators and no exponent
    (``153162000`` -> ``"153,162,000"``, ``4.62656`` -> ``"4.627"``, ``0.0329`` ->
    ``"0.0329"``, ``6.65e-05`` -> ``"0.0000665"``); below 1e-9, ``"< 0.000000001"``."""
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return str(value)
    size = abs(value)
    if size < 1e-9:
        return "< 0.000000001" if value > 0 else "> -0.000000001"
    decimals = max(0, significant - 1 - math.floor(math.log10(size)))
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_value(column: str, value: Any, *, unit: bool = False) -> str:
    """One cell of ``column`` as text: counts with thousands separators, fractions as
    percentages, ratios with ×, other numbers to four significant digits; ``unit=True``
    appends the column's unit (``"4.627 ms"``). Missing values are empty."""
    if _missing(value):
        return ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    column = str(column)
    number = float(value)
    if is_percent(column):
        return f"{format_number(number * 100.0, 3)}%"
    if is_ratio(column):
        return f"{format_number(number, 3)}×"
    if isinstance(value, numbers.Integral) or (is_count(column) and number.is_integer()):
        text = f"{int(value):,}"
    elif is_count(column) and abs(number) >= 100:
        text = f"{round(number):,}"
    else:
        text = format_number(number)
    suffix = unit_of(column) if unit else ""
    return f"{text} {suffix}" if suffix else text
