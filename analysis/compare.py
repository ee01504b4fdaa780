"""The headline comparison: a simulated accelerator against CPU/GPU platforms and peer
accelerators, in two scopes, and ViTCoD's own comparison (``vitsim reproduce``).

Scopes:

- ``attention``: the attention of every head (Q K^T, softmax, S V, and on vitsim's
  accelerator the decoder on the load path; on platforms the head merge that follows S V).
  This is the scope of ViTCoD's released simulator, which counts attention cycles only, and
  of the accelerator's design target.
- ``end_to_end``: the whole model, linear layers, layer norms and activations included.

Speedup = baseline latency / accelerator latency; energy efficiency = baseline energy /
accelerator energy (both per image, same batch). A platform's attention energy is the energy
of its attention operators (idle + utilisation-scaled power x their time); an accelerator's
attention energy is the energy of its attention rows (leakage over their cycles included).

Brackets: a peer's headline rests on an assumption that moves it, so :func:`compare` also
runs the peer under the other assumption and its rows carry that ratio (``bracket``,
``bracket_speedup``, ``bracket_energy_efficiency``): Sanger *without* its mask prediction
(given the mask for free, as ViTCoD's fixed mask is), SpAtten *with* its LSB re-fetch
(:data:`LSB_REFETCH_BRACKET` of the heads; its own behaviour model charges none, the default).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitsim.errors import VitsimError
from vitsim.hw_configs.schema import HardwareConfig
from vitsim.simulator.baselines.result import BaselineResult
from vitsim.simulator.counts import STAGES
from vitsim.simulator.prepared import Evaluation
from vitsim.simulator.results import SimulationResult
from vitsim.workloads.trace import WorkloadTrace

SCOPES = ("attention", "end_to_end")
ATTENTION_STAGES = frozenset({"qk", "softmax", "sv", "decode"})

# ViTCoD (You et al., HPCA 2023), abstract: speedups "of up to" these over each baseline at
# 90% attention sparsity, the maximum over its models (DeiT-Tiny/Small/Base, LeViT-128/192/256).
PAPER_SPEEDUP_UP_TO = {"cpu": 235.3, "edge_gpu": 142.9, "gpu": 86.0, "spatten": 10.1,
                       "sanger": 6.8}
# The vitsim baseline standing for each of the paper's baselines: the platforms the paper
# names (a Xeon Gold 6230R, a Jetson Xavier NX, an RTX 2080 Ti; `jetson-tx2`, which ViTCoD's
# released code profiles, and `xeon-gold-6230` remain presets to compare with by name).
PAPER_BASELINES = {"cpu": "xeon-gold-6230r", "edge_gpu": "jetson-xavier-nx",
                   "gpu": "rtx-2080ti", "spatten": "spatten", "sanger": "sanger"}
# SpAtten's LSB re-fetch rate in the bracket: its GPT-2 workload re-fetches the key LSBs of
# 24 of 144 (layer, head) pairs per iteration after the first (hw_configs/presets/peers/
# spatten.yaml, [workload]); the preset's default is 0, as its behaviour model charges none.
LSB_REFETCH_BRACKET = 0.167
PAPER_MODELS = ("deit-tiny", "deit-small", "deit-base", "levit-128", "levit-192", "levit-256")
PAPER_SPARSITY = 0.9


@dataclass(frozen=True)
class Scoped:
    """Latency and energy of one design on one model, per scope (per image)."""

    latency_ms: dict[str, float]
    energy_mj: dict[str, float]
    by_stage_ms: dict[str, float]


@dataclass(frozen=True)
class ComparisonRow:
    model: str
    baseline: str  # as requested: a preset name or a file
    baseline_config: str  # the configuration that ran, e.g. "sanger@vitcod"
    kind: str  # roofline | measured | accelerator
    scope: str
    accelerator: str
    accelerator_latency_ms: float
    baseline_latency_ms: float
    speedup: float
    accelerator_energy_mj: float
    baseline_energy_mj: float
    energy_efficiency: float
    configuration: str  # how the baseline's numbers were obtained
    # The same ratios under the peer's other assumption (see the module docstring); "" and
    # NaN where the baseline has no bracketed assumption.
    bracket: str = ""  # e.g. "sanger without mask prediction"
    bracket_speedup: float = math.nan
    bracket_energy_efficiency: float = math.nan

    def as_dict(self) -> dict:
        """The row as a dict; the ``bracket*`` keys only on rows that have a bracket."""
        out = dict(self.__dict__)
        if not self.bracket:
            for key in ("bracket", "bracket_speedup", "bracket_energy_efficiency"):
                del out[key]
        return out


def accelerator_scoped(result: SimulationResult) -> Scoped:
    """Per-scope latency and energy of a vitsim simulation."""
    t = result.stages
    ms_per_cycle = 1e3 / result.hardware.clock_hz
    att = np.isin(t.stage, [STAGES.index(s) for s in ATTENTION_STAGES])
    energy_rows = sum(np.asarray(v) for v in result.energy_pj.values())
    by_stage: dict[str, float] = {}
    for code, cycles in zip(t.stage.tolist(), t["total_cycles"].tolist(), strict=True):
        by_stage[STAGES[code]] = by_stage.get(STAGES[code], 0.0) + cycles * ms_per_cycle
    return Scoped(
        latency_ms={"attention": float(t["total_cycles"][att].sum()) * ms_per_cycle,
                    "end_to_end": result.totals.latency_ms},
        energy_mj={"attention": float(energy_rows[att].sum()) * 1e-9,
                   "end_to_end": result.totals.energy_mj},
        by_stage_ms=by_stage,
    )


def evaluation_scoped(ev: Evaluation) -> Scoped:
    """:func:`accelerator_scoped` of a prepared evaluation, without building its stage table
    (the same numbers: each row's milliseconds summed per stage in row order)."""
    ms_per_cycle = 1e3 / ev.hardware.clock_hz
    codes = ev.stage
    per_stage = np.bincount(codes, weights=ev.column("total_cycles") * ms_per_cycle,
                            minlength=len(STAGES))
    _, first = np.unique(codes, return_index=True)
    by_stage = {STAGES[codes[i]]: float(per_stage[codes[i]]) for i in np.sort(first)}
    return Scoped(
        latency_ms={"attention": ev.attention_latency_ms, "end_to_end": ev.totals.latency_ms},
        energy_mj={"attention": ev.attention_energy_mj, "end_to_end": ev.totals.energy_mj},
        by_stage_ms=by_stage,
    )


def baseline_scoped(b: BaselineResult) -> Scoped:
    """Per-scope latency and energy (per image) of a baseline."""
    att_ms = math.fsum(o.latency_ms for o in b.operators if o.stage in ATTENTION_STAGES)
    att_energy = math.fsum(o.energy_mj for o in b.operators if o.stage in ATTENTION_STAGES) \
        if any(o.energy_mj for o in b.operators) else \
        (b.energy_mj * att_ms / b.latency_ms if b.latency_ms else 0.0)
    return Scoped(
        latency_ms={"attention": att_ms / b.batch, "end_to_end": b.latency_ms_per_image},
        energy_mj={"attention": att_energy / b.batch, "end_to_end": b.energy_mj_per_image},
        by_stage_ms={k: v / b.batch for k, v in b.by_stage_ms().items()},
    )


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.inf


def comparison_rows(model: str, accelerator: str, acc: Scoped,
                    baselines: Iterable[tuple[str, BaselineResult]], *,
                    brackets: Mapping[str, tuple[str, BaselineResult]] | None = None,
                    ) -> list[ComparisonRow]:
    """One row per (baseline, scope); ``baselines`` are (requested name, result) pairs;
    ``brackets`` maps a requested name to (label, result under the other assumption)."""
    rows = []
    brackets = brackets or {}
    for name, b in baselines:
        base = baseline_scoped(b)
        config = "; ".join(f"{k}: {v}" for k, v in b.provenance.items())
        label, alt = brackets.get(name, ("", None))
        alt_scoped = baseline_scoped(alt) if alt is not None else None
        for scope in SCOPES:
            extra = {} if alt_scoped is None else {
                "bracket": label,
                "bracket_speedup": _ratio(alt_scoped.latency_ms[scope], acc.latency_ms[scope]),
                "bracket_energy_efficiency": _ratio(alt_scoped.energy_mj[scope],
                                                    acc.energy_mj[scope]),
            }
            rows.append(ComparisonRow(
                model=model, baseline=name, baseline_config=b.baseline, kind=b.kind.value,
                scope=scope,
                accelerator=accelerator,
                accelerator_latency_ms=acc.latency_ms[scope],
                baseline_latency_ms=base.latency_ms[scope],
                speedup=_ratio(base.latency_ms[scope], acc.latency_ms[scope]),
                accelerator_energy_mj=acc.energy_mj[scope],
                baseline_energy_mj=base.energy_mj[scope],
                energy_efficiency=_ratio(base.energy_mj[scope], acc.energy_mj[scope]),
                configuration=config,
                **extra,
            ))
    return rows


# ---------------------------------------------------------------------------------------------
# Baselines by name


def known_baselines() -> tuple[str, ...]:
    """Every baseline name ``run_baseline`` accepts (profiles are given as files)."""
    from vitsim.hw_configs.peers import known_peers
    from vitsim.hw_configs.platforms import known_platforms

    return (*known_platforms(), *known_peers())


def run_baseline(name: str, trace: WorkloadTrace, hw: HardwareConfig, *,
                 batch: int = 1, normalise: bool = True) -> BaselineResult:
    """The baseline ``name`` on ``trace``: a platform preset or file (roofline), a measured
    profile (written by ``vitsim baseline measure``), or a peer accelerator preset or file
    (normalised to ``hw``'s MACs, clock and bandwidth unless ``normalise`` is false; peers
    run one image at a time, so ``batch`` applies to platforms only)."""
    from vitsim.hw_configs.peers import PeerKind, known_peers, load_peer
    from vitsim.hw_configs.platforms import known_platforms, load_platform
    from vitsim.simulator import baselines as plat
    from vitsim.strict_yaml import load_strict

    if name in known_peers():
        return _run_peer(load_peer(name), trace, hw if normalise else None)
    if name in known_platforms():
        return plat.roofline(load_platform(name), trace.spec, trace=trace, batch=batch)
    path = Path(name)
    if not path.is_file():
        raise VitsimError(f"unknown baseline {name!r}; known: {', '.join(known_baselines())}, "
                          f"or a platform, peer or profile file", source=name)
    data = load_strict(path)
    if isinstance(data, dict) and data.get("kind") in {k.value for k in PeerKind}:
        return _run_peer(load_peer(path), trace, hw if normalise else None)
    if isinstance(data, dict) and "operators" in data and "machine" in data:
        profile = plat.load_profile(path)
        if profile.workload.model != trace.spec.name:
            raise VitsimError(f"profile is of {profile.workload.model}, not {trace.spec.name}",
                              source=str(path), field="workload.model")
        return plat.measured(profile)
    return plat.roofline(load_platform(path), trace.spec, trace=trace, batch=batch)


def peer_bracket(cfg):
    """(label, the peer under its other assumption) for a Sanger or SpAtten description: Sanger
    with its mask prediction switched (off by default in the bracket), SpAtten with its LSB
    re-fetch switched (on, at :data:`LSB_REFETCH_BRACKET`, by default in the bracket)."""
    import dataclasses

    from vitsim.hw_configs.peers import SangerConfig

    if isinstance(cfg, SangerConfig):
        on = cfg.prediction.enabled
        return (f"{cfg.name} {'without' if on else 'with'} mask prediction",
                dataclasses.replace(cfg, prediction=dataclasses.replace(
                    cfg.prediction, enabled=not on)))
    quant = cfg.quantization
    fraction = LSB_REFETCH_BRACKET if quant.lsb_refetch_fraction == 0 else 0.0
    return (f"{cfg.name} {'with' if fraction else 'without'} LSB re-fetch"
            + (f" ({fraction:g} of heads)" if fraction else ""),
            dataclasses.replace(cfg, quantization=dataclasses.replace(
                quant, lsb_refetch_fraction=fraction)))


def run_bracket(name: str, trace: WorkloadTrace, hw: HardwareConfig, *,
                normalise: bool = True) -> tuple[str, BaselineResult] | None:
    """The baseline ``name`` under its other assumption (a peer preset or file; see
    :func:`peer_bracket`), as (label, result); None for baselines without one."""
    from vitsim.hw_configs.peers import PeerKind, known_peers, load_peer
    from vitsim.strict_yaml import load_strict

    if name in known_peers():
        cfg = load_peer(name)
    elif name.endswith((".yaml", ".yml")) and Path(name).is_file():
        data = load_strict(Path(name))
        if not (isinstance(data, dict) and data.get("kind") in {k.value for k in PeerKind}):
            return None
        cfg = load_peer(Path(name))
    else:
        return None
    label, alt = peer_bracket(cfg)
    return label, _run_peer(alt, trace, hw if normalise else None)


def _run_peer(cfg, trace: WorkloadTrace, normalise_to: HardwareConfig | None) -> BaselineResult:
    from vitsim.hw_configs.peers import SangerConfig
    from vitsim.simulator.peers.sanger import simulate_sanger
    from vitsim.simulator.peers.spatten import simulate_spatten

    if isinstance(cfg, SangerConfig):
        return simulate_sanger(trace, cfg, normalise_to=normalise_to)
    return simulate_spatten(trace, cfg, normalise_to=normalise_to)


def compare(trace: WorkloadTrace, hw: HardwareConfig, baselines: Sequence[str], *,
            batch: int = 1, normalise: bool = True) -> tuple[SimulationResult, list[BaselineResult],
                                     list[ComparisonRow]]:
    """Simulate ``trace`` on ``hw`` and compare it with every baseline, in both scopes; the
    peers' rows carry their bracket (module docstring)."""
    from vitsim.simulator.simulate import simulate

    result = simulate(trace, hw)
    runs = [run_baseline(name, trace, hw, batch=batch, normalise=normalise)
            for name in baselines]
    brackets = {name: b for name in baselines
                if (b := run_bracket(name, trace, hw, normalise=normalise)) is not None}
    return result, runs, comparison_rows(trace.spec.name, hw.name, accelerator_scoped(result),
                                         zip(baselines, runs, strict=True), brackets=brackets)
