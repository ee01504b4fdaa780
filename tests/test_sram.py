"""The size-dependent SRAM model (CACTI 7 at 28 nm) and its use in pricing."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vitsim.hw_configs.loader import apply_overrides, load_hardware
from vitsim.hw_configs.schema import BUFFER_NAMES
from vitsim.hw_configs.sram import CACTI_28NM, cacti_28nm
from vitsim.simulator.simulate import simulate
from vitsim.workloads.model_spec import get_spec
from vitsim.workloads.pipeline import trace_synthetic

CSV = Path(__file__).resolve().parents[1] / "benchmarks" / "sram" / "cacti_28nm.csv"


def test_points_are_cactis_recommended_rows():
    """The table in the package is the CSV CACTI wrote (energy@500MHz, lstp cells + hp
    periphery), read back: pJ per access and leakage in mW."""
    rows = [r for r in csv.DictReader(CSV.open()) if r["objective"] == "energy@500MHz"
            and r["cell_type"] == "itrs-lstp" and r["periph_type"] == "itrs-hp"]
    got = [(float(r["size_kib"]), float(r["read_pj_per_access"]),
            float(r["write_pj_per_access"]), float(r["leak_total_mw"])) for r in rows]
    assert got == [tuple(float(x) for x in p) for p in CACTI_28NM]


def test_tabulated_sizes_are_exact_and_everything_rises_with_size():
    for size, read, write, leak in CACTI_28NM:
        c = cacti_28nm(size)
        assert (c.read_pj_per_byte, c.write_pj_per_byte, c.leakage_mw) == (
            read / 8, write / 8, leak)
    sizes = np.geomspace(1, 4096, 60)
    costs = [cacti_28nm(float(s)) for s in sizes]
    for attr in ("read_pj_per_byte", "leakage_mw"):
        values = [getattr(c, attr) for c in costs]
        assert all(b > a for a, b in itertools.pairwise(values))


@given(st.floats(2, 2048))
def test_interpolation_stays_between_its_neighbours(size):
    sizes = [p[0] for p in CACTI_28NM]
    i = int(np.searchsorted(sizes, size))
    lo, hi = CACTI_28NM[max(i - 1, 0)], CACTI_28NM[min(i, len(sizes) - 1)]
    c = cacti_28nm(size)
    assert min(lo[1], hi[1]) / 8 - 1e-12 <= c.read_pj_per_byte <= max(lo[1], hi[1]) / 8 + 1e-12


def test_vitcod_prices_buffers_by_size_and_leaks_only_physical_sram():
    hw = load_hardware("vitcod")
    assert hw.sram_pj_per_byte("q", "read") == cacti_28nm(53).read_pj_per_byte
    # the activation buffer is three 53 KiB banks: an access costs one bank's
    assert hw.sram_pj_per_byte("activation", "read") == cacti_28nm(53).read_pj_per_byte
    assert hw.sram_pj_per_byte("weight", "write") == cacti_28nm(108).write_pj_per_byte
    physical = 3 * cacti_28nm(53).leakage_mw + cacti_28nm(20).leakage_mw \
        + cacti_28nm(108).leakage_mw
    assert hw.sram_leakage_mw == pytest.approx(physical)
    # a larger buffer costs more per access and leaks more
    big = apply_overrides(hw, ["buffers.q.size_kib=212"])
    assert big.sram_pj_per_byte("q", "read") > hw.sram_pj_per_byte("q", "read")
    assert big.sram_leakage_mw > hw.sram_leakage_mw


def test_sram_energy_is_counts_times_the_models_prices():
    hw = load_hardware("vitcod")
    r = simulate(trace_synthetic(get_spec("deit-tiny"), sparsity=0.9, seed=0), hw)
    t = r.stages
    for b in BUFFER_NAMES:
        want = (t[f"sram_read_bytes_{b}"].sum() * hw.sram_pj_per_byte(b, "read")
                + t[f"sram_write_bytes_{b}"].sum() * hw.sram_pj_per_byte(b, "write"))
        assert float(np.sum(r.energy_pj[f"sram_{b}"])) == pytest.approx(want, rel=1e-12)


def test_table_and_model_cannot_both_be_given():
    from vitsim.errors import ConfigError

    with pytest.raises(ConfigError, match="must be absent"):
        apply_overrides(load_hardware("vitcod-released"), ["energy.sram_model=cacti_28nm"])
    with pytest.raises(ConfigError, match="required when sram_model is table"):
        apply_overrides(load_hardware("vitcod"), ["energy.sram_model=table"])
