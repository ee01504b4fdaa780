"""Simulation results as tidy pandas DataFrames (the only place results become frames)."""

from __future__ import annotations

import pandas as pd

from vitsim.simulator.energy import COMPONENTS
from vitsim.simulator.results import SimulationResult


def stages_frame(result: SimulationResult) -> pd.DataFrame:
    """One row per (layer, head, stage): cycles, counts, and energy by component (pJ);
    the same as ``result.to_frame()``."""
    frame: pd.DataFrame = result.to_frame()
    return frame


def energy_frame(result: SimulationResult) -> pd.DataFrame:
    """Long format: one row per (layer, head, stage, component) with its energy in pJ."""
    frame = stages_frame(result).drop(columns="energy_pj")  # melt's value column
    long = frame.melt(id_vars=["layer", "head", "stage"],
                      value_vars=[f"energy_pj_{c}" for c in COMPONENTS],
                      var_name="component", value_name="energy_pj")
    long["component"] = long["component"].str.removeprefix("energy_pj_")
    return long


def by_stage(result: SimulationResult) -> pd.DataFrame:
    """Cycles, energy (mJ) and DRAM bytes per stage name, in execution-order vocabulary."""
    frame = stages_frame(result)
    frame["dram_bytes"] = frame["dram_read_bytes"] + frame["dram_write_bytes"]
    grouped = frame.groupby("stage", observed=True).agg(
        cycles=("total_cycles", "sum"), compute_cycles=("compute_cycles", "sum"),
        stall_cycles=("stall_cycles", "sum"), energy_pj=("energy_pj", "sum"),
        dram_bytes=("dram_bytes", "sum"), macs=("macs", "sum"))
    grouped["energy_mj"] = grouped.pop("energy_pj") * 1e-9
    return grouped[grouped["cycles"] + grouped["energy_mj"] > 0].reset_index()
