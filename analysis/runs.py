"""Run directories: the resolved inputs beside the outputs, never silently overwritten."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from vitsim.analysis.frames import by_stage, stages_frame
from vitsim.hw_configs.errors import VitsimError
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
    t = result.totals
    stages = by_stage(result)
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


def check_run_dir(out: str | Path) -> None:
    """Fail, naming ``out``, when a run directory could not be created there without
    overwriting anything (called before simulating, and again before writing)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise VitsimError("run directory exists and is not empty; choose another --out",
                          source=str(out))
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise VitsimError("cannot create the run directory here", source=str(out))


def write_run_dir(out: str | Path, result: SimulationResult, inputs: dict[str, Any]) -> Path:
    """Write a run directory atomically; an existing non-empty ``out`` is an error."""
    out = Path(out)
    check_run_dir(out)
    parent = out.parent if str(out.parent) else Path(".")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    try:
        (tmp / "hardware.yaml").write_text(dump_hardware(result.hardware), encoding="utf-8")
        run = {"inputs": inputs, "trace_hash": result.trace_hash, "versions": versions(),
               "argv": sys.argv}
        (tmp / "run.json").write_text(json.dumps(run, indent=1, default=str), encoding="utf-8")
        (tmp / "summary.json").write_text(json.dumps(summary_document(result), indent=1),
                                          encoding="utf-8")
        stages_frame(result).to_csv(tmp / "stages.csv", index=False)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
