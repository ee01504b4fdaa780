"""Run directories: the resolved inputs beside the outputs, never silently overwritten."""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from vitsim.analysis.frames import by_stage, stages_frame
from vitsim.atomic import atomic_output_dir
from vitsim.hw_configs.loader import dump_hardware
from vitsim.simulator.results import SimulationResult


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("vitsim", "numpy", "numba", "pandas", "pyyaml"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def summary_document(result: SimulationResult) -> dict[str, Any]:
    """The ``vitsim simulate --json`` document."""
    from vitsim.analysis.compare import accelerator_scoped

    t = result.totals
    stages = by_stage(result)
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
        "stages": [
            {"name": str(r.stage), "cycles": float(r.cycles), "energy_mj": float(r.energy_mj),
             "dram_bytes": int(r.dram_bytes), "macs": int(r.macs)}
            for r in stages.itertuples(index=False)
        ],
    }


def write_run_dir(out: str | Path, result: SimulationResult, inputs: dict[str, Any]) -> Path:
    """Write a run directory atomically; an existing non-empty ``out`` is an error."""
    with atomic_output_dir(out) as tmp:
        (tmp / "hardware.yaml").write_text(dump_hardware(result.hardware), encoding="utf-8")
        run = {"inputs": inputs, "trace_hash": result.trace_hash, "versions": versions(),
               "argv": sys.argv}
        (tmp / "run.json").write_text(json.dumps(run, indent=1, default=str), encoding="utf-8")
        (tmp / "summary.json").write_text(json.dumps(summary_document(result), indent=1),
                                          encoding="utf-8")
        stages_frame(result).to_csv(tmp / "stages.csv", index=False)
    return Path(out)
