"""Energy: action counts x per-action energies, plus leakage x time.

Timing never reads energies and energy reads timing only for leakage (total time). Every
counted action has a price in :class:`vitsim.hw_configs.schema.Energy`; the schema rejects a
table with a missing entry, so no action is ever silently free.
"""

from __future__ import annotations

import numpy as np

from vitsim.hw_configs.schema import BUFFER_NAMES, HardwareConfig
from vitsim.simulator.counts import StageTable

# Energy components, in report order.
COMPONENTS = ("mac", "codec", "softmax", "vector", *(f"sram_{b}" for b in BUFFER_NAMES),
              "dram", "leakage")


def stage_energy_pj(table: StageTable, hw: HardwareConfig) -> dict[str, np.ndarray]:
    """Energy of every stage row by component, pJ (leakage: the row's share of time)."""
    e = hw.energy
    out = {
        "mac": table["macs"] * e.mac_pj,
        "codec": table["codec_macs"] * e.codec_mac_pj,
        "softmax": table["softmax_ops"] * e.softmax_op_pj,
        "vector": table["vector_ops"] * e.vector_op_pj,
    }
    for b in BUFFER_NAMES:
        out[f"sram_{b}"] = (table[f"sram_read_bytes_{b}"] * hw.sram_pj_per_byte(b, "read")
                            + table[f"sram_write_bytes_{b}"] * hw.sram_pj_per_byte(b, "write"))
    out["dram"] = (table["dram_read_bytes"] + table["dram_write_bytes"]) * e.dram_pj_per_byte
    out["leakage"] = table["total_cycles"] * hw.leakage_pj_per_cycle
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}
