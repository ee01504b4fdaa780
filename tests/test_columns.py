"""Readable column labels and formatted values for the report and the interactive view."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vitsim.analysis.figures.columns import column_label, format_value, ratio_parts


@pytest.mark.parametrize(("column", "text"), [
    ("hardware.dram.bandwidth_gb_per_s", "DRAM bandwidth (GB/s)"),
    ("workload.sparsity", "Attention sparsity"),
    ("mac_utilization", "MAC utilization"),
    ("speedup_sanger_attention", "Speedup over sanger, attention (×)"),
    ("energy_efficiency_xeon-gold-6230_end_to_end",
     "Energy efficiency over xeon-gold-6230, end to end (×)"),
    ("energy_sram_q_mj", "SRAM, Q buffer energy (mJ)"),
    # the fallback: words and the unit from the name
    ("hardware.buffers.k.size_kib", "K buffer size (KiB)"),
    ("hardware.softmax.ops_per_cycle", "Softmax ops per cycle"),
])
def test_labels(column: str, text: str) -> None:
    assert column_label(column) == text


def test_label_without_unit() -> None:
    assert column_label("latency_ms", unit=False) == "Latency"
    assert column_label("speedup_sanger_attention", unit=False) == "Speedup over sanger, attention"


def test_ratio_columns() -> None:
    assert ratio_parts("speedup_jetson-tx2_end_to_end") == ("speedup", "jetson-tx2", "end_to_end")
    assert ratio_parts("energy_efficiency_my_peer_attention") == (
        "energy_efficiency", "my_peer", "attention")
    assert ratio_parts("speedup_attention") is None and ratio_parts("latency_ms") is None


@pytest.mark.parametrize(("column", "value", "text"), [
    ("energy_mj", 1.53162e8, "153,162,000"),
    ("latency_ms", 4.62656, "4.627"),
    ("latency_ms", 0.0329, "0.0329"),
    ("latency_ms", 2.13e-5, "0.0000213"),
    ("hardware.dram.bandwidth_gb_per_s", 25.6, "25.6"),
    ("total_cycles", 2313280.05, "2,313,280"),
    ("dram_bytes", np.int64(17504364), "17,504,364"),
    ("mac_utilization", 0.95, "95%"),
    ("sparse_engine_utilization", np.float64(0.8549966), "85.5%"),
    ("workload.sparsity", 0.9, "90%"),
    ("speedup_sanger_attention", 2.310264, "2.31×"),
    ("energy_efficiency_cpu_attention", 144.377, "144×"),
    ("workload.model", "deit-tiny", "deit-tiny"),
    ("latency_ms", float("nan"), ""),
    ("latency_ms", pd.NA, ""),
    ("latency_ms", None, ""),
    ("point", 1234, "1,234"),
])
def test_values(column: str, value, text: str) -> None:
    assert format_value(column, value) == text


def test_values_with_units() -> None:
    assert format_value("latency_ms", 4.62656, unit=True) == "4.627 ms"
    assert format_value("dram_bytes", 17504364, unit=True) == "17,504,364 bytes"
    assert format_value("mac_utilization", 0.932, unit=True) == "93.2%"
    assert format_value("total_cycles", 664.0, unit=True) == "664"
