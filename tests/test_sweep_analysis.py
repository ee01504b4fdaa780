"""Reading sweep tables: Pareto fronts, the best point under a constraint, sensitivity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vitsim.analysis.sweeps.pareto import (
    best_point,
    filter_rows,
    pareto_front,
    pareto_mask,
    sensitivity,
)
from vitsim.errors import VitsimError


def naive_front(values: np.ndarray) -> np.ndarray:
    """The obviously-correct O(n^2) twin: row i is kept when no row dominates it."""
    n = len(values)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if np.all(values[j] <= values[i]) and np.any(values[j] < values[i]):
                keep[i] = False
                break
    return keep


def test_front_by_hand() -> None:
    frame = pd.DataFrame({"latency_ms": [1.0, 2.0, 3.0, 2.0, 1.0],
                          "energy_mj": [5.0, 3.0, 1.0, 4.0, 5.0]})
    # (2, 4) is dominated by (2, 3); the duplicate (1, 5) rows dominate neither each other.
    assert pareto_mask(frame, ["latency_ms", "energy_mj"]).tolist() == \
        [True, True, True, False, True]
    maxed = pareto_mask(frame, {"latency_ms": "min", "energy_mj": "max"})
    assert maxed.tolist() == [True, False, False, False, True]


def test_front_matches_the_naive_twin(rng: np.random.Generator) -> None:
    for n, k in ((1, 2), (40, 2), (200, 3), (300, 4)):
        values = rng.integers(0, 12, size=(n, k)).astype(float)  # ties on purpose
        frame = pd.DataFrame(values, columns=[f"m{i}" for i in range(k)])
        assert (pareto_mask(frame, list(frame.columns)).to_numpy() == naive_front(values)).all()


def test_front_skips_failed_and_missing_rows() -> None:
    frame = pd.DataFrame({"latency_ms": [1.0, np.nan, 0.5, 3.0],
                          "energy_mj": [1.0, 0.1, 0.1, 0.5],
                          "total_macs": [1, 1, 1, 1], "sram_bytes": [1, 1, 1, 1],
                          "status": ["ok", "failed", "failed", "ok"]})
    front = pareto_front(frame)
    assert front.index.tolist() == [0, 3]
    assert not pareto_mask(frame)[1]  # NaN is never on the front
    with pytest.raises(VitsimError, match="no column nope"):
        pareto_mask(frame, ["nope"])
    with pytest.raises(VitsimError, match="min or max"):
        pareto_mask(frame, {"latency_ms": "least"})


def table() -> pd.DataFrame:
    lines = np.repeat([16, 32, 64], 4)
    bw = np.tile([25.6, 76.8], 6)
    policy = np.tile(["static", "static", "search", "search"], 3)
    latency = 100.0 / lines + 1.0 / bw + np.where(policy == "search", 0.0, 0.5)
    ok = pd.DataFrame({
        "point": np.arange(12), "hardware.mac_array.n_lines": lines,
        "hardware.dram.bandwidth_gb_per_s": bw, "hardware.allocation.policy": policy,
        "status": "ok", "latency_ms": latency, "energy_mj": lines * 0.1,
        "total_macs": lines * 8})
    # A failed point whose (meaningless) numbers would win everything if it were counted.
    failed = pd.DataFrame({
        "point": [12], "hardware.mac_array.n_lines": [64],
        "hardware.dram.bandwidth_gb_per_s": [25.6], "hardware.allocation.policy": ["static"],
        "status": ["failed"], "latency_ms": [0.0], "energy_mj": [0.0], "total_macs": [0]})
    return pd.concat([ok, failed], ignore_index=True)


def test_best_point_under_a_constraint() -> None:
    t = table()
    assert best_point(t, "latency_ms")["point"] == 11  # 12 is failed
    row = best_point(t, "latency_ms", where="total_macs <= 256")
    assert row["point"] == 7 and row["hardware.mac_array.n_lines"] == 32
    row = best_point(t, "latency_ms", minimize=False, where='hardware.allocation.policy == '
                                                          '"search"')
    assert row["point"] == 2
    assert best_point(t, "latency_ms", where="total_macs < 0") is None
    assert len(filter_rows(t, "hardware.dram.bandwidth_gb_per_s > 50")) == 6
    with pytest.raises(VitsimError, match="no column 'nope'"):
        best_point(t, "latency_ms", where="nope > 1")
    with pytest.raises(VitsimError, match="no metric column 'power'"):
        best_point(t, "power")


def test_sensitivity_ranks_the_axes() -> None:
    t = table()
    sens = sensitivity(t, "latency_ms", ["hardware.mac_array.n_lines",
                                         "hardware.dram.bandwidth_gb_per_s",
                                         "hardware.allocation.policy"])
    assert sens["axis"].tolist() == ["hardware.mac_array.n_lines",
                                     "hardware.allocation.policy",
                                     "hardware.dram.bandwidth_gb_per_s"]
    ok = t[t["status"] == "ok"]
    means = ok.groupby("hardware.mac_array.n_lines")["latency_ms"].mean()
    first = sens.iloc[0]
    assert first["range"] == pytest.approx(means.max() - means.min())
    assert first["best_value"] == 64 and first["worst_value"] == 16 and first["levels"] == 3
    assert first["relative_range"] == pytest.approx(first["range"] / ok["latency_ms"].mean())
    assert sens.iloc[1]["best_value"] == "search"
    # Without a list, the axes are found: columns that vary and are neither metrics nor
    # bookkeeping.
    found = sensitivity(t, "latency_ms")
    assert found["axis"].tolist() == sens["axis"].tolist()


def test_sensitivity_bins_continuous_axes(rng: np.random.Generator) -> None:
    x = rng.uniform(10, 100, size=200)
    t = pd.DataFrame({"hardware.dram.bandwidth_gb_per_s": x, "latency_ms": 1000.0 / x})
    sens = sensitivity(t, "latency_ms", ["hardware.dram.bandwidth_gb_per_s"], max_levels=5)
    assert sens.iloc[0]["levels"] == 5
    assert ".." in str(sens.iloc[0]["best_value"])
