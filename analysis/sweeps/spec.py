"""Design-space sweeps from YAML: the spec, its strict validation, and its expansion to points.

A sweep spec names a base experiment (a hardware preset or file, fixed overrides, a
workload), the axes to vary as dotted paths into it, how the axes combine (``grid``, ``zip``
or ``random``), constraints that drop points, and the metrics to keep::

    name: bandwidth-vs-sparsity
    base:
      hardware: vitcod              # preset name or YAML file (relative to this file)
      hardware_overrides:           # optional fixed changes, dotted paths
        codec.decoder_lines: 16
      workload: {source: synthetic, model: deit-tiny, sparsity: 0.9, seed: 0}
      baselines: [jetson-tx2, sanger]   # optional: speedup_* and energy_efficiency_* columns
    axes:
      hardware.dram.bandwidth_gb_per_s: [25.6, 76.8, 153.6]
      workload.sparsity: [0.8, 0.9, 0.95]
      qkv_kib:                      # a named axis: one value sets several fields
        values: [26.5, 53, 106]
        set: {hardware.buffers.q.size_kib: 1, hardware.buffers.k.size_kib: 1,
              hardware.buffers.v.size_kib: 1, hardware.buffers.activation.size_kib: 3}
    combine: grid                   # grid | zip | random (with samples and seed)
    constraints: ["hardware.total_macs <= 1024"]
    metrics: [latency_ms, energy_mj]

The file is read as strictly as a hardware description (:mod:`vitsim.strict_yaml`):
duplicate and unknown keys are errors naming the allowed ones, and every problem is reported at
once with its key path, in one :class:`~vitsim.errors.ConfigError`.

Expanding a spec (:func:`expand_sweep`) resolves every point: its hardware description
(overrides applied and re-validated), its workload, its area proxy, and a hash of all of it
that keys the point's results. A point whose values make an impossible hardware description
or workload is kept as a failed point with its one-line error; a point that fails a
constraint is dropped.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import itertools
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from vitsim.analysis.sweeps.expr import Expression, ExpressionError, parse_expression
from vitsim.errors import ConfigError, VitsimError
from vitsim.hw_configs.loader import apply_overrides, load_hardware, plain_data
from vitsim.hw_configs.schema import HardwareConfig, section_fields, section_type
from vitsim.strict_yaml import check_keys, load_strict, loads_strict

COMBINE_MODES = ("grid", "zip", "random")
WORKLOAD_SOURCES = ("synthetic", "trace", "mask")
WORKLOAD_FIELDS = ("source", "model", "sparsity", "seed", "trace", "mask", "convention",
                   "polarize_threshold", "dense_fraction")
# Keys each workload source needs and admits (besides ``source``).
_SOURCE_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "synthetic": (("model", "sparsity"), ("seed", "polarize_threshold", "dense_fraction")),
    "trace": (("trace",), ()),
    "mask": (("mask", "model"), ("convention", "polarize_threshold", "dense_fraction")),
}
MASK_CONVENTIONS = ("pruned", "kept")
# Area proxy columns every point carries (from its hardware description).
AREA_COLUMNS = ("total_macs", "sram_bytes")
DEFAULT_METRICS = ("latency_ms", "energy_mj", "edp_mj_ms", "mac_utilization",
                   "dense_engine_utilization", "sparse_engine_utilization",
                   # the attention scope (vitsim.analysis.metrics.ATTENTION_METRICS): what
                   # sparsity changes, hidden in whole-run totals
                   "attention_latency_ms", "attention_energy_mj", "attention_dram_bytes")
DEFAULT_MAX_POINTS = 100_000  # ~10 min on two cores, and the table stays a few tens of MB
MAX_AXIS_STEPS = 1_000_000  # values one low/high/steps axis may be cut into
_TOP_KEYS = ("name", "description", "base", "axes", "combine", "samples", "seed",
             "constraints", "metrics")
_BASE_KEYS = ("hardware", "hardware_overrides", "workload", "baselines")
_AXIS_KEYS = ("values", "low", "high", "steps", "scale", "integer", "significant", "set")
_SCALES = ("linear", "log")
_SHIPPED_SUFFIX = ".yaml"
HASH_CHARS = 16  # hex characters of a point's hash (64 bits)


# --------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------


@cache
def known_metrics() -> tuple[str, ...]:
    """Metric names a sweep can keep: the fields and properties of the simulate totals
    (:class:`vitsim.simulator.results.Totals`), ``energy_<component>_mj`` per component, and
    the attention scope (:data:`vitsim.analysis.metrics.ATTENTION_METRICS`)."""
    from vitsim.analysis.metrics import ATTENTION_METRICS
    from vitsim.simulator.energy import COMPONENTS
    from vitsim.simulator.results import Totals

    # Numeric fields only (the annotations are strings under postponed evaluation).
    names = [f.name for f in dataclasses.fields(Totals) if str(f.type) in ("float", "int")]
    names += [n for n, v in vars(Totals).items() if isinstance(v, property)]
    names += [f"energy_{c}_mj" for c in COMPONENTS]
    names += ATTENTION_METRICS
    return tuple(names)


BASELINE_METRIC_PREFIXES = ("speedup_", "energy_efficiency_")


def is_metric_column(name: str) -> bool:
    """A result column holding a metric: a simulate total, or a ratio over a baseline."""
    return name in known_metrics() or name.startswith(BASELINE_METRIC_PREFIXES)


# --------------------------------------------------------------------------------------
# The spec
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    """A numeric range: sampled by ``combine: random``, or cut into ``steps`` values."""

    low: float
    high: float
    scale: str = "linear"  # linear | log
    integer: bool = False
    significant: int | None = None  # round drawn values to this many significant digits

    def draw(self, rng: np.random.Generator, n: int) -> list[Any]:
        if self.scale == "log":
            x = np.exp(rng.uniform(math.log(self.low), math.log(self.high), size=n))
        else:
            x = rng.uniform(self.low, self.high, size=n)
        return [self._value(v) for v in x]

    def steps(self, n: int) -> list[Any]:
        if self.scale == "log":
            x = np.geomspace(self.low, self.high, n)
        else:
            x = np.linspace(self.low, self.high, n)
        return [self._value(v) for v in x]

    def _value(self, v: float) -> Any:
        if self.significant is not None and v != 0:
            v = round(float(v), self.significant - 1 - math.floor(math.log10(abs(v))))
        return int(np.rint(v)) if self.integer else float(v)


@dataclass(frozen=True)
class Axis:
    """One axis: a column ``name`` and the fields it sets.

    ``targets`` are ``(dotted path, factor)`` pairs, the path starting with ``hardware.`` or
    ``workload.``; a point's value is set into every target, times its factor where one is
    given. ``values`` lists the values; ``sample`` (random sweeps only) draws them instead.
    """

    name: str
    targets: tuple[tuple[str, float | None], ...]
    values: tuple[Any, ...] | None = None
    sample: Range | None = None

    def assignments(self, value: Any) -> dict[str, Any]:
        return {path: value if factor is None else value * factor
                for path, factor in self.targets}


@dataclass(frozen=True)
class Workload:
    """A resolved workload; paths are absolute, and a file's SHA-256 is part of its identity."""

    source: str
    model: str | None = None
    sparsity: float | None = None
    seed: int | None = None
    trace: str | None = None
    mask: str | None = None
    convention: str | None = None
    polarize_threshold: int | None = None
    dense_fraction: float | None = None
    file_sha256: str | None = None

    def document(self) -> dict[str, Any]:
        """The fields that are set (the workload's identity, the cache key of its trace)."""
        return dict(self._document)

    def key(self) -> str:
        return self._key

    # Made once per workload (a sweep asks for a point's workload key several times, and
    # its points share a few workload objects).
    @functools.cached_property
    def _document(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @functools.cached_property
    def _key(self) -> str:
        return json.dumps(self._document, sort_keys=True)

    def build(self):  # -> WorkloadTrace
        """Build (or load) the trace of this workload."""
        from vitsim.workloads.model_spec import get_spec
        from vitsim.workloads.pipeline import trace_mask_file, trace_synthetic
        from vitsim.workloads.trace import PolarizePolicy, WorkloadTrace

        policy = PolarizePolicy(threshold=self.polarize_threshold,
                                dense_fraction=self.dense_fraction)
        if self.source == "trace":
            return WorkloadTrace.load(self.trace)
        assert self.model is not None
        if self.source == "mask":
            return trace_mask_file(self.mask, get_spec(self.model),
                                   convention=self.convention or "pruned", policy=policy)
        return trace_synthetic(get_spec(self.model), sparsity=float(self.sparsity),
                               seed=int(self.seed or 0), policy=policy)


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec (see the module docstring)."""

    name: str
    source: str  # the file it came from
    text: str  # the file's text, recorded in the sweep directory
    description: str
    hardware: str  # preset name or absolute path
    hardware_overrides: tuple[tuple[str, Any], ...]
    base_hardware: HardwareConfig = field(repr=False)
    workload: Mapping[str, Any]  # base workload fields, paths absolute
    baselines: tuple[str, ...]
    axes: tuple[Axis, ...]
    combine: str
    samples: int | None
    seed: int
    constraints: tuple[Expression, ...]
    metrics: tuple[str, ...]

    def document(self) -> dict[str, Any]:
        """The resolved spec as plain data (absolute paths), for the sweep's records."""
        return {
            "name": self.name, "source": self.source, "description": self.description,
            "hardware": self.hardware, "hardware_overrides": dict(self.hardware_overrides),
            "workload": dict(self.workload), "baselines": list(self.baselines),
            "axes": [{"name": a.name, "targets": [list(t) for t in a.targets],
                      "values": None if a.values is None else list(a.values),
                      "sample": None if a.sample is None else dataclasses.asdict(a.sample)}
                     for a in self.axes],
            "combine": self.combine, "samples": self.samples, "seed": self.seed,
            "constraints": [c.text for c in self.constraints], "metrics": list(self.metrics),
        }


# --------------------------------------------------------------------------------------
# Shipped sweeps and loading
# --------------------------------------------------------------------------------------


def _shipped_dir():
    return resources.files("vitsim.analysis").joinpath("sweeps", "examples")


def shipped_sweeps() -> tuple[str, ...]:
    """Names of the example sweeps shipped in ``analysis/sweeps/*.yaml``."""
    return tuple(sorted(e.name[: -len(_SHIPPED_SUFFIX)] for e in _shipped_dir().iterdir()
                        if e.is_file() and e.name.endswith(_SHIPPED_SUFFIX)))


def _looks_like_path(text: str) -> bool:
    return text.endswith((".yaml", ".yml")) or "/" in text or os.sep in text


def load_sweep(name_or_path: str | os.PathLike[str]) -> SweepSpec:
    """Load a sweep spec: a YAML file, or the name of a shipped example (``quick``)."""
    text_name = os.fspath(name_or_path)
    if not _looks_like_path(text_name) and text_name in shipped_sweeps():
        entry = _shipped_dir().joinpath(text_name + _SHIPPED_SUFFIX)
        with resources.as_file(entry) as path:
            text = path.read_text(encoding="utf-8")
            return sweep_from_text(text, source=str(path), base_dir=path.parent)
    path = Path(text_name)
    if not _looks_like_path(text_name) and not path.is_file():
        raise ConfigError([("", f"no such sweep file or shipped sweep; shipped: "
                                f"{', '.join(shipped_sweeps())}")], source=text_name)
    data = load_strict(path)  # missing file, bad YAML and duplicate keys raise here
    return sweep_from_dict(data, source=str(path), base_dir=path.resolve().parent,
                           text=path.read_text(encoding="utf-8"))


def sweep_from_text(text: str, *, source: str, base_dir: str | Path) -> SweepSpec:
    return sweep_from_dict(loads_strict(text, source=source), source=source,
                           base_dir=Path(base_dir), text=text)


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_scalar(x: Any) -> bool:
    return x is None or isinstance(x, (str, int, float, bool))


def hardware_path_problem(parts: Sequence[str], *, allow_properties: bool) -> str | None:
    """Why the dotted path ``parts`` (inside the hardware description) names no value, or None.

    ``allow_properties`` admits derived values (``total_macs``, ``mac_array.n_macs``) besides
    the YAML fields, as a constraint may read them but an override may not set them.
    """
    cls: type | None = HardwareConfig
    for depth, part in enumerate(parts):
        if cls is None:
            return f"{'.'.join(parts[:depth])} is a value, not a section"
        fields = section_fields(cls)
        props = tuple(n for n, _ in inspect.getmembers(cls, lambda v: isinstance(v, property))
                      if not n.startswith("_")) if allow_properties else ()
        if part in props and part not in fields:
            return None if depth == len(parts) - 1 else f"{part} is a value, not a section"
        if part not in fields:
            return f"unknown key {part!r}; allowed: {', '.join((*fields, *props))}"
        cls = section_type(cls, part)
    if cls is not None:
        return f"is a section; name one of its keys: {', '.join(section_fields(cls))}"
    return None


def _check_target(path: str, where: str, problems: list[tuple[str, str]]) -> bool:
    head, _, rest = path.partition(".")
    if head == "hardware" and rest:
        msg = hardware_path_problem(rest.split("."), allow_properties=False)
        if msg:
            problems.append((where, msg))
        return msg is None
    if head == "workload" and rest:
        if rest not in WORKLOAD_FIELDS:
            problems.append((where, f"unknown workload key {rest!r}; allowed: "
                                    f"{', '.join(WORKLOAD_FIELDS)}"))
            return False
        return True
    problems.append((where, "expected a dotted path starting with hardware. or workload. "
                            "(or a named axis with set:)"))
    return False


def _check_workload_value(key: str, value: Any, where: str, base_dir: Path,
                          problems: list[tuple[str, str]]) -> Any:
    """Check one workload field's value; return it resolved (paths absolute)."""
    if value is None:
        return None
    if key == "source":
        if value not in WORKLOAD_SOURCES:
            problems.append((where, f"{value!r} is not one of: {', '.join(WORKLOAD_SOURCES)}"))
    elif key == "model":
        from vitsim.workloads.model_spec import get_spec

        if not isinstance(value, str):
            problems.append((where, f"expected a model name, got {value!r}"))
            return value
        resolved = value
        if value.lower().endswith((".yaml", ".yml")) and not Path(value).is_absolute():
            resolved = str(base_dir / value)
        try:
            get_spec(resolved)
        except VitsimError as err:
            problems.append((where, err.message if not isinstance(err, ConfigError)
                             else err.one_line()))
        return resolved
    elif key == "sparsity":
        if not (_is_number(value) and 0.0 <= value < 1.0):
            problems.append((where, f"must be a number in [0, 1), got {value!r}"))
        else:
            return float(value)
    elif key in ("seed", "polarize_threshold"):
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            problems.append((where, f"expected a non-negative integer, got {value!r}"))
    elif key == "dense_fraction":
        if not (_is_number(value) and 0.0 <= value <= 1.0):
            problems.append((where, f"must be a number in [0, 1], got {value!r}"))
        else:
            return float(value)
    elif key == "convention":
        if value not in MASK_CONVENTIONS:
            problems.append((where, f"{value!r} is not one of: {', '.join(MASK_CONVENTIONS)}"))
    elif key in ("trace", "mask"):
        if not isinstance(value, str) or not value:
            problems.append((where, f"expected a file path, got {value!r}"))
            return value
        path = Path(value) if Path(value).is_absolute() else base_dir / value
        if not path.is_file():
            problems.append((where, f"no such file: {path}"))
        return str(path)
    return value


def _check_base(data: Any, base_dir: Path, problems: list[tuple[str, str]]):
    base = check_keys(data, path="base", required=("hardware", "workload"),
                      optional=("hardware_overrides", "baselines"), problems=problems)
    hardware_name: str = ""
    hw: HardwareConfig | None = None
    raw_hw = base.get("hardware")
    if "hardware" in base:
        if not isinstance(raw_hw, str) or not raw_hw.strip():
            problems.append(("base.hardware", f"expected a preset name or YAML file, got "
                                              f"{raw_hw!r}"))
        else:
            hardware_name = raw_hw
            if _looks_like_path(raw_hw) and not Path(raw_hw).is_absolute():
                hardware_name = str(base_dir / raw_hw)
            try:
                hw = load_hardware(hardware_name)
            except VitsimError as err:
                problems.append(("base.hardware", err.one_line()))
    overrides: dict[str, Any] = {}
    raw_ov = base.get("hardware_overrides", {})
    if not isinstance(raw_ov, dict):
        problems.append(("base.hardware_overrides", "expected a mapping of dotted paths to "
                                                    "values"))
    else:
        for key, value in raw_ov.items():
            where = f"base.hardware_overrides.{key}"
            ok = _check_target(f"hardware.{key}", where, problems)
            if ok and not _is_scalar(value):
                problems.append((where, f"expected a single value, got {value!r}"))
            elif ok:
                overrides[str(key)] = value
        if hw is not None and overrides and len(overrides) == len(raw_ov):
            try:
                hw = apply_overrides(hw, overrides)
            except ConfigError as err:
                problems.extend((f"base.hardware_overrides ({f})" if f else
                                 "base.hardware_overrides", m) for f, m in err.problems)
                hw = None
    workload: dict[str, Any] = {}
    raw_wl = base.get("workload")
    if "workload" in base:
        wl = check_keys(raw_wl, path="base.workload", optional=WORKLOAD_FIELDS,
                        problems=problems)
        for key, value in wl.items():
            if key in WORKLOAD_FIELDS:
                workload[key] = _check_workload_value(key, value, f"base.workload.{key}",
                                                      base_dir, problems)
        workload.setdefault("source", "synthetic")
    baselines: list[str] = []
    raw_bl = base.get("baselines", [])
    if not isinstance(raw_bl, list) or not all(isinstance(b, str) and b for b in raw_bl):
        problems.append(("base.baselines", f"expected a list of names, got {raw_bl!r}"))
    else:
        from vitsim.analysis.compare import known_baselines

        known = known_baselines()
        for i, name in enumerate(raw_bl):
            if name in known:
                baselines.append(name)
            elif (base_dir / name).is_file():
                baselines.append(str(base_dir / name))
            else:
                problems.append((f"base.baselines[{i}]", f"unknown baseline {name!r}; known: "
                                 f"{', '.join(known)}, or a platform, peer or profile file"))
    return hardware_name, tuple(overrides.items()), hw, workload, tuple(baselines)


def _check_values(values: Any, where: str, problems: list[tuple[str, str]]) -> tuple | None:
    if not isinstance(values, list) or not values:
        problems.append((where, f"expected a non-empty list of values, got {values!r}"))
        return None
    bad = [v for v in values if not _is_scalar(v)]
    if bad:
        problems.append((where, f"values must be single values (number, string, true/false, "
                                f"null), got {bad[0]!r}"))
        return None
    seen: list[Any] = []
    for v in values:
        if any(type(v) is type(s) and v == s for s in seen):
            problems.append((where, f"duplicate value {v!r}"))
            return None
        seen.append(v)
    return tuple(values)


def _check_range(spec: dict, where: str, problems: list[tuple[str, str]]) -> Range | None:
    lo, hi = spec.get("low"), spec.get("high")
    scale = spec.get("scale", "linear")
    integer = spec.get("integer", False)
    n_before = len(problems)
    for key, value in (("low", lo), ("high", hi)):
        if not _is_number(value):
            problems.append((f"{where}.{key}", f"expected a number, got {value!r}"))
    if scale not in _SCALES:
        problems.append((f"{where}.scale", f"{scale!r} is not one of: {', '.join(_SCALES)}"))
    if not isinstance(integer, bool):
        problems.append((f"{where}.integer", f"expected true or false, got {integer!r}"))
    significant = spec.get("significant")
    if significant is not None and not (isinstance(significant, int)
                                        and not isinstance(significant, bool)
                                        and 1 <= significant <= 15):
        problems.append((f"{where}.significant", f"expected an integer in [1, 15], got "
                                                 f"{significant!r}"))
    if len(problems) > n_before:
        return None
    if not lo < hi:
        problems.append((where, f"low must be below high, got {lo!r} and {hi!r}"))
        return None
    if scale == "log" and lo <= 0:
        problems.append((f"{where}.low", f"must be positive on a log scale, got {lo!r}"))
        return None
    return Range(float(lo), float(hi), scale, integer, significant)


def _check_axis(name: Any, spec: Any, combine: str, base_dir: Path,
                problems: list[tuple[str, str]]) -> Axis | None:
    where = f"axes.{name}"
    if not isinstance(name, str) or not name:
        problems.append(("axes", f"axis names are strings, got {name!r}"))
        return None
    n_before = len(problems)
    is_path = name.startswith(("hardware.", "workload."))
    values: tuple | None = None
    sample: Range | None = None
    targets: list[tuple[str, float | None]] = []
    if isinstance(spec, dict):
        spec = check_keys(spec, path=where, optional=_AXIS_KEYS, problems=problems)
        if "values" in spec and ("low" in spec or "high" in spec):
            problems.append((where, "give values or low/high, not both"))
            return None
        if "values" in spec:
            for key in ("steps", "scale", "integer", "significant"):
                if key in spec:
                    problems.append((f"{where}.{key}", "only allowed with low/high"))
            values = _check_values(spec["values"], f"{where}.values", problems)
        elif "low" in spec or "high" in spec:
            sample = _check_range(spec, where, problems)
            steps = spec.get("steps")
            if steps is not None:
                if not (isinstance(steps, int) and not isinstance(steps, bool)
                        and 2 <= steps <= MAX_AXIS_STEPS):
                    problems.append((f"{where}.steps", f"expected an integer in [2, "
                                                       f"{MAX_AXIS_STEPS:,}], got {steps!r}"))
                elif sample is not None:
                    values = tuple(dict.fromkeys(sample.steps(steps)))
                    sample = None
            elif combine != "random":
                problems.append((where, "a range without steps needs combine: random; give "
                                        "values, or steps"))
        else:
            problems.append((where, "give values, or low and high"))
        raw_set = spec.get("set")
        if raw_set is not None:
            if is_path:
                problems.append((f"{where}.set", "a dotted-path axis sets itself; use set only "
                                                 "on a named axis"))
            elif isinstance(raw_set, list) and raw_set:
                targets = [(str(p), None) for p in raw_set]
            elif isinstance(raw_set, dict) and raw_set:
                for p, factor in raw_set.items():
                    if not _is_number(factor):
                        problems.append((f"{where}.set.{p}", f"expected a numeric factor, got "
                                                             f"{factor!r}"))
                    targets.append((str(p), factor))
            else:
                problems.append((f"{where}.set", "expected a list of dotted paths, or a "
                                                 "mapping of dotted paths to factors"))
    else:
        values = _check_values(spec, where, problems)
    if is_path:
        targets = [(name, None)]
    elif not targets and len(problems) == n_before and "." in name:
        guess = f"workload.{name}" if name.split(".")[0] in WORKLOAD_FIELDS \
            else f"hardware.{name}"
        problems.append((where, f"an axis path starts with hardware. or workload. ({guess}?); "
                                "a named axis (no dots) gives set:"))
    elif not targets and len(problems) == n_before:
        problems.append((where, "a named axis needs set: (the dotted paths it sets); or name "
                                "the axis by its path, e.g. hardware.dram.bandwidth_gb_per_s"))
    for path, _ in targets:
        _check_target(path, f"{where}.set.{path}" if not is_path else where, problems)
    factored = any(f is not None for _, f in targets)
    if factored and values is not None and not all(_is_number(v) for v in values):
        problems.append((where, "values must be numbers when set gives factors"))
    # Workload values are checked now (they are not hardware, whose checks a point reports).
    if values is not None:
        for path, factor in targets:
            if path.startswith("workload."):
                key = path.split(".", 1)[1]
                checked = [_check_workload_value(key, v if factor is None else v * factor,
                                                 f"{where}[{i}]", base_dir, problems)
                           for i, v in enumerate(values)]
                if len(targets) == 1 and key in ("trace", "mask", "model"):
                    values = tuple(checked)  # file paths made absolute
    if len(problems) > n_before:
        return None
    return Axis(name, tuple(targets), values, sample)


def sweep_from_dict(data: Any, *, source: str, base_dir: str | Path,
                    text: str = "") -> SweepSpec:
    """Validate a parsed sweep spec; every problem is reported at once, with its key path."""
    base_dir = Path(base_dir)
    if data is None:
        raise ConfigError([("", "empty document; expected a sweep spec mapping")], source=source)
    problems: list[tuple[str, str]] = []
    top = check_keys(data, path="", required=("base",),
                     optional=tuple(k for k in _TOP_KEYS if k != "base"), problems=problems)
    name, description = _check_identity(top, source, problems)
    combine, samples, seed = _check_combination(top, problems)
    hardware_name, overrides, hw, workload, baselines = "", (), None, {}, ()
    if "base" in top:
        hardware_name, overrides, hw, workload, baselines = _check_base(top["base"], base_dir,
                                                                        problems)
    axes = _check_axes(top.get("axes", {}), str(combine), base_dir, problems)
    _check_axis_counts(axes, combine, samples, problems)
    constraints = _check_constraints(top.get("constraints", []), axes, problems)
    metrics = _check_metrics(top.get("metrics"), problems)
    if problems or hw is None:
        raise ConfigError(problems or [("base.hardware", "invalid")], source=source)
    return SweepSpec(
        name=str(name), source=source, text=text, description=str(description),
        hardware=hardware_name, hardware_overrides=tuple(overrides), base_hardware=hw,
        workload=dict(workload), baselines=tuple(baselines), axes=tuple(axes),
        combine=str(combine), samples=samples if combine == "random" else None,
        seed=int(seed), constraints=tuple(constraints), metrics=metrics)


def _check_identity(top: dict, source: str, problems: list[tuple[str, str]]) -> tuple[Any, Any]:
    """The spec's ``name`` (default: the file's stem) and ``description``."""
    name = top.get("name", Path(source).stem)
    if not isinstance(name, str) or not name.strip():
        problems.append(("name", f"expected a non-empty string, got {name!r}"))
    description = top.get("description", "")
    if not isinstance(description, str):
        problems.append(("description", f"expected a string, got {description!r}"))
    return name, description


def _check_combination(top: dict, problems: list[tuple[str, str]]) -> tuple[Any, Any, Any]:
    """``combine``, and the ``samples`` and ``seed`` that only a random sweep takes."""
    combine = top.get("combine", "grid")
    if combine not in COMBINE_MODES:
        problems.append(("combine", f"{combine!r} is not one of: {', '.join(COMBINE_MODES)}"))
    samples = top.get("samples")
    seed = top.get("seed", 0)
    if combine == "random":
        if not (isinstance(samples, int) and not isinstance(samples, bool) and samples >= 1):
            problems.append(("samples", f"combine: random needs samples, a positive integer; "
                                        f"got {samples!r}"))
    elif samples is not None:
        problems.append(("samples", "only allowed with combine: random"))
    if "seed" in top and combine != "random":
        problems.append(("seed", "only allowed with combine: random"))
    if not (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0):
        problems.append(("seed", f"expected a non-negative integer, got {seed!r}"))
    return combine, samples, seed


def _check_axes(raw_axes: Any, combine: str, base_dir: Path,
                problems: list[tuple[str, str]]) -> list[Axis]:
    """Each axis, and no field set by two of them."""
    axes: list[Axis] = []
    if raw_axes is None:
        return axes
    if not isinstance(raw_axes, dict):
        problems.append(("axes", f"expected a mapping of axis names to values, got "
                                 f"{raw_axes!r}"))
        return axes
    for axis_name, axis_spec in raw_axes.items():
        axis = _check_axis(axis_name, axis_spec, combine, base_dir, problems)
        if axis is not None:
            axes.append(axis)
    owners: dict[str, str] = {}
    for axis in axes:
        for path, _ in axis.targets:
            if path in owners:
                problems.append((f"axes.{axis.name}", f"{path} is also set by axis "
                                                      f"{owners[path]}"))
            owners[path] = axis.name
    return axes


def _check_axis_counts(axes: Sequence[Axis], combine: Any, samples: Any,
                       problems: list[tuple[str, str]]) -> None:
    """zip needs axes of equal length; random cannot draw more distinct points than a grid of
    listed values has."""
    if combine == "zip" and axes:
        lengths = {a.name: len(a.values or ()) for a in axes}
        if len(set(lengths.values())) > 1:
            problems.append(("axes", "combine: zip needs axes of equal length; got "
                             + ", ".join(f"{k}: {v}" for k, v in lengths.items())))
    if combine == "random" and axes and isinstance(samples, int) \
            and all(a.values is not None for a in axes):
        n_grid = math.prod(len(a.values or ()) for a in axes)
        if samples > n_grid:
            problems.append(("samples", f"{samples} exceeds the {n_grid} distinct points of "
                                        f"the axes' values; use combine: grid"))


def _check_constraints(raw_cons: Any, axes: Sequence[Axis],
                       problems: list[tuple[str, str]]) -> list[Expression]:
    """Each constraint parsed, reading only names a point has."""
    constraints: list[Expression] = []
    if raw_cons is None:
        return constraints
    if not isinstance(raw_cons, list):
        problems.append(("constraints", f"expected a list of expressions, got {raw_cons!r}"))
        return constraints
    axis_names = {a.name for a in axes}
    for i, text_c in enumerate(raw_cons):
        where = f"constraints[{i}]"
        if not isinstance(text_c, str):
            problems.append((where, f"expected an expression string, got {text_c!r}"))
            continue
        try:
            expr = parse_expression(text_c)
        except ExpressionError as err:
            problems.append((where, err.message))
            continue
        bad = [(n, msg) for n in expr.names
               if (msg := point_name_problem(n, axis_names)) is not None]
        for n, msg in bad:
            problems.append((where, f"{n}: {msg}"))
        if not bad:
            constraints.append(expr)
    return constraints


def _check_metrics(raw_metrics: Any, problems: list[tuple[str, str]]) -> tuple[str, ...]:
    """The metric columns to keep (default :data:`DEFAULT_METRICS`)."""
    if raw_metrics is None:
        return DEFAULT_METRICS
    if not isinstance(raw_metrics, list) or not raw_metrics:
        problems.append(("metrics", f"expected a non-empty list of metric names, got "
                                    f"{raw_metrics!r}"))
        return DEFAULT_METRICS
    known = known_metrics()
    for i, m in enumerate(raw_metrics):
        if m not in known:
            problems.append((f"metrics[{i}]", f"unknown metric {m!r}; known: "
                                              f"{', '.join(known)}"))
        elif raw_metrics.index(m) != i:
            problems.append((f"metrics[{i}]", f"duplicate metric {m!r}"))
    return tuple(raw_metrics)


def point_name_problem(name: str, axis_names: set[str] | frozenset[str] = frozenset()) \
        -> str | None:
    """Why a constraint cannot read ``name`` from a point, or None when it can."""
    if name in axis_names or name in AREA_COLUMNS:
        return None
    head, _, rest = name.partition(".")
    if head == "hardware" and rest:
        return hardware_path_problem(rest.split("."), allow_properties=True)
    if head == "workload" and rest:
        return None if rest in WORKLOAD_FIELDS else \
            f"unknown workload key; allowed: {', '.join(WORKLOAD_FIELDS)}"
    names = ", ".join((*sorted(axis_names), *AREA_COLUMNS))
    return f"unknown name; a constraint reads hardware.<path>, workload.<key> or one of: {names}"


# --------------------------------------------------------------------------------------
# Expansion
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One resolved design point. ``error`` is set (and ``hardware`` or ``workload`` may be
    None) when its values make an impossible design; ``key`` hashes everything resolved.
    ``index`` is the combination's number before constraints (gaps mark dropped points)."""

    index: int
    values: tuple[Any, ...]  # one per axis, in the spec's axis order
    hardware: HardwareConfig | None
    workload: Workload | None
    error: str | None
    key: str

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Expansion:
    """The points of a sweep, constraints applied."""

    spec: SweepSpec
    points: tuple[Point, ...]
    n_candidates: int  # combinations before constraints
    n_dropped: int  # dropped by a constraint

    def digest(self) -> str:
        """Identity of the whole expansion: its axes and every point's key, in order."""
        h = hashlib.sha256(json.dumps([a.name for a in self.spec.axes]).encode())
        for p in self.points:
            h.update(p.key.encode())
        return h.hexdigest()[:HASH_CHARS]


def count_points(spec: SweepSpec) -> int:
    """How many combinations ``spec`` makes (before constraints), by arithmetic: nothing is
    expanded, so a spec of 10^9 points is measured as fast as one of ten."""
    if not spec.axes:
        return 1
    if spec.combine == "grid":
        return math.prod(len(a.values or ()) for a in spec.axes)
    if spec.combine == "zip":
        return len(spec.axes[0].values or ())
    return int(spec.samples or 0)


def check_point_count(spec: SweepSpec, max_points: int | None = DEFAULT_MAX_POINTS) -> int:
    """The number of combinations of ``spec``; a :class:`ConfigError` naming the spec when it
    is above ``max_points`` (None: no limit)."""
    n = count_points(spec)
    if max_points is not None and n > max_points:
        field_name = "samples" if spec.combine == "random" else "axes"
        raise ConfigError([(field_name, f"{n:,} points ({spec.combine} of "
                                        f"{len(spec.axes)} axes) exceed the limit of "
                                        f"{max_points:,}; raise it with --max-points N, or "
                                        "use fewer values or combine: random")],
                          source=spec.source)
    return n


def _combinations(spec: SweepSpec) -> list[tuple[Any, ...]]:
    axes = spec.axes
    if not axes:
        return [()]
    if spec.combine == "grid":
        return list(itertools.product(*(a.values or () for a in axes)))
    if spec.combine == "zip":
        return list(zip(*(a.values or () for a in axes), strict=True))
    rng = np.random.default_rng(spec.seed)
    n = int(spec.samples or 0)
    if all(a.values is not None for a in axes):
        # Distinct grid points, in draw order (a duplicate point would add no information).
        shape = tuple(len(a.values or ()) for a in axes)
        total = math.prod(shape)
        if total <= 10_000_000:
            flat = rng.choice(total, size=n, replace=False)
        else:
            seen: dict[int, None] = {}
            while len(seen) < n:
                seen.setdefault(int(rng.integers(total)), None)
            flat = np.fromiter(seen, dtype=np.int64)
        idx = np.unravel_index(flat, shape)
        return [tuple(a.values[int(i[k])] for a, i in zip(axes, idx, strict=True))  # type: ignore[index]
                for k in range(n)]
    columns = []
    for a in axes:
        if a.values is not None:
            columns.append([a.values[int(i)] for i in rng.integers(len(a.values), size=n)])
        else:
            assert a.sample is not None
            columns.append(a.sample.draw(rng, n))
    return list(zip(*columns, strict=True))


def _hash(document: Any) -> str:
    text = json.dumps(document, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]


def _json_default(x: Any) -> Any:
    if isinstance(x, Enum):
        return x.value
    if isinstance(x, np.generic):
        return x.item()
    return str(x)


def sram_bytes(hw: HardwareConfig) -> int:
    """Area proxy: the bytes of every buffer the description declares (a design whose
    buffers alias one physical SRAM, as ViTCoD's weight and activation buffers do, counts
    them as declared)."""
    return int(sum(hw.buffer_bytes.values()))


def hardware_value(hw: HardwareConfig, path: str) -> Any:
    """The value at dotted ``path`` of ``hw`` (fields and derived properties; enums as text)."""
    node: Any = hw
    for part in path.split("."):
        node = getattr(node, part)
    if isinstance(node, Enum):
        return node.value
    if isinstance(node, np.generic):
        return node.item()
    if not _is_scalar(node):
        raise ExpressionError(f"hardware.{path} is not a single value")
    return node


class _Resolver:
    """Resolves workloads and hardware descriptions, memoised (a grid repeats them), and
    keys points."""

    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec
        self._hw: dict[str, tuple[HardwareConfig | None, str | None]] = {}
        self._files: dict[str, tuple[str, str | None]] = {}  # path -> (sha256, model)
        self._wl: dict[str, tuple[Workload | None, str | None]] = {}
        # JSON text of hardware sections and workloads by id(), with the object kept alive
        # so that its id is not reused: a point's hardware shares every section it does not
        # override with the base design, so most of its key text is written once.
        self._text: dict[int, tuple[Any, str]] = {}

    def _json(self, obj: Any, plain: Callable[[Any], Any]) -> str:
        hit = self._text.get(id(obj))
        if hit is None:
            hit = (obj, json.dumps(plain(obj), sort_keys=True, default=_json_default))
            self._text[id(obj)] = hit
        return hit[1]

    def key(self, hw: HardwareConfig, wl: Workload) -> str:
        """The point's key: ``_hash({"hardware": to_dict(hw), "workload": wl.document()
        [, "baselines": ...]})``, the same text composed from the sections' cached texts
        (``json.dumps(..., sort_keys=True)`` writes a mapping as its sorted keys' texts)."""
        hw_parts = [f"{json.dumps(name)}: {self._json(getattr(hw, name), plain_data)}"
                    for name in sorted(section_fields(HardwareConfig))
                    if getattr(hw, name) is not None]
        doc = {"hardware": "{" + ", ".join(hw_parts) + "}",
               "workload": self._json(wl, Workload.document)}
        if self.spec.baselines:  # a point's result includes its ratios over these
            doc["baselines"] = json.dumps(list(self.spec.baselines))
        text = "{" + ", ".join(f"{json.dumps(k)}: {doc[k]}" for k in sorted(doc)) + "}"
        return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]

    def hardware(self, overrides: dict[str, Any]) -> tuple[HardwareConfig | None, str | None]:
        key = json.dumps(overrides, sort_keys=True, default=str)
        if key not in self._hw:
            try:
                hw = apply_overrides(self.spec.base_hardware, overrides) if overrides \
                    else self.spec.base_hardware
                self._hw[key] = (hw, None)
            except VitsimError as err:
                self._hw[key] = (None, _one_line(err))
        return self._hw[key]

    def _file(self, path: str, *, trace: bool) -> tuple[str, str | None]:
        if path not in self._files:
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            model = None
            if trace:
                from vitsim.workloads.trace import WorkloadTrace

                model = WorkloadTrace.load(path).spec.name
            self._files[path] = (digest, model)
        return self._files[path]

    def workload(self, fields: dict[str, Any]) -> tuple[Workload | None, str | None]:
        key = json.dumps(fields, sort_keys=True, default=str)
        if key not in self._wl:
            self._wl[key] = self._workload(fields)
        return self._wl[key]

    def _workload(self, fields: dict[str, Any]) -> tuple[Workload | None, str | None]:
        source = fields.get("source", "synthetic")
        if source not in _SOURCE_KEYS:
            return None, f"workload.source: {source!r} is not one of: " \
                         f"{', '.join(WORKLOAD_SOURCES)}"
        required, optional = _SOURCE_KEYS[source]
        given = {k: v for k, v in fields.items() if k != "source" and v is not None}
        missing = [k for k in required if k not in given]
        extra = [k for k in given if k not in required and k not in optional]
        if missing:
            return None, f"workload: source {source} needs {', '.join(missing)}"
        if extra:
            return None, f"workload: source {source} takes no {', '.join(extra)}"
        if source == "synthetic":
            given.setdefault("seed", 0)
        if given.get("polarize_threshold") is not None and \
                given.get("dense_fraction") is not None:
            return None, "workload: give polarize_threshold or dense_fraction, not both"
        try:
            if source == "trace":
                digest, model = self._file(given["trace"], trace=True)
                given.update(file_sha256=digest, model=model)
            elif source == "mask":
                digest, _ = self._file(given["mask"], trace=False)
                given.update(file_sha256=digest)
                given.setdefault("convention", "pruned")
        except VitsimError as err:
            return None, _one_line(err)
        except OSError as err:
            return None, f"workload: {err}"
        return Workload(source=source, **given), None


def _one_line(err: BaseException) -> str:
    if isinstance(err, VitsimError):
        return err.one_line()
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def expand_sweep(spec: SweepSpec, *, max_points: int | None = DEFAULT_MAX_POINTS) -> Expansion:
    """Every point of ``spec``, resolved, hashed, and filtered by the constraints; refused
    before anything is expanded when the spec has more than ``max_points`` combinations."""
    check_point_count(spec, max_points)
    resolver = _Resolver(spec)
    base_workload = dict(spec.workload)
    points: list[Point] = []
    combos = _combinations(spec)
    n_dropped = 0
    axis_names = [a.name for a in spec.axes]
    for index, combo in enumerate(combos):
        hw_over = dict(spec.hardware_overrides)
        wl_fields = dict(base_workload)
        for axis, value in zip(spec.axes, combo, strict=True):
            for path, v in axis.assignments(value).items():
                head, _, rest = path.partition(".")
                (hw_over if head == "hardware" else wl_fields)[rest] = v
        hw, hw_error = resolver.hardware(hw_over)
        wl, wl_error = resolver.workload(wl_fields)
        error = hw_error or wl_error
        if error is None and spec.constraints:
            assert hw is not None and wl is not None
            env = dict(zip(axis_names, combo, strict=True))

            def lookup(name: str, hw: HardwareConfig = hw, wl: Workload = wl,
                       env: dict = env) -> Any:
                if name in env:
                    return env[name]
                if name == "total_macs":
                    return hw.total_macs
                if name == "sram_bytes":
                    return sram_bytes(hw)
                head, _, rest = name.partition(".")
                if head == "hardware":
                    return hardware_value(hw, rest)
                return getattr(wl, rest)

            try:
                keep = all(c.test(lookup) for c in spec.constraints)
            except ExpressionError as err:
                raise ConfigError([("constraints", err.message)], source=spec.source) from None
            if not keep:
                n_dropped += 1
                continue
        if error is None:
            assert hw is not None and wl is not None
            key = resolver.key(hw, wl)
        else:
            key = _hash({"overrides": hw_over, "workload": wl_fields, "error": error})
        points.append(Point(index, tuple(combo), hw, wl, error, key))
    return Expansion(spec, tuple(points), len(combos), n_dropped)
