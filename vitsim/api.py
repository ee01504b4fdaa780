"""The Python facade: the pipeline in four calls, for notebooks and scripts.

::

    import vitsim

    r = vitsim.simulate("vitcod", model="deit-tiny", sparsity=0.9)
    r                                   # a few lines; in Jupyter, two small tables
    r.metrics()["latency_ms"]           # flat figures; r.to_frame(): the stage table
    vitsim.compare("vitcod", model="deit-tiny", sparsity=0.9)           # a DataFrame
    vitsim.sweep({"base": {...}, "axes": {...}})                        # a DataFrame

Hardware is a preset name (``"vitcod"``), a YAML file or a
:class:`~vitsim.hw_configs.schema.HardwareConfig`. Hardware overrides use the one dotted
path syntax of ``--set`` and sweep axes, ``hardware.`` prefix optional, given as keyword
arguments: ``**{"hardware.dram.bandwidth_gb_per_s": 153.6}``, or with ``__`` for the dots:
``dram__bandwidth_gb_per_s=153.6``.

The subpackages are imported inside the functions, so ``import vitsim`` stays cheap.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from vitsim.hw_configs.schema import HardwareConfig
    from vitsim.simulator.results import SimulationResult
    from vitsim.workloads.model_spec import ModelSpec
    from vitsim.workloads.trace import WorkloadTrace

__all__ = ["compare", "hardware", "reproduce", "simulate", "sweep", "trace"]

def _override_key(key: str) -> str:
    """``dram__bandwidth_gb_per_s`` -> ``dram.bandwidth_gb_per_s``; dotted keys unchanged."""
    return key if "." in key else key.replace("__", ".")


def hardware(hw: str | os.PathLike[str] | HardwareConfig = "vitcod",
             **overrides: Any) -> HardwareConfig:
    """A hardware description: a preset name, a YAML file or a config, with ``overrides``
    applied by dotted path (see the module docstring)."""
    from vitsim.hw_configs.loader import apply_overrides, load_hardware
    from vitsim.hw_configs.schema import HardwareConfig

    cfg = hw if isinstance(hw, HardwareConfig) else load_hardware(hw)
    if not overrides:
        return cfg
    return apply_overrides(cfg, {_override_key(k): v for k, v in overrides.items()})


@functools.lru_cache(maxsize=16)
def _synthetic(model: str, sparsity: float, seed: int) -> WorkloadTrace:
    from vitsim.workloads.model_spec import get_spec
    from vitsim.workloads.pipeline import trace_synthetic

    return trace_synthetic(get_spec(model), sparsity=sparsity, seed=seed)


def trace(trace: WorkloadTrace | str | os.PathLike[str] | None = None, *,
          model: str | ModelSpec | None = None, sparsity: float | None = None,
          seed: int = 0) -> WorkloadTrace:
    """A workload trace: a :class:`~vitsim.workloads.trace.WorkloadTrace`, a trace file
    (``vitsim trace``), or a synthetic workload of ``model`` (a name such as ``"deit-tiny"``,
    a spec file or a :class:`~vitsim.workloads.model_spec.ModelSpec`) at ``sparsity`` in
    [0, 1) with ``seed``. Synthetic traces of a model name are cached (they are immutable)."""
    return _workload(trace, model, sparsity, seed)


def _workload(trace: Any, model: Any, sparsity: float | None, seed: int) -> WorkloadTrace:
    from vitsim.errors import VitsimError
    from vitsim.workloads.trace import WorkloadTrace

    if trace is not None:
        if model is not None or sparsity is not None:
            raise VitsimError("give a trace or a model with a sparsity, not both",
                              source="trace")
        return trace if isinstance(trace, WorkloadTrace) else WorkloadTrace.load(trace)
    if model is None or sparsity is None:
        raise VitsimError("needs a trace, or a model with a sparsity "
                          "(e.g. model='deit-tiny', sparsity=0.9)", source="workload")
    if not 0.0 <= float(sparsity) < 1.0:
        raise VitsimError(f"must be in [0, 1), got {sparsity}", source="sparsity")
    if isinstance(model, str):
        return _synthetic(model, float(sparsity), int(seed))
    from vitsim.workloads.pipeline import trace_synthetic

    return trace_synthetic(model, sparsity=float(sparsity), seed=int(seed))


def _hw_and_trace(hw: Any, trace_: Any) -> tuple[Any, Any]:
    """Accept ``simulate(trace, "vitcod")`` as well as ``simulate("vitcod", trace)``."""
    from vitsim.workloads.trace import WorkloadTrace

    if isinstance(hw, WorkloadTrace):
        return trace_, hw
    return hw, trace_


def simulate(hw: str | os.PathLike[str] | HardwareConfig = "vitcod",
             trace: WorkloadTrace | str | os.PathLike[str] | None = None, *,
             model: str | ModelSpec | None = None, sparsity: float | None = None,
             seed: int = 0, **overrides: Any) -> SimulationResult:
    """Simulate one design point.

    ``hw``: a preset name (``"vitcod"``, ``"systolic-os"``, ...), a YAML file or a config;
    the workload: ``trace`` (a trace or a trace file) or ``model`` with ``sparsity`` (and
    ``seed``) for a synthetic one; ``overrides``: hardware fields by dotted path
    (``**{"hardware.dram.bandwidth_gb_per_s": 153.6}`` or ``dram__bandwidth_gb_per_s=153.6``).

    >>> r = simulate("vitcod", model="deit-tiny", sparsity=0.9)   # doctest: +SKIP
    """
    from vitsim.simulator.simulate import simulate as run

    hw, trace = _hw_and_trace(hw, trace)
    return run(_workload(trace, model, sparsity, seed),
               hardware(hw, **overrides))


def compare(hw: str | os.PathLike[str] | HardwareConfig = "vitcod",
            trace: WorkloadTrace | str | os.PathLike[str] | None = None, *,
            model: str | ModelSpec | None = None, sparsity: float | None = None,
            seed: int = 0, baselines: Sequence[str] | None = None, batch: int = 1,
            normalise: bool = True, **overrides: Any) -> pd.DataFrame:
    """The design against its baselines (default: the paper's five), one row per baseline
    and scope (``attention``, ``end_to_end``): latencies (ms), energies (mJ), ``speedup``
    and ``energy_efficiency`` (baseline over design). Arguments as :func:`simulate`;
    ``normalise=False`` runs the peer accelerators at their published configuration."""
    import pandas as pd

    from vitsim.analysis.compare import PAPER_BASELINES
    from vitsim.analysis.compare import compare as run

    hw, trace = _hw_and_trace(hw, trace)
    names = list(baselines) if baselines is not None else list(PAPER_BASELINES.values())
    _, _, rows = run(_workload(trace, model, sparsity, seed),
                     hardware(hw, **overrides), names, batch=batch, normalise=normalise)
    return pd.DataFrame([r.as_dict() for r in rows])


def reproduce(out: str | os.PathLike[str] | None = None, *,
              hw: str | os.PathLike[str] | HardwareConfig = "vitcod",
              models: Sequence[str] | None = None, sparsity: float = 0.9, seed: int = 0,
              masks: Mapping[str, str] | None = None, **overrides: Any) -> Any:
    """ViTCoD's headline comparison (``vitsim reproduce``): the paper's six models against
    its five baselines. Returns the :class:`~vitsim.analysis.reproduce.Reproduction`
    (``.document()`` is the JSON form); with ``out``, also writes the tables and figures
    there (a new directory)."""
    from vitsim.analysis.compare import PAPER_MODELS
    from vitsim.analysis.reproduce import reproduce as run
    from vitsim.analysis.reproduce import write_reproduction

    rep = run(hw=hardware(hw, **overrides),
              models=tuple(models) if models is not None else PAPER_MODELS,
              sparsity=sparsity, seed=seed, masks=masks)
    if out is not None:
        write_reproduction(out, rep)
    return rep


def sweep(spec: Mapping[str, Any] | str | os.PathLike[str] | Any, *,
          workers: int | None = None, out: str | os.PathLike[str] | None = None,
          runner: str | None = None, resume: bool = False,
          progress: bool = False) -> pd.DataFrame:
    """Run a design-space sweep and return its table, one row per point: the axes, the
    area proxy, the metrics (whole-run and attention scope) and, with ``base.baselines``,
    the speedup and energy-efficiency columns.

    ``spec``: a dict in the sweep file's form (see ``docs/sweeps.md``), a file, a shipped
    sweep's name (``"quick"``) or a parsed spec. Without ``out`` the run directory is a
    temporary one, removed afterwards; with ``out`` it is kept (and ``resume`` continues
    it). ``runner``: ``serial``, ``processes`` (``workers`` of them) or ``dask``; default
    serial for one worker or a sweep of up to 16 points, else processes.
    """
    from vitsim.analysis.sweeps.runner import load_results, run_sweep
    from vitsim.analysis.sweeps.spec import SweepSpec, expand_sweep, load_sweep, sweep_from_dict

    if isinstance(spec, SweepSpec):
        parsed = spec
    elif isinstance(spec, Mapping):
        parsed = sweep_from_dict(dict(spec), source="<dict>", base_dir=Path.cwd())
    else:
        parsed = load_sweep(spec)
    expansion = expand_sweep(parsed)
    if runner is None:
        small = workers == 1 or len(expansion.points) <= 16
        runner = "serial" if small else "processes"
    if out is not None:
        out = Path(out)
        run_sweep(expansion, out, runner=runner, workers=workers, resume=resume,
                  progress=progress)
        return load_results(out)
    with tempfile.TemporaryDirectory(prefix="vitsim-sweep-") as tmp:
        path = Path(tmp) / "sweep"
        run_sweep(expansion, path, runner=runner, workers=workers, progress=progress)
        return load_results(path)
