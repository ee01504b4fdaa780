"""Run directories: the resolved inputs beside the outputs, never silently overwritten."""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from vitsim.atomic import atomic_output_dir
from vitsim.simulator.counts import STAGES
from vitsim.simulator.results import SimulationResult


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("vitsim", "numpy", "numba", "pandas", "pyyaml"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _kahan_sums(codes: np.ndarray, values: np.ndarray, n: int) -> list[float]:
    """Per-code sums of ``values`` in row order with Kahan compensation: the arithmetic of
    pandas' groupby ``sum`` (``group_sum``), so :func:`stage_rows` gives the same floats as
    :func:`vitsim.analysis.frames.by_stage` to the last bit."""
    sums = [0.0] * n
    comp = [0.0] * n
    for code, value in zip(codes.tolist(), values.tolist(), strict=True):
        y = value - comp[code]
        t = sums[code] + y
        c = t - sums[code] - y
        comp[code] = 0.0 if c != c else c  # an infinite value: keep the sum infinite
        sums[code] = t
    return sums


def stage_rows(result: SimulationResult) -> list[dict[str, Any]]:
    """Per stage name, in execution order: cycles, energy (mJ), DRAM bytes and MACs, stages
    with neither cycles nor energy left out; the numbers of
    :func:`vitsim.analysis.frames.by_stage`, bit for bit, from the columnar stage table
    without pandas (whose import is most of a cold ``simulate --json``)."""
    t = result.stages
    n = len(STAGES)
    codes = np.asarray(t.stage)
    energy_rows = None  # summed over components in COMPONENTS order, as the frame's column
    for values in result.energy_pj.values():
        energy_rows = np.array(values, dtype=np.float64) if energy_rows is None \
            else energy_rows + values
    if energy_rows is None:
        energy_rows = np.zeros(codes.shape[0])
    cycles = _kahan_sums(codes, np.asarray(t["total_cycles"], dtype=np.float64), n)
    energy = _kahan_sums(codes, energy_rows, n)
    present = np.bincount(codes, minlength=n) > 0
    dram_bytes = np.zeros(n, dtype=np.int64)
    macs = np.zeros(n, dtype=np.int64)
    np.add.at(dram_bytes, codes, np.asarray(t["dram_read_bytes"], dtype=np.int64)
              + np.asarray(t["dram_write_bytes"], dtype=np.int64))
    np.add.at(macs, codes, np.asarray(t["macs"], dtype=np.int64))
    rows = []
    for i in range(n):
        energy_mj = energy[i] * 1e-9
        if present[i] and cycles[i] + energy_mj > 0:
            rows.append({"name": STAGES[i], "cycles": cycles[i], "energy_mj": energy_mj,
                         "dram_bytes": int(dram_bytes[i]), "macs": int(macs[i])})
    return rows


def summary_document(result: SimulationResult) -> dict[str, Any]:
    """The ``vitsim simulate --json`` document (built without pandas)."""
    from vitsim.analysis.compare import accelerator_scoped

    t = result.totals
    scoped = accelerator_scoped(result)
    ms_per_cycle = 1e3 / result.hardware.clock_hz
    return {
        "model": result.model,
        "hardware": result.hardware.name,
        "trace_hash": result.trace_hash,
        "total_cycles": t.total_cycles,
        "compute_cycles": t.compute_cycles,
        "stall_cycles": t.stall_cycles,
        "fill_cycles": t.fill_cycles,
        "latency_ms": t.latency_ms,
        "energy_mj": t.energy_mj,
        # the attention scope (decode, Q K^T, softmax, S V and their stalls), as compare's
        "attention_cycles": scoped.latency_ms["attention"] / ms_per_cycle,
        "attention_energy_mj": scoped.energy_mj["attention"],
        # mJ / ms = W
        "average_power_mw": t.energy_mj / t.latency_ms * 1e3 if t.latency_ms else 0.0,
        "edp_mj_ms": t.edp_mj_ms,
        "throughput_images_per_s": t.throughput_images_per_s,
        "macs": t.macs,
        "dram_bytes": t.dram_bytes,
        "mac_utilization": t.mac_utilization,
        "dense_engine_utilization": t.dense_engine_utilization,
        "sparse_engine_utilization": t.sparse_engine_utilization,
        "roofline_cycles": t.roofline_cycles,
        "roofline_fraction": t.roofline_fraction,
        "energy_by_component_mj": result.energy_by_component_mj(),
        "stages": stage_rows(result),
    }


def write_run_dir(out: str | Path, result: SimulationResult, inputs: dict[str, Any]) -> Path:
    """Write a run directory atomically; an existing non-empty ``out`` is an error."""
    from vitsim.analysis.frames import stages_frame
    from vitsim.hw_configs.loader import dump_hardware

    with atomic_output_dir(out) as tmp:
        (tmp / "hardware.yaml").write_text(dump_hardware(result.hardware), encoding="utf-8")
        run = {"inputs": inputs, "trace_hash": result.trace_hash, "versions": versions(),
               "argv": sys.argv}
        (tmp / "run.json").write_text(json.dumps(run, indent=1, default=str), encoding="utf-8")
        (tmp / "summary.json").write_text(json.dumps(summary_document(result), indent=1),
                                          encoding="utf-8")
        stages_frame(result).to_csv(tmp / "stages.csv", index=False)
    return Path(out)
