"""Measured mode: per-operator times of a real machine, as a profile file.

``vitsim baseline measure`` times the operator list of
:func:`~vitsim.simulator.baselines.operators.platform_operators` with torch
(:mod:`vitsim.models.measure`) and writes a :class:`PlatformProfile` (:func:`write_profile`);
:func:`measured` turns it into a :class:`~vitsim.simulator.baselines.result.BaselineResult`
of kind ``MEASURED`` with the same operator names, so a comparison can use it in place of the
roofline.
"""

from __future__ import annotations

import datetime
import math
import os
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from vitsim.atomic import atomic_output, check_new_file
from vitsim.errors import ConfigError, VitsimError
from vitsim.hw_configs.loader import build_validated, plain_data, yaml_document
from vitsim.hw_configs.platforms import AttentionMode, PlatformConfig, Precision
from vitsim.hw_configs.schema import (
    FieldCheck,
    Validated,
    enum_field,
    field_meta,
    pos_int_field,
    str_field,
)
from vitsim.simulator.baselines.operators import aggregate_times, platform_operators
from vitsim.simulator.baselines.result import BaselineKind, BaselineResult, OperatorTime
from vitsim.simulator.baselines.roofline import energy_basis, op_energy_j
from vitsim.simulator.counts import STAGES
from vitsim.strict_yaml import check_keys, load_strict
from vitsim.workloads.model_spec import ModelSpec, spec_from_dict

__all__ = [
    "PROFILE_SCHEMA_VERSION",
    "PlatformProfile",
    "ProfileMachine",
    "ProfileOperator",
    "ProfileTiming",
    "ProfileWorkload",
    "dump_profile",
    "load_profile",
    "measured",
    "profile_from_dict",
    "profile_from_timings",
    "profile_to_dict",
    "write_profile",
]

PROFILE_SCHEMA_VERSION = 1
_PROFILE_KEYS = ("schema_version", "machine", "workload", "timing", "operators")


@dataclass(frozen=True)
class ProfileMachine(Validated):
    """The machine a profile was measured on."""

    device: str = field(metadata=str_field("cpu or cuda"))
    device_name: str = field(metadata=str_field("CPU model or GPU name"))
    cpu_model: str = field(metadata=str_field("host CPU model (from /proc/cpuinfo or platform)"))
    logical_cpus: int = field(metadata=pos_int_field("logical CPUs of the host"))
    os: str = field(metadata=str_field("platform.platform()"))
    python: str = field(metadata=str_field("Python version"))
    torch: str = field(metadata=str_field("torch version"))
    threads: int = field(metadata=pos_int_field("torch intra-op threads"))
    load_average_1min: float | None = field(default=None, metadata=field_meta(
        FieldCheck("float", lo=0.0, optional=True),
        "host load average over the last minute when measuring began (others' work "
        "competing for the cores inflates the times)"))


@dataclass(frozen=True)
class ProfileWorkload(Validated):
    """What was measured: the model (its spec parameters), batch and attention."""

    model: str = field(metadata=str_field("model name"))
    model_spec: Mapping[str, Any] = field(metadata={"doc": "ModelSpec.to_dict() of the model"})
    batch: int = field(metadata=pos_int_field("images per inference"))
    attention_mode: AttentionMode = field(metadata=enum_field(AttentionMode, "attention mode"))
    sparsity: float = field(metadata=field_meta(FieldCheck("float", lo=0.0, hi=1.0, hi_open=True),
                                           "attention sparsity of the fixed mask"))
    precision: Precision = field(metadata=enum_field(Precision, "fp32 or fp16"))


@dataclass(frozen=True)
class ProfileTiming(Validated):
    """How the times were taken."""

    warmup: int = field(metadata=field_meta(FieldCheck("int", lo=0), "untimed passes first"))
    repeats: int = field(metadata=pos_int_field("timed passes"))
    statistic: str = field(metadata=str_field("per-operator statistic over the passes (median)"))
    forward_ms: float = field(metadata=field_meta(
        FieldCheck("float", lo=0.0), "median of whole forward passes, no per-op synchronisation"))
    created_utc: str = field(metadata=str_field("when the profile was measured, ISO 8601"))


@dataclass(frozen=True)
class ProfileOperator(Validated):
    """One operator occurrence (one block) of the measured forward pass."""

    name: str = field(metadata=str_field("operator name, as in the roofline"))
    stage: str = field(metadata=str_field("ViT stage (counts.STAGES)"))
    block: int = field(metadata=field_meta(FieldCheck("int", lo=-1), "block index; -1 = stem"))
    median_ms: float = field(metadata=field_meta(FieldCheck("float", lo=0.0), "median time, ms"))
    min_ms: float = field(metadata=field_meta(FieldCheck("float", lo=0.0), "fastest time, ms"))

    def _cross_problems(self) -> list[tuple[str, str]]:
        if self.stage not in STAGES:
            return [("stage", f"unknown stage {self.stage!r}; allowed: {', '.join(STAGES)}")]
        return []


@dataclass(frozen=True)
class PlatformProfile:
    """Per-operator times of one model measured on one machine (``vitsim baseline measure``)."""

    machine: ProfileMachine
    workload: ProfileWorkload
    timing: ProfileTiming
    operators: tuple[ProfileOperator, ...]

    @property
    def latency_ms(self) -> float:
        """Sum of the per-operator medians of one forward pass."""
        return math.fsum(op.median_ms for op in self.operators)

    def spec(self) -> ModelSpec:
        return spec_from_dict(dict(self.workload.model_spec), source="profile model_spec")


def profile_from_dict(data: Any, *, source: str | None = None) -> PlatformProfile:
    """Validate a parsed profile; every problem at once, with its key path."""
    problems: list[tuple[str, str]] = []
    top = check_keys(data, path="", required=_PROFILE_KEYS, problems=problems)
    version = top.get("schema_version")
    if "schema_version" in top and version != PROFILE_SCHEMA_VERSION:
        problems.append(("schema_version", f"unsupported profile schema {version!r}; this "
                                           f"vitsim reads {PROFILE_SCHEMA_VERSION}"))
    machine = build_validated(ProfileMachine, top["machine"], "machine", problems) \
        if "machine" in top else None
    workload = None
    if "workload" in top:
        raw = top["workload"]
        if isinstance(raw, dict) and "model_spec" in raw and not isinstance(raw["model_spec"],
                                                                          dict):
            problems.append(("workload.model_spec", "expected a mapping"))
        else:
            workload = build_validated(ProfileWorkload, raw, "workload", problems)
    timing = build_validated(ProfileTiming, top["timing"], "timing", problems) if "timing" in top \
        else None
    operators: list[ProfileOperator] = []
    raw_ops = top.get("operators")
    if "operators" in top and not isinstance(raw_ops, list):
        problems.append(("operators", "expected a list of operators"))
    elif isinstance(raw_ops, list):
        if not raw_ops:
            problems.append(("operators", "empty; a profile times at least one operator"))
        for j, item in enumerate(raw_ops):
            op = build_validated(ProfileOperator, item, f"operators[{j}]", problems)
            if op is not None:
                operators.append(op)
    if problems or machine is None or workload is None or timing is None:
        raise ConfigError(problems or [("", "invalid profile")], source=source)
    return PlatformProfile(machine=machine, workload=workload, timing=timing,
                           operators=tuple(operators))


def load_profile(path: str | os.PathLike[str]) -> PlatformProfile:
    """Read a platform profile (YAML) strictly; a bad file is one ConfigError naming it."""
    return profile_from_dict(load_strict(Path(path)), source=str(path))


def profile_to_dict(profile: PlatformProfile) -> dict[str, Any]:
    return {
        "schema_version": PROFILE_SCHEMA_VERSION,
        "machine": plain_data(profile.machine),
        "workload": plain_data(profile.workload),
        "timing": plain_data(profile.timing),
        "operators": [plain_data(op) for op in profile.operators],
    }


def dump_profile(profile: PlatformProfile) -> str:
    """YAML text of ``profile``; ``profile_from_dict(loads_strict(text)) == profile``."""
    m, w = profile.machine, profile.workload
    header = (f"# vitsim platform profile: {w.model}, batch {w.batch}, {w.attention_mode.value},"
              f" measured on {m.device} ({m.device_name}), torch {m.torch}, "
              f"{m.threads} threads\n")
    return yaml_document(profile_to_dict(profile), header, width=100)


def write_profile(profile: PlatformProfile, path: str | os.PathLike[str]) -> Path:
    """Write ``profile`` to a new file ``path`` atomically; an existing file is an error."""
    path = Path(path)
    check_new_file(path)
    with atomic_output(path) as tmp:
        tmp.write_text(dump_profile(profile), encoding="utf-8")
        if path.exists():  # appeared while measuring or writing
            raise VitsimError("already exists; remove it or choose another --out",
                              source=str(path))
    return path


def measured(profile: PlatformProfile, *, platform: PlatformConfig | None = None,
             name: str | None = None) -> BaselineResult:
    """A MEASURED BaselineResult from ``profile``: per operator name, the sum over its
    occurrences of the median times; FLOPs and bytes from the same op list as the roofline.

    With a ``platform``, each operator's energy is its power model (idle + utilisation-scaled
    dynamic power, the utilisation from the op's FLOPs and bytes over its measured time) x
    its measured time: a power applied to times measured elsewhere, as provenance says.
    Without one the energy is NaN (unknown).
    """
    w = profile.workload
    spec = profile.spec()
    ops = platform_operators(spec, batch=w.batch, attention_mode=w.attention_mode,
                             kept_density=1.0 - w.sparsity, precision=w.precision)
    got = [(op.name, op.block) for op in profile.operators]
    want = [(op.name, op.block) for op in ops]
    if got != want:
        first = next((j for j, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
                     min(len(got), len(want)))
        detail = (f"operator {first}: profile has {got[first] if first < len(got) else 'none'}"
                  f", expected {want[first] if first < len(want) else 'none'}")
        raise VitsimError(f"profile operators do not match {spec.name}'s operator list "
                          f"({detail}); re-measure with this vitsim", source="profile")
    times = [op.median_ms for op in profile.operators]
    energies = None if platform is None else [
        op_energy_j(op, platform, t * 1e-3) * 1e3 for op, t in zip(ops, times, strict=True)]
    operators = tuple(
        OperatorTime(name=o.name, stage=o.stage, latency_ms=o.latency_ms, count=o.count,
                     flops=o.flops, dram_bytes=o.dram_bytes, bound="measured",
                     energy_mj=o.energy_mj)
        for o in aggregate_times(ops, times, ["measured"] * len(ops), energies)
    )
    latency_ms = math.fsum(times)
    m = profile.machine
    provenance = {
        "device": m.device, "device_name": m.device_name, "cpu_model": m.cpu_model,
        "torch": m.torch, "threads": str(m.threads), "os": m.os,
        "attention_mode": w.attention_mode.value, "kept_density": f"{1.0 - w.sparsity:.6g}",
        "precision": w.precision.value,
        "timing": f"{profile.timing.statistic} of {profile.timing.repeats} passes after "
                  f"{profile.timing.warmup} warm-up, per operator, synchronised",
        "forward_ms": f"{profile.timing.forward_ms:.6g}",
        "created_utc": profile.timing.created_utc,
    }
    if energies is not None and platform is not None:
        energy = math.fsum(energies)
        provenance["energy"] = f"{energy_basis(platform)}, of {platform.name}"
    else:
        energy = math.nan
        provenance["energy"] = "unknown: no platform power given"
    label = name or f"measured-{m.device}"
    return BaselineResult(baseline=label, kind=BaselineKind.MEASURED, model=w.model,
                          batch=w.batch, latency_ms=latency_ms, energy_mj=energy,
                          operators=operators, provenance=MappingProxyType(provenance))


def profile_from_timings(
    spec: ModelSpec,
    samples_ns: Sequence[Sequence[int]],
    forward_ns: Sequence[int],
    machine: Mapping[str, Any],
    *,
    batch: int,
    sparsity: float,
    precision: Precision | str,
    warmup: int,
    repeats: int,
    created_utc: str | None = None,
) -> PlatformProfile:
    """The profile of one measured forward pass of ``spec`` (``dense_masked`` attention).

    ``samples_ns[j]`` are the timed passes of operator ``j`` of ``platform_operators(spec,
    batch=batch, kept_density=1 - sparsity, precision=precision)``, in nanoseconds; an
    operator's time is their median. ``machine`` holds the fields of
    :class:`ProfileMachine` (``vitsim.models.measure.machine_info``).
    """
    precision = Precision(precision)
    ops = platform_operators(spec, batch=batch, attention_mode=AttentionMode.DENSE_MASKED,
                             kept_density=1.0 - sparsity, precision=precision)
    if len(samples_ns) != len(ops):
        raise VitsimError(f"{len(samples_ns)} timed operators for {len(ops)} in "
                          f"{spec.name}'s operator list", source="profile")
    operators = tuple(
        ProfileOperator(name=op.name, stage=op.stage, block=op.block,
                        median_ms=statistics.median(s) / 1e6, min_ms=min(s) / 1e6)
        for op, s in zip(ops, samples_ns, strict=True)
    )
    workload = ProfileWorkload(model=spec.name, model_spec=spec.to_dict(), batch=batch,
                               attention_mode=AttentionMode.DENSE_MASKED,
                               sparsity=float(sparsity), precision=precision)
    when = created_utc or datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds")
    timing = ProfileTiming(warmup=warmup, repeats=repeats, statistic="median",
                           forward_ms=statistics.median(forward_ns) / 1e6, created_utc=when)
    return PlatformProfile(machine=ProfileMachine(**machine), workload=workload, timing=timing,
                           operators=operators)
